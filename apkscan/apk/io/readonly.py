"""Opening evidence for reading without changing it, access times included.

A plain read updates a file's access time (with ``relatime``, whenever it is older than the
modification time or a day old), and an examiner's before/after listing then shows the scan
touched every file it read (review 49 F7). ``O_NOATIME`` asks Linux not to; the kernel allows
it only to the file's owner (or with CAP_FOWNER) and refuses it with EPERM otherwise, and
some filesystems (NFS) ignore it: then the file is opened plainly, as before. Nothing is
ever opened for writing here.

The walker's reads of an input ask for a regular file (``regular``): opened non-blocking (a
FIFO that took a file's name after the listing would block the open forever, review 66 F4; the
flag is cleared once open) and refused by its descriptor's ``fstat``; a name met in a folder is
opened without following a symlink (``follow``) and, as every sub-folder of a walk
(:func:`open_dir`), held to the device and inode its folder's listing saw (``listed``): a name
whose folder was renamed away, or became a symlink, after the listing leads to another file, which
is refused, never read under the listed name (review 68 F2); an outermost file being walked has its custody stat registered (:func:`held`): every later open
of that path in this process, and every chunk read through :func:`check_held`, must still be that
file, unchanged, or the input is ``INPUT_CHANGED_DURING_SCAN`` (review 66 F1).

A stat cannot see every write: one through a shared writable mapping whose page is already dirty
moves no mtime or ctime (review 68 F1). So every regular file opened here for an input's bytes also
takes a read lease (:func:`_lease`), which Linux refuses while any process holds the file open for
writing, a writable mapping included (``INPUT_OPEN_FOR_WRITING``), and breaks when one opens it for
writing or truncates it later: :func:`check_held` then finds it gone (``INPUT_CHANGED_DURING_SCAN``).
A lease is the file owner's (or CAP_LEASE's) and a local file system's: elsewhere the stat checks
stand alone.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from apkscan.issues import ApkScanError

_NOATIME = getattr(os, "O_NOATIME", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)
_HELD: dict[str, os.stat_result] = {}  # path -> custody stat of the outermost files being walked here
CHANGED = "INPUT_CHANGED_DURING_SCAN"
_LEASED: set[int] = set()  # descriptors opened by open_fd that hold a read lease
_SETLEASE, _GETLEASE, _SETSIG = (getattr(fcntl, n, None) for n in ("F_SETLEASE", "F_GETLEASE", "F_SETSIG"))


def open_fd(path: str | os.PathLike[str], *, regular: bool = False, follow: bool = True,
            expect: os.stat_result | None = None, listed: os.stat_result | None = None, lease: bool = True,
            pipes: bool = False) -> int:
    """A read-only descriptor of ``path``, without touching its access time where allowed.

    ``regular``: anything but a regular file (FIFO, device, socket) is ``INPUT_NOT_A_FILE``, and
    the open does not wait for a FIFO's writer (nor a rule file's: :func:`apkscan.rules.yamlsrc.read_capped`);
    ``follow=False``: so is a symlink (``O_NOFOLLOW``); ``expect``: the descriptor must be that
    stat's file, unchanged (else :data:`CHANGED`), as it must be for a path :func:`held`;
    ``listed``: the descriptor must be that stat's file (device and inode; its bytes may have
    changed since it was listed: custody takes its stat from this descriptor), else :data:`CHANGED`;
    ``lease=False``: a regular file that is no evidence (a rule file) is read without a lease;
    ``pipes`` (with ``regular``): a pipe or FIFO is taken too, opened without waiting for a writer (one
    that has none reads as empty at once): ``--rules <(...)``."""
    flags = _READ | (_NONBLOCK if regular else 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = _open(path, flags)
    except OSError as exc:
        if not follow and exc.errno == errno.ELOOP:
            raise ApkScanError("INPUT_NOT_A_FILE", "a symlink (not followed)") from None
        if listed is not None and exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise changed() from None  # gone since it was listed, or a folder above it is no folder now
        if exc.errno == errno.ENOENT and (expect is not None or held_stat(os.fspath(path)) is not None):
            raise changed() from None  # gone while it was being walked
        raise
    try:
        if regular and _NONBLOCK:
            os.set_blocking(fd, True)
        expect = expect if expect is not None else _HELD.get(os.fspath(path)) if _HELD else None
        if regular or expect is not None or listed is not None:
            st = os.fstat(fd)
            if listed is not None and not same_inode(listed, st):
                raise changed()
            if regular and not (stat.S_ISREG(st.st_mode) or pipes and stat.S_ISFIFO(st.st_mode)):
                raise ApkScanError("INPUT_NOT_A_FILE", "not a regular file (a FIFO, device or socket took its name)")
            if expect is not None and not same_file(expect, st):
                raise changed()
        _lease(fd) if regular and lease and stat.S_ISREG(st.st_mode) else _LEASED.discard(fd)
    except BaseException:
        _LEASED.discard(fd)
        os.close(fd)
        raise
    return fd


def _lease(fd: int) -> None:
    """A read lease on ``fd``: refused while another descriptor or a shared writable mapping of the
    file is open for writing (``INPUT_OPEN_FOR_WRITING``: bytes that can change without moving the
    stat are no evidence), broken when one is opened later (seen by :func:`check_held`). The break
    is signalled with SIGURG, ignored unless handled (the default, SIGIO, would end the process);
    the writer waits until the descriptor is closed, at most ``/proc/sys/fs/lease-break-time``.
    Not the owner without CAP_LEASE, or a file system without leases (NFS): no lease, the stat
    checks stand alone."""
    _LEASED.discard(fd)
    if _SETLEASE is None:
        return
    try:
        fcntl.fcntl(fd, _SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, _SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EBUSY):
            raise ApkScanError("INPUT_OPEN_FOR_WRITING", "another process holds this file open for writing (a "
                               "descriptor or a shared writable mapping): its bytes can change without moving "
                               "its stat, so nothing is read from it; scan it once the writer is closed, or "
                               "scan a read-only copy") from None
        return
    _LEASED.add(fd)


def open_dir(path: str | os.PathLike[str], *, dir_fd: int | None = None, follow: bool = True,
             listed: os.stat_result | None = None) -> tuple[int, os.stat_result]:
    """A folder's descriptor (``O_NOATIME`` where allowed: listing a folder moves its access time as
    reading a file does, review 51 F4) and its ``fstat``; ``path`` relative to ``dir_fd`` when given.

    ``follow=False``: the last component is never a symlink (``O_NOFOLLOW``); ``listed``: the
    folder must be the one its parent's listing saw (device and inode). A sub-folder renamed
    away, or replaced by a symlink or another folder, after its parent was listed is
    :data:`CHANGED`: the walk never lists another folder under the listed name (review 68 F2)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = _open(path, flags, dir_fd)
    except OSError as exc:
        if listed is not None and exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            raise changed_folder() from None  # a symlink or a file took its name, or it is gone
        raise
    try:
        st = os.fstat(fd)
        if listed is not None and not same_inode(listed, st):
            raise changed_folder()
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _open(path: str | os.PathLike[str], flags: int, dir_fd: int | None = None) -> int:
    if _NOATIME:
        try:
            return os.open(path, flags | _NOATIME, dir_fd=dir_fd)
        except PermissionError:
            pass  # not the owner: O_NOATIME is refused, a plain open may not be
    return os.open(path, flags, dir_fd=dir_fd)


