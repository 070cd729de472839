"""Whether a streaming reader may find, in a ZIP read as an APK, an entry its central directory does not list.

Why (review 81 F3): Android installs an APK by its central directory, so the walker reads a file
whose directory makes it an APK as that APK alone. ``java.util.zip.ZipInputStream`` (SAI, ackpine,
once the file is named as an archive) reads the same bytes by their local headers from byte 0: a
local entry put between two listed ones, or between the last one and the central directory (its
offsets moved on), is an entry of its own for it. apksigner verifies such a file (the v1 scheme
signs listed entries only) and aapt reads its manifest. Following every local header of every APK
would cost a read per entry, and inflating each entry behind a data descriptor, so this asks the
central directory first: where the stream goes after each listed entry, in local-offset order.

- A listed entry ends at its header (30 bytes), its name, its data (compressed size, or the
  uncompressed one when stored, as Android takes it); a data descriptor (flag bit 3) may follow:
  12, 16, 20 or 24 bytes. The next listed header there: the stream reads on, nothing read.
- Elsewhere (zipalign pads a stored entry's local extra to 4 bytes, a ``.so`` to 4096; the APK
  Signing Block lies before the directory) the entry's local header is looked at (read 16 KiB at a
  time in offset order, so dense headers share a read; nothing inflated): its own name and extra
  lengths and sizes say where the stream reads its next header. The
  next listed header there: read on. Bytes that are no local header there (the signing block's
  size, a central record, padding): the stream ends, nothing past it is read by it. A local header
  there: the stream reads an entry the directory may not list, and the local walk decides
  (:func:`apkscan.sources.zip_local.walk`), as for a file named as an archive.
- Bytes before the first listed entry: the stream starts at byte 0; a local header there is
  walked, other bytes give the stream nothing (it reads no entry at all).

Not looked for (no local header read where listed entries meet, nothing inflated): a listed entry
whose local header gives other sizes than its central record (apksig refuses it where it reads the
entry: ``LocalHeader.refusal``; an asset of a v2/v3-only APK is read by no verifier), or one behind
a data descriptor whose deflate stream ends before its listed compressed size. The stream would
then read on from inside that entry's listed bytes.
"""

from __future__ import annotations

import struct
from array import array
from itertools import compress, count, islice
from operator import attrgetter, le, ne

from apkscan.apk.io.zip_entry import METHOD_DEFLATED, METHOD_STORED
from apkscan.apk.io.zipreader import LFH_HEADER, LFH_SIG, ZipArchive

DESCRIPTORS = (12, 16, 20, 24)  # a data descriptor's lengths: without or with its signature, ZIP64 or not
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_QUICK = struct.Struct("<I2xHH8xIIHH")  # signature, flags, method, sizes, name and extra lengths
_SIG = LFH_SIG.to_bytes(4, "little")
_AT = attrgetter("local_header_offset")
_MAGIC = 0xFFFFFFFF
COVERED, STOPS, OPEN = "covered", "stops", "open"
WINDOW = 1 << 14  # bytes read at once where a local header is looked at


def uncovered(archive: ZipArchive, second: ZipArchive | None = None,
              origin: tuple[ZipArchive, int, int] | None = None) -> bool:
    """True when the stream (local headers from byte 0) may reach a local header no listed entry is:
    ``archive``'s entries and ``second``'s (the ZIP64 end record's directory), ``origin`` the bytes
    the stream starts at when ``archive``'s offsets are moved past them (:func:`zip_local.walk`).
    Each listed entry's end is computed in one pass; only those that do not meet the next header
    are looked at (65,000 entries: tens of milliseconds; as many padded ones, about 0.1 s)."""
    entries = archive.entries if second is None else [*archive.entries, *second.entries]
    if not entries:
        return False
    offsets = _column(lambda: map(_AT, entries))  # 8 bytes an entry, no int objects held (65,000: 0.5 MB)
    if not all(map(le, offsets, islice(offsets, 1, None))):  # written in offset order, as tools do
        entries = sorted(entries, key=_AT)
        offsets = _column(lambda: map(_AT, entries))
    order = entries
    if offsets[0] + (origin[2] if origin is not None else 0) > 0:  # bytes before the first entry
        return _Bytes((origin[0] if origin is not None else archive).source).read(0, 4) == _SIG
    ends, source = _ends(order), _Bytes(archive.source)
    state = _between(source, order, offsets, ends)
    if state is None:
        return ends[-1] != archive.cd_offset and _gap(source, order[-1], ends[-1], archive.cd_offset) is OPEN
    return state is OPEN


