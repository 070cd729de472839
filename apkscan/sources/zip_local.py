"""A container ZIP's entries as a streaming installer reads them: its local headers, from its first byte.

Why (review 78 F1): apkscan reads a container through its central directory, as ``unzip``,
bundletool and ``java.util.zip.ZipFile`` do. SAI (``ZipApkSource``, its default) and the ackpine
library install a split bundle through ``java.util.zip.ZipInputStream`` instead: local headers
followed in order from offset 0, every ``*.apk`` installed. A ZIP may so hold entries that only one
of the two readings sees: a ``base.apk`` whose local header no central record names (an empty
directory, or a decoy one), or one a central record names under another name or size. Each such
entry is a member too (:meth:`apkscan.sources.zip_archive.ZipReader.entries` yields them after the
directory's), flagged :data:`LOCAL_ONLY`.

The walk is ``ZipInputStream``'s (OpenJDK and libcore ``readLOC``/``readEnd``): a 30-byte header
signed ``PK\\x03\\x04`` or the end (any other bytes, a central record, a short read); an
encryption flag or a method neither stored nor deflated ends it (``ZipInputStream`` throws there,
and an installer aborts its session). A stored entry is its uncompressed size's bytes; one flagged
with a data descriptor is empty and the next header starts where its data does, as Android's
``ZipInputStream`` reads it (libcore drops OpenJDK's "only DEFLATED entries can have EXT
descriptor" throw; bit 3 leaves it no size, so it ends at once: review 91). A deflated entry
without a descriptor ends after its compressed size (ending elsewhere throws); with one (bit 3) it
is inflated to its end, then the descriptor read: 16 bytes or 12 without a signature, 24/20 when
more than 4 GiB went through, its sizes equal to what was inflated. Sizes of 0xFFFFFFFF are read from the last ZIP64 extra of 16 bytes
or more (uncompressed, then compressed), as ``ZipEntry.setExtra0`` walks every field.

Bounds: :data:`MAX_ENTRIES` headers (``ZIP_TOO_MANY_ENTRIES``); the walk's clock at each header and
each chunk; what is inflated to find an entry's end is charged to the input's inflation budget
(``CONTAINER_INFLATE_LIMIT``) and, for an entry no central record names, held to its ratio rule
(``CONTAINER_BOMB``; a listed entry is the directory's member, read and judged as one: an OBB or a
backup's log of zeros, never inflated to be scanned, is no bomb). A bound that stops the walk is
said for the container (:attr:`Walk.problems`); one met inside a listed entry is told apart
(:attr:`Walk.listed_bound`), so the in-place data look takes it for no entry of its own (review 91
F2). Memory: a chunk, and the entries found (and four integers a stored one). When local-only entries are found, the stored entries the stream reads up
to the last of them have their CRC-32 checked, as ``ZipInputStream`` does (a wrong one: it throws,
the directory's readers do not look; said, ``TAMPER_CONTAINER_STREAM_CRC``, nothing dropped).
A local entry that is an entry of a ZIP stored in a listed member flagged with a data descriptor (as
Info-ZIP writes to a pipe) is kept apart (:mod:`apkscan.sources.zip_nested`, review 91 F3): the
container's reader walks that member, its ZIP's entries with it, and nothing is said: both readings
agree (:func:`settled`). A local-only entry the walk of a container around this one already found (its
stream read into this ZIP's data: the same header at the same offset of the same bytes) is that
container's, one app scanned there, this reading named with it (:func:`shared`, rows92).
"""

from __future__ import annotations

import struct
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.java_utf8 import ERRORS as JAVA_UTF8
from apkscan.apk.io.zip_entry import METHOD_DEFLATED, METHOD_STORED, ZipEntry
from apkscan.apk.io.zipreader import LFH_HEADER, LFH_SIG, MAX_ENTRIES, ZipArchive
from apkscan.issues import ApkScanError, Issue, LimitExceeded, error, tamper
from apkscan.sources import detect, walkclock
from apkscan.sources.interface import CHAIN_SEPARATOR
from apkscan.sources.streams import InflateBudget
from apkscan.sources.zip_nested import Frames, Nested

