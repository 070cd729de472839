"""The end record other ZIP readers pick, when it is not the one apksig picks (review 81 F1).

apksig and libziparchive take, scanning back from the file's end, the end record whose comment ends
the file. ``java.util.zip.ZipFile`` (``ZipFile.Source.findEND``: bundletool ``install-apks``,
AppManager) takes the first one scanning back that either ends the file so, or whose central
directory (its position less its size) and first local header (that less its offset) are signed
where it says. Python's ``zipfile`` (``_EndRecData``, and ``unzip`` on the same bytes) takes the
record that is the last 22 bytes with no comment, else the last end-record signature in the final
64 KiB + 22. Both then read the directory where it lies, every offset moved by the difference.

So a clean bundle whose end-record comment holds a second bundle (then a few junk bytes) is the clean
one for apksig and the other for ``ZipFile``, ``zipfile`` and ``unzip``; and a clean ZIP followed by
another and junk opens only their way. A container is read both ways (:class:`walk_readings.Others`,
:func:`walk_readings.shifted`), the other reading under its own chain element, flagged
:data:`OTHER_END`. Bounds: one read of the last 65,663 bytes, and 4 bytes read for each end-record
signature there whose directory lies outside them (``ZipFile`` checks each the same way).
"""

from __future__ import annotations

import struct

from apkscan.apk.io.bytesource import ByteSource
from apkscan.issues import ApkScanError, Issue, tamper

OTHER_END = "TAMPER_ZIP_OTHER_END_RECORD"
EOCD, CEN, LOC = b"PK\x05\x06", b"PK\x01\x02", b"PK\x03\x04"
ENDHDR = 22
JAVA_BLOCK = 128  # ZipFile.Source.READBLOCKSZ: findEND reads blocks of it, overlapping by ENDHDR
JAVA, PYTHON = "java.util.zip.ZipFile", "Python's zipfile"
ELEMENTS = {(JAVA,): "[end record java.util.zip reads]", (PYTHON,): "[end record Python's zipfile reads]",
            (JAVA, PYTHON): "[end record java.util.zip and Python's zipfile read]"}


def _java_low(size: int) -> int:
    """The lowest position ``findEND`` looks at (its blocks step back past the 64 KiB + 22 it needs)."""
    min_pos = max(size - (0xFFFF + ENDHDR), 0) - (JAVA_BLOCK - ENDHDR)
    first = size - JAVA_BLOCK
    if first < min_pos:
        return size  # under 22 bytes: nothing scanned
    steps = (first - min_pos) // (JAVA_BLOCK - ENDHDR)
    return max(first - steps * (JAVA_BLOCK - ENDHDR), 0)


def picks(source: ByteSource) -> dict[str, int | None]:
    """Where each reader finds the end record (None: it finds none), from one read of the tail."""
    size = source.size
    start = max(min(_java_low(size), size - (0xFFFF + ENDHDR + 1)), 0)
    tail = source.read(start, size - start)

    def sig_at(pos: int, sig: bytes) -> bool:
        if pos < 0 or pos + 4 > size:
            return False
        got = tail[pos - start:pos - start + 4] if pos >= start else source.read(pos, 4)
        return got == sig

    apksig = java = None
    last = tail.rfind(EOCD)  # one search of the tail when it holds no end record (most files met from their end)
    pos = last if last <= len(tail) - ENDHDR else tail.rfind(EOCD, 0, len(tail) - ENDHDR + 4)
    while pos >= 0:
        at = start + pos
        cen_len, cen_off, com_len = struct.unpack_from("<IIH", tail, pos + 12)
        ends = at + ENDHDR + com_len == size
        if apksig is None and ends and at >= size - (0xFFFF + ENDHDR):
            apksig = at
        if java is None and at >= _java_low(size):
            if ends:
                java = at
            elif sig_at(at - cen_len, CEN) and sig_at(at - cen_len - cen_off, LOC):
                java = at if at + ENDHDR + com_len <= size else -1  # a comment past the end: ZipFile throws
        if apksig is not None and java is not None:
            break
        pos = tail.rfind(EOCD, 0, pos)
    return {"apksig": apksig, JAVA: java if java != -1 else None, PYTHON: _python(tail, start, size, last)}


