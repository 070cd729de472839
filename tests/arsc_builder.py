"""Builds resources.arsc tables byte by byte for the fast resolver's adversarial cases.

``fixtures/arsc_writer.py`` writes the one well-formed shape the fixture APKs need; these
tables need what it cannot express: several packages, configs beyond a language, offset16
and sparse entry arrays, references, compact and complex entries, UTF-8 pools and raw
entry bytes. Layout from ResourceTypes.h.
"""

from __future__ import annotations

import struct

TYPE_REFERENCE, TYPE_STRING, TYPE_FLOAT, TYPE_DIMENSION = 0x01, 0x03, 0x04, 0x05
TYPE_INT_DEC, TYPE_INT_HEX, TYPE_INT_BOOLEAN, TYPE_INT_COLOR_ARGB8 = 0x10, 0x11, 0x12, 0x1C
NO_ENTRY = 0xFFFFFFFF


def rid(package: int, type_id: int, entry: int) -> int:
    return (package << 24) | (type_id << 16) | entry


def pool(strings: list[str | bytes], utf8: bool = False) -> bytes:
    """A ResStringPool; a ``bytes`` item is written as given (its length prefix included)."""
    offsets, data = [], bytearray()
    for s in strings:
        offsets.append(len(data))
        if isinstance(s, bytes):
            data += s
        elif utf8:
            raw = s.encode("utf-8", "surrogatepass")
            data += _len8(len(s)) + _len8(len(raw)) + raw + b"\x00"
        else:
            units = s.encode("utf-16-le", "surrogatepass")
            data += struct.pack("<H", len(units) // 2) + units + b"\x00\x00"
    while len(data) % 4:
        data += b"\x00"
    start = 28 + 4 * len(strings)
    head = struct.pack("<HHIIIIII", 0x0001, 28, start + len(data), len(strings), 0,
                       0x100 if utf8 else 0, start, 0)
    return head + b"".join(struct.pack("<I", o) for o in offsets) + bytes(data)


def _len8(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([0x80 | (n >> 8), n & 0xFF])


def simple(key: int, data_type: int, data: int, size: int = 8) -> bytes:
    """ResTable_entry + Res_value (``size``: the entry's declared size, normally 8)."""
    return struct.pack("<HHI", size, 0, key) + struct.pack("<HBBI", 8, 0, data_type, data)


def string(key: int, pool_index: int) -> bytes:
    return simple(key, TYPE_STRING, pool_index)


def ref(key: int, target: int) -> bytes:
    return simple(key, TYPE_REFERENCE, target)


def compact(key: int, data_type: int, data: int) -> bytes:
    return struct.pack("<HHI", key, 0x08 | (data_type << 8), data)


def complex_(key: int, items: list[tuple[int, int, int]]) -> bytes:
    """A bag: ResTable_map_entry (parent 0) and (name, type, data) maps."""
    out = struct.pack("<HHIII", 16, 0x01, key, 0, len(items))
    return out + b"".join(struct.pack("<IHBBI", n, 8, 0, t, d) for n, t, d in items)


def config(language: str = "", region: str = "", density: int = 0, sdk: int = 0,
           size: int = 64) -> bytes:
    cfg = bytearray(max(size, 16))
    struct.pack_into("<I", cfg, 0, size)
    cfg[8:10] = language.encode("ascii").ljust(2, b"\x00")[:2]
    cfg[10:12] = region.encode("ascii").ljust(2, b"\x00")[:2]
    struct.pack_into("<H", cfg, 14, density)
    if size >= 28:
        struct.pack_into("<H", cfg, 24, sdk)
    return bytes(cfg)


def type_chunk(type_id: int, entries: dict[int, bytes], count: int | None = None,
               cfg: bytes | None = None, form: str = "dense") -> bytes:
    """A ResTable_type; ``form`` is dense (32-bit offsets), offset16 or sparse."""
    cfg = config() if cfg is None else cfg
    count = (max(entries) + 1 if entries else 0) if count is None else count
    body, where = bytearray(), {}
    for index in sorted(entries):
        where[index] = len(body)
        body += entries[index]
    if form == "sparse":
        table = b"".join(struct.pack("<HH", i, where[i] // 4) for i in sorted(entries))
        count, flags = len(entries), 0x01
    elif form == "offset16":
        table = b"".join(struct.pack("<H", where[i] // 4 if i in where else 0xFFFF) for i in range(count))
        flags = 0x02
    else:
        table = b"".join(struct.pack("<I", where.get(i, NO_ENTRY)) for i in range(count))
        flags = 0
    table += b"\x00" * (-len(table) % 4)
    header = 20 + len(cfg)
    start = header + len(table)
    head = struct.pack("<HHIBBHII", 0x0201, header, start + len(body), type_id, flags, 0, count, start)
    return head + cfg + table + bytes(body)


def package(package_id: int, name: str, type_names: list[str], keys: list[str],
            chunks: list[bytes]) -> bytes:
    types_pool, keys_pool = pool(type_names), pool(keys)
    body = types_pool + keys_pool + b"".join(chunks)
    head = struct.pack("<HHII", 0x0200, 288, 288 + len(body), package_id)
    head += name.encode("utf-16-le")[:254].ljust(256, b"\x00")
    head += struct.pack("<IIIII", 288, len(type_names), 288 + len(types_pool), len(keys), 0)
    return head + body


def table(strings: list[str | bytes], packages: list[bytes], utf8: bool = False,
          package_count: int | None = None) -> bytes:
    body = pool(strings, utf8) + b"".join(packages)
    count = len(packages) if package_count is None else package_count
    return struct.pack("<HHII", 0x0002, 12, 12 + len(body), count) + body
