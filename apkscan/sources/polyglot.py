"""Bytes read two ways: a container by their first bytes, a ZIP from their end (``CONTAINER_POLYGLOT``).

Android and apksigner find a ZIP from its end record, whatever comes first: a tar or a gzip
stream in front of a signed APK (offsets moved, as ``zip -A`` moves them) verifies and installs,
while a reader going by first bytes sees only the tar. The walker reads such bytes both ways and
says so (review 54; a member of a container too). In place (a window of a local file, or a member
whose bytes lie whole in one: a plain tar's member on disk) the look from the end is one read of
the last 65,557 bytes, before the container is read (:func:`in_place`). Bytes that exist only as a
stream (a deflated ZIP member, a tar member inside a compressed layer, an adb backup's member)
have their last 65,557 bytes kept as they pass (:class:`TailKept`) and are read to their end; when
that tail holds the end record ZIP readers would choose, with its central directory inside the
bytes (:func:`zip_end_in_tail`), they are read a second time (``Member.again``: re-inflated, or
their container read again up to them, :class:`Replayed`) into temporary space (``--tmp-limit``;
what is decompressed again is charged to the input's inflation budget again) and opened as a ZIP
(:func:`from_end`). A tail with no such record costs nothing more; bytes that cannot be had again
are ``CONTAINER_POLYGLOT_UNREAD`` for that member, never a silent skip. Bytes a backup layout skips
by their name as data are looked at from their end the same way (review 60 F1), whatever their head
(``detect.member_holds_apk``; review 72 F3: streamed too, ``Member.end_only``, then :func:`data_end`
for an adb backup's member), read again only when the
kept tail's directory names an APK or an entry that may be one by its bytes (:func:`apk_end_in_tail`),
and walked only when that ZIP holds an APK by name or by content (``detect.archive_holds_apk``).
"""

from __future__ import annotations

import inspect
import os
from collections import deque
import struct
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, BinaryIO

from apkscan.issues import ApkScanError, Issue, error, tamper
from apkscan.sources import detect
from apkscan.sources.interface import InputProblem, Item, Member
from apkscan.sources.streams import WindowStream, _Readable
from apkscan.sources.tempspace import release

KEEP = 22 + 0xFFFF  # an end record and the longest comment: where ZIP readers look for the record
UNREAD = "CONTAINER_POLYGLOT_UNREAD"
MAX_READ_AGAIN = 16  # streamed members read a second time, per input: each replays its container up to it


def fact(label: str) -> Issue:
    return tamper("CONTAINER_POLYGLOT", f"read two ways: {label} by its first bytes, and a ZIP from its end "
                  "record, as Android's and apksigner's ZIP readers find one; both are read")


class TailKept(_Readable):
    """``raw`` read through, its last :data:`KEEP` bytes kept and its bytes counted. The chunks read
    are kept by reference, the oldest dropped once the others hold :data:`KEEP` bytes: no copy as
    the member passes, memory bounded by :data:`KEEP` and one read."""

    def __init__(self, raw: BinaryIO):
        self._raw, self._chunks, self._held, self.total = raw, deque(), 0, 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self.total += len(data)
            self._chunks.append(data)
            self._held += len(data)
            while self._held - len(self._chunks[0]) >= KEEP:
                self._held -= len(self._chunks.popleft())
        return data

    def tail(self) -> bytes:
        return b"".join(self._chunks)[-KEEP:]

    def drain(self) -> None:
        """Read on to the end (what the container's reader left: a tar reads to its end anyway)."""
        while self.read(1 << 20):
            pass

    def close(self) -> None:  # the container's reader is done: its tail is still to be read (:meth:`shut`)
        pass

    def shut(self) -> None:
        self._raw.close()


def kept(b: Any) -> tuple[Any, TailKept | None]:
    """A streamed blob whose stream keeps its tail as it is read, and that tail (None in place)."""
    if b.window is not None or b.place is not None:
        return b, None
    tail = TailKept(b.stream)
    return replace(b, stream=tail), tail


def again_of(b: Any) -> Callable[[], BinaryIO] | None:
    """How to read a blob's bytes again from their start (in place: its window), or None."""
    where = b.window or b.place
    return (lambda: WindowStream(*where)) if where is not None else b.again


