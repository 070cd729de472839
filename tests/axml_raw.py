"""Binary XML built chunk by chunk, every field settable: manifests made to be read two ways.

``fixtures/axml_writer.py`` writes what aapt2 writes; this writes what an adversary can
(namespace indices that name no string, odd UTF-16 offsets, NULs inside names, two string
pools, short attribute records, stray end tags), for the tests of
:mod:`apkscan.apk.manifest.framework_xml`.
"""

from __future__ import annotations

import io
import struct
import zipfile

NO = 0xFFFFFFFF
ANDROID_NS = "http://schemas.android.com/apk/res/android"
TYPE_STRING, TYPE_INT_DEC = 0x03, 0x10
# attribute resource ids, in pool order: versionCode, minSdkVersion, label
IDS = (0x0101021B, 0x0101020C, 0x01010001)


def utf16_entry(text: str) -> bytes:
    units = text.encode("utf-16-le")
    return struct.pack("<H", len(units) // 2) + units + b"\0\0"


def utf8_entry(text: str) -> bytes:
    raw = text.encode("utf-8")
    assert len(raw) < 0x80
    return bytes([len(text.encode("utf-16-le")) // 2, len(raw)]) + raw + b"\0"


def pool(strings: list[str | bytes], *, utf8: bool = False, offsets: list[int] | None = None) -> bytes:
    """A string pool chunk; a ``bytes`` item is an entry as is (lengths and all); ``offsets``
    replaces the computed byte offsets."""
    data, offs = bytearray(), []
    for s in strings:
        offs.append(len(data))
        data += s if isinstance(s, bytes) else (utf8_entry(s) if utf8 else utf16_entry(s))
    while len(data) % 4:
        data += b"\0"
    offs = offs if offsets is None else offsets
    start = 28 + 4 * len(offs)
    head = struct.pack("<HHIIIIII", 0x0001, 28, start + len(data), len(offs), 0, 0x100 if utf8 else 0, start, 0)
    return head + b"".join(struct.pack("<I", o) for o in offs) + bytes(data)


def resource_map(ids=IDS) -> bytes:
    return struct.pack("<HHI", 0x0180, 8, 8 + 4 * len(ids)) + b"".join(struct.pack("<I", i) for i in ids)


def node(kind: int, ext: bytes) -> bytes:
    return struct.pack("<HHIII", kind, 16, 16 + len(ext), 1, NO) + ext


def attr(ns: int, name: int, raw: int, vtype: int, data: int) -> bytes:
    return struct.pack("<IIIHBBI", ns, name, raw, 8, 0, vtype, data & 0xFFFFFFFF)


def start(name: int, attrs: list[bytes], *, ns: int = NO, size: int = 20) -> bytes:
    """A start tag; ``size``: the attribute record size it declares (records are laid out at it)."""
    records = b"".join(a[:size] if size < 20 else a + b"\0" * (size - 20) for a in attrs)
    return node(0x0102, struct.pack("<IIHHHHHH", ns, name, 20, size, len(attrs), 0, 0, 0) + records)


def end(name: int) -> bytes:
    return node(0x0103, struct.pack("<II", NO, name))


def namespace(prefix: int, uri: int, *, closing: bool = False) -> bytes:
    return node(0x0101 if closing else 0x0100, struct.pack("<II", prefix, uri))


def document(*parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack("<HHI", 0x0003, 8, 8 + len(body)) + body


# The usual pool: 0 versionCode, 1 minSdkVersion, 2 label (mapped), 3 ns uri, 4 "android",
# 5 "manifest", 6 "package", 7 "uses-sdk", 8 "application", then the caller's strings from 9.
BASE = ["versionCode", "minSdkVersion", "label", ANDROID_NS, "android", "manifest", "package", "uses-sdk",
        "application"]
MANIFEST, PACKAGE, USES_SDK, APPLICATION = 5, 6, 7, 8


def package_attr(index: int, *, ns: int = NO, name: int = PACKAGE) -> bytes:
    return attr(ns, name, index, TYPE_STRING, index)


def manifest(root_attrs: list[bytes], *, pool_chunk: bytes, before: bytes = b"", inside: bytes = b"",
             root_name: int = MANIFEST, size: int = 20, after: bytes = b"") -> bytes:
    """``<manifest>`` with ``root_attrs`` (plus versionCode 1), a ``<uses-sdk minSdkVersion=21>``
    and ``inside`` as children; ``before``/``after``: nodes between the namespace and the root,
    and after the root."""
    version = attr(3, 0, NO, TYPE_INT_DEC, 1)
    return document(pool_chunk, resource_map(), namespace(4, 3), before,
                    start(root_name, [version, *root_attrs], size=size),
                    start(USES_SDK, [attr(3, 1, NO, TYPE_INT_DEC, 21)]), end(USES_SDK), inside,
                    end(root_name), after, namespace(4, 3, closing=True))


def apk(axml: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    """An unsigned APK holding this manifest (and ``extra`` entries): what aapt and apkscan read."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("AndroidManifest.xml", axml)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()
