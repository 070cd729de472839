"""What is this file? Decided from its bytes, never from its name.

Two looks: the first :data:`HEAD_SIZE` bytes (magic numbers of streams and archives) and,
for a ZIP, its central-directory names (read by :mod:`apkscan.apk.io.zipreader`), which tell
an APK from a split bundle from a plain archive. A name or an extension is a claim an
adversary controls; ``AndroidManifest.xml`` inside the ZIP is what makes it an APK (and only
a package read from it makes a scanned app, see ``scan.unscannable``). An APK's own members
that are APKs or containers are walked too (:func:`nested_members`), and members skipped by
their names are checked by their bytes (:func:`member_holds_apk`).
"""

from __future__ import annotations

import functools
import os
import re
import struct
import zlib

from apkscan.apk.bundle import is_bundle
from apkscan.issues import ApkFormatError, ApkScanError, LimitExceeded
from apkscan.sources import data_zip, walkclock

HEAD_SIZE = 4096

# Kinds of ZIP, by their member names.
APK = "apk"
APKS_BUNDLETOOL = "apks"
APKS_SAI = "apks-sai"
XAPK = "xapk"
APKM = "apkm"
AAB = "aab"  # an Android App Bundle: scanned as one app (apkscan.apk.bundle), like an APK
ZIP = "zip"
BUNDLE_KINDS = (APKS_BUNDLETOOL, APKS_SAI, XAPK, APKM)


def is_zip(head: bytes) -> bool:
    """A local file header first (every ZIP writer), or an empty archive's EOCD."""
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


_MIUI_JUNK = re.compile(rb"\A(?:[\x20-\x7e\t\r]{0,200}\n){1,8}ANDROID BACKUP\r?\n")


def is_adb_backup(head: bytes) -> bool:
    """``ANDROID BACKUP\\n`` (or ``\\r\\n``, as the header reader takes it: a backup that passed
    through a Windows tool), also after a few short text lines (MIUI's backup writes some)."""
    return head.startswith((b"ANDROID BACKUP\n", b"ANDROID BACKUP\r\n")) or bool(_MIUI_JUNK.match(head))


def is_tar(head: bytes) -> bool:
    """POSIX ustar or GNU tar: the magic at offset 257 of the first header block."""
    return len(head) >= 263 and head[257:262] == b"ustar"


def is_gzip(head: bytes) -> bool:
    return head[:3] == b"\x1f\x8b\x08"


def is_bzip2(head: bytes) -> bool:
    return len(head) >= 10 and head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] == b"1AY&SY"


def is_xz(head: bytes) -> bool:
    return head[:6] == b"\xfd7zXZ\x00"


def is_zstd(head: bytes) -> bool:
    return head[:4] == b"\x28\xb5\x2f\xfd"


def is_7z(head: bytes) -> bool:
    return head[:6] == b"7z\xbc\xaf\x27\x1c"


def is_legacy_apkm(head: bytes) -> bool:
    """APKMirror's 2020 encrypted ``.apkm``: libsodium header fields in plausible ranges.

    Layout (backup-formats.md §3): byte 0 unused, byte 1 algorithm (1 argon2i13, 2 argon2id13),
    u64 opslimit, u64 memlimit, u64 chunk size, 16-byte salt, 24-byte stream header.
    """
    if len(head) < 2 + 24 + 16 + 24 + 17 or head[1] not in (1, 2) or is_zip(head):
        return False
    ops, mem, chunk = struct.unpack_from("<QQQ", head, 2)
    return 1 <= ops <= 64 and 8192 <= mem <= 1 << 34 and 1 <= chunk <= 1 << 30


def zip_kind(names: list[str]) -> str:
    """APK, app bundle (.aab), one of the split-bundle formats, or a plain archive, from the entry names."""
    present = set(names)
    if "AndroidManifest.xml" in present:
        return APK
    if is_bundle(names):
        return AAB
    apks = [n for n in names if n.lower().endswith(".apk")]
    if not apks:
        return ZIP
    if "toc.pb" in present or any(n.startswith(("splits/", "standalones/")) for n in apks) or "universal.apk" in present:
        return APKS_BUNDLETOOL
    if "manifest.json" in present:
        return XAPK
    if any(n.startswith("META-INF/APKMIRRO.") for n in names) or "APKM_installer.url" in present:
        return APKM
    if "base.apk" in present or any(re.fullmatch(r"meta\.sai_v\d+\.json", n) for n in names):
        return APKS_SAI
    return ZIP


