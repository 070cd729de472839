"""AndroidManifest.xml (binary AXML) and the app label from resources.arsc.

The package identity (``package``, ``split``, every other reading of ``package``) is read
as the package manager reads it, see :mod:`apkscan.apk.manifest.package_id`. The verifier needs
``min_sdk`` *exactly* as apksig computes it (it picks the Android versions the signature must
verify on), so :mod:`apkscan.apk.manifest.apksig_sdk` walks the binary XML with the rules of
apksig's ``AndroidBinXmlParser`` and ``ApkUtils.getMinSdkVersionFromBinaryAndroidManifest``:
attributes are matched by framework resource ID, ``<uses-sdk>`` counts only as a child of
the root element, the largest ``minSdkVersion`` wins and a codename means "the release
before it ships". Other manifest fields come from the same walk, except the label, which is
read as Android reads it (:mod:`apkscan.apk.manifest.app_label`; this walk's reading is kept as
another). Resource references (label, versionName) are resolved by
:mod:`apkscan.apk.manifest.arsc`, which reads only what a lookup needs and declines to
androguard's ``ARSCParser`` whenever it cannot promise its answer.

:func:`read_manifest` never raises: problems become ``ManifestInfo.errors``.
"""

from __future__ import annotations

import contextlib
import struct
import sys

from apkscan.apk.manifest.axml import (
    TopLevel,
    TYPE_INT_BOOLEAN,
    TYPE_INT_DEC,
    TYPE_INT_HEX,
    TYPE_REFERENCE,
    TYPE_STRING,
    Attr,
    AxmlError,
    Element,
    iter_start_elements,
    kept,
)
from apkscan.apk.manifest.apksig_sdk import (  # noqa: F401 - re-exported, callers import them from here
    ATTR_MIN_SDK,
    ATTR_TARGET_SANDBOX,
    ATTR_TARGET_SDK,
    MAX_INPUT_SIZE,
    apksig_target_sandbox_version,
    apksig_target_sdk,
    min_sdk_for_codename,
    min_sdk_from_elements,
)
from apkscan.apk.manifest.app_label import TAMPER_MANIFEST_AMBIGUOUS_LABEL, Reading, of_reference  # noqa: F401
from apkscan.apk.manifest.app_label import ambiguity as label_ambiguity  # noqa: F401 - identify imports it here
from apkscan.apk.manifest.app_label import default as _default
from apkscan.apk.manifest.app_label import fill as fill_label
from apkscan.apk.manifest.arsc import ArscTable
from apkscan.apk.manifest.framework_app import read_application
from apkscan.apk.manifest.arsc_android import ANDROID_14, AndroidArsc
from apkscan.apk.model import ManifestInfo
from apkscan.apk.manifest.framework_xml import FrameworkRoot, read_root
from apkscan.apk.manifest.package_id import framework_elements, framework_string, no_namespace, package_readings
from apkscan.issues import Issue, error, warning

# Issue codes. When one of MIN_SDK_BLOCKING_CODES is present apksig cannot determine the
# APK's minSdkVersion and apksigner refuses to verify over the APK's own range.
MANIFEST_MISSING = "MANIFEST_MISSING"
MANIFEST_MALFORMED = "MANIFEST_MALFORMED"
MANIFEST_ARSC_MALFORMED = "MANIFEST_ARSC_MALFORMED"
MANIFEST_ARSC_MISSING = "MANIFEST_ARSC_MISSING"
MANIFEST_ARSC_NOT_READ = "MANIFEST_ARSC_NOT_READ"
# A reference, or a dynamic one (TYPE_DYNAMIC_REFERENCE: a shared library's ids, rewritten at
# load time; an app's own 0x7f ids stay as they are): both name a resource to resolve.
REFERENCE_TYPES = (TYPE_REFERENCE, 0x07)
MANIFEST_TOO_LARGE = "MANIFEST_TOO_LARGE"
MANIFEST_MIN_SDK_CODENAME = "MANIFEST_MIN_SDK_CODENAME"
MANIFEST_MIN_SDK_UNSUPPORTED = "MANIFEST_MIN_SDK_UNSUPPORTED"
MIN_SDK_BLOCKING_CODES = frozenset(
    {MANIFEST_MISSING, MANIFEST_MALFORMED, MANIFEST_TOO_LARGE, MANIFEST_MIN_SDK_UNSUPPORTED})

