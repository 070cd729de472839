"""An archive naming ``AndroidManifest.xml`` in more than one central-directory record.

Android's ZIP reader (libziparchive) refuses such an archive outright ("Duplicate entries in
archive": ``aapt dump badging`` prints no package, the installer installs none) and
``apksigner verify`` fails it (``JAR_SIG_DUPLICATE_ZIP_ENTRY``), but readers differ on which
record is *the* manifest: apksig (``ApkUtils.getAndroidManifest``) and this report take the
first, Python's zipfile and androguard the last. An adversary puts one package in each
(review 73 F4), so every record's readings are matched: the first record's stay the package and
its readings, the others' are added to ``package_readings`` (``TAMPER_MANIFEST_AMBIGUOUS_PACKAGE``
names them). At most ``MAX_RECORDS`` records are parsed (those a reader takes, then the first
ones): a file with thousands of copies would cost thousands of parses; the rest are an input error.

Readers differ on names too (review 75 F3), and a record another reader reads as
``AndroidManifest.xml`` is one more record of it. Python's zipfile cuts a name at its first NUL
(``AndroidManifest.xml\\0...``; libziparchive refuses the archive, "invalid file name", apksig
reads the exact name and signs and verifies it). androguard 4.1 reads names with apkInspector,
which decodes them as UTF-8 dropping invalid bytes (``AndroidManifest.xml\\xc0\\x80``: an overlong
NUL libziparchive lets through, so aapt and Android read the exact record, androguard this one).
Other near names (a trailing ``/``, ``./`` or ``/`` before it, a backslash, other case) are the
manifest to none of these readers.

Readers differ on which records there are, too (review 76 F3): a record past the EOCD's count
(:mod:`apkscan.apk.io.zip_trailing`) is read by androguard and Python's zipfile, never by apksig or
Android. One such record they read as ``NAME`` is one more record of the manifest, and the last
they read so: their manifest.
"""

from __future__ import annotations

import hashlib

from apkscan.apk.io.zip_trailing import TrailingEntry
from apkscan.apk.io.zipreader import ZipArchive, ZipEntry
from apkscan.apk.manifest.android_manifest import read_manifest
from apkscan.apk.model import ManifestInfo, PackageReading
from apkscan.issues import ApkScanError, Issue, error

NAME = "AndroidManifest.xml"
MAX_RECORDS = 4  # the records a reader takes and the first others are parsed (no known reader takes another)
TOO_MANY = "INPUT_MANIFEST_TOO_MANY_RECORDS"
UNREAD = "?"  # the value of a reading that could not be read (no package name is "?")
APKSIG, ZIPFILE, ANDROGUARD = "apksig", "Python's zipfile", "androguard"
_HOW = {ZIPFILE: "which Python's zipfile cuts at its first NUL",
        ANDROGUARD: "which androguard (apkInspector) reads without its invalid UTF-8 bytes"}


def records(zip: ZipArchive) -> list[ZipEntry]:
    """Every central-directory record a known reader takes for the manifest, in order: those named
    exactly so (apksig, libziparchive), those whose name another reader reads as ``NAME``, and the
    records past the EOCD's count other readers read as ``NAME`` (last: they follow the counted ones)."""
    exact = zip.named(NAME)
    odd = [e for e in zip.odd_names if _readers(e)]
    past = [e for e in zip.trailing if _readers(e)]
    return (sorted(exact + odd, key=lambda e: e.index) if odd else exact) + past


def first_exact(found: list[ZipEntry]) -> ZipEntry | None:
    """The record apksig and this report read as the manifest: the first named exactly ``NAME``
    among the records the EOCD counts."""
    return next((e for e in found if e.name == NAME and not isinstance(e, TrailingEntry)), None)


def _readers(entry: ZipEntry) -> list[str]:
    """The readers (besides apksig's exact name) that read ``entry`` as ``NAME``: a record past the
    EOCD's count is read by androguard, and by Python's zipfile when it reads the archive so."""
    raw, past = entry.name_bytes, isinstance(entry, TrailingEntry)
    cut = [ZIPFILE] if raw.split(b"\0", 1)[0] == NAME.encode() and (not past or entry.zipfile_reads) else []
    return cut + ([ANDROGUARD] if raw.decode("utf-8", "ignore") == NAME else [])


def takers(found: list[ZipEntry]) -> dict[int, list[str]]:
    """1-based position -> the readers taking that record: apksig the first exact name, Python's
    zipfile and androguard each the last record it reads as ``NAME`` (their name maps keep the last)."""
    first = first_exact(found)
    taken = {n: [APKSIG] for n, e in enumerate(found, 1) if e is first}
    for reader in (ZIPFILE, ANDROGUARD):
        last = max((n for n, e in enumerate(found, 1) if reader in _readers(e)), default=None)
        if last is not None:
            taken.setdefault(last, []).append(reader)
    return taken


