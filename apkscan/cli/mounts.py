"""Every name a folder has through this process's mounts, so an output never reaches evidence
through a second mount point of a folder inside an input (review 52 F2).

Why: the output check compares real paths, and the (device, inode) of an input and of each
folder above an output; ``mount --bind /evidence/dev1/sdcard /mnt/x`` gives a folder *inside*
the evidence a second real path that shares neither, and ``--json /mnt/x/r.json`` wrote into
``/evidence``.

How: ``/proc/self/mountinfo`` is read once per run (:meth:`MountTable.read`; fields: mount ID,
parent ID, major:minor, the mounted folder's path within its filesystem, the mount point, ...;
``\\040`` style octal escapes for space, tab, newline and backslash). A path lies on the mount the
system reaches it through (:meth:`MountTable.mount_of`: from the root mount down, the first mount
met on the way, the top one where mounts are stacked), which gives (device, path within the
filesystem). Its other names are that filesystem path seen through every other mount of the same
device whose root holds it (:meth:`MountTable.names`); the caller checks each name as it checks
the real path, so an input reached through any mount point, and a mount inside an input reached
through another mount point (a nested mount), are both caught.

The device is mountinfo's, never ``st_dev``: btrfs gives each subvolume its own ``st_dev`` but
one device in mountinfo, with the subvolume in the root field (``/@home``), so paths within the
filesystem stay comparable across subvolume mounts; overlayfs files may report a layer's
``st_dev``, while every mount of one overlay shares the overlay's device here. Not recognised:
a write into an overlay's upper or lower folder directly (another filesystem, not a mount of the
overlay). Where the table cannot be read (no ``/proc``, not Linux), :meth:`MountTable.read` gives
None and the checks are what they were without it (a Linux caller says so); in a chroot it lists
only the mounts inside the chroot, so paths under none of them get no other names.
"""

from __future__ import annotations

import re
import sys
from typing import NamedTuple

MOUNTINFO = "/proc/self/mountinfo"
MAX_BYTES = 64 << 20  # ~400,000 mounts; a larger table is not read (bounded memory): checks as without it
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
_TOP = -1  # the parent of the mounts whose parent is not listed
_ESCAPE = re.compile(rb"\\([0-3][0-7]{2})")  # the kernel writes space, tab, newline, backslash so


class Mount(NamedTuple):
    """One line of mountinfo: ``root`` is the mounted folder's path within its filesystem,
    ``point`` where it is mounted, as this process sees it."""

    mount_id: int
    parent_id: int
    device: str  # "major:minor"
    root: str
    point: str


def _unescaped(field: bytes) -> str:
    if b"\\" in field:
        field = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), field)
    return field.decode(_FS_ENCODING, _FS_ERRORS)  # os.fsdecode's, without its per-call checks


def parse(text: bytes) -> list[Mount]:
    """The well-formed lines of mountinfo ``text``, in its order; others are skipped."""
    mounts = []
    for line in text.split(b"\n"):
        fields = line.split(b" ")
        if len(fields) < 5 or not fields[3].startswith(b"/") or not fields[4].startswith(b"/"):
            continue
        major, colon, minor = fields[2].partition(b":")
        if not (colon and major.isdigit() and minor.isdigit() and fields[0].isdigit() and fields[1].isdigit()):
            continue
        mounts.append(Mount(int(fields[0]), int(fields[1]), fields[2].decode(),
                            _unescaped(fields[3]), _unescaped(fields[4])))
    return mounts


def _below(path: str, top: str) -> str | None:
    """What ``path`` adds to the folder ``top`` (``""`` or ``/a/b``), or None when outside it."""
    if top == "/":
        return "" if path == "/" else path
    if path == top:
        return ""
    return path[len(top):] if path.startswith(top + "/") else None


class MountTable:
    """The mounts of this process's namespace, indexed for :meth:`mount_of` and :meth:`names`."""

    def __init__(self, mounts: list[Mount]):
        ids = {m.mount_id for m in mounts}
        self._children: dict[int, list[Mount]] = {}  # by parent; _TOP: mounts whose parent is not listed
        self._by_device: dict[str, list[Mount]] = {}
        for m in mounts:
            self._by_device.setdefault(m.device, []).append(m)
            top = m.parent_id not in ids or m.parent_id == m.mount_id  # the root; in a chroot, its mounts
            self._children.setdefault(_TOP if top else m.parent_id, []).append(m)

    @classmethod
    def read(cls, path: str | None = None) -> MountTable | None:
        """The table (``path``: :data:`MOUNTINFO`), or None when it cannot be read, is over
        :data:`MAX_BYTES` or lists no mount."""
        try:
            with open(path or MOUNTINFO, "rb") as fh:
                text = fh.read(MAX_BYTES + 1)
        except OSError:
            return None
        mounts = parse(text) if len(text) <= MAX_BYTES else []
        return cls(mounts) if mounts else None

    def mount_of(self, real: str) -> Mount | None:
        """The mount the system reaches the absolute real path ``real`` through: from the root
        mount, the child whose mount point the path meets first (a mount over a folder above an
        older one hides it), down to the top of a stack of mounts on one point. None for a path
        under no listed mount (in a chroot, the table lists only the mounts inside it)."""
        here, seen = None, set()
        while True:  # each step to a mount not seen: a malformed table's loop ends too
            met = [c for c in self._children.get(_TOP if here is None else here.mount_id, ())
                   if _below(real, c.point) is not None and c.mount_id not in seen]
            if not met:
                return here
            shortest = min(len(c.point) for c in met)
            here = [c for c in met if len(c.point) == shortest][-1]
            seen.add(here.mount_id)

    def names(self, real: str) -> list[str]:
        """The other paths that reach the folder or file at ``real``: its path within its filesystem
        through every other mount of that device whose root holds it (hidden mounts too: a name too many
        can only refuse, never allow)."""
        mount = self.mount_of(real)
        if mount is None:
            return []
        inner = mount.root.rstrip("/") + (_below(real, mount.point) or "") or "/"
        found = []
        for other in self._by_device.get(mount.device, ()):
            rest = _below(inner, other.root)
            if rest is not None and other is not mount:
                name = other.point.rstrip("/") + rest or "/"
                if name != real and name not in found:
                    found.append(name)
        return found
