"""A ZIP read by member name, for layout readers (AndroidQF, backup-app archives).

Layout readers ask for names; a ZIP holds central-directory records, and some records are no
plain name-to-file pair. Each is read or said, never dropped (review 54):

- a name listed more than once: unzip, 7z and Python's ``zipfile`` extract its *last* record, so
  the name reads as that one; an earlier record with other data is walked after the layout, as a
  member of its own (records of one name over the same data are one). Both carry the tamper
  fact ``TAMPER_DUPLICATE_ENTRY`` (F1). A layout's metadata file (``packages.json``, a backup
  app's ``.properties`` or ``.log``) is read in every copy (:meth:`ZipTree.earlier`): a record
  of the device's in an earlier copy is never replaced by a later one (review 70 F4);
- names with ``\\`` separators and no ``/`` in a record made on MS-DOS/Windows (host 0, as
  PowerShell 5.1's ``Compress-Archive`` writes them): read with ``\\`` as ``/``, as unzip reads
  them, so the layout under them is seen. A member read so is shown as stored, with a ``TAMPER_MEMBER_NAME`` fact saying how its name
  was read (the scan document's ``skipped`` counts files, at least one, so it cannot carry a note);
  a record or a skip line of the layout names the file as read, with ``/`` (F4);
- ``__MACOSX/`` (the Finder's resource forks beside the folder it zipped): kept out of the names,
  so the acquisition under its one top folder is still recognised; its AppleDouble files (by
  their magic) are counted as skipped, anything else there is walked by content (F4);
- a record named like a folder (``x/``) that carries data: walked by content (F11);
- a stored record whose two sizes differ: the name reads as Android reads it (its uncompressed size,
  flagged ``TAMPER_STORED_SIZES_DIFFER``); the reading ``java.util.zip.ZipFile``, Python's ``zipfile``
  and unzip extract (its compressed size) is walked after the layout, by content, as any container's
  member is (:mod:`zip_member_sizes`, review 81 F2): a layout cannot read two files under one name.

What is set aside comes out of :meth:`ZipTree.aside`, which the walker walks after the layout.
"""

from __future__ import annotations

from collections.abc import Iterator

from apkscan.apk.io.zipreader import ZipEntry
from apkscan.issues import ApkScanError, tamper
from apkscan.sources import detect, zip_member_sizes
from apkscan.sources.interface import InputProblem, Member, Skipped
from apkscan.sources.zip_archive import ZipReader, empty_folder, shown_name

MAC_FOLDER = "__MACOSX/"
APPLE_DOUBLE = b"\x00\x05\x16\x07"
MAC_REASON = "macOS metadata (__MACOSX/ AppleDouble file), not scanned"
# The "version made by" host whose names unzip reads with '\' as '/': MS-DOS/FAT, 0 (.NET's ZipArchive,
# so PowerShell 5.1, writes it). unzip 6.0 leaves '\' in the names of every other host (NTFS, Unix).
_DOS_HOST = 0
# How a Windows-made name was read: said on the app it names; a skipped file needs no note of it
# (:mod:`member_facts`: the way extractors read a name, no fact about the member's data).
READ_AS_SLASH = "read with '\\' as '/' to find the layout, as unzip reads it; shown as stored"