def known_head(head: bytes) -> str | None:
    """What the walker reads bytes of this ``head`` as (a compression layer or a stream format: such
    bytes are looked at from their end too), as its messages say it; None for a ZIP or nothing known."""
    from apkscan.sources import registry

    comp = registry.compression(head)
    fmt = registry.stream_format(head) if comp is None else None
    return f"a {comp} stream" if comp is not None else fmt.label if fmt is not None else None


def zip_end_in_tail(tail: bytes, total: int) -> bool:
    """Could bytes of ``total`` length ending in ``tail`` (their last :data:`KEEP` bytes, or all) open
    as a ZIP from their end? The end record chosen as ZIP readers choose it (scanning back, the one
    whose comment reaches the end), its central directory inside the bytes and before the record,
    and, when the directory starts within the tail, a directory record there. A record whose
    directory starts before the tail (a large directory) is judged by reading the bytes again."""
    base, pos = total - len(tail), _end_record(tail)
    if pos < 0:
        return False
    count, cd_size, cd_offset = struct.unpack_from("<HII", tail, pos + 10)
    if 0xFFFF == count or 0xFFFFFFFF in (cd_size, cd_offset):
        return _zip64_in_tail(tail, base, pos)  # ZIP64: its own records say where the directory is
    if count == 0 or cd_offset + cd_size > base + pos:
        return False  # no entry (no APK in it), or a directory past the record
    start = cd_offset - base
    if start < 0 or start + 4 > len(tail):
        return start < 0
    return tail[start:start + 4] == b"PK\x01\x02"


def _end_record(tail: bytes) -> int:
    """Where in ``tail`` the end record lies that ZIP readers choose (scanning back, the first whose
    comment reaches the end), or -1."""
    sig = b"PK\x05\x06"
    pos = tail.rfind(sig)
    while pos >= 0 and not (pos + 22 <= len(tail) and pos + 22 + struct.unpack_from("<H", tail, pos + 20)[0] == len(tail)):
        pos = tail.rfind(sig, 0, pos)
    return pos


def apk_end_in_tail(tail: bytes, total: int) -> bool:
    """:func:`zip_end_in_tail` for bytes skipped by their name as data, and, when the whole central
    directory lies in the tail, one naming ``AndroidManifest.xml`` or an APK or a bundle of them, or an
    entry that may hold one by its bytes (``data_in_place.tail_may_hold_apk``: an APK under a data name,
    review 67 F2); a tail ZIP of photos whose heads lie in the tail is not read again. A directory
    that starts before the tail, or a ZIP64 one, is judged by reading the bytes again, as for any member."""
    if not zip_end_in_tail(tail, total):
        return False
    pos = _end_record(tail)
    count, cd_size, cd_offset = struct.unpack_from("<HII", tail, pos + 10)
    start = cd_offset - (total - len(tail))
    if 0xFFFF == count or 0xFFFFFFFF in (cd_size, cd_offset) or start < 0:
        return True
    directory = tail[start:start + cd_size]
    from apkscan.sources import data_in_place  # the data look in place: not for a plain APK (start-up)

    return detect.names_an_apk(directory) or data_in_place.tail_may_hold_apk(tail, total - len(tail), directory)


def data_end(walker: Any, b: Any, depth: int) -> Iterator[Item]:
    """A member its reader skipped by its name as data, of a known head, in a stream read once (an
    adb backup's: ``Member.end_only``), counted as that skip by the reader: here it is read to its
    end, its tail kept, and read again (:func:`from_end`, with its bounds) only when that tail says
    so for data (:func:`apk_end_in_tail`), walked only when that ZIP holds an APK by name or by content
    (``detect.archive_holds_apk``, as for data in place). Bytes read again are walked as any file in place is: the
    ZIP from its end, and the container its head says (a tar, a gzip layer ...) with the same bounds
    and errors as the forward path (an APK in the tar part was missed, its errors unsaid). Nothing
    spooled else."""
    b, tail = kept(b)
    yield from from_end(walker, b, depth, tail, known_head(b.head) or "data", judge=apk_end_in_tail, both=True)