def _between(source: _Bytes, order: list, offsets, ends) -> str | None:
    """The first gap between listed entries the stream does not read across (STOPS or OPEN), None
    when it reads every listed header. One tight loop: the usual gaps (a data descriptor, Java
    writes one per entry; zipalign's padding, the local header's own lengths) said inline."""
    unpack, buf, base = _QUICK.unpack_from, b"", 0
    for i in compress(count(), map(ne, ends, islice(offsets, 1, None))):
        at, nxt, prev = offsets[i], offsets[i + 1], order[i]
        if nxt == at or (prev.flags & 8 and nxt - ends[i] in DESCRIPTORS):
            continue  # the same header listed twice; a data descriptor
        off = at - base
        if off < 0 or off + LFH_HEADER > len(buf):
            buf, base = source.window(at, LFH_HEADER)
            off = at - base
        if off + LFH_HEADER <= len(buf):
            sig, flags, method, csize, size, nlen, xlen = unpack(buf, off)
            if sig == LFH_SIG and not flags & 9 and method in (METHOD_STORED, METHOD_DEFLATED) and (
                    at + LFH_HEADER + nlen + xlen + (size if method == METHOD_STORED else csize) == nxt):
                continue  # padded: the local header's own lengths and size meet the next listed header
        state = _gap(source, prev, ends[i], nxt)
        if state is not COVERED:
            return state
    return None


def _ends(order: list) -> array | list:
    """Where each listed entry ends by its central record, before any data descriptor."""
    return _column(lambda: (e.local_header_offset + LFH_HEADER + (len(e.name) if e.raw_name is None else len(e.raw_name))
                            + (e.uncompressed_size if e.method == METHOD_STORED else e.compressed_size) for e in order))


def _column(values) -> array | list:
    """What ``values()`` yields as 64-bit integers, or a list when one does not fit (a hostile ZIP64
    size or offset)."""
    try:
        return array("q", values())
    except OverflowError:
        return list(values())


def _gap(source: _Bytes, prev, end: int, nxt: int) -> str:
    """Where the stream goes after ``prev`` when the directory alone says it ends at ``end``, not at
    the next listed header ``nxt``: COVERED (it reads ``nxt``), STOPS (no local header there: the
    stream ends) or OPEN (a local header no listed entry is)."""
    if prev.flags & 8 and nxt - end in DESCRIPTORS:
        return COVERED
    at = prev.local_header_offset
    head = source.read(at, LFH_HEADER)
    if len(head) < LFH_HEADER:
        return STOPS
    sig, _v, flags, method, _t, _d, _crc, csize, size, nlen, xlen = _LOCAL.unpack(head)
    if sig != LFH_SIG or flags & 1 or method not in (METHOD_STORED, METHOD_DEFLATED) or (
            flags & 8 and method != METHOD_DEFLATED):
        return STOPS  # ZipInputStream throws at this header: an installer reading so aborts
    data = at + LFH_HEADER + nlen + xlen
    if flags & 8:  # inflated to its end, then the descriptor: where the directory says it ends
        ends = [data + prev.compressed_size + d for d in DESCRIPTORS]
    elif _MAGIC in (csize, size):
        ends = [data + prev.stored_size]  # ZIP64 sizes: the directory's (the walk reads the extra)
    else:
        ends = [data + (size if method == METHOD_STORED else csize)]
    if nxt in ends:
        return COVERED
    return OPEN if any(source.read(e, 4) == _SIG for e in ends) else STOPS


class _Bytes:
    """The input read a window at a time: the headers looked at come in increasing order, so dense
    ones (zipalign pads every stored asset: one per few dozen bytes) share a read."""

    __slots__ = ("source", "base", "buf")

    def __init__(self, source):
        self.source, self.base, self.buf = source, 0, b""

    def window(self, at: int, n: int) -> tuple[bytes, int]:
        """The window holding the ``n`` bytes at ``at`` (fewer at the input's end) and where it
        starts in the input; nothing outside the input."""
        off = at - self.base
        if off < 0 or off + n > len(self.buf):
            if not 0 <= at < self.source.size:
                return b"", at
            self.base, self.buf = at, self.source.read(at, min(max(n, WINDOW), self.source.size - at))
        return self.buf, self.base

    def read(self, at: int, n: int) -> bytes:
        buf, base = self.window(at, n)
        return buf[at - base:at - base + n]
