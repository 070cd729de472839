"""A tar archive, streamed (``r|``): members in order, each readable once.

Regular files become members, and so does a member whose type flag ``tarfile`` does not know
(``Z``, ``8``, vendor letters): GNU tar extracts it as a regular file ("Unknown file type,
extracted as normal file") and 7-Zip lists it as one, so its bytes are what an examiner gets;
it carries ``TAMPER_TAR_MEMBER_TYPE`` (review 54 F2: skipping it as a "link" hid an APK behind a
one-byte change). Links, devices and FIFOs are never followed or opened: they are counted as
skipped with a tamper-like reason (a tar that points outside itself is an attack on extractors).
Names are display strings; an absolute name or one with ``..`` is shown as it is and flagged
on whatever is found in it. A truncated or corrupt tar is one error for the archive after the
members read so far.

Headers are read with the adb path's :class:`~apkscan.sources.adb_tar.BoundedTarInfo`:
extended headers (pax, GNU long names) are capped at 64 KiB, and ``tarfile``'s silent stop
on a bad header after the first member is recorded, so anything but a clean end-of-archive
marker is ``CONTAINER_TAR_CORRUPT`` (members hidden behind a garbled header are not lost
without a word). Past an end-of-archive marker the archive is read on as ``tar -i`` reads it
(concatenated tars): members there carry ``TAMPER_TAR_PAST_END``, blocks there that are no
header are one ``CONTAINER_TAR_TRAILING_DATA`` fact. GNU sparse members (``tar -S``: old GNU
and pax 0.0/0.1/1.0 maps) are read with their holes as zeros, as ``tar x`` writes them; their
maps are bounded (:data:`MAX_SPARSE_EXTENTS`), and a map that is out of order or runs past
the file is ``CONTAINER_TAR_SPARSE_INVALID`` for that member, the later ones still read
(review 54 F9: a sparse disk image ended the whole archive as "corrupt").
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from apkscan.issues import error, tamper
from apkscan.sources import archive_layouts, walkclock
from apkscan.sources.adb_tar import (BoundedTarInfo, link_or_special, open_stream, past_end_flag, stop_reason,
                                     tar_trailing_issue, type_flag_facts)
from apkscan.sources.interface import InputProblem, Member, RecordedApp, Skipped

LINK_REASON = "tar link or special file (symlink, hardlink, device, FIFO): not followed"
MAX_SPARSE_EXTENTS = 1 << 16  # data extents of one sparse member (a real sparse image has far fewer)
_MAX_NUMBER = 24  # digits of one sparse 1.0 map number (a 64-bit offset has 20)


class SparseMapError(tarfile.InvalidHeaderError):
    """A sparse map this reader will not read; the member's extent on the archive is still known."""


class PlainTarInfo(BoundedTarInfo):
    """A plain tar's headers: :class:`BoundedTarInfo`, plus GNU sparse members read with bounded maps."""

    def _proc_member(self, tf):
        if self.type == tarfile.GNUTYPE_SPARSE:
            return self._proc_sparse(tf)
        return super()._proc_member(tf)

    def _proc_sparse(self, tf):
        """Old GNU sparse: four extents in the header, 21 per extension block that follows it."""
        extents, extended, realsize = self._sparse_structs
        del self._sparse_structs
        extents = [(o, n) for o, n in extents if o or n]
        while extended:
            walkclock.check()
            block = tf.fileobj.read(tarfile.BLOCKSIZE)
            if len(block) < tarfile.BLOCKSIZE:
                raise tarfile.TruncatedHeaderError("truncated GNU sparse extension block")
            for at in range(0, 21 * 24, 24):
                try:
                    extent = tarfile.nti(block[at:at + 12]), tarfile.nti(block[at + 12:at + 24])
                except ValueError:
                    break
                if any(extent) and len(extents) <= MAX_SPARSE_EXTENTS:  # past the cap: counted, not kept
                    extents.append(extent)
            extended = bool(block[504])
        self.sparse, self.apkscan_stored = extents, self.size
        self.offset_data = tf.fileobj.tell()
        tf.offset = self.offset_data + self._block(self.size)
        self.size = realsize
        return self

    def _proc_gnusparse_00(self, next, pax_headers, buf):  # noqa: A002 (tarfile's signatures)
        next.apkscan_stored = next.size  # the data on the archive (the pax keys then set the file's size)
        super()._proc_gnusparse_00(next, pax_headers, buf)

    def _proc_gnusparse_01(self, next, pax_headers):  # noqa: A002
        next.apkscan_stored = next.size
        super()._proc_gnusparse_01(next, pax_headers)

    def _proc_gnusparse_10(self, next, pax_headers, tf):  # noqa: A002
        """pax sparse 1.0: the map opens the member's data, decimal numbers one per line."""
        numbers, buf, count, start = [], b"", None, tf.fileobj.tell()
        while count is None or len(numbers) < 2 * count:
            if b"\n" not in buf:
                walkclock.check()
                block = tf.fileobj.read(tarfile.BLOCKSIZE)
                if not block or len(buf) > _MAX_NUMBER:
                    raise tarfile.InvalidHeaderError("unreadable GNU sparse 1.0 map")
                buf += block
                continue
            line, buf = buf.split(b"\n", 1)
            if not line.isdigit() or len(line) > _MAX_NUMBER:
                raise tarfile.InvalidHeaderError("unreadable GNU sparse 1.0 map")
            if count is None:
                count = int(line)
                if count > MAX_SPARSE_EXTENTS:
                    raise tarfile.InvalidHeaderError(f"GNU sparse 1.0 map of {count} extents "
                                                     f"(limit {MAX_SPARSE_EXTENTS})")
            else:
                numbers.append(int(line))
        next.offset_data = tf.fileobj.tell()
        next.sparse = list(zip(numbers[::2], numbers[1::2]))
        next.apkscan_stored = next.size - (next.offset_data - start)


