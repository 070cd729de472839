"""Recurse through containers by content, bounded in depth, bytes and temporary space.

A *blob* is one file's bytes at some point of a chain: a window of a local file (read in place) or
a stream (a tar member, a decompressed layer). The walker classifies each blob from its head
(:mod:`detect`), then: an APK becomes a :class:`ScanInput`; a ZIP is opened (in place, or spooled
when it only exists as a stream) and read as an archive, a split bundle or a layout; a compressed
stream is decompressed under the same chain; a stream format of the registry is handed to its
reader; anything else is counted as skipped. Bytes known by their head are looked at from their end
too, as ZIP readers find a ZIP (:mod:`polyglot`: in place, or the kept tail of a stream).

Every failure is an :class:`InputProblem` for that blob only; the walk goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import BinaryIO

from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.readonly import held, held_stat, same_file
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkScanError, Issue, error
from apkscan.sources import archive_layouts, detect, member_facts, polyglot, registry, walk_readings, walk_text, walkclock
from apkscan.sources.custody import head_of, record as custody_record
from apkscan.sources.bundles import BundleReader, InstallSetReader
from apkscan.sources.compressed import decompressed, trailing_issue
from apkscan.sources.interface import ContainerReader, InputProblem, Item, Member, ScanInput, Skipped
from apkscan.sources.streams import Prefixed, WindowStream, read_head
from apkscan.sources.tempspace import release
from apkscan.sources.walk_issues import as_issue, read_errors
from apkscan.sources.walk_context import WalkContext, WalkOptions  # noqa: F401 (re-exported: callers import them here)
from apkscan.sources import walk_streamed, zip_archive, zip_local
from apkscan.sources.zip_archive import ZipReader
from apkscan.sources.zip_tree import ZipTree
from apkscan.sources.zip_readings import ZIP64

NOT_AN_INPUT = "not an APK or a known container"
V4_BESIDE = "v4 signature (.idsig) of the APK beside it: read with that APK, deciding nothing but its v4"
SAME_DATA = "same data as another member, read once (the ZIP names those bytes more than once)"


@dataclass(slots=True)
class Blob:
    """A file or member the walker has in hand: where it sits, its first bytes, how to read the rest."""

    chain: tuple[str, ...]
    where: tuple[str, ...]  # the folder or container it sits in (for skipped counts)
    head: bytes
    window: tuple[str, int, int] | None = None
    stream: BinaryIO | None = None
    bundle: str | None = None
    flags: list[Issue] = field(default_factory=list)
    given: bool = False  # named on the command line: never skipped, always reported
    custody: bool = False  # an outermost local file: its InputFile record is owed
    head_stat: os.stat_result | None = None  # a local file: the stat of the descriptor its head was read from
    place: tuple[str, int, int] | None = None  # a stream whose bytes lie whole in a local file (a tar member on disk)
    again: Callable[[], BinaryIO] | None = None  # a stream: its bytes read again from their start
    reading: str | None = None  # "zip64": the ZIP's second reading (:class:`walk_readings.Others`)


class Walker:
    def __init__(self, ctx: WalkContext):
        self.ctx = ctx

    # ------------------------------------------------------------------ entry points
    def local_file(self, path: str, chain: tuple[str, ...], where: tuple[str, ...], *, given: bool = False,
                   bundle: str | None = None, listed: os.stat_result | None = None) -> Iterator[Item]:
        """A file on this machine (given, or met in a folder): its head and custody stat from one
        descriptor (:func:`custody.head_of`), which must be the file its folder's listing saw
        (``listed``: a folder above it swapped since leads elsewhere, review 68 F2); every later
        open of it while it is walked must be that file, unchanged (review 66 F1)."""
        head, head_stat = head_of(path, follow=given or self.ctx.options.follow_symlinks, listed=listed)
        size = head_stat.st_size
        with held(path, head_stat):
            yield from self.blob(Blob(chain, where, head, window=(path, 0, size), bundle=bundle, given=given,
                                      custody=True, head_stat=head_stat), 0)

    def blob(self, b: Blob, depth: int) -> Iterator[Item]:
        walkclock.check()
        try:
            yield from self._dispatch(b, depth)
        except read_errors() as exc:
            yield InputProblem(b.chain, [as_issue(exc)])

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, b: Blob, depth: int) -> Iterator[Item]:
        if detect.is_zip(b.head):
            yield from self._zip(b, depth)
            return
        comp = registry.compression(b.head)
        fmt = registry.stream_format(b.head) if comp is None else None
        if comp is None and fmt is None:
            yield from self._unknown(b, depth)
            return
        yield from self._custody(b, comp or fmt.kind)
        label = fmt.label if fmt is not None else f"a {comp} stream"
        yield from polyglot.in_place(self, b, depth, label)  # before the container: ZIP first, as for files
        b, tail = polyglot.kept(b)  # a stream: its tail kept, looked at once it has passed
        try:
            yield from self._container(b, depth, comp, fmt)
        except read_errors() as exc:
            if tail is None:
                raise
            yield InputProblem(b.chain, [as_issue(exc)])  # said; its end is still looked at
        if tail is not None:
            yield from polyglot.from_end(self, b, depth, tail, label)

    def _container(self, b: Blob, depth: int, comp: str | None, fmt) -> Iterator[Item]:
        if fmt is not None and fmt.open is None:
            hint = f"; {fmt.hint}" if fmt.hint else ""
            yield InputProblem(b.chain, [error(fmt.code, f"{fmt.label}: this container is recognised but not read "
                                               f"by this version{hint}")])
            return
        if depth >= self.ctx.options.max_depth:
            yield self._too_deep(b.chain)
            return
        again, stream = polyglot.again_of(b), self._stream(b)
        try:
            if comp is not None:
                inner = decompressed(comp, stream, self.ctx.budget)
                head = read_head(inner, detect.HEAD_SIZE)
                yield from self.blob(Blob(b.chain, b.where, head, stream=Prefixed(head, inner), bundle=b.bundle,
                                          flags=b.flags, given=b.given, again=polyglot.layer_again(
                                              comp, again, self.ctx.budget)), depth + 1)
                junk = trailing_issue(inner)  # known once what came out was read to its end
                if junk is not None:
                    yield InputProblem(b.chain, [junk])
            else:
                reader = fmt.open(stream, b.chain, self.ctx)
                if hasattr(reader, "place"):  # a tar on disk: its members' bytes lie in place
                    reader.place = b.window or b.place
                yield from self._entries(reader, depth + 1, again=polyglot.replay_of(again, fmt, b.chain, self.ctx))
        finally:
            stream.close()

    def _too_deep(self, chain: tuple[str, ...]) -> InputProblem:
        return InputProblem(chain, [error("CONTAINER_TOO_DEEP", f"nested more than {self.ctx.options.max_depth} "
                                          "containers deep (--max-depth)")])

    def _unknown(self, b: Blob, depth: int) -> Iterator[Item]:
        """Not an input by its first bytes. A ZIP behind other bytes (an APK after a prefix, as a
        self-extractor carries its archive) is one when it opens as a ZIP, as Android opens it:
        read like any ZIP. Text (control bytes sparse enough) is looked through for a listing
        (:func:`walk_text.text`). Otherwise given files and ``*.apk`` names go to ``identify`` for a
        precise error; the rest is counted as skipped. (A stream cannot be read from its end:
        only in-place bytes are looked at so.)"""
        archive = detect.opened_as_zip(*b.window) if b.window is not None else None
        if archive is not None:  # ZIP64_ONLY: _zip opens it, both ways
            yield from self._zip(b, depth, None if archive is detect.ZIP64_ONLY else archive)  # closes its source
            return
        if b.window is not None and (yield from walk_readings.shifted(self, b, b.window, depth)):
            return
        if registry.text_encoding(b.head) is not None and (yield from walk_text.text(self, b, depth)):
            return
        named_apk = b.chain[-1].lower().endswith(".apk")
        if b.window is not None and (b.given or named_apk):
            yield from self._custody(b, "unknown")
            path, off, length = b.window
            yield ScanInput(path, b.chain, off, None if (off, length) == (0, os.path.getsize(path)) else length,
                            bundle=b.bundle, flags=b.flags, expect=held_stat(path))
        elif named_apk:
            yield InputProblem(b.chain, [error("INPUT_NOT_AN_APK", "named like an APK but its bytes are no ZIP archive")])
        else:
            beside = (b.custody and b.window is not None and b.window[0].endswith(".idsig")
                      and os.path.isfile(b.window[0][:-6]) and not os.path.islink(b.window[0]))
            yield Skipped(b.where, V4_BESIDE if beside else NOT_AN_INPUT, 1, [b.chain[-1]])

    def _custody(self, b: Blob, kind: str) -> Iterator[Item]:
        """The custody record of an outermost file, once its kind is known (hashed unless an APK)."""
        if b.custody and b.window is not None:
            yield custody_record(b.window[0], b.window[2], kind)

    def _stream(self, b: Blob) -> BinaryIO:
        if b.stream is not None:
            return b.stream
        return WindowStream(*b.window)

    # ------------------------------------------------------------------ ZIP
    def _zip(self, b: Blob, depth: int, opened: ZipArchive | None = None, owned: bool = False,
             walked: bool = False, origin: tuple[ZipArchive, int, int] | None = None) -> Iterator[Item]:
        """``opened``: the archive already read from ``b.window`` (found from its end), not parsed twice;
        ``owned``: that window is a whole spooled copy of the walk's (released, or handed on); ``walked``:
        its local headers were followed in the first reading, against both central directories;
        ``origin``: the bytes a streaming reader starts at when the window is moved past them
        (:func:`zip_local.walk`)."""
        (path, off, length), spooled, source = self._zip_source(b, opened, owned)
        handed_on, archive, others, shared = False, None, None, None  # others: the readings beside this one (walk_readings)
        try:
            try:
                archive = opened or ZipArchive.open(source, b.reading == ZIP64)
                kind = detect.zip_kind([e.name for e in archive.entries])
            except ApkScanError:
                kind = detect.APK  # a broken ZIP: identify reports exactly what is wrong with it
                if b.reading is None and (yield from walk_readings.shifted(self, b, (path, off, length), depth)):
                    return
            source.verify()  # its directory was read from the file custody names, unchanged
            others = walk_readings.Others(b, archive, source, (path, off, length),
                                          kind != detect.APK or walk_streamed.archive_named(b.chain))
            b = others.flagged(b)
            yield from self._custody(b, kind)
            if kind in (detect.APK, detect.AAB):  # a bundle is identified as one app, as an APK is
                nested, unchecked = detect.nested_members(archive) if archive is not None else ([], [])
                streamed = None if walked else walk_streamed.local_walk(b, archive, source, off, others.second,
                                                                         self.ctx.budget, origin, self._room(depth))
                shared, walked = zip_local.shared(self.ctx.walked, b.chain, (path, off), streamed), walked or streamed is not None
                if not nested and streamed is None:  # identify opens its own: its entries are not held while it runs
                    archive = opened = None
                alone = not nested and not others and streamed is None  # nothing more walked from these bytes
                handed_on = spooled is not None and alone  # else the spooled copy stays ours until that is done
                if alone and not unchecked and kind == detect.APK:  # a bundle's custody line says "aab": never the lane's
                    self._plain(b, source, path)
                whole = spooled is not None or (off, length) == (0, os.path.getsize(path))
                yield ScanInput(path, b.chain, 0 if whole else off, None if whole else length,
                                cleanup=handed_on, bundle=b.bundle, flags=b.flags, reading=b.reading,
                                expect=None if spooled else held_stat(path))
                if unchecked:
                    yield zip_archive.overlap_problem(b.chain, unchecked)
                if nested:
                    yield from self._nested(archive, nested, (path, off), b.chain, depth)
                if streamed is not None:  # a streaming installer's bundle beside it (review 80 F2, F6)
                    yield from walk_streamed.members(self, archive, streamed, (path, off), b.chain, depth, nested)
            elif depth >= self.ctx.options.max_depth:
                yield self._too_deep(b.chain)
            else:  # the local headers followed once, against every central directory the bytes have
                local = zip_local.Walk() if walked else zip_local.walk(archive, self.ctx.budget, others.second,
                                                                          origin=origin, room=self._room(depth))
                shared, walked = zip_local.shared(self.ctx.walked, b.chain, (path, off), local), True
                yield from self._zip_entries(archive, kind, (path, off), b.chain, depth, b.bundle, local)
            self.ctx.walked.pop(shared, None)  # the local-only entries it found, walked: another reading's are its own
            yield from others.walk(self, b, depth, (path, off, length), walked)
        finally:
            source.close()
            self.ctx.walked.pop(shared, None)
            if others is not None:
                others.close()
            if spooled and not handed_on:
                release(spooled)

    def _room(self, depth: int) -> int:
        """How many levels of members below a container walked at ``depth`` are opened as containers
        (each at ``depth + k``, opened while below ``--max-depth``): a stored ZIP's entries the stream
        reads past them are the container's own (:mod:`zip_nested`, review 91b F1)."""
        return self.ctx.options.max_depth - depth - 1

    def _zip_source(self, b: Blob, opened: ZipArchive | None, owned: bool):
        """The ZIP's window, the spooled copy this walk owns (``None`` when read in place and not
        owned) and a byte source over it; on failure the copy is released and nothing is left open."""
        if b.window is not None:
            path, off, length = b.window
            spooled = path if owned else None
        else:
            spooled = path = self.ctx.temp.spool(b.stream, b.chain[-1])
            off, length = 0, os.path.getsize(path)
        try:
            source = opened.source if opened is not None else ByteSource(path, off, length)
        except (OSError, ApkScanError):
            release(path) if spooled else None
            opened.source.close() if opened is not None else None
            raise
        return (path, off, length), spooled, source

    def _plain(self, b: Blob, source: ByteSource, path: str) -> None:
        """An outermost file read as one plain APK: the fast lane may answer it next time, if the
        file read as a ZIP is the one whose head was classified."""
        if b.custody and len(b.chain) == 1 and self.ctx.options.on_plain:
            read = source.stat()
            if same_file(b.head_stat, read):
                self.ctx.options.on_plain(path, read)

    def _nested(self, archive: ZipArchive, entries: list, window: tuple[str, int], chain: tuple[str, ...],
                depth: int) -> Iterator[Item]:
        """APKs and containers an APK carries (droppers, decoys): walked like any container's members."""
        if depth >= self.ctx.options.max_depth:
            yield self._too_deep(chain)
            return
        reader = ZipReader(archive, window, chain, self.ctx.budget)
        try:
            for entry in entries:
                for m in reader.readings(entry):  # a stored one's sizes may read two ways (review 81 F2)
                    yield from self.member(m, chain, depth + 1) if isinstance(m, Member) else (m,)
        finally:
            self.ctx.walked.pop(reader.token, None)

    def _zip_entries(self, archive: ZipArchive, kind: str, window: tuple[str, int], chain: tuple[str, ...],
                     depth: int, bundle: str | None, local: zip_local.Walk) -> Iterator[Item]:
        """``bundle``: the ZIP is part of one install (Swift's ``.splits``): its members join it. ``local``: what
        only its local headers give, as streaming installers read it (:mod:`zip_local`, review 78 F1)."""
        kind = zip_local.kind_with(kind, archive, local)
        if kind in detect.BUNDLE_KINDS:
            reader: ZipReader = BundleReader(archive, window, chain, self.ctx.budget, kind=kind)
        elif bundle is not None:
            reader = InstallSetReader(archive, window, chain, self.ctx.budget, key=bundle)
        else:
            reader = ZipReader(archive, window, chain, self.ctx.budget)
        reader.local = local
        try:
            tree = ZipTree(reader)  # a bundle's names are claims too: layouts below its root are read (review 70 F10)
            fmt = None if kind in detect.BUNDLE_KINDS else registry.layout_format(tree, registry.shallow_names(tree.names()))
            if fmt is not None and fmt.open is None:
                yield registry.unsupported_layout(fmt, chain)
                fmt = None
            if fmt is not None and not fmt.flat:
                yield from archive_layouts.read_tree(self, tree, fmt, depth)
                yield from self._aside(tree.aside(), chain, depth)
                yield from self._aside(reader.local_items(walks=lambda e: False), chain, depth)  # a layout read the names
                return
            yield from archive_layouts.read_below(self, tree, reader, depth, fmt)  # a flat layout: its folder's files
            if reader.exclude and not reader.has_entries():
                return  # all read by layouts: not an empty container
            yield from self._entries(reader, depth + 1)
        finally:
            self.ctx.walked.pop(reader.token, None)

    def _aside(self, items: Iterable[Member | Item], chain: tuple[str, ...], depth: int) -> Iterator[Item]:
        """The records a layout's names leave out (:meth:`ZipTree.aside`: earlier records of a name listed
        twice, ``__MACOSX/``, folders carrying data), walked by content or said."""
        for item in items:
            if isinstance(item, Member):
                yield from self.member(item, chain, depth + 1)
            else:
                yield item

    # ------------------------------------------------------------------ members
    def _entries(self, reader: ContainerReader, depth: int, custody: bool = False, again=None) -> Iterator[Item]:
        """``custody``: the reader reads a folder, so its members are outermost files too; ``again``:
        ``(index, name)`` → how the index-th member can be read again (a stream container's)."""
        chain = getattr(reader, "chain", None) or getattr(getattr(reader, "tree", None), "chain", ())  # layout readers
        seen = members = 0
        try:
            for item in reader.entries():
                seen += 1
                if isinstance(item, Member):
                    if again is not None and item.window is None and item.place is None and item.again is None:
                        item.again = again(members, item.name)
                    members += 1
                    yield from self.member(item, chain, depth, custody=custody)
                else:
                    yield item
        except (*read_errors(), OSError) as exc:
            seen += 1
            yield InputProblem(chain, [as_issue(exc)])
        except walkclock.WalkTimeout:  # what the reader learnt before the cut (an adb backup's records) is kept
            yield from getattr(reader, "unfinished", list)()
            raise
        if not seen:  # accounted for, not silently nothing
            yield Skipped(chain[:-1] or chain, "empty container (no files in it)", 1, [chain[-1]])

    def member(self, m: Member, container: tuple[str, ...], depth: int, custody: bool = False) -> Iterator[Item]:
        """Classify one member by content and recurse into it (``custody``: a whole file of a folder).

        A ZIP member whose bytes, treated the same way, were already read without an error under
        another name of the same archive is counted as skipped instead (:func:`~apkscan.sources.zip_archive.same_bytes`)."""
        walkclock.check()
        yield from member_facts.kept(m.flags, container + (m.name,), self._once(m, container, depth, custody))

    def _once(self, m: Member, container: tuple[str, ...], depth: int, custody: bool) -> Iterator[Item]:
        key = zip_archive.same_bytes(m)
        if key is None:
            yield from self._member(m, container, depth, custody)
            return
        walked = self.ctx.walked.setdefault(m.data_key[0], {})  # its reader's (the archive's), dropped at its end
        first = walked.get(key)
        if first is not None:
            self.ctx.budget.refund(m.charged)  # not inflated again
            yield Skipped(container, SAME_DATA, 1, [f"{m.name} (= {first})"])
            return
        chain = container + (m.name,)
        failed = False
        for item in self._member(m, container, depth, custody):
            failed = failed or (isinstance(item, InputProblem) and tuple(item.chain) == chain)
            yield item
        if not failed:  # a copy whose read failed (cut short, too deep ...) spares no other name
            walked[key] = m.name

    def _member(self, m: Member, container: tuple[str, ...], depth: int, custody: bool) -> Iterator[Item]:
        chain = container + (m.name,)
        try:
            if m.window is not None:
                path, off, length = m.window
                with WindowStream(path, off, min(length, detect.HEAD_SIZE), listed=m.listed) as ws:
                    head = read_head(ws, detect.HEAD_SIZE)
                    st = ws.stat() if custody else None  # a file of a backup folder: its custody stat
                st = st if st is not None and off == 0 and length == st.st_size else None  # whole: custody's
                if st is not None:
                    walkclock.allow(st)  # a file of a backup folder: an outermost file's share of time
                with held(path, st) if st is not None else nullcontext():
                    yield from self.blob(Blob(chain, container, head, window=m.window, bundle=m.bundle, flags=m.flags,
                                              custody=st is not None, head_stat=st), depth)
                return
            raw = m.open()
            try:
                head = read_head(raw, detect.HEAD_SIZE)
                b = Blob(chain, container, head, stream=Prefixed(head, raw), bundle=m.bundle, flags=m.flags,
                         place=m.place, again=m.again)
                yield from polyglot.data_end(self, b, depth) if m.end_only else self.blob(b, depth)
            finally:
                raw.close()
        except read_errors() as exc:
            yield InputProblem(chain, [as_issue(exc)])