def _zip64_in_tail(tail: bytes, base: int, pos: int) -> bool:
    """Placeholder fields: a ZIP64 locator right before the end record, naming a ZIP64 end record
    inside the bytes (its signature checked when it lies in the tail), as readers of ZIP64 find
    it; placeholders alone are a decoy (final review 3 F2: each one cost a second reading)."""
    if pos < 20 or tail[pos - 20:pos - 16] != b"PK\x06\x07":
        return False
    (record,) = struct.unpack_from("<Q", tail, pos - 12)
    if record + 56 > base + pos - 20:
        return False
    start = record - base
    return start < 0 or tail[start:start + 4] == b"PK\x06\x06"


class Replayed(_Readable):
    """Member ``index`` (``name``) of a stream container, read again: the container's bytes from their
    start (``reopen``), its reader run again up to that member (what it yields on the way is
    dropped: the first reading said it), and that member opened."""

    def __init__(self, reopen: Callable[[], BinaryIO], fmt: Any, chain: tuple[str, ...], ctx: Any, index: int,
                 name: str):
        self._src, self._items, self._inner = reopen(), None, None
        try:
            self._items = fmt.open(self._src, chain, ctx).entries()
            seen = -1
            for item in self._items:
                if isinstance(item, Member):
                    seen += 1
                    if seen == index and item.name == name:
                        self._inner = item.open()
                        return
                    if seen >= index:
                        break
            raise ApkScanError(UNREAD, f"{name!r} was not found again reading {fmt.label} a second time")
        except BaseException:
            self.close()
            raise

    def read(self, n: int = -1) -> bytes:
        return self._inner.read(n) if self._inner is not None else b""

    def close(self) -> None:
        for part in (self._inner, self._items, self._src):
            if part is not None:
                part.close()
        self._inner = self._items = None
        super().close()


class Closing(_Readable):
    """``stream``, closing ``under`` (the stream it reads) with it."""

    def __init__(self, stream: BinaryIO, under: BinaryIO):
        self._stream, self._under = stream, under

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)

    def close(self) -> None:
        self._stream.close()
        self._under.close()
        super().close()


def in_place(walker: Any, b: Any, depth: int, label: str) -> Iterator[Item]:
    """Bytes in a local file (``b.window``, or ``b.place`` of a streamed member) that open as a ZIP
    from their end: that ZIP read, in place, before the container (the walker's ``_zip``)."""
    where = b.window or b.place
    archive = detect.opened_as_zip(*where) if where is not None else None
    if archive is not None:
        yield from _as_zip(walker, b, depth, label, archive, where, owned=False)


def from_end(walker: Any, b: Any, depth: int, tail: TailKept, label: str,
             judge: Callable[[bytes, int], bool] = zip_end_in_tail, both: bool = False) -> Iterator[Item]:
    """Streamed bytes, read by their container to where it stopped: read to their end, and read
    again as a ZIP when their tail says they may open as one (``judge``; see the module docstring).
    ``both``: their first-bytes reading was not walked (data): the bytes read again are walked both
    ways, as a file in place (:func:`_both_ways`)."""
    try:
        tail.drain()
    except Exception:  # noqa: BLE001 (a read error of the member, said by its first reading; WalkTimeout is none)
        return
    finally:
        tail.shut()
    if not judge(tail.tail(), tail.total):
        return
    walker.ctx.read_again += 1
    if walker.ctx.read_again > MAX_READ_AGAIN:  # each costs its container read again up to it
        yield InputProblem(b.chain, [error(UNREAD, f"read as {label} by its first bytes, but its last bytes hold a "
                                           f"ZIP end record; more than {MAX_READ_AGAIN} members of this input would "
                                           "have to be read again, which grows with the square of their number: "
                                           "extract it and scan the files")])
        return
    if b.again is None:
        yield InputProblem(b.chain, [error(UNREAD, f"read as {label} by its first bytes, but its last bytes hold a "
                                           "ZIP end record whose central directory lies inside it (Android may read "
                                           "it as a ZIP too) and its bytes cannot be read again here: extract it "
                                           "and scan the file")])
        return
    stream = b.again()
    try:
        spooled = walker.ctx.temp.spool(stream, f"{b.chain[-1]!r} read again as a ZIP from its end")
    finally:
        stream.close()
    size, kept = os.path.getsize(spooled), tail.tail()
    if size != tail.total or _last(spooled, len(kept)) != kept:  # not what was first read (changed under the walk)
        release(spooled)
        raise ApkScanError(UNREAD, f"read as {label} by its first bytes and as a ZIP from its end, but read again "
                           "it ends otherwise than in its first reading: extract it and scan the file")
    archive = detect.opened_as_zip(spooled, 0, size)
    if archive is None or (both and not _holds_apk(archive)):  # no directory after all; data holding no APK
        release(spooled)
        return
    if both:
        yield from _both_ways(walker, b, depth, archive, (spooled, 0, size))
        return
    yield from _as_zip(walker, b, depth, label, archive, (spooled, 0, size), owned=True)


