"""The single read of an APK, and the two threads (lanes) that consume it.

The reading thread fills a few reused buffers with ``ByteSource.readinto`` (the kernel's
copy is the only one) and hands each piece, as a read-only memoryview, to two lanes. A lane
is one thread applying its consumers to the pieces in file order: *spans* (whole-file hashes,
the v2/v3 chunked digests over their two sections, the fs-verity tree) and *entries* (v1's
per-entry digests, each over its own byte range, deflated ones inflated on the way). Work is
split between the lanes by an estimate of its CPU cost, entries in file order to the lane
that is behind at that point, so both cores stay busy all along the file: hashlib and zlib
release the GIL on large buffers. Small files are read on one thread (threads cost more).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.inflate import EntryInflater
from apkscan.apk.io.zipreader import ZipEntry
from apkscan.issues import ApkFormatError

READ_SIZE = 4 << 20
LANES = 3  # threads: finer than the 2 cores, so one unsplittable job (a 1 GiB stored entry) still balances
RING = 4  # reused read buffers: the reader runs at most RING - 1 pieces ahead of the slower lane
PARALLEL_MIN_SIZE = 16 << 20  # below this a helper thread costs more than it saves
INFLATE_CHUNK = 1 << 20  # largest inflated piece held at once
# CPU per byte relative to SHA-256 (measured with hashlib/zlib on x86-64 with SHA-NI); only
# used to balance the lanes, so a rough figure is enough.
COST = {"sha256": 1.0, "sha1": 1.0, "md5": 2.4, "sha384": 2.0, "sha512": 2.0, "inflate": 5.5}
MAX_RATIO = 1032  # deflate's largest expansion: bounds the cost a declared size can claim
_HANDED_ON = object()  # EntryDigest.result once its outcome went to the sink: a further update or close does nothing


@dataclass(slots=True)
class Span:
    """A consumer of fixed file ranges (``sink.update`` gets exactly their bytes, in order)."""

    ranges: list[tuple[int, int]]
    sink: object
    cost_per_byte: float

    @property
    def cost(self) -> float:
        return self.cost_per_byte * sum(max(0, b - a) for a, b in self.ranges)


def entry_cost(entry: ZipEntry, algorithms: tuple[str, ...]) -> float:
    """Estimated CPU of digesting ``entry`` (inflated when compressed), to balance the lanes."""
    per_byte = sum(COST.get(a, 2.0) for a in algorithms)
    if not entry.compressed:
        return per_byte * entry.stored_size
    out = min(entry.uncompressed_size, entry.compressed_size * MAX_RATIO)
    return (per_byte + COST["inflate"]) * out


class EntryDigest:
    """One v1 entry's digests from the pass: its stored bytes, inflated when compressed.

    An entry whose data cannot be read (corrupt deflate, more or fewer bytes than declared)
    ends with the ``ApkFormatError`` ``ZipArchive.stream`` would raise, kept for v1 to report
    at the point it needs the entry; the pass itself goes on. Without a ``sink`` the outcome
    stays in ``result`` (hashlib name -> digest, or the error). With one, the digests are
    compared with ``expected`` (MANIFEST.MF's, joined in ``algorithms`` order) and only the
    verdict is handed on: ``sink.put(index, names of the digests that differ, or the error)``;
    no digest is kept past the entry's last byte.
    """

    __slots__ = ("entry", "start", "end", "algorithms", "check_deadline", "hashers", "inflater", "result", "sink", "expected")

    def __init__(self, entry: ZipEntry, start: int, algorithms: tuple[str, ...], check_deadline, sink=None,
                 expected: bytes = b""):
        self.entry, self.start, self.end = entry, start, start + entry.stored_size
        self.algorithms, self.check_deadline, self.sink, self.expected = algorithms, check_deadline, sink, expected
        self.hashers = None
        self.inflater = None
        self.result: dict[str, bytes] | ApkFormatError | object | None = None

    @property
    def cost(self) -> float:
        return entry_cost(self.entry, self.algorithms)

    def _open(self) -> None:
        if self.hashers is None:
            self.hashers = [hashlib.new(a) for a in self.algorithms]
            if self.entry.compressed:
                self.inflater = EntryInflater(self.entry, self.check_deadline, INFLATE_CHUNK)

    def update(self, view: memoryview) -> None:
        if self.result is not None:
            return
        try:
            self._open()
            if self.inflater is None:
                for h in self.hashers:
                    h.update(view)
                return
            for out in self.inflater.feed(view):
                for h in self.hashers:
                    h.update(out)
        except ApkFormatError as exc:
            self.result = exc

    def close(self) -> None:
        """The entry's last byte went by: finish, keep or hand on the outcome, drop the state."""
        if self.result is None:
            try:
                self._open()
                if self.inflater is not None:
                    tail = self.inflater.finish()
                    for h in self.hashers:
                        h.update(tail)
                self.result = {a: h.digest() for a, h in zip(self.algorithms, self.hashers)}
            except ApkFormatError as exc:
                self.result = exc
        self.hashers = self.inflater = None
        sink, self.sink = self.sink, None
        if sink is not None:
            got, self.result = self.result, _HANDED_ON  # closed: a further update or close does nothing
            verdict = got if isinstance(got, ApkFormatError) else _differing(got, self.algorithms, self.expected)
            if verdict is not None:  # None: nothing to compare with; v1 streams the entry itself
                sink.put(self.entry.index, verdict)


def _differing(got: dict[str, bytes], algorithms: tuple[str, ...], expected: bytes) -> tuple[str, ...] | None:
    """The algorithms whose digest is not the expected one (``expected``: digests joined in
    order), or None when ``expected`` is not as long as the digests (no verdict)."""
    if len(expected) != sum(len(got[name]) for name in algorithms):
        return None
    out, pos = [], 0
    for name in algorithms:
        digest = got[name]
        if expected[pos : pos + len(digest)] != digest:
            out.append(name)
        pos += len(digest)
    return tuple(out)


@dataclass(slots=True)
class Lane:
    """Consumers run by one thread, in file order. ``entries`` never overlap (sorted by start):
    ``EntryDigest``s, or planned ranges (``start``, ``end``, ``cost``) that ``make`` turns into
    one when the lane reaches it, so that 65,000 entries are not all held as digest states."""

    spans: list[Span] = field(default_factory=list)
    entries: list = field(default_factory=list)
    rate: float = 0.0  # span cost per byte of file position
    entry_cost: float = 0.0
    make: Callable[[Any], EntryDigest] | None = None
    _next: int = 0
    _open: EntryDigest | None = None  # the digest of entries[_next] once its first bytes went by

    def load_at(self, pos: int) -> float:
        return self.rate * pos + self.entry_cost

    def _digest(self, i: int) -> EntryDigest:
        if self._open is None:
            self._open = self.entries[i] if self.make is None else self.make(self.entries[i])
        return self._open

    def feed(self, view: memoryview, pos: int) -> None:
        end = pos + len(view)
        for span in self.spans:
            for lo, hi in span.ranges:
                a, b = max(lo, pos), min(hi, end)
                if a < b:
                    span.sink.update(view[a - pos : b - pos])
        entries, i = self.entries, self._next
        while i < len(entries) and entries[i].start < end:
            e = self._digest(i)
            a, b = max(e.start, pos), min(e.end, end)
            if a < b:
                e.update(view[a - pos : b - pos])
            if e.end > end:
                break
            e.close()
            self._open = None
            i += 1
        self._next = i

    def finish(self) -> None:
        """Close entries the file ended inside of (the plan keeps them in range; be safe)."""
        for i in range(self._next, len(self.entries)):
            self._digest(i).close()
            self._open = None
        self._next = len(self.entries)


def split(spans: list[Span], entries: list, size: int, lanes: int, make=None) -> list[Lane]:
    """Share the work between ``lanes`` by estimated cost: spans heaviest first to the lighter
    lane, then entries in file order to the lane that will be least loaded where the entry ends.
    ``make``: planned range -> its ``EntryDigest`` (``Lane``), None when ``entries`` are ones."""
    out = [Lane(make=make) for _ in range(lanes)]
    for span in sorted(spans, key=lambda s: -s.cost):
        lane = min(out, key=lambda l: l.rate)
        lane.spans.append(span)
        lane.rate += span.cost / max(size, 1)
    for e in sorted(entries, key=lambda e: e.start):
        lane = min(out, key=lambda l: l.load_at(e.end))
        lane.entries.append(e)
        lane.entry_cost += e.cost
    return out


def read_once(source: ByteSource, spans: list[Span], entries: list, make=None) -> None:
    """Read ``source`` once, front to back, feeding every span and entry (``split``'s ``make``)."""
    if source.size < PARALLEL_MIN_SIZE:
        lane = split(spans, entries, source.size, 1, make)[0]
        buf = memoryview(bytearray(min(READ_SIZE, max(source.size, 1))))
        for pos in range(0, source.size, READ_SIZE):
            view = buf[: min(READ_SIZE, source.size - pos)]
            source.readinto(pos, view)
            lane.feed(view.toreadonly(), pos)
        lane.finish()
        return
    _read_threaded(source, split(spans, entries, source.size, LANES, make))


def _read_threaded(source: ByteSource, lanes: list[Lane]) -> None:
    from concurrent.futures import ThreadPoolExecutor  # only big files need threads: keeps start-up short

    pools = [ThreadPoolExecutor(max_workers=1) for _ in lanes]
    ring = [memoryview(bytearray(READ_SIZE)) for _ in range(RING)]
    pending: deque = deque()  # per piece in flight: the lanes' futures
    ok = False
    try:
        for k, pos in enumerate(range(0, source.size, READ_SIZE)):
            if len(pending) == RING:  # the buffer about to be refilled must be done with
                for f in pending.popleft():
                    f.result()
            view = ring[k % RING][: min(READ_SIZE, source.size - pos)]
            source.readinto(pos, view)
            view = view.toreadonly()
            pending.append([pool.submit(lane.feed, view, pos) for pool, lane in zip(pools, lanes)])
        while pending:
            for f in pending.popleft():
                f.result()
        ok = True
    finally:
        for futures in pending:
            for f in futures:
                f.cancel()
        for pool in pools:
            pool.shutdown(wait=True)
    if ok:
        for lane in lanes:
            lane.finish()
