"""The manifest's package identity as Android's package manager reads it, and every other reading.

The framework (``ApkLiteParseUtils`` through ``XmlBlock``/``ResXMLParser``) parses the
file's *first chunk whatever its type* (``ResXMLTree::setTo`` does not check it), finds the
first ``package`` attribute of the root element by name and takes its *raw* string
(``getAttributeValue``: ``rawValue.index`` first; a typed value only when there is no raw
string, coerced to text, and a typed string alone reads as no package). ``aapt dump
badging`` reads the same way and is the test oracle. apksig and androguard read the first
RES_XML chunk and the typed value, so an adversary can show scanners one package and install
another; every reading is kept and a disagreement is a tamper indicator. (Where aapt and the
framework differ the framework wins: installs are decided there. On the fixtures and the
corpus they agree.)
"""

from __future__ import annotations

import struct

from apkscan.apk.manifest.axml import (
    TYPE_INT_BOOLEAN,
    TYPE_INT_DEC,
    TYPE_INT_HEX,
    TYPE_REFERENCE,
    TYPE_STRING,
    Attr,
    AxmlError,
    Element,
    TopLevel,
    iter_start_elements,
)
from apkscan.apk.model import ManifestInfo, PackageReading
from apkscan.issues import Issue, tamper, warning

MANIFEST_NOT_FRAMEWORK_READABLE = "MANIFEST_NOT_FRAMEWORK_READABLE"
TAMPER_MANIFEST_AMBIGUOUS_PACKAGE = "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE"
MAX_XML_CHUNKS = 16  # RES_XML chunks read for other package readings


def framework_string(attr: Attr | None) -> str | None:
    """``XmlBlock.Parser.getAttributeValue``: the raw string first, else the typed value
    coerced to text (``TypedValue.coerceToString``: a typed string without a raw one is null)."""
    if attr is None:
        return None
    try:
        if attr.raw_string() is not None:
            return attr.raw_string()
    except AxmlError:
        return None  # ResStringPool::stringAt fails: no package at all
    if attr.vtype == TYPE_INT_DEC:
        return str(attr.data)
    if attr.vtype == TYPE_INT_HEX:  # TypedValue.coerceToString: "0x" + Integer.toHexString
        return f"0x{attr.data & 0xFFFFFFFF:x}"
    if attr.vtype == TYPE_INT_BOOLEAN:
        return "true" if attr.data else "false"
    if attr.vtype == TYPE_REFERENCE:
        return f"@{attr.data}"
    return None


def _root_readings(elements: list[Element], where: str) -> list[PackageReading]:
    """Every ``package`` value on a root element: raw and typed, first and duplicate attributes."""
    root = next((e for e in elements if e.depth == 1), None)
    if root is None:
        return []
    out: list[PackageReading] = []
    attrs = [a for a in root.raw_attrs if a.ns_id == 0xFFFFFFFF and _name_is(a, "package")]
    for n, attr in enumerate(attrs):
        dup = "" if n == 0 else f", duplicate attribute {n + 1}"
        try:
            if n == 0 and where == "first chunk":
                value = framework_string(attr)
                if value is not None:
                    out.append(PackageReading(value, "framework"))
            elif attr.raw_string() is not None:
                out.append(PackageReading(attr.raw_string(), f"{where}{dup}"))
            if attr.vtype == TYPE_STRING:
                out.append(PackageReading(attr.string(), f"{where}{dup}, typed value"))
        except AxmlError:
            continue  # an index out of range is no reading at all
    return out


def _name_is(attr: Attr, name: str) -> bool:
    try:
        return attr.name() == name
    except AxmlError:
        return False


def _roots(xml: bytes, chunk: str, index: int = 0, *, root_only: bool = False,
           top: TopLevel | None = None) -> list[Element]:
    """Depth <= 2 elements of one tree (only its root with ``root_only``); [] when unreadable."""
    out: list[Element] = []
    try:
        for el in iter_start_elements(xml, chunk=chunk, index=index, top=top):
            if el.depth <= 2:
                out.append(el)
            if root_only:
                break  # the package is on the root: no need to walk the rest
    except (AxmlError, struct.error, IndexError, ValueError):
        pass  # a partial tree still names its root
    return out


def package_readings(xml: bytes, framework: list[Element], top: TopLevel | None = None) -> list[PackageReading]:
    """Every plausible reading of ``package``, the framework's first; duplicates dropped.
    ``top``: the file's top-level chunks, when the caller has them."""
    readings = _root_readings(framework, "first chunk")
    top = top or TopLevel.of(xml)
    for i in range(min(top.trees_readable, MAX_XML_CHUNKS)):
        if i == 0 and top.first_is_xml:
            continue  # the framework's chunk, already read
        label = "first RES_XML chunk (apksig)" if i == 0 else f"RES_XML chunk {i + 1}"
        readings += _root_readings(_roots(xml, "xml", i, root_only=True, top=top), label)
    seen: set[str] = set()
    out = []
    for r in readings:
        if r.value not in seen:
            seen.add(r.value)
            out.append(r)
    return out


def framework_elements(xml: bytes, apksig: list[Element], info: ManifestInfo,
                       top: TopLevel | None = None) -> list[Element]:
    """The tree the package manager reads (the file's first chunk); apksig's when they agree."""
    top = top or TopLevel.of(xml)
    if top.first_is_xml:
        return apksig
    framework = _roots(xml, "framework", top=top)
    if not framework:
        info.errors.append(warning(MANIFEST_NOT_FRAMEWORK_READABLE, "the first chunk of "
                                   "AndroidManifest.xml is not a tree Android can read; fields "
                                   "are taken from the first RES_XML chunk"))
        return apksig
    return framework


def ambiguity(info: ManifestInfo) -> Issue | None:
    """TAMPER_MANIFEST_AMBIGUOUS_PACKAGE naming every reading, when they disagree."""
    if len(info.package_readings) < 2:
        return None
    listed = "; ".join(f"{r.how}: {r.value!r}" for r in info.package_readings)
    return tamper(TAMPER_MANIFEST_AMBIGUOUS_PACKAGE,
                  f"package reads as {info.package!r} to Android but differently to other "
                  f"parsers ({listed}); rules are matched against every reading")
