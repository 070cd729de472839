"""Custody records: which outermost files were read, their size and SHA-256.

An APK's hash is left to the scan (its identity pass computes it anyway); any other
outermost file is hashed in one streamed pass, so the report can prove which bytes the
results came from. The walker makes the record once it knows what the file is.
"""

from __future__ import annotations

import hashlib

from apkscan.apk.io.readonly import open_binary
from apkscan.sources import detect, walkclock
from apkscan.sources.interface import InputFile


def record(path: str, size: int, kind: str) -> InputFile:
    if kind == detect.APK:
        return InputFile(path, size, kind)
    return InputFile(path, size, kind, sha256_file(path), "this run")


def sha256_file(path: str, offset: int = 0, length: int | None = None) -> str:
    """Streamed SHA-256 of a file, or of ``length`` bytes at ``offset`` (an APK stored in a ZIP)."""
    h = hashlib.sha256()
    left = -1 if length is None else length
    with open_binary(path) as fh:
        fh.seek(offset)
        while left and (chunk := fh.read(1 << 20 if left < 0 else min(1 << 20, left))):
            walkclock.check()  # hashing a container is walking it (a 100 GiB hole took 80 s)
            h.update(chunk)
            left -= len(chunk) if left > 0 else 0
    return h.hexdigest()