LOCAL_ONLY = "TAMPER_CONTAINER_LOCAL_ONLY_ENTRY"
STREAM_CRC = "TAMPER_CONTAINER_STREAM_CRC"
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_EXTSIG = 0x08074B50
_MAGIC = 0xFFFFFFFF
CHUNK = 1 << 20
NOT_LISTED = -1  # a local entry's ``cd_record_offset``: no central record gives it
INFLATE_LIMIT = "CONTAINER_INFLATE_LIMIT"


class ListedBound(LimitExceeded):
    """The inflate bound, met inside an entry a central record lists by the local header's name and
    method, its sizes not outgrown: ``at``, where the entry's compressed bytes stood (review 91 F2)."""

    def __init__(self, exc: LimitExceeded, at: int):
        super().__init__(exc.code, exc.message)
        self.at = at


@dataclass(slots=True)
class Walk:
    """What the local headers hold that the central directory does not describe."""

    entries: list[ZipEntry] = field(default_factory=list)  # each as a record of its local header's values
    problems: list[Issue] = field(default_factory=list)  # where readers part (a stored CRC), a bound that stopped it
    followed: int = 0  # local headers followed (0: the bytes do not start as a streaming reader reads entries)
    origin: ZipArchive | None = None  # the bytes followed when not the reading's own (:func:`view`)
    base: int = 0  # where ``origin``'s bytes start in their file
    listed_bound: int = -1  # a bound met inside a listed entry (:class:`ListedBound`): where; -1: not so
    nested: list[Nested] = field(default_factory=list)  # local entries a listed member's ZIP explains (:mod:`zip_nested`)
    also: dict[int, list[tuple[str, ...]]] = field(default_factory=dict)  # by local header offset: the ZIPs inside
    # whose own walks found that entry too (their chains below this one's: :func:`shared`)


def view(source: ByteSource) -> ZipArchive:
    """The bytes a streaming reader starts at, ``source`` (the caller closes it), as an archive with no
    entries of its own, to follow local headers on and read the entries found there: the whole file
    before a ZIP read with its offsets moved (review 80 F1), or one with no usable central directory
    (review 80 F6). Its "directory" lies at the end: a local entry is read as it lies."""
    return ZipArchive(source, source.size, source.size, 0, b"", [])


def is_local(entry: ZipEntry) -> bool:
    return entry.cd_record_offset == NOT_LISTED


def local_only_fact(entry: ZipEntry, shown: str, also: list[tuple[str, ...]] | None = None) -> Issue:
    """``also``: the ZIPs inside the container whose streams read the same entry (:func:`shared`)."""
    return tamper(LOCAL_ONLY, f"member {shown!r} (local header at offset {entry.local_header_offset}) is read by "
                  "streaming installers (java.util.zip.ZipInputStream: SAI, ackpine) but not listed by the central "
                  f"directory as such: scanned as a member of its own{_also_said(also or [], 'the same entry')}")


def _also_said(readings: list[tuple[str, ...]], what: str) -> str:
    """The ZIPs inside whose streams read ``what`` too, by their chains below the container's."""
    if not readings:
        return ""
    shown = ", ".join(repr(CHAIN_SEPARATOR.join(r)) for r in readings[:5]) + (", ..." if len(readings) > 5 else "")
    return (f"; the streams of {len(readings)} ZIPs inside it ({shown}) read {what} too, at the same offset of the "
            "same bytes: scanned once, here")


