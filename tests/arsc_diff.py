"""Shared by the fast-resolver tests: the two paths of ``_Resources`` side by side, and the
resource IDs worth asking (every reference in a manifest, every string resource)."""

from __future__ import annotations

import struct
from pathlib import Path

from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.manifest.android_manifest import _Resources
from apkscan.apk.manifest.arsc import ArscTable
from apkscan.apk.manifest.axml import TYPE_REFERENCE, AxmlError, iter_start_elements
from apkscan.issues import ApkScanError


def apk_members(path: Path) -> tuple[bytes | None, bytes | None]:
    """(AndroidManifest.xml, resources.arsc) read by apkscan's own ZIP reader; None if absent or unreadable."""
    try:
        with ByteSource(str(path)) as source:
            zip = ZipArchive.open(source)
            out = []
            for name in ("AndroidManifest.xml", "resources.arsc"):
                entry = zip.entry(name)
                try:
                    out.append(zip.read(entry, 32 << 20) if entry is not None else None)
                except ApkScanError:
                    out.append(None)
            return out[0], out[1]
    except ApkScanError:
        return None, None


def manifest_references(axml: bytes | None) -> list[int]:
    """Every reference-typed attribute value of the manifest, in document order."""
    refs: list[int] = []
    if axml is None:
        return refs
    try:
        for el in iter_start_elements(axml):
            refs += [a.data & 0xFFFFFFFF for a in el.raw_attrs if a.vtype == TYPE_REFERENCE]
    except (AxmlError, struct.error, IndexError, ValueError):
        pass
    return refs


def string_ids(arsc: bytes) -> list[int]:
    """Every entry ID of every type chunk of the arsc's first package whose type is ``string``."""
    try:
        from androguard.core.axml import ARSCParser
        parser = ARSCParser(arsc)
        parser._analyse()
    except Exception:  # noqa: BLE001 - no table: nothing to widen with
        return []
    names = parser.get_packages_names()
    if not names:
        return []
    keys = parser.resource_keys[names[0]].get("string", {})
    return sorted(set(keys.values()))


def compare(arsc: bytes | None, ids: list[int]) -> tuple[int, int]:
    """Resolve ``ids`` in order on a fast and an androguard-only ``_Resources``; assert equal.

    Returns (answered by the fast path, declined). Issues must be equal too: the fast path
    must not hide nor add a MANIFEST_ARSC_MALFORMED.
    """
    fast_errors, ref_errors = [], []
    fast, ref = _Resources(arsc, fast_errors), _Resources(arsc, ref_errors)
    ref._fast_tried = True  # no fast table: ``resolve`` goes to androguard, through the same
    # frames as a fallback does (a RecursionError's message depends on the stack depth)
    table = ArscTable.open(arsc) if arsc is not None else None
    answered = declined = 0
    for rid in ids:
        got, want = fast.resolve(rid), ref.resolve(rid)
        assert got == want, f"0x{rid:08x}: fast {got!r} != androguard {want!r}"
        if table is not None and table.resolve(rid) is not None:
            answered += 1
        else:
            declined += 1
    assert fast_errors == ref_errors
    return answered, declined
