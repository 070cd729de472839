"""Reading an input so that a stat key is stored only for the bytes that were read (review 56).

A stat key says: this path, while its stat is this one, holds the bytes with this SHA-256. It
is stored only when the stat is shown to describe what was read; otherwise a folder renamed
between the ``lstat`` and the open (a rename moves no file's ctime) stores another file's
SHA-256 under a stat that keeps matching (F1), and a write in the stat's own tick on a file
system with coarse timestamps stores the old bytes' SHA-256 under the new bytes' stat (F2). So:

- the time is taken *before* the ``lstat``, and the racy rule compares the stat with it
  (git's rule: a change less than ``RACY_NS`` before the stat was taken may hide another);
- the file is opened once, and that descriptor's ``fstat`` must equal the ``lstat`` (device,
  inode, size, mtime, ctime);
- it is hashed and parsed through that descriptor: ``/proc/self/fd/N`` names the open file
  itself (the kernel follows it to that inode, never looks a name up again);
- after reading, the descriptor's ``fstat`` must still be the same (a later write moves mtime
  or ctime: the stat was not racy when taken, so the write falls in a later tick).

Why one descriptor and not the path checked before and after the read: a folder swapped and
swapped back between the two checks leaves both unchanged while the read by name went to the
other file; only reading the descriptor that was checked proves which file was read. Any
difference, or no ``/proc/self/fd`` (or ``/dev/fd``) to read through: what was read is this
run's result, and no stat key is stored. Nothing else changes.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from stat import S_ISLNK
from typing import Any

from apkscan.apk.io.readonly import open_fd
from apkscan.sources.custody import sha256_window
from apkscan.sources.interface import ScanInput
from apkscan.sources.tempspace import is_temporary


def _fd_folder() -> str | None:
    for folder in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(folder):
            return folder
    return None


FD_FOLDER = _fd_folder()


# File systems whose ctime the kernel sets on every change and nobody can set back, by the magic
# number statfs(2) gives (the file system of the file itself, in whatever mount namespace or
# container it sits: review 76 F4). On any other ctime may follow mtime, which anyone can set back:
# exFAT, FAT, NTFS and every FUSE file system (review 74 F3: on exFAT a same-size rewrite with its
# mtime restored kept its stat, inode and all, and the store served the clean app for WeChat); SMB
# and NFS, whose ctime is the server's file system's; and overlayfs, whose stat may be one layer's
# and data another's (metacopy: review 76 F1; over exFAT: review 75 F2). There no stat key is
# stored or asked: each file is hashed and found by its SHA-256.
CTIME_KEPT = {
    0xEF53: "ext2/3/4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
    0x858458F6: "ramfs", 0x2FC12FC1: "zfs", 0xF2F52010: "f2fs", 0x3153464A: "jfs",
    0x52654973: "reiserfs", 0xCA451A4E: "bcachefs", 0x3434: "nilfs2", 0x00C36400: "ceph",
    0x01161970: "gfs2", 0x7461636F: "ocfs2",
}


class NoChangeTime(OSError):
    """The file's file system keeps no change time the stat key can rely on (:data:`CTIME_KEPT`)."""


