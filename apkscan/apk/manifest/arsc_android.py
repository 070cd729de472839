"""resources.arsc read the way Android reads it, for the values an app shows (its label).

:mod:`apkscan.apk.manifest.arsc` gives androguard's answer or declines; this reader gives
Android's (``ResTable``/``LoadedArsc``): the first global string pool, entry offsets at the
type chunk's ``headerSize``, a value at its entry's declared size, sparse and 16-bit offsets,
compact entries, references and dynamic references followed. It is lenient where Android is
(it does not need androguard's layout), so a table laid out to make androguard and Android
disagree (a decoy label for parsers) is still read as the device shows it. Bounded: one walk of
the chunks, a few reference hops; anything unreadable is simply absent, never an exception.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from apkscan.apk.manifest.axml import AxmlError, StringPool

RES_STRING_POOL, RES_TABLE, RES_TABLE_PACKAGE, RES_TABLE_TYPE = 0x0001, 0x0002, 0x0200, 0x0201
TYPE_REFERENCE, TYPE_STRING, TYPE_DYNAMIC_REFERENCE = 0x01, 0x03, 0x07
FLAG_COMPLEX, FLAG_COMPACT = 0x0001, 0x0008
TYPE_SPARSE, TYPE_OFFSET16 = 0x01, 0x02
APP_PACKAGE = 0x7F
MAX_HOPS = 20  # aapt follows reference chains of up to 19 hops
MAX_WORK = 1 << 16  # type chunks looked at per resolve: a table of chained ids cannot stall it


class _Budget(Exception):
    """More than MAX_WORK type chunks looked at for one resolve."""


class AndroidArsc:
    """A table's global string pool and type chunks, indexed once by (package, type)."""

    def __init__(self, buf: bytes):
        self.buf = buf
        self.pool: StringPool | None = None  # the first global string pool
        self.types: dict[tuple[int, int], list[int]] = {}  # (package id, type id) -> type chunk starts
        self._work = 0  # type chunks looked at by the current resolve (MAX_WORK)
        self._candidates: list[str] = []  # every string the current resolve met

    @classmethod
    def open(cls, raw: bytes | None) -> AndroidArsc | None:
        if raw is None:
            return None
        table = cls(bytes(raw))
        try:
            table._walk()
        except (struct.error, IndexError, ValueError, AxmlError):
            pass  # what was read before the damage is what Android would have too
        return table if table.pool is not None else None

    def _chunks(self, start: int, end: int):
        pos = start
        while pos + 8 <= end:
            kind, header, size = struct.unpack_from("<HHI", self.buf, pos)
            if size < 8 or header < 8 or header > size or pos + size > end:
                return
            yield pos, kind, header, size
            pos += size

    def _walk(self) -> None:
        kind, header, size = struct.unpack_from("<HHI", self.buf, 0)
        if kind != RES_TABLE or size > len(self.buf):
            return
        for pos, kind, chunk_header, chunk_size in self._chunks(header, size):
            if kind == RES_STRING_POOL and self.pool is None:  # later pools are ignored
                view = memoryview(self.buf)
                self.pool = StringPool(view[pos:pos + chunk_header], view[pos + chunk_header:pos + chunk_size],
                                       android=True)
            elif kind == RES_TABLE_PACKAGE:
                package_id = struct.unpack_from("<I", self.buf, pos + 8)[0] & 0xFF
                for t_pos, t_kind, _, _ in self._chunks(pos + chunk_header, pos + chunk_size):
                    if t_kind == RES_TABLE_TYPE:
                        self.types.setdefault((package_id, self.buf[t_pos + 8]), []).append(t_pos)

    @staticmethod
    def unread_tables(raw: bytes) -> int:
        """RES_TABLE chunks at the file's top level besides the one read (the chunk at offset 0):
        Android 9+ (``LoadedArsc::Load``) loads every one, this reader (like androguard and
        aapt) only the first, so a label only such a table holds is one apkscan cannot read
        (review 58 F8: a lead, no oracle here). At most MAX_TOP_CHUNKS chunks are looked at."""
        pos, count, seen = 0, 0, 0
        while pos + 8 <= len(raw) and seen < MAX_TOP_CHUNKS:
            kind, header, size = struct.unpack_from("<HHI", raw, pos)
            if size < 8 or header < 8 or header > size:
                break
            count += kind == RES_TABLE and pos > 0
            pos, seen = pos + size, seen + 1
        return count

    def string(self, index: int) -> str | None:
        try:
            return self.pool.get(index)
        except AxmlError:
            return None

    def resolve(self, res_id: int) -> tuple[dict[str, str], list[str]] | None:
        """({locale: string} as shown, "" the default; every string reachable from the resource in
        any configuration: what other devices, or other readers, may show), or None when the
        work budget ran out (the table is built to stall a reader)."""
        out: dict[str, str] = {}
        self._work, self._candidates = 0, []
        try:
            self._resolve(res_id, out, 0, set())
        except (struct.error, IndexError, ValueError):
            pass
        except _Budget:
            return None
        return out, list(dict.fromkeys(self._candidates))

    def _resolve(self, res_id: int, out: dict[str, str], hops: int, seen: set[int]) -> None:
        if res_id >> 24 == 0:  # DynamicRefTable: package 0x00 is "this package's own", 0x7f for an app
            res_id |= APP_PACKAGE << 24
        if hops > MAX_HOPS or res_id in seen:
            return
        seen.add(res_id)
        for locale, default, value in self._values(res_id):
            if value[0] in (TYPE_REFERENCE, TYPE_DYNAMIC_REFERENCE) and value[1]:
                target: dict[str, str] = {}
                self._resolve(value[1], target, hops + 1, seen)
                for loc, text in target.items():
                    if loc not in out or default:
                        out[loc] = text
            elif value[0] == TYPE_STRING:
                text = self.string(value[1])
                if text is not None:
                    self._candidates.append(text)
                    if locale not in out or default:
                        out[locale] = text

    def _values(self, res_id: int):
        """(locale, config is the default, (type, data)) of each config's entry for ``res_id``."""
        buf, index = self.buf, res_id & 0xFFFF
        chunks = self.types.get((res_id >> 24, (res_id >> 16) & 0xFF), ())
        self._work += len(chunks)
        if self._work > MAX_WORK:
            raise _Budget
        for start in chunks:
            header, size = struct.unpack_from("<HI", buf, start + 2)
            flags, count, entries = buf[start + 9], *struct.unpack_from("<II", buf, start + 12)
            offset = self._offset(start + header, flags, count, index)
            if offset is None:
                continue
            entry = start + entries + offset
            e_size, e_flags, key = struct.unpack_from("<HHI", buf, entry)
            if e_flags & FLAG_COMPACT:
                value = (e_flags >> 8, key)
            elif e_flags & FLAG_COMPLEX or e_size < 8 or entry + e_size + 8 > start + size:
                continue
            else:
                value = (buf[entry + e_size + 3], struct.unpack_from("<I", buf, entry + e_size + 4)[0])
            yield (*_locale(buf, start + 20), value)

    def _offset(self, at: int, flags: int, count: int, index: int) -> int | None:
        buf = self.buf
        if flags & TYPE_SPARSE:
            lo, hi = 0, count
            while lo < hi:  # entries sorted by index
                mid = (lo + hi) // 2
                idx, off = struct.unpack_from("<HH", buf, at + 4 * mid)
                if idx == index:
                    return off * 4
                lo, hi = (mid + 1, hi) if idx < index else (lo, mid)
            return None
        if index >= count:
            return None
        if flags & TYPE_OFFSET16:
            off = struct.unpack_from("<H", buf, at + 2 * index)[0]
            return None if off == 0xFFFF else off * 4
        off = struct.unpack_from("<I", buf, at + 4 * index)[0]
        return None if off == 0xFFFFFFFF else off


