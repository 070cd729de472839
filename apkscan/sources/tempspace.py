"""Private, bounded temporary space for members that must become files.

An APK (or a ZIP) inside a compressed stream has no bytes on disk to read in place; it is
copied here, scanned, and deleted right after. The folder is created with mode 0700 (by
``tempfile.mkdtemp``), files with 0600, and the bytes held at any moment never exceed the
user's ``--tmp-limit``: a member over the bound is an error for that member only.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from apkscan.issues import LimitExceeded

DEFAULT_TMP_LIMIT = 4 << 30
_LIVE: set[str] = set()  # every private folder in use: a file in one is deleted when its source moves on


def is_temporary(path: str) -> bool:
    """True for a file a :class:`TempSpace` made (a parallel scan copies windows into it first)."""
    return os.path.dirname(os.path.abspath(path)) in _LIVE


class TempSpace:
    def __init__(self, parent: str | None = None, limit: int = DEFAULT_TMP_LIMIT):
        self.parent, self.limit = parent, limit
        self._dir: str | None = None
        self.peak = 0  # most bytes held at once, for the benchmark and run metadata

    @property
    def dir(self) -> str:
        if self._dir is None:
            if self.parent:
                os.makedirs(self.parent, mode=0o700, exist_ok=True)
            import tempfile  # tempfile and shutil only once something is spooled: not at start-up

            self._dir = tempfile.mkdtemp(prefix="apkscan-", dir=self.parent)
            _LIVE.add(os.path.abspath(self._dir))
        return self._dir

    def used(self) -> int:
        """Bytes currently held (the folder holds a handful of files at most)."""
        if self._dir is None:
            return 0
        total = 0
        for entry in os.scandir(self._dir):
            try:
                total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                pass
        return total

    def spool(self, stream: BinaryIO, what: str) -> str:
        """Copy ``stream`` into a new private file; LimitExceeded (file removed) past the bound."""
        import tempfile

        room = self.limit - self.used()
        fd, path = tempfile.mkstemp(dir=self.dir, suffix=".part")
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = stream.read(1 << 20)  # the streams under it are the walk's checkpoints
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > room:
                        raise LimitExceeded("CONTAINER_TMP_LIMIT", f"{what} needs more than the {room} bytes of "
                                            f"temporary space left (--tmp-limit {self.limit})")
                    out.write(chunk)
            self.peak = max(self.peak, self.used())
            return path
        except BaseException:
            release(path)
            raise

    def adopt(self, path: str) -> str:
        """Move another TempSpace's file into this one (same file system: a rename, else a copy)."""
        import shutil
        import tempfile

        fd, target = tempfile.mkstemp(dir=self.dir, suffix=".part")  # a name of ours, never another file's
        os.close(fd)
        try:
            os.rename(path, target)
        except OSError:
            shutil.copyfile(path, target)
            release(path)
        self.peak = max(self.peak, self.used())
        return target

    def close(self) -> None:
        if self._dir is not None:
            import shutil

            _LIVE.discard(os.path.abspath(self._dir))
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def release(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
