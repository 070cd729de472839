"""Custody records: which outermost files were read, their size and SHA-256.

An APK's hash is left to the scan (its identity pass computes it anyway); a container is
hashed in one streamed pass, so the report can prove which bytes the results came from.
"""

from __future__ import annotations

import hashlib
import os

from apkscan.apk.bytesource import ByteSource
from apkscan.apk.zipreader import ZipArchive
from apkscan.issues import ApkScanError
from apkscan.sources import detect, registry
from apkscan.sources.interface import InputFile


def input_file(path: str, *, given: bool = False) -> InputFile | None:
    """The custody record of a local file, or None when it is no input (it will be skipped)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(detect.HEAD_SIZE)
    kind = outer_kind(path, head)
    if kind is None and not given:
        return None
    return InputFile(path, size, kind or "unknown", None if kind == detect.APK else sha256_file(path))


def outer_kind(path: str, head: bytes) -> str | None:
    """What an outermost file is (for custody records); None when it is no input."""
    if detect.is_zip(head):
        try:
            with ByteSource(path) as src:
                return detect.zip_kind([e.name for e in ZipArchive.open(src).entries])
        except (ApkScanError, OSError):
            return detect.APK  # a broken ZIP goes to identify, which says what is wrong
    comp = registry.compression(head)
    if comp:
        return comp
    fmt = registry.stream_format(head)
    if fmt:
        return fmt.kind
    return detect.APK if path.lower().endswith(".apk") else None


def sha256_file(path: str) -> str:
    """Streamed SHA-256 of a container (custody: the bytes the results came from)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
