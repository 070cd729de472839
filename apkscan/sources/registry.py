"""Which reader opens which container: one entry per format.

Two kinds of formats:

- :data:`STREAM_FORMATS`, recognised from a file's first bytes and read as a stream
  (adb backup, tar, text evidence ...). ``open(stream, chain, ctx)`` returns a
  :class:`~apkscan.sources.interface.ContainerReader`;
- :data:`LAYOUT_FORMATS`, recognised from the file names of a folder or a ZIP (a
  :class:`~apkscan.sources.interface.Tree`): AndroidQF acquisitions, backup-app folders.
  ``marker(names)`` is a cheap look at one folder's own file names, ``detect(tree)`` the
  real test, ``open(tree, ctx)`` the reader.

A format whose ``open`` is None is recognised but not read yet: it becomes one
``INPUT_UNSUPPORTED_CONTAINER`` problem naming the format, never a silent skip. Wiring a
reader is replacing that None (see README "Containers").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from apkscan.sources import detect
from apkscan.sources.interface import ContainerReader, Tree
from apkscan.sources.tar_archive import TarReader

StreamOpener = Callable[[BinaryIO, tuple[str, ...], Any], ContainerReader]
TreeOpener = Callable[[Tree, Any], ContainerReader]


@dataclass(frozen=True, slots=True)
class StreamFormat:
    kind: str
    label: str  # "an adb backup (.ab)": used in messages
    detect: Callable[[bytes], bool]
    open: StreamOpener | None = None
    code: str = "INPUT_UNSUPPORTED_CONTAINER"


@dataclass(frozen=True, slots=True)
class LayoutFormat:
    kind: str
    label: str
    marker: Callable[[list[str]], bool]
    detect: Callable[[Tree], bool]
    open: TreeOpener | None = None


# Compression layers (apkscan.sources.compressed), tried before the stream formats.
COMPRESSIONS: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("gzip", detect.is_gzip), ("bzip2", detect.is_bzip2), ("xz", detect.is_xz), ("zstd", detect.is_zstd),
)

STREAM_FORMATS: list[StreamFormat] = [
    # adb backup: AdbBackupReader(stream, chain, password=ctx.password()) once merged.
    StreamFormat("adb-backup", "an adb backup (.ab)", detect.is_adb_backup, None),
    StreamFormat("tar", "a tar archive", detect.is_tar, lambda stream, chain, ctx: TarReader(stream, chain)),
    StreamFormat("7z", "a 7-Zip archive", detect.is_7z, None),
    StreamFormat("apkm-encrypted", "a legacy encrypted APKMirror bundle (.apkm, 2020)", detect.is_legacy_apkm, None,
                 code="CONTAINER_ENCRYPTED_APKM"),
    # text evidence (dumpsys package, pm list packages): its reader replaces None.
    StreamFormat("text-evidence", "text evidence (pm list / dumpsys package output)",
                 detect.looks_like_text_evidence, None),
]


def _androidqf_marker(names: list[str]) -> bool:
    return "packages.json" in names


def _androidqf(tree: Tree) -> bool:
    names = set(tree.names())
    return "packages.json" in names and ("acquisition.json" in names or any(n.startswith("apks/") for n in names))


LAYOUT_FORMATS: list[LayoutFormat] = [
    # AndroidQF: AndroidQFReader(tree) with androidqf.is_androidqf once merged.
    LayoutFormat("androidqf", "an AndroidQF acquisition", _androidqf_marker, _androidqf, None),
    # Neo / Swift / Titanium / SAI backup layouts plug in here.
]


def stream_format(head: bytes) -> StreamFormat | None:
    return next((f for f in STREAM_FORMATS if f.detect(head)), None)


def compression(head: bytes) -> str | None:
    return next((kind for kind, test in COMPRESSIONS if test(head)), None)
