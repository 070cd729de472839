"""AndroidManifest.xml (binary AXML) and the app label from resources.arsc.

The verifier needs ``min_sdk`` *exactly* as apksig computes it (it picks the Android
versions the signature must verify on), so the binary XML is walked with the rules of
apksig's ``AndroidBinXmlParser`` and ``ApkUtils.getMinSdkVersionFromBinaryAndroidManifest``:
attributes are matched by framework resource ID, ``<uses-sdk>`` counts only as a child of
the root element, the largest ``minSdkVersion`` wins and a codename means "the release
before it ships". Other manifest fields come from the same walk. Resource references
(label, versionName) are resolved with androguard's ``ARSCParser``.

:func:`read_manifest` never raises: problems become ``ManifestInfo.errors``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from loguru import logger

from apkscan.apk.model import ManifestInfo
from apkscan.issues import Issue, error, warning

logger.disable("androguard")  # androguard logs through loguru; users must not see it

MAX_INPUT_SIZE = 32 << 20  # refuse larger AndroidManifest.xml / resources.arsc
MAX_ELEMENTS = 1_000_000  # bound the walk; more than a 32 MiB manifest can hold anyway

# Issue codes. When one of MIN_SDK_BLOCKING_CODES is present apksig cannot determine the
# APK's minSdkVersion and apksigner refuses to verify over the APK's own range.
MANIFEST_MISSING = "MANIFEST_MISSING"
MANIFEST_MALFORMED = "MANIFEST_MALFORMED"
MANIFEST_ARSC_MALFORMED = "MANIFEST_ARSC_MALFORMED"
MANIFEST_ARSC_MISSING = "MANIFEST_ARSC_MISSING"
MANIFEST_TOO_LARGE = "MANIFEST_TOO_LARGE"
MANIFEST_MIN_SDK_CODENAME = "MANIFEST_MIN_SDK_CODENAME"
MANIFEST_MIN_SDK_UNSUPPORTED = "MANIFEST_MIN_SDK_UNSUPPORTED"
MIN_SDK_BLOCKING_CODES = frozenset(
    {MANIFEST_MISSING, MANIFEST_MALFORMED, MANIFEST_TOO_LARGE, MANIFEST_MIN_SDK_UNSUPPORTED})

# Framework attribute resource IDs (android.R.attr).
ATTR_LABEL = 0x01010001
ATTR_DEBUGGABLE = 0x0101000F
ATTR_MIN_SDK = 0x0101020C
ATTR_VERSION_CODE = 0x0101021B
ATTR_VERSION_NAME = 0x0101021C
ATTR_TARGET_SDK = 0x01010270
ATTR_MAX_SDK = 0x01010271
ATTR_TARGET_SANDBOX = 0x0101054C
CUR_DEVELOPMENT = 10000  # Build.VERSION_CODES.CUR_DEVELOPMENT

# Value types (Res_value).
TYPE_REFERENCE, TYPE_STRING = 0x01, 0x03
TYPE_INT_DEC, TYPE_INT_HEX, TYPE_INT_BOOLEAN = 0x10, 0x11, 0x12

# apksig's codename -> API level table (first letter), pessimistic by design.
_CODENAME_FIRST_LETTER = {"C": 2, "D": 3, "E": 4, "F": 7, "G": 8, "H": 10, "I": 13, "J": 15,
                          "K": 18, "L": 20, "M": 22, "N": 23, "O": 25}


class AxmlError(Exception):
    """The binary XML breaks a rule apksig's parser enforces."""


def min_sdk_for_codename(codename: str) -> int:
    """API level apksig assumes for a pre-release codename; AxmlError if unsupported."""
    if codename == "Baklava":
        return 34
    first = codename[:1]
    if not ("A" <= first <= "Z"):
        raise AxmlError(f"unsupported codename {codename!r} in minSdkVersion")
    older = [c for c in _CODENAME_FIRST_LETTER if c <= first]
    if not older:
        return 1  # 'A' or 'B': never released
    newest = max(older)
    return _CODENAME_FIRST_LETTER[newest] + (ord(first) - ord(newest))


# --- binary XML walk with apksig's rules ---------------------------------------------------------


