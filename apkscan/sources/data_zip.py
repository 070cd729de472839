"""Does a ZIP skipped by its name as data hold an APK by content? Its entries read as a stream, once.

A layout's data (AndroidQF's ``bugreport.zip``, a backup app's data archive, an adb backup's ``f/``
file, an OBB) is not walked, unless its bytes hold an APK. By name, that is a record naming
``AndroidManifest.xml`` or an entry named like an APK or a bundle (:func:`detect.names_an_apk`); by
content, an entry whose own bytes are a ZIP that holds one, whatever its name (an APK kept as
``FS/data/app/.../base`` in a bugreport: closing notes 15/16). A name is a claim; the bytes decide,
as they do for every member of a container that is walked.

Read as a stream, in one pass (a deflated member, an adb backup's file: nothing seeks back). Every
byte read is looked through for names, as before; the local entries are followed in order: an entry
whose first bytes are a ZIP is read as a stream of its own, the same way (stored: its bytes; deflated:
inflated as it passes), :data:`LEVELS` ZIPs deep; other entries are passed over (deflated ones
inflated to their end only when no size says where they end). Bounds: memory, one chunk and the
names' overlap a level; time, the walk's budget (every chunk a checkpoint); an entry inflating to more
than :data:`MAX_RATIO` times its compressed bytes (and 64 MiB) is not read further and answers yes,
so the walker reads it and says what it is (``CONTAINER_BOMB``), never a silent skip. A structure
this reader does not follow (a stored entry of unknown size, an unknown method with no size) ends
the entries' look: the rest is looked through by names only, as before.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from apkscan.sources import walkclock

LEVELS = 4  # ZIPs inside the data ZIP followed by content (the walk's default --max-depth)
MAX_RATIO = 200  # as the walker's bomb rule: past it (and FREE bytes), the walker reads it and says so
FREE = 64 << 20
CHUNK = 1 << 20
_LOCAL, _CENTRAL, _DESCRIPTOR = b"PK\x03\x04", b"PK\x01\x02", b"PK\x07\x08"


class Found(Exception):
    """Stop: the stream holds an APK (or cannot be told apart from one)."""


class Level:
    """One stream level's bytes, read from below a chunk at a time (looked through for names then, once:
    ``look``; False where the level above looks through the same bytes) and handed out as asked, with
    push-back. ``names``/``span``: the look its inflated entries' levels get."""

    def __init__(self, read: Callable[[int], bytes], names: Callable[[bytes], bool], span: int, look: bool = True):
        self._read, self.names, self.span, self._look = read, names, span, look
        self._held: list[list] = []  # [bytes, position] segments, the next to hand out last
        self._tail = b""

    def read(self, n: int) -> bytes:
        if not self._held:
            walkclock.check()
            data = self._read(CHUNK)
            if not data:
                return b""
            if self._look:
                buf = self._tail + data
                if self.names(buf):
                    raise Found
                self._tail = buf[-self.span:]
            self._held.append([data, 0])
        seg = self._held[-1]
        out = seg[0][seg[1]:seg[1] + n]
        seg[1] += len(out)
        if seg[1] >= len(seg[0]):
            self._held.pop()
        return out

    def exact(self, n: int) -> bytes | None:
        out = b""
        while len(out) < n:
            data = self.read(n - len(out))
            if not data:
                return None
            out += data
        return out

    def unread(self, data: bytes) -> None:
        if data:
            self._held.append([data, 0])

    def skip(self, n: int) -> bool:
        while n > 0:
            data = self.read(min(n, CHUNK))
            if not data:
                return False
            n -= len(data)
        return True

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _Inflating:
    """A deflated entry's bytes, inflated as read from ``src`` (at most ``limit`` bytes of it when its
    size is known); what follows the deflate stream is pushed back to ``src``."""

    def __init__(self, src: Level, limit: int | None):
        self._src, self._limit, self._z, self.used, self.made = src, limit, zlib.decompressobj(-15), 0, 0
        self._step = 512

    @property
    def ended(self) -> bool:
        return self._z.eof

    def read(self, n: int) -> bytes:
        out = b""
        while not out and not self._z.eof:
            data = self._z.unconsumed_tail
            if not data:  # fed in growing steps: what follows a small entry's end is pushed back, not copied on
                want = self._step if self._limit is None else min(self._step, self._limit - self.used)
                self._step = min(self._step * 4, CHUNK)
                data = self._src.read(want) if want > 0 else b""
                if not data:
                    return b""
                self.used += len(data)
            try:
                out = self._z.decompress(data, n)
            except zlib.error:
                raise Found from None  # corrupt: the walker reads it and says so
            if self._z.eof and self._z.unused_data:
                self.used -= len(self._z.unused_data)
                self._src.unread(self._z.unused_data)
        self.made += len(out)
        if self.made > FREE and self.made > MAX_RATIO * max(self.used, 1):
            raise Found  # a bomb's ratio: the walker reads it and refuses it (CONTAINER_BOMB)
        return out


