"""gzip, bzip2, xz (and zstd where Python ships it) as transparent, bounded layers.

A compressed stream is not a container with members: it is the same file, decompressed.
The walker classifies what comes out (a tar, an APK, a Titanium ``.apk.gz``...) under the
same chain, one nesting level deeper (a gzip quine must hit the depth bound). Every
decompressed byte is charged to the outer input's inflation budget and the ratio is
watched, so a bomb stops with ``CONTAINER_BOMB`` instead of filling memory or disk.

gzip, bzip2 and xz are decoded frame by frame (:class:`Frames`), as ``gunzip``, ``bunzip2`` and
``unxz`` read them: frames back to back are one stream, and bytes after the last frame that
start no other frame are not an error but trailing data, counted and said
(``CONTAINER_TRAILING_DATA``, :func:`trailing_issue`), the data before them kept. Review 54 F5:
``gzip.GzipFile`` raised on such bytes, so an intact APK with a few bytes appended became
``CONTAINER_CORRUPT``, while ``bz2``/``lzma`` dropped the same bytes without a word.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO

from apkscan.issues import Issue, LimitExceeded, tamper
from apkscan.sources import walkclock
from apkscan.sources.streams import Budgeted, Counting, InflateBudget, _Readable

CHUNK = 64 * 1024
MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}
TOOL = {"gzip": "gunzip", "bzip2": "bunzip2", "xz": "unxz"}


def _zstd_open(raw: BinaryIO) -> BinaryIO:
    """Python 3.14's ``compression.zstd``, else the ``zstandard`` package if installed; no new dependency."""
    try:
        from compression import zstd  # Python >= 3.14 standard library

        return zstd.ZstdFile(raw)
    except ImportError:
        pass
    try:
        import zstandard
    except ImportError:
        raise LimitExceeded("CONTAINER_UNSUPPORTED_COMPRESSION",
                            "a zstd stream: no zstd decoder here (Python 3.14+, or the zstandard package)") from None
    return zstandard.ZstdDecompressor().stream_reader(raw)


class _Gzip:
    """``zlib.decompressobj`` for one gzip member, with the interface of bz2's and lzma's decompressors."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(wbits=31)

    @property
    def eof(self) -> bool:
        return self._z.eof

    @property
    def needs_input(self) -> bool:
        return not self._z.unconsumed_tail

    @property
    def unused_data(self) -> bytes:
        return self._z.unused_data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._z.decompress(self._z.unconsumed_tail + data, max_length)


def _decoder(kind: str) -> Any:  # each decoder imported when a stream needs it
    if kind == "gzip":
        return _Gzip()
    if kind == "bzip2":
        import bz2

        return bz2.BZ2Decompressor()
    import lzma

    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)


class Frames(_Readable):
    """One codec's frames back to back (gzip members, bzip2 or xz streams), read in bounded pieces.

    After the last frame: the end of ``raw``, or bytes that start no frame, which are read to
    the end only to be counted (:attr:`trailing`; xz's own stream padding, zeros in fours, is
    part of the format and not counted). A frame cut short raises ``EOFError`` (the walker's
    ``CONTAINER_CORRUPT``)."""

    def __init__(self, raw: BinaryIO, kind: str, decoder: Callable[[str], Any] = _decoder):
        self._raw, self.kind, self._new = raw, kind, decoder
        self._d = decoder(kind)
        self._pending = b""
        self._done = False
        self.trailing = 0  # bytes after the last frame
        self.trailing_zero = True  # ... all of them zero bytes

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        while n and not self._done:
            if self._d.eof:
                self._next_frame()
                continue
            data = b""
            if self._d.needs_input:
                data, self._pending = self._pending or self._input(), b""
            out = self._d.decompress(data, n)  # zlib may still hold output when its input is used up
            if out:
                return out
            if not data and self._d.needs_input and not self._d.eof:
                raise EOFError(f"{self.kind} stream ends before its end-of-stream marker")
        return b""

    def _input(self) -> bytes:
        walkclock.check()  # each compressed chunk (empty frames yield nothing for many)
        return self._raw.read(CHUNK)

    def _next_frame(self) -> None:
        rest, magic = self._d.unused_data, MAGIC[self.kind]
        while len(rest) < len(magic) and (more := self._input()):
            rest += more
        if rest.startswith(magic):
            self._d, self._pending = self._new(self.kind), rest
            return
        self._done = True
        while rest:
            self.trailing += len(rest)
            self.trailing_zero = self.trailing_zero and not rest.strip(b"\0")
            rest = self._input()
        if self.kind == "xz" and self.trailing_zero and self.trailing % 4 == 0:
            self.trailing = 0  # xz stream padding


def trailing_issue(stream: BinaryIO) -> Issue | None:
    """The fact for bytes after the last frame of a stream :func:`decompressed` returned, once it
    was read to its end (None before, and when there are none)."""
    frames = getattr(stream, "frames", None)
    if frames is None or not frames.trailing:
        return None
    what = "zero bytes" if frames.trailing_zero else "bytes"
    return tamper("CONTAINER_TRAILING_DATA", f"{frames.trailing} {what} after the end of the {frames.kind} stream: "
                  f"not part of it; the data before them is read, as {TOOL[frames.kind]} reads it "
                  "(it warns: trailing garbage ignored)")


def decode_errors() -> tuple[type[BaseException], ...]:
    """Errors the decoders raise on corrupt or truncated data (lzma's once a stream needed lzma)."""
    lz = sys.modules.get("lzma")
    return (OSError, EOFError, ValueError, zlib.error, *((lz.LZMAError,) if lz is not None else ()))


def decompressed(kind: str, raw: BinaryIO, budget: InflateBudget) -> BinaryIO:
    """The decompressed stream of ``raw``, charged to ``budget``; for gzip, bzip2 and xz its
    ``frames`` attribute is the :class:`Frames` decoder (see :func:`trailing_issue`)."""
    counted = Counting(raw)
    frames = Frames(counted, kind) if kind in MAGIC else None
    out = Budgeted(frames if frames is not None else _zstd_open(counted), counted, budget)
    out.frames = frames  # type: ignore[attr-defined]
    return out
