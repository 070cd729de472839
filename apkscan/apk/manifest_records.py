"""An archive naming ``AndroidManifest.xml`` in more than one central-directory record.

Android's ZIP reader (libziparchive) refuses such an archive outright ("Duplicate entries in
archive": ``aapt dump badging`` prints no package, the installer installs none) and
``apksigner verify`` fails it (``JAR_SIG_DUPLICATE_ZIP_ENTRY``), but readers differ on which
record is *the* manifest: apksig (``ApkUtils.getAndroidManifest``) and this report take the
first, Python's zipfile (androguard's reader) the last. An adversary puts one package in each
(review 73 F4), so every record's readings are matched: the first record's stay the package and
its readings, the others' are added to ``package_readings`` (``TAMPER_MANIFEST_AMBIGUOUS_PACKAGE``
names them). At most ``MAX_RECORDS`` records are parsed (the first ones and the last): a file
with thousands of copies would cost thousands of parses; the rest are an input error.
"""

from __future__ import annotations

import hashlib

from apkscan.apk.io.zipreader import ZipArchive, ZipEntry
from apkscan.apk.manifest.android_manifest import read_manifest
from apkscan.apk.model import ManifestInfo, PackageReading
from apkscan.issues import ApkScanError, Issue, error

NAME = "AndroidManifest.xml"
MAX_RECORDS = 4  # the first MAX_RECORDS - 1 records and the last are parsed (no known reader takes another)
TOO_MANY = "INPUT_MANIFEST_TOO_MANY_RECORDS"


def chosen(records: list[ZipEntry]) -> list[tuple[int, ZipEntry]]:
    """(1-based position, record) of the records read: all up to the cap, else the first ones and the last."""
    numbered = list(enumerate(records, 1))
    if len(records) <= MAX_RECORDS:
        return numbered
    return numbered[: MAX_RECORDS - 1] + numbered[-1:]


def add_other_records(zip: ZipArchive, records: list[ZipEntry], info: ManifestInfo, max_size: int,
                      first: bytes | None = None) -> list[Issue]:
    """Add the readings of every record after the first (``records[0]``, whose bytes are ``first``,
    filled ``info``) to ``info.package_readings``, each value once; a record holding bytes already
    parsed is not parsed again. The input errors met on the way (a record that cannot be read,
    records past the cap) are returned. The time budget's error propagates."""
    errors: list[Issue] = []
    if len(records) < 2:
        return errors
    seen = {r.value for r in info.package_readings}
    if info.package is not None:
        seen.add(info.package)
    read = chosen(records)
    parsed = {_sha256(first)} if first is not None else set()  # a copy of bytes already parsed reads the same
    for n, entry in read[1:]:
        where = f"{NAME} {_where(n, entry, len(records))}"
        for r in _readings(zip, entry, max_size, where, parsed, errors):
            if r.value not in seen:
                seen.add(r.value)
                info.package_readings.append(PackageReading(r.value, f"{where}, {r.how}"))
    if len(read) < len(records):
        errors.append(error(TOO_MANY, f"{NAME} is named by {len(records)} central-directory records: the first "
                            f"{MAX_RECORDS - 1} and the last are read, the other {len(records) - len(read)} are not "
                            "(Android refuses the archive; apksig reads the first record, Python's zipfile the last)"))
    return errors


def _readings(zip: ZipArchive, entry: ZipEntry, max_size: int, where: str, parsed: set[bytes],
              errors: list[Issue]) -> list[PackageReading]:
    """One record's package readings ([] when its bytes were parsed already or cannot be read:
    then its error joins ``errors``, as do its manifest's input errors). Its bytes and tree are
    dropped on return, so one copy at a time is held beside the first record."""
    try:
        axml = zip.read(entry, max_size)
    except ApkScanError as exc:
        if exc.code == "INPUT_TIMEOUT":
            raise
        errors.append(error(exc.code, f"{where}: {exc.message}"))
        return []
    digest = _sha256(axml)
    if digest in parsed:
        return []
    parsed.add(digest)
    other = read_manifest(axml, None)
    errors.extend(error(i.code, f"{where}: {i.message}") for i in other.errors if i.code.startswith("INPUT_"))
    return other.package_readings


def _where(n: int, entry: ZipEntry, count: int) -> str:
    """Which record ``entry`` is, for a reading's ``how``: "record 2 of 2 (entry #5, the last: ...)"."""
    last = ", the last: Python's zipfile and androguard read it" if n == count else ""
    return f"record {n} of {count} (entry #{entry.index}{last})"


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
