"""An Android App Bundle (``.aab``): what Play is given, read as one app.

A bundle is no APK: each module keeps its manifest as aapt2's protobuf XML
(``<module>/manifest/AndroidManifest.xml``, :mod:`apkscan.apk.manifest.proto_xml`), its
resources as ``resources.pb`` (not read here: a label that is a resource reference is said to be
unread, never guessed), and the whole bundle is signed, if at all, by jarsigner with the
developer's *upload* key. Play re-signs every APK it builds with the app-signing key, so the
upload key is not the key devices see: its certificates are reported as present only
(``BUNDLE_UPLOAD_SIGNATURE_NOT_VERIFIED``), never as a verified signer, and the identity's
``origin`` is ``"bundle"``.
"""

from __future__ import annotations

import re

from apkscan.issues import Issue, error, warning

BASE_MANIFEST = "base/manifest/AndroidManifest.xml"
MODULE_MANIFEST = re.compile(r"([^/]+)/manifest/AndroidManifest\.xml")
MAX_MODULES = 64  # Play's own limit on feature modules is far lower
MAX_PROTO_MANIFEST = 8 << 20
KIND = "Android App Bundle (.aab)"
_SIG_BLOCK = re.compile(r"META-INF/[^/]+\.(?:RSA|DSA|EC)", re.IGNORECASE)
# android: attributes, by resource id: Android and bundletool read them so, never by their names
VERSION_CODE, VERSION_NAME, MIN_SDK, TARGET_SDK, LABEL, DEBUGGABLE = (
    0x0101021B, 0x0101021C, 0x0101020C, 0x01010270, 0x01010001, 0x0101000F)


def is_bundle(names: list[str]) -> bool:
    """A bundle's layout: the base module's manifest, or BundleConfig.pb beside a module's."""
    present = set(names)
    if BASE_MANIFEST in present:
        return True
    return "BundleConfig.pb" in present and any(MODULE_MANIFEST.fullmatch(n) for n in names)


def module_manifests(names: list[str]) -> list[tuple[str, str]]:
    """(module, entry name) of each module's manifest, base first."""
    found = sorted((m.group(1), n) for n in names if (m := MODULE_MANIFEST.fullmatch(n)))
    return sorted(found, key=lambda mn: mn[0] != "base")


def attribute(element, rid: int = 0, name: str = ""):
    """The attribute Android reads: by resource id for android: ones, by plain name otherwise."""
    for a in element.attrs:
        if (rid and a.resource_id == rid) or (not rid and not a.namespace and a.name == name):
            return a
    return None


def int_value(a, where: str, issues: list[Issue]) -> int | None:
    """The compiled integer (what bundletool and the built APK use); the string when there is none.
    Both present and disagreeing: a warning naming both, the compiled one read."""
    if a is None:
        return None
    text = _parsed_int(a.value)
    if a.compiled_int is not None:
        if a.value is not None and text != a.compiled_int:
            issues.append(warning("BUNDLE_MANIFEST_READINGS_DIFFER",
                                  f"{where} {a.name}: compiled value {a.compiled_int}, string {a.value!r}; "
                                  "the compiled value is read (bundletool and the APKs it builds use it)"))
        return a.compiled_int
    return text


def str_value(a, where: str, issues: list[Issue]) -> str | None:
    """The compiled string when there is one (the built APK's typed value), else the plain string."""
    if a is None:
        return None
    if a.compiled_str is not None:
        if a.value is not None and a.value != a.compiled_str:
            issues.append(warning("BUNDLE_MANIFEST_READINGS_DIFFER",
                                  f"{where} {a.name}: compiled string {a.compiled_str!r}, plain string {a.value!r}; "
                                  "the compiled string is read"))
        return a.compiled_str
    return a.value


def _parsed_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def read_module(root, where: str, issues: list[Issue]) -> dict:
    """The facts one module's manifest gives (``where``: its entry name, for messages)."""
    if root.name != "manifest":
        raise _bad(f"the root element is <{root.name[:40]}>, not <manifest>")
    pkg = attribute(root, name="package")
    out = {"package": None if pkg is None else pkg.value if pkg.value is not None else pkg.compiled_str,
           # a compiled string beside another plain one: Android and bundletool read the plain one
           # (the raw string); another reading, matched too
           "package_compiled": pkg.compiled_str if pkg is not None and pkg.value is not None
           and pkg.compiled_str not in (None, pkg.value) else None,
           # a second package attribute: aapt2 reads the first, another reader may take the last; matched too
           "package_others": _later_packages(root, pkg),
           "split": str_value(attribute(root, name="split"), where, issues),
           "version_code": int_value(attribute(root, VERSION_CODE), where, issues),
           "version_name": str_value(attribute(root, VERSION_NAME), where, issues),
           "min_sdk": None, "target_sdk": None, "label": None, "label_other": None, "label_ref": None, "debuggable": None}
    sdk = next((c for c in root.children if c.name == "uses-sdk"), None)
    if sdk is not None:
        out["min_sdk"] = int_value(attribute(sdk, MIN_SDK), where, issues)
        out["target_sdk"] = int_value(attribute(sdk, TARGET_SDK), where, issues)
    app = next((c for c in root.children if c.name == "application"), None)
    if app is not None:
        label = attribute(app, LABEL)
        if label is not None and label.reference:
            out["label_ref"] = label.reference
        elif label is not None:  # the typed (compiled) string is what Android shows; the plain one matched too
            out["label"] = label.compiled_str if label.compiled_str is not None else label.value
            if label.compiled_str is not None and label.value not in (None, label.compiled_str):
                out["label_other"] = label.value
        debuggable = attribute(app, DEBUGGABLE)
        out["debuggable"] = debuggable.compiled_bool if debuggable is not None else None
    return out


def _later_packages(root, first) -> list[str]:
    """The values of every ``package`` attribute after the first (plain and compiled strings)."""
    if first is None:
        return []
    later = root.attrs[root.attrs.index(first) + 1:]
    return [v for a in later if not a.namespace and a.name == "package" for v in (a.value, a.compiled_str) if v]


def _bad(message: str):
    from apkscan.apk.manifest.proto_xml import ProtoXmlError

    return ProtoXmlError(message)


def signature_blocks(names: list[str]) -> list[str]:
    """The JAR signature blocks jarsigner writes (META-INF/*.RSA, .DSA, .EC)."""
    return [n for n in names if _SIG_BLOCK.fullmatch(n)]


def not_verified_issue() -> Issue:
    return warning("BUNDLE_UPLOAD_SIGNATURE_NOT_VERIFIED",
                   "an app bundle's JAR signature is the developer's upload key; it is not verified here, and "
                   "Play re-signs the APKs it builds with the app-signing key, so its certificates are present "
                   "only, never the key devices see")


def missing_base() -> Issue:
    return error("BUNDLE_MANIFEST_MISSING", f"an app bundle without {BASE_MANIFEST}")
