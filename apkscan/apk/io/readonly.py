"""Opening evidence for reading without changing it, access times included.

A plain read updates a file's access time (with ``relatime``, whenever it is older than the
modification time or a day old), and an examiner's before/after listing then shows the scan
touched every file it read (review 49 F7). ``O_NOATIME`` asks Linux not to; the kernel allows
it only to the file's owner (or with CAP_FOWNER) and refuses it with EPERM otherwise, and
some filesystems (NFS) ignore it: then the file is opened plainly, as before. Nothing is
ever opened for writing here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

_NOATIME = getattr(os, "O_NOATIME", 0)
_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def open_fd(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor of ``path``, without touching its access time where allowed."""
    if _NOATIME:
        try:
            return os.open(path, _READ | _NOATIME)
        except PermissionError:
            pass  # not the owner: O_NOATIME is refused, a plain open may not be
    return os.open(path, _READ)


@contextmanager
def listing(path: str | os.PathLike[str]) -> Iterator[Iterator[os.DirEntry]]:
    """``os.scandir(path)`` through a folder descriptor opened with ``O_NOATIME`` where allowed:
    reading a folder's entries moves its access time as reading a file's bytes does (review 51 F4)."""
    fd = None
    if _NOATIME:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _NOATIME)
        except PermissionError:
            fd = None
    if fd is None:
        with os.scandir(path) as it:
            yield it
        return
    try:
        with os.scandir(fd) as it:
            yield it
    finally:
        os.close(fd)


def open_binary(path: str | os.PathLike[str], buffering: int = -1) -> BinaryIO:
    """:func:`open_fd` as a binary file object (``open(path, "rb")``)."""
    return os.fdopen(open_fd(path), "rb", buffering=buffering)


def same_file(first: os.stat_result | None, then: os.stat_result) -> bool:
    """Whether two descriptors' stats name one file, unchanged between them (while both are open an
    inode number is not reused). The walker reads a file's head and then the file through two
    opens: a folder swapped between them (final review 2, F1) would have a tar taken for "one
    plain APK" by another file's head."""
    return first is not None and all(getattr(first, a) == getattr(then, a)
                                     for a in ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns"))