# Framework attribute resource IDs (android.R.attr).
ATTR_LABEL = 0x01010001
ATTR_DEBUGGABLE = 0x0101000F
ATTR_VERSION_CODE = 0x0101021B
ATTR_VERSION_NAME = 0x0101021C
ATTR_MAX_SDK = 0x01010271
CUR_DEVELOPMENT = 10000  # Build.VERSION_CODES.CUR_DEVELOPMENT

# --- manifest fields -------------------------------------------------------------------------


def _attr(el: Element, res_id: int) -> Attr | None:
    """The attribute with framework ID ``res_id``: Android matches android: attributes by ID."""
    return next((a for a in el.raw_attrs if a.res_id == res_id), None)


def _plain_attr(el: Element, name: str) -> Attr | None:
    """A no-namespace attribute (``package``, ``split``) matched by name."""
    for a in el.raw_attrs:
        try:
            if no_namespace(a) and a.name() == name:
                return a
        except AxmlError:
            continue
    return None


class _Resources:
    """resources.arsc: reference resolution per locale.

    :class:`ArscTable` answers when it can promise androguard's answer; otherwise (it
    declines) androguard's ``ARSCParser`` is built, once, and answers as it always did.
    """

    def __init__(self, arsc: bytes | None, errors: list[Issue], unread: Issue | None = None):
        self._raw, self._errors, self._parser, self._tried = arsc, errors, None, False
        self._unread = unread  # present in the APK but not read (a cap hit): not "missing"
        self._fast: ArscTable | None = None
        self._fast_tried = False
        self._android: AndroidArsc | None = None
        self._android_tried = False
        self.min_sdk: int | None = None  # apksig's minSdk: from 34, no Android 13 or older installs the APK

    def _get(self):
        if not self._tried:
            self._tried = True
            if self._raw is None and self._unread is not None:
                self._errors.append(warning(MANIFEST_ARSC_NOT_READ, f"resources.arsc is present but was not read "
                                            f"({self._unread}): resource references (the label) unresolved"))
            elif self._raw is None:
                self._errors.append(warning(MANIFEST_ARSC_MISSING,
                                            "resources.arsc missing: resource references unresolved"))
            elif len(self._raw) > MAX_INPUT_SIZE:
                self._errors.append(error(MANIFEST_TOO_LARGE,
                                          f"resources.arsc of {len(self._raw)} bytes not parsed"))
            else:
                try:
                    from androguard.core.axml import ARSCParser  # heavy: imported only when an ARSC is read
                    from loguru import logger

                    logger.disable("androguard")  # androguard logs through loguru; users must not see it
                    with _quiet():
                        self._parser = ARSCParser(self._raw)
                except Exception as exc:  # noqa: BLE001 - any parser failure is malformed input
                    self._errors.append(warning(MANIFEST_ARSC_MALFORMED, f"resources.arsc: {exc}"))
        return self._parser

    def _fast_table(self) -> ArscTable | None:
        if not self._fast_tried:
            self._fast_tried = True
            if self._raw is not None and len(self._raw) <= MAX_INPUT_SIZE:
                self._fast = ArscTable.open(self._raw)
        return self._fast

    def resolve(self, res_id: int) -> dict[str, str]:
        """{locale: value} for a resource ID; "" is the default locale."""
        table = self._fast_table()
        configs = table.resolve(res_id) if table is not None else None
        if configs is not None:
            return _by_locale(configs)
        return self.resolve_with_androguard(res_id)

    def resolve_as_android(self, res_id: int) -> tuple[dict[str, str], list[str]] | None:
        """({locale: string} as Android reads the table, every string reachable in any
        configuration) (:mod:`apkscan.apk.manifest.arsc_android`, lenient where Android is:
        not androguard's layout); None without a readable table."""
        if not self._android_tried:
            self._android_tried = True
            if self._raw is not None and len(self._raw) <= MAX_INPUT_SIZE:
                self._android = AndroidArsc.open(self._raw)
                if self._android is not None and self.min_sdk is not None and self.min_sdk >= ANDROID_14:
                    self._android.older_too = False  # a genuine compact table (aapt2 writes them for 14+) reads once
        return self._android.resolve(res_id) if self._android is not None else None

    def android_notes(self) -> list[str]:
        """How the bytes the last :meth:`resolve_as_android` met read another way too (another
        Android version's reading, a configuration skipped as Android skips it)."""
        return list(self._android.notes) if self._android is not None else []

    def unread_tables(self) -> int:
        """RES_TABLE chunks at the top level of resources.arsc that no reader here reads."""
        return AndroidArsc.unread_tables(self._raw) if self._raw is not None else 0

    def resolve_with_androguard(self, res_id: int) -> dict[str, str]:
        """The reference path (and the fast path's fallback): androguard's whole-table parse."""
        parser = self._get()
        if parser is None:
            return {}
        try:
            with _quiet():
                configs = parser.get_resolved_res_configs(res_id)
        except (Exception, RecursionError) as exc:  # noqa: BLE001
            self._errors.append(warning(MANIFEST_ARSC_MALFORMED,
                                        f"resource 0x{res_id:08x} unresolvable: {exc}"))
            return {}
        return _by_locale(configs)


