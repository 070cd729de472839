"""Which reader opens which container: one entry per format.

Two kinds of formats:

- :data:`STREAM_FORMATS`, recognised from a file's first bytes and read as a stream
  (adb backup, tar, 7z ...; text evidence is told by the walker, below). ``open(stream, chain, ctx)`` returns a
  :class:`~apkscan.sources.interface.ContainerReader`;
- :data:`LAYOUT_FORMATS`, recognised from the file names of a folder or a ZIP (a
  :class:`~apkscan.sources.interface.Tree`): AndroidQF acquisitions, backup-app folders.
  ``marker(names)`` is a cheap look at the tree's shallow names (below), ``detect(tree)``
  the real test, ``open(tree, ctx)`` the reader; ``flat`` layouts (Titanium, Swift) read a
  folder's own files only.

A format whose ``open`` is None is recognised but not read: it becomes one problem
(``code``) naming the format, never a silent skip.

Layout markers get the *shallow* names of a folder or ZIP (relative paths at most two
folders deep, see :func:`shallow_names`) and look for the layout's files where the layout
puts them relative to its root. Anchoring matters: a folder holding a Neo Backup folder,
a Titanium folder and an ``.ab`` must not be claimed whole by the first layout whose
files appear somewhere below it; it is walked, and each backup is claimed at its own root.
"""

from __future__ import annotations

import importlib
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, BinaryIO

from apkscan.issues import error
from apkscan.sources import detect
from apkscan.sources.interface import ContainerReader, InputProblem, Tree


def _use(module: str, name: str) -> Callable[..., Any]:
    """``apkscan.sources.<module>.<name>``, imported at its first call.

    Start-up: a plain APK path never needs the backup and archive readers, so their
    modules load only when a file or tree turns out to be (possibly) theirs.
    """
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(f"apkscan.sources.{module}"), name)(*args, **kwargs)
    call.__name__ = name
    return call


AdbBackupReader = _use("adb_backup", "AdbBackupReader")
AndroidQFReader = _use("androidqf", "AndroidQFReader")
age_problem, is_androidqf, looks_like_age, androidqf_owns = (_use("androidqf", n) for n in (
    "age_problem", "is_androidqf", "looks_like_age", "owns"))
NeoBackupReader, is_neo_backup, is_oandbackup, neo_owns = (_use("neo_backup", n) for n in (
    "NeoBackupReader", "is_neo_backup", "is_oandbackup", "owns"))
SwiftBackupReader, TitaniumBackupReader, is_swift_backup, is_titanium_backup = (
    _use("swift_titanium", n) for n in ("SwiftBackupReader", "TitaniumBackupReader", "is_swift_backup",
                                        "is_titanium_backup"))
TarReader = _use("tar_archive", "TarReader")
TextEvidenceReader = _use("text_evidence", "TextEvidenceReader")
scan_for_listing, spool_source = (_use("text_detect", n) for n in ("scan_for_listing", "spool_source"))
text_encoding = _use("text_encodings", "text_encoding")

StreamOpener = Callable[[BinaryIO, tuple[str, ...], Any], ContainerReader]
TreeOpener = Callable[[Tree, Any], ContainerReader]


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """A container format known by its first bytes, and how to open it (None: recognised, not read)."""

    kind: str
    label: str  # "an adb backup (.ab)": used in messages
    detect: Callable[[bytes], bool]
    open: StreamOpener | None = None
    code: str = "INPUT_UNSUPPORTED_CONTAINER"
    hint: str = ""  # what the user can do instead, for a format recognised but not read


@dataclass(frozen=True, slots=True)
class LayoutFormat:
    """A backup or acquisition known by its file names (a folder, or a container's members)."""

    kind: str
    label: str
    marker: Callable[[list[str]], bool]
    detect: Callable[[Tree], bool]
    open: TreeOpener | None = None
    flat: bool = False  # the layout keeps its files in one folder: in a folder, sub-folders are walked on
    mark: Callable[[], str] | None = None  # the regex of one name (relative to a root) ``marker`` looks for
    # what its reader reads as its own (a name relative to its root → yes): a folder below holding none of
    # it may hold a layout of its own (:mod:`archive_layouts`); a flat layout owns its folder's files
    owns: Callable[[Tree], Callable[[str], bool]] = lambda tree: lambda name: True


def mark_test() -> Callable[[str], bool]:
    """A test of one name relative to some folder: is it one a layout's marker looks for there?
    How layouts below an archive's root are found (:mod:`archive_layouts`) without a marker per folder."""
    union = _union(tuple(f.mark for f in LAYOUT_FORMATS if f.mark is not None))
    others = [f.marker for f in LAYOUT_FORMATS if f.mark is None]
    if others:
        return lambda rel: union.fullmatch(rel) is not None or any(m([rel]) for m in others)
    return lambda rel: union.fullmatch(rel) is not None


