"""Class names from ``classes*.dex`` type tables, for SDK prefix rules (``--deep``).

No decompiling: a DEX header points at ``type_ids`` (indexes into ``string_ids``), and
each class descriptor ``Lcom/foo/Bar;`` is a MUTF-8 string. That table lists every class
the file defines or references, which is exactly what "embeds vendor SDK X" needs.
Every size is bounded; a malformed DEX yields a warning, never an exception.

The files are read as Android loads them: ``classes.dex``, ``classes2.dex``, ... up to the
first missing number (ART's ``DexFileLoader``); other ``classes*.dex`` entries are never loaded
and are only named (``DEX_NOT_LOADED``), so decoys listed first cannot push the real ones past
the file limit (review 27 F6). A pass cut short (a limit, the deadline, an unreadable ZIP) is
``cut``: the scan reports the ``dex`` part of ``completeness`` as not read, and the input as
partly scanned.

Work is bounded too: each distinct string is read once (a compiler writes each type once;
a hostile table naming one 4 KiB string 2^20 times took 3 minutes over 64 DEX files), the
descriptor bytes read per APK are capped (:data:`MAX_DESCRIPTOR_BYTES`), and the reading
stops at the input's deadline (``scan --timeout``).
"""

from __future__ import annotations

import re
import struct
import sys
from array import array
from collections.abc import Callable

from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.zipreader import ZipArchive, ZipEntry
from apkscan.issues import ApkScanError, Issue, warning

MAX_DEX_SIZE = 64 << 20  # per classes*.dex entry
MAX_DEX_FILES = 64
MAX_TYPES = 1 << 20  # per DEX; real apps have at most ~65k types per file
# Descriptor bytes read per APK: a big app has ~25 DEX files of ~65k types of ~45 bytes
# (~75 MB). Each string costs at least MIN_CHARGE, so at most 4M strings are looked at.
MAX_DESCRIPTOR_BYTES = 128 << 20
MIN_CHARGE = 32
MAX_STRING = 4096
DEADLINE_EVERY = 4096  # strings between deadline checks
_DEX_NAME = re.compile(r"^classes\d*\.dex$")
_U32 = next(code for code in "IL" if array(code).itemsize == 4)


class _Reading:
    """One APK's DEX pass: the class names so far, its warnings and what it may still spend."""

    def __init__(self, check_deadline: Callable[[], None] = lambda: None, budget: int = MAX_DESCRIPTOR_BYTES):
        self.names: set[str] = set()
        self.issues: list[Issue] = []
        self.cut: Issue | None = None  # what stopped the pass before every loaded DEX was read
        self.budget = budget
        self.check_deadline = check_deadline

    def stop(self, issue: Issue) -> None:
        self.issues.append(issue)
        self.cut = self.cut or issue

    @property
    def spent(self) -> bool:
        return self.budget <= 0

    def add_dex(self, dex: bytes, name: str = "classes.dex") -> None:
        """The class names of one DEX file's type table (``ValueError`` when it is no DEX)."""
        string_offsets, type_indexes = _tables(dex)
        distinct = sorted({i for i in set(type_indexes) if i < len(string_offsets)})
        if len(distinct) < len(type_indexes):
            self.issues.append(warning("DEX_MALFORMED", f"{name}: {len(type_indexes) - len(distinct)} of "
                                       f"{len(type_indexes)} type ids repeat a type or name no string"))
        for count, index in enumerate(distinct):
            if count % DEADLINE_EVERY == 0:
                self.check_deadline()
            if self.spent:
                return
            self._add_descriptor(dex, string_offsets[index])

    def _add_descriptor(self, dex: bytes, off: int) -> None:
        """The MUTF-8 string_data_item at ``off`` (ULEB128 length, bytes, NUL), if it names a class."""
        pos = off
        for _ in range(5):  # skip the ULEB128 UTF-16 length
            if pos >= len(dex):
                self.budget -= MIN_CHARGE
                return
            pos += 1
            if dex[pos - 1] < 0x80:
                break
        end = dex.find(b"\x00", pos, pos + MAX_STRING)
        self.budget -= max(MIN_CHARGE, (end if end >= 0 else min(len(dex), pos + MAX_STRING)) - pos)
        if end - pos >= 2 and dex[pos] == 0x4C and dex[end - 1] == 0x3B:  # "L...;"
            self.names.add(dex[pos + 1:end - 1].decode("utf-8", "replace").replace("/", "."))