def _locale(buf: bytes, config: int) -> tuple[str, bool]:
    """("lang" or "lang-REGION", "" for none; whether the config has no qualifier at all)."""
    size = struct.unpack_from("<I", buf, config)[0]
    body = bytes(buf[config + 4:config + max(size, 4)])
    language = bytes(buf[config + 8:config + 10]).rstrip(b"\x00").decode("latin-1") if size >= 12 else ""
    region = bytes(buf[config + 10:config + 12]).rstrip(b"\x00").decode("latin-1") if size >= 12 else ""
    return (language + (f"-{region}" if region else "") if language else ""), not any(body)


# --- a table over the cap, read without holding it ------------------------------------------------

MAX_TOP_CHUNKS = 4096  # kept: a table aapt writes has one string pool and a few packages at its top level
MAX_SKIPPED_CHUNKS = 1 << 20  # left out (~1 s of this loop); a stream of MAX_ARSC_STREAM could hold 32 million


class Uncut(Exception):
    """Why a streamed table was not cut down to what Android reads (said in the caller's error)."""


class _Stream:
    """Bytes taken from an iterator of pieces, never holding more than the piece being read."""

    def __init__(self, pieces: Iterable[bytes]):
        self._it, self._piece, self._at = iter(pieces), b"", 0

    def take(self, n: int, keep: bool = True) -> bytes | None:
        """The next ``n`` bytes (``keep=False``: passed over, b"" returned); None past the end."""
        parts, need = [], n
        while need:
            if self._at >= len(self._piece):
                piece = next(self._it, None)
                if piece is None:
                    return None
                self._piece, self._at = piece, 0
                continue
            k = min(need, len(self._piece) - self._at)
            if keep:
                parts.append(self._piece[self._at:self._at + k])
            self._at, need = self._at + k, need - k
        return b"".join(parts)


