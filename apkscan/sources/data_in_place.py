"""The data look (:mod:`data_zip`) over bytes that lie in place: a data ZIP's entries read where they
lie (a ZIP in a folder, a stored member), a ZIP's tail read from its end, and a data-named file of a
head the walker opens as a layer (a gzip, a tar ...) or of a ZIP head whose classic reading is refused.
The same rules as the streamed look, with in-place reads: a stored entry of any head is read from its
end, as the walker reads bytes in place (review 72 F2).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from apkscan.sources import walkclock
from apkscan.sources.data_zip import FREE, HEAD, MAX_RATIO, Found, holds_apk, kind_of, look_into, stream_look

_LOCAL, _CENTRAL = b"PK\x03\x04", b"PK\x01\x02"


def entries_hold_apk(archive, head: Callable, budget, smallest: int, names: Callable[[bytes], bool],
                     span: int) -> bool:
    """An archive opened in place (a data ZIP in a folder, a stored member): does an entry whose first
    bytes (``head(entry, n)``) are a ZIP's hold an APK, read as a stream (:func:`holds_apk`, one level
    in), one whose head the walker opens hold one as that layer is followed or end in a ZIP
    (:func:`_content`), or a stored one of any head end in a ZIP, read in place? An entry that cannot
    be read, data overlapping past the head budget (``budget``, charged for each entry read to its
    end too), or a stored one whose two sizes differ: yes (walked, and said). Passed over unread, as the walker reads them: an empty folder
    record, a stored entry too short for a ZIP (``smallest``) by both its sizes. A declared size is a
    claim: a deflated entry is inflated whatever it declares, and inflating past it raises (review 70 F5)."""
    from apkscan.issues import ApkScanError
    from apkscan.sources import zip_archive, zip_member_sizes

    try:
        for entry in archive.entries:
            walkclock.check()
            if zip_member_sizes.differs(entry):
                return True  # read two ways (review 91): the walker reads both, as the stream look's rule says
            if zip_archive.empty_folder(entry) or (
                    not entry.compressed and max(entry.compressed_size, entry.uncompressed_size) < smallest):
                continue
            first = head(entry, HEAD)
            if _is_zip(first):  # an end record first cannot be followed as a stream: walked (review 70 F6)
                if first[:4] != _LOCAL or holds_apk(_entry_reader(archive, entry), names, span, level=1):
                    return True
            elif kind_of(first) is not None:
                budget.take(max(entry.compressed_size - HEAD, 0))  # the rest of it: its head was charged
                look_into(_entry_reader(archive, entry), names, span, 1)
            elif not entry.compressed and _stored_end_opens(archive, entry, budget):
                return True
    except (ApkScanError, OSError, zlib.error, Found):
        return True
    return False


def _stored_end_opens(archive, entry, budget) -> bool:
    """A stored entry of any head, read from its end in place as the walker reads it (review 72 F2)."""
    size = entry.uncompressed_size
    from apkscan.sources import polyglot

    keep = min(size, polyglot.KEEP)
    budget.take(keep)
    return polyglot.zip_end_in_tail(archive.source.read(archive.data_offset(entry) + size - keep, keep), size)


def tail_may_hold_apk(tail: bytes, base: int, directory: bytes) -> bool:
    """A ZIP read from its end, its central directory (``directory``) in ``tail`` (the bytes from
    offset ``base`` on), naming no APK: may an entry hold one by its bytes? Yes for an entry of a
    ZIP's size or more whose data start before the tail (read again, judged whole) or whose first
    bytes there are a ZIP's or a head the walker knows, or cannot be read, or inflate past its declared
    size; no when every head says data. Only a stored entry too short by both sizes is passed over unread."""
    at = directory.find(_CENTRAL)
    while 0 <= at <= len(directory) - 46:
        method, = struct.unpack_from("<H", directory, at + 10)
        packed, size = struct.unpack_from("<II", directory, at + 20)
        local, = struct.unpack_from("<I", directory, at + 42)
        if method or max(packed, size) >= 22:
            head = _head_in_tail(tail, local - base, method, packed)
            if head is None or (method and len(head) > size) or _is_zip(head) or _known(head):
                return True
        at = directory.find(_CENTRAL, at + 4)
    return False


def _head_in_tail(tail: bytes, start: int, method: int, packed: int) -> bytes | None:
    """The first bytes of the entry whose local header is at ``start`` in ``tail`` (inflated unless
    stored), or None when they are not all there or do not inflate."""
    if start < 0 or start + 30 > len(tail) or tail[start:start + 4] != _LOCAL:
        return None
    name_len, extra_len = struct.unpack_from("<HH", tail, start + 26)
    data = tail[start + 30 + name_len + extra_len:][:packed]
    if method == 0:
        return data[:HEAD]
    try:
        return zlib.decompressobj(-15).decompress(data, HEAD)
    except zlib.error:
        return None


def _entry_reader(archive, entry) -> Callable[[int], bytes]:
    """A ZIP entry's bytes as ``read(n)`` calls: stored, read in place; deflated, inflated as read."""
    if entry.compressed:
        chunks, held = archive.stream(entry), [b""]

        def inflated(n: int) -> bytes:
            if not held[0]:
                held[0] = next(chunks, b"")
            out, held[0] = held[0][:n], held[0][n:]
            return out
        return inflated
    start, pos = archive.data_offset(entry), [0]

    def stored(n: int) -> bytes:
        n = min(n, entry.uncompressed_size - pos[0])
        out = archive.source.read(start + pos[0], n) if n > 0 else b""
        pos[0] += len(out)
        return out
    return stored


