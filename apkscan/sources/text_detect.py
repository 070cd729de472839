"""Is this text a device's package listing? Detection for :mod:`apkscan.sources.text_evidence`.

The walker asks of every text it meets (any UTF, any name): :func:`scan_for_listing` looks for a
listing's mark through the whole text, streamed in bounded memory within a byte budget and the
walk's time budget, so a ``pm list packages`` line appended past a megabyte of log is still seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from apkscan.sources import walkclock
from apkscan.sources.streams import IterStream, Prefixed
from apkscan.sources.text_encodings import DUMPSYS_FIRST_LINES, HEAD, Transcoder, decode, text_encoding

MAX_BYTES = 1 << 30  # of one text, looked through here and read by the reader
CHUNK = 64 * 1024
LEADING_JUNK_LINES = 8  # lines before a dumpsys header that detection tolerates (a header's name alone is generic)
SCAN_BYTES = 1 << 20  # the first bytes of a text scan_for_listing keeps (all its marks are looked for there)
ANYWHERE_TEXT = ("  Package [", "\npackage:", "DUMP OF SERVICE package:")  # listing marks anywhere in a text
ANYWHERE_MARKS = tuple(mark.encode() for mark in ANYWHERE_TEXT)
OVERLAP = max(map(len, ANYWHERE_MARKS)) - 1  # of a chunk's text kept with the next: a mark across them is seen


def looks_like_text_evidence(head: bytes) -> bool:
    """``pm list packages`` output, ``dumpsys package`` output, or a bugreport's main text.

    Text (:func:`text_encoding`) whose head carries a listing's mark (:func:`listing_marked`).
    Junk around it (``WARNING: linker ...`` from ``adb shell``) is counted by the reader as not
    understood (``TEXT_LINES_UNREADABLE``). Marks past the head: :func:`scan_for_listing`."""
    text = _head_text(head)
    return text is not None and listing_marked(text)


def listing_marked(text: str) -> bool:
    """A ``package:`` line, a ``Package [`` block header or ``DUMP OF SERVICE package:`` anywhere,
    or a dumpsys/bugreport header among the first :data:`LEADING_JUNK_LINES` + 1 lines after leading
    blank ones (those names are generic alone: only near the top do they mark dumpsys output). Linear in ``text``."""
    if any(mark in text for mark in ANYWHERE_TEXT):
        return True
    top = text.lstrip().split("\n", LEADING_JUNK_LINES + 1)[:LEADING_JUNK_LINES + 1]
    lines = [line.rstrip("\r") for line in top]
    first = lines[0]
    return (any(line.startswith(("package:", "== dumpstate:") + DUMPSYS_FIRST_LINES) for line in lines)
            or (first.startswith("=====") and "== dumpstate:" in text[:1024]))


def _head_text(head: bytes) -> str | None:
    encoding = text_encoding(head)
    if encoding is None:
        return None
    return decode(head, encoding).lstrip("\ufeff")


@dataclass(slots=True)
class ListingScan:
    """What :func:`scan_for_listing` saw: ``kept``, the first bytes (at most :data:`SCAN_BYTES` + 1,
    held in memory); ``read``, the bytes read in all (past ``kept``: read the text again from its
    start); ``end``, whether that was the whole text (else cut by the byte budget, or not read on)."""

    kept: bytes
    encoding: str | None
    marked: bool
    read: int
    end: bool


def scan_for_listing(stream: BinaryIO, onward: bool = True, budget: int | None = None) -> ListingScan:
    """Look for a listing's mark (:func:`listing_marked` on the first :data:`SCAN_BYTES`, then its
    anywhere marks) through the whole text, with bounded memory: chunk by chunk with an overlap,
    through the same :class:`Transcoder` the reader uses (UTF-8/16/32, a change of encoding further
    on; 8-bit marks inside UTF-16/32 text count, the reader says they are not read). Bounded by
    ``budget`` bytes (:data:`MAX_BYTES`, what the reader reads) and the walk's time budget
    (``walkclock``). ``onward=False``: only the first bytes are looked at (a stream the caller must
    copy first, to read it again). One byte more than looked at is read, to tell the end."""
    budget = MAX_BYTES if budget is None else budget
    kept = b"".join(take(stream, SCAN_BYTES + 1))
    encoding = text_encoding(kept[:HEAD])
    end = len(kept) <= SCAN_BYTES
    if encoding is None:
        return ListingScan(kept, None, False, len(kept), end)
    transcoder = Transcoder(encoding)
    out = transcoder.feed(kept, final=end)
    marked = listing_marked(out.decode("utf-8", "replace").lstrip("\ufeff")) or transcoder.marks_8bit > 0
    read, tail = len(kept), out[-OVERLAP:]
    while onward and not marked and not end and read <= budget:
        walkclock.check()
        chunk = stream.read(CHUNK)
        end, read = not chunk, read + len(chunk)
        out = tail + transcoder.feed(chunk, final=end)
        marked = any(mark in out for mark in ANYWHERE_MARKS) or transcoder.marks_8bit > 0
        tail = out[-OVERLAP:]
    return ListingScan(kept, encoding, marked, read, end)


def spool_source(scan: ListingScan, stream: BinaryIO, budget: int | None = None) -> BinaryIO:
    """The text a scan that was not read on (``onward=False``) looked at, as a stream to copy
    (temporary space): its first bytes, then the rest, up to ``budget`` + 1 bytes."""
    budget = MAX_BYTES if budget is None else budget
    return IterStream(take(Prefixed(scan.kept, stream), budget + 1))


def take(stream: BinaryIO, limit: int) -> Iterator[bytes]:
    while limit > 0:
        chunk = stream.read(min(CHUNK, limit))
        if not chunk:
            return
        limit -= len(chunk)
        yield chunk