def changed() -> ApkScanError:
    return ApkScanError(CHANGED, "the file changed or was replaced while it was being scanned: its bytes "
                        "are not those its custody hash was taken of (nothing read from it is reported)")


def changed_folder() -> ApkScanError:
    return ApkScanError(CHANGED, "the folder changed while it was being walked: its name now leads to another "
                        "folder, a symlink (not followed) or nothing; none of its files was read")


@contextmanager
def held(path: str, st: os.stat_result) -> Iterator[None]:
    """While the walk reads ``path`` (an outermost file), every open of it must be ``st``'s file."""
    key = os.fspath(path)
    before = _HELD.get(key)
    _HELD[key] = st
    try:
        yield
    finally:
        if before is None:
            _HELD.pop(key, None)
        else:
            _HELD[key] = before


def held_stat(path: str) -> os.stat_result | None:
    """The custody stat registered for ``path`` (None: not an outermost file being walked)."""
    return _HELD.get(os.fspath(path)) if _HELD else None


def drop_inherited() -> None:
    """In a forked worker: close the parent's leased descriptors it inherited. The lease belongs to
    the open file, so a copy kept by a worker would hold it after the parent is done with the file,
    and a writer's open would wait up to the lease-break time for nothing."""
    for fd in list(_LEASED):  # a number closed since may name another file now: closed only if leased
        _LEASED.discard(fd)
        try:
            if fcntl.fcntl(fd, _GETLEASE) == fcntl.F_RDLCK:
                os.close(fd)
        except OSError:
            pass


