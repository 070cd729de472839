"""Files and folders given on the command line, every file classified by its content.

A given file is always an input (a file that is no APK, no known container and opens as no
ZIP gets a precise error from ``identify``). A given folder is walked, sorted, every regular
file classified by its first bytes (and, when they say nothing, by whether it opens as a ZIP
from its end): APKs and containers are walked into, anything else is counted per folder
with a reason (:class:`Skipped`), never dropped silently. A symlink is never read as an input:
one out of the given inputs would bring in this machine's files (an image's absolute links:
review 49 F5), one inside them names what the walk reads under its own name (a second name made
one file two inputs, or pulled a split set apart: reviews 51 F8, 52 F1); ``--follow-symlinks``
says where each points. For the same reason a file or folder given twice (by any name, or inside
a folder given too) is read once, each later mention a counted skip (review 61 F4).
``--include``/``--exclude`` globs apply to
the path relative to the given folder; a folder holding ``base.apk`` + another ``*.apk`` is
one split bundle; layout readers (AndroidQF, backup apps) are offered each folder.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from stat import S_ISLNK, S_ISREG
from typing import BinaryIO

from apkscan.apk.io.readonly import changed, open_fd, same_inode
from apkscan.issues import ApkScanError, Issue, error
from apkscan.sources.bundles import in_split_folder, is_split_folder
from apkscan.sources.custody import record as custody_record
from apkscan.sources.folder_walk import Folder, shallow_listing, walk_down
from apkscan.sources.interface import InputFile, InputProblem, Item, Member, Skipped
from apkscan.sources import archive_layouts
from apkscan.sources.registry import LayoutFormat, layout_format, unsupported_layout
from apkscan.sources.walkclock import WalkClock
from apkscan.sources.walker import WalkContext, Walker, WalkOptions

MAX_FILES_PER_FOLDER = 100_000
SYMLINK = "symlink (not followed without --follow-symlinks)"
EXCLUDED = "excluded by --include/--exclude"
SPECIAL = "not a regular file (FIFO, socket, device or dangling symlink)"
EMPTY_FOLDER = "empty folder (no files in it)"
IN_INPUTS = ("symlink to a file or folder inside the inputs (read under its own name: a second name would "
             "make one file two inputs, or pull a member out of its split set)")
LAYOUT_LINK = "symlink in a backup folder (its reader follows none)"
BACKUP_FILE = "backup-file"  # the custody kind of a backup folder's file that its reader parsed itself
GIVEN_AGAIN = ("given again: the same file, or the same folder, is one input, read once under the name it was "
               "first met by")
OUTSIDE = ("symlink to a file or folder outside the inputs (not followed: an image's absolute links point into "
           "this machine; name the target to scan it)")


class FileSource:
    """Files and folders on the local file system, containers walked by content."""

    def __init__(self, paths: Iterable[str | os.PathLike[str]], options: WalkOptions | None = None):
        self.paths = [os.fspath(p) for p in paths]
        self.options = options or WalkOptions()
        self.description = ", ".join(self.paths)
        self.named = list(self.paths)  # the document's ``inputs``: each path as its own entry
        self._roots: list[str] | None = None
        self._read: set[tuple[int, int]] = set()  # (device, inode) of the files read as inputs so far
        # ... noted only while a file is given later (a 100,000-file folder alone notes nothing)
        self._file_after = [False] * len(self.paths)
        self._noted = False
        for i in range(len(self.paths) - 2, -1, -1):
            self._file_after[i] = self._file_after[i + 1] or os.path.isfile(self.paths[i + 1])
        self._given_files: set[tuple[int, int]] = set()  # ... of those given by name
        self._given_dirs: set[tuple[int, int]] = set()  # ... of the folders given, walked so far

    def _outside(self, path: str) -> str | None:
        """The real path of ``path`` when it lies outside every given input (a followed link may
        only lead within them: what they hold is the evidence, not the examiner's own files)."""
        if self._roots is None:
            self._roots = [os.path.realpath(p) for p in self.paths]
        real = os.path.realpath(path)
        inside = any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self._roots)
        return None if inside else real

    def inputs(self) -> Iterator[Item]:
        ctx = WalkContext(self.options)
        walker = Walker(ctx)
        try:
            for i, given in enumerate(self.paths):
                self._noted = self._file_after[i]
                if self._again(given):
                    yield Skipped((given,), GIVEN_AGAIN, 1, [given])
                elif os.path.isdir(given):
                    st = os.stat(given)
                    self._given_dirs.add((st.st_dev, st.st_ino))
                    yield from self._folder(walker, given, st)
                elif os.path.isfile(given):
                    st = os.stat(given)
                    self._given_files.add((st.st_dev, st.st_ino))
                    yield from self._file(walker, given, (given,), given=True)
                elif os.path.lexists(given):
                    yield InputProblem((given,), [error("INPUT_NOT_A_FILE", "not a regular file or folder")])
                else:
                    yield InputProblem((given,), [error("INPUT_NOT_FOUND", "no such file or folder")])
        finally:
            ctx.temp.close()

    def _again(self, given: str) -> bool:
        """True when ``given`` names a file the walker already read as an input (by any name: device
        and inode), or a folder given before (review 61 F4: ``scan dir ./dir/`` and ``scan a.apk a.apk``
        scanned and counted each file twice, unsaid). A folder inside one given before is walked
        again: a backup layout's reader or ``--exclude`` may have read nothing of it (final review 4)."""
        try:
            st = os.stat(given)
        except (OSError, ValueError):
            return False  # said as not found / unreadable by the caller
        if os.path.isdir(given):  # the same folder only: what a walk read of a folder inside it depends
            return (st.st_dev, st.st_ino) in self._given_dirs  # on its layout and --exclude (final review 4 H1, M2)
        return (st.st_dev, st.st_ino) in self._read

    def _noting(self, items: Iterator[Item]) -> Iterator[Item]:
        """One outermost file's ``items`` (read by the walker as an input, never by a layout's reader,
        which may pass a file over as data), noting it as read when a file is given later."""
        for item in items:
            if self._noted and isinstance(item, InputFile):
                try:
                    st = os.stat(item.path)
                    self._read.add((st.st_dev, st.st_ino))
                except (OSError, ValueError):
                    pass
            yield item

    def _given_before(self, st: os.stat_result | None, folder: bool) -> bool:
        """A file of a folder walk that was given by name before, or a sub-folder given before
        (``st``: its listing's): read there, so skipped here (only given ones: two hard links in a
        folder stay two inputs)."""
        ids = self._given_dirs if folder else self._given_files
        if not ids or (folder and len(ids) < 2) or st is None:
            return False
        return (st.st_dev, st.st_ino) in ids  # a folder's own sub-folder is never the folder itself

    def _file(self, walker: Walker, path: str, where: tuple[str, ...], *, given: bool = False,
              bundle: str | None = None, listed: os.stat_result | None = None) -> Iterator[Item]:
        """One outermost file: its custody record, then whatever it holds (``listed``: a folder's
        file, its listing's stat: the file opened by path must be that one)."""
        walker.ctx.new_input()
        known = self.options.known(path) if self.options.known and bundle is None else None
        if known is not None:  # unchanged and already decided (the caller's store says): not opened
            yield from self._noting(iter(known))
            return
        try:
            clock = WalkClock(self.options.walk_timeout)
            clock.allow(listed or os.stat(path))
            yield from self._noting(clock.run(walker.local_file(path, (path,), where, given=given, bundle=bundle,
                                                                listed=listed), (path,)))
        except OSError as exc:
            yield InputProblem((path,), [error("INPUT_UNREADABLE", f"cannot read: {exc.strerror or exc}")])
        except ApkScanError as exc:  # no regular file by its descriptor (a FIFO swapped in), or changed
            yield InputProblem((path,), [exc.to_issue()])

    def _folder(self, walker: Walker, root: str, root_stat: os.stat_result) -> Iterator[Item]:
        problems: list[InputProblem] = []
        count = 0

        def on_error(path: str, issue: Issue) -> None:
            problems.append(InputProblem((path,), [issue]))

        for folder in walk_down(root, on_error, root_stat):
            dirpath, dirnames, stats = folder.path, folder.dirs, folder.stats
            where = (dirpath,)
            if not dirnames and not folder.files:  # a failed pull: said, as an empty container is (review 69 F5)
                yield Skipped(where, EMPTY_FOLDER, 1, [dirpath])
                continue
            links = [d for d in dirnames if S_ISLNK(stats[d].st_mode)]
            if links:
                yield from self._links(dirpath, links)
            dirnames[:] = [d for d in dirnames if d not in links]
            again = [d for d in dirnames if self._given_before(stats[d], True)]
            if again:
                dirnames[:] = [d for d in dirnames if d not in again]
                yield Skipped(where, GIVEN_AGAIN, len(again), again[:5])
            dirnames.sort()
            names = sorted(folder.files)
            claimed = yield from self._layout(walker, folder, names)
            if claimed:
                if claimed == "tree":
                    dirnames[:] = []
                continue  # a flat layout read this folder's files; its sub-folders are walked on
            split = is_split_folder(names)
            if split:  # the base and its splits first, together: a file sorting between them closed the set
                names = sorted(names, key=lambda n: not in_split_folder(n))  # (review 48 F1)
            for name in names:
                full, st = os.path.join(dirpath, name), stats.get(name)
                reason = self._refuse(root, full, st) or (GIVEN_AGAIN if self._given_before(st, False) else None)
                if reason:
                    yield Skipped(where, reason, 1, [name])
                    continue
                count += 1
                if count > self.options.max_files:
                    yield InputProblem((root,), [error("INPUT_LIMIT_EXCEEDED",
                                                       f"more than {self.options.max_files} files under this folder; rest not read")])
                    yield from problems
                    return
                bundle = dirpath if split and in_split_folder(name) else None  # every *.apk (review 90 F2)
                yield from self._file(walker, full, where, bundle=bundle, listed=st)
        yield from problems

    def _links(self, dirpath: str, links: list[str]) -> Iterator[Skipped]:
        """Symlinks to folders, listed as such: never walked into, said (with ``--follow-symlinks``:
        where each leads; never a second way into the inputs, never a way out of them)."""
        where = (dirpath,)
        if not self.options.follow_symlinks:
            yield Skipped(where, SYMLINK, len(links), links[:5])
            return
        said: dict[str, list[str]] = {}
        for d in links:
            real = self._outside(os.path.join(dirpath, d))
            said.setdefault(OUTSIDE if real else IN_INPUTS, []).append(d + (f" -> {real}" if real else ""))
        for reason, names in said.items():
            yield Skipped(where, reason, len(names), names[:5])

    def _refuse(self, root: str, full: str, st: os.stat_result | None) -> str | None:
        """Why a file of a folder is not read, or None: by its listing's ``lstat`` (``st``; None:
        gone since it was listed), a ``stat`` of a symlink's target when links are followed; the
        relative path only for globs."""
        if self.options.include or self.options.exclude:
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if self.options.include and not any(fnmatch.fnmatchcase(rel, g) for g in self.options.include):
                return EXCLUDED
            if any(fnmatch.fnmatchcase(rel, g) for g in self.options.exclude):
                return EXCLUDED
        if st is None:
            return SPECIAL
        try:
            if S_ISLNK(st.st_mode):
                if not self.options.follow_symlinks:
                    return SYMLINK
                st = os.stat(full)
                if not S_ISREG(st.st_mode):
                    return SPECIAL
                return OUTSIDE if self._outside(full) is not None else IN_INPUTS
        except (OSError, ValueError):  # gone since it was listed, or a dangling symlink followed
            return SPECIAL
        return None if S_ISREG(st.st_mode) else SPECIAL

    def _layout(self, walker: Walker, folder: Folder, names: list[str]):
        """Offer the folder to the layout readers: "tree" when one read it whole, "files" when a
        flat layout (Titanium, Swift) read only its own files, else False."""
        cap = self.options.max_files
        fmt = layout_format(FolderTree(folder.path, cap, listed=folder.own), shallow_listing(folder._replace(files=names)))
        if fmt is None:
            return False
        tree = FolderTree(folder.path, cap, flat=fmt.flat, listed=folder.own)
        if fmt.open is None:
            yield unsupported_layout(fmt, tree.chain)
            return False
        walker.ctx.new_input()  # a backup folder is one outermost input: its own inflate budget
        walk = _readers(walker, fmt, tree)
        recorded: set[str] = set()
        for item in WalkClock(self.options.walk_timeout).run(walk, tree.chain):  # each file adds its share
            if isinstance(item, InputFile):
                recorded.add(item.path)
            yield item
        yield from WalkClock(self.options.walk_timeout).run(_read_by_reader(tree, recorded), tree.chain)
        tree.names()  # listed by now if its reader asked; what it left out is said either way
        for reason, left in ((LAYOUT_LINK, tree.links), (SPECIAL, tree.special)):
            if left:
                yield Skipped(tree.chain, reason, len(left), left[:5])
        yield from tree.problems  # its sub-folders that changed, or could not be listed
        if tree.truncated:
            yield InputProblem(tree.chain, [error("INPUT_LIMIT_EXCEEDED", f"more than {cap} files in {fmt.label} "
                                                  f"(a folder); the rest were not listed or read")])
        return "files" if fmt.flat else "tree"