# Names of members an APK may carry that are themselves APKs or containers (droppers, decoys).
NESTED_SUFFIXES = (".apk", ".apks", ".xapk", ".apkm", ".zip", ".ab", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z")
MIN_ZIP = 22  # the smallest ZIP (an empty archive's EOCD)


OVERLAP_LIMIT = "CONTAINER_OVERLAP_LIMIT"


class HeadBudget:
    """The compressed bytes the nested-APK look may read in one archive: its size and 1 MiB.

    Heads are read from the start of each member's data, so members whose data do not overlap
    never need more. Thousands of names over one run of empty deflate blocks would read it once
    per name: 107 s for a 21 MB APK, in the pool's parent. Past the budget the members left are
    reported (``CONTAINER_OVERLAP_LIMIT``)."""

    def __init__(self, archive_size: int):
        self.left = archive_size + (1 << 20)

    def take(self, n: int) -> None:
        if n > self.left:
            raise LimitExceeded(OVERLAP_LIMIT, "looking into members whose data overlap would read more than "
                                               "the archive's size")
        self.left -= n


def zip_entry_head(archive, entry, size: int = 512, budget: HeadBudget | None = None) -> bytes:
    """The first ``size`` bytes of a ZIP entry (stored: read in place; deflated: inflated no further).

    Raises as ``ZipArchive.stream`` would when read this far (an entry shorter than ``size``
    is read to its end, and its end checked), so a member that cannot be read is never taken
    for a container. The walker calls this for every member of every APK it meets (the
    nested-APK check): one read and one inflate call per member, not the streaming reader.
    """
    start = archive.data_offset(entry)  # bounds of the entry's data checked there
    whole = entry.uncompressed_size < size
    want = min(size, entry.uncompressed_size)
    if not entry.compressed:
        if budget is not None:
            budget.take(want)
        return archive.source.read(start, want)
    inflater = zlib.decompressobj(-15)
    out, pos, end, step = b"", start, start + entry.compressed_size, 1024
    goal = want + whole  # a whole entry: one byte more than declared is an error
    while len(out) < goal and pos < end and not inflater.eof:
        n = min(step, end - pos)
        if budget is not None:
            budget.take(n)
        walkclock.check()  # a bundle's skipped names have no HeadBudget: 5,000 over one empty run took 64 s
        data = archive.source.read(pos, n)
        pos += len(data)
        step = min(step * 4, 1 << 20)  # empty stored blocks first: a longer run is read, in growing steps
        while data and len(out) < goal and not inflater.eof:
            try:
                out += inflater.decompress(data, goal - len(out))
            except zlib.error as exc:  # coded as the entry reader codes it: callers catch ApkScanError
                raise ApkFormatError("ZIP_ENTRY_INFLATE_FAILED", f"{entry.name!r}: deflate data is corrupt ({exc})") from None
            data = inflater.unconsumed_tail
    if len(out) != want or (whole and not inflater.eof):
        raise ApkFormatError("ZIP_ENTRY_SIZE_MISMATCH", f"{entry.name!r} does not inflate to its declared size")
    return out


def is_container_head(head: bytes) -> bool:
    """An APK or a container by its magic (ZIP, adb backup, tar, compressed stream, 7z, age).

    Not the heuristic ones (text evidence, legacy .apkm): an APK's own text assets are not evidence."""
    return (is_zip(head) or is_adb_backup(head) or is_tar(head) or is_gzip(head) or is_bzip2(head) or is_xz(head)
            or is_zstd(head) or is_7z(head) or head.startswith(b"age-encryption.org/v1\n"))


def nested_members(archive) -> tuple[list, list]:
    """Entries of an APK that are APKs or containers themselves (by name suffix, or by head
    bytes), and the entries left unchecked because the archive's :class:`HeadBudget` ran out
    (their data overlap: the caller reports them, ``CONTAINER_OVERLAP_LIMIT``).

    Each entry's head is read (a few hundred bytes, inflated no further); an entry that cannot
    be read is left to ``identify``, which reads the APK and reports its ZIP problems."""
    out: list = []
    budget = HeadBudget(archive.source.size)
    entries = [e for e in archive.entries if not e.is_directory and e.name != "AndroidManifest.xml"]
    for i, entry in enumerate(entries):
        walkclock.check()
        if entry.name.lower().endswith(NESTED_SUFFIXES):
            out.append(entry)
            continue
        if entry.uncompressed_size < MIN_ZIP:
            continue
        try:
            head = zip_entry_head(archive, entry, budget=budget)
        except LimitExceeded as exc:
            if exc.code != OVERLAP_LIMIT:
                continue
            rest = entries[i:]
            out += [e for e in rest if e.name.lower().endswith(NESTED_SUFFIXES)]  # known by name alone
            return out, [e for e in rest if not e.name.lower().endswith(NESTED_SUFFIXES)
                         and e.uncompressed_size >= MIN_ZIP]
        except (ApkScanError, OSError):  # a corrupt entry is identify's to report
            continue
        if is_container_head(head):
            out.append(entry)
    return out, []


ZIP64_ONLY = "zip64-only"  # opened_as_zip: no classic reading, but the ZIP64 end record's directory parses


def opened_as_zip(path: str, off: int, length: int):
    """These bytes opened as a ZIP read from its end (the end record, then the central directory
    where it says), whatever their first bytes; None when they do not open so. The caller owns
    the archive and closes its ``source``. A file whose head is no ZIP costs one read of its last
    64 KiB at most: the end record is not there.

    :data:`ZIP64_ONLY` (no archive): the classic end-record fields do not open (apksig refuses the
    file), but the central directory a ZIP64 end record names does: the usual form of a ZIP64
    file. Such bytes are a ZIP too: the walker's ``_zip`` reads them both ways (the classic
    reading's error, and the ZIP64 reading as its own app), never drops them (final review 3 F1)."""
    from apkscan.apk.io.bytesource import ByteSource
    from apkscan.apk.io.zipreader import ZipArchive

    try:
        source = ByteSource(path, off, length)
    except (ApkScanError, OSError):
        return None
    try:
        return ZipArchive.open(source)
    except (ApkScanError, OSError):
        source.close()
    from apkscan.sources.zip_readings import second_reading

    other = second_reading((path, off, length))
    if other is None:
        return None
    other.source.close()
    return ZIP64_ONLY


def member_holds_apk(member) -> bool:
    """Is this container member (skipped by its name otherwise) an APK after all? By its bytes.

    A ZIP whose central directory names ``AndroidManifest.xml`` is, and so is one naming an
    entry like an APK or a bundle of them (``.apk``, ``.apks``, ``.xapk``, ``.apkm``: an XAPK or a
    ZIP of APKs under an OBB's or a log's name is walked, as adb backups walk it; review 54 F6), and
    so is one holding an entry that is such a ZIP by its bytes, whatever its name (:mod:`data_zip`:
    an APK as ``FS/.../base`` in a bugreport). A member stored in place (a window) is opened as a ZIP;
    a compressed one is streamed once (bounded by its declared size), its entries followed. A ZIP head that does not open as a
    ZIP goes on too: ``identify`` says what is wrong with it. Any other head is looked at from its
    end as the walker looks at any bytes (review 60 F1: a signed APK behind a tar or JPEG head):
    a window in place (one read of its last 64 KiB), a stream read to its end with its tail kept (then
    ``end_only``: the walker reads it again from there, both ways, ``CONTAINER_POLYGLOT``). A head the
    walker opens as a layer (a gzip, a tar ...) is followed as the walker follows it (review 72 F1, F3,
    F11: an APK under ``tar.gz`` is walked, never data).
    """
    walkclock.check()
    try:
        if member.window is None:
            member.charged = 0  # inflated here: its charge is spent, never given back (review 14)
            with member.open() as fh:
                found = _streams_manifest_record(fh)
            member.end_only = found == "end"  # read to its end and again from there, as the walker reads bytes in place
            return found is not None
        path, off, length = member.window
        st = os.stat(path)
        return _window_holds_apk(path, off, length, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    except (ApkScanError, OSError, zlib.error, EOFError):
        return True  # unreadable: the walker reads it again and reports the error, never a silent skip


@functools.lru_cache(maxsize=64)
def _window_holds_apk(path: str, off: int, length: int, file_key: tuple) -> bool:
    """The answer for a window, which depends on its bytes alone: many names over one stored ZIP
    (whose central directory may be large) cost one parse, not one per name. ``file_key``: the
    file's identity and version (``st_ctime_ns`` too, which no user can set back), so a file
    changed or replaced on disk is read again; forgotten at each outermost input anyway."""
    from apkscan.apk.io.bytesource import ByteSource
    from apkscan.apk.io.zipreader import ZipArchive
    from apkscan.sources import data_in_place  # the data look in place: not for a plain APK (start-up)

    with ByteSource(path, off, length) as source:
        if is_zip(source.read(0, min(4, source.size))):
            try:
                archive = ZipArchive.open(source)
            except ApkScanError:
                return data_in_place.refused_holds_apk(path, off, length)
            return archive_holds_apk(archive) or data_in_place.read_otherwise(archive, (path, off, length))
        head = source.read(0, min(HEAD_SIZE, source.size))
        if data_zip.known_layer(head) and data_in_place.layers_hold_apk(source):
            return True  # a gzip, a tar ...: followed as the walker opens it (review 72 F3, F11)
    # any other head (a tar, a JPEG ...): from its end, in place, as the walker looks at any file (review 60 F1)
    archive = opened_as_zip(path, off, length)
    if archive is None or archive is ZIP64_ONLY:
        return archive is ZIP64_ONLY
    try:
        return archive_holds_apk(archive) or data_in_place.read_otherwise(archive, (path, off, length))
    finally:
        archive.source.close()


def archive_holds_apk(archive) -> bool:
    """By name (the manifest, an entry named like an APK or a bundle; a ZIP64 reading: walked), or an
    entry whose bytes, a ZIP's by their head, hold one, whatever its name (:mod:`data_zip`)."""
    if archive.other_reading or archive.entry("AndroidManifest.xml") is not None or any(
            e.name_bytes[-5:].lower().endswith(_APK_SUFFIXES) for e in archive.entries):
        return True
    from apkscan.sources import data_in_place  # the data look in place: not for a plain APK (start-up)

    budget = HeadBudget(archive.source.size)  # heads as the nested-APK look reads them: overlapping data bounded
    return data_in_place.entries_hold_apk(archive, lambda e, n: zip_entry_head(archive, e, n, budget), budget, MIN_ZIP,
                                     names_an_apk, NAME_SPAN)


# A central-directory record (PK\x01\x02) whose 19-byte name is AndroidManifest.xml.
_CD_MANIFEST = re.compile(rb"PK\x01\x02.{24}\x13\x00.{16}AndroidManifest\.xml", re.DOTALL)


# A local file header (PK\x03\x04) whose 19-byte name is AndroidManifest.xml.
_LOCAL_MANIFEST = re.compile(rb"PK\x03\x04.{22}\x13\x00..AndroidManifest\.xml", re.DOTALL)
_HEADERS = re.compile(rb"PK\x03\x04|PK\x01\x02")
_APK_SUFFIXES = (b".apk", b".apks", b".xapk", b".apkm")
NAME_SPAN = 46 + 0xFFFF  # a header and its longest name kept across reads (a name may straddle two)


def stream_names(buf: bytes) -> bool:
    return bool(_LOCAL_MANIFEST.search(buf) or _CD_MANIFEST.search(buf)) or _names_an_apk(buf)


def _names_an_apk(buf: bytes) -> bool:
    """A local header or central-directory record in ``buf`` naming an APK or a bundle of them
    (``.apk``, ``.apks``, ``.xapk``, ``.apkm``): an XAPK or a ZIP of APKs under a data name is walked,
    its APK compressed inside it names no manifest here (review 34)."""
    for m in _HEADERS.finditer(buf):
        local = m.group() == b"PK\x03\x04"
        at = m.start() + (26 if local else 28)
        if at + 2 > len(buf):
            continue
        size = int.from_bytes(buf[at:at + 2], "little")
        start = m.start() + (30 if local else 46)
        end = start + size  # only the name's last 5 bytes are looked at: linear (review 35)
        if size and end <= len(buf) and buf[max(start, end - 5):end].lower().endswith(_APK_SUFFIXES):
            return True
    return False


def forget_windows() -> None:
    """A new outermost input: no answer from another input's walk is reused."""
    _window_holds_apk.cache_clear()


def names_an_apk(buf: bytes) -> bool:
    """A central-directory record in ``buf`` naming the manifest, or a header naming an APK or a bundle."""
    return bool(_CD_MANIFEST.search(buf)) or _names_an_apk(buf)


def _streams_manifest_record(fh) -> str | None:
    """A ZIP head, then a central-directory record naming the manifest, or a header naming an APK
    or a bundle (:func:`_names_an_apk`), somewhere in the stream: ``"content"``. Any other head: a
    layer the walker opens followed (:func:`data_zip.stream_look`), ``"content"`` when it holds one;
    ``"end"`` when only its last bytes open as a ZIP (review 60 F1, 72 F3). None: data."""
    head = fh.read(4)
    first = [head]

    def read(n: int) -> bytes:  # an inflating member or a tar member: its stream is the walk's checkpoint
        return first.pop() if first else fh.read(n)

    if not is_zip(head):
        return data_zip.stream_look(read, names_an_apk, NAME_SPAN)
    return "content" if data_zip.holds_apk(read, names_an_apk, NAME_SPAN) else None
