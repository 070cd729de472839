"""A ZIP archive (or a ZIP-based bundle) as members, read with apkscan's own ZIP reader.

The archive is a local file or a window of one (a ZIP stored inside a ZIP), so a member
stored uncompressed is handed on as a window (an APK in it is read in place) and a
deflated one as a stream inflated in chunks. Declared sizes are checked against the
input's inflation budget before anything is inflated: a zip-in-zip bomb is refused by
its central directory, and the reader never inflates more than an entry declares.

Central-directory records are claims, and any number of them may point at the same bytes:
a 2 MB APK named 65,535 times is an 11 MB file that would cost 65,535 scans. Each member
carries a ``data_key``: its reader, its data offset, whether it is inflated, and its declared
uncompressed size. Two members with one key give the same bytes when both are read to the end (a deflate
stream ends by itself, whatever compressed size a record declares; a shorter one fails), so
the walker, once it has read a key without an error, counts the other names as skipped
(:meth:`apkscan.sources.walker.Walker.member`, where what a name changes is in the key too).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from apkscan.apk.io.zipreader import ZipArchive, ZipEntry
from apkscan.issues import ApkScanError, Issue, error, tamper
from apkscan.sources import detect, zip_local, zip_member_sizes
from apkscan.sources.interface import InputProblem, Member, RecordedApp, Skipped
from apkscan.sources.streams import InflateBudget, IterStream

_READERS = itertools.count()
METHOD_AES = 99  # WinZip AES: the real method is in the record's extra field
ENCRYPTED = "CONTAINER_ENCRYPTED_MEMBER"  # a password-protected member of a container's ZIP
# The central fact a container says (review 78 F1): bytes before its first entry where a streaming installer
# reads local entries (it starts at offset 0). Not the others: its members carry them (a name listed twice:
# zip_tree; encryption: member()), the walker says them otherwise (names over one payload: read once, said as
# skipped; a ZIP behind other bytes: CONTAINER_POLYGLOT), or they are how apksig reads an APK's end, which no
# container reader shares (end records in the tail: a stored APK in the last 64 KiB has its own; ZIP64 records).
CONTAINER_FACTS = frozenset({"TAMPER_DATA_BEFORE_FIRST_ENTRY"})


def shown_name(entry: ZipEntry) -> str:
    """The member's name as evidence: its bytes, a byte that is no UTF-8 kept (``surrogateescape``;
    every output writes it ``\\xff``, as for a file name). ``entry.name`` replaces such bytes with
    U+FFFD, as apksig reads names, so two members differing only there had one name in every
    report (review 46 #8); the APK's own reading keeps ``entry.name``."""
    return entry.raw_name.decode("utf-8", "surrogateescape") if entry.raw_name is not None else entry.name

def empty_folder(entry: ZipEntry, name: str | None = None) -> bool:
    """A folder record with no data: nothing to read. One named like a folder that carries data is
    read by content (review 54 F11). ``name``: the name as a layout reads it (``\\`` as ``/``)."""
    return (entry.name if name is None else name).endswith("/") and entry.uncompressed_size == 0


def encrypted(entry: ZipEntry) -> bool:
    """The record says its data is encrypted: ZipCrypto (flag bit 0) or WinZip AES (method 99)."""
    return bool(entry.flags & 1) or entry.method == METHOD_AES


class ZipReader:
    """Every file entry of a ZIP, in central-directory order."""

    kind = "zip"

    def __init__(self, archive: ZipArchive, window: tuple[str, int], chain: tuple[str, ...], budget: InflateBudget):
        self.archive, self.path, self.base = archive, window[0], window[1]
        self.chain, self.budget = chain, budget
        self.token = next(_READERS)  # data keys are this archive's: a spooled file's name may come back
        self.exclude: set[int] = set()  # indexes of records a layout reader read (one below the root)
        self.local = zip_local.Walk()  # what only the local headers give (the walker sets it: zip_local.walk)

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        """The central directory's members, then those only its local headers give (:attr:`local`)."""
        for entry in self.archive.entries:
            yield from self._entry(entry)
        yield from self.local_items()

    def local_items(self, central: bool = True, walks: Callable[[ZipEntry], bool] | None = None,
                    ) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        """The members only a streaming installer reads (:mod:`zip_local`), then why its walk stopped
        early and the central directory's own tamper facts (a prefix, overlapping entries ...), said
        for the container (an APK's are its app's, ``central`` False; a container's had no one to
        carry them). ``walks``: whether a listed member is walked as one of this container's (default
        :meth:`walks`), so that the entries of a ZIP stored in it are scanned as its own (:mod:`zip_nested`)."""
        entries, facts = zip_local.settled(self.local, walks or self.walks)
        for entry in entries:
            yield from self._entry(entry)
        if self.local.followed and central:  # the stream read local headers: a prefix before the directory's first is its
            facts += [f for f in self.archive.central_tamper if f.code in CONTAINER_FACTS]
        if facts:
            yield InputProblem(self.chain, facts)

    def walks(self, entry: ZipEntry) -> bool:
        """Whether :meth:`entries` gives the listed ``entry`` as a member to walk by its content: not an
        empty folder, nor read by a layout below the root, nor skipped by its name (a bundle's OBB, which
        it may still read: not counted on)."""
        return not empty_folder(entry) and entry.index not in self.exclude and not self.skip_reason(entry.name)

    def _entry(self, entry: ZipEntry) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        if empty_folder(entry) or entry.index in self.exclude:
            return
        skip = self.skip_reason(entry.name)
        if skip:
            yield Skipped(self.chain, skip, 1, [entry.name])
            return
        yield from self.readings(entry)

    def has_entries(self) -> bool:
        """Whether :meth:`entries` has any record to give (layouts below the root may have read all)."""
        return bool(self.local.entries or self.local.nested) or any(not empty_folder(e) and e.index not in self.exclude
                                               for e in self.archive.entries)

    def skip_reason(self, name: str) -> str | None:
        """Entries deliberately not scanned (bundle readers name theirs)."""
        return None

    def bundle_key(self, name: str) -> str | None:
        return None

    def _encrypted(self, entry: ZipEntry) -> Issue:
        """A member whose record says it is encrypted (review 54 F10). An APK's own entries ignore
        the flag, as Android does; a container's member is encrypted unless its data read as plain
        (a ZIP, a container: a forged flag, kept as a tamper fact), or it is WinZip AES (method 99)."""
        if entry.method != METHOD_AES:
            try:
                if detect.is_container_head(detect.zip_entry_head(self.archive_of(entry)[0], entry, 8)):
                    return tamper("TAMPER_ENCRYPTION_FLAG", f"member {entry.name!r}: the encryption flag is set "
                                  "but its data read as plain")
            except ApkScanError:
                pass  # encrypted data neither inflates nor starts as a container
        scheme = "WinZip AES" if entry.method == METHOD_AES else "ZipCrypto"
        raise ApkScanError(ENCRYPTED, f"{entry.name!r} is encrypted ({scheme}, password-protected "
                           "ZIP): extract it with its password (unzip, 7z), then scan the file")

    def archive_of(self, entry: ZipEntry) -> tuple[ZipArchive, int]:
        """The archive whose bytes hold the entry and where they start in the file: the reading's, or
        for a local entry found before it (:attr:`zip_local.Walk.origin`), the bytes the walk followed."""
        if zip_local.is_local(entry) and self.local.origin is not None:
            return self.local.origin, self.local.base
        return self.archive, self.base

    def _again(self, entry: ZipEntry, flags: list[Issue]) -> IterStream:
        """A deflated member inflated a second time (read again as a ZIP from its end): charged again."""
        self.budget.charge(entry.uncompressed_size)
        return IterStream(zip_member_sizes.to_end(self, self.archive_of(entry)[0], entry, flags))

    def readings(self, entry: ZipEntry) -> Iterator[Member | InputProblem]:
        """The entry's members: the one :meth:`member` gives (or why it fails), then a stored one's
        other reading (:func:`zip_member_sizes.csize_reading`)."""
        flags: list[Issue] = []
        try:
            m = self.member(entry)
            flags = zip_member_sizes.flag_first(entry, m)
            yield m
        except ApkScanError as exc:
            yield InputProblem(self.chain + (entry.name,), [exc.to_issue()])
        yield from zip_member_sizes.csize_reading(self, entry, shown_name(entry), flags)

    def member(self, entry: ZipEntry) -> Member:
        """The entry as a Member: a window when stored, an inflating stream otherwise (its declared
        size charged to the inflation budget: ``charged``, given back if it is never read)."""
        arc, base = self.archive_of(entry)
        flags = [tamper("TAMPER_MEMBER_NAME", f"member name {entry.name!r} is absolute or has '..'; shown, never used as a path")] \
            if _odd_name(entry.name) else []
        shown = shown_name(entry)
        if zip_local.is_local(entry):
            flags.append(zip_local.local_only_fact(entry, shown, self.local.also.get(entry.local_header_offset)))
        if encrypted(entry):
            flags.append(self._encrypted(entry))
        start = base + arc.data_offset(entry)
        key = (self.token, start, entry.compressed, entry.uncompressed_size)
        if entry.compressed:
            self.budget.check_declared(entry.name, entry.compressed_size, entry.uncompressed_size)
            self.budget.charge(entry.uncompressed_size)
            return Member(shown, entry.uncompressed_size, lambda: IterStream(zip_member_sizes.to_end(self, arc, entry, flags)),
                          bundle=self.bundle_key(entry.name), flags=flags, data_key=key,
                          charged=entry.uncompressed_size, again=lambda: self._again(entry, flags))
        return Member(shown, entry.uncompressed_size, lambda: IterStream(arc.stream(entry)),
                      window=(self.path, start, entry.uncompressed_size), bundle=self.bundle_key(entry.name), flags=flags,
                      data_key=key)


def new_token() -> int:
    """A key of the walk's record of what was read (``WalkContext.walked``) that no other reader holds."""
    return next(_READERS)


def _odd_name(name: str) -> bool:
    return name.startswith("/") or ".." in name.replace("\\", "/").split("/")


def same_bytes(m: Member) -> tuple | None:
    """What makes two ZIP members read alike, for the walker to read such bytes once: their data
    key (the same bytes, :meth:`ZipReader.member`) and all the walker does by name: a name ending in
    ``.apk`` goes to ``identify`` even when its first bytes are no ZIP, a bundle groups its
    members, and flags (odd names, a backup's MD5 mismatch) are kept with the app, by code."""
    if m.data_key is None:
        return None
    return (*m.data_key, m.name.lower().endswith(".apk"), m.bundle, tuple(sorted({f.code for f in m.flags})))


def overlap_problem(chain: tuple[str, ...], unchecked: list) -> InputProblem:
    """Members whose data overlap, past what the walker checks for nested APKs: said, never dropped."""
    names = ", ".join(repr(e.name) for e in unchecked[:3])
    return InputProblem(chain, [error(detect.OVERLAP_LIMIT, f"{len(unchecked)} members not checked for nested APKs "
                                      f"({names}, ...): their data overlap, and reading each one's head would read "
                                      "more than the archive's size")])
