"""A lean reader of resources.arsc that answers exactly what androguard's ``ARSCParser`` would.

The manifest holds a handful of resource references (label, versionName, ...). androguard
builds Python objects for every package, type, config and entry of the table and decodes
every key and string value before it answers one of them; on a store app that is most of
the CPU of identifying it. :class:`ArscTable` walks the same chunks, keeps only offsets,
and decodes only the strings it returns.

Its contract is *identity or decline*: :meth:`ArscTable.open` returns None and
:meth:`ArscTable.resolve` returns None whenever the answer could differ from
``ARSCParser(raw).get_resolved_res_configs(res_id)`` as ``_Resources`` uses it, and the
caller then runs androguard exactly as before (so its messages stay the same). That means
mirroring androguard's quirks, not Android's: the ``Res_value`` is read right after the
8-byte entry header whatever the entry's size field says, configs are told apart by
androguard's tuple of fields (not by script or variant), a referencing config yields the
configs of the referenced resource. Because androguard parses and indexes the whole table
before answering, any structure that would make it raise anywhere (a truncated chunk, an
undecodable key string, a complex entry in a ``string`` type) would change today's answer
to "nothing"; :meth:`open` therefore checks every chunk header and every entry's bounds and
flags (a tight loop, no objects), and declines on anything that is not a canonical table.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from apkscan.apk.manifest.arsc_config import Config, config_consumed, read_config

_U16, _U32 = struct.Struct("<H"), struct.Struct("<I")
_HDR = struct.Struct("<HHI")  # ResChunk_header: type, headerSize, size
_ENTRY = struct.Struct("<HHI")  # ResTable_entry: size, flags, key (or compact data)
_POOL = struct.Struct("<IIIII")  # stringCount, styleCount, flags, stringsStart, stylesStart
_TYPE = struct.Struct("<BBHII")  # id, flags, reserved, entryCount, entriesStart

RES_STRING_POOL_TYPE = 0x0001
RES_TABLE_TYPE = 0x0002
RES_TABLE_PACKAGE_TYPE = 0x0200
RES_TABLE_TYPE_TYPE = 0x0201
RES_TABLE_TYPE_SPEC_TYPE = 0x0202
UTF8_FLAG = 0x100
FLAG_SPARSE, FLAG_OFFSET16 = 0x01, 0x02
ENTRY_COMPLEX, ENTRY_COMPACT = 0x01, 0x08
TYPE_REFERENCE, TYPE_STRING = 0x01, 0x03
NO_ENTRY_32, NO_ENTRY_16 = 0xFFFFFFFF, 0xFFFF
MAX_DEPTH = 32  # reference chain; androguard recurses without bound (RecursionError): decline
MAX_STEPS = 1024  # entries visited by one resolve (a DAG of references can fan out)
MAX_WORK = 1 << 16  # type chunks scanned by all resolves of a table (a hostile one has 10**5 configs)
_PACKAGE_FIELDS_END = 8 + 4 + 256 + 16  # what ARSCResTablePackage reads, whatever headerSize says


class _Decline(Exception):
    """The fast path cannot promise androguard's answer; the caller runs androguard."""


def _need(cond: bool) -> None:
    if not cond:
        raise _Decline


