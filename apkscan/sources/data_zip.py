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
inflated as it passes), :data:`LEVELS` ZIPs deep; one at the last level answers yes (the walker says
``CONTAINER_TOO_DEEP``, review 67 F3). An entry whose head the walker knows (a tar, a gzip ...) is
read to its end, its last bytes kept: when they open as a ZIP from its end, as the walker reads such
bytes (``CONTAINER_POLYGLOT``), yes (review 67 F2). Other entries are passed over (deflated ones
inflated to their end only when no size says where they end). Methods as the walker and Android take
them: every method but stored is inflated (a bzip2 or LZMA entry fails to, which answers yes); sizes
from the local header or its ZIP64 extra field; a stored entry of unknown size (bit 3, as Go writes
every entry) is read to the signed data descriptor that matches it.

Bounds: memory, one chunk and the names' overlap a level; time, the walk's budget (every chunk a
checkpoint); an entry inflating to more than :data:`MAX_RATIO` times its compressed bytes (and 64 MiB)
is not read further and answers yes, so the walker reads it and says what it is (``CONTAINER_BOMB``),
never a silent skip. Whatever stops the entries' look before the central directory (padding or
another record where the next local header should start, a descriptor that does not match, bytes
ending early) answers yes too (review 67 F1): the walker reads the ZIP through its central directory
and says what it cannot read. So does a directory naming other entries than the look followed, or
ending otherwise than the walker reads it (:mod:`data_zip_records`, review 70 F1): "data" only from
what the walker reads. A well-formed ZIP holding no APK is read once and answers no.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from apkscan.sources import data_layers, walkclock
from apkscan.sources.data_zip_records import Found, Followed, check_directory, local_zip64_sizes

LEVELS = 4  # ZIPs inside the data ZIP followed by content (the walk's default --max-depth)
MAX_RATIO = 200  # as the walker's bomb rule: past it (and FREE bytes), the walker reads it and says so
FREE = 64 << 20
CHUNK = 1 << 20
_LOCAL, _CENTRAL, _DESCRIPTOR = b"PK\x03\x04", b"PK\x01\x02", b"PK\x07\x08"
_ENDS = (_CENTRAL, b"PK\x05\x06", b"PK\x06\x06")  # where the entries end: the directory, an end record
HEAD = 4096  # an entry's first bytes, to tell a head the walker knows (detect.HEAD_SIZE)


class Level:
    """One stream level's bytes, read from below a chunk at a time (looked through for names then, once:
    ``look``; False where the level above looks through the same bytes) and handed out as asked, with
    push-back. ``names``/``span``: the look its inflated entries' levels get. ``head``: its first bytes,
    already read from ``read`` (looked through with the bytes after them). ``pos``: bytes handed out."""

    def __init__(self, read: Callable[[int], bytes], names: Callable[[bytes], bool], span: int, look: bool = True,
                 head: bytes = b""):
        self._read, self.names, self.span, self._look = read, names, span, look
        self._held: list[list] = [[head, 0]] if head else []  # [bytes, position] segments, the next to hand out last
        self._tail = head if look else b""
        self.pos = 0

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
        self.pos += len(out)
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
            self.pos -= len(data)

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