def _chunks(buf: memoryview):
    """(type, header, contents) of consecutive chunks; stops at a truncated one."""
    pos = 0
    while len(buf) - pos >= 8:
        ctype, hsize, csize = struct.unpack_from("<HHI", buf, pos)
        if csize - 8 > len(buf) - pos - 8:
            return
        if hsize < 8:
            raise AxmlError(f"malformed chunk: header too short ({hsize} bytes)")
        if hsize > csize:
            raise AxmlError(f"malformed chunk: header {hsize} longer than chunk {csize}")
        yield ctype, buf[pos:pos + hsize], buf[pos + hsize:pos + csize]
        pos += csize


class _StringPool:
    def __init__(self, header: memoryview, contents: memoryview):
        if len(header) - 8 < 20:
            raise AxmlError("string pool header too short")
        count, styles, flags, str_start, style_start = struct.unpack_from("<5I", header, 8)
        self.count, self.utf8, self.contents = count, bool(flags & 0x100), contents
        self.strings = memoryview(b"")
        if count:
            begin = str_start - len(header)
            if styles:
                if style_start < str_start:
                    raise AxmlError("string pool styles before strings")
                end = style_start - len(header)
            else:
                end = len(contents)
            if begin < 0 or end < begin or end > len(contents):
                raise AxmlError("string pool section out of bounds")
            self.strings = contents[begin:end]
        self.cache: dict[int, str] = {}

    def get(self, index: int) -> str:
        if index >= self.count:
            raise AxmlError(f"string index {index} out of range ({self.count})")
        if index in self.cache:
            return self.cache[index]
        if index * 4 + 4 > len(self.contents):
            raise AxmlError("string offset table truncated")
        (offset,) = struct.unpack_from("<I", self.contents, index * 4)
        s = self.strings
        if offset >= len(s):
            raise AxmlError(f"string {index} offset out of bounds")
        try:
            if self.utf8:
                pos = offset + (2 if s[offset] & 0x80 else 1)  # skip the UTF-16 length
                n = s[pos]
                pos += 1
                if n & 0x80:
                    n = ((n & 0x7F) << 8) | s[pos]
                    pos += 1
                if s[pos + n] != 0:
                    raise AxmlError("UTF-8 string not NUL terminated")
                value = bytes(s[pos:pos + n]).decode("utf-8", "replace")
            else:
                (n,) = struct.unpack_from("<H", s, offset)
                pos = offset + 2
                if n & 0x8000:
                    n = ((n & 0x7FFF) << 16) | struct.unpack_from("<H", s, pos)[0]
                    pos += 2
                if s[pos + 2 * n] != 0 or s[pos + 2 * n + 1] != 0:
                    raise AxmlError("UTF-16 string not NUL terminated")
                value = bytes(s[pos:pos + 2 * n]).decode("utf-16-le", "replace")
        except (IndexError, struct.error) as exc:
            raise AxmlError(f"string {index} runs past the pool") from exc
        self.cache[index] = value
        return value


@dataclass(slots=True)
class Attr:
    """One attribute; names and string values are decoded lazily, as apksig does."""

    ns_id: int
    name_id: int
    res_id: int
    vtype: int
    data: int  # signed 32-bit
    pool: _StringPool

    def string(self) -> str:
        return self.pool.get(self.data & 0xFFFFFFFF)

    def name(self) -> str:
        return self.pool.get(self.name_id)


@dataclass(slots=True)
class Element:
    depth: int
    name: str
    ns: str
    raw_attrs: list[Attr] = field(default_factory=list)
    attr_error: str | None = None  # apksig fails only if it reads this element's attributes

    @property
    def attrs(self) -> list[Attr]:
        if self.attr_error:
            raise AxmlError(self.attr_error)
        return self.raw_attrs