def check_held(fd: int, expect: os.stat_result | None) -> None:
    """After a read through ``fd``: the file is still ``expect``'s, unchanged (a write or a growth
    since moves its size, mtime or ctime), and its read lease unbroken (no one opened it for writing
    since, :func:`_lease`); else :data:`CHANGED`."""
    if fd in _LEASED and fcntl.fcntl(fd, _GETLEASE) != fcntl.F_RDLCK:
        raise changed()
    if expect is not None and not same_file(expect, os.fstat(fd)):
        raise changed()


def open_binary(path: str | os.PathLike[str], buffering: int = -1, regular: bool = False,
                pipes: bool = False) -> BinaryIO:
    """:func:`open_fd` as a binary file object (``open(path, "rb")``); ``regular``: a regular file
    only (``pipes``: or a pipe), the open never waiting for a FIFO's writer (``INPUT_NOT_A_FILE``),
    taken without a lease."""
    return os.fdopen(open_fd(path, regular=regular, lease=False, pipes=pipes), "rb", buffering=buffering)


def same_file(first: os.stat_result | TakenOn | None, then: os.stat_result) -> bool:
    """Whether two descriptors' stats name one file, unchanged between them (while both are open an
    inode number is not reused). The walker reads a file's head and then the file through two
    opens: a folder swapped between them (final review 2, F1) would have a tar taken for "one
    plain APK" by another file's head. A stat taken on another machine (:class:`TakenOn`) is
    compared without its device number, which only that machine's kernel gives."""
    if first is None:
        return False
    fields = _FILE if getattr(first, "machine", None) in (None, this_machine()) else _FILE[1:]
    return all(getattr(first, a) == getattr(then, a) for a in fields)


_FILE = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")


@dataclass(frozen=True, slots=True)
class TakenOn:
    """A custody stat as its fields, with the machine it was taken on (:func:`this_machine`): sent to
    Dask workers, and made from the stat a scan-store row matched (:mod:`apkscan.batch.known`).

    ``st_dev`` is a number the local kernel gives each mounted file system: two NFS clients of one
    export see one file under two device numbers, so a worker on another machine compared it and
    refused every input on a shared file system (review 68). There the file is named by what the
    file server gives every client: inode (the NFS file id), size, mtime and ctime (which no one
    can set); on the machine that took the stat, by all five, device included."""

    st_dev: int
    st_ino: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int
    machine: str

    @classmethod
    def of(cls, st: os.stat_result | TakenOn) -> TakenOn:
        return st if isinstance(st, TakenOn) else cls(*(getattr(st, a) for a in _FILE), this_machine())


def this_machine() -> str:
    """This running kernel: its boot id (random per boot, so two machines never share one; two
    containers of one host share it, and their device numbers), else the host name."""
    global _MACHINE
    if _MACHINE is None:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
                _MACHINE = "boot:" + fh.read().strip()
        except OSError:
            import socket  # only without /proc: every command imports this module at start-up

            _MACHINE = "host:" + socket.gethostname()
    return _MACHINE


_MACHINE: str | None = None


def same_inode(listed: os.stat_result, then: os.stat_result) -> bool:
    """Whether ``then`` (a descriptor's stat) is the file or folder ``listed`` (a listing's ``lstat``)
    names: the same device and inode, whatever its bytes became since."""
    return (listed.st_dev, listed.st_ino) == (then.st_dev, then.st_ino)