def _holds_apk(archive: Any) -> bool:
    """Data read again: is its ZIP one that holds an APK by name or by content (a ZIP64-only reading:
    yes, the walker reads it both ways)? Its source is closed when it does not."""
    if archive is detect.ZIP64_ONLY:
        return True
    try:
        if detect.archive_holds_apk(archive):
            return True
    except BaseException:
        archive.source.close()
        raise
    archive.source.close()
    return False


def _both_ways(walker: Any, b: Any, depth: int, archive: Any, where: tuple[str, int, int]) -> Iterator[Item]:
    """Spooled bytes (``where``, ours) of a known head that open as a ZIP from their end, walked as the
    walker walks such a file in place (its ``blob``: the ZIP first, flagged ``CONTAINER_POLYGLOT``, then
    the container its head says, depth, budget and errors as ever); the copy removed once walked (an
    APK yielded from it is scanned before the walk goes on)."""
    if archive is not detect.ZIP64_ONLY:
        archive.source.close()  # read again in place by the walk (one more parse of its directory)
    try:
        yield from walker.blob(replace(b, window=where, stream=None, place=None, again=None, custody=False), depth)
    finally:
        release(where[0])


def _last(path: str, n: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-n, os.SEEK_END) if n else None
        return fh.read(n)


def _as_zip(walker: Any, b: Any, depth: int, label: str, archive: Any, where: tuple[str, int, int],
            owned: bool) -> Iterator[Item]:
    """The ZIP read, flagged: on the APK so read or, for a ZIP that is no APK, on the bytes."""
    flag = fact(label)
    opened = None if archive is detect.ZIP64_ONLY else archive  # ZIP64_ONLY: _zip reads it both ways
    zipped = walker._zip(replace(b, window=where, stream=None, place=None, flags=[*b.flags, flag], custody=False),
                         depth, opened, owned=owned)  # closes the archive's source; releases what it owns
    try:
        if opened is not None and detect.zip_kind([e.name for e in opened.entries]) != detect.APK:
            yield InputProblem(b.chain, [flag])
        yield from zipped
    finally:
        if inspect.getgeneratorstate(zipped) == inspect.GEN_CREATED:  # never ran: what it would close is ours
            if opened is not None:
                opened.source.close()
            if owned:
                release(where[0])
        zipped.close()


def layer_again(comp: str, again: Callable[[], BinaryIO] | None, budget: Any) -> Callable[[], BinaryIO] | None:
    """A decompressed layer read again: its compressed bytes again, decompressed again (charged again)."""
    if again is None:
        return None
    from apkscan.sources.compressed import decompressed

    def reopen() -> BinaryIO:
        raw = again()
        return Closing(decompressed(comp, raw, budget), raw)
    return reopen


def replay_of(again: Callable[[], BinaryIO] | None, fmt: Any, chain: tuple[str, ...],
              ctx: Any) -> Callable[[int, str], Callable[[], BinaryIO]] | None:
    """``(index, name)`` → how to read that member of a stream container again (:class:`Replayed`)."""
    if again is None:
        return None
    return lambda index, name: lambda: Replayed(again, fmt, chain, ctx, index, name)