def shared(walked: dict[int, dict], chain: tuple[str, ...], place: tuple[str, int], found: Walk | None) -> int | None:
    """One member per entry the streams read (rows92): Info-ZIP piping ZIPs into one another, the stream of
    the outer file reads on into each ZIP stored with a descriptor, so each container's walk down the
    chain finds the same local-only ``base.apk`` (four Info-ZIP pipes deep: four apps, four facts). An
    entry of ``found`` that the walk of a container around this one (``walked``: each reader's keys,
    :attr:`apkscan.sources.walk_context.WalkContext.walked`) found at the same offset of the same file
    (``place``: this walk's file and where its bytes start), with the same name, method, sizes and
    CRC-32, is that container's: dropped here, this reading (``chain``) named with it. The others are
    kept under a new key for the walks inside, returned for the caller to drop once this container's
    members are walked (its other readings, walked after them, keep what they find); None: nothing kept. A kept entry is read by content there as inside (a bundle's skipped name
    too, when its bytes hold an APK: :meth:`apkscan.sources.bundles.BundleReader._entry`)."""
    if found is None or not found.entries:
        return None
    from apkscan.sources.zip_archive import new_token

    token, kept, mine = new_token(), [], {}
    path, base = place[0], found.base if found.origin is not None else place[1]
    for e in found.entries:
        key = ("streamed", path, base + e.local_header_offset, e.name_bytes, e.method, e.compressed_size,
               e.uncompressed_size, e.crc32)
        owner = next((keys[key] for keys in walked.values() if key in keys), None)
        if owner is None:
            mine[key] = (chain, found.also.setdefault(e.local_header_offset, []))
            kept.append(e)
        else:
            around, readings = owner
            readings.append(chain[len(around):] if chain[:len(around)] == around else chain)
    found.entries = kept
    walked[token] = mine
    return token


def settled(found: Walk, walks: Callable[[ZipEntry], bool]) -> tuple[list[ZipEntry], list[Issue]]:
    """The entries to walk as the container's own local-only members, and what the container says of its
    walk: the members only it gave (each APK among them carries its own fact too), then why the walk
    stopped early. ``walks``: whether the container's reader walks a listed member as one of its own
    (its ZIP read as a container). The entries a walked member's ZIP explains (:mod:`zip_nested`) are
    that ZIP's, scanned once inside it, and nothing is said of them: both readings agree entry for entry
    (review 91 F3, second look). When the member is not walked, they are the container's local-only
    members after all."""
    entries = list(found.entries)
    for n in found.nested:
        if not walks(n.member):
            entries += n.entries
    if len(entries) > len(found.entries):
        entries.sort(key=lambda e: e.local_header_offset)
    if not entries:
        return entries, list(found.problems)
    names = ", ".join(repr(e.name) for e in entries[:5]) + (", ..." if len(entries) > 5 else "")
    inside = list(dict.fromkeys(r for e in entries for r in found.also.get(e.local_header_offset, ())))
    met = sum(1 for e in entries if found.also.get(e.local_header_offset))
    return entries, [tamper(LOCAL_ONLY, f"{len(entries)} members ({names}) are read by streaming installers "
                            "(java.util.zip.ZipInputStream: SAI, ackpine) from the local headers but not listed by the "
                            "central directory as such: each is scanned as a member"
                            f"{_also_said(inside, f'{met} of them')}"), *found.problems]


def walk(archive: ZipArchive | None, budget: InflateBudget, other: ZipArchive | None = None, limit: int = MAX_ENTRIES,
         origin: tuple[ZipArchive, int, int] | None = None, room: int | None = None) -> Walk:
    """Follow ``archive``'s local headers from its first byte as ``ZipInputStream`` does; the entries
    no central record describes (at that header's offset, with its name, method and sizes): of its
    directory, nor of the ``other`` one its ZIP64 end record names (the walker's second reading:
    a ZIP of more than 65,535 entries lists the rest there only). ``origin``: the bytes to follow
    instead (:func:`view`), where they start in their file and how far ``archive``'s offsets lie
    into them (a ZIP read with its offsets moved, or none: ``archive`` None). ``room``: how many levels
    of members below it the walker opens as containers (:class:`zip_nested.Frames`; None: unbounded)."""
    listed: dict[int, list[ZipEntry]] = {}
    shift = origin[2] if origin is not None else 0
    for e in (*(archive.entries if archive is not None else ()), *(other.entries if other is not None else ())):
        listed.setdefault(e.local_header_offset + shift, []).append(e)
    out, at = Walk(), 0
    if origin is not None:
        out.origin, out.base = origin[0], origin[1]
    walked = origin[0] if origin is not None else archive
    stored = array("q")  # each stored entry the stream reads: header, data offset, size, local CRC
    frames, unlisted = Frames(walked.source, _described, room), 0
    try:
        while (entry := _next(walked, at, budget, listed)) is not None:
            entry, at = entry
            if not entry.compressed and entry.uncompressed_size and not entry.flags & 8:
                stored.extend((entry.local_header_offset, at - entry.uncompressed_size, entry.uncompressed_size,
                               entry.crc32))
            out.followed += 1
            if out.followed > limit:
                out.problems.append(error("ZIP_TOO_MANY_ENTRIES", f"more than {limit} local headers followed as a "
                                          "streaming installer reads them: the rest are not read"))
                break
            records = listed.get(entry.local_header_offset, ())
            if _described(entry, records):
                if entry.flags & 8 and not entry.compressed:  # read as empty: the stream goes on into its data
                    frames.enter(entry, at, records)
                continue
            unlisted += 1
            entry.index = -unlisted  # no central index: never one a layout reader excludes
            if not frames.explains(entry, at):
                out.entries.append(entry)
        if out.entries:
            out.problems += _crc_fact(walked.source, stored, out.entries[-1].local_header_offset)
    except ApkScanError as exc:  # a bound: what was found before it is kept
        out.problems.append(exc.to_issue())
        if isinstance(exc, ListedBound):
            out.listed_bound = exc.at
    out.nested = [n for n in frames.groups if n.entries]
    return out


