"""Which v1 entry digests the single file pass can compute, so v1 needs no second read.

Before the pass, MANIFEST.MF is read (small, capped) and, for every large STORED entry it
names, the digest algorithms apksig would check over the SDK range are noted with the
entry's byte range. The pass hashes those ranges as they stream by; ``verify_v1`` then
uses the results instead of streaming the entries again. Nothing is decided here: any
problem just leaves the entry to v1's own streaming path, which reports it.
"""

from __future__ import annotations

from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.signing.digests import EntryRange
from apkscan.apk.signing.v1 import jar_manifest as jm
from apkscan.issues import ApkScanError

MIN_SIZE = 1 << 20  # smaller entries are streamed by v1 itself: not worth a range
MAX_ENTRIES = 256  # bounds the hashers the pass carries
MAX_MANIFEST = 16 << 20


def plan_entry_digests(zip: ZipArchive, min_sdk: int, max_sdk: int) -> dict[int, EntryRange]:
    """Entry index -> range and hashlib names, for large STORED entries MANIFEST.MF names.

    Ranges never overlap (a hostile archive with many names over one payload would
    otherwise make the pass hash the same bytes many times); the rest stay with v1.
    """
    manifest = zip.entry(jm.MANIFEST_NAME)
    if manifest is None or min_sdk > max_sdk:
        return {}
    try:
        _main, sections = jm.parse(zip.read(manifest, MAX_MANIFEST))
    except Exception:  # noqa: BLE001 - advisory only: v1 reads MANIFEST.MF itself and reports why
        return {}
    by_name = {s.name: s for s in sections if s.name is not None}
    out: dict[int, EntryRange] = {}
    taken_until = -1
    for entry in sorted(zip.entries, key=lambda e: e.local_header_offset):
        if len(out) >= MAX_ENTRIES:
            break
        section = by_name.get(entry.name)
        if entry.compressed or entry.uncompressed_size < MIN_SIZE or section is None:
            continue
        try:
            start = zip.data_offset(entry)
            algorithms = tuple(jm.HASHLIB_NAMES[d.algorithm] for d in jm.digests_to_verify(section, "-Digest", min_sdk, max_sdk))
        except (ApkScanError, KeyError, ValueError):
            continue
        if algorithms and start > taken_until:
            out[entry.index] = EntryRange(start, entry.uncompressed_size, algorithms)
            taken_until = start + entry.uncompressed_size - 1
    return out