class _Pool:
    """A ResStringPool read as androguard's StringBlock reads it; strings decoded on demand."""

    def __init__(self, buf: bytes, start: int, limit: int):
        kind, _, size = _HDR.unpack_from(buf, start)
        _need(kind == RES_STRING_POOL_TYPE and start + 28 <= limit)
        count, styles, flags, strings_at, styles_at = _POOL.unpack_from(buf, start + 8)
        self.buf, self.size, self.utf8 = buf, size, bool(flags & UTF8_FLAG)
        self.offsets_at, self.count = start + 28, count
        _need(28 + 4 * styles <= size and strings_at <= size)
        gap = strings_at - (styles * 4 + 28)
        if gap != count * 4:  # androguard believes stringsStart, not stringCount
            self.count = max(0, int(gap / 4))  # none (or fewer): every index beyond reads ""
            # the characters start where the offsets end: at stringsStart only if it is aligned
            _need(gap % 4 == 0 if self.count else styles == 0)
        chars_end = size
        if styles and styles_at:
            _need(strings_at <= styles_at <= size)
            chars_end = styles_at
        self.chars = buf[start + strings_at:start + chars_end]
        self._cache: dict[int, str] = {}
        self._all = False  # check_all() passed

    def string(self, idx: int) -> str:
        """getString(idx), or _Decline where androguard would raise."""
        found = self._cache.get(idx)
        if found is None:
            span = self._span(idx)
            found = "" if span is None else self.chars[span[0]:span[1]].decode(
                "utf-8" if self.utf8 else "utf-16", "replace")  # androguard's codecs ("utf-16": BOM-aware)
            self._cache[idx] = found
        return found

    def check_all(self) -> None:
        """check() of every index, once; short strings (nearly all) inline."""
        if self._all:
            return
        chars, n, span, utf8 = self.chars, len(self.chars), self._span, self.utf8
        for idx, offset in enumerate(struct.unpack_from(f"<{self.count}I", self.buf, self.offsets_at)):
            if utf8 and offset + 3 <= n and chars[offset] < 0x80 and chars[offset + 1] < 0x80:
                if offset + 2 + chars[offset + 1] != n:  # == n: androguard's IndexError
                    continue
            elif not utf8 and offset + 4 <= n and chars[offset + 1] < 0x80:
                end = offset + 2 + 2 * (chars[offset] | chars[offset + 1] << 8)
                if end > n or (end + 2 <= n and chars[end] == 0 and chars[end + 1] == 0):
                    continue
            span(idx)  # the long forms, and every string androguard would raise on: declines
        self._all = True

    def _span(self, idx: int) -> tuple[int, int] | None:
        """Where string ``idx``'s bytes are; None where androguard returns "" (out of range,
        running past the pool, a UTF-8 string without its NUL)."""
        if idx >= self.count:
            return None
        chars, offset = self.chars, _U32.unpack_from(self.buf, self.offsets_at + 4 * idx)[0]
        n = len(chars)
        if self.utf8:  # two lengths (UTF-16 units, then bytes), each 1 or 2 bytes
            _need(offset + 2 <= n)
            offset += 2 if chars[offset] & 0x80 else 1
            _need(offset + 2 <= n)
            first, second = chars[offset], chars[offset + 1]
            length, offset = (((first & 0x7F) << 8) | second, offset + 2) if first & 0x80 else (first, offset + 1)
            end = offset + length
            if end > n:
                return None
            _need(end < n)  # androguard indexes the terminator: IndexError
            return (offset, end) if chars[end] == 0 else None
        _need(offset + 4 <= n)
        first, second = struct.unpack_from("<HH", chars, offset)
        length, offset = (((first & 0x7FFF) << 16) | second, offset + 4) if first & 0x8000 else (first, offset + 2)
        end = offset + 2 * length
        if end > n:
            return None
        _need(chars[end:end + 2] == b"\x00\x00")  # androguard raises on a missing terminator
        return offset, end


