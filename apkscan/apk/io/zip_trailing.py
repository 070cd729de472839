"""Central-directory records past the EOCD's count (review 76 F3).

apksig (``ZipUtils.parseZipCentralDirectory``) and Android's libziparchive read
as many records as the EOCD counts; bytes left in the central directory after them are not read.
Other readers read more: Python's zipfile reads records until the central directory's *size* is
used up (it ignores the count, and refuses the archive when those bytes are no records: "Bad magic
number for central directory"), and apkInspector (androguard 4.1) until the record signature stops.
So a record appended to the central directory, the size grown and the count not, is an entry
to androguard and zipfile and none to Android or apksig: a second ``AndroidManifest.xml`` there
is their manifest while apksigner verifies the file unchanged.

Such records are parsed here, as those readers read them, and kept apart (``ZipArchive.trailing``):
they are no entries, so nothing Android or apksig reads (the entry list, signatures and digests)
depends on them. :mod:`apkscan.apk.manifest_records` reads the manifest records among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from apkscan.apk.io.zip_entry import ZipEntry
from apkscan.issues import ApkFormatError, LimitExceeded

if TYPE_CHECKING:
    from apkscan.apk.io.zipreader import ZipArchive


@dataclass(slots=True)
class TrailingEntry(ZipEntry):
    """A record past the EOCD's count: androguard (apkInspector) reads it; Python's zipfile too
    when ``zipfile_reads`` (every byte of the central directory is a record and it sits right
    before the EOCD: zipfile reads no archive otherwise, or another central directory)."""

    zipfile_reads: bool = False


def read_trailing(archive: ZipArchive, at: tuple[bytes, int, int], limit: int) -> tuple[list[TrailingEntry], str]:
    """The records from ``at`` (the central directory's window, its base, the position after the
    counted records) to the central directory's end or the first bytes that are no record, and the
    words that say so in ``TAMPER_CD_TRAILING_DATA``. More than ``limit`` records (the entries a
    reader may hold, less the counted ones): ``ZIP_TOO_MANY_ENTRIES``, as for counted ones."""
    count, found, stop = len(archive.entries), [], ""
    while at[2] < archive.cd_size:
        if len(found) >= limit:
            raise LimitExceeded("ZIP_TOO_MANY_ENTRIES", f"the central directory holds more than {count + limit} "
                                f"records ({count} counted by the EOCD, the others past the count, read by Python's "
                                "zipfile and androguard)")
        try:
            entry, at = archive._record(count + len(found), count, at)
        except ApkFormatError as exc:
            stop = f"; then bytes that are no record ({exc.code}), where androguard stops and Python's zipfile refuses the archive"
            break
        found.append(entry)
    whole = not stop and not archive.zip64 and not archive.other_reading and \
        archive.cd_offset + archive.cd_size == archive.eocd_offset
    for entry in found:
        entry.zipfile_reads = whole
    if not found:
        return found, ""
    readers = "Python's zipfile (by the central directory's size) and androguard" if whole else "androguard"
    return found, (f": {len(found)} more record{'s' if len(found) > 1 else ''} past the EOCD's count, read by "
                   f"{readers} (apkInspector: until the signature stops), not by apksig or Android{stop}")
