"""Where APKs come from: sources yield inputs, each with the chain of containers it came from.

The contract between the sources stage and the scan loop, and between a container
reader and the walker that recurses through containers:

- a :class:`Source` (files and folders given on the command line) yields
  :class:`ScanInput` (APK bytes to identify), :class:`RecordedApp` (an app a device's
  records name, with no APK bytes), :class:`InputProblem` (could not be read) and
  :class:`Skipped` (looked at, deliberately not scanned, counted with a reason);
- a :class:`ContainerReader` (zip, tar, adb backup, bundle, AndroidQF, ...) opened on one
  file or stream yields :class:`Member` (a file inside it, for the walker to classify
  by content and recurse into), plus the same ``RecordedApp`` / ``InputProblem`` /
  ``Skipped`` records.

Nothing here raises for one bad input: problems are yielded and the batch goes on.

Provenance is a ``chain``: the outermost input as given (a path on this machine) first,
then the name of each member inside each container, e.g.
``("device-07.ab", "apps/com.tencent.mm/a/base.apk")``. Member names are display
strings only, never used as file-system paths.
"""

from __future__ import annotations

import os

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from apkscan.issues import Issue

if TYPE_CHECKING:
    from apkscan.apk.io.readonly import TakenOn

CHAIN_SEPARATOR = " ▸ "


def chain_display(chain: tuple[str, ...]) -> str:
    """``device-07.ab ▸ apps/com.tencent.mm/a/base.apk``."""
    return CHAIN_SEPARATOR.join(chain)


@dataclass(slots=True)
class ScanInput:
    """APK bytes to identify.

    ``path`` is a readable local file. When ``length`` is set the APK is the window
    ``[offset, offset + length)`` of that file (an APK stored uncompressed inside a ZIP is
    read in place); otherwise it is the whole file. ``cleanup``: the source created
    ``path`` (a spooled copy) and the scanner deletes it right after scanning.
    ``bundle``: members of one split bundle share this key (the bundle's chain display),
    so the scan can compare base and splits; they arrive one after another.
    ``flags``: container facts about the member (e.g. ``TAMPER_MEMBER_NAME``), added to the
    identity's tamper indicators.
    ``reading``: None for the archive apksig reads (the classic EOCD fields); ``"zip64"`` for the
    second reading of the same bytes, the central directory a ZIP64 end record names (its own
    app: never stored, recalled or learnt as the first one, which has the same SHA-256).
    ``expect``: the stat of ``path`` its custody was taken under (device, inode, size, mtime,
    ctime); the reader refuses other bytes (``INPUT_CHANGED_DURING_SCAN``, review 66 F1). A Dask
    task's is a :class:`~apkscan.apk.io.readonly.TakenOn` (the stat and the machine it was taken on).

    Lifetime: ``path`` may be a spooled copy of a ZIP that the source deletes when its
    iterator advances (a window into it has ``cleanup=False``). Scan an input before asking
    the source for the next item; a parallel scanner must respect that (or copy the bytes).
    """

    path: str
    chain: tuple[str, ...]
    offset: int = 0
    length: int | None = None
    cleanup: bool = False
    bundle: str | None = None
    flags: list[Issue] = field(default_factory=list)  # container facts about this member (odd names)
    reading: str | None = None  # "zip64": the second reading of these bytes
    expect: os.stat_result | TakenOn | None = None  # ``path`` is an outermost file: the custody stat its reader must see

    @property
    def display(self) -> str:
        return chain_display(self.chain)

    @property
    def outermost(self) -> str:
        return self.chain[0]

    @property
    def container(self) -> str | None:
        """The chain above this APK, or None for an APK given directly."""
        return chain_display(self.chain[:-1]) if len(self.chain) > 1 else None


@dataclass(slots=True)
class RecordedCertificate:
    """A signing certificate as a device's record states it: full DER, or only digests/names."""

    der: bytes | None = None
    sha256: str | None = None
    sha1: str | None = None
    md5: str | None = None
    subject: str | None = None
    issuer: str | None = None
    # the names' attributes when the record gives only text (AndroidQF's form, read by
    # :func:`apkscan.apk.crypto.interop.read_androidqf_name`); from DER they are read from it
    subject_attrs: dict[str, list[str]] = field(default_factory=dict)
    issuer_attrs: dict[str, list[str]] = field(default_factory=dict)
    # why its recorder says the APK's signature did not verify (AndroidQF's ``verified_certificate``
    # false, with its ``certificate_error``); "" when it verified or the record does not say. Such a
    # certificate is no recorded signer: it is kept as one merely present (review 88 F2)
    unverified: str = ""


# Records one device listing may make apps of (an AndroidQF packages.json, an adb backup's
# _manifest files, a pm list / dumpsys text): a phone holds a few hundred packages, a heavily
# used one with work profiles a few thousand; 10,000 is several times that. Each record listed
# costs ~11 KB in the parent and ~4.5 KB of JSON report, where --worker-memory does not reach: at
# 100,000 a 62 MiB packages.json took 1.1 GB and wrote 455 MB (review 61 F3). Past the cap the
# listing has its coded error and the rest is counted.
MAX_DEVICE_RECORDS = 10_000


PM_LIST, DUMPSYS = "pm list packages", "dumpsys package"  # RecordedApp.recorded_by of a text listing
LISTINGS = frozenset((PM_LIST, DUMPSYS))


