"""Backup layouts below an archive's root: read in a ZIP, said in a tar (review 69 F3).

A folder walk offers every sub-folder to the layout readers (:func:`files.FileSource._layout`),
so ``evidence/alice/<uuid>/`` is read as an AndroidQF acquisition. Zipped, the same tree was
looked at only at its root or under one top folder: the device records were lost, their files
counted as "not an APK". Here the ZIP's names propose roots: every folder where a name sits as a
layout's marker wants it (:func:`registry.marks`), and the folder above it (a layout under one
top folder is claimed there, as in a folder walk). Each is tried shallowest first, as the
folder walk tries it (markers on its shallow names, then the layout's own test), and a claimed
sub-tree is read by its layout's reader under the chain ``archive ▸ root/``.

A layout told from names claims only the files its reader reads as its own, where it reads them
(review 70 F2, F3, F10; review 72 F7, F8): a flat one (Titanium, Swift) its folder's files, a Neo
Backup each instance's metadata and the files directly in it, an AndroidQF acquisition the files
it writes, directly in its folder, ``apks/`` and ``logs/``. A folder below holding any other file
is tried on, at an archive's root (a layout or a bundle there) and below it, and in a folder
claimed by a layout (:func:`files._readers`): one Neo ``.properties`` file cannot hide an
acquisition, nor a Swift Backup in ``apks/`` be AndroidQF's. The files a root's layout leaves (or
a bundle's root) are tried as a flat layout, read beside it (review 72 F9, F10).

Bounded: :data:`MAX_ROOTS` folders tried that turned out no layout (decoys cannot push a real
layout out: a layout found does not count), and :data:`MAX_LOOKED` characters of names looked
at; the folders left are one ``LAYOUT_NOT_READ`` error naming their count and the first few.

A tar is a stream read once, and a layout reader needs a tree: its layouts are not read. The
names it holds are kept (at most :data:`MAX_TAR_NAMES`) and tried the same way, by name only,
once the tar has been read: each layout found, at its root and below, is one ``LAYOUT_NOT_READ``
error (exit 3), never a silent "not an APK" skip of its records.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Iterator
from typing import NamedTuple

from apkscan.issues import error
from apkscan.sources import registry
from apkscan.sources.interface import InputProblem, Item, Member

MAX_ROOTS = 4096  # folders of one archive tried as layouts and found none (each costs a look at its names)
MAX_LOOKED = 256 << 20  # characters of names looked at in those tries (~2 s: a name, once per folder above it)
MAX_TAR_NAMES = 200_000  # names of a tar kept to look for layouts (a ZIP holds at most as many)
ADVICE = "extract the archive and scan the folder"
SHOWN = 3  # folders not looked at, named in the bound's error


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


def _span(names: list[str], root: str) -> tuple[int, int]:
    """Where the names under ``root`` lie in the sorted ``names``."""
    lo = bisect.bisect_left(names, root)
    return lo, bisect.bisect_left(names, root + "\U0010ffff", lo)


class SubTree:
    """The names of a tree under ``root``, as a tree of its own (the reader's chain shows the root):
    ``flat``, its own files only; ``skip``, the names (of ``tree``) that layouts below it read."""

    def __init__(self, tree, root: str, flat: bool = False, skip: Collection[str] = frozenset(),
                 names: list[str] | None = None):
        """``names``: ``tree.names()``, when the caller has them (a ZIP's are copied at each call)."""
        self.tree, self.root = tree, root
        self.chain = tuple(tree.chain) + ((root,) if root else ())
        names = tree.names() if names is None else names
        lo, hi = _span(names, root)
        self._names = [n[len(root):] for n in names[lo:hi] if not (flat and "/" in n[len(root):]) and n not in skip]

    def names(self) -> list[str]:
        return list(self._names)

    def member(self, name: str) -> Member:
        return self._shown(self.tree.member(self.root + name))

    def _shown(self, member: Member) -> Member:
        if self.root and member.name[:len(self.root)].replace("\\", "/") == self.root:  # shown as stored, less the root
            member.name = member.name[len(self.root):]
        return member

    def head(self, name: str, size: int) -> bytes:
        return self.tree.head(self.root + name, size)

    def earlier(self, name: str) -> list:
        """A layout reads each copy of its metadata (review 70 F4); a folder has one copy of a name."""
        earlier = getattr(self.tree, "earlier", None)
        return earlier(self.root + name) if earlier is not None else []

    def earlier_walked(self) -> Iterator[Member | InputProblem]:
        """The earlier records of this layout's names, flagged, under its chain (as :meth:`member`)."""
        walked = getattr(self.tree, "earlier_walked", None)
        for item in walked(self.root + n for n in self._names) if walked is not None else ():
            yield self._shown(item) if isinstance(item, Member) else item


class _Names:
    """A tar's names as a tree that cannot be read: layouts told by name only."""

    def __init__(self, names: list[str], chain: tuple[str, ...]):
        self._names, self.chain = sorted(set(names)), chain

    def names(self) -> list[str]:
        return self._names

    def member(self, name: str) -> Member:
        raise KeyError(name)  # an acquisition.json is not read: claimed by packages.json beside apks/ only


class Found(NamedTuple):
    """The layouts of a tree (each root, its format, the sub-tree its reader reads) and the
    folders not looked at past :data:`MAX_ROOTS` (their count, the first :data:`SHOWN`)."""

    layouts: list[tuple[str, registry.LayoutFormat, SubTree]]
    unlooked: int = 0
    first: tuple[str, ...] = ()


def _claim(names: list[str], root: str, fmt: registry.LayoutFormat, tree) -> set[str]:
    """The names (of the whole tree) that the layout at ``root`` reads as its own."""
    owns = fmt.owns(tree)
    lo, hi = _span(names, root)
    return {n for n in names[lo:hi] if owns(n[len(root):])}


def _one_folder(names: list[str], root: str) -> str:
    """The one folder (``root`` + ``t/``) that holds every name under ``root``, else ""."""
    lo, hi = _span(names, root)
    if lo == hi:
        return ""
    first, last = names[lo][len(root):], names[hi - 1][len(root):]
    top = first.partition("/")[0] + "/"
    return root + top if "/" in first and last.startswith(top) else ""


def _passed(names: list[str], root: str, owned: set[str]) -> bool:
    """A layout above reads every file under ``root`` as its own: no try of its own (review 72 F8:
    one file it matches deep in a tree no longer hides the folders above that file)."""
    lo, hi = _span(names, root)
    return all(n in owned for n in names[lo:hi])


def _flat_beside(tree, names: list[str], base: str, owned: set[str]) -> tuple | None:
    """A flat layout (Titanium, Swift) in the files of ``base`` that the layout there, if any,
    leaves unread, and those files: a bundle's or an acquisition's root may hold one too
    (review 72 F9, F10)."""
    sub = SubTree(tree, base, flat=True, skip=owned, names=names)
    shallow = sub.names()
    fmt = next((f for f in registry.LAYOUT_FORMATS if f.flat and f.marker(shallow) and f.detect(sub)), None)
    return None if fmt is None else (base, fmt, {base + n for n in shallow})


class _Hits:
    """The layouts found so far: each ``(root, format, only)`` (``only``: the files a flat layout
    beside another has), the names they read as their own, and their roots' real folders."""

    def __init__(self, tree, names: list[str]):
        self.tree, self.names = tree, names
        self.hits: list[tuple] = []
        self.owned: set[str] = set()
        self.bases: set[str] = set()

    def add(self, root: str, fmt: registry.LayoutFormat | None, sub) -> None:
        """``fmt`` at ``root`` (None: no layout there), and a flat one in the files it leaves. What a
        layout above matched under ``root`` is this one's (review 72 F8); a root holding one folder
        is read as that folder (AndroidQF's output folder, a Neo in a ZIP's top folder): not tried again."""
        if fmt is not None:
            self.hits.append((root, fmt, None))
            self.owned.difference_update(self.names[slice(*_span(self.names, root))] if root else ())
            if fmt.flat:
                return
            self.owned |= _claim(self.names, root, fmt, sub)
        base = (_one_folder(self.names, root) if fmt is not None else "") or root
        self.bases.add(base)
        beside = _flat_beside(self.tree, self.names, base, self.owned)
        if beside is not None:
            self.hits.append(beside)

    def passed(self, root: str) -> bool:
        return root in self.bases or _passed(self.names, root, self.owned)


def find(tree, at_root: registry.LayoutFormat | None = None) -> Found:
    """Each layout in ``tree``: ``at_root`` (the layout its root's names claim) first, a flat one in
    the root's files it leaves, then every one below, shallowest first. A layout claims only the
    files its reader reads as its own, where it reads them (:attr:`registry.LayoutFormat.owns`; a
    flat one, its folder's files): a folder below holding any other file is tried on, as a folder
    walk offers each sub-folder (review 70 F2, F3; review 72 F7-F10). Each layout's sub-tree leaves
    out what the other layouts read."""
    names = tree.names()
    if at_root is not None and at_root.flat and not at_root.detect(SubTree(tree, "", flat=True, names=names)):
        at_root = None  # its files lie in a folder below the root: claimed there
    found = _Hits(tree, names)
    found.add("", at_root, tree)
    roots, misses, looked = proposed_roots(names), 0, 0
    for i, root in enumerate(roots):
        if found.passed(root):
            continue
        if misses == MAX_ROOTS or looked > MAX_LOOKED:  # only misses count: decoys cannot hide a layout
            rest = [r for r in roots[i:] if not found.passed(r)]
            return Found(_partition(tree, names, found.hits), len(rest), tuple(rest[:SHOWN]))
        sub = SubTree(tree, root, names=names)
        looked += sum(map(len, sub._names))
        fmt = registry.layout_format(sub, registry.shallow_names(sub.names()))
        if fmt is not None and fmt.flat and not fmt.detect(SubTree(tree, root, flat=True, names=names)):
            fmt = None  # its files lie in a folder below: claimed there
        if fmt is None:
            misses += 1
            continue
        found.add(root, fmt, sub)
    return Found(_partition(tree, names, found.hits))


def _scope(names: list[str], root: str, flat: bool) -> list[str]:
    lo, hi = _span(names, root)
    return [n for n in names[lo:hi] if not (flat and "/" in n[len(root):])]


def _partition(tree, names: list[str], hits: list[tuple]) -> list:
    """Each layout with its sub-tree: the names under its root less those of the layouts below it,
    and of a flat one beside it at its root (``only``: the files a non-flat layout leaves it)."""
    hits = sorted(hits, key=lambda h: h[0])  # stable: the root's own layout before a flat one beside it
    roots = [h[0] for h in hits]
    out = []
    for root, fmt, only in hits:
        skip = set(_scope(names, root, fmt.flat)) - only if only is not None else set()
        for other, inner, theirs in hits[slice(*_span(roots, root))]:  # at its root and below
            if other != root or (theirs is not None and only is None):
                skip.update(_scope(names, other, inner.flat) if theirs is None else theirs)
        out.append((root, fmt, SubTree(tree, root, flat=fmt.flat, skip=skip, names=names)))
    return sorted(out, key=lambda f: (f[0].count("/"), f[0]))


def not_read(chain: tuple[str, ...], root: str, label: str, why: str, advice: str = ADVICE) -> InputProblem:
    where = f"below this archive's root ({root})" if root else "at this archive's root"
    return InputProblem(chain + ((root,) if root else ()), [error(
        "LAYOUT_NOT_READ", f"{label} {where}: {why}; its records are not read: {advice}")])


def past(found: Found, what: str = "archive") -> str:
    """The bound's reason, naming the first folders it left (review 70 F8)."""
    shown = ", ".join(found.first) + (", ..." if found.unlooked > len(found.first) else "")
    return (f"the folders of this {what} tried as layouts reached the bound ({MAX_ROOTS} that were none, or "
            f"{MAX_LOOKED} characters of names looked at); {found.unlooked} more that a name marks were not "
            f"looked at ({shown})")


def read_below(walker, tree, reader, depth: int, at_root: registry.LayoutFormat | None = None) -> Iterator[Item]:
    """The layouts of a ZIP (``at_root``: a flat one at its root), each read by its reader; their
    files are left out of ``reader``, the plain walk of the rest (its ``exclude``: their records' indexes)."""
    found = find(tree, at_root)
    yield from _read(walker, tree, found, depth, reader)


def read_tree(walker, tree, fmt: registry.LayoutFormat, depth: int) -> Iterator[Item]:
    """A ZIP whose root a layout (not flat) claims: it reads its own names, and the layouts below
    it that it does not hold are read each by theirs (review 70 F3)."""
    found = find(tree, fmt)
    (_, _, own), below = found.layouts[0], found.layouts[1:]
    yield from walker._entries(fmt.open(own if below else tree, walker.ctx), depth + 1)
    yield from _read(walker, tree, found._replace(layouts=below), depth, None, earlier=False)  # the ZIP's aside has them


def _read(walker, tree, found: Found, depth: int, reader, earlier: bool = True) -> Iterator[Item]:
    """Each layout by its reader; ``earlier``: then the earlier records of its names listed twice,
    flagged, as at the root (review 70 F4), unless the whole ZIP's are walked after it."""
    for root, fmt, sub in found.layouts:
        if reader is not None:  # every record of their names: a name listed twice too
            reader.exclude.update(i for n in sub.names() for i in tree.indexes(root + n))
        if fmt.open is None:
            yield registry.unsupported_layout(fmt, sub.chain)
            continue
        yield from walker._entries(fmt.open(sub, walker.ctx), depth + 1)
        if earlier:
            yield from walker._aside(sub.earlier_walked(), sub.chain, depth)
    if found.unlooked:
        yield not_read(tree.chain, found.first[0], "a backup layout may lie", past(found))


STREAMED = "a tar archive is read as a stream, and a layout's reader needs a folder"


def _named(tree, root: str, fmt: registry.LayoutFormat) -> str:
    """A layout's folder as a tar's error names it: a root holding one folder that the layout also
    claims (an acquisition in AndroidQF's output folder) is named by that folder (review 72 F5)."""
    one = _one_folder(tree.names(), root) if root and not fmt.flat else ""
    sub = SubTree(tree, one) if one else None
    return one if sub and fmt.marker(registry.shallow_names(sub.names())) and fmt.detect(sub) else root


def in_tar(chain: tuple[str, ...], names: list[str], unlooked: str | None) -> Iterator[InputProblem]:
    """The layouts a tar's names hold, at its root and below, each one error (``unlooked``: a
    marking name met past :data:`MAX_TAR_NAMES`, whose folder was not looked at)."""
    tree = _Names(names, chain)
    found = find(tree, registry.layout_format(tree, registry.shallow_names(tree.names())))
    for root, fmt, _ in found.layouts:
        yield not_read(chain, _named(tree, root, fmt), fmt.label, STREAMED)
    if found.unlooked:
        yield not_read(chain, found.first[0], "a backup layout may lie", past(found))
    if unlooked is not None:
        yield not_read(chain, unlooked.rpartition("/")[0] + "/", "a backup layout may lie",
                       f"more than {MAX_TAR_NAMES} names in this tar (from {unlooked!r} on: not looked at)")