@cache
def _union(marks: tuple[Callable[[], str], ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{mark()})" for mark in marks))


@cache
def _compiled(mark: Callable[[], str]) -> re.Pattern[str]:
    return re.compile(mark())


def _any(mark: Callable[[], str], names: list[str]) -> bool:
    pattern = _compiled(mark)
    return any(pattern.fullmatch(n) for n in names)


# Compression layers (apkscan.sources.compressed), tried before the stream formats.
COMPRESSIONS: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("gzip", detect.is_gzip), ("bzip2", detect.is_bzip2), ("xz", detect.is_xz), ("zstd", detect.is_zstd),
)


class _AgeReader:
    """An age-encrypted file: nothing to read without the key, one problem saying what to run."""

    kind = "age"

    def __init__(self, chain: tuple[str, ...]):
        self.chain = chain

    def entries(self):
        yield age_problem(self.chain)


def _is_lz4(head: bytes) -> bool:
    """An LZ4 frame, a legacy LZ4 frame, or a skippable frame (0x184D2A50-5F) that opens a stream."""
    return head[:4] in (b"\x04\x22\x4d\x18", b"\x02\x21\x4c\x18") or (
        len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18")


def _is_compress_z(head: bytes) -> bool:
    """Unix ``compress`` (.Z): 1F 9D, then a flags byte whose reserved bits are clear and whose
    maximum code width is 9 to 16 bits (two magic bytes alone would claim one random file in 65,536)."""
    return len(head) >= 3 and head[:2] == b"\x1f\x9d" and not head[2] & 0x60 and 9 <= head[2] & 0x1F <= 16


def _is_cpio(head: bytes) -> bool:
    """cpio: the ASCII headers (``070701`` newc, ``070702`` crc, ``070707`` odc), or the old binary
    header, its magic 0o070707 a 16-bit word in either byte order. Two magic bytes alone would claim
    one random file in 65,536: the binary header's name size must fit the head and the name end in NUL."""
    if head[:6] in (b"070701", b"070702", b"070707"):
        return True
    order = {b"\xc7\x71": "<", b"\x71\xc7": ">"}.get(head[:2])
    if order is None or len(head) < 28:
        return False
    (namesize,) = struct.unpack_from(order + "H", head, 20)
    return 2 <= namesize <= len(head) - 26 and head[26 + namesize - 1] == 0 and 0 not in head[26:26 + namesize - 1]


# Formats recognised and not read (review 54 F13: an lz4 pull was "not a known container", a skip):
# a coded error, never a skip, as for 7z and zstd. Told by magic bytes only.
_UNREAD_COMPRESSION = "CONTAINER_UNSUPPORTED_COMPRESSION"
UNREAD_FORMATS: list[StreamFormat] = [
    StreamFormat("lz4", "an lz4 stream (.lz4)", _is_lz4, None, code=_UNREAD_COMPRESSION,
                 hint="decompress it first (lz4 -d FILE), then scan what comes out"),
    StreamFormat("lzip", "an lzip stream (.lz)", lambda head: head[:5] == b"LZIP\x01", None, code=_UNREAD_COMPRESSION,
                 hint="decompress it first (lzip -d FILE), then scan what comes out"),
    StreamFormat("compress", "a Unix compress stream (.Z)", _is_compress_z, None, code=_UNREAD_COMPRESSION,
                 hint="decompress it first (uncompress FILE or gzip -d FILE), then scan what comes out"),
    StreamFormat("rar", "a RAR archive", lambda head: head[:7] == b"Rar!\x1a\x07\x00" or head[:8] == b"Rar!\x1a\x07\x01\x00",
                 None, hint="extract it first (unrar x or 7z x), then scan the folder"),
    StreamFormat("cpio", "a cpio archive", _is_cpio, None,
                 hint="extract it first (cpio -idm or 7z x), then scan the folder"),
]

STREAM_FORMATS: list[StreamFormat] = [
    # the password is asked lazily: only when a backup turns out to be encrypted
    StreamFormat("adb-backup", "an adb backup (.ab)", detect.is_adb_backup,
                 lambda stream, chain, ctx: AdbBackupReader(stream, chain, ctx.password, temp=ctx.temp)),
    StreamFormat("tar", "a tar archive", detect.is_tar, lambda stream, chain, ctx: TarReader(stream, chain)),
    StreamFormat("7z", "a 7-Zip archive", detect.is_7z, None),
    StreamFormat("apkm-encrypted", "a legacy encrypted APKMirror bundle (.apkm, 2020)", detect.is_legacy_apkm, None,
                 code="CONTAINER_ENCRYPTED_APKM",
                 hint="re-download the bundle: APKMirror removed the encryption, and a current .apkm is read"),
    StreamFormat("age", "an age-encrypted file (AndroidQF .zip.age)", looks_like_age,
                 lambda stream, chain, ctx: _AgeReader(chain)),
    *UNREAD_FORMATS,
]
# Text evidence (pm list / dumpsys package output) is no stream format: its mark may lie anywhere in
# the text, so the walker looks for it through the whole text (``Walker._text``, ``scan_for_listing``)
# after every format told by its first bytes, and a ZIP behind other bytes, was ruled out.


def shallow_names(names: list[str]) -> list[str]:
    """Relative paths at most two folders deep; with one top folder, also relative to it.

    What the markers look at: cheap (a folder and its children are listed, not the whole
    tree) and where each layout keeps its metadata. ZIPs of a folder often hold that folder.
    """
    out = [n for n in names if n.count("/") <= 2]
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        out += [n.split("/", 1)[1] for n in names if 1 <= n.count("/") <= 3]
    return out


def _top(names: list[str]) -> list[str]:
    return [n for n in names if "/" not in n]


def _androidqf_mark() -> str:
    return r"(?:packages|acquisition)\.json"


def _neo_mark() -> str:
    """Neo Backup root (<pkg>/<instance>.properties, <pkg>/<instance>/backup.properties,
    <pkg>@<instance>/...) or one package's folder (<instance>.properties, <instance>/backup.properties)."""
    from apkscan.sources.neo_backup import INSTANCE

    return rf"(?:[^/]+/)?{INSTANCE}\.properties|(?:[^/@]+@{INSTANCE}|(?:[^/]+/)?{INSTANCE})/backup\.properties"


def _oab_mark() -> str:
    return r"(?P<oab>[^/]+)/(?P=oab)\.log"


def _titanium_mark() -> str:
    """Titanium's file names, their groups unnamed (in one union with the other marks)."""
    from apkscan.sources.swift_titanium import TB_APK_NAME, TB_PROPS_NAME

    return re.sub(r"\(\?P<\w+>", "(?:", f"{TB_PROPS_NAME}|{TB_APK_NAME}")


def _swift_mark() -> str:
    return r"[^/]+\.(?:app|splits)"


def _androidqf_marker(names: list[str]) -> bool:
    return _any(_androidqf_mark, names)


def _androidqf(tree: Tree) -> bool:
    return is_androidqf(tree)


def _neo_marker(names: list[str]) -> bool:
    return _any(_neo_mark, names)


def _oab_marker(names: list[str]) -> bool:
    return _any(_oab_mark, names)


def _titanium_marker(names: list[str]) -> bool:
    return _any(_titanium_mark, names)  # a top name: the pattern has no '/'


def _swift_marker(names: list[str]) -> bool:
    top = _top(names)
    return _any(_swift_mark, top) and is_swift_backup(top)


LAYOUT_FORMATS: list[LayoutFormat] = [
    LayoutFormat("androidqf", "an AndroidQF acquisition", _androidqf_marker, _androidqf,
                 lambda tree, ctx: AndroidQFReader(tree), mark=_androidqf_mark, owns=androidqf_owns),
    LayoutFormat("neo-backup", "a Neo Backup / OAndBackupX folder", _neo_marker,
                 lambda tree: is_neo_backup(tree.names()), lambda tree, ctx: NeoBackupReader(tree, "neo"), mark=_neo_mark,
                 owns=lambda tree: neo_owns(tree, "neo")),
    LayoutFormat("oandbackup", "an OAndBackup folder", _oab_marker,
                 lambda tree: is_oandbackup(tree.names()), lambda tree, ctx: NeoBackupReader(tree, "oab"), mark=_oab_mark,
                 owns=lambda tree: neo_owns(tree, "oab")),
    LayoutFormat("titanium-backup", "a Titanium Backup folder", _titanium_marker,
                 lambda tree: is_titanium_backup(tree.names()), lambda tree, ctx: TitaniumBackupReader(tree, ctx.budget),
                 flat=True, mark=_titanium_mark),
    LayoutFormat("swift-backup", "a Swift Backup folder", _swift_marker,
                 lambda tree: is_swift_backup(tree.names()), lambda tree, ctx: SwiftBackupReader(tree), flat=True,
                 mark=_swift_mark),
]


def layout_format(tree, names: list[str]) -> LayoutFormat | None:
    """The layout (AndroidQF, backup app ...) that claims ``tree``, if any."""
    return next((f for f in LAYOUT_FORMATS if f.marker(names) and f.detect(tree)), None)


def unsupported_layout(fmt: LayoutFormat, chain: tuple[str, ...]) -> InputProblem:
    return InputProblem(chain, [error("INPUT_UNSUPPORTED_CONTAINER",
                                      f"{fmt.label}: recognised but not read by this version; its files are scanned one by one")])


def stream_format(head: bytes) -> StreamFormat | None:
    return next((f for f in STREAM_FORMATS if f.detect(head)), None)


def compression(head: bytes) -> str | None:
    return next((kind for kind, test in COMPRESSIONS if test(head)), None)
