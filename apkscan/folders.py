"""Folders apkscan creates (caches, the store's folder, ``--tmp-dir``): private at every level.

``os.makedirs(path, mode=0o700)`` applies the mode to the last folder only; the ones above it get
the umask's 0755 (review 37 R2-3), so other users could list a cache's or a spool's folders.
"""

from __future__ import annotations

import os


def resolved(folder: str) -> str:
    """``folder`` as the system will resolve it, its last part kept as named: ``link/../spool`` is
    ``spool`` beside the link's *target* (``abspath`` alone drops ``link/..`` by its text and
    names another folder: review 43 F7). The last part is not followed, so a link in its place
    is seen (and refused) rather than its target created."""
    head, last = os.path.split(os.path.abspath(folder) if folder.endswith(os.sep) else folder)
    return os.path.abspath(os.path.join(os.path.realpath(head or "."), last))


def make_private(folder: str) -> list[str]:
    """Create ``folder`` and each missing parent with mode 0700; folders that exist are left as
    they are. Returns the folders created, deepest first (for a caller that removes them again).
    OSError as ``os.mkdir`` raises it (a file in the way, no permission)."""
    missing = []
    path = resolved(folder)
    if os.path.lexists(path) and not os.path.isdir(path):  # a file or a dangling link in the way (review 43 F6)
        raise FileExistsError(17, "exists and is not a folder", folder)
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    created = []
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not os.path.isdir(path):
                raise
            continue  # made meanwhile by another process: not ours to remove
        created.append(path)
    return created[::-1]


def untrusted(folder: str) -> str | None:
    """Why someone other than this user (or root) could swap entries in ``folder``, or None.

    ssh's StrictModes rule, for the folder and every folder above it (through links, as the system
    resolves them): each must belong to this user or root, and be writable by no one else unless
    sticky (``/tmp``), where others cannot rename what is ours; and every symlink met on the way
    (:func:`_links_on_the_way`). A folder that does not exist yet is
    judged by the folders above it (apkscan makes it 0700). Otherwise another user could rename
    apkscan's private spool folder away and put other bytes under a spooled member's name (review 66 F2)."""
    me = os.geteuid() if hasattr(os, "geteuid") else None
    if me is None:
        return None  # no owners to compare (Windows)
    why = _links_on_the_way(os.path.abspath(folder), me)
    if why:
        return why
    seen: set[str] = set()
    for start in (os.path.realpath(folder), os.path.realpath(os.path.dirname(resolved(folder)))):
        path = start
        while path not in seen:
            seen.add(path)
            why = _doubt(path, me)
            if why:
                return why
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
    return None


def link_doubt(path: str) -> str | None:
    """Why a symlink met on the way to ``path``, ``path`` itself included, belongs to someone other
    than this user or root (who can point it elsewhere whenever they like), or None."""
    me = os.geteuid() if hasattr(os, "geteuid") else None
    return None if me is None else _links_on_the_way(os.path.abspath(path), me)


def _doubt(path: str, me: int) -> str | None:
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None  # made by apkscan, 0700, and checked again once made
    if st.st_uid not in (me, 0):
        return f"{path} belongs to user {st.st_uid}, not to this user ({me}) or root"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        return f"{path} can be written by others (mode {stat.S_IMODE(st.st_mode):04o}, no sticky bit)"
    return None


def _links_on_the_way(path: str, me: int, budget: int = 40) -> str | None:
    """The path resolved one name at a time, as the system does, judging each folder passed
    through and each symlink met: a link belongs to whoever made it, and its owner can point it
    elsewhere whenever they like, even in a sticky ``/tmp`` (review 68 F4: another user's
    ``/tmp/spool`` link passed, then took apkscan's spool folder to their own folder). The chain
    of the resolved path alone never sees the link, nor the folder holding it."""
    current = "/"
    for name in path.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        why = _doubt(current, me)
        if why:
            return why
        entry = os.path.join(current, name)
        try:
            st = os.lstat(entry)
        except OSError:
            return None  # the rest does not exist yet: made by apkscan, 0700 (or refused when made)
        if not os.path.islink(entry):
            current = entry
            continue
        if st.st_uid not in (me, 0):
            return f"{entry} is a symlink belonging to user {st.st_uid}, not to this user ({me}) or root"
        budget -= 1
        if budget < 0:
            return f"{entry}: too many levels of symbolic links"
        target = os.path.join(current, os.readlink(entry))
        why = _links_on_the_way(target, me, budget)
        if why:
            return why
        current = os.path.realpath(target)
    return _doubt(current, me)
