"""The local entries a streaming reader reads inside a listed member: a ZIP stored with a data descriptor.

Why (review 91 F3): Android's ``ZipInputStream`` reads a stored entry flagged with a data descriptor
(bit 3) as empty and the next local header where its data starts (:mod:`apkscan.sources.zip_local`).
Info-ZIP ``zip`` writing to a pipe sets bit 3 on every entry, stored ones too, so in an ordinary
``zip -0 - a.apk b.apk | cat`` the stream reads the first APK's own entries as the outer file's: not
listed by its directory, yet no tamper. They are told apart here: a local entry no central record
describes is *explained* when it lies inside such a member's data (the member listed, its central
record stored, both sizes equal) and that data, opened as a ZIP from its end, has a record of the same
name, method and sizes at that local header: the member is walked as a container of its own (its
reader decides that: :meth:`apkscan.sources.zip_archive.ZipReader.walks`), and so are those entries,
read from the same bytes. An explained entry that is again such a member opens the ZIP inside it
(at most :data:`DEPTH` deep); each level's own walk says what the stream reads there otherwise. Any
other local entry (one the nested directory does not name, names otherwise, or that runs past the
member's data; a member whose central record says deflated) stays a local-only member.

Depth (review 91b F1): a member is read only as deep as the walker opens it (``--max-depth``): the walk
is given how many levels below it the walker still opens as containers (``room``), and no member past
them explains an entry, so what the stream reads in a member the walker never opens stays a local-only
member of the file walked, scanned there. The one level past them is a member the walker reads only as
an APK (an APK is scanned at any depth, its own nested members not): its ZIP's entries are explained
when that ZIP is an APK, except those named as an APK or container (``detect.NESTED_SUFFIXES``) or read
into again (stored with a descriptor): the walker would not open them there.

Bounds: each member's ZIP is opened once, when a local entry first lies in it (its end record read,
its directory parsed as any ZIP's, the walk's clock at each); its records are held while the stream is
inside it. Only :data:`DEPTH` members are held at once, so the bytes read are at most that many times
the file's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from apkscan.apk.io.zip_entry import ZipEntry
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkFormatError, ApkScanError
from apkscan.sources import detect, walkclock

DEPTH = 4  # members opened inside one another
MIN_ZIP = 22  # the smallest ZIP: an empty one's end record


@dataclass(slots=True)
class Nested:
    """A listed member whose ZIP the stream reads into, and the local entries found explained there."""

    member: ZipEntry  # its central record, in the container walked
    entries: list[ZipEntry] = field(default_factory=list)


@dataclass(slots=True)
class _Frame:
    """A stored member the stream reads into: its data's span in the walked bytes, its record and group."""

    start: int
    end: int
    record: ZipEntry
    group: Nested
    last: bool = False  # read by the walker only as an APK (at the depth limit): see :meth:`Frames._opened`
    records: dict[int, list[ZipEntry]] | None = None  # by local header offset in the walked bytes, once opened
    apk: bool = False  # its ZIP's names make it an APK


class Frames:
    """The members the stream is inside, innermost last, as the walk goes forward."""

    def __init__(self, source, described: Callable[[ZipEntry, list], bool], room: int | None = None):
        """``room``: how many levels of members below the walked file the walker opens as containers
        (``max_depth - depth - 1``); None: as many as :data:`DEPTH`."""
        self.source, self.described = source, described
        self.room = DEPTH if room is None else max(room, 0)
        self.open: list[_Frame] = []
        self.groups: list[Nested] = []

    def enter(self, entry: ZipEntry, data: int, records, group: Nested | None = None) -> None:
        """``entry``, a local header read as a stored one with a descriptor (empty, the next header at
        ``data``), described by one of ``records``: its ZIP may be read on into."""
        record = next((r for r in records if r.name_bytes == entry.name_bytes and not r.compressed
                       and r.compressed_size == r.uncompressed_size), None)
        if record is None or record.uncompressed_size < MIN_ZIP or data + record.uncompressed_size > self.source.size:
            return
        self._leave(data)
        level = len(self.open) + 1
        if level > min(DEPTH, self.room + 1) or (self.open and self.open[-1].last):
            return  # the walker never reads that member's ZIP: what the stream reads there is the file's
        if group is None:
            group = Nested(record)
            self.groups.append(group)
        self.open.append(_Frame(data, data + record.uncompressed_size, record, group, last=level > self.room))

    def explains(self, entry: ZipEntry, end: int) -> bool:
        """Whether the local-only ``entry`` (its next header at ``end``) is an entry of the innermost
        member's ZIP the stream is in; one that is again a stored member with a descriptor is entered."""
        at = entry.local_header_offset
        self._leave(at)
        if not self.open or end > self.open[-1].end:
            return False
        frame = self.open[-1]
        records = self._records(frame).get(at, [])
        if not self.described(entry, records) or (frame.last and not self._opened(frame, entry)):
            return False
        frame.group.entries.append(entry)
        if entry.flags & 8 and not entry.compressed:
            self.enter(entry, end, records, frame.group)
        return True

    @staticmethod
    def _opened(frame: _Frame, entry: ZipEntry) -> bool:
        """Whether an entry of a member at the depth limit is read by the walker: the member an APK,
        identified at any depth, the entry none it walks as a nested member (too deep there)."""
        stored_on = bool(entry.flags & 8) and not entry.compressed
        return frame.apk and not stored_on and not entry.name.lower().endswith(detect.NESTED_SUFFIXES)

    def _leave(self, at: int) -> None:
        while self.open and not self.open[-1].start <= at < self.open[-1].end:
            self.open.pop()

    def _records(self, frame: _Frame) -> dict[int, list[ZipEntry]]:
        if frame.records is None:
            frame.records = {}
            walkclock.check()
            try:
                archive = ZipArchive.open(_Part(self.source, frame.start, frame.end - frame.start))
            except ApkScanError:
                return frame.records  # no ZIP read from its end: nothing there is explained
            for r in archive.entries:
                frame.records.setdefault(frame.start + r.local_header_offset, []).append(r)
            frame.apk = detect.zip_kind([r.name for r in archive.entries]) == detect.APK
        return frame.records


class _Part:
    """``size`` bytes of ``source`` from ``start``, read as a whole input (a member's data in place)."""

    __slots__ = ("source", "start", "size", "path")

    def __init__(self, source, start: int, size: int):
        self.source, self.start, self.size = source, start, size
        self.path = getattr(source, "path", "<member>")

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ApkFormatError("ZIP_OUT_OF_BOUNDS", f"read of {length} bytes at offset {offset} is outside the "
                                 f"{self.size}-byte member")
        return self.source.read(self.start + offset, length)

    def check_deadline(self) -> None:
        walkclock.check()