@dataclass(frozen=True, slots=True)
class _TypeChunk:
    """One RES_TABLE_TYPE_TYPE chunk: where its offsets and entries are; nothing decoded."""

    config: Config
    flags: int
    count: int
    offsets_at: int
    entries_at: int
    end: int

    def sparse_index(self, buf: bytes) -> dict[int, int]:
        """{entry index: absolute position} of a sparse chunk; a repeated index: the last wins."""
        pairs = struct.unpack_from(f"<{2 * self.count}H", buf, self.offsets_at)
        return {idx: self.entries_at + 4 * off for idx, off in zip(pairs[::2], pairs[1::2])}

    def entry(self, buf: bytes, index: int) -> int | None:
        """Absolute position of dense entry ``index``, or None (NO_ENTRY, beyond the count)."""
        if index >= self.count:
            return None
        if self.flags & FLAG_OFFSET16:
            off = _U16.unpack_from(buf, self.offsets_at + 2 * index)[0]
            return None if off == NO_ENTRY_16 else self.entries_at + off * 4
        off = _U32.unpack_from(buf, self.offsets_at + 4 * index)[0]
        return None if off == NO_ENTRY_32 else self.entries_at + off

    def offsets(self, buf: bytes) -> list[int]:
        """Every entry's relative offset, as androguard lists them (NO_ENTRY skipped)."""
        at, n = self.offsets_at, self.count
        if self.flags & FLAG_SPARSE:
            return [4 * off for off in struct.unpack_from(f"<{2 * n}H", buf, at)[1::2]]
        if self.flags & FLAG_OFFSET16:
            return [4 * o for o in struct.unpack_from(f"<{n}H", buf, at) if o != NO_ENTRY_16]
        return [o for o in struct.unpack_from(f"<{n}I", buf, at) if o != NO_ENTRY_32]


def _chunk(buf: bytes, pos: int, limit: int) -> tuple[int, int, int]:
    """(type, headerSize, size) of a chunk that fits in ``limit`` with a sane header.

    androguard scans forward byte by byte past a header it dislikes, and stops a walk at a
    chunk that overflows its parent: neither happens in a table aapt wrote, so decline.
    """
    _need(pos + 8 <= limit)
    kind, header_size, size = _HDR.unpack_from(buf, pos)
    _need(8 <= header_size <= size and pos + size <= limit)
    return kind, header_size, size


