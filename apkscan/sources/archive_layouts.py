"""Backup layouts below an archive's root: read in a ZIP, said in a tar (review 69 F3).

A folder walk offers every sub-folder to the layout readers (:func:`files.FileSource._layout`),
so ``evidence/alice/<uuid>/`` is read as an AndroidQF acquisition. Zipped, the same tree was
looked at only at its root or under one top folder: the device records were lost, their files
counted as "not an APK". Here the ZIP's names propose roots: every folder where a name sits as a
layout's marker wants it (:func:`registry.marks`), and the folder above it (a layout under one
top folder is claimed there, as in a folder walk). Each is tried shallowest first, as the
folder walk tries it (markers on its shallow names, then the layout's own test), and a claimed
sub-tree is read by its layout's reader under the chain ``archive ▸ root/``. Bounded: at most
:data:`MAX_ROOTS` roots are tried; a layout past them is a ``LAYOUT_NOT_READ`` error.

A tar is a stream read once, and a layout reader needs a tree: its layouts are not read. The
names it holds are kept (at most :data:`MAX_TAR_NAMES`) and tried the same way, by name only,
once the tar has been read: each layout found is one ``LAYOUT_NOT_READ`` error (exit 3), never
a silent "not an APK" skip of its records.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from apkscan.issues import error
from apkscan.sources import registry
from apkscan.sources.interface import InputProblem, Item, Member

MAX_ROOTS = 64  # sub-trees tried as layouts in one archive (each costs a look at its names)
MAX_TAR_NAMES = 200_000  # names of a tar kept to look for layouts (a ZIP holds at most as many)
ADVICE = "extract the archive and scan the folder"


def _marking(names: Iterable[str]) -> Iterator[tuple[list[str], int]]:
    """Each name that marks a layout ``k`` (1-3) folders up, as its parts and ``k``."""
    test = registry.mark_test()
    for name in names:
        tail = name.rsplit("/", 3)  # a mark is at most three names long
        for k in range(1, len(tail)):
            if test("/".join(tail[-k:])):
                yield name.split("/"), k


def marked(name: str) -> bool:
    """The name marks a layout in one of the 1-3 folders above it."""
    return next(_marking([name]), None) is not None


def proposed_roots(names: Iterable[str]) -> list[str]:
    """Folders below the root (``a/b/``) that a name marks, with the folder above each, shallowest first."""
    found: set[str] = set()
    for parts, k in _marking(names):
        root = parts[:-k]
        found.update("/".join(root[:n]) + "/" for n in (len(root), len(root) - 1) if n > 0)
    return sorted(found, key=lambda r: (r.count("/"), r))


class SubTree:
    """The names of a tree under ``root``, as a tree of its own (the reader's chain shows the root)."""

    def __init__(self, tree, root: str, flat: bool = False):
        self.tree, self.root, self.chain = tree, root, tuple(tree.chain) + (root,)
        names = tree.names()
        lo = bisect.bisect_left(names, root)
        hi = bisect.bisect_left(names, root + "\U0010ffff", lo)
        self._names = [n[len(root):] for n in names[lo:hi] if not flat or "/" not in n[len(root):]]

    def names(self) -> list[str]:
        return list(self._names)

    def member(self, name: str) -> Member:
        return self._shown(self.tree.member(self.root + name))

    def _shown(self, member: Member) -> Member:
        if member.name[:len(self.root)].replace("\\", "/") == self.root:  # shown as stored, the root left out
            member.name = member.name[len(self.root):]
        return member

    def head(self, name: str, size: int) -> bytes:
        return self.tree.head(self.root + name, size)

    def earlier(self, name: str) -> list:
        return self.tree.earlier(self.root + name)  # a layout reads each copy of its metadata (review 70 F4)

    def earlier_walked(self) -> Iterator[Member | InputProblem]:
        """The earlier records of this layout's names, flagged, under its chain (as :meth:`member`)."""
        for item in self.tree.earlier_walked(self.root + n for n in self._names):
            yield self._shown(item) if isinstance(item, Member) else item


class _Names:
    """A tar's names as a tree that cannot be read: layouts told by name only."""

    def __init__(self, names: list[str], chain: tuple[str, ...]):
        self._names, self.chain = sorted(set(names)), chain

    def names(self) -> list[str]:
        return self._names

    def member(self, name: str) -> Member:
        raise KeyError(name)  # an acquisition.json is not read: claimed by packages.json beside apks/ only


def find(tree) -> Iterator[tuple[str, registry.LayoutFormat | None, SubTree | None]]:
    """Each layout below ``tree``'s root: (root, its format, the sub-tree to read); past
    :data:`MAX_ROOTS` roots tried, one (first root left, None, None) and no more."""
    claimed: list[str] = []
    tried = 0
    for root in proposed_roots(tree.names()):
        if any(root.startswith(c) for c in claimed):
            continue
        if tried == MAX_ROOTS:
            yield root, None, None
            return
        tried += 1
        sub = SubTree(tree, root)
        fmt = registry.layout_format(sub, registry.shallow_names(sub.names()))
        if fmt is not None:
            claimed += [] if fmt.flat else [root]  # a flat layout's sub-folders are tried on, as in a folder
            yield root, fmt, SubTree(tree, root, flat=True) if fmt.flat else sub


def not_read(chain: tuple[str, ...], root: str, label: str, why: str) -> InputProblem:
    where = f"below this archive's root ({root})" if root else "at this archive's root"
    return InputProblem(chain + ((root,) if root else ()), [error(
        "LAYOUT_NOT_READ", f"{label} {where}: {why}; its records are not read: {ADVICE}")])


def _past(root: str) -> str:
    return f"more than {MAX_ROOTS} folders of this archive were tried as layouts (from {root} on: not looked at)"


def read_below(walker, tree, reader, depth: int) -> Iterator[Item]:
    """The layouts below a ZIP's root, each read by its reader; their files are left out of
    ``reader``, the plain walk of the rest (its ``exclude``: every record of their names). A name
    listed twice reads as its last record, and its earlier records are walked after the layout,
    flagged, as at the root (:meth:`~apkscan.sources.zip_tree.ZipTree.aside`; review 70 F4)."""
    for root, fmt, sub in find(tree):
        if fmt is None:
            yield not_read(tree.chain, root, "a backup layout may lie", _past(root))
            continue
        reader.exclude.update(i for n in sub.names() for i in tree.indexes(root + n))
        if fmt.open is None:
            yield registry.unsupported_layout(fmt, sub.chain)
            continue
        yield from walker._entries(fmt.open(sub, walker.ctx), depth + 1)
        yield from walker._aside(sub.earlier_walked(), sub.chain, depth)


STREAMED = "a tar archive is read as a stream, and a layout's reader needs a folder"


def in_tar(chain: tuple[str, ...], names: list[str], unlooked: str | None) -> Iterator[InputProblem]:
    """The layouts a tar's names hold, each one error (``unlooked``: a marking name met past
    :data:`MAX_TAR_NAMES`, whose folder was not looked at)."""
    tree = _Names(names, chain)
    fmt = registry.layout_format(tree, registry.shallow_names(tree.names()))
    if fmt is not None:
        yield not_read(chain, "", fmt.label, STREAMED)
    else:
        for root, fmt, _ in find(tree):
            yield not_read(chain, root, fmt.label if fmt else "a backup layout may lie", STREAMED if fmt else _past(root))
    if unlooked is not None:
        yield not_read(chain, unlooked.rpartition("/")[0] + "/", "a backup layout may lie",
                       f"more than {MAX_TAR_NAMES} names in this tar (from {unlooked!r} on: not looked at)")
