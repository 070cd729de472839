"""The body of an adb backup as a forward-only byte stream: decrypt, then inflate, lazily.

Nothing is read whole: the file is pulled in :data:`CHUNK`-sized reads, decrypted with
AES-256-CBC and PKCS#7-unpadded chunk by chunk, and inflated with ``zlib.decompressobj``
with ``max_length`` so one small compressed chunk can never expand into a large buffer.
Errors are sticky: once the body is found truncated or corrupt, every later read raises
the same :class:`BackupReadError`, so the tar reader and the member being read see one
consistent failure.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from apkscan.sources import walkclock

CHUNK = 64 * 1024
MAX_EXPANDED = 1 << 40  # 1 TiB of tar out of one backup: beyond any phone, far short of forever
# The walker's bomb bound (WalkOptions.max_ratio, InflateBudget's floor): past 64 MiB of tar, more
# than 200x the compressed bytes read is a decompression bomb, as for any gzip/ZIP member.
MAX_RATIO = 200
RATIO_FLOOR = 64 << 20


class BackupReadError(OSError):
    """The backup body cannot be read further; ``code`` is the stable issue code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def raw_chunks(stream: BinaryIO, prefix: bytes) -> Iterator[bytes]:
    """The file from the body's start, in bounded reads."""
    if prefix:
        yield prefix
    while True:
        try:
            chunk = stream.read(CHUNK)
        except OSError as exc:
            raise BackupReadError("INPUT_UNREADABLE", f"read failed: {exc}") from None
        if not chunk:
            return
        yield chunk


def decrypted_chunks(chunks: Iterator[bytes], key: bytes, iv: bytes) -> Iterator[bytes]:
    """AES-256-CBC + PKCS#7 over a chunk stream. The key was checked, so bad padding = damage."""
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    for chunk in chunks:
        out = unpadder.update(dec.update(chunk))
        if out:
            yield out
    try:
        tail = dec.finalize()
    except ValueError:
        raise BackupReadError("BACKUP_TRUNCATED", "truncated inside the encrypted body "
                              "(its length is not a whole number of AES blocks)") from None
    try:
        out = unpadder.update(tail) + unpadder.finalize()
    except ValueError:
        raise BackupReadError("BACKUP_TRUNCATED", "truncated or corrupt inside the encrypted body "
                              "(the last block has no valid padding)") from None
    if out:
        yield out


class Payload:
    """The tar stream inside the backup: ``read(n)`` returns at most ``n`` bytes."""

    def __init__(self, chunks: Iterator[bytes], compressed: bool, max_expanded: int = MAX_EXPANDED,
                 max_ratio: int = MAX_RATIO, ratio_floor: int = RATIO_FLOOR):
        self._chunks = chunks
        self._z = zlib.decompressobj() if compressed else None
        self._pending = b""
        self._failure: BackupReadError | None = None
        self._max = max_expanded
        self._max_ratio, self._ratio_floor = max_ratio, ratio_floor
        self.produced = 0  # payload bytes handed out
        self.consumed = 0  # body bytes taken in (compressed, when compressed)
        self.trailing = 0  # bytes after the end of the zlib stream (ignored, reported)

    def read(self, n: int = -1) -> bytes:
        if self._failure is not None:
            raise self._failure
        if n is None or n < 0:  # tarfile never does this; kept correct, still chunked
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        walkclock.check()  # each read of the payload (tarfile skips a member's data by reading it)
        try:
            out = self._read(n)
        except BackupReadError as exc:
            self._failure = exc
            raise
        self.produced += len(out)
        if self.produced > self._max:
            self._failure = BackupReadError("BACKUP_LIMIT_EXCEEDED", f"more than {self._max} bytes of payload")
            raise self._failure
        if (self._z is not None and self.produced > self._ratio_floor
                and self.produced > self._max_ratio * max(self.consumed, 1)):
            self._failure = BackupReadError("CONTAINER_BOMB", f"{self.produced} bytes of payload inflated from "
                                            f"{self.consumed} (ratio over {self._max_ratio}): a decompression bomb")
            raise self._failure
        return out

    def _next_chunk(self) -> bytes | None:
        walkclock.check()  # each chunk of the body (empty deflate blocks yield nothing for many)
        chunk = next(self._chunks, None)
        self.consumed += len(chunk or b"")
        return chunk

    def _read(self, n: int) -> bytes:
        while True:
            if self._z is None:
                if not self._pending:
                    chunk = self._next_chunk()
                    if chunk is None:
                        return b""
                    self._pending = chunk
                out, self._pending = self._pending[:n], self._pending[n:]
                return out
            if self._z.eof:
                return b""
            if not self._pending:
                chunk = self._next_chunk()
                if chunk is None:
                    raise BackupReadError("BACKUP_TRUNCATED", "truncated inside the zlib stream "
                                          f"(after {self.produced} bytes of payload)")
                self._pending = chunk
            out = self._inflate(n)
            if out:
                return out

    def _inflate(self, n: int) -> bytes:
        try:
            out = self._z.decompress(self._pending, n)
        except zlib.error as exc:
            raise BackupReadError("BACKUP_CORRUPT", f"corrupt zlib data after {self.produced} bytes "
                                  f"of payload: {exc}") from None
        self._pending = self._z.unconsumed_tail
        if self._z.eof:
            self.trailing += len(self._z.unused_data) + len(self._pending)
            self._pending = b""
        return out

    def check_trailing(self) -> None:
        """Look one chunk past the zlib stream's end: data hidden there is worth a word."""
        if self._z is None or not self._z.eof or self._failure is not None or self.trailing:
            return
        chunk = self._next_chunk()
        self.trailing += len(chunk or b"")
