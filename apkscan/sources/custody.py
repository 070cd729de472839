"""Custody records: which outermost files were read, their size and SHA-256.

An APK's hash is left to the scan (its identity pass computes it anyway); any other
outermost file is hashed in one streamed pass, so the report can prove which bytes the
results came from. The walker makes the record once it knows what the file is.

The hash covers exactly the bytes the walk reads: the window (the size the walk's ``fstat``
gave), through a descriptor that must be the file whose head was classified, unchanged from
the first chunk to the last (review 66 F1: a separate open by path hashed to its end, so a file
renamed over, grown, or a ``/proc`` file gave a hash of other bytes than those scanned). Every
later read of the file is held to the same stat (:func:`apkscan.apk.io.readonly.held`).
"""

from __future__ import annotations

import hashlib
import os

from apkscan.apk.io.readonly import changed, check_held, open_fd, same_file
from apkscan.sources import detect
from apkscan.sources.interface import InputFile
from apkscan.sources.streams import WindowStream


def record(path: str, size: int, kind: str, expect: os.stat_result | None = None) -> InputFile:
    """``size``: the bytes the walk reads (its descriptor's ``fstat``); ``expect``: the stat they
    must be read under (else the path's :func:`~apkscan.apk.io.readonly.held` stat)."""
    if kind in (detect.APK, detect.AAB):  # hashed by identify's own pass
        return InputFile(path, size, kind)
    return InputFile(path, size, kind, sha256_window(path, size, expect), "this run")


def head_of(path: str, follow: bool = True, listed: os.stat_result | None = None) -> tuple[bytes, os.stat_result]:
    """The first bytes of ``path`` and the stat custody holds it to, from one descriptor opened
    non-blocking as a regular file only (a FIFO that took a listed name blocked the walk forever,
    review 66 F4; ``follow=False``: nor a symlink), the file its folder's listing saw (``listed``,
    review 68 F2). The head is cut to the stat's size (a ``/proc`` file of size 0 is its 0 bytes)."""
    fd = open_fd(path, regular=True, follow=follow, listed=listed)
    try:
        st = os.fstat(fd)
        head = os.pread(fd, detect.HEAD_SIZE, 0)
        check_held(fd, st)
    finally:
        os.close(fd)
    return head[: st.st_size], st


def sha256_window(path: str, size: int, expect: os.stat_result | None = None, offset: int = 0) -> str:
    """SHA-256 of exactly the ``size`` bytes at ``offset``, each chunk checked against the custody
    stat after its read, and the file checked once more after the last (whoever acts on the
    digest, as the store does on a hit, acts on bytes the stat still names: review 68 F3); fewer
    bytes than ``size`` is ``INPUT_CHANGED_DURING_SCAN``."""
    h, got = hashlib.sha256(), 0
    with WindowStream(path, offset, size, expect) as ws:
        while chunk := ws.read(1 << 20):
            h.update(chunk)
            got += len(chunk)
        if got != size or (expect is not None and not same_file(expect, ws.stat())):
            raise changed()
    return h.hexdigest()
