"""Random-access, bounded reads over a file, so no APK is ever loaded whole."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from apkscan.apk.io.readonly import check_held, held_stat, open_fd
from apkscan.issues import ApkFormatError, LimitExceeded

CHUNK = 1 << 20


class ByteSource:
    """A read-only view of ``size`` bytes with positional reads (``os.pread``).

    Every byte of an input flows through ``read``, so this is also where the
    per-input time budget is enforced: set ``deadline`` (a ``time.monotonic()``
    value) and reads past it raise ``LimitExceeded("INPUT_TIMEOUT")``.

    A *window* (``offset``, ``length``) makes the bytes ``[offset, offset+length)`` of the
    file look like a whole file: every offset a reader sees (EOCD, central directory,
    signing block) is relative to the window, so an APK stored uncompressed inside a ZIP
    is read in place exactly as if it had been extracted.

    ``expect`` (or the custody stat of an outermost file being walked here): the file opened must
    be that one, unchanged; :meth:`verify` checks it again after a read whose bytes are trusted,
    and so does every chunk of :meth:`iter_range` (review 66 F1).
    """

    deadline: float | None = None
    expired: bool = False  # the budget ran out at least once, even if a reader caught the error
    _base: int = 0

    def __init__(self, path: str | os.PathLike[str], offset: int = 0, length: int | None = None,
                 expect: os.stat_result | None = None):
        self.path = os.fspath(path)
        self.expect = expect or held_stat(self.path)
        self._fd = open_fd(self.path, regular=True, expect=self.expect)  # read-only, access time left alone
        file_size = os.fstat(self._fd).st_size
        if length is None:
            length = file_size - offset
        if offset < 0 or length < 0 or offset + length > file_size:
            os.close(self._fd)
            self._fd = -1
            raise ApkFormatError("ZIP_OUT_OF_BOUNDS", f"window {offset}+{length} is outside the {file_size}-byte file")
        self._base = offset
        self.size = length

    def stat(self) -> os.stat_result:
        """The opened file's own stat (not the path's: the path may name another file by now)."""
        return os.fstat(self._fd)

    def verify(self) -> None:
        """``INPUT_CHANGED_DURING_SCAN`` unless the file is still the expected one, unchanged."""
        if self._fd >= 0:
            check_held(self._fd, self.expect)

    def check_deadline(self) -> None:
        """Raise once the input's time budget is spent (called from long loops too)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.expired = True
            raise LimitExceeded("INPUT_TIMEOUT", "time budget for this input exhausted")

    def _check_read(self, offset: int, length: int) -> None:
        """Every read passes here: the time budget, then the bounds."""
        self.check_deadline()
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ApkFormatError(
                "ZIP_OUT_OF_BOUNDS",
                f"read of {length} bytes at offset {offset} is outside the {self.size}-byte input",
            )

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``, or ``ApkFormatError`` if out of range."""
        self._check_read(offset, length)
        first = os.pread(self._fd, length, self._base + offset)
        if len(first) == length:  # the usual case: the kernel's copy is the only one
            return first
        out = bytearray(first)
        while len(out) < length:
            chunk = os.pread(self._fd, min(length - len(out), 16 * CHUNK), self._base + offset + len(out))
            if not chunk:
                raise ApkFormatError("ZIP_OUT_OF_BOUNDS", "file shrank while being read")
            out += chunk
        return bytes(out)

    def readinto(self, offset: int, buffer: memoryview) -> None:
        """Fill ``buffer`` with the bytes at ``offset``: the kernel copies straight into a
        buffer the caller reuses (no allocation per read, no second copy)."""
        self._check_read(offset, len(buffer))
        done = 0
        while done < len(buffer):
            if not hasattr(os, "preadv"):  # no preadv (Windows): one extra copy
                n = len(chunk := os.pread(self._fd, len(buffer) - done, self._base + offset + done))
                buffer[done : done + n] = chunk
            else:
                n = os.preadv(self._fd, [buffer[done:]], self._base + offset + done)
            if n <= 0:
                raise ApkFormatError("ZIP_OUT_OF_BOUNDS", "file shrank while being read")
            done += n

    def iter_range(self, offset: int, length: int, chunk: int = CHUNK) -> Iterator[bytes]:
        """Yield ``[offset, offset+length)`` in chunks of at most ``chunk`` bytes."""
        end = offset + length
        if offset < 0 or length < 0 or end > self.size:
            raise ApkFormatError("ZIP_OUT_OF_BOUNDS", f"range {offset}+{length} outside file")
        pos = offset
        while pos < end:
            n = min(chunk, end - pos)
            data = self.read(pos, n)
            self.verify()  # a member inflated or copied from a walked file: still that file
            yield data
            pos += n

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "ByteSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BytesSource(ByteSource):
    """The same interface over bytes already in memory (small test inputs, nested entries)."""

    def __init__(self, data: bytes, path: str = "<memory>"):  # noqa: D107
        self.path = path
        self._data = memoryview(data)
        self.size = len(data)
        self._fd = -1
        self.expect = None

    def read(self, offset: int, length: int) -> bytes:
        self._check_read(offset, length)
        return bytes(self._data[offset : offset + length])

    def readinto(self, offset: int, buffer: memoryview) -> None:
        self._check_read(offset, len(buffer))
        buffer[:] = self._data[offset : offset + len(buffer)]

    def close(self) -> None:
        pass