def _quiet() -> contextlib.AbstractContextManager:
    """androguard ``print``s on a hostile table (review 58 F9): that went to stdout, in front of the
    ``--json -`` document; while it runs, its stdout is stderr (nothing is lost, no report is spoilt)."""
    return contextlib.redirect_stdout(sys.stderr)


def _by_locale(configs) -> dict[str, str]:
    """{locale: value}: the first value of a locale, unless a default config comes later."""
    out: dict[str, str] = {}
    for config, value in configs:
        if not isinstance(value, str):
            continue  # complex (bag) values are not labels
        try:
            locale = _locale(config)
            is_default = config.is_default()
        except Exception:  # noqa: BLE001
            continue
        if locale not in out or is_default:
            out[locale] = value
    return out


def _locale(config) -> str:
    raw = config.get_language_and_region()
    if raw == "\x00\x00" or not raw.strip("\x00"):
        return ""
    return raw.replace("-r", "-", 1)


def _as_str(attr: Attr | None, res: _Resources) -> tuple[str | None, dict[str, str]]:
    """(default value, per-locale values) of a string-ish attribute."""
    if attr is None:
        return None, {}
    if attr.vtype == TYPE_STRING:
        try:
            value = attr.string()
        except AxmlError:
            return None, {}
        return value, {"": value}
    if attr.vtype in REFERENCE_TYPES:
        values = res.resolve(attr.data & 0xFFFFFFFF)
        return _default(values), values
    if attr.vtype in (TYPE_INT_DEC, TYPE_INT_HEX):
        return str(attr.data), {}
    return None, {}


def _as_int(attr: Attr | None, res: _Resources) -> int | None:
    if attr is None:
        return None
    if attr.vtype in (TYPE_INT_DEC, TYPE_INT_HEX):
        return attr.data
    value, _ = _as_str(attr, res)
    try:
        return int(value, 0) if value is not None else None
    except ValueError:
        return None


def _as_bool(attr: Attr | None, res: _Resources) -> bool | None:
    if attr is None:
        return None
    if attr.vtype == TYPE_INT_BOOLEAN:
        return attr.data != 0
    value, _ = _as_str(attr, res)
    return {"true": True, "false": False}.get((value or "").lower())


def _fill(info: ManifestInfo, elements: list[Element], res: _Resources, android: FrameworkRoot) -> Reading:
    """``android``: the package and split as Android reads them; where it would refuse the
    manifest, apksig's root stands in (``MANIFEST_NOT_FRAMEWORK_READABLE`` says so). Returns the
    label as apksig's walk reads it (:mod:`apkscan.apk.manifest.app_label` reads Android's)."""
    root = next((e for e in elements if e.depth == 1), None)
    if android.refused is None:
        info.package, info.split = android.package, android.split
    elif root is not None and root.name == "manifest":  # a decoy <foo package=...> first is no stand-in (review 25)
        info.package = framework_string(_plain_attr(root, "package"))
        info.split = framework_string(_plain_attr(root, "split"))
    strict = Reading()
    if root is None:
        return strict
    info.version_code = _as_int(_attr(root, ATTR_VERSION_CODE), res)
    info.version_name, _ = _as_str(_attr(root, ATTR_VERSION_NAME), res)
    for el in elements:
        if el.depth != 2 or el.ns:
            continue
        if el.name == "uses-sdk":
            if info.target_sdk is None:
                info.target_sdk = _sdk_value(_attr(el, ATTR_TARGET_SDK), res)
            if info.max_sdk is None:
                info.max_sdk = _sdk_value(_attr(el, ATTR_MAX_SDK), res)
        elif el.name == "application" and strict.label is None and not strict.labels:
            strict = _strict_label(_attr(el, ATTR_LABEL), res)
            info.debuggable = _as_bool(_attr(el, ATTR_DEBUGGABLE), res)
    return strict


