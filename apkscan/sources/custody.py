"""Custody records: which outermost files were read, their size and SHA-256.

An APK's hash is left to the scan (its identity pass computes it anyway); any other
outermost file is hashed in one streamed pass, so the report can prove which bytes the
results came from. The walker makes the record once it knows what the file is.
"""

from __future__ import annotations

import hashlib

from apkscan.sources import detect
from apkscan.sources.interface import InputFile


def record(path: str, size: int, kind: str) -> InputFile:
    return InputFile(path, size, kind, None if kind == detect.APK else sha256_file(path))


def sha256_file(path: str) -> str:
    """Streamed SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