class ArscTable:
    """The chunk layout of one resources.arsc, checked once; resolves resource IDs."""

    def __init__(self, buf: bytes):
        self.buf = buf
        self.pool: _Pool | None = None
        self.types: dict[tuple[int, int], list[_TypeChunk]] = {}
        self._sparse: dict[int, dict[int, int]] = {}  # per sparse chunk (by offsets_at), built on use
        self._work = 0  # chunks looked at by resolve(), across calls: bounded by MAX_WORK

    @classmethod
    def open(cls, raw: bytes) -> ArscTable | None:
        """The checked table, or None when androguard must run (or would fail: same thing)."""
        try:
            table = cls(bytes(raw))
            table._walk()
            return table
        except (_Decline, struct.error, IndexError, ValueError, OverflowError, MemoryError):
            return None

    def _walk(self) -> None:
        buf = self.buf
        _need(8 <= len(buf) <= 0xFFFFFFFF)
        kind, header_size, end = _chunk(buf, 0, len(buf))
        _need(kind == RES_TABLE_TYPE and header_size == 12)
        declared_packages = _U32.unpack_from(buf, 8)[0]
        seen_packages, pos = 0, header_size
        while pos <= end - 8:
            kind, _, size = _chunk(buf, pos, end)
            if kind == RES_STRING_POOL_TYPE:
                _need(self.pool is None and seen_packages == 0)  # packages capture the pool in order
                self.pool = _Pool(buf, pos, pos + size)
            elif kind == RES_TABLE_PACKAGE_TYPE:
                seen_packages += 1
                _need(self.pool is not None and seen_packages <= declared_packages)
                self._package(pos, size)
            pos += size  # androguard skips other chunk types

    def _package(self, start: int, size: int) -> None:
        buf, end = self.buf, start + size
        header_size = _U16.unpack_from(buf, start + 2)[0]
        _need(header_size >= _PACKAGE_FIELDS_END)
        package_id = _U32.unpack_from(buf, start + 8)[0] & 0xFF  # androguard keeps the low byte
        type_strings, _, key_strings, _ = struct.unpack_from("<IIII", buf, start + 268)
        # androguard reads both pools where the header says, then walks on from headerSize
        # plus their sizes: only the canonical layout (pools back to back) reads the same.
        _need(type_strings == header_size)
        _, _, type_size = _chunk(buf, start + type_strings, end)
        _need(key_strings == type_strings + type_size)
        _, _, key_size = _chunk(buf, start + key_strings, end)
        type_names = _Pool(buf, start + type_strings, start + type_strings + type_size)
        keys = _Pool(buf, start + key_strings, start + key_strings + key_size)
        keys.check_all()  # androguard decodes the key of every entry; nearly all keys are used
        pos = start + key_strings + key_size
        while pos <= end - 8:
            kind, _, chunk_size = _chunk(buf, pos, end)
            if kind == RES_TABLE_TYPE_SPEC_TYPE:
                _need(pos + 12 <= len(buf))  # androguard reads its id and count unguarded
            elif kind == RES_TABLE_TYPE_TYPE:
                chunk = self._type_chunk(pos, chunk_size)
                type_id = buf[pos + 8]
                self._vet_entries(chunk, type_names.string(type_id - 1) if type_id else "")
                self.types.setdefault((package_id, type_id), []).append(chunk)
            pos += chunk_size  # typeSpec, library and unknown chunks change nothing androguard answers

    def _type_chunk(self, start: int, size: int) -> _TypeChunk:
        buf = self.buf
        header_size = _U16.unpack_from(buf, start + 2)[0]
        _need(size >= 20 + 16)
        _, flags, _, count, entries_start = _TYPE.unpack_from(buf, start + 8)
        config_size = _U32.unpack_from(buf, start + 20)[0]
        # androguard reads the offsets right after the config it parsed, not at headerSize
        _need(config_consumed(config_size) <= config_size and header_size == 20 + config_size)
        _need(count <= 0x10000)  # androguard ORs the index into the ID: above 16 bits it spills
        width = 2 if flags & FLAG_OFFSET16 and not flags & FLAG_SPARSE else 4
        _need(header_size + width * count <= size and entries_start <= size)
        return _TypeChunk(read_config(buf, start + 20, config_size), flags, count,
                          start + header_size, start + entries_start, start + size)

    def _vet_entries(self, chunk: _TypeChunk, type_name: str) -> None:
        """Every check androguard's constructor and _analyse make on this chunk's entries.

        androguard reads each entry, decodes its key name and, in ``string`` types, its value
        (both pools are checked whole, once); a complex entry in a string/integer/color/dimen
        type makes it raise. Hot loop: no helper calls per entry.
        """
        buf, end, base = self.buf, chunk.end, chunk.entries_at
        strict = type_name in ("string", "integer", "color", "dimen")
        if type_name == "string":  # androguard decodes each value: check the whole pool once
            self.pool.check_all()
        offsets = chunk.offsets(buf)
        if offsets and base + max(offsets) + 16 > end:  # a compact entry (8 bytes) may end a chunk
            for off in offsets:
                if base + off + 16 > end and (base + off + 8 > end or not buf[base + off + 2] & ENTRY_COMPACT):
                    raise _Decline
        for off in offsets:
            flags = buf[base + off + 2]  # the low byte holds FLAG_COMPLEX and FLAG_COMPACT
            if flags & ENTRY_COMPLEX:
                if strict or flags & ENTRY_COMPACT:
                    raise _Decline
                self._vet_complex(base + off, end)

    def _vet_complex(self, pos: int, end: int) -> None:
        """ARSCComplex reads a 12-byte item while 4 bytes of it fit in the chunk."""
        _need(pos + 16 <= end)
        count = _U32.unpack_from(self.buf, pos + 12)[0]
        items_at = pos + 16
        fitting = (end - 4 - items_at) // 12 + 1 if end - 4 >= items_at else 0
        read = min(count, fitting)
        _need(read == 0 or items_at + 12 * read <= end)

    def resolve(self, res_id: int) -> list[tuple[Config, str]] | None:
        """``get_resolved_res_configs(res_id)``: (config, value) in androguard's order, or None.

        androguard lists a resource's configs in first-seen order, the last entry of equal
        configs winning; a reference is replaced by every config of its target (a
        self-reference by nothing). Loops, deep chains, complex entries and the value types
        whose formatting is not mirrored here decline. (Android's own reading, which differs
        for hostile layouts: :mod:`apkscan.apk.manifest.arsc_android`.)
        """
        if not 0 < res_id <= 0xFFFFFFFF:
            return None
        try:
            out: list[tuple[Config, str]] = []
            self._expand(res_id, out)
            return out
        except (_Decline, struct.error, IndexError, ValueError, OverflowError, RecursionError):
            return None

    def _expand(self, res_id: int, out: list[tuple[Config, str]]) -> None:
        """Depth-first like androguard's ResourceResolver, with an explicit stack."""
        stack = [(res_id, iter(self._configs(res_id)))]
        chain, steps = [res_id], 0
        while stack:
            current, pending = stack[-1]
            item = next(pending, None)
            if item is None:
                stack.pop()
                chain.pop()
                continue
            steps += 1
            _need(steps <= MAX_STEPS)
            config, pos = item
            target = self._value(config, pos, out)
            if target is None or target == current:  # a value, a null reference, a self-reference
                continue
            _need(target not in chain and len(chain) < MAX_DEPTH)  # androguard: RecursionError
            stack.append((target, iter(self._configs(target))))
            chain.append(target)

    def _configs(self, res_id: int) -> list[tuple[Config, int]]:
        """resource_values[res_id]: {config: entry}, first-seen order, last entry wins."""
        found: dict[tuple[int, ...], tuple[Config, int]] = {}
        chunks = self.types.get((res_id >> 24, (res_id >> 16) & 0xFF), ())
        self._work += len(chunks)
        _need(self._work <= MAX_WORK)
        for chunk in chunks:
            if chunk.flags & FLAG_SPARSE:
                index = self._sparse.get(chunk.offsets_at)
                if index is None:
                    index = self._sparse[chunk.offsets_at] = chunk.sparse_index(self.buf)
                pos = index.get(res_id & 0xFFFF)
            else:
                pos = chunk.entry(self.buf, res_id & 0xFFFF)
            if pos is not None:  # equal fields: an equal Config, so which one is kept is moot
                found[chunk.config.fields] = (chunk.config, pos)
        return list(found.values())

    def _value(self, config: Config, pos: int, out: list[tuple[Config, str]]) -> int | None:
        """Append the entry's value to ``out``; a reference's target ID is returned instead."""
        buf = self.buf
        _, flags, key = _ENTRY.unpack_from(buf, pos)
        _need(not flags & ENTRY_COMPLEX)  # a bag: androguard lists it, _Resources skips it
        if flags & ENTRY_COMPACT:
            out.append((config, self.pool.string(key)))  # androguard: a pool string, whatever the type
            return None
        data_type, data = buf[pos + 11], _U32.unpack_from(buf, pos + 12)[0]
        if data_type == TYPE_REFERENCE:
            return data or None
        out.append((config, self._format(data_type, data)))
        return None

    def _format(self, data_type: int, data: int) -> str:
        """androguard's format_value for the types it formats without floats."""
        if data_type == TYPE_STRING:
            return self.pool.string(data)
        android = "android:" if data >> 24 == 1 else ""
        if data_type == 0x02:  # attribute
            return f"?{android}{data:08X}"
        _need(data_type not in (0x04, 0x05, 0x06))  # float, dimension, fraction: decline
        if data_type == 0x11:
            return "0x%08X" % data
        if data_type == 0x12:
            return "false" if data == 0 else "true"
        if 0x1C <= data_type <= 0x1F:
            return "#%08X" % data
        if 0x10 <= data_type <= 0x1F:
            return "%d" % (data - 0x100000000 if data > 0x7FFFFFFF else data)
        return f"<0x{data:X}, type 0x{data_type:02X}>"
