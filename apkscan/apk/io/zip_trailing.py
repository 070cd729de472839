"""Central-directory records past the EOCD's count (review 76 F3).

apksig (``ZipUtils.parseZipCentralDirectory``) and Android's libziparchive read
as many records as the EOCD counts; bytes left in the central directory after them are not read.
Other readers read more: Python's zipfile reads records until the central directory's *size* is
used up (it ignores the count, and refuses the archive when those bytes are no records: "Bad magic
number for central directory"), and apkInspector (androguard 4.1) until the record signature stops.
So a record appended to the central directory, the size grown and the count not, is an entry
to androguard and zipfile and none to Android or apksig: a second ``AndroidManifest.xml`` there
is their manifest while apksigner verifies the file unchanged. apkInspector reads on past the
central directory's end, into bytes before the EOCD: records there are androguard's alone (zipfile
reads the CD's size of bytes ending at the EOCD: another central directory, here one that fails).

Such records are parsed here, as those readers read them, and kept apart (``ZipArchive.trailing``):
they are no entries, so nothing Android or apksig reads (the entry list, signatures and digests)
depends on them. :mod:`apkscan.apk.manifest_records` reads the manifest records among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from apkscan.apk.io.zip_entry import ZipEntry
from apkscan.issues import ApkFormatError

if TYPE_CHECKING:
    from apkscan.apk.io.zipreader import ZipArchive

MAX_AFTER_CD = 64 << 20  # records read on after the central directory's end: as many bytes as it may hold
MAX_TRAILING = 4096  # records past the count read at most: the rest is said (``capped``), never an error


@dataclass(slots=True)
class TrailingEntry(ZipEntry):
    """A record past the EOCD's count: androguard (apkInspector) reads it; Python's zipfile too
    when ``zipfile_reads`` (every byte of the central directory is a record and it sits right
    before the EOCD: zipfile reads no archive otherwise, or another central directory)."""

    zipfile_reads: bool = False


def read_trailing(archive: ZipArchive, at: tuple[bytes, int, int],
                  limit: int | None = None) -> tuple[list[TrailingEntry], tuple[str, str], bool]:
    """The records from ``at`` (the central directory's window, its base, the position after the
    counted records) to the first bytes that are no record: in the central directory, then (when
    they fill it) in the bytes between it and the EOCD, where androguard reads on (at most
    ``MAX_AFTER_CD`` of them). With the words that say so in ``TAMPER_CD_TRAILING_DATA`` and
    ``TAMPER_DATA_BEFORE_EOCD``, and whether reading stopped at a cap (``limit`` records, or
    ``MAX_AFTER_CD`` bytes) with more left. Nothing here is an error: these records are no entries
    to Android or apksig, so they must never cost the app its identity (review 77 F1: 200,000 of
    them made a verified banned app a bare ``ZIP_TOO_MANY_ENTRIES``)."""
    limit = MAX_TRAILING if limit is None else limit
    found: list[TrailingEntry] = []
    at, stop = _records(archive, at, archive.cd_size, limit, found)
    capped = stop == "capped"
    whole = not stop and not archive.zip64 and not archive.other_reading and \
        archive.cd_offset + archive.cd_size == archive.eocd_offset
    for entry in found:
        entry.zipfile_reads = whole
    in_cd = len(found)
    gap = archive.eocd_offset - archive.cd_offset
    if not stop and gap > archive.cd_size:  # apkInspector reads on while the signature holds
        _, gap_stop = _records(archive, at, min(gap, archive.cd_size + MAX_AFTER_CD), limit, found)
        capped = gap_stop == "capped" or (gap_stop == "ZIP_CD_TRUNCATED" and gap > archive.cd_size + MAX_AFTER_CD)
    more = f"; more past the first {len(found)}, not read (a manifest among them is unseen)" if capped else ""
    notes = (_note(in_cd, "Python's zipfile (by the central directory's size) and androguard" if whole else "androguard",
                   then=(f"; then bytes that are no record ({stop}), where androguard stops and Python's zipfile "
                         "refuses the archive" if stop and stop != "capped" else "") + (more if in_cd == len(found) else "")),
             _note(len(found) - in_cd, "androguard", where=" after the central directory's end",
                   then=more if in_cd < len(found) else ""))
    return found, notes, capped


def _records(archive: ZipArchive, at: tuple[bytes, int, int], size: int, limit: int,
             found: list[TrailingEntry]) -> tuple[tuple[bytes, int, int], str]:
    """Read records into ``found`` up to ``size`` (from the CD's start); where the next would start,
    and the code of the bytes that stopped it ("" when the records end at ``size``)."""
    count = len(archive.entries)
    while at[2] < size:
        if len(found) >= limit:
            return at, "capped"
        try:
            entry, at = archive._record(count + len(found), count, at, size)
        except ApkFormatError as exc:
            return at, exc.code
        found.append(entry)
    return at, ""


def _note(n: int, readers: str, where: str = "", then: str = "") -> str:
    """The words added to a tamper fact for ``n`` records past the count (none: nothing)."""
    if not n:
        return ""
    return (f": {n} more record{'s' if n > 1 else ''} past the EOCD's count{where}, read by {readers} "
            f"(apkInspector: until the signature stops), not by apksig or Android{then}")