def _python(tail: bytes, start: int, size: int, last: int) -> int | None:
    """``zipfile._EndRecData``: the last 22 bytes when they are a record with no comment, else the last
    signature in the final 64 KiB + 22 (``last``: the tail's last), if 22 bytes follow it."""
    if size >= ENDHDR and tail[-ENDHDR:-ENDHDR + 4] == EOCD and tail[-2:] == b"\x00\x00":
        return size - ENDHDR
    low = max(size - (1 << 16) - ENDHDR, 0)
    return start + last if last >= low - start and len(tail) - last >= ENDHDR else None


def found_in(window: tuple[str, int, int]) -> dict[str, int | None] | None:
    """:func:`picks` of a window; None when it cannot be read."""
    try:
        with ByteSource(*window) as source:
            return picks(source)
    except (OSError, ApkScanError):
        return None


def other_readings(window: tuple[str, int, int], found: dict[str, int | None] | None = None) -> list[tuple]:
    """The readings of these bytes from an end record another reader picks and apksig does not, each
    opened (the caller closes their sources): ``(archive, window, fact, chain element)``. ``found``:
    the window's :func:`picks`, when known."""
    from apkscan.apk.io.zipreader import ZipArchive

    path, off, length = window
    try:
        with ByteSource(path, off, length) as source:
            found = found or picks(source)
            at_picks: dict[int, list[str]] = {}
            for reader in (JAVA, PYTHON):
                at = found[reader]
                if at is not None and at != found["apksig"]:
                    at_picks.setdefault(at, []).append(reader)
            moved = [(at, readers, _window(source, window, at)) for at, readers in at_picks.items()]
    except (OSError, ApkScanError):
        return []
    out = []
    for at, readers, place in moved:
        if place is None:
            continue
        try:
            src = ByteSource(*place)
        except (OSError, ApkScanError):
            continue
        try:
            archive = ZipArchive.open(src)
        except (OSError, ApkScanError):
            src.close()
            continue
        shift = place[1] - off
        if archive.eocd_offset != at - shift:  # the window's end makes apksig pick another: not representable
            src.close()
            continue
        out.append((archive, place, _fact(readers, at, shift, found["apksig"]), ELEMENTS[tuple(readers)]))
    return out


def _window(source: ByteSource, window: tuple[str, int, int], at: int) -> tuple[str, int, int] | None:
    """The bytes of the ZIP the end record at ``at`` closes, read as those readers read it: from where
    its directory lies (its position less the directory's size, a central record there) less the
    directory's offset, to the end of its comment; None when it names no such directory."""
    cen_len, cen_off, com_len = struct.unpack("<IIH", source.read(at + 12, 10))
    shift = at - cen_len - cen_off
    end = at + ENDHDR + com_len
    if cen_len == 0 or shift < 0 or end > source.size or source.read(at - cen_len, 4) != CEN:
        return None
    path, off, _length = window
    return path, off + shift, end - shift


def _fact(readers: list[str], at: int, shift: int, apksig_at: int | None) -> Issue:
    who = " and ".join({JAVA: f"{JAVA} (bundletool install-apks, AppManager)", PYTHON: f"{PYTHON} (and unzip)"}[r]
                       for r in readers)
    theirs = (f"the one at offset {apksig_at}, whose comment ends the file" if apksig_at is not None
              else "none (no end record's comment ends the file: they open no ZIP here)")
    moved = f" (every offset moved by {shift})" if shift else ""
    return tamper(OTHER_END, f"two end records: libziparchive and apksig take {theirs}; {who} take the one at "
                  f"offset {at}: that reading{moved} is scanned too, as {ELEMENTS[tuple(readers)]}")
