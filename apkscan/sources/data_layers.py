"""The layers the walker opens under a ZIP, followed by the data look (:mod:`data_zip`) as the walker
follows them: a compression stream (gzip, bzip2, xz) inflated as it passes, a tar's members stepped
through by their headers. Each layer's bytes are handed to the look again (``content``), one level
deeper, so an APK behind ``tar.gz`` or ``gzip`` under a data name is found as ``apkscan scan`` finds it
(review 72 F1, F3, F11). Whatever the look cannot follow so (a head the walker knows but this module
does not follow, a corrupt stream or header, a bomb's ratio) raises :class:`Found`: the walker reads it
and says what it is, never a silent "data". Memory: one chunk a layer.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from apkscan.sources import walkclock
from apkscan.sources.data_zip_records import Found

CHUNK = 1 << 20
MAX_RATIO, FREE = 200, 64 << 20  # the walker's bomb rule, as data_zip's
_REGULAR = (b"0", b"\0", b"7")
_HIGH = bytes(range(128, 256))  # bytes a signed-char checksum counts negative
_SKIPPED = (b"1", b"2", b"3", b"4", b"5", b"6", b"x", b"g", b"L", b"K")  # no data of a file of their own

Read = Callable[[int], bytes]
Content = Callable[[Read, int], None]


def follow(kind: str, read: Read, content: Content, level: int) -> None:
    """Bytes whose head says ``kind`` (``registry.compression`` or ``"tar"``): each layer's bytes to
    ``content(read, level + 1)``; any other kind raises :class:`Found` (the walker reads it)."""
    if kind == "tar":
        _tar(read, content, level)
    elif kind in ("gzip", "bzip2", "xz"):
        content(_Decompressed(kind, read).read, level + 1)
    else:
        raise Found


def _decompressor(kind: str):
    """(a decompressor, the errors it raises on bad data); bz2 and lzma imported when met: ``apkscan
    inspect`` loads neither (test_startup_imports)."""
    if kind == "gzip":
        return zlib.decompressobj(31), (zlib.error,)
    if kind == "bzip2":
        import bz2

        return bz2.BZ2Decompressor(), (OSError, EOFError, ValueError)
    import lzma

    return lzma.LZMADecompressor(), (lzma.LZMAError, EOFError, ValueError)


class _Decompressed:
    """A compression stream's bytes inflated as read, members one after another (gzip and bzip2 may
    hold several; zero padding after the last is passed over); a corrupt or cut stream: :class:`Found`."""

    def __init__(self, kind: str, read: Read):
        self._kind, self._read = kind, read
        self._d, self._errors = _decompressor(kind)
        self._pending, self.used, self.made = b"", 0, 0

    def _hungry(self) -> bool:
        return not self._pending and (self._kind == "gzip" or self._d.needs_input or self._d.eof)

    def read(self, n: int) -> bytes:
        out = b""
        while not out:
            walkclock.check()
            if self._hungry():
                self._pending = self._read(CHUNK)
                self.used += len(self._pending)
                if not self._pending:
                    if self._d.eof:
                        return b""
                    raise Found  # cut short: the walker says so
            if self._d.eof:  # another member, or padding
                if not self._pending.strip(b"\0"):
                    self._pending = b""
                    continue
                self._d, self._errors = _decompressor(self._kind)
            out = self._inflate(n)
        self.made += len(out)
        if self.made > FREE and self.made > MAX_RATIO * max(self.used, 1):
            raise Found  # a bomb's ratio: the walker refuses it (CONTAINER_BOMB)
        return out

    def _inflate(self, n: int) -> bytes:
        data, self._pending = self._pending, b""
        try:
            out = self._d.decompress(data, n)
        except self._errors:
            raise Found from None
        if self._kind == "gzip":
            self._pending = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
        elif self._d.eof:
            self._pending = self._d.unused_data
        return out


def _octal(field: bytes) -> int:
    """A tar number: octal text, or base-256 when its first bit is set (GNU, POSIX for large sizes)."""
    if field[:1] and field[0] & 0x80:
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise Found from None  # a header the walker's tar reader refuses: it says so


def _tar(read: Read, content: Content, level: int) -> None:
    """Step through a tar's headers; each regular member's bytes to ``content``. A header whose
    checksum does not match, a member cut short, or a header past the end-of-archive marker (``cat
    a.tar b.tar`` hid WeChat in every layout's data file): :class:`Found` (the walker reads it and says so)."""
    while True:
        block = _exact(read, 512)
        if not block.strip(b"\0"):
            _past_end(read)  # the end blocks, or the end of the bytes after a whole member
            return
        if len(block) < 512:
            raise Found  # a header cut short: the walker says so
        if _octal(block[148:156]) != sum(block[:148]) + 256 + sum(block[156:]):
            raise Found
        size, kind = _octal(block[124:136]), block[156:157]
        if kind not in _REGULAR and kind not in _SKIPPED:
            raise Found  # sparse, or a type the look does not step over: walked
        left = [size if kind in _REGULAR else 0]

        def member(n: int) -> bytes:
            data = read(min(n, left[0])) if left[0] > 0 else b""
            left[0] -= len(data)
            return data

        if kind in _REGULAR:
            content(member, level + 1)
        if not _skip(read, left[0] + (size if kind not in _REGULAR else 0) + (-size % 512)):
            raise Found


def _past_end(read: Read) -> None:
    """The blocks after an end-of-archive marker, as the walker reads them (``tar -i``): one that is a
    header (its checksum holds) raises :class:`Found`, so the walker reads the member there and says
    ``TAMPER_TAR_PAST_END``; zeros and junk are passed over (the bytes' end is judged by the caller)."""
    while len(block := _exact(read, 512)) == 512:
        walkclock.check()
        if block.strip(b"\0") and _checksum_holds(block):
            raise Found


def _checksum_holds(block: bytes) -> bool:
    """Whether a 512-byte block's checksum field matches its bytes, signed or unsigned, as ``tarfile``
    accepts a header (a field that is no number: no header)."""
    try:
        field = _octal(block[148:156])
    except Found:
        return False
    rest = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(rest)
    return field == unsigned or field == unsigned - 256 * (len(rest) - len(rest.translate(None, _HIGH)))


def _exact(read: Read, n: int) -> bytes:
    out = b""
    while len(out) < n and (data := read(n - len(out))):
        out += data
    return out


def _skip(read: Read, n: int) -> bool:
    while n > 0:
        walkclock.check()
        data = read(min(n, CHUNK))
        if not data:
            return False
        n -= len(data)
    return True