def _statfs():
    """libc's ``statfs``/``fstatfs`` (Linux: ``f_type`` is the struct's first field, a C long);
    None elsewhere, where no stat key is kept."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.statfs, libc.fstatfs, ctypes.create_string_buffer, ctypes.sizeof(ctypes.c_long)
    except (OSError, AttributeError):
        return None


_LIBC: list[Any] = []  # [the _statfs() answer], made once


def fs_magic(target: str | int) -> int | None:
    """The file system magic number of a path or an open descriptor (None: cannot be asked)."""
    if not _LIBC:
        _LIBC.append(_statfs())
    if _LIBC[0] is None:
        return None
    by_path, by_fd, make_buffer, width = _LIBC[0]
    buf = make_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux; one per call (no shared state)
    rc = by_fd(target, buf) if isinstance(target, int) else by_path(os.fsencode(target), buf)
    return int.from_bytes(buf.raw[:width], sys.byteorder, signed=True) & 0xFFFFFFFF if rc == 0 else None


_KEPT: dict[int, bool] = {}  # st_dev -> its file system keeps ctime (asked once per device)


def keeps_ctime(dev: int, path: str) -> bool:
    """Whether the file system of ``path`` (whose stat gave device ``dev``) keeps a ctime the kernel
    sets; asked once per device. Answered only when ``path`` is still on ``dev`` after asking (a
    path swapped meanwhile answers nothing: not kept, this time)."""
    kept = _KEPT.get(dev)
    if kept is None:
        magic = fs_magic(path)
        try:
            same = os.stat(path).st_dev == dev
        except OSError:
            same = False
        kept = magic in CTIME_KEPT
        if not same:
            return False
        _KEPT[dev] = kept
    return kept


def fd_keeps_ctime(fd: int) -> bool:
    """The same for the descriptor that was read (the stat key stored is this file's)."""
    return fs_magic(fd) in CTIME_KEPT


def forget_file_systems() -> None:
    """Ask again (tests; a long-lived process after remounts reusing a device number)."""
    _KEPT.clear()


def path_key(path: str) -> str | bytes:
    """A path as the store keys it, losslessly: the text itself when it is UTF-8, else its bytes
    (``os.fsencode``: a name holding byte 0xff is read as U+DCFF, which SQLite cannot encode).
    A BLOB never equals a TEXT in SQLite, so the two forms cannot collide."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def stat_key(item: ScanInput) -> tuple[tuple[str | bytes, int, int], tuple[int, int, int, int]] | None:
    """``(place, stat)`` of an APK read in place from the user's own file; None otherwise."""
    if item.cleanup or is_temporary(item.path):
        return None
    try:
        real, stat = located(item.path)
    except NoChangeTime:
        return None
    return (real, item.offset, -1 if item.length is None else item.length), stat


_FOLDER: list[Any] = [None, None]  # the last folder resolved: [(cwd or "", folder as named), its real path]


def located(path: str) -> tuple[str | bytes, tuple[int, int, int, int, int]]:
    """The real path of ``path`` as the store keys it (:func:`path_key`) and its stat.

    ``os.path.realpath`` costs one ``lstat`` per component of the path; a folder's files share
    all but the last, so the folder's real path is resolved once (the last folder is kept) and
    the file's own name joined to it when ``lstat`` says the file is no symlink (a symlink:
    resolved and stat'ed whole, as before). A folder renamed or relinked in between leaves a
    stale real path at worst, never a wrong answer: every lookup also compares size, mtime,
    ctime, inode and device, which name the file itself (a stat key holds no data of a path).
    :class:`NoChangeTime` when its file system keeps no ctime a stat key can rely on."""
    st = os.lstat(path)
    head, tail = os.path.split(path)
    if S_ISLNK(st.st_mode) or tail in ("", ".", ".."):
        real, st = os.path.realpath(path), os.stat(path)
    else:
        where = (head if os.path.isabs(head) else (os.getcwd(), head))
        if _FOLDER[0] != where:
            _FOLDER[:] = [where, os.path.realpath(head)]
        real = os.path.join(_FOLDER[1], tail)
    if not keeps_ctime(st.st_dev, real):
        raise NoChangeTime(f"{path}: its file system keeps no change time a stat key can rely on")
    return path_key(real), stat_of(st)


def stat_of(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What a stat key compares: size, mtime, ctime (ns), inode, device."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


def now() -> int:
    """The clock the racy rule reads (a function of its own so tests can make it coarse)."""
    return time.time_ns()


@dataclass(slots=True)
class Reading:
    """One input read for the store: its stat key, when that key was taken, and the descriptor
    the bytes are read through (``path``). ``proven`` is the key to store, or None."""

    key: Any  # ((real path, offset, length), stat) from the lstat, or None: no stat key for this input
    at: int  # now() taken before that lstat
    fd: int = -1  # opened once when there is a key; -1: none (read by its own path, no key stored)
    same: bool = False  # the descriptor's fstat equalled the lstat when it was opened

    def open(self, path: str, expect: os.stat_result | None = None) -> Reading:
        """Open ``path`` once and compare the descriptor with the key's stat; as custody opens an
        input: a regular file, ``expect``'s file unchanged (else ``INPUT_CHANGED_DURING_SCAN``)."""
        if self.key is None or FD_FOLDER is None:
            return self
        self.fd = open_fd(path, regular=True, expect=expect)
        try:
            self.same = stat_of(os.fstat(self.fd)) == tuple(self.key[1])
        except OSError:
            self.close()
        return self

    def path(self, given: str) -> str:
        """What to read: the opened descriptor's own name, else the path given."""
        return f"{FD_FOLDER}/{self.fd}" if self.fd >= 0 else given

    def sha256(self, item: ScanInput) -> str:
        """The look-up's SHA-256 of ``item``, read as custody reads an input (review 68 F3: a plain
        read here let a write during it make a hit on another file's bytes): held to the custody
        stat (else to this descriptor's, or the path's), chunk by chunk, every byte of the window
        there, the file still that stat's after the last chunk; else ``INPUT_CHANGED_DURING_SCAN``."""
        held = item.expect if item.expect is not None else os.fstat(self.fd) if self.fd >= 0 else os.stat(item.path)
        size = held.st_size - item.offset if item.length is None else item.length
        return sha256_window(self.path(item.path), size, held, item.offset)

    def idsig(self, given: str, whole: bool) -> dict[str, Any]:
        """``identify``'s ``idsig`` for reading through the descriptor: the file beside the path
        given, as ``identify(given)`` would look for it (never beside ``/proc/self/fd/N``), and
        like it deciding nothing but v4 (final review 4 M1: handed over as a path, it decided as a
        file the user named, so one appearing after the look-up unverified the APK)."""
        if self.fd < 0:
            return {}
        from apkscan.apk.identify import FoundBeside

        beside = given + ".idsig"
        found = whole and os.path.isfile(beside) and not os.path.islink(beside)  # never a link (review 66 F5)
        return {"idsig": FoundBeside(beside) if found else False}

    def proven(self) -> Any:
        """The key, when the descriptor read had the key's stat before and after, the stat was
        not racy when taken and the file's own file system keeps ctime (asked of the descriptor);
        None otherwise (store no stat key)."""
        from apkscan.batch.store import racy

        if not self.same or self.key is None or racy(self.key[1], self.at) or not fd_keeps_ctime(self.fd):
            return None
        try:
            return self.key if stat_of(os.fstat(self.fd)) == tuple(self.key[1]) else None
        except OSError:
            return None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
