"""gzip, bzip2, xz (and zstd where Python ships it) as transparent, bounded layers.

A compressed stream is not a container with members: it is the same file, decompressed.
The walker classifies what comes out (a tar, an APK, a Titanium ``.apk.gz``...) under the
same chain, one nesting level deeper (a gzip quine must hit the depth bound). Every
decompressed byte is charged to the outer input's inflation budget and the ratio is
watched, so a bomb stops with ``CONTAINER_BOMB`` instead of filling memory or disk.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
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


OPENERS = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "bzip2": lambda raw: bz2.BZ2File(raw),
    "xz": lambda raw: lzma.LZMAFile(raw),
    "zstd": _zstd_open,
}

# Errors the decoders raise on corrupt or truncated data.
DECODE_ERRORS = (OSError, EOFError, lzma.LZMAError, ValueError, zlib.error)


def decompressed(kind: str, raw: BinaryIO, budget: InflateBudget) -> BinaryIO:
    """The decompressed stream of ``raw``, charged to ``budget``."""
    counted = Counting(raw)
    return Budgeted(OPENERS[kind](counted), counted, budget)