@dataclass(slots=True)
class RecordedApp:
    """An app known only from records (backup ``_manifest``, ``packages.json``, ``dumpsys``).

    No APK bytes: its certificates (if any) were recorded by the device, not verified by
    apkscan, so rules match it at most at ``strong``. ``recorded_by`` names the record
    (e.g. ``"adb backup _manifest"``).
    """

    chain: tuple[str, ...]
    package: str
    recorded_by: str
    version_code: int | None = None
    version_name: str | None = None
    label: str | None = None
    certificates: list[RecordedCertificate] = field(default_factory=list)
    note: str = ""
    # SHA-256s of the APK files the record describes (AndroidQF). When an APK of the same
    # package with one of them was scanned from the same container, the scan does not list the
    # record again: the verified APK says more; the tie is by content, never by a file name.
    apk_sha256s: frozenset[str] = frozenset()
    # Files the layout names as this package's APK (Swift Backup's ``<pkg>.app``/``.splits``): when
    # no APK of the package was scanned, one read from these as another package is a swapped APK.
    apk_files: tuple[tuple[str, ...], ...] = ()
    warnings: list[Issue] = field(default_factory=list)  # what the record could not say clearly
    # facts about the file the record was read from (a copy of a metadata file a ZIP lists twice):
    # the app's tamper indicators, as a member's ``flags`` are an APK's
    flags: list[Issue] = field(default_factory=list)

    @property
    def display(self) -> str:
        return chain_display(self.chain)


@dataclass(slots=True)
class InputProblem:
    """Something given to scan that could not become an input (missing, unreadable, bad password)."""

    chain: tuple[str, ...]
    issues: list[Issue] = field(default_factory=list)

    @property
    def display(self) -> str:
        return chain_display(self.chain)


@dataclass(slots=True)
class Skipped:
    """Files looked at and deliberately not scanned (not an APK, excluded, a symlink ...).

    ``where`` is the folder or container chain they sit in; one record per (where, reason)
    with a count and a few example names, so a tar of 10,000 text files is one line.
    """

    where: tuple[str, ...]
    reason: str
    count: int = 1
    examples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Member:
    """A file inside a container, handed to the walker to classify by content.

    ``open()`` returns a fresh readable binary stream of the member's bytes. For a
    streamed container (tar, adb backup) it is valid only until the reader's iterator
    is advanced. ``window`` is ``(path, offset, length)`` when the bytes lie uncompressed
    in a local file, so an APK can be read in place instead of spooled. ``data_key``: where a
    ZIP member's data lie and how they are read (a ZIP's records may all point at one APK: the
    walker reads such bytes once, see :mod:`apkscan.sources.zip_archive`); ``charged``: the bytes
    its reader charged to the inflation budget and not yet spent, given back when the walker
    skips it as a copy (zero once something inflated it). ``place``: where a streamed member's
    bytes lie whole in a local file (a plain tar's member on disk), and ``again``: a fresh stream of
    its bytes from their start (re-inflated, or its container read again to it); both only for
    reading it a second time, as a ZIP from its end (:mod:`apkscan.sources.polyglot`). ``end_only``:
    its reader counted it as skipped by its name (an adb backup's data, read once as it passes): the
    walker only looks at its end, as a ZIP (:func:`apkscan.sources.polyglot.data_end`). ``listed``: a
    folder's file as its listing saw it (:class:`apkscan.sources.files.FolderTree`): its window is
    opened without following a symlink and must be that file (review 68 F2b).
    """

    name: str
    size: int | None
    open: Callable[[], BinaryIO]
    window: tuple[str, int, int] | None = None
    bundle: str | None = None  # set by bundle readers: the APKs of one split bundle share it
    flags: list[Issue] = field(default_factory=list)  # e.g. a tar name with ``..``: shown, flagged
    data_key: tuple | None = None
    charged: int = 0
    place: tuple[str, int, int] | None = None
    again: Callable[[], BinaryIO] | None = None
    end_only: bool = False
    listed: os.stat_result | None = None  # a folder's file: its listing's lstat (opened, it must be that file)


@dataclass(slots=True)
class InputFile:
    """An outermost input (given, or met in a given folder): custody facts for the run metadata.

    ``sha256`` is None for an APK: the scan fills it from the APK's own single hashing pass.
    ``hashed``: where that hash comes from, ``"this run"`` or ``"store"`` (the scan store's, for an
    unchanged file recognised by its stat key and not read again); None until it is known.
    """

    path: str
    size: int
    kind: str
    sha256: str | None = None
    hashed: str | None = None


Item = ScanInput | RecordedApp | InputProblem | Skipped | InputFile


@runtime_checkable
class Tree(Protocol):
    """A folder or a random-access archive (ZIP) read by member name.

    Layout readers (split folders, AndroidQF, Neo/Swift/Titanium backups) take a Tree, so
    the same code reads an acquisition whether it is a folder or a ZIP of that folder.
    Names use ``/`` separators, relative to the tree's root.
    """

    chain: tuple[str, ...]

    def names(self) -> list[str]:
        """Every regular file in the tree, sorted (bounded by the walker's limits)."""
        ...

    def member(self, name: str) -> Member:
        """The file ``name`` as a :class:`Member` (KeyError when absent)."""
        ...


@runtime_checkable
class Source(Protocol):
    """Anything that can enumerate inputs to scan."""

    description: str

    def inputs(self) -> Iterator[Item]:
        """Every input, in a stable order; problems are yielded, not raised."""
        ...


@runtime_checkable
class ContainerReader(Protocol):
    """One container format opened on one file or stream."""

    kind: str  # "zip", "tar", "adb-backup", "apks", "xapk", "androidqf", ...

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        """Members and records in container order; problems are yielded, not raised."""
        ...