def without_unknown_chunks(pieces: Iterable[bytes], budget: int) -> bytes:
    """A resources.arsc streamed in ``pieces``, as the same table without the top-level chunks
    Android skips (and without bytes after the table), when what is left fits in ``budget`` bytes.

    Android's ``LoadedArsc`` logs and skips a top-level chunk that is neither the string pool nor
    a package, and a string pool after the first ("Multiple RES_STRING_POOL_TYPEs found"); so do
    :class:`AndroidArsc` and androguard (:class:`~apkscan.apk.manifest.arsc.ArscTable` refuses a second
    pool and its caller falls back to them). Left out, every reader answers what it answers on the
    whole table, so a table padded past the cap with such chunks (aapt shows its label) is read like
    its small twin (review 41 F4). Anything else raises :class:`Uncut` with the reason: a table header
    or chunk a reader would stop or scan at, a table shorter than it declares, more than
    :data:`MAX_TOP_CHUNKS` kept or :data:`MAX_SKIPPED_CHUNKS` skipped chunks, or the string pool and
    packages over ``budget`` together.
    """
    stream = _Stream(pieces)
    head = stream.take(8)
    kind, header, size = struct.unpack("<HHI", head) if head is not None else (0, 0, 0)
    rest = stream.take(header - 8) if kind == RES_TABLE and 12 <= header <= size else None
    if rest is None:
        raise Uncut("it has no table header that can be read")
    kept, total, pos, pool, skipped = [head, rest], header, header, False, 0
    while True:
        if pos + 8 > size:  # the table's own tail (under a chunk header): kept as it is
            tail = stream.take(size - pos)
            if tail is None:
                raise Uncut("it ends before the size it declares")
            return _sized(kept + [tail], _within(total + len(tail), budget))
        chunk = stream.take(8)
        c_kind, c_header, c_size = struct.unpack("<HHI", chunk) if chunk is not None else (0, 0, 0)
        if c_size < 8 or c_header < 8 or c_header > c_size or pos + c_size > size:
            raise Uncut(f"its top-level chunk at byte {pos} is malformed or truncated")  # Android stops here
        known = c_kind == RES_TABLE_PACKAGE or (c_kind == RES_STRING_POOL and not pool)
        pool, skipped = pool or c_kind == RES_STRING_POOL, skipped + (not known)
        if skipped > MAX_SKIPPED_CHUNKS or len(kept) > 2 * MAX_TOP_CHUNKS:
            raise Uncut(f"it has more than {MAX_TOP_CHUNKS} string pools and packages" if known else
                        f"it has more than {MAX_SKIPPED_CHUNKS} top-level chunks Android skips")
        total = _within(total + c_size, budget) if known else total
        body = stream.take(c_size - 8, keep=known)
        if body is None:
            raise Uncut("it ends before the size it declares")
        kept += [chunk, body] if known else []
        pos += c_size


def _within(total: int, budget: int) -> int:
    if total > budget:
        raise Uncut(f"its string pool and packages take more than {budget} bytes")
    return total


def _sized(parts: list[bytes], total: int) -> bytes:
    """The kept chunks under the table header, its size field set to what they add up to."""
    out = bytearray(b"".join(parts))
    struct.pack_into("<I", out, 4, total)
    return bytes(out)
