"""Small readable streams the container readers pass along, all bounded.

Containers are streamed, never read whole: a ZIP entry's inflated chunks, a window of a
local file, a stream whose first bytes were already read to classify it, and a counter
that stops decompression past the run's inflation budget (bombs).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import BinaryIO

from apkscan.apk.io.readonly import changed as changed_error, check_held, held_stat, open_fd
from apkscan.issues import LimitExceeded
from apkscan.sources import walkclock


class _Readable(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class IterStream(_Readable):
    """A stream over an iterator of byte chunks (a ZIP entry being inflated)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            walkclock.check()  # a ZIP member's inflated chunks (a tar in it is skipped through by reading)
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


class WindowStream(_Readable):
    """``[offset, offset+length)`` of a local file, read with ``pread``. Of an outermost file being
    walked (:func:`~apkscan.apk.io.readonly.held`), every chunk is checked after its read: the
    file is still the one its custody stat names, unchanged (one ``fstat`` per MiB). ``listed``: a
    folder's file, opened without following a symlink, must be the file its listing saw."""

    def __init__(self, path: str, offset: int, length: int, expect: os.stat_result | None = None,
                 listed: os.stat_result | None = None):
        # checked against the custody stat when held
        self._fd = open_fd(path, regular=True, follow=listed is None, expect=expect, listed=listed)
        self._expect = expect or held_stat(path)
        self._pos, self._end = offset, offset + length

    def stat(self) -> os.stat_result:
        return os.fstat(self._fd)

    def read(self, n: int = -1) -> bytes:
        walkclock.check()  # at the end of the window too: tarfile skips a member by reading on (review 61 F2)
        left = self._end - self._pos
        n = left if n < 0 else min(n, left)
        if n <= 0:
            return b""
        data = os.pread(self._fd, min(n, 1 << 20), self._pos)
        check_held(self._fd, self._expect)  # after the read: a write during it moved mtime or size
        if not data and self._expect is not None:
            raise changed_error()  # the window ends past the file's end: it shrank
        self._pos += len(data)
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


class Prefixed(_Readable):
    """``head`` (already read to classify the stream) followed by the rest of ``raw``."""

    def __init__(self, head: bytes, raw: BinaryIO):
        self._head, self._raw = head, raw

    def read(self, n: int = -1) -> bytes:
        walkclock.check()
        if self._head:
            if n < 0:
                out, self._head = self._head + self._raw.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._raw.read(n)

    def close(self) -> None:
        self._raw.close()
        super().close()


def read_head(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes (fewer only at the end of the stream)."""
    parts, got = [], 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class InflateBudget:
    """Decompressed bytes allowed for one outermost input, and the ratio that marks a bomb."""

    def __init__(self, max_bytes: int, max_ratio: int, ratio_floor: int = 64 << 20):
        self.max_bytes, self.max_ratio, self.ratio_floor = max_bytes, max_ratio, ratio_floor
        self.used = 0

    def check_declared(self, name: str, compressed: int, uncompressed: int) -> None:
        """Refuse a ZIP member whose declared sizes already say "bomb"."""
        if uncompressed > self.ratio_floor // 64 and uncompressed > self.max_ratio * max(compressed, 1):
            raise LimitExceeded("CONTAINER_BOMB", f"{name!r} declares {uncompressed} bytes from {compressed} "
                                f"(ratio over {self.max_ratio}): a decompression bomb")
        if self.used + uncompressed > self.max_bytes:
            raise LimitExceeded("CONTAINER_INFLATE_LIMIT", f"{name!r} would take the bytes inflated from this "
                                f"input over the {self.max_bytes}-byte limit")

    def charge(self, produced: int) -> None:
        walkclock.check()  # every inflated chunk is a checkpoint of the walk's time budget
        self.used += produced
        if self.used > self.max_bytes:
            raise LimitExceeded("CONTAINER_INFLATE_LIMIT", f"more than {self.max_bytes} bytes inflated from this input")

    def refund(self, charged: int) -> None:
        """Give back what was charged for a member that is not inflated after all (another name
        for data already read)."""
        self.used = max(0, self.used - charged)

    def check_ratio(self, produced: int, consumed: int) -> None:
        if produced > self.ratio_floor and produced > self.max_ratio * max(consumed, 1):
            raise LimitExceeded("CONTAINER_BOMB", f"{produced} bytes inflated from {consumed} "
                                f"(ratio over {self.max_ratio}): a decompression bomb")


class Counting(_Readable):
    """Counts bytes read from ``raw`` (the compressed side of a decompressor)."""

    def __init__(self, raw: BinaryIO):
        self._raw, self.count = raw, 0

    def read(self, n: int = -1) -> bytes:
        walkclock.check()
        data = self._raw.read(n)
        self.count += len(data)
        return data


class Budgeted(_Readable):
    """The decompressed side: every byte is charged to the input's :class:`InflateBudget`."""

    def __init__(self, inner: BinaryIO, compressed: Counting, budget: InflateBudget):
        self._inner, self._compressed, self._budget = inner, compressed, budget
        self._produced = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        data = self._inner.read(n)
        self._produced += len(data)
        self._budget.charge(len(data))
        self._budget.check_ratio(self._produced, self._compressed.count)
        return data

    def close(self) -> None:
        self._inner.close()
        super().close()
