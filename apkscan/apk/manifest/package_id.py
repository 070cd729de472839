"""The manifest's package identity as Android's package manager reads it, and every other reading.

Android's reading (``package`` and ``split`` of the first start tag, with libandroidfw's and
the framework's rules byte for byte) is :mod:`apkscan.apk.manifest.framework_xml`; ``aapt dump
badging`` reads the same way and is the test oracle. apksig and androguard read the first
RES_XML chunk and the typed value, so an adversary can show scanners one package and install
another; every reading is kept and a disagreement is a tamper indicator. Beside Android's own:
the root of every RES_XML chunk (first and duplicate ``package`` attributes, raw and typed
values, any attribute whose namespace does not resolve), the reading under older releases'
namespace test, and every reading cut at its first NUL (what ``aapt`` prints, and what
Android installs from a UTF-8 pool). Where Android would refuse the manifest, apksig's walk of
the first chunk stands in for its reading (as before there was a framework reader), with
``MANIFEST_NOT_FRAMEWORK_READABLE`` saying why.
"""

from __future__ import annotations

import struct

from apkscan.apk.manifest.axml import (
    TYPE_STRING,
    Attr,
    AxmlError,
    Element,
    NO_INDEX,
    TopLevel,
    iter_start_elements,
    kept,
)
from apkscan.apk.manifest.framework_xml import MAX_VALUE, FrameworkRoot, coerce_to_string
from apkscan.apk.model import ManifestInfo, PackageReading
from apkscan.issues import Issue, tamper, warning

MANIFEST_NOT_FRAMEWORK_READABLE = "MANIFEST_NOT_FRAMEWORK_READABLE"
TAMPER_MANIFEST_AMBIGUOUS_PACKAGE = "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE"
MAX_XML_CHUNKS = 16  # RES_XML chunks read for other package readings
# duplicate ``package`` attributes read per root (the first ones and the last): review 21 matched
# 845,001 readings of 13 roots of 65,000 attributes each, 140 s and 1.4 GB for one 6 MB APK
MAX_DUPLICATES = 16


def framework_string(attr: Attr | None) -> str | None:
    """``XmlBlock.Parser.getAttributeValue``: the raw string first, else the typed value
    coerced to text (``TypedValue.coerceToString``: a typed string without a raw one is null)."""
    if attr is None:
        return None
    try:
        if attr.raw_string() is not None:
            return attr.raw_string()[:MAX_VALUE]  # as Android's reading is kept (review 26)
    except AxmlError:
        return None  # ResStringPool::stringAt fails: no package at all
    return coerce_to_string(attr.vtype, attr.data)


def _root_readings(elements: list[Element], where: str, *, framework: bool = False) -> list[PackageReading]:
    """Every ``package`` value on a root element: raw and typed, first and duplicate attributes.
    ``framework``: the first attribute's raw-or-coerced value is Android's (when no framework
    reading exists: the manifest is one Android would refuse)."""
    root = next((e for e in elements if e.depth == 1), None)
    if root is None:
        return []
    out: list[PackageReading] = []
    attrs = list(enumerate(a for a in root.raw_attrs if no_namespace(a) and _name_is(a, "package")))
    if len(attrs) > MAX_DUPLICATES + 1:  # the first ones and the last: any parser reads one of those
        attrs = attrs[:MAX_DUPLICATES] + attrs[-1:]
    for n, attr in attrs:
        dup = "" if n == 0 else f", duplicate attribute {n + 1}"
        try:
            if n == 0 and framework:
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


def no_namespace(attr: Attr) -> bool:
    """A plain attribute to some parser: no namespace index, or one that names no string
    (Android's test; apksig's is the index alone, so both are kept as readings)."""
    if attr.ns_id == NO_INDEX:
        return True
    try:
        attr.pool.get(attr.ns_id)
    except AxmlError:
        return True
    return False


def _name_is(attr: Attr, name: str) -> bool:
    try:
        return attr.name() == name
    except AxmlError:
        return False


def _roots(xml: bytes, chunk: str, index: int = 0, *, root_only: bool = False,
           top: TopLevel | None = None) -> list[Element]:
    """The elements of one tree fields are read from (only its root with ``root_only``); [] when unreadable."""
    out: list[Element] = []
    try:
        for el in iter_start_elements(xml, chunk=chunk, index=index, top=top):
            if kept(el):
                out.append(el)
            if root_only:
                break  # the package is on the root: no need to walk the rest
    except (AxmlError, struct.error, IndexError, ValueError):
        pass  # a partial tree still names its root
    return out