def holds_apk(read: Callable[[int], bytes], names: Callable[[bytes], bool], span: int, level: int = 0) -> bool:
    """Read the stream (``read``, from its first byte, a ZIP's) to its end or to the first sign of an
    APK: a name (``names``, looked for across reads ``span`` bytes apart) or an entry holding one.
    ``level``: ZIPs this one already sits in, counted against :data:`LEVELS`."""
    top = Level(read, names, span)
    try:
        _entries(top, level)
        top.drain()
    except Found:
        return True
    return False


def entries_hold_apk(archive, head: Callable, smallest: int, names: Callable[[bytes], bool], span: int) -> bool:
    """An archive opened in place (a data ZIP in a folder, a stored member): does an entry whose
    first bytes (``head(entry)``) are a ZIP's hold an APK, read as a stream (:func:`holds_apk`, one
    level in)? An entry that cannot be read, or data overlapping past the head budget: yes (walked,
    and said)."""
    from apkscan.issues import ApkScanError

    try:
        for entry in archive.entries:
            walkclock.check()
            if entry.is_directory or entry.uncompressed_size < smallest or head(entry)[:4] != _LOCAL:
                continue
            if holds_apk(_entry_reader(archive, entry), names, span, level=1):
                return True
    except (ApkScanError, OSError, zlib.error):
        return True
    return False


def _entry_reader(archive, entry) -> Callable[[int], bytes]:
    """A ZIP entry's bytes as ``read(n)`` calls: stored, read in place; deflated, inflated as read."""
    if entry.compressed:
        chunks, held = archive.stream(entry), [b""]

        def inflated(n: int) -> bytes:
            if not held[0]:
                held[0] = next(chunks, b"")
            out, held[0] = held[0][:n], held[0][n:]
            return out
        return inflated
    start, pos = archive.data_offset(entry), [0]

    def stored(n: int) -> bytes:
        n = min(n, entry.uncompressed_size - pos[0])
        out = archive.source.read(start + pos[0], n) if n > 0 else b""
        pos[0] += len(out)
        return out
    return stored


def _entries(src: Level, level: int) -> None:
    """Follow the local entries of the ZIP ``src`` reads; raise :class:`Found` when one holds an APK."""
    while True:
        header = src.exact(30)
        if header is None or header[:4] != _LOCAL:
            src.unread(header or b"")
            return  # the central directory, or what this reader does not follow: names only
        flags, method = struct.unpack_from("<HH", header, 6)
        size = struct.unpack_from("<I", header, 18)[0]
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        if src.exact(name_len + extra_len) is None:
            return
        known = not flags & 8 and size != 0xFFFFFFFF
        if method == 8:
            if not _deflated(src, size if known else None, level):
                return
        elif method == 0 and known:
            if not _stored(src, size, level):
                return
        else:
            return  # a stored entry of unknown size, an unknown method: not followed
        if flags & 8 and not _descriptor(src):
            return


def _head(read: Callable[[int], bytes]) -> bytes:
    out = b""
    while len(out) < 4 and (data := read(4 - len(out))):
        out += data
    return out


def _deflated(src: Level, size: int | None, level: int) -> bool:
    """A deflated entry: inflated and followed as a ZIP of its own when its first bytes are one (its
    inflated bytes looked through for names); any other passed over, by its size when known, else
    inflated to its end. False: where the next entry starts is not known."""
    body = _Inflating(src, size)
    head = _head(body.read)
    if head == _LOCAL:
        inner = Level(body.read, src.names, src.span)
        inner.unread(head)
        inner._tail = head  # looked through with the bytes after it
        if level + 1 < LEVELS:
            _entries(inner, level + 1)
        inner.drain()
    elif size is None:
        Level(body.read, src.names, src.span, look=False).drain()
    if size is not None:
        return src.skip(size - body.used)
    return body.ended


def _stored(src: Level, size: int, level: int) -> bool:
    """A stored entry of ``size`` bytes: a ZIP's followed as its own level, any other passed over."""
    left = [size]

    def read(n: int) -> bytes:
        data = src.read(min(n, left[0])) if left[0] > 0 else b""
        left[0] -= len(data)
        return data

    inner = Level(read, src.names, src.span, look=False)  # its bytes are looked through at this level
    head = _head(inner.read)
    inner.unread(head)
    if head == _LOCAL and level + 1 < LEVELS:
        _entries(inner, level + 1)
    inner.drain()
    return left[0] == 0


def _descriptor(src: Level) -> bool:
    """Pass a data descriptor (signature optional; 32- or 64-bit sizes): the next record must follow."""
    first = src.exact(4)
    if first is None:
        return False
    if src.exact(12 if first == _DESCRIPTOR else 8) is None:
        return False
    after = src.exact(4) or b""
    if after in (_LOCAL, _CENTRAL):
        src.unread(after)
        return True
    probe = (after + (src.exact(8) or b""))[8:12]  # 64-bit sizes: eight bytes more
    if probe in (_LOCAL, _CENTRAL):
        src.unread(probe)
        return True
    return False