def _entries(src: Level, level: int) -> None:
    """Follow the local entries of the ZIP ``src`` reads, then its central directory to the stream's
    end (:func:`data_zip_records.check_directory`: it must name just the entries followed); raise
    :class:`Found` when one holds an APK, or when they cannot be followed so (the walker reads it and
    says why)."""
    followed = Followed()
    while True:
        at, sig = src.pos, src.exact(4)
        if sig in _ENDS:
            src.unread(sig)
            check_directory(src, at, followed)
            return
        header = src.exact(26) if sig == _LOCAL else None
        if header is None:
            raise Found  # padding, another record, or the bytes end: not followed, so walked
        flags, method = struct.unpack_from("<HH", header, 2)
        packed, size = struct.unpack_from("<II", header, 14)
        name_len, extra_len = struct.unpack_from("<HH", header, 22)
        meta = src.exact(name_len + extra_len)
        if meta is None:
            raise Found
        if not flags & 8 and 0xFFFFFFFF in (packed, size):
            packed, size = local_zip64_sizes(packed, size, meta[name_len:])
        if method != 0:  # every method but stored is inflated, as the walker and Android read it
            sizes = _deflated(src, None if flags & 8 else packed, level)
            if sizes is None or (flags & 8 and not _descriptor(src)):
                raise Found
            packed, size = sizes if flags & 8 else (packed, size)
        elif flags & 8:
            packed = size = _stored_to_descriptor(src)  # its descriptor read with it
        elif packed != size or not _stored(src, size, level):
            raise Found  # the walker reads a stored entry's uncompressed size, the look its compressed one
        followed.add(at, meta[:name_len], method, packed, size)


def _stored_to_descriptor(src: Level) -> int:
    """A stored entry whose size only its data descriptor gives (Go's ``archive/zip`` writes every
    entry so): read to the first signed descriptor whose CRC and size match the bytes before it
    (the CRC carried forward, linear). A ZIP or a head the walker knows inside it, or no such
    descriptor: :class:`Found` (walked rather than followed blind). Returns the entry's size."""
    head = _head(src.read, HEAD)
    if _is_zip(head) or _known(head):
        raise Found
    src.unread(head)
    crc, size, held = 0, 0, b""
    while True:
        data = src.read(CHUNK)
        if not data:
            raise Found
        buf, done, at = held + data, 0, 0
        while (at := buf.find(_DESCRIPTOR, at)) >= 0 and at + 16 <= len(buf):
            crc, done = zlib.crc32(buf[done:at], crc), at
            if struct.unpack_from("<II", buf, at + 4) == (crc, size + at):
                src.unread(buf[at + 16:])  # 32-bit sizes; the next record is checked as any
                return size + at
            at += 1
        keep = max(len(buf) - 15, done) if at < 0 else at  # a descriptor may straddle two reads
        crc, size, held = zlib.crc32(buf[done:keep], crc), size + keep, buf[keep:]


def _head(read: Callable[[int], bytes], n: int = 4, out: bytes = b"") -> bytes:
    while len(out) < n and (data := read(n - len(out))):
        out += data
    return out


def _is_zip(head: bytes) -> bool:
    """The walker's own ZIP-head test (review 70 F6: an end record first is a ZIP's head too)."""
    from apkscan.sources import detect

    return detect.is_zip(head)


def _known(head: bytes) -> bool:
    from apkscan.sources import polyglot

    return polyglot.known_head(head) is not None


def _content(read: Callable[[int], bytes], src: Level, level: int, look: bool, ends: bool | None = None) -> bool:
    """An entry's bytes (``read``): a ZIP's followed as a level of its own (``look``: its bytes looked
    through for names there, not above), past :data:`LEVELS` yes; a layer the walker opens (a
    compression stream, a tar) followed as the walker follows it, its contents looked at again one
    level deeper (:mod:`data_layers`; any other head the walker knows: yes). Bytes so read are read
    to their end and yes when their last bytes open as a ZIP from its end, as the walker reads them
    (``ends``: for every head, as the walker reads bytes in place; None: known heads only; False: none,
    the caller judges the end). False: passed over unread."""
    head = _head(read)
    if _is_zip(head):
        if head != _LOCAL or level + 1 >= LEVELS:
            raise Found  # an end record first, or deeper than the look goes: walked (CONTAINER_TOO_DEEP, or found)
        inner = Level(read, src.names, src.span, look=look, head=head)
        _entries(inner, level + 1)
        inner.drain()
        return True
    head = _head(read, HEAD, head)
    kind = kind_of(head)
    if kind is None and not ends:
        return False
    kept = _Kept(read, head)
    if kind is not None:
        if level + 1 >= LEVELS:
            raise Found  # deeper than the look goes: the walker reads it and says so
        data_layers.follow(kind, kept.read, lambda inner, deeper: _content(inner, src, deeper, True, True), level)
    kept.drain()
    if ends is not False and kept.opens_as_zip():
        raise Found
    return True


