"""Private, bounded temporary space for members that must become files.

An APK (or a ZIP) inside a compressed stream has no bytes on disk to read in place; it is
copied here, scanned, and deleted right after. The folder is created with mode 0700 (by
``tempfile.mkdtemp``), files with 0600, and the bytes held at any moment never exceed the
user's ``--tmp-limit``: a member over the bound is an error for that member only.

The folder is held open by descriptor from its creation: files are created through it
(``O_EXCL|O_NOFOLLOW``), and before each copy is made, handed on or adopted, the folder's name
must still lead to that folder, 0700 and this user's, and the copy's name to the copy just
written. A swap (the folder renamed away, a link in its place, a file replaced) is the member's
``CONTAINER_TMP_CHANGED`` error, never bytes scanned as the member (review 66 F2). The CLI
refuses a parent folder others could do that in (:func:`apkscan.folders.untrusted`).
"""

from __future__ import annotations

import os
from typing import BinaryIO

from apkscan.issues import ApkScanError, LimitExceeded

DEFAULT_TMP_LIMIT = 4 << 30
_LIVE: set[str] = set()  # every private folder in use: a file in one is deleted when its source moves on


def is_temporary(path: str) -> bool:
    """True for a file a :class:`TempSpace` made (a parallel scan copies windows into it first)."""
    return os.path.dirname(os.path.abspath(path)) in _LIVE


class TempSpace:
    def __init__(self, parent: str | None = None, limit: int = DEFAULT_TMP_LIMIT):
        self.parent, self.limit = parent, limit
        self._dir: str | None = None
        self._fd: int | None = None  # the folder, open from its creation: what its name must still lead to
        self.peak = 0  # most bytes held at once, for the benchmark and run metadata
        self.promised = 0  # bytes a :class:`Fill` reserved and has not written yet: counted as held

    @property
    def dir(self) -> str:
        if self._dir is None:
            if self.parent:
                os.makedirs(self.parent, mode=0o700, exist_ok=True)
            import tempfile  # tempfile and shutil only once something is spooled: not at start-up

            made = tempfile.mkdtemp(prefix="apkscan-", dir=self.parent)
            try:
                self._fd = os.open(made, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError as exc:
                raise ApkScanError("CONTAINER_TMP_CHANGED", f"the private temporary folder {made} changed "
                                   f"as it was made ({exc.strerror or exc})") from None
            self._dir = made
            _LIVE.add(os.path.abspath(made))
            self._check()
        return self._dir

    def _check(self, name: str | None = None, fd: int | None = None) -> None:
        """CONTAINER_TMP_CHANGED unless the folder's name leads to the folder held open, still 0700
        and this user's, and (given) ``name`` in it to the file open as ``fd``."""
        assert self._fd is not None and self._dir is not None
        held = os.fstat(self._fd)
        try:
            now = os.lstat(self._dir)
        except OSError as exc:
            now, why = None, exc.strerror or str(exc)
        if now is not None:
            why = _differs(held, now)
            if why is None and name is not None and fd is not None:
                try:
                    file_now = os.stat(name, dir_fd=self._fd, follow_symlinks=False)
                except OSError as exc:
                    why = f"{name}: {exc.strerror or exc}"
                else:
                    mine = os.fstat(fd)
                    if (file_now.st_dev, file_now.st_ino) != (mine.st_dev, mine.st_ino):
                        why = f"{name} is no longer the copy apkscan wrote"
        if why:
            raise ApkScanError("CONTAINER_TMP_CHANGED", f"the private temporary folder {self._dir} was replaced "
                               f"or changed during the run ({why}): the copy is not trusted, not scanned")

    def _create(self) -> tuple[int, str, str]:
        """A new 0600 file of ours in the folder held open: ``(fd, name, path)``."""
        folder = self.dir  # made on first use
        assert self._fd is not None
        self._check()
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        for _ in range(100):
            name = f"tmp{os.urandom(6).hex()}.part"
            try:
                return os.open(name, flags, 0o600, dir_fd=self._fd), name, os.path.join(folder, name)
            except FileExistsError:
                continue
        raise FileExistsError(17, "no free temporary file name", folder)

    def _drop(self, name: str) -> None:
        """Delete our file ``name`` in the folder held open (not whatever its path leads to now)."""
        try:
            os.unlink(name, dir_fd=self._fd)
        except OSError:
            pass

    def used(self) -> int:
        """Bytes currently held (the folder holds a handful of files at most)."""
        if self._fd is None:
            return 0
        total = 0
        for entry in os.scandir(self._fd):
            try:
                total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                pass
        return total

    def room(self) -> int:
        """Bytes that may still be written: the bound less what is held and what fills reserved."""
        return self.limit - self.used() - self.promised

    def spool(self, stream: BinaryIO, what: str) -> str:
        """Copy ``stream`` into a new private file; LimitExceeded (file removed) past the bound,
        CONTAINER_TMP_CHANGED when the folder or the copy was swapped meanwhile."""
        room = self.room()
        fd, name, path = self._create()
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
                out.flush()
                self._check(name, out.fileno())  # before anyone opens the copy by its name
            self.peak = max(self.peak, self.used())
            return path
        except BaseException:
            self._drop(name)
            raise

    def fill(self) -> Fill:
        """A new private file written piece by piece as bytes pass (members only tar reads in an adb
        backup, :mod:`adb_tar_shadow`), each piece reserved first (:meth:`Fill.reserve`)."""
        fd, name, path = self._create()
        try:
            return Fill(self, fd, name, path)
        except BaseException:
            os.close(fd)
            self._drop(name)
            raise

    def adopt(self, path: str) -> str:
        """Move another TempSpace's file into this one (same file system: a rename, else a copy)."""
        import shutil

        fd, name, target = self._create()  # a name of ours, never another file's
        try:
            try:
                os.rename(path, name, dst_dir_fd=self._fd)
            except OSError:
                with open(path, "rb") as src, open(fd, "wb", closefd=False) as out:
                    shutil.copyfileobj(src, out)
                release(path)
            else:
                os.close(fd)
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._fd)
            self._check(name, fd)
        except BaseException:
            self._drop(name)
            raise
        finally:
            os.close(fd)
        self.peak = max(self.peak, self.used())
        return target

    def close(self) -> None:
        """Delete our files through the folder held open (wherever its name now leads), then the
        folder, if its name still leads to it."""
        if self._dir is None:
            return
        import shutil

        _LIVE.discard(os.path.abspath(self._dir))
        fd, self._fd, folder, self._dir = self._fd, None, self._dir, None
        if fd is None:
            return
        try:
            for name in os.listdir(fd):
                try:
                    os.unlink(name, dir_fd=fd)
                except IsADirectoryError:
                    shutil.rmtree(name, dir_fd=fd, ignore_errors=True)
                except OSError:
                    pass
            try:
                same = _differs(os.fstat(fd), os.lstat(folder)) is None
            except OSError:
                same = False
            if same:
                os.rmdir(folder)
        except OSError:
            pass
        finally:
            os.close(fd)