def _readers(walker: Walker, fmt: LayoutFormat, tree: FolderTree) -> Iterator[Item]:
    """The layout's reader, and for one that is not flat, the readers of the layouts below it that
    it does not hold (:func:`archive_layouts.find`), as its ZIP's are read (review 70 F3)."""
    found = None if fmt.flat else archive_layouts.find(tree, fmt)
    if found is None or (len(found.layouts) == 1 and not found.unlooked):
        yield from walker._entries(fmt.open(tree, walker.ctx), 1, custody=True)
        return
    for root, inner, sub in found.layouts:
        if root:
            sub.chain = (os.path.join(tree.root, *root.rstrip("/").split("/")),)
        if inner.open is None:
            yield unsupported_layout(inner, sub.chain)
            continue
        yield from walker._entries(inner.open(sub, walker.ctx), 1, custody=True)
    if found.unlooked:
        yield archive_layouts.not_read(tree.chain, found.first[0], "a backup layout may lie",
                                       archive_layouts.past(found, "folder"), "scan that folder on its own")


def _read_by_reader(tree: FolderTree, recorded: set[str]) -> Iterator[Item]:
    """Custody of the files of a backup folder that its reader parsed itself (``.properties``,
    ``packages.json``, OAndBackup's ``.log``) or decompressed (Titanium's ``.apk.gz``): the walker
    only records files it reads in place (review 49 F2)."""
    for path, st in tree.opened.items():
        if path not in recorded:  # hashed as the file the reader read, unchanged (review 66 F1)
            try:
                yield custody_record(path, st.st_size, BACKUP_FILE, expect=st)
            except (OSError, ApkScanError) as exc:
                issue = exc.to_issue() if isinstance(exc, ApkScanError) else error(
                    "INPUT_UNREADABLE", f"cannot read: {exc.strerror or exc}")
                yield InputProblem((path,), [issue])


