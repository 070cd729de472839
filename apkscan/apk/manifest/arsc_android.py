"""resources.arsc read the way Android reads it, for the values an app shows (its label).

:mod:`apkscan.apk.manifest.arsc` gives androguard's answer or declines; this reader gives
Android's (``ResTable``/``LoadedArsc``): the first global string pool, entry offsets at the
type chunk's ``headerSize``, a value at its entry's declared size, sparse and 16-bit offsets,
compact entries, references and dynamic references followed. It is lenient where Android is
(it does not need androguard's layout), so a table laid out to make androguard and Android
disagree (a decoy label for parsers) is still read as the device shows it. Where Android
versions read the same bytes two ways (review 89), the other reading's strings are kept as
candidates and ``notes`` says why: a chunk flagged for 16-bit offsets or an entry flagged compact
(Android 13 and older, and aapt, know neither flag), a top chunk not of table type (Android 8 and
older, and aapt, read it), package byte 0x00 (the loading package's id: each id the table
holds). A configuration whose entry does not parse is skipped, as Android skips it, and said.
Bounded: one walk of the chunks, a few reference hops; never an exception.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from apkscan.apk.manifest.axml import AxmlError, StringPool

RES_STRING_POOL, RES_TABLE, RES_TABLE_PACKAGE, RES_TABLE_TYPE = 0x0001, 0x0002, 0x0200, 0x0201
TYPE_REFERENCE, TYPE_STRING, TYPE_DYNAMIC_REFERENCE = 0x01, 0x03, 0x07
FLAG_COMPLEX, FLAG_COMPACT = 0x0001, 0x0008
TYPE_SPARSE, TYPE_OFFSET16 = 0x01, 0x02
WRAPPED = ("an entry offset plus its type chunk's entriesStart passes 2^32: Android 8.1 and older (ResTable) "
           "and aapt add them in 32 bits and read the entry the sum wraps to, Android 9+ skips it")
APP_PACKAGE = 0x7F
ANDROID_14 = 34  # the first SDK level that reads compact entries and 16-bit offsets
MAX_HOPS = 20  # aapt follows reference chains of up to 19 hops
MAX_WORK = 1 << 16  # type chunks looked at per resolve: a table of chained ids cannot stall it
COMPACT = ("an entry is flagged compact (0x08): Android 14+ reads it compact, Android 13 and older and aapt "
           "read the value after its header")
OFFSET16 = ("a type chunk is flagged for 16-bit offsets (0x02): Android 14+ reads them so, Android 13 and "
            "older and aapt read 32-bit offsets")


class _Budget(Exception):
    """More than MAX_WORK type chunks looked at for one resolve."""


class AndroidArsc:
    """A table's global string pool and type chunks, indexed once by (package, type)."""

    def __init__(self, buf: bytes):
        self.buf = buf
        self.pool: StringPool | None = None  # the first global string pool
        self.types: dict[tuple[int, int], list[int]] = {}  # (package id, type id) -> type chunk starts
        self.package_ids: list[int] = []  # in the order the table holds them
        self.top_type = RES_TABLE  # the top chunk's type: anything else only Android <= 8 and aapt read
        self._work = 0  # type chunks looked at by the current resolve (MAX_WORK)
        self._candidates: list[str] = []  # every string the current resolve met
        self.notes: list[str] = []  # how the bytes the current resolve met read another way too
        # read compact entries and 16-bit offsets the way Android 13 and older do too (False when the
        # APK's minSdk is 34+: no such Android installs it, and aapt2 writes those forms for 14+)
        self.older_too = True

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
        if size > len(self.buf):
            return
        self.top_type = kind  # ResTable::addInternal (Android <= 8, aapt) does not check it; 9+ skips the chunk
        for pos, kind, chunk_header, chunk_size in self._chunks(header, size):
            if kind == RES_STRING_POOL and self.pool is None:  # later pools are ignored
                view = memoryview(self.buf)
                self.pool = StringPool(view[pos:pos + chunk_header], view[pos + chunk_header:pos + chunk_size],
                                       android=True)
            elif kind == RES_TABLE_PACKAGE:
                package_id = struct.unpack_from("<I", self.buf, pos + 8)[0] & 0xFF
                self.package_ids += [] if package_id in self.package_ids else [package_id]
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
        any configuration, or in another reading of the same bytes (``notes`` says which): what
        other devices, or other readers, may show), or None when the work budget ran out (the
        table is built to stall a reader)."""
        out: dict[str, str] = {}
        self._work, self._candidates, self.notes = 0, [], []
        try:
            self._resolve(res_id, out, 0, set())
        except (struct.error, IndexError, ValueError):
            pass
        except _Budget:
            return None
        if self.top_type != RES_TABLE:  # Android 9+ reads none of it: every value is another reading
            self._note(f"resources.arsc's top chunk is of type 0x{self.top_type:04x}, not a table (0x0002): "
                       "Android 9+ skips it, Android 8 and older and aapt read it as the table")
            out = {}
        return out, list(dict.fromkeys(self._candidates))

    def _note(self, text: str) -> None:
        self.notes += [] if text in self.notes else [text]

    def _resolve(self, res_id: int, out: dict[str, str], hops: int, seen: set[int]) -> None:
        if res_id >> 24 == 0:  # DynamicRefTable: package 0x00 is the loading package's own id
            self._own(res_id, out, hops, seen)
        else:
            self._lookup(res_id, out, hops, seen)

    def _lookup(self, res_id: int, out: dict[str, str], hops: int, seen: set[int]) -> None:
        if hops > MAX_HOPS or res_id in seen:
            return
        seen.add(res_id)
        for locale, default, value, other in self._values(res_id):
            into: dict[str, str] = {} if other else out  # another reading: candidates, never the shown label
            if value[0] in (TYPE_REFERENCE, TYPE_DYNAMIC_REFERENCE) and value[1]:
                target: dict[str, str] = {}
                self._resolve(value[1], target, hops + 1, set(seen) if other else seen)
                for loc, text in target.items():
                    if loc not in into or default:
                        into[loc] = text
            elif value[0] == TYPE_STRING:
                text = self.string(value[1])
                if text is not None:
                    self._candidates.append(text)
                    if locale not in into or default:
                        into[locale] = text
            if other and into:  # said only when that reading gives a string
                self._note(other)

    def _own(self, res_id: int, out: dict[str, str], hops: int, seen: set[int]) -> None:
        """Package byte 0x00: ``DynamicRefTable`` gives it the id of the package that loads it, the
        table's own (0x7f for an app aapt built); each id the table holds is read, the first
        (0x7f when held) as shown, the others as other readings."""
        ids = sorted(self.package_ids or [APP_PACKAGE], key=lambda pid: pid != APP_PACKAGE)
        if ids != [APP_PACKAGE]:
            self._note(f"a reference with package byte 0x00 (0x{res_id:08x}) is read as the package that loads the "
                       "table (Android's and aapt's DynamicRefTable), here the table's package id(s) "
                       + ", ".join(f"0x{pid:02x}" for pid in ids))
        for n, pid in enumerate(ids):
            self._lookup(res_id | pid << 24, out if n == 0 else {}, hops, seen if n == 0 else set(seen))

    def _values(self, res_id: int):
        """(locale, config is the default, (type, data), why it is another reading or "") of each
        config's entry for ``res_id``; a config whose entry does not parse is skipped, as Android
        skips it, and said."""
        index = res_id & 0xFFFF
        chunks = self.types.get((res_id >> 24, (res_id >> 16) & 0xFF), ())
        self._work += len(chunks)
        if self._work > MAX_WORK:
            raise _Budget
        for start in chunks:
            try:
                where = _locale(self.buf, start + 20)
                found = self._entry(start, index)
            except (struct.error, IndexError, ValueError):
                found, where = [], ("?", False)
                self._note(f"a configuration's entry for 0x{res_id:08x} could not be read and was skipped")
            for value, other in found:
                yield (*where, value, other)

    def _entry(self, start: int, index: int) -> list[tuple[tuple[int, int], str]]:
        """The (type, data) an entry reads as, each with why it is another reading ("": it is not): Android 14+
        reads 16-bit offsets and compact entries, Android 13 and older (and aapt) do not know
        those flags and read 32-bit offsets and the value after the entry's header."""
        buf = self.buf
        header, size = struct.unpack_from("<HI", buf, start + 2)
        flags, count, entries = buf[start + 9], *struct.unpack_from("<II", buf, start + 12)
        out = []
        for offset, other in self._offsets(start + header, flags, count, index):
            entry = start + entries + offset
            wrapped = (entries + offset) & 0xFFFFFFFF  # ResTable's uint32 sum
            if entry + 8 > start + size and self.older_too and not other and wrapped + 8 <= size and not wrapped & 3:
                entry, other = start + wrapped, WRAPPED
            if entry + 8 > start + size:  # LoadedArsc and ResTable check this: that config has no entry
                if not other:
                    self._note(f"a configuration's entry offset ({offset}) points past its type chunk: "
                               "skipped, as Android skips it")
                continue
            e_size, e_flags, key = struct.unpack_from("<HHI", buf, entry)
            if e_flags & FLAG_COMPACT:
                out.append(((e_flags >> 8, key), other))
                if not self.older_too:
                    continue
            if not e_flags & FLAG_COMPLEX and e_size >= 8 and entry + e_size + 8 <= start + size:
                why = other or (COMPACT if e_flags & FLAG_COMPACT else "")
                out.append(((buf[entry + e_size + 3], struct.unpack_from("<I", buf, entry + e_size + 4)[0]), why))
        return out

    def _offsets(self, at: int, flags: int, count: int, index: int) -> list[tuple[int, str]]:
        """The entry's offset(s) in the type chunk, each with why it is another reading ("": not)."""
        buf = self.buf
        if flags & TYPE_SPARSE:
            lo, hi = 0, count
            while lo < hi:  # entries sorted by index
                mid = (lo + hi) // 2
                idx, off = struct.unpack_from("<HH", buf, at + 4 * mid)
                if idx == index:
                    return [(off * 4, "")]
                lo, hi = (mid + 1, hi) if idx < index else (lo, mid)
            return []
        if index >= count:
            return []
        out = []
        if flags & TYPE_OFFSET16:
            off = struct.unpack_from("<H", buf, at + 2 * index)[0]
            out += [] if off == 0xFFFF else [(off * 4, "")]
        if flags & TYPE_OFFSET16 and not self.older_too:
            return out
        wide = struct.unpack_from("<I", buf, at + 4 * index)[0] if at + 4 * index + 4 <= len(buf) else 0xFFFFFFFF
        if wide != 0xFFFFFFFF and (not out or wide != out[0][0]):
            out.append((wide, OFFSET16 if flags & TYPE_OFFSET16 else ""))
        return out


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