def _tables(dex: bytes) -> tuple[array, array]:
    """(string data offsets, type ids' string indexes) from the header, bounds checked."""
    if len(dex) < 0x70 or not dex.startswith(b"dex\n"):
        raise ValueError("not a DEX file")
    string_count, string_off, type_count, type_off = struct.unpack_from("<4I", dex, 0x38)
    if type_count > MAX_TYPES or string_count > 16 * MAX_TYPES:
        raise ValueError(f"{type_count} types / {string_count} strings exceed the limits")
    if string_off + 4 * string_count > len(dex) or type_off + 4 * type_count > len(dex):
        raise ValueError("string or type table outside the file")
    tables = array(_U32, dex[string_off:string_off + 4 * string_count]), array(_U32, dex[type_off:type_off + 4 * type_count])
    if sys.byteorder == "big":  # DEX is little-endian
        for table in tables:
            table.byteswap()
    return tables


def parse_types(dex: bytes) -> set[str]:
    """Class names (``com.foo.Bar``) of one DEX file's type table."""
    reading = _Reading()
    reading.add_dex(dex)
    return reading.names


def dex_class_names(path: str, window: tuple[int, int | None] = (0, None),
                    deadline: float | None = None) -> tuple[set[str], list[Issue]]:
    """Dotted class names from the ``classes*.dex`` files Android loads from the APK at ``path``.

    ``window`` (offset, length): the APK is that part of ``path`` (stored inside a ZIP).
    ``deadline`` (``time.monotonic()``): the input's time budget; past it, an ``INPUT_TIMEOUT``
    warning and the names read so far.
    """
    names, issues, _cut = dex_pass(path, window, deadline)
    return names, issues


def dex_pass(path: str, window: tuple[int, int | None] = (0, None),
             deadline: float | None = None, zip64: bool = False) -> tuple[set[str], list[Issue], Issue | None]:
    """:func:`dex_class_names` and the issue that cut the pass short (None: every DEX read);
    ``zip64``: the ZIP's second reading (:meth:`ZipArchive.open`)."""
    reading = _Reading()
    try:
        with ByteSource(path, *window) as source:
            source.deadline = deadline
            reading.check_deadline = source.check_deadline
            _read_entries(ZipArchive.open(source, zip64), reading)
    except ApkScanError as exc:
        reading.stop(warning(exc.code, f"DEX scan: {exc.message}"))
    except OSError as exc:
        reading.stop(warning("DEX_UNREADABLE", f"DEX scan: {exc.strerror or exc}"))
    return reading.names, reading.issues, reading.cut


def _load_order(archive: ZipArchive) -> tuple[list[ZipEntry], list[str]]:
    """(entries Android loads, in its order: ``classes.dex``, ``classes2.dex``, ... up to the
    first missing number, however many; other ``classes*.dex`` names). The walk is bounded by
    the archive's entries, so files past :data:`MAX_DEX_FILES` are still told apart from the
    ones Android never loads (review 32 #4)."""
    loaded: list[ZipEntry] = []
    dex_names = sum(1 for e in archive.entries if _DEX_NAME.match(e.name))
    while len(loaded) < dex_names:
        entry = archive.entry("classes.dex" if not loaded else f"classes{len(loaded) + 1}.dex")
        if entry is None:
            break
        loaded.append(entry)
    names = {e.name for e in loaded}
    others = [e.name for e in archive.entries if _DEX_NAME.match(e.name) and e.name not in names]
    return loaded, others


def _shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _read_entries(archive: ZipArchive, reading: _Reading) -> None:
    entries, others = _load_order(archive)
    if others:
        reading.issues.append(warning("DEX_NOT_LOADED", f"{len(others)} classes*.dex entries Android does not "
                                      f"load (not in the classes.dex, classes2.dex, ... sequence): not read "
                                      f"({_shown(others)})"))
    if len(entries) > MAX_DEX_FILES:
        unread = [e.name for e in entries[MAX_DEX_FILES:]]
        reading.stop(warning("DEX_LIMIT_EXCEEDED", f"{len(entries)} DEX files Android loads, more than "
                             f"{MAX_DEX_FILES}; read classes.dex to classes{MAX_DEX_FILES}.dex, not read: "
                             f"{_shown(unread)}"))
    for entry in entries[:MAX_DEX_FILES]:
        try:
            reading.add_dex(archive.read(entry, MAX_DEX_SIZE), entry.name)
        except ApkScanError as exc:
            if exc.code == "INPUT_TIMEOUT":
                raise
            reading.stop(warning(exc.code, f"{entry.name}: {exc.message}"))  # a loaded DEX unread
        except (ValueError, struct.error, IndexError) as exc:
            reading.issues.append(warning("DEX_MALFORMED", f"{entry.name}: {exc}"))
        if reading.spent:
            reading.stop(warning("DEX_LIMIT_EXCEEDED", f"more than {MAX_DESCRIPTOR_BYTES} bytes of type "
                                 f"descriptors; class names from {entry.name} on are partial"))
            return