def kind_with(kind: str, archive: ZipArchive, local: Walk) -> str:
    """A plain ZIP whose local-only names make it a split bundle (an empty or decoy central directory
    over a ``base.apk``): read as that bundle, so its APKs are assembled as one install. Never an APK
    by them: Android installs an APK by its central directory."""
    if kind != detect.ZIP or not local.entries:
        return kind
    wider = detect.zip_kind([e.name for e in archive.entries] + [e.name for e in local.entries])
    return wider if wider in detect.BUNDLE_KINDS else kind


def _described(entry: ZipEntry, records) -> bool:
    if entry.flags & 8 and not entry.compressed:  # a listed entry Android's stream reads as empty
        return any(r.name_bytes == entry.name_bytes for r in records)
    for r in records:
        if r.name_bytes == entry.name_bytes and r.compressed == entry.compressed and (
                r.uncompressed_size == entry.uncompressed_size
                and (not r.compressed or r.compressed_size == entry.compressed_size)):
            return True
    return False


def _next(archive: ZipArchive, at: int, budget: InflateBudget, listed: dict) -> tuple[ZipEntry, int] | None:
    """The local entry at ``at`` as a record, and where the next header starts; None: the walk ends there.
    ``listed``: the central records by local-header offset."""
    walkclock.check()
    source = archive.source
    head = source.read(at, LFH_HEADER) if at + LFH_HEADER <= source.size else b""
    if len(head) < LFH_HEADER:
        return None
    sig, _v, flags, method, _t, _d, crc, csize, size, nlen, xlen = _LOCAL.unpack(head)
    if sig != LFH_SIG or flags & 1 or method not in (METHOD_STORED, METHOD_DEFLATED):
        return None
    meta = source.read(at + LFH_HEADER, nlen + xlen)
    if len(meta) < nlen + xlen:
        return None
    if not flags & 8 and _MAGIC in (csize, size):
        csize, size = zip64_sizes(meta[nlen:], csize, size)
    data = at + LFH_HEADER + nlen + xlen
    if method == METHOD_STORED and flags & 8:  # Android's stream: no sizes, read as empty (review 91 A)
        csize = size = crc = 0
    elif method == METHOD_STORED:
        csize = size
    elif flags & 8:
        named = next((r for r in listed.get(at, ()) if r.name_bytes == meta[:nlen] and r.compressed), None)
        ends = _inflated_end(archive, data, budget, named)
        if ends is None:
            return None
        csize, size, crc, end = ends
    if data + csize > source.size:
        return None  # ends early: ZipInputStream throws
    name = meta[:nlen]
    text = name.decode("utf-8", JAVA_UTF8)
    entry = ZipEntry(0, text, None if name.isascii() else name, method, flags, crc, csize, size, at, NOT_LISTED)
    return entry, (end if method == METHOD_DEFLATED and flags & 8 else data + csize)