def iter_start_elements(xml: bytes):
    """Yield every start element in document order; raises AxmlError where apksig would fail."""
    buf = memoryview(xml)
    body = next((c for t, _, c in _chunks(buf) if t == 0x0003), None)
    if body is None:
        raise AxmlError("no XML chunk in file")
    pool: _StringPool | None = None
    res_map: memoryview | None = None
    depth, count = 0, 0
    for ctype, header, contents in _chunks(body):
        if ctype == 0x0001:
            if pool is not None:
                raise AxmlError("multiple string pools")
            pool = _StringPool(header, contents)
        elif ctype == 0x0180:
            if res_map is not None:
                raise AxmlError("multiple resource maps")
            res_map = contents[: len(contents) // 4 * 4]
        elif ctype in (0x0102, 0x0103):
            if pool is None:
                raise AxmlError("element before string pool")
            if ctype == 0x0103:
                if len(contents) < 8:
                    raise AxmlError("end element chunk too short")
                ns_id, name_id = struct.unpack_from("<II", contents, 0)
                pool.get(name_id)
                if ns_id != 0xFFFFFFFF:
                    pool.get(ns_id)
                depth -= 1
                continue
            if len(contents) < 20:
                raise AxmlError("start element chunk too short")
            ns_id, name_id, a_start, a_size, a_count = struct.unpack_from("<IIHHH", contents, 0)
            if a_start > len(contents) or a_start + a_count * a_size > len(contents):
                raise AxmlError("attributes out of bounds")
            count += 1
            if count > MAX_ELEMENTS:
                raise AxmlError(f"more than {MAX_ELEMENTS} elements")
            depth += 1
            el = Element(depth, pool.get(name_id), "" if ns_id == 0xFFFFFFFF else pool.get(ns_id))
            if a_count and a_size < 20:
                el.attr_error = f"attribute size {a_size} too small"
                a_count = 0
            for i in range(a_count):
                off = a_start + i * a_size
                a_ns, a_name = struct.unpack_from("<II", contents, off)
                vtype, data = struct.unpack_from("<Bi", contents, off + 15)
                rid = 0
                if res_map is not None and a_name < len(res_map) // 4:
                    (rid,) = struct.unpack_from("<I", res_map, a_name * 4)
                el.raw_attrs.append(Attr(a_ns, a_name, rid, vtype, data, pool))
            yield el


def min_sdk_from_elements(elements: list[Element], codenames: list[str] | None = None) -> int | None:
    """apksig's minSdkVersion: max over depth-2 <uses-sdk>; None when none declares one."""
    result: int | None = None
    for el in elements:
        if el.depth != 2 or el.name != "uses-sdk" or el.ns:
            continue
        value = 1
        for attr in el.attrs:
            if attr.res_id != ATTR_MIN_SDK:
                continue
            if attr.vtype in (TYPE_INT_DEC, TYPE_INT_HEX):
                value = attr.data
            elif attr.vtype == TYPE_STRING:
                value = min_sdk_for_codename(attr.string())
                if codenames is not None:
                    codenames.append(attr.string())
            else:
                raise AxmlError(f"unsupported value type 0x{attr.vtype:x} of minSdkVersion")
            break
        result = max(result or 1, value)
    return result


# --- manifest fields -------------------------------------------------------------------------


def _attr(el: Element, res_id: int) -> Attr | None:
    """The attribute with framework ID ``res_id``: Android matches android: attributes by ID."""
    return next((a for a in el.raw_attrs if a.res_id == res_id), None)


def _plain_attr(el: Element, name: str) -> Attr | None:
    """A no-namespace attribute (``package``, ``split``) matched by name."""
    for a in el.raw_attrs:
        try:
            if a.ns_id == 0xFFFFFFFF and a.name() == name:
                return a
        except AxmlError:
            continue
    return None


class _Resources:
    """resources.arsc, parsed on first use; reference resolution per locale."""

    def __init__(self, arsc: bytes | None, errors: list[Issue]):
        self._raw, self._errors, self._parser, self._tried = arsc, errors, None, False

    def _get(self):
        if not self._tried:
            self._tried = True
            if self._raw is None:
                self._errors.append(warning(MANIFEST_ARSC_MISSING,
                                            "resources.arsc missing: resource references unresolved"))
            elif len(self._raw) > MAX_INPUT_SIZE:
                self._errors.append(error(MANIFEST_TOO_LARGE,
                                          f"resources.arsc of {len(self._raw)} bytes not parsed"))
            else:
                try:
                    from androguard.core.axml import ARSCParser

                    self._parser = ARSCParser(self._raw)
                except Exception as exc:  # noqa: BLE001 - any parser failure is malformed input
                    self._errors.append(error(MANIFEST_ARSC_MALFORMED, f"resources.arsc: {exc}"))
        return self._parser

    def resolve(self, res_id: int) -> dict[str, str]:
        """{locale: value} for a resource ID; "" is the default locale."""
        parser = self._get()
        if parser is None:
            return {}
        try:
            configs = parser.get_resolved_res_configs(res_id)
        except (Exception, RecursionError) as exc:  # noqa: BLE001
            self._errors.append(warning(MANIFEST_ARSC_MALFORMED,
                                        f"resource 0x{res_id:08x} unresolvable: {exc}"))
            return {}
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
    if attr.vtype == TYPE_REFERENCE:
        values = res.resolve(attr.data & 0xFFFFFFFF)
        return values.get("", next(iter(values.values()), None)), values
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


def _fill(info: ManifestInfo, elements: list[Element], res: _Resources) -> None:
    root = next((e for e in elements if e.depth == 1), None)
    if root is None:
        return
    info.package, _ = _as_str(_plain_attr(root, "package"), res)
    info.split, _ = _as_str(_plain_attr(root, "split"), res)
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
        elif el.name == "application" and info.label is None and not info.labels:
            info.label, info.labels = _as_str(_attr(el, ATTR_LABEL), res)
            info.debuggable = _as_bool(_attr(el, ATTR_DEBUGGABLE), res)


def _sdk_value(attr: Attr | None, res: _Resources) -> int | None:
    """An SDK level; a codename target means "in development", which Android numbers 10000."""
    value = _as_int(attr, res)
    if value is None and attr is not None and attr.vtype == TYPE_STRING:
        return CUR_DEVELOPMENT
    return value


def _apksig_int_attr(xml: bytes | None, element: str, res_id: int) -> int | None:
    """apksig's getAttributeValueFromBinaryAndroidManifest; None where it throws."""
    if xml is None or len(xml) > MAX_INPUT_SIZE:
        return None
    try:
        for el in iter_start_elements(xml):
            if el.name == element:
                for a in el.attrs:
                    if a.res_id == res_id:
                        return a.data if a.vtype in (TYPE_INT_DEC, TYPE_INT_HEX) else None
    except (AxmlError, struct.error, IndexError, ValueError):
        return None
    return None


def apksig_target_sdk(manifest_axml: bytes | None) -> int:
    """targetSdkVersion as ApkVerifier uses it (MIN_SIG_SCHEME_FOR_TARGET_SDK_NOT_MET).

    First ``uses-sdk`` element (any depth) with an integer targetSdkVersion; otherwise
    apksig's minSdkVersion; otherwise 1.
    """
    value = _apksig_int_attr(manifest_axml, "uses-sdk", ATTR_TARGET_SDK)
    if value is not None or manifest_axml is None or len(manifest_axml) > MAX_INPUT_SIZE:
        return 1 if value is None else value
    try:
        shallow = [e for e in iter_start_elements(manifest_axml) if e.depth == 2]
        return min_sdk_from_elements(shallow) or 1
    except (AxmlError, struct.error, IndexError, ValueError):
        return 1


def apksig_target_sandbox_version(manifest_axml: bytes | None) -> int:
    """targetSandboxVersion as ApkVerifier uses it (NO_SIG_FOR_TARGET_SANDBOX_VERSION); default 1."""
    value = _apksig_int_attr(manifest_axml, "manifest", ATTR_TARGET_SANDBOX)
    return 1 if value is None else value


def read_manifest(manifest_axml: bytes | None, arsc: bytes | None) -> ManifestInfo:
    """Manifest facts; every problem becomes an Issue in ``errors``, nothing raises."""
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
    try:
        for el in iter_start_elements(bytes(manifest_axml)):
            if el.depth <= 2:  # all any field needs; deeper elements are only walked over
                elements.append(el)
    except (AxmlError, struct.error, IndexError, ValueError) as exc:
        malformed = True
        info.errors.append(error(MANIFEST_MALFORMED, f"AndroidManifest.xml: {exc}"))
    res = _Resources(arsc, info.errors)
    try:
        _fill(info, elements, res)
    except Exception as exc:  # noqa: BLE001 - partial facts are still worth reporting
        info.errors.append(error(MANIFEST_MALFORMED, f"AndroidManifest.xml fields: {exc}"))
    if not malformed:
        codenames: list[str] = []
        try:
            info.min_sdk = min_sdk_from_elements(elements, codenames)
        except (AxmlError, struct.error, IndexError) as exc:
            info.errors.append(error(MANIFEST_MIN_SDK_UNSUPPORTED,
                                     f"cannot determine minSdkVersion as apksig does: {exc}"))
        for name in codenames if info.min_sdk is not None else ():
            info.errors.append(warning(MANIFEST_MIN_SDK_CODENAME, f"minSdkVersion is codename "
                                       f"{name!r}; apksig treats the APK as minSdk {info.min_sdk}"))
    return info