def kind_of(head: bytes) -> str | None:
    """What the walker opens bytes of this head as: a compression's name, ``tar``, another known head's
    label (followed by no one here: walked), or None (not an input)."""
    from apkscan.sources import detect, registry

    if (comp := registry.compression(head)) is not None:
        return comp
    return "tar" if detect.is_tar(head) else "known" if _known(head) else None


class _Kept:
    """Bytes read through (``head`` first), their last ``polyglot.KEEP`` kept and their length counted."""

    def __init__(self, read: Callable[[int], bytes], head: bytes):
        self._read, self._first, self.tail, self.total, self.start = read, head, b"", 0, b""

    def read(self, n: int) -> bytes:
        if self._first:
            out, self._first = self._first[:n], self._first[n:]
        else:
            out = self._read(n)
        from apkscan.sources import polyglot

        if len(self.start) < 4:
            self.start += out[:4 - len(self.start)]
        self.tail, self.total = (self.tail + out)[-polyglot.KEEP:], self.total + len(out)
        return out

    def drain(self) -> None:
        while self.read(CHUNK):
            walkclock.check()

    def opens_as_zip(self) -> bool:
        from apkscan.sources import polyglot

        return polyglot.zip_end_in_tail(self.tail, self.total)


def stream_look(read: Callable[[int], bytes], names: Callable[[bytes], bool], span: int) -> str | None:
    """Bytes of any head read once from their first byte (a data-named file): ``"content"`` when they
    hold an APK by name or by content, as :func:`_content` follows them, or cannot be followed;
    ``"end"`` when only their last bytes open as a ZIP that may hold one (``polyglot.apk_end_in_tail``, as the
    walker judges a stream's end before reading it again);
    None: data, as the walker would take them."""
    kept = _Kept(read, b"")
    try:
        _content(kept.read, Level(lambda n: b"", names, span), 0, True, ends=False)
        kept.drain()
    except Found:
        return "content"
    from apkscan.sources import polyglot

    ended = kept.total >= 22 and not _is_zip(kept.start) and polyglot.apk_end_in_tail(kept.tail, kept.total)
    return "end" if ended else None  # a ZIP followed whole is judged by what it holds


def _deflated(src: Level, size: int | None, level: int) -> tuple[int, int] | None:
    """A deflated entry: its inflated bytes as :func:`_content` reads them; any other passed over, by
    its compressed ``size`` when known, else inflated to its end. Returns (compressed, inflated) bytes
    read (the latter whole only when ``size`` is None); None: where the next entry starts is not known."""
    body = _Inflating(src, size)
    if not _content(body.read, src, level, look=True) and size is None:
        Level(body.read, src.names, src.span, look=False).drain()
    if size is not None:
        return (size, body.made) if src.skip(size - body.used) else None
    return (body.used, body.made) if body.ended else None


def _stored(src: Level, size: int, level: int) -> bool:
    """A stored entry of ``size`` bytes, as :func:`_content` reads them (looked through for names at
    this level already), passed over to its end."""
    left = [size]

    def read(n: int) -> bytes:
        data = src.read(min(n, left[0])) if left[0] > 0 else b""
        left[0] -= len(data)
        return data

    _content(read, src, level, look=False, ends=size >= 22)
    return src.skip(left[0])


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


def known_layer(head: bytes) -> bool:
    """A head the walker opens as a layer or a stream format (a gzip, a tar, an adb backup ...)."""
    return kind_of(head) is not None


def look_into(read: Callable[[int], bytes], names: Callable[[bytes], bool], span: int, level: int) -> None:
    """Bytes of an entry at ``level``, read once as :func:`_content` reads a deflated entry's:
    :class:`Found` when they hold an APK or cannot be followed."""
    _content(read, Level(lambda n: b"", names, span), level, True)
