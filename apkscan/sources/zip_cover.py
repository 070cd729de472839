"""Whether a streaming reader may find, in a ZIP read as an APK, an entry its central directory does not list.

Why (review 81 F3): Android installs an APK by its central directory, so the walker reads a file
whose directory makes it an APK as that APK alone. ``java.util.zip.ZipInputStream`` (SAI, ackpine,
once the file is named as an archive) reads the same bytes by their local headers from byte 0: a
local entry put between two listed ones, or between the last one and the central directory (its
offsets moved on), is an entry of its own for it. apksigner verifies such a file (the v1 scheme
signs listed entries only) and aapt reads its manifest. Following every local header of every APK
would cost inflating each entry behind a data descriptor, so this follows the stream over the
listed entries' local headers alone, in local-offset order, and asks for the walk only where it
may leave them.

- The stream goes where each listed entry's LOCAL header sends it, as ``ZipInputStream`` reads it
  (review 83 F1: an asset whose central record covers a hidden ``base.apk`` but whose local header
  ends before it; the central sizes close the gap, the stream reads the hidden entry): its 30
  bytes, its name and extra lengths, its data (the stored size, the compressed one when deflated,
  the ZIP64 extra's as :func:`apkscan.sources.zip_local.zip64_sizes` reads them). The headers are
  read 16 KiB at a time in offset order, so dense ones share a read; a large entry costs one.
- Its local flag bit 3 (a data descriptor): the stream inflates to the deflate stream's end, then
  reads the descriptor (12 to 24 bytes). Nothing is inflated here: when the central record too
  says a deflated entry with a descriptor, its compressed size is taken as where the deflate stream
  ends (what the descriptor repeats); otherwise the entry has no usable size and the local headers
  are walked. The deflate stream may end elsewhere (an adversary's stream ends early, or runs on
  through a stored block over the bytes after it), then the stream reads a descriptor and a local
  header no listed entry is, inside listed bytes: so when any listed entry is deflated behind a
  descriptor, the bytes from the first such entry to the input's end are searched for a local
  header signature where no listed header starts (:func:`_stray_header`; one read, 1 MiB at a
  time), and one found has the local headers walked (the walk inflates and decides). A stored
  ZIP or JAR inside such an APK is found so too and costs that walk, which finds it unread by the
  stream and walks nothing.
- Asked so (``agree``: the in-place data look, whose walk this check replaces): a local header
  without a descriptor whose method or sizes are not its central record's (a stored one's
  uncompressed size alone, as the walk compares them): the stream reads there another entry than
  the directory lists (a record saying stored over a deflated TikTok: the directory's readers read
  the deflate bytes, the stream inflates the APK), and the local headers are walked. Not for an
  APK: Android reads it by its directory, and a BadPack-style method mismatch is said by the
  APK's own checks.
- A stored entry flagged with a data descriptor: Android's stream (libcore, what SAI runs on) reads
  it as empty and the next local header where its data starts (OpenJDK throws there; review 91).
- The next listed header there: the stream reads on. Bytes that are no local header (the APK
  Signing Block, a central record, zeros, a header ``ZipInputStream`` throws at): the stream ends,
  nothing past it is read by it. A local header there: the stream reads an entry the directory may
  not list, and the local walk decides (:func:`apkscan.sources.zip_local.walk`), as for a file
  named as an archive.
- Bytes before the first listed entry: the stream starts at byte 0; a local header there is
  walked, other bytes give the stream nothing (it reads no entry at all).

Not checked here: a stored entry's CRC (``ZipInputStream`` throws at a wrong one, so the stream
ends there): a wrong one only ends the stream sooner, so the stream is taken to read on, and the
walk that follows checks the CRCs on the way to what it finds (:func:`zip_local.walk`, review 91).
"""

from __future__ import annotations

import re
import struct
from array import array
from itertools import chain, islice
from operator import attrgetter, le

from apkscan.apk.io.zip_entry import METHOD_DEFLATED, METHOD_STORED
from apkscan.apk.io.zipreader import LFH_HEADER, LFH_SIG, ZipArchive
from apkscan.sources import walkclock
from apkscan.sources.zip_local import zip64_sizes