def read_otherwise(archive, window: tuple[str, int, int]) -> bool:
    """A data ZIP in place whose classic reading holds no APK: do other readers read its bytes otherwise,
    as the walker reads a container (review 91)? Yes when ``ZipFile`` and ``zipfile`` take a directory
    before its end record (:func:`zip_readings.zipfile_reading`), or another end record
    (:func:`zip_ends_other.found_in`: ``TAMPER_ZIP_OTHER_END_RECORD``), or its local headers, followed
    as a streaming installer follows them (:func:`zip_local.walk`, only where the stream may leave the
    listed entries: :func:`_stream_may_leave`), give an entry no central record names, or stop at a bound. The walker then reads it as any ZIP, every way, and says what it finds.
    Bounds: those readings' own (the tail read once, the local headers followed once, the walk's clock);
    what is inflated to find an entry's end, as :mod:`data_zip` bounds it: past 200 times the ZIP's
    size (and 64 MiB) the walk stops, and a walk stopped so answers yes (the walker reads it and says why),
    unless it stopped inside an entry a central record lists (name, method, its sizes not outgrown: a
    bugreport's log of zeros, review 91 F2): then yes only where the stream may reach an entry no
    record lists past where it stopped (:func:`zip_cover.open_after`)."""
    from apkscan.sources import zip_ends_other, zip_local
    from apkscan.sources.streams import InflateBudget
    from apkscan.sources.zip_readings import zipfile_reading

    other = zipfile_reading(archive, window)
    if other is not None:
        other[0].source.close()
        return True
    found = zip_ends_other.found_in(window)
    if found is not None and any(found[r] not in (None, found["apksig"]) for r in (zip_ends_other.JAVA,
                                                                                 zip_ends_other.PYTHON)):
        return True
    if not _stream_may_leave(archive):
        return False
    local = zip_local.walk(archive, InflateBudget(max(FREE, MAX_RATIO * archive.source.size), MAX_RATIO))
    if not local.entries and local.listed_bound >= 0:  # the bound met inside an entry the directory lists
        from apkscan.sources.zip_cover import open_after

        return open_after(archive, local.listed_bound)
    return bool(local.entries or local.problems)


def _stream_may_leave(archive) -> bool:
    """Whether the local headers may give an entry no central record lists, told without inflating
    (:func:`zip_cover.uncovered`: a listed entry behind a descriptor taken to end at its listed size,
    the bytes after it searched for a stray local header; each other local header telling its
    entry's method and sizes, as the walk compares them): the walk inflates each such entry to find
    its end, 3.8 times the whole look's cost on a bugreport.zip of 20,000 (review 91 of 7d935a8).
    No listed entry: a local header at byte 0 is walked."""
    from apkscan.sources import zip_cover

    if not archive.entries:
        return archive.source.size >= 4 and archive.source.read(0, 4) == _LOCAL
    return zip_cover.uncovered(archive, agree=True)


def refused_holds_apk(path: str, off: int, length: int) -> bool:
    """A ZIP head whose classic reading is refused: walked (and its error said), unless its end record
    only defers to a ZIP64 one naming the same directory (Info-ZIP ``zip -fz``): that reading judged."""
    from apkscan.sources import detect
    from apkscan.sources.data_zip_records import defers_to_zip64
    from apkscan.sources.zip_readings import second_reading

    other = second_reading((path, off, length))
    if other is None:
        return True
    try:
        return not defers_to_zip64(other) or detect.archive_holds_apk(other)
    finally:
        other.source.close()


def layers_hold_apk(source) -> bool:
    """Bytes in place whose head is a layer the walker opens, read once as a stream (:func:`data_zip.stream_look`)."""
    pos = [0]

    def read(n: int) -> bytes:
        out = source.read(pos[0], min(n, source.size - pos[0])) if pos[0] < source.size else b""
        pos[0] += len(out)
        return out

    from apkscan.sources import detect

    return stream_look(read, detect.names_an_apk, detect.NAME_SPAN) == "content"


def _is_zip(head: bytes) -> bool:
    from apkscan.sources import detect

    return detect.is_zip(head)


def _known(head: bytes) -> bool:
    from apkscan.sources import polyglot

    return polyglot.known_head(head) is not None
