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
import re
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


# File systems whose ctime the kernel sets on every change and nobody can set back. On any other
# (exFAT, FAT, NTFS and every FUSE file system: fuseblk; SMB; NFS, whose ctime is the server's file
# system's, whatever that is; or a type not known here) ctime may follow mtime, which anyone can set
# back (review 74 F3: on exFAT a same-size rewrite with its mtime restored kept its stat, inode and
# all, and the store served the clean app's identity for WeChat): no stat key is stored or asked
# there, each file is hashed and found by SHA-256. An overlay counts only when every layer it is
# made of does (review 75 F2: an overlay over exFAT reports the lower file's ctime).
CTIME_KEPT = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "zfs", "f2fs",
                        "jfs", "reiserfs", "bcachefs", "nilfs2", "ceph", "gfs2", "ocfs2"})
MOUNTINFO = "/proc/self/mountinfo"


class NoChangeTime(OSError):
    """The file's file system keeps no change time the stat key can rely on (:data:`CTIME_KEPT`)."""


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of mountinfo: device (``major:minor``), mount point, type, super options."""

    device: str
    point: str
    kind: str
    options: str


def _unescape(field: str) -> str:
    """A mountinfo path field: spaces, tabs, newlines and backslashes written as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts(text: str) -> list[Mount]:
    """The mounts of a mountinfo text, in its order."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if "-" in fields[6:]:
            dash = fields.index("-", 6)
            if dash + 1 < len(fields):
                out.append(Mount(fields[2], _unescape(fields[4]), fields[dash + 1],
                                 fields[dash + 3] if dash + 3 < len(fields) else ""))
    return out


class _Table:
    """The mount table, read once per process and again only when a device is in no line (a mount
    made since): a stat key costs one dict look-up, not a read of mountinfo (review 75 F7)."""

    def __init__(self) -> None:
        self.by_device: dict[str, Mount] | None = None
        self.all: list[Mount] = []
        self.kept: dict[str, bool] = {}  # device -> whether it keeps ctime

    def read(self) -> bool:
        try:
            with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as f:
                self.all = mounts(f.read())
        except OSError:
            self.all = []
            return False
        self.by_device = {}
        for m in self.all:
            self.by_device[m.device] = m  # the last line of a device: the mount on top
        self.kept.clear()
        return True

    def find(self, dev: int) -> Mount | None:
        number = f"{os.major(dev)}:{os.minor(dev)}"
        if self.by_device is None or number not in self.by_device:
            if not self.read():
                return None
        return (self.by_device or {}).get(number)

    def under(self, where: str) -> Mount | None:
        """The mount whose point is the longest prefix of ``where``."""
        best = None
        for m in self.all:
            if where == m.point or where.startswith(m.point.rstrip("/") + "/"):
                if best is None or len(m.point) >= len(best.point):
                    best = m
        return best


_TABLE = _Table()


def keeps_ctime(dev: int, where: str, depth: int = 0) -> bool:
    """Whether the file system of device ``dev`` (a file at real path ``where``) keeps a ctime the
    kernel sets. A device in no mountinfo line fails closed, but for a btrfs subvolume (its own
    device, under a btrfs mount); an overlay counts when every layer of it does; no mountinfo
    (not Linux): not."""
    number = f"{os.major(dev)}:{os.minor(dev)}"
    if number in _TABLE.kept:
        return _TABLE.kept[number]
    mount = _TABLE.find(dev)
    if mount is None:
        host = _TABLE.under(where)
        kept = host is not None and host.kind == "btrfs"
    elif mount.kind == "overlay":
        kept = depth < 4 and _layers_kept(mount, depth)
    else:
        kept = mount.kind in CTIME_KEPT
    _TABLE.kept[number] = kept
    return kept


def _layers_kept(mount: Mount, depth: int) -> bool:
    """Every ``lowerdir``/``upperdir`` of an overlay that this process can see on a file system that
    keeps ctime. A layer it cannot see (a container's root: its layers are the runtime's, on the
    host, where overlay2 needs ext4, XFS or Btrfs) is taken for the runtime's storage."""
    layers = []
    for option in re.split(r"(?<!\\),", mount.options):
        name, _, value = option.partition("=")
        if name in ("lowerdir", "upperdir", "lowerdir+"):
            layers += [x.replace("\\:", ":").replace("\\,", ",") for x in re.split(r"(?<!\\):", value) if x]
    if not layers:
        return False
    for layer in layers:
        try:
            st = os.stat(layer)
        except FileNotFoundError:
            continue  # not in this mount namespace
        except OSError:
            return False
        if not keeps_ctime(st.st_dev, os.path.realpath(layer), depth + 1):
            return False
    return True


def forget_mounts() -> None:
    """Read mountinfo again at the next look-up (tests; a long-lived process after remounts)."""
    _TABLE.by_device, _TABLE.all = None, []
    _TABLE.kept.clear()


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
        """The key, when the descriptor read had the key's stat before and after and the stat was
        not racy when taken; None otherwise (store no stat key)."""
        from apkscan.batch.store import racy

        if not self.same or self.key is None or racy(self.key[1], self.at):
            return None
        try:
            return self.key if stat_of(os.fstat(self.fd)) == tuple(self.key[1]) else None
        except OSError:
            return None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