def package_readings(xml: bytes, framework: list[Element], top: TopLevel | None,
                     root: FrameworkRoot) -> list[PackageReading]:
    """Every plausible reading of ``package``, Android's first; duplicates dropped.
    ``framework``: apksig's walk of the file's first chunk; ``root``: Android's reading."""
    readings = []
    if root.refused is None:
        if root.package is not None:
            readings.append(PackageReading(root.package, "framework"))
        if root.package_older is not None:
            readings.append(PackageReading(root.package_older, "framework, older releases' namespace test"))
    first = next((e for e in framework if e.depth == 1), None)
    stands_in = root.refused is not None and first is not None and first.name == "manifest"
    readings += _root_readings(framework, "first chunk", framework=stands_in)
    # Android 16 can skip a start tag (and all it holds) whose android:featureFlag is off: a later
    # <manifest> would then be the package manager's (read with Android's rules, framework_xml)
    readings += [PackageReading(value, f"framework, <manifest> tag {n} (if the tags before it are skipped by "
                                       "a feature flag)") for n, value in root.later]
    top = top or TopLevel.of(xml)
    for i in range(min(top.trees_readable, MAX_XML_CHUNKS)):
        if i == 0 and top.first_is_xml:
            continue  # the framework's chunk, already read
        label = "first RES_XML chunk (apksig)" if i == 0 else f"RES_XML chunk {i + 1}"
        readings += _root_readings(_roots(xml, "xml", i, root_only=True, top=top), label)
    readings += [PackageReading(r.value.split("\x00", 1)[0], f"{r.how}, up to its first NUL")
                 for r in readings if "\x00" in r.value]
    readings = [r if len(r.value) <= MAX_VALUE else PackageReading(r.value[:MAX_VALUE], f"{r.how}, first {MAX_VALUE} "
                "characters") for r in readings]  # a 15M-character value held 1.4 GB downstream (review 26)
    seen: set[str] = set()
    out = []
    for r in readings:
        if r.value not in seen:
            seen.add(r.value)
            out.append(r)
    return out


def framework_elements(xml: bytes, apksig: list[Element], info: ManifestInfo,
                       top: TopLevel | None, root: FrameworkRoot) -> list[Element]:
    """apksig's walk of the file's first chunk, the chunk Android reads ([] when it is no tree
    that walk can read). ``MANIFEST_NOT_FRAMEWORK_READABLE`` when Android would refuse the
    manifest (``root.refused``)."""
    top = top or TopLevel.of(xml)
    framework = apksig if top.first_is_xml else _roots(xml, "framework", top=top)
    if root.refused is not None:
        info.errors.append(warning(MANIFEST_NOT_FRAMEWORK_READABLE, "Android's package manager would refuse "
                                   f"AndroidManifest.xml ({root.refused}); its package and fields are read "
                                   "as apksig reads the file"))
    return framework


def ambiguity(info: ManifestInfo, records: int = 1) -> Issue | None:
    """TAMPER_MANIFEST_AMBIGUOUS_PACKAGE naming every reading, when they disagree. ``records``:
    how many central-directory records a reader takes for AndroidManifest.xml (:mod:`apkscan.apk.manifest_records`;
    more than one of the exact name: Android reads none)."""
    if len(info.package_readings) < 2:
        return None
    listed = "; ".join(f"{r.how}: {r.value!r}" for r in info.package_readings)
    if records > 1:
        return tamper(TAMPER_MANIFEST_AMBIGUOUS_PACKAGE,
                      f"AndroidManifest.xml is named by {records} central-directory records, as readers read "
                      "names (Android's ZIP reader and aapt read only the exact name, among the records the EOCD counts, "
                      f"and refuse an archive naming it twice): package reads as {info.package!r} from the first record named exactly so "
                      f"(apksig's) but differently to other parsers or from other records ({listed}); "
                      "rules are matched against every reading")
    return tamper(TAMPER_MANIFEST_AMBIGUOUS_PACKAGE,
                  f"package reads as {info.package!r} to Android but differently to other "
                  f"parsers ({listed}); rules are matched against every reading")