def _crc_fact(source: ByteSource, stored: array, last: int) -> list[Issue]:
    """The stored entries the stream reads up to the last local-only one (``last``) whose bytes'
    CRC-32 is not their local header's: ``ZipInputStream`` checks it when an entry is read to its end
    and throws at the first, ending a streaming install there; ``ZipFile`` and libziparchive
    (``kCrcChecksEnabled`` false) do not. Said, never dropped (review 91). Each entry's bytes streamed
    once, a chunk at a time (they do not overlap: at most the input), the walk's clock at each."""
    bad, names = 0, []
    for i in range(0, len(stored), 4):
        at, pos, size, want = stored[i:i + 4]
        if at > last:
            break
        crc, end = 0, pos + size
        while pos < end:
            walkclock.check()
            chunk = source.read(pos, min(CHUNK, end - pos))
            if not chunk:
                break
            crc, pos = zlib.crc32(chunk, crc), pos + len(chunk)
        if crc != want:
            bad += 1
            if bad <= 5:
                nlen = struct.unpack("<H", source.read(at + 26, 2))[0]
                names.append(f"{source.read(at + LFH_HEADER, nlen).decode('utf-8', JAVA_UTF8)!r} at {at}")
    if not bad:
        return []
    return [tamper(STREAM_CRC, f"{bad} stored entries ({', '.join(names)}{', ...' if bad > 5 else ''}) "
                   "hold bytes whose CRC-32 is not their local header's: java.util.zip.ZipInputStream (SAI, ackpine) "
                   "throws \"invalid entry CRC\" at the end of the first, so a streaming install aborts there and "
                   "reads nothing after it; central-directory readers (java.util.zip.ZipFile, Android's "
                   "libziparchive) do not check it: each is scanned all the same")]


def zip64_sizes(extra: bytes, csize: int, size: int) -> tuple[int, int]:
    """(compressed, uncompressed) as ``readLOC`` takes them (``ZipEntry.setExtra0`` for a local header):
    every extra field in turn while a 4-byte field header lies short of the end and its data fits;
    each ZIP64 field (0x0001) of 16 bytes or more gives both sizes, uncompressed first (the last such
    field wins, a shorter one is skipped); otherwise the header's own (review 80 F3)."""
    pos = 0
    while pos + 4 < len(extra):
        tag, n = struct.unpack_from("<HH", extra, pos)
        pos += 4
        if pos + n > len(extra):
            break
        if tag == 1 and n >= 16:
            size, csize = struct.unpack_from("<QQ", extra, pos)
        pos += n
    return csize, size


def _inflated_end(archive: ZipArchive, data: int, budget: InflateBudget, record: ZipEntry | None):
    """A deflated entry with a data descriptor: inflated to its end (charged to ``budget``; held to its
    ratio rule when no central record names it (``record`` None): a listed one is the directory's member,
    read and judged as such; the budget met inside it: :class:`ListedBound`), then its descriptor.
    (compressed, uncompressed, crc, where the next header starts); None: it does not end as
    ``ZipInputStream`` reads it (corrupt, cut short, a descriptor that disagrees: it throws there)."""
    source, z, pos, made, crc = archive.source, zlib.decompressobj(-15), data, 0, 0
    while not z.eof:
        feed = z.unconsumed_tail
        if not feed:
            feed = source.read(pos, min(CHUNK, source.size - pos)) if pos < source.size else b""
            if not feed:
                return None
            pos += len(feed)
        try:
            out = z.decompress(feed, CHUNK)
        except zlib.error:
            return None
        made, crc, used = made + len(out), zlib.crc32(out, crc), pos - data - len(z.unconsumed_tail)
        try:
            budget.charge(len(out))  # the walk's clock too
        except LimitExceeded as exc:
            if record is None or exc.code != INFLATE_LIMIT or record.method != METHOD_DEFLATED or (
                    made > record.uncompressed_size or used > record.compressed_size):
                raise
            raise ListedBound(exc, data + used) from None
        if record is None:
            budget.check_ratio(made, used)
    packed = pos - data - len(z.unused_data)
    end, wide = data + packed, made > _MAGIC or packed > _MAGIC
    tail = source.read(end, min(24 if wide else 16, max(source.size - end, 0)))
    if len(tail) < (24 if wide else 16):
        return None
    signed = struct.unpack_from("<I", tail)[0] == _EXTSIG
    if struct.unpack_from("<IQQ" if wide else "<III", tail, 4 if signed else 0) != (crc, packed, made):
        return None  # ZipInputStream throws: the walk ends
    return packed, made, crc, end + (4 if signed else 0) + (20 if wide else 12)