class Fill:
    """A private file written as bytes pass: :meth:`reserve` a piece's size first (LimitExceeded when
    the space's bound has no room for it: the bound holds with several at once), :meth:`write` its
    bytes where they belong, :meth:`ready` before a reading of it is handed on (its name checked, and
    closed for writing: a reader refuses a file open for writing), :meth:`drop`. A write after
    :meth:`ready` opens it again by its name in the folder held open, and must find the same file."""

    def __init__(self, space: TempSpace, fd: int, name: str, path: str):
        self.space, self.name, self.path = space, name, path
        self.end = 0  # bytes reserved, from the start of the file
        self.written = 0
        self._fd: int | None = fd
        self._id = _file_id(os.fstat(fd))
        # read-only, held to the end: while it is open the file's inode cannot become another file's
        self._anchor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=space._fd)
        if _file_id(os.fstat(self._anchor)) != self._id:
            os.close(self._anchor)
            raise ApkScanError("CONTAINER_TMP_CHANGED", f"{path} was replaced as it was made")
        self._gone = False

    def reserve(self, size: int, what: str) -> int:
        """Where a piece of ``size`` bytes will start in the file."""
        room = self.space.room()
        if size > room:
            raise LimitExceeded("CONTAINER_TMP_LIMIT", f"{what} needs more than the {max(room, 0)} bytes of "
                                f"temporary space left (--tmp-limit {self.space.limit})")
        at, self.end = self.end, self.end + size
        self.space.promised += size
        return at

    def write(self, data: bytes, at: int) -> None:
        """``data`` at ``at``, inside what was reserved (a piece before it may never come: a hole)."""
        assert not self._gone and at + len(data) <= self.end
        if self._fd is None:
            fd = os.open(self.name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.space._fd)
            self._fd = fd
            if _file_id(os.fstat(fd)) != self._id:
                raise ApkScanError("CONTAINER_TMP_CHANGED", f"{self.path} is no longer the copy apkscan wrote")
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, at)
            view, at = view[n:], at + n
        self.written += len(data)
        self.space.promised -= len(data)

    def ready(self) -> str:
        """The file's path, closed for writing; CONTAINER_TMP_CHANGED when it was swapped."""
        assert not self._gone
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                self.space._check(self.name, fd)
            finally:
                os.close(fd)
        self.space.peak = max(self.space.peak, self.space.used())
        return self.path

    def drop(self) -> None:
        """Close and delete the file (through the folder held open); what it reserved is given back."""
        if self._gone:
            return
        self._gone = True
        self.space.promised -= self.end - self.written
        self.end = self.written
        for fd in (self._fd, self._anchor):
            if fd is not None:
                os.close(fd)
        self._fd = None
        if self.space._fd is not None:
            self.space._drop(self.name)


def _file_id(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _differs(held: os.stat_result, now: os.stat_result) -> str | None:
    """Why the folder named now is not the private folder held open, or None."""
    import stat

    if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
        return "its name leads to another folder or file"
    me = os.geteuid() if hasattr(os, "geteuid") else now.st_uid
    if now.st_uid != me or now.st_mode & 0o077 or not stat.S_ISDIR(now.st_mode):
        return f"owner {now.st_uid}, mode {stat.S_IMODE(now.st_mode):04o}: no longer this user's alone"
    return None


def release(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