class ZipTree:
    """A ZIP as a :class:`~apkscan.sources.interface.Tree`; see the module docstring."""

    def __init__(self, reader: ZipReader):
        self.reader, self.chain = reader, reader.chain
        self._last: dict[str, ZipEntry] = {}  # each name's last record (one dict entry a name: 190,000 members)
        self._earlier: dict[str, list[ZipEntry]] = {}  # names listed more than once: their other records
        self._aside: list[tuple[str, ZipEntry]] = []  # with the name as read (a DOS-host '__MACOSX\\' too)
        self._backslashed: set[int] = set()  # indexes of the records whose '\\' were read as '/'
        for entry in reader.archive.entries:
            name = self._layout_name(entry)
            if empty_folder(entry, name):
                continue
            if name.endswith("/") or name.startswith(MAC_FOLDER):
                self._aside.append((name, entry))
                continue
            if (prev := self._last.get(name)) is not None:
                self._earlier.setdefault(name, []).append(prev)
            self._last[name] = entry
        self._names = sorted(self._last)
        self._two_sizes = {name for name, entry in self._last.items() if zip_member_sizes.differs(entry)}
        self._twice = {name: (others, len(earlier) + 1) for name, earlier in self._earlier.items()
                       if (others := self._others(earlier, self._last[name]))}

    def names(self) -> list[str]:
        """Each name once (``\\`` read as ``/`` in a Windows-made ZIP), ``__MACOSX/`` left out."""
        return list(self._names)

    def member(self, name: str) -> Member:
        """The name's last record, as extractors give it (flagged when the name has others, or two sizes:
        the other reading is walked after the layout, :meth:`earlier_walked`)."""
        entry = self._last[name]  # KeyError when absent
        member = self.reader.member(entry)
        member.flags.extend(self._flags(name, entry))
        zip_member_sizes.flag_first(entry, member)
        return member

    def _flags(self, name: str, entry: ZipEntry) -> list:
        """The facts of the name's last record as this tree reads it (a Windows-made name, a name listed twice)."""
        flags = []
        if entry.index in self._backslashed:
            flags.append(tamper("TAMPER_MEMBER_NAME", f"member name {entry.name!r} uses '\\' as its "
                                f"separator (a ZIP made on Windows): {READ_AS_SLASH}"))
        if name in self._twice:
            flags.append(_twice_flag(entry, self._twice[name][1], last=True))
        return flags

    def earlier(self, name: str) -> list[Member | ApkScanError]:
        """The name's earlier records with other data, unflagged (the walk of :meth:`aside` flags
        them): a layout reads each copy of its metadata, as the walk reads each record's bytes."""
        out: list[Member | ApkScanError] = []
        for entry in self._twice.get(name, ((), 0))[0]:
            try:
                out.append(self.reader.member(entry))
            except ApkScanError as exc:
                out.append(exc)
        return out

    def index(self, name: str) -> int:
        """The index of the name's last record (the one :meth:`member` reads)."""
        return self._last[name].index

    def indexes(self, name: str) -> list[int]:
        """The indexes of every record of the name (a layout below the root reads them all)."""
        return [e.index for e in self._earlier.get(name, ())] + [self._last[name].index]

    def head(self, name: str, size: int) -> bytes:
        """The member's first bytes, even when it cannot be read whole (a layout reader's check)."""
        return detect.zip_entry_head(self.reader.archive, self._last[name], size)

    def aside(self) -> Iterator[Member | InputProblem | Skipped]:
        """What the names leave out, for the walker to walk after the layout's reader."""
        mac = Skipped(self.chain, MAC_REASON, 0, [])
        budget = detect.HeadBudget(self.reader.archive.source.size)
        for name, entry in self._aside:
            if name.startswith(MAC_FOLDER) and entry.uncompressed_size and self._apple_double(entry, budget):
                mac.count += 1
                if len(mac.examples) < 3:
                    mac.examples.append(shown_name(entry))
                continue
            yield from self._walked(entry)
        yield from self.earlier_walked(sorted(self._twice.keys() | self._two_sizes))
        if mac.count:
            yield mac

    def earlier_walked(self, names) -> Iterator[Member | InputProblem]:
        """What a layout's reading of ``names`` leaves, flagged, for the walker to walk: the earlier
        records (other data), and each stored record's compressed-size reading (two sizes, review 81 F2)."""
        for name in names:
            others, times = self._twice.get(name, ((), 0))
            for entry in others:
                yield from self._walked(entry, _twice_flag(entry, times, last=False))
            if name in self._two_sizes:
                last = self._last[name]
                yield from zip_member_sizes.csize_reading(self.reader, last, shown_name(last), self._flags(name, last))

    def _walked(self, entry: ZipEntry, *flags) -> Iterator[Member | InputProblem]:
        """The record walked by content: its member (or why it fails), then a stored one's other reading."""
        try:
            member = self.reader.member(entry)
        except ApkScanError as exc:
            yield InputProblem(self.chain + (shown_name(entry),), [exc.to_issue()])
        else:
            member.flags.extend(flags)
            zip_member_sizes.flag_first(entry, member)
            yield member
        yield from zip_member_sizes.csize_reading(self.reader, entry, shown_name(entry), list(flags))

    def _layout_name(self, entry: ZipEntry) -> str:
        name = entry.name
        if "\\" not in name or "/" in name:
            return name
        archive = self.reader.archive
        if archive.source.read(entry.cd_record_offset + 5, 1)[0] != _DOS_HOST:
            return name
        name = name.replace("\\", "/")
        if not name.endswith("/"):  # a folder record adds nothing to say
            self._backslashed.add(entry.index)
        return name

    @staticmethod
    def _others(earlier: list[ZipEntry], last: ZipEntry) -> list[ZipEntry]:
        """The records of one name whose data differ from the last one's (and from each other's):
        one local header, read the same way, is the same data (told without a read: a name listed
        65,535 times over one APK costs nothing here). Records that reach one data offset through
        different local headers are walked each; the walker folds those it can (``SAME_DATA``)."""
        seen = {_data(last)}
        out = []
        for entry in earlier:
            if (key := _data(entry)) not in seen:
                out.append(entry)
                seen.add(key)
        return out

    def _apple_double(self, entry: ZipEntry, budget: detect.HeadBudget) -> bool:
        """An AppleDouble file by its magic; anything unreadable, or past the head budget (records
        over overlapping data), is not: it is walked and its problem said there."""
        try:
            return detect.zip_entry_head(self.reader.archive, entry, 4, budget) == APPLE_DOUBLE
        except (ApkScanError, OSError):
            return False


def _data(entry: ZipEntry) -> tuple:
    return entry.local_header_offset, entry.compressed, entry.uncompressed_size


def _twice_flag(entry: ZipEntry, times: int, last: bool):
    which = ("this is its last record, the one extractors give" if last else
             f"this is an earlier record (local header at {entry.local_header_offset}), which extractors do not give")
    return tamper("TAMPER_DUPLICATE_ENTRY", f"member name {entry.name!r} is listed {times} times in the central "
                  f"directory with different data: {which}; every record is read")
