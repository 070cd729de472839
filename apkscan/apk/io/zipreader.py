"""ZIP access the way Android reads APKs: central directory first, local headers barely.

Android (libziparchive) and apksig locate the End of Central Directory record, trust
the central directory for every entry's compression method and sizes, and use the
local file header only to find where the data starts. Tampered APKs ("BadPack") rely
on that: their local headers lie (bogus method, zero or absurd sizes, fake encryption
flag) so tools that trust local headers crash or misread them, while Android installs
them. We read like Android and record every disagreement as a tamper indicator.

Nothing here loads a whole archive: we read the EOCD tail, the central directory (size
bounded) and, on request, single entries, inflated in bounded chunks.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from apkscan.apk.io.java_utf8 import ERRORS as JAVA_UTF8
from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.inflate import EntryInflater
from apkscan.apk.io.zip_entry import CD_HEADER, CD_SIG, METHOD_DEFLATED, METHOD_STORED, ZipEntry
from apkscan.apk.io.zip_trailing import TrailingEntry, read_trailing
from apkscan.apk.io.zip_ends import EOCD_MIN, _find_eocd, _zip64_extra, classic_values, zip64_record
from apkscan.issues import ApkFormatError, Issue, LimitExceeded, tamper

EOCD_SIG = 0x06054B50
LFH_SIG = 0x04034B50
LFH_HEADER = 30

MAX_CD_SIZE = 64 << 20  # a central directory larger than this is hostile, not an app
_CD_RECORD = struct.Struct("<IHHHHHHIIIHHHHHII")
CD_WINDOW = 1 << 20  # the central directory is parsed this much at a time (a record is at most 192 KiB)
MAX_ENTRIES = 200_000
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
MAX_TAMPER_PER_KIND = 20  # keep reports readable for archives with 100k lying headers


@dataclass(frozen=True, slots=True)
class LocalHeader:
    """What an entry's local header says: where its data starts and how it disagrees
    with the central directory (tamper facts), or why its data cannot be located."""

    data_offset: int
    facts: tuple[Issue, ...] = ()
    error: ApkFormatError | None = None  # the data lies outside the file (facts still count)
    # the local header names another entry, or (no data descriptor flagged in it) its CRC-32 or
    # sizes differ from the central directory's: apksig (LocalFileRecord.getRecord) and
    # libziparchive (FindEntry: kInconsistentInformation) both refuse the entry. Readers that
    # decide signatures raise it (ZipArchive.check_local_header); the others read on, like before.
    refusal: ApkFormatError | None = None


@dataclass(slots=True)
class ZipArchive:
    """An opened archive: EOCD and central directory parsed, entries on demand."""

    source: ByteSource
    eocd_offset: int
    cd_offset: int
    cd_size: int
    comment: bytes
    entries: list[ZipEntry]
    zip64: bool = False  # read through the ZIP64 end record (the second reading)
    other_reading: bool = False  # the classic reading of a file whose ZIP64 end record names another central directory
    central_tamper: list[Issue] = field(default_factory=list)  # EOCD and central directory facts
    _local_tamper: list[Issue] = field(default_factory=list, repr=False)  # local headers read so far
    _by_name: dict[str, ZipEntry] = field(default_factory=dict, repr=False)
    _tamper_counts: dict[str, int] = field(default_factory=dict, repr=False)
    odd_names: list[ZipEntry] = field(default_factory=list)  # TAMPER_SUSPICIOUS_ENTRY_NAME records (a NUL, invalid UTF-8: readers differ on them)
    limits_hit: list[Issue] = field(default_factory=list)  # caps that stopped a reader whose failure would read as a verdict
    trailing: list[TrailingEntry] = field(default_factory=list)  # records past the EOCD's count: no entries (zip_trailing)
    trailing_capped: bool = False  # more records past the count than zip_trailing reads

    def note_limit(self, issue: Issue) -> None:
        """Keep a cap the signature verifier hit, for ``identify`` to list as an input error."""
        if all(i.code != issue.code or i.message != issue.message for i in self.limits_hit):
            self.limits_hit.append(issue)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, source: ByteSource, zip64: bool = False) -> "ZipArchive":
        """Parse EOCD and central directory; raise ApkFormatError when Android would refuse.

        The classic EOCD fields name the central directory, as apksig reads them (it never reads
        ZIP64 records: placeholders such as 0xFFFF are taken as they are). ``zip64``: the second
        reading, the central directory the ZIP64 end record names, as ZIP64-aware readers
        (libziparchive 11 and later) may read the file; ``ZIP_ZIP64_MALFORMED`` if it has none."""
        if source.size < EOCD_MIN:
            raise ApkFormatError("ZIP_EOCD_NOT_FOUND", f"{source.size}-byte input is too small to be a ZIP archive")
        eocd_offset, eocd, candidates, before = _find_eocd(source)
        found: list[Issue] = []
        if candidates > 1:
            found.append(tamper("TAMPER_MULTIPLE_EOCD", f"{candidates} end-of-central-directory signatures in the archive tail; used the one at offset {eocd_offset}"))
        (_sig, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, comment_len) = struct.unpack_from("<IHHHHIIH", eocd)
        comment = eocd[EOCD_MIN : EOCD_MIN + comment_len]
        z = zip64_record(source, eocd_offset, before, eocd, found, zip64)
        if zip64:
            n_total, cd_size, cd_offset = z
            n_disk = n_total  # the classic fields are placeholders here
        if disk != 0 or cd_disk != 0 or n_disk != n_total:
            # apksig (ZipUtils: total count, CD offset and size only) and libziparchive ignore
            # these fields, so the file is read and verified; libcore's old java.util.zip.ZipFile
            # (and its copies in apps) refuse it as "Spanned archives not supported".
            found.append(tamper("TAMPER_EOCD_DISK_FIELDS", f"EOCD says disk {disk}, central directory on disk {cd_disk}, "
                                f"{n_disk} of {n_total} entries on this disk: a spanned archive's fields; read as one "
                                "archive with the total count, as apksig and libziparchive do (java.util.zip.ZipFile refuses it)"))
        if cd_offset > eocd_offset:
            raise ApkFormatError("ZIP_CD_OUT_OF_RANGE", f"central directory offset {cd_offset} is beyond the EOCD at {eocd_offset}")
        if cd_offset + cd_size > eocd_offset:
            raise ApkFormatError("ZIP_CD_OVERLAPS_EOCD", f"central directory ({cd_offset}+{cd_size}) overlaps the EOCD at {eocd_offset}")
        if cd_offset + cd_size < eocd_offset:
            found.append(tamper("TAMPER_DATA_BEFORE_EOCD", f"{eocd_offset - cd_offset - cd_size} bytes between the central directory and the EOCD"))
        if cd_size > MAX_CD_SIZE:
            raise LimitExceeded("ZIP_CD_TOO_LARGE", f"central directory of {cd_size} bytes exceeds the {MAX_CD_SIZE}-byte limit")
        if n_total > MAX_ENTRIES:
            raise LimitExceeded("ZIP_TOO_MANY_ENTRIES", f"{n_total} entries exceed the limit of {MAX_ENTRIES}")
        archive = cls(source, eocd_offset, cd_offset, cd_size, comment, [], zip64, central_tamper=found)
        archive.other_reading = not zip64 and z is not None and z != classic_values(eocd)
        archive._parse_cd(n_total)
        return archive

    def _parse_cd(self, count: int) -> None:
        """Every record, read a window of the central directory at a time (it may be 64 MB:
        held whole, 65,000 long names took 15 MB more at the peak than their entries). Records
        past the count (the CD's size holds more) are read apart: :mod:`apkscan.apk.io.zip_trailing`."""
        at = (b"", 0, 0)  # the window (the CD's bytes from base), its base, the next record's position
        for index in range(count):
            entry, at = self._record(index, count, at)
            self._note_entry(entry)
            self.entries.append(entry)
        if at[2] != self.cd_size or self.cd_offset + self.cd_size < self.eocd_offset:
            self.trailing, notes, self.trailing_capped = read_trailing(self, at)
            if at[2] != self.cd_size:
                self._tamper("TAMPER_CD_TRAILING_DATA", f"{self.cd_size - at[2]} bytes after the last of {count} central directory records{notes[0]}")
            if notes[1]:  # said where the bytes before the EOCD are
                self.central_tamper = [tamper(i.code, i.message + notes[1]) if i.code == "TAMPER_DATA_BEFORE_EOCD" else i
                                       for i in self.central_tamper]
        self._note_overlaps()

    def _record(self, index: int, count: int, at: tuple[bytes, int, int], size: int | None = None) -> tuple[ZipEntry, tuple[bytes, int, int]]:
        """Record ``index`` at ``at`` (see ``_parse_cd``) and where the next one starts; ``ZIP_CD_TRUNCATED``
        or ``ZIP_CD_BAD_SIGNATURE`` (``ZIP_ZIP64_MALFORMED`` from its extra) when it does not parse. ``size``:
        where records must end, from the CD's start (default its size; records after it: zip_trailing)."""
        size, (window, base, pos) = self.cd_size if size is None else size, at
        if pos + CD_HEADER > size:
            raise ApkFormatError("ZIP_CD_TRUNCATED", f"central directory ends after {index} of {count} records")
        if pos + CD_HEADER > base + len(window):
            window, base = self._cd_window(pos, CD_HEADER, size), pos
        (sig, _vm, _vn, flags, method, _t, _d, crc, csize, usize, nlen, xlen, clen, _ds, _ia, _ea, lho) = _CD_RECORD.unpack_from(window, pos - base)
        if sig != CD_SIG:
            raise ApkFormatError("ZIP_CD_BAD_SIGNATURE", f"central directory record {index} at offset {self.cd_offset + pos} has a bad signature")
        end = pos + CD_HEADER + nlen + xlen + clen
        if end > size:
            raise ApkFormatError("ZIP_CD_TRUNCATED", f"central directory record {index} runs past the central directory")
        if end > base + len(window):
            window, base = self._cd_window(pos, end - pos, size), pos
        at = pos - base + CD_HEADER
        name_bytes = window[at : at + nlen]
        raw, raw_offset = None, None  # kept only when a ZIP64 extra replaces them
        if 0xFFFFFFFF in (csize, usize, lho):
            raw, raw_offset = (csize, usize), lho
            csize, usize, lho = _zip64_extra(window[at + nlen : at + nlen + xlen], csize, usize, lho)
        name = name_bytes.decode("utf-8", JAVA_UTF8)
        entry = (ZipEntry if index < count else TrailingEntry)(
            index, name, None if name_bytes.isascii() else name_bytes, method, flags, crc, csize, usize, lho,
            self.cd_offset + pos, raw, raw_offset)
        return entry, (window, base, end)

    def _cd_window(self, pos: int, need: int, size: int) -> bytes:
        """The central directory's bytes from ``pos``: ``CD_WINDOW``, at least ``need``, at most to ``size``."""
        return self.source.read(self.cd_offset + pos, min(size - pos, max(need, CD_WINDOW)))

    def _note_overlaps(self) -> None:
        """Entries whose data share bytes (the zip-bomb trick of many names, one payload), and
        bytes before the first entry (a prefix).

        Uses the central directory only (local name/extra lengths are not read here), so it
        flags what must overlap whatever the local headers say.
        """
        spans = sorted(((e.local_header_offset, e.local_header_offset + 30 + e.name_size + e.stored_size, e) for e in self.entries), key=lambda t: (t[0], t[1]))
        if spans and spans[0][0] > 0:  # Android and apksigner read such a file; a DEX there was Janus (CVE-2017-13156)
            self._tamper("TAMPER_DATA_BEFORE_FIRST_ENTRY", f"{spans[0][0]} bytes before the first entry's local header "
                                                           "(a prefix: a self-extractor stub, or a DEX file as in Janus)")
        for (start, end, entry), (next_start, _, nxt) in zip(spans, spans[1:]):
            if next_start < end:
                self._tamper("TAMPER_OVERLAPPING_ENTRIES", f"{entry.name!r} and {nxt.name!r} share bytes of the archive")
    def _note_entry(self, entry: ZipEntry) -> None:
        if entry.name in self._by_name:
            self._tamper("TAMPER_DUPLICATE_ENTRY", f"duplicate entry name {entry.name!r}")
        else:
            self._by_name[entry.name] = entry
        if not entry.name:
            self._tamper("TAMPER_EMPTY_NAME", f"entry #{entry.index} has an empty name")
        elif _suspicious_name(entry.name_bytes, entry.name):
            self.odd_names.append(entry)
            self._tamper("TAMPER_SUSPICIOUS_ENTRY_NAME", f"entry #{entry.index} name {entry.name!r} has NUL/control characters, invalid UTF-8, '..' segments or an absolute path")
        if entry.method not in (METHOD_STORED, METHOD_DEFLATED):
            self._tamper("TAMPER_UNKNOWN_COMPRESSION_METHOD", f"{entry.name!r}: compression method {entry.method} (read as deflate, as Android does)")
        if entry.flags & 1:
            self._tamper("TAMPER_ENCRYPTION_FLAG", f"{entry.name!r}: central directory sets the encryption flag (Android ignores it)")
        if entry.local_header_offset >= self.cd_offset:
            self._tamper("TAMPER_LOCAL_HEADER_OUT_OF_RANGE", f"{entry.name!r}: local header offset {entry.local_header_offset} is not before the central directory")

    def _tamper(self, code: str, message: str, into: list[Issue] | None = None) -> None:
        """Record a fact, at most ``MAX_TAMPER_PER_KIND`` of one code (hostile archives repeat)."""
        into = self.central_tamper if into is None else into
        n = self._tamper_counts.get(code, 0) + 1
        self._tamper_counts[code] = n
        if n <= MAX_TAMPER_PER_KIND:
            into.append(tamper(code, message))
        elif n == MAX_TAMPER_PER_KIND + 1:
            into.append(tamper(code, f"further {code} indicators omitted"))

    @property
    def tamper(self) -> list[Issue]:
        """A fresh list of every fact so far: the central directory's, then the local headers read.

        Callers read it when they are done (``identify`` does so whatever failed), so a
        fact found just before an error is never lost in an earlier copy."""
        return self.central_tamper + self._local_tamper

    # ------------------------------------------------------------------ entries
    def entry(self, name: str) -> ZipEntry | None:
        """The first central-directory entry with this name."""
        return self._by_name.get(name)

    def named(self, name: str) -> list[ZipEntry]:
        """Every central-directory record with this name, in order (Android's ZIP reader refuses
        an archive naming an entry twice; apksig reads the first record, Python's zipfile the last)."""
        first = self._by_name.get(name)
        if first is None or not self._tamper_counts.get("TAMPER_DUPLICATE_ENTRY"):
            return [] if first is None else [first]
        return [e for e in self.entries if e.name == name]

    def data_offset(self, entry: ZipEntry) -> int:
        """Where the entry's data starts; the local header's lies stay with the entry."""
        if entry._data_delta is None:
            local = read_local_header(self.source, entry, self.cd_offset)
            for fact in local.facts:
                self._tamper(fact.code, fact.message, self._local_tamper)
            if local.error is not None:
                raise local.error
            entry._data_delta, entry._local_refusal = local.data_offset - entry.local_header_offset, local.refusal
        return entry.local_header_offset + entry._data_delta

    def check_local_header(self, entry: ZipEntry) -> None:
        """Raise ``ZIP_LOCAL_HEADER_MISMATCH`` where apksig and Android refuse the entry's local
        header (``LocalHeader.refusal``): the signature verifiers call it before reading an entry,
        as apksig's LocalFileRecord does; the tamper facts are recorded either way."""
        self.data_offset(entry)
        if entry._local_refusal is not None:
            raise entry._local_refusal

    def stream(self, entry: ZipEntry, chunk: int = 1 << 20, max_size: int | None = None,
               to_end: bool = False) -> Iterator[bytes]:
        """Yield the entry's uncompressed bytes in chunks, never more than declared.

        ``max_size`` (default: unbounded apart from the declared size) guards callers
        that hold the output; the inflater itself never emits more than ``chunk`` at once.
        ``to_end``: a deflate stream that ends is read to its end whatever size was declared
        (a container's member, as ``ZipFile`` reads it: the caller bounds and flags it).
        """
        limit = entry.uncompressed_size
        if max_size is not None and limit > max_size:
            raise LimitExceeded("ZIP_ENTRY_TOO_LARGE", f"{entry.name!r} declares {limit} bytes, over the {max_size}-byte limit")
        start = self.data_offset(entry)
        if not entry.compressed:
            yield from self.source.iter_range(start, entry.uncompressed_size, chunk)
            return
        inflater = EntryInflater(entry, self.source.check_deadline, chunk, exact=not to_end)
        for raw in self.source.iter_range(start, entry.compressed_size, chunk):
            yield from inflater.feed(raw)
            if inflater.eof:
                break
        tail = inflater.finish()
        if tail:
            yield tail

    def read(self, entry: ZipEntry, max_size: int) -> bytes:
        """The whole uncompressed entry, for small metadata entries (manifest, .SF, ...).

        Gathered in one growing buffer, not as pieces then joined: a 17 MB .SF file (65,000
        entries with long names) peaked at twice its size."""
        out = io.BytesIO()
        for chunk in self.stream(entry, max_size=max_size):
            out.write(chunk)
        return out.getvalue()  # CPython hands over the buffer itself (trimmed), not a copy


# ---------------------------------------------------------------------- helpers
def read_local_header(source: ByteSource, entry: ZipEntry, cd_offset: int) -> LocalHeader:
    """Parse the local header of ``entry``: its data offset plus every disagreement with
    the central directory. Pure: raises only when the data cannot be located at all."""
    lho = entry.local_header_offset
    if lho + LFH_HEADER > source.size:
        raise ApkFormatError("ZIP_LOCAL_HEADER_OUT_OF_RANGE", f"{entry.name!r}: local header at {lho} is outside the file")
    raw_name = entry.name_bytes
    head = source.read(lho, min(LFH_HEADER + len(raw_name), source.size - lho))  # the name too, in the same read
    (sig, _v, flags, method, _t, _d, crc, csize, usize, nlen, xlen) = struct.unpack_from("<IHHHHHIIIHH", head)
    if sig != LFH_SIG:
        raise ApkFormatError("ZIP_LOCAL_HEADER_BAD_SIGNATURE", f"{entry.name!r}: no local file header at offset {lho}")
    facts: list[Issue] = []
    refused: list[str] = []  # what apksig and libziparchive both refuse
    if method != entry.method:
        facts.append(tamper("TAMPER_LOCAL_METHOD_MISMATCH", f"{entry.name!r}: local header says method {method}, central directory {entry.method}"))
    if (flags & 1) != (entry.flags & 1):
        facts.append(tamper("TAMPER_LOCAL_ENCRYPTION_FLAG", f"{entry.name!r}: local and central encryption flags differ"))
    if (flags & 8) != (entry.flags & 8):
        facts.append(tamper("TAMPER_DATA_DESCRIPTOR_MISMATCH", f"{entry.name!r}: data-descriptor flag differs between local header and central directory"))
        if flags & 8:  # apksig refuses both ways; libziparchive only this one (it then wants the descriptor
            refused.append("data-descriptor flag")  # on extraction: review 24). The other way: a listed difference
    # CRC-32 and sizes, the raw 32-bit fields, compared when the *local* header flags no data
    # descriptor, as libziparchive does (apksig compares under the same condition, having refused a
    # flag mismatch first); no exemption for 0xFFFFFFFF (review 24: a wrong CRC hid behind it)
    cd_sizes = entry.raw_sizes or (entry.compressed_size & 0xFFFFFFFF, entry.uncompressed_size & 0xFFFFFFFF)
    if not flags & 8 and (crc, csize, usize) != (entry.crc32, *cd_sizes):
        facts.append(tamper("TAMPER_LOCAL_SIZE_MISMATCH", f"{entry.name!r}: local header CRC/sizes ({crc:#x}, {csize}, {usize}) differ from the central directory's ({entry.crc32:#x}, {entry.compressed_size}, {entry.uncompressed_size})"))
        refused.append("CRC-32/sizes")
    if len(head) == LFH_HEADER + nlen:  # the usual case: a name as long as the central one, read above
        local_name = head[LFH_HEADER:]
    else:  # out of the file: the read says so, as before
        local_name = source.read(lho + LFH_HEADER, nlen) if nlen else b""
    if local_name != raw_name:
        facts.append(tamper("TAMPER_LOCAL_NAME_MISMATCH", f"{entry.name!r}: local header names a different entry"))
        # libziparchive compares the bytes; apksig the names decoded as UTF-8 (a longer local name
        # refused first): refused as apksig does, where libziparchive refuses too
        if nlen > len(raw_name) or local_name.decode("utf-8", JAVA_UTF8) != entry.name:
            refused.append("name")
    start = lho + LFH_HEADER + nlen + xlen
    refusal = None
    if refused:
        refusal = ApkFormatError("ZIP_LOCAL_HEADER_MISMATCH", f"malformed ZIP entry {entry.name!r}: its local header's {' and '.join(refused)} "
                                 "disagree with the central directory (apksig and Android refuse it)")
    if start + entry.stored_size > source.size:
        return LocalHeader(start, tuple(facts), ApkFormatError("ZIP_ENTRY_OUT_OF_RANGE", f"{entry.name!r}: data ({start}+{entry.stored_size}) runs past the end of the file"), refusal)
    if start + entry.stored_size > cd_offset:
        facts.append(tamper("TAMPER_ENTRY_OVERLAPS_CD", f"{entry.name!r}: data overlaps the central directory"))
    if refusal is None and _beyond_cd(entry, nlen, xlen, cd_offset):  # apksig refuses it, and libziparchive (reviews 24, 26)
        refusal = ApkFormatError("ZIP_LOCAL_HEADER_MISMATCH", f"malformed ZIP entry {entry.name!r}: its local header "
                                 "or data runs into the central directory (apksig refuses it)")
    return LocalHeader(start, tuple(facts), refusal=refusal)


def _beyond_cd(entry: ZipEntry, nlen: int, xlen: int, cd_offset: int) -> bool:
    """apksig's bounds, on the record's own 32-bit fields (a ZIP64 extra does not move them:
    review 26): the local header with the central name, and the data (stored: uncompressed size,
    else compressed) must end before the central directory."""
    offset = entry.local_header_offset if entry.raw_offset is None else entry.raw_offset
    csize, usize = entry.raw_sizes or (entry.compressed_size, entry.uncompressed_size)
    size = csize if entry.compressed else usize
    return (offset + LFH_HEADER + entry.name_size > cd_offset
            or offset + LFH_HEADER + nlen + xlen + size > cd_offset)


def _suspicious_name(raw: bytes, name: str) -> bool:
    """Names readers disagree on (a NUL or control byte, invalid UTF-8: libziparchive refuses most,
    yet aapt takes an over-long ``\xc0\x80``) or that escape a folder when extracted (``name``:
    ``raw`` decoded with replacement, so only a name with U+FFFD can be invalid UTF-8)."""
    if "\ufffd" in name:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return True
    if _CONTROL.search(raw):  # in UTF-8 these bytes only ever stand for themselves
        return True
    return name.startswith("/") or (".." in name and ".." in name.split("/"))
