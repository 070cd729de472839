"""Class names from ``classes*.dex`` type tables, for SDK prefix rules (``--deep``).

No decompiling: a DEX header points at ``type_ids`` (indexes into ``string_ids``), and
each class descriptor ``Lcom/foo/Bar;`` is a MUTF-8 string. That table lists every class
the file defines or references, which is exactly what "embeds vendor SDK X" needs.
Every size is bounded; a malformed DEX yields a warning, never an exception.
"""

from __future__ import annotations

import re
import struct

from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkScanError, Issue, warning

MAX_DEX_SIZE = 64 << 20  # per classes*.dex entry
MAX_DEX_FILES = 64
MAX_TYPES = 1 << 20  # per DEX; real apps have at most ~65k types per file
_DEX_NAME = re.compile(r"^classes\d*\.dex$")


def dex_class_names(path: str, window: tuple[int, int | None] = (0, None)) -> tuple[set[str], list[Issue]]:
    """Dotted class names from every top-level ``classes*.dex`` of the APK at ``path``.

    ``window`` (offset, length): the APK is that part of ``path`` (stored inside a ZIP).
    """
    names: set[str] = set()
    issues: list[Issue] = []
    try:
        with ByteSource(path, *window) as source:
            archive = ZipArchive.open(source)
            entries = [e for e in archive.entries if _DEX_NAME.match(e.name)]
            if len(entries) > MAX_DEX_FILES:
                issues.append(warning("DEX_LIMIT_EXCEEDED", f"{len(entries)} DEX files; read the first {MAX_DEX_FILES}"))
            for entry in entries[:MAX_DEX_FILES]:
                try:
                    names |= parse_types(archive.read(entry, MAX_DEX_SIZE))
                except ApkScanError as exc:
                    issues.append(warning(exc.code, f"{entry.name}: {exc.message}"))
                except (ValueError, struct.error, IndexError) as exc:
                    issues.append(warning("DEX_MALFORMED", f"{entry.name}: {exc}"))
    except ApkScanError as exc:
        issues.append(warning(exc.code, f"DEX scan: {exc.message}"))
    except OSError as exc:
        issues.append(warning("INPUT_UNREADABLE", f"DEX scan: {exc.strerror or exc}"))
    return names, issues


def parse_types(dex: bytes) -> set[str]:
    """Class names (``com.foo.Bar``) of one DEX file's type table."""
    if len(dex) < 0x70 or not dex.startswith(b"dex\n"):
        raise ValueError("not a DEX file")
    string_count, string_off, type_count, type_off = struct.unpack_from("<4I", dex, 0x38)
    if type_count > MAX_TYPES or string_count > 16 * MAX_TYPES:
        raise ValueError(f"{type_count} types / {string_count} strings exceed the limits")
    if string_off + 4 * string_count > len(dex) or type_off + 4 * type_count > len(dex):
        raise ValueError("string or type table outside the file")
    out: set[str] = set()
    for (idx,) in struct.iter_unpack("<I", dex[type_off:type_off + 4 * type_count]):
        if idx >= string_count:
            continue
        (data_off,) = struct.unpack_from("<I", dex, string_off + 4 * idx)
        desc = _string_at(dex, data_off)
        if desc.startswith("L") and desc.endswith(";"):
            out.add(desc[1:-1].replace("/", "."))
    return out


def _string_at(dex: bytes, off: int) -> str:
    """The MUTF-8 string_data_item at ``off`` (ULEB128 length, bytes, NUL), leniently decoded."""
    pos = off
    for _ in range(5):  # skip the ULEB128 UTF-16 length
        if pos >= len(dex):
            return ""
        b = dex[pos]
        pos += 1
        if b < 0x80:
            break
    end = dex.find(b"\x00", pos, pos + 4096)
    if end < 0:
        return ""
    return dex[pos:end].decode("utf-8", "replace")
