"""A ZIP read another way by its end records.

Two central directories (review 59 F1): the classic EOCD fields, which apksig and Android's v2/v3
verifier read, and the central directory a ZIP64 end record names, which ZIP64-aware readers
(libziparchive 11 and later) may read instead. When they differ, the walker scans each as its own
app (:class:`apkscan.sources.walk_readings.Others`).

Offsets shifted (review 78 F3): bytes put before a ZIP without moving its offsets (``cat prefix
bundle.apks``). libziparchive and apksig take the end record's directory offset as it is, so the
file opens as no ZIP for them. ``java.util.zip.ZipFile`` (``ZipFile.Source.initCEN``: the directory
read where it lies, the end record's position less its size, and that difference added to every
offset) and Python's ``zipfile`` (its ``concat``) open it: bundletool, SAI and AppManager install a
split bundle through ``ZipFile``. The walker reads such a ZIP as they do, flagged
(:func:`shifted_window`), when it does not open as written."""

from __future__ import annotations

import os
from dataclasses import replace

from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.zip_ends import _find_eocd, classic_values
from apkscan.issues import ApkScanError, Issue, tamper
from apkscan.sources.interface import ScanInput

ZIP64 = "zip64"  # ScanInput.reading of the second reading
ZIPFILE_READING = "[central directory java.util.zip reads]"  # the chain element of ZipFile's other reading
TWO_READINGS = "TAMPER_TWO_CENTRAL_DIRECTORIES"
ZIP64_READING = "[ZIP64 central directory]"  # its chain element: a distinct app in every report
SHIFTED = "TAMPER_ZIP_OFFSETS_SHIFTED"
CENTRAL_RECORD = b"PK\x01\x02"
CLASSIC = "the classic reading: the central directory the EOCD's own fields name, the one apksig verifies"
SECOND = "the ZIP64 reading: the central directory the ZIP64 end record names, which apksig never reads"


def two_readings(which: str) -> Issue:
    """The fact both apps carry, saying which reading each one is."""
    return tamper(TWO_READINGS, "two central directories: the classic EOCD fields name one, the ZIP64 end record "
                  f"another; each is scanned as its own app; this app is {which}")


def zip64_named(source: ByteSource) -> bool:
    """A ZIP whose classic reading failed: does a ZIP64 end record name another central directory?"""
    from apkscan.apk.io.zip_ends import zip64_values

    try:
        return zip64_values(source) is not None
    except OSError:
        return False


def second_reading(window: tuple[str, int, int]):
    """The ZIP64 reading of these bytes, opened (the caller closes its source), or None when it
    does not parse: then there is one reading, and the first's ``TAMPER_ZIP64`` says why."""
    from apkscan.apk.io.zipreader import ZipArchive

    try:
        source = ByteSource(*window)
    except (OSError, ApkScanError):
        return None
    try:
        return ZipArchive.open(source, True)
    except (OSError, ApkScanError):
        source.close()
        return None


def readings_of(item: ScanInput) -> list[ScanInput]:
    """A whole APK file the walker never saw (a Dask worker's copy of a URL): itself, or, when a
    ZIP64 end record names another central directory, both readings, flagged as the walker flags them."""
    try:
        with ByteSource(item.path) as source:
            if not zip64_named(source):
                return [item]
    except (OSError, ValueError, ApkScanError):
        return [item]
    second = second_reading((item.path, 0, os.path.getsize(item.path)))
    if second is None:
        return [item]
    second.source.close()
    return [replace(item, flags=[*item.flags, two_readings(CLASSIC)]),
            replace(item, chain=(*item.chain, ZIP64_READING), flags=[*item.flags, two_readings(SECOND)], reading=ZIP64)]


def shifted_window(window: tuple[str, int, int]) -> tuple[tuple[str, int, int], Issue] | None:
    """These bytes as ``java.util.zip.ZipFile`` and Python's ``zipfile`` read them when the end record's
    directory offset falls short of where the directory lies (the end record's position less the
    directory's size, a central record there): the window without the bytes before the ZIP, whose
    offsets are then right as written, and the fact that says so. None: no such shift, or it does
    not start a central directory (those readers refuse the file too)."""
    path, off, length = window
    try:
        source = ByteSource(path, off, length)
    except (OSError, ApkScanError):
        return None
    try:
        eocd_offset, eocd, _count, _before = _find_eocd(source)
        _n, cd_size, cd_offset = classic_values(eocd)
        shift = eocd_offset - cd_size - cd_offset
        if shift <= 0 or source.read(eocd_offset - cd_size, 4) != CENTRAL_RECORD:
            return None
    except (OSError, ApkScanError):
        return None
    finally:
        source.close()
    return (path, off + shift, length - shift), tamper(SHIFTED, (
        f"{shift} bytes before the ZIP, its offsets not moved: Android's libziparchive and apksig open it as "
        "no ZIP (no APK installs from it as it is); java.util.zip.ZipFile (bundletool, SAI, AppManager install "
        f"split bundles through it) and Python's zipfile read it with every offset moved by {shift}: read so"))


def zipfile_reading(archive, window: tuple[str, int, int]):
    """A ZIP that opens as written, but whose end record's directory offset falls short of where
    ``java.util.zip.ZipFile`` and Python's ``zipfile`` read a directory (bytes between the directory
    and the end record): that other reading, opened (the caller closes its source), its window and
    the fact; None when there is no gap, or the other reading does not open."""
    from apkscan.apk.io.zipreader import ZipArchive

    if archive.cd_offset + archive.cd_size >= archive.eocd_offset:
        return None
    moved = shifted_window(window)
    if moved is None:
        return None
    try:
        source = ByteSource(*moved[0])
    except (OSError, ApkScanError):
        return None
    try:
        other = ZipArchive.open(source)
    except (OSError, ApkScanError):
        source.close()
        return None
    shift = moved[0][1] - window[1]
    return other, moved[0], tamper(SHIFTED, (
        f"two central directories: the end record's offset names one (libziparchive and apksig read it); "
        f"java.util.zip.ZipFile (bundletool, SAI, AppManager) and Python's zipfile read the one before the end "
        f"record, every offset moved by {shift}: that reading is scanned too, as {ZIPFILE_READING}"))