DESCRIPTORS = (12, 16, 20, 24)  # a data descriptor's lengths: without or with its signature, ZIP64 or not
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_QUICK = struct.Struct("<I2xHH8xIIHH")  # signature, flags, method, sizes, name and extra lengths
_SIG = LFH_SIG.to_bytes(4, "little")
_SIG_AT = re.compile(re.escape(_SIG))
_AT = attrgetter("local_header_offset")
_MAGIC = 0xFFFFFFFF
COVERED, STOPS, OPEN = "covered", "stops", "open"
WINDOW = 1 << 14  # bytes read at once where local headers are looked at
SEARCH = 1 << 20  # bytes read at once where a stray local header is searched for


def uncovered(archive: ZipArchive, second: ZipArchive | None = None,
              origin: tuple[ZipArchive, int, int] | None = None, agree: bool = False) -> bool:
    """True when the stream (local headers from byte 0) may reach a local header no listed entry is:
    ``archive``'s entries and ``second``'s (the ZIP64 end record's directory), ``origin`` the bytes
    the stream starts at when ``archive``'s offsets are moved past them (:func:`zip_local.walk`);
    ``agree``: a local header must also tell its entry's method and sizes (:func:`_agrees`).
    Every listed entry's local header is read (65,000 dense entries: a few hundred reads, tens of
    milliseconds)."""
    entries = archive.entries if second is None else [*archive.entries, *second.entries]
    if not entries:
        return False
    offsets = _column(lambda: map(_AT, entries))  # 8 bytes an entry, no int objects held (65,000: 0.5 MB)
    if not all(map(le, offsets, islice(offsets, 1, None))):  # written in offset order, as tools do
        entries = sorted(entries, key=_AT)
        offsets = _column(lambda: map(_AT, entries))
    # the bytes the stream reads: the whole file when ``archive`` is a reading of part of it (another
    # end record's ZIP, which may end before the file does: review 89 of 9a02a1b, a local header past
    # it was never looked for)
    walked = (origin[0] if origin is not None else archive).source
    if offsets[0] + (origin[2] if origin is not None else 0) > 0:  # bytes before the first entry
        return _Bytes(walked).read(0, 4) == _SIG
    # from here the reading starts where the file does (no shift): its offsets are the file's
    if _follow(_Bytes(walked), entries, offsets, archive.cd_offset, agree) is OPEN:
        return True
    # the stream went from header to header (to the directory, or to bytes it ends at: the APK
    # Signing Block of every v2+ APK), each deflated entry behind a descriptor taken at its listed size
    first = next((at for e, at in zip(entries, offsets) if e.flags & 8 and e.method == METHOD_DEFLATED), None)
    return first is not None and _stray_header(walked, first, offsets)


def open_after(archive: ZipArchive, start: int) -> bool:
    """Whether the stream may reach an entry no record lists at or after ``start`` in ``archive``'s bytes,
    where a walk stopped inside a listed entry (a bound): the check above over the listed entries whose
    local headers lie there, and a local header signature there where no listed one starts (review 91 F2)."""
    rest = sorted((e for e in archive.entries if e.local_header_offset >= start), key=_AT)
    if rest and _follow(_Bytes(archive.source), rest, _column(lambda: map(_AT, rest)), archive.cd_offset, True) is OPEN:
        return True
    return _stray_header(archive.source, start - 1, _column(lambda: map(_AT, archive.entries)))


def _agrees(entry, method: int, csize: int, size: int) -> bool:
    """A local header without a descriptor tells its listed entry's method and sizes (a stored one's
    uncompressed size alone), as :func:`zip_local.walk` compares them: else the stream reads another
    entry there (a record saying stored over a deflated TikTok: review 91 of the in-place data look)."""
    return entry.compressed == (method != METHOD_STORED) and entry.uncompressed_size == size and (
        method == METHOD_STORED or entry.compressed_size == csize)