class FolderTree:
    """A folder read by relative name (``/`` separators), for layout readers. Every file is held
    to what the listing saw through its folder's descriptor (:mod:`folder_walk`): a member whose
    name, or a folder above it, was swapped after the listing is refused, never read (review 68 F2)."""

    def __init__(self, root: str, max_files: int = MAX_FILES_PER_FOLDER, flat: bool = False,
                 listed: os.stat_result | None = None):
        """``flat``: only the folder's own files (a flat layout leaves sub-folders to the walk);
        ``listed``: the folder's stat as the walk met it (the tree must be that folder)."""
        self.root, self.chain, self.max_files, self.flat, self.listed = root, (root,), max_files, flat, listed
        self._names: list[str] | None = None
        self._stats: dict[str, os.stat_result] = {}  # path -> the listing's lstat of each file listed
        self.truncated = False  # more than max_files files: the listing stopped (the caller reports it)
        self.opened: dict[str, os.stat_result] = {}  # path -> stat of every file a reader opened (custody)
        self.links: list[str] = []  # symlinks met by the listing: never followed, said (review 51 F5)
        self.special: list[str] = []  # FIFOs, sockets, devices met by the listing: said
        self.problems: list[InputProblem] = []  # sub-folders that could not be listed, or changed: said

    def names(self) -> list[str]:
        if self._names is None:
            out: list[str] = []
            unlisted = lambda path, issue: self.problems.append(InputProblem((path,), [issue]))  # noqa: E731
            for folder in walk_down(self.root, unlisted, self.listed):
                if self.flat:
                    folder.dirs[:] = []
                folder.dirs.sort()
                for f in sorted(folder.files) + [d for d in folder.dirs if S_ISLNK(folder.stats[d].st_mode)]:
                    full, st = os.path.join(folder.path, f), folder.stats.get(f)
                    rel = os.path.relpath(full, self.root).replace(os.sep, "/")
                    if st is not None and S_ISLNK(st.st_mode):
                        self.links.append(rel)
                    elif st is not None and S_ISREG(st.st_mode):
                        out.append(rel)
                        self._stats[full] = st
                    else:
                        self.special.append(rel)
                if len(out) > self.max_files:
                    self.truncated = True
                    break
            self._names = sorted(out[: self.max_files])
        return self._names

    def member(self, name: str) -> Member:
        """A listed file (KeyError: none by that name); :data:`~apkscan.apk.io.readonly.CHANGED`
        when its name now leads to another file."""
        full = os.path.join(self.root, *name.split("/"))
        if ".." in name.split("/"):
            raise KeyError(name)
        self.names()
        listed = self._stats.get(full)
        if listed is None:
            raise KeyError(name)
        try:
            now = os.stat(full, follow_symlinks=False)
        except OSError:  # listed through its folder's descriptor: its path leads nowhere now
            raise changed() from None
        if not same_inode(listed, now):
            raise changed()
        size = now.st_size

        def opened() -> BinaryIO:
            fd = open_fd(full, regular=True, follow=False, expect=self.opened.get(full), listed=listed)
            self.opened.setdefault(full, os.fstat(fd))
            return os.fdopen(fd, "rb")

        return Member(name, size, opened, window=(full, 0, size), listed=listed)
