"""gzip, bzip2, xz (and zstd where Python ships it) as transparent, bounded layers.

A compressed stream is not a container with members: it is the same file, decompressed.
The walker classifies what comes out (a tar, an APK, a Titanium ``.apk.gz``...) under the
same chain, one nesting level deeper (a gzip quine must hit the depth bound). Every
decompressed byte is charged to the outer input's inflation budget and the ratio is
watched, so a bomb stops with ``CONTAINER_BOMB`` instead of filling memory or disk.
"""

from __future__ import annotations

import sys
import zlib
from typing import BinaryIO

from apkscan.issues import LimitExceeded
from apkscan.sources.streams import Budgeted, Counting, InflateBudget


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


def _gzip_open(raw: BinaryIO) -> BinaryIO:  # each decoder imported when a stream needs it
    import gzip

    return gzip.GzipFile(fileobj=raw, mode="rb")


def _bzip2_open(raw: BinaryIO) -> BinaryIO:
    import bz2

    return bz2.BZ2File(raw)


def _xz_open(raw: BinaryIO) -> BinaryIO:
    import lzma

    return lzma.LZMAFile(raw)


OPENERS = {"gzip": _gzip_open, "bzip2": _bzip2_open, "xz": _xz_open, "zstd": _zstd_open}


def decode_errors() -> tuple[type[BaseException], ...]:
    """Errors the decoders raise on corrupt or truncated data (lzma's once a stream needed lzma)."""
    lz = sys.modules.get("lzma")
    return (OSError, EOFError, ValueError, zlib.error, *((lz.LZMAError,) if lz is not None else ()))


def decompressed(kind: str, raw: BinaryIO, budget: InflateBudget) -> BinaryIO:
    """The decompressed stream of ``raw``, charged to ``budget``."""
    counted = Counting(raw)
    return Budgeted(OPENERS[kind](counted), counted, budget)