def _follow(source: _Bytes, order: list, offsets, last: int, agree: bool) -> str | None:
    """Where the stream leaves the listed entries (STOPS or OPEN), None when each one's local header
    sends it to the next (the last one's to ``last``, the directory). One tight loop: an entry
    without a descriptor whose lengths and 32-bit sizes meet the next header, and one with a
    descriptor its central record also says, are read inline."""
    unpack, window, magic, head = _QUICK.unpack_from, source.window, _MAGIC, LFH_HEADER
    buf, lo, hi = b"", 0, -1  # the window, and the offsets whose 30 bytes it holds
    for e, at, nxt in zip(order, offsets, chain(islice(offsets, 1, None), (last,))):
        if nxt == at:
            continue  # the same header listed twice
        if not lo <= at <= hi:
            buf, lo = window(at, head)
            hi = lo + len(buf) - head
        if at <= hi:
            sig, flags, method, csize, size, nlen, xlen = unpack(buf, at - lo)
            if sig == LFH_SIG:
                if not flags & 9:
                    if (at + head + nlen + xlen + (csize if method else size) == nxt
                            and method in (METHOD_STORED, METHOD_DEFLATED) and magic != csize and magic != size
                            and (not agree or _agrees(e, method, csize, size))):
                        continue
                elif flags & 9 == 8 and method == METHOD_DEFLATED and e.flags & 8 and e.method == METHOD_DEFLATED and (
                        nxt - at - head - nlen - xlen - e.compressed_size in DESCRIPTORS):
                    continue  # inflated to the listed compressed size, then its descriptor
        state = _gap(source, e, at, nxt, agree)
        if state is not COVERED:
            return state
    return None


def _stray_header(source, start: int, offsets) -> bool:
    """Whether a local header signature lies in ``source`` after ``start`` (the first listed entry
    deflated behind a descriptor) where no listed local header starts: where a deflate stream that
    does not end at its listed size could send the stream. Read :data:`SEARCH` bytes at a time,
    each read 3 bytes into the next so a signature across two is seen; the walk's clock at each.
    ~0.5 s of CPU a GiB searched (a regular expression's literal search: ``bytes.find`` takes 1.8x)."""
    listed, pos, end = set(offsets), start + 1, source.size
    while pos < end:
        walkclock.check()
        buf = source.read(pos, min(SEARCH + 3, end - pos))
        if not buf:
            return False
        if any(pos + m.start() not in listed for m in _SIG_AT.finditer(buf)):
            return True
        pos += SEARCH
    return False


def _column(values) -> array | list:
    """What ``values()`` yields as 64-bit integers, or a list when one does not fit (a hostile ZIP64
    size or offset)."""
    try:
        return array("q", values())
    except OverflowError:
        return list(values())


def _gap(source: _Bytes, entry, at: int, nxt: int, agree: bool) -> str:
    """Where the stream goes after the listed ``entry`` (local header at ``at``) when the quick reading
    does not take it to the next listed header ``nxt``: COVERED (it does: a ZIP64 extra's sizes),
    STOPS (no local header there, or one ``ZipInputStream`` throws at: the stream ends) or OPEN (a
    local header no listed entry is, or an end not known without inflating)."""
    head = source.read(at, LFH_HEADER)
    if len(head) < LFH_HEADER:
        return STOPS
    sig, _v, flags, method, _t, _d, _crc, csize, size, nlen, xlen = _LOCAL.unpack(head)
    if sig != LFH_SIG or flags & 1 or method not in (METHOD_STORED, METHOD_DEFLATED):
        return STOPS  # ZipInputStream throws at this header: an installer reading so aborts
    data = at + LFH_HEADER + nlen + xlen
    if flags & 8 and method == METHOD_STORED:
        ends = [data]  # Android's stream reads it as empty: the next header where its data starts
    elif flags & 8:  # inflated to its end, then the descriptor: where the directory says, if it does
        if not (entry.flags & 8 and entry.method == METHOD_DEFLATED):
            return OPEN  # no usable size without inflating: the walk inflates it
        ends = [data + entry.compressed_size + d for d in DESCRIPTORS]
    else:
        if _MAGIC in (csize, size):  # the local ZIP64 extra's sizes, as the walk reads them
            meta = source.read(at + LFH_HEADER, nlen + xlen)
            if len(meta) < nlen + xlen:
                return STOPS
            csize, size = zip64_sizes(meta[nlen:], csize, size)
        if agree and not _agrees(entry, method, csize, size):
            return OPEN  # the stream reads another entry here than the directory lists: the walk decides
        ends = [data + (size if method == METHOD_STORED else csize)]
    if nxt in ends:
        return COVERED
    return OPEN if any(source.read(e, 4) == _SIG for e in ends) else STOPS


class _Bytes:
    """The input read a window at a time: the local headers come in increasing order, so dense
    ones (small assets, resources: one per few dozen bytes) share a read."""

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