def sparse_problem(info: tarfile.TarInfo) -> str | None:
    """Why a sparse member's map cannot be read as ``tar`` reads it, or None (also for non-sparse)."""
    extents = info.sparse
    if extents is None:
        return None
    if len(extents) > MAX_SPARSE_EXTENTS:
        return f"more than {MAX_SPARSE_EXTENTS} extents"
    end = 0
    for offset, size in extents:
        if offset < end or offset + size > info.size:
            return "its extents overlap, are out of order or run past the file's size"
        end = offset + size
    stored = getattr(info, "apkscan_stored", None)
    if stored is not None and sum(size for _, size in extents) > stored:
        return f"its extents hold more than the {stored} bytes of data the member stores"
    return None


class TarReader:
    kind = "tar"

    def __init__(self, stream: BinaryIO, chain: tuple[str, ...]):
        self.stream, self.chain = stream, chain
        self.place: tuple[str, int, int] | None = None  # the walker's: where the tar's bytes lie in a local file
        self.names: list[str] = []  # the members' names, for the layout check (:mod:`archive_layouts`)
        self.unlooked: str | None = None  # a name marking a layout, met past the names kept

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        """The members, then one error for each backup layout their names hold (not read: a
        layout's reader needs a tree, :mod:`archive_layouts`), even after a corrupt part."""
        yield from self._members()
        yield from archive_layouts.in_tar(self.chain, self.names, self.unlooked)

    def _note(self, name: str) -> None:
        """Keep a member's name (bounded) for the layout check at the end."""
        name = name.lstrip("/")
        while name.startswith("./"):
            name = name[2:]
        if len(self.names) < archive_layouts.MAX_TAR_NAMES:
            self.names.append(name)
        elif self.unlooked is None and archive_layouts.marked(name):
            self.unlooked = name

    def _members(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        try:
            tf = open_stream(self.stream, "surrogateescape", PlainTarInfo)
        except (tarfile.TarError, EOFError, OSError) as exc:
            yield InputProblem(self.chain, [error("CONTAINER_TAR_CORRUPT", f"not a readable tar archive: {exc}")])
            return
        try:
            while True:
                info = tf.next()
                tf.members = []  # streamed: do not keep every header of a huge archive
                if info is None:
                    break
                beyond = self._beyond(tf, info)
                if beyond is not None:
                    yield InputProblem(self.chain, [error("CONTAINER_TAR_CORRUPT", beyond)])
                    return
                yield from self._entry(tf, info)
        except (tarfile.TarError, EOFError, OSError, UnicodeError, ValueError) as exc:
            yield InputProblem(self.chain, [error("CONTAINER_TAR_CORRUPT", f"tar archive is truncated or corrupt: {exc}")])
            return
        stop = stop_reason(tf)
        if stop:
            yield InputProblem(self.chain, [error("CONTAINER_TAR_CORRUPT", f"tar archive is truncated or corrupt: "
                                                  f"{stop} (members after it, if any, were not read)")])
        junk = tar_trailing_issue(tf)
        if junk is not None:
            yield InputProblem(self.chain, [junk])

    def _beyond(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> str | None:
        """Why a member of a tar in place cannot be read (its data would end past the tar's known
        end), or None. Refused before ``tarfile`` skips through it: a header can declare 2^62
        bytes (review 61 F2); the :class:`~apkscan.sources.adb_tar.TarFeed` stops a streamed one."""
        if self.place is None:
            return None
        # where tarfile will look for the next header (a directory's size is no data), at most the
        # member's stored bytes (a sparse member's size is the file's, its data is less)
        end = min(tf.offset, info.offset_data + getattr(info, "apkscan_stored", info.size))
        if end <= self.place[2]:
            return None
        return (f"tar archive is truncated or corrupt: member {info.name!r} declares data up to offset {end}, "
                f"past the archive's {self.place[2]} bytes (members after it, if any, were not read)")

    def _entry(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> Iterator[Member | Skipped | InputProblem]:
        name = info.name
        if info.isdir():
            return
        self._note(name)
        if link_or_special(info):
            yield Skipped(self.chain, LINK_REASON, 1, [name])
            return
        problem = sparse_problem(info)
        if problem is not None:
            yield InputProblem(self.chain + (name,), [error("CONTAINER_TAR_SPARSE_INVALID", f"GNU sparse member "
                                                            f"whose map cannot be read: {problem}; not read")])
            return
        flags = [tamper("TAMPER_MEMBER_NAME", f"member name {name!r} is absolute or has '..'; shown, never used as a path")] \
            if name.startswith("/") or ".." in name.split("/") else []
        place = None
        if self.place is not None and info.sparse is None:  # its bytes as they lie in the file (polyglot look)
            place = (self.place[0], self.place[1] + info.offset_data, info.size)
        yield Member(name, info.size, lambda: tf.extractfile(info), flags=flags + type_flag_facts(info) + past_end_flag(tf),
                     place=place)