def chosen(found: list[ZipEntry], taken: dict[int, list[str]]) -> list[tuple[int, ZipEntry]]:
    """(1-based position, record) of the records read: all up to the cap, else those a reader
    takes and the first others (with exact names only: the first ones and the last)."""
    numbered = list(enumerate(found, 1))
    if len(found) <= MAX_RECORDS:
        return numbered
    others = [p for p in numbered if p[0] not in taken][: max(MAX_RECORDS - len(taken), 0)]
    return sorted([p for p in numbered if p[0] in taken] + others, key=lambda p: p[0])


def add_other_records(zip: ZipArchive, found: list[ZipEntry], info: ManifestInfo, max_size: int,
                      first: bytes | None = None) -> list[Issue]:
    """Add the readings of every record but apksig's (``first_exact(found)``, whose bytes are
    ``first``, filled ``info``) to ``info.package_readings``, each value once; a record holding bytes
    already parsed is not parsed again. The input errors met on the way (a record that cannot be
    read, records past the cap) are returned. The time budget's error propagates."""
    errors: list[Issue] = []
    if zip.trailing_capped:  # records past the count left unread: another reader's manifest may be there
        info.package_readings.append(PackageReading(UNREAD, f"{NAME}: records past the EOCD's count beyond the first "
                                                            f"{len(zip.trailing)} not read (androguard reads them): "
                                                            "one of them may be its manifest"))
    primary = first_exact(found)
    if all(e is primary for e in found):
        return errors
    seen = {r.value for r in info.package_readings}
    if info.package is not None:
        seen.add(info.package)
    taken = takers(found)
    read = chosen(found, taken)
    parsed = {_sha256(first)} if first is not None else set()  # a copy of bytes already parsed reads the same
    for n, entry in read:
        if entry is primary:
            continue
        where = f"{NAME} {_where(n, entry, len(found), taken.get(n, []))}"
        for r in _readings(zip, entry, max_size, where, parsed, errors):
            if r.value not in seen:
                seen.add(r.value)
                info.package_readings.append(PackageReading(r.value, f"{where}, {r.how}"))
    if len(read) < len(found):
        errors.append(error(TOO_MANY, f"{NAME} is named by {len(found)} central-directory records: {len(read)} are read "
                            "(those apksig, Python's zipfile and androguard take, then the first others), the other "
                            f"{len(found) - len(read)} are not (apksig reads the first record of the exact name, Python's "
                            "zipfile and androguard the last they read as it)"))
    return errors


def _readings(zip: ZipArchive, entry: ZipEntry, max_size: int, where: str, parsed: set[bytes],
              errors: list[Issue]) -> list[PackageReading]:
    """One record's package readings ([] when its bytes were parsed already; its manifest's input
    errors join ``errors``). A record that cannot be read is a reading of unknown value (``UNREAD``),
    not an input error: Android and apksig read the app whole without it (review 77 F2: one broken
    extra record made any app's scan exit 3), yet another reader may take a package from it. Its
    bytes and tree are dropped on return, so one copy at a time is held beside the first record."""
    try:
        axml = zip.read(entry, max_size)
    except ApkScanError as exc:
        if exc.code == "INPUT_TIMEOUT":
            raise
        return [PackageReading(UNREAD, f"cannot be read here ({exc.code}: {exc.message}): the package another "
                                       "reader may take from it is unknown")]
    digest = _sha256(axml)
    if digest in parsed:
        return []
    parsed.add(digest)
    other = read_manifest(axml, None)
    errors.extend(error(i.code, f"{where}: {i.message}") for i in other.errors if i.code.startswith("INPUT_"))
    return other.package_readings


def _where(n: int, entry: ZipEntry, count: int, readers: list[str]) -> str:
    """Which record ``entry`` is, for a reading's ``how``: "record 2 of 2 (entry #5, the last: ...)",
    its name said when it is not exactly ``NAME`` (how a reader reads it so)."""
    readers_of = _readers(entry)
    named = "".join(f", named {entry.name_bytes!r}, {_HOW[r]}" for r in readers_of if entry.name != NAME)
    if isinstance(entry, TrailingEntry):
        named += (f", past the EOCD's count of records: {' and '.join(readers_of)} read{'s' if len(readers_of) == 1 else ''} "
                  "it, apksig and Android do not")
    others = [r for r in readers if r != APKSIG]
    last = f"{'; ' if named else ', '}the last: {' and '.join(others)} read{'s' if len(others) == 1 else ''} it" if others else ""
    return f"record {n} of {count} (entry #{entry.index}{named}{last})"


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