def _strict_label(attr: Attr | None, res: _Resources) -> Reading:
    """The label as apksig's walk finds it, its reference resolved (androguard's and Android's table readings)."""
    if attr is not None and attr.vtype in REFERENCE_TYPES:
        return of_reference(res, attr.data & 0xFFFFFFFF)
    return Reading(*_as_str(attr, res))


def _sdk_value(attr: Attr | None, res: _Resources) -> int | None:
    """An SDK level; a codename target means "in development", which Android numbers 10000."""
    value = _as_int(attr, res)
    if value is None and attr is not None and attr.vtype == TYPE_STRING:
        return CUR_DEVELOPMENT
    return value


def read_manifest(manifest_axml: bytes | None, arsc: bytes | None, *, arsc_unread: Issue | None = None) -> ManifestInfo:
    """Manifest facts; every problem becomes an Issue in ``errors``, nothing raises.
    ``arsc_unread``: why a resources.arsc present in the APK was not read (``arsc`` is None then)."""
    info = ManifestInfo()
    if manifest_axml is None:
        info.errors.append(error(MANIFEST_MISSING, "AndroidManifest.xml not found"))
        return info
    if len(manifest_axml) > MAX_INPUT_SIZE:
        info.errors.append(error(MANIFEST_TOO_LARGE,
                                 f"AndroidManifest.xml of {len(manifest_axml)} bytes not parsed"))
        return info
    elements: list[Element] = []
    malformed = False
    xml = bytes(manifest_axml)
    top = TopLevel.of(xml)  # the top-level chunks, walked once for every tree read below
    try:
        for el in iter_start_elements(xml, top=top):
            if kept(el):  # all any field needs; the others are only walked over
                elements.append(el)
    except (AxmlError, struct.error, IndexError, ValueError) as exc:
        malformed = True
        info.errors.append(error(MANIFEST_MALFORMED, f"AndroidManifest.xml: {exc}"))
    res = _Resources(arsc, info.errors, arsc_unread)
    # apksig's minSdk, read before the label: its readings depend on which Android versions install the APK
    sdk = _min_sdk(elements) if not malformed else None
    res.min_sdk = sdk[0] if sdk is not None else None
    android = read_root(xml)
    if android.later_overflow:
        info.errors.append(error("INPUT_MANIFEST_TOO_MANY_TAGS", "more than 16 distinct packages on later <manifest> "
                                 "tags: the ones past 16 are not read (Android 16 may read one of them)"))
    framework = framework_elements(xml, elements, info, top, android)
    try:
        info.package_readings = package_readings(xml, framework, top, android)
        strict = _fill(info, framework or elements, res, android)
        fill_label(info, strict, read_application(xml), res)
    except Exception as exc:  # noqa: BLE001 - partial facts are still worth reporting
        info.errors.append(error(MANIFEST_MALFORMED, f"AndroidManifest.xml fields: {exc}"))
    if sdk is not None:  # said after the other fields, as before
        info.min_sdk, codenames, problem = sdk
        if problem is not None:
            info.errors.append(error(MANIFEST_MIN_SDK_UNSUPPORTED,
                                     f"cannot determine minSdkVersion as apksig does: {problem}"))
        for name in codenames if info.min_sdk is not None else ():
            info.errors.append(warning(MANIFEST_MIN_SDK_CODENAME, f"minSdkVersion is codename "
                                       f"{name!r}; apksig treats the APK as minSdk {info.min_sdk}"))
    return info


def _min_sdk(elements: list[Element]) -> tuple[int | None, list[str], Exception | None]:
    """apksig's minSdk, the codenames it met, and why it could not be determined (or None)."""
    codenames: list[str] = []
    try:
        return min_sdk_from_elements(elements, codenames), codenames, None
    except (AxmlError, struct.error, IndexError) as exc:
        return None, codenames, exc
