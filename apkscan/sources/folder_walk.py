"""Walking a local folder through folder descriptors, as ``os.fwalk`` does.

A walk by path re-resolves every name at each step: a sub-folder renamed away and replaced by a
symlink after its parent was listed was walked into, and its files were read and recorded under
the names of the evidence (review 68 F2). Here each sub-folder is opened relative to its parent's
descriptor without following a symlink, and must be the folder (device, inode) the parent's
listing saw, else it is ``INPUT_CHANGED_DURING_SCAN``; every entry's ``lstat`` is taken through
the folder's descriptor, so the walk's callers hold each file they open by path to it
(``listed``: a swapped ancestor makes that open fail, it never reads another file).

A parent's descriptor is kept only while sub-folders of it are still to be opened (a chain of
folders holds one); past :data:`MAX_HELD` held at once (a deep tree, each level branching) a
sub-folder is opened by path instead, held to the same device and inode.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from stat import S_ISDIR, S_ISLNK
from typing import NamedTuple

from apkscan.apk.io.readonly import open_dir
from apkscan.issues import ApkScanError, Issue, error
from apkscan.sources.registry import shallow_names

MAX_HELD = 256  # folder descriptors held at once by one walk


class Folder(NamedTuple):
    """One listed folder; ``dirs`` may be pruned or sorted in place (as ``os.walk``'s)."""

    path: str
    dirs: list[str]  # sub-folders, and symlinks to folders (as os.walk lists them: never walked into)
    files: list[str]  # everything else
    stats: dict[str, os.stat_result]  # each entry's lstat, through the folder's descriptor
    own: os.stat_result  # the folder's own (its descriptor's fstat)


class _Parent:
    """A listed folder's descriptor while sub-folders of it are still to be opened (-1: by path)."""

    __slots__ = ("fd", "left")

    def __init__(self, fd: int, left: int):
        self.fd, self.left = fd, left

    def release(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def walk_down(root: str, onerror: Callable[[str, Issue], None] | None = None,
              root_stat: os.stat_result | None = None) -> Iterator[Folder]:
    """Top-down and without recursion: Python 3.11's ``os.walk`` recursed once per level, so a
    chain of ~1,000 nested folders ended the run in a RecursionError (review 12). ``onerror``: a
    folder that cannot be listed, or changed, with its issue; ``root_stat``: the root must be
    that folder (a folder met by another walk)."""
    stack: list[tuple[str, _Parent | None, os.stat_result | None]] = [(root, None, root_stat)]
    parents: list[_Parent] = []
    try:
        while stack:
            top, parent, listed = stack.pop()
            try:
                fd, own = _open_child(top, parent, listed)
            except (OSError, ApkScanError) as exc:
                if onerror is not None:
                    onerror(top, _issue(exc))
                continue
            finally:
                if parent is not None:
                    parent.release()
            held = _Parent(fd, 1)
            try:
                folder = _listed(top, fd, own)
            except OSError as exc:
                held.close()
                if onerror is not None:
                    onerror(top, _issue(exc))
                continue
            try:
                yield folder
            except BaseException:
                held.close()
                raise
            below = [d for d in folder.dirs if not S_ISLNK(folder.stats[d].st_mode)]  # a link: said by the caller
            held.left = len(below)
            if not below or sum(p.fd >= 0 for p in parents) >= MAX_HELD:
                held.close()  # none to open from it, or too many held: its sub-folders by path
            parents = [p for p in parents if p.fd >= 0] + [held]
            for name in reversed(below):  # popped in the order the caller left them: depth first
                stack.append((os.path.join(top, name), held, folder.stats[name]))
    finally:
        for p in parents:
            p.close()


def _open_child(top: str, parent: _Parent | None, listed: os.stat_result | None) -> tuple[int, os.stat_result]:
    if parent is None:  # the root, as named (a given folder may be a symlink to one)
        return open_dir(top, listed=listed)
    if parent.fd >= 0:
        return open_dir(os.path.basename(top), dir_fd=parent.fd, follow=False, listed=listed)
    return open_dir(top, follow=False, listed=listed)  # held to the listing's device and inode all the same


def _listed(top: str, fd: int, own: os.stat_result) -> Folder:
    dirs: list[str] = []
    files: list[str] = []
    stats: dict[str, os.stat_result] = {}
    with os.scandir(fd) as it:
        for entry in it:
            try:  # through ``fd``: this folder's entry, whatever its path leads to
                st = stats[entry.name] = entry.stat(follow_symlinks=False)
                # a symlink to a folder is listed as a folder, as os.walk does
                is_dir = S_ISDIR(st.st_mode) or (S_ISLNK(st.st_mode) and entry.is_dir())
            except OSError:  # gone since readdir, or a dangling link: a file without a stat (said)
                is_dir = False
            (dirs if is_dir else files).append(entry.name)
    return Folder(top, dirs, files, stats, own)


def _issue(exc: OSError | ApkScanError) -> Issue:
    if isinstance(exc, ApkScanError):
        return exc.to_issue()
    return error("INPUT_UNREADABLE", f"cannot list: {exc.strerror or exc}")


def shallow_listing(folder: Folder, depth: int = 2, cap: int = 10_000) -> list[str]:
    """The folder's files and its sub-folders' files down to ``depth``, as layout markers see a
    ZIP (:func:`registry.shallow_names`), to recognise a layout (what its reader then reads is the
    walk's, held to the listing); the folder held to what the walk listed, no symlink followed in
    the last component of each level; bounded by ``cap`` entries."""
    out = list(folder.files)
    try:
        fd, _ = open_dir(folder.path, listed=folder.own)
    except (OSError, ApkScanError):
        return shallow_names(out)
    try:
        frontier = [""]
        for _ in range(depth + 1):
            below = []
            for rel in frontier:
                if len(out) >= cap:
                    return shallow_names(out)
                below += _level(fd, rel, out, cap)
            frontier = below
    finally:
        os.close(fd)
    return shallow_names(out)


def _level(fd: int, rel: str, out: list[str], cap: int) -> list[str]:
    """One folder's sub-folders (``rel/name/``), its files added to ``out`` (not the top's: listed)."""
    below: list[str] = []
    try:
        sub = open_dir(rel.rstrip("/"), dir_fd=fd, follow=False)[0] if rel else fd  # (a trailing / follows a link)
    except (OSError, ApkScanError):
        return below
    try:
        with os.scandir(sub) as it:
            for e in it:
                if len(out) >= cap:
                    break
                if e.is_dir(follow_symlinks=False):
                    below.append(f"{rel}{e.name}/")
                elif rel and e.is_file(follow_symlinks=False):
                    out.append(rel + e.name)
    except OSError:
        pass
    finally:
        if sub != fd:
            os.close(sub)
    return below
