"""Which v1 entry digests the single file pass checks, so v1 needs no second read.

Before the pass, MANIFEST.MF is read (small, capped) and, for every entry it names, the
digests apksig would check over the SDK range are decoded (once: v1 does not decode them
again) and noted with the entry's data offset. The pass hashes each entry's bytes as they
stream by (inflating deflated entries, bounded as ``ZipArchive.stream`` bounds them) and
keeps only the verdict: which digests differ, or the error it met reading the entry;
``verify_v1`` reports those where it would have streamed the entry itself. Nothing is
decided here: an entry left out (a digest that is not valid Base64, which v1 then reports
as apksig throws, a data range shared with another entry, past ``MAX_ENTRIES``) stays with
v1's own streaming path.
"""

from __future__ import annotations

from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.signing.digests import EntryRange
from apkscan.apk.signing.v1 import jar_manifest as jm
from apkscan.issues import ApkScanError

MAX_MANIFEST = jm.MAX_MANIFEST_SIZE  # the same cap as v1's, so ManifestOnce reads it once for both
_SIZES = {"md5": 16, "sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}  # digest sizes by hashlib name
MAX_ENTRIES = 50_000  # the pass keeps ~0.5 KB per planned entry: at most ~25 MB; the rest stay with v1


def plan_entry_digests(zip: ZipArchive, min_sdk: int, max_sdk: int,
                       manifests: jm.ManifestOnce | None = None) -> dict[int, EntryRange]:
    """Entry index -> data offset and hashlib names, for the entries MANIFEST.MF names.
    ``manifests``: shared with v1, which then neither reads nor parses MANIFEST.MF again.

    Ranges never overlap (a hostile archive with many names over one payload would
    otherwise make the pass hash, or inflate, the same bytes many times); the rest, and
    entries whose data cannot be located, stay with v1.
    """
    manifest = zip.entry(jm.MANIFEST_NAME)
    if manifest is None or min_sdk > max_sdk:
        return {}
    try:
        _main, sections = (manifests or jm.ManifestOnce(zip)).parse(manifest, MAX_MANIFEST)
    except Exception:  # noqa: BLE001 - advisory only: v1 reads MANIFEST.MF itself and reports why
        return {}
    out: dict[int, EntryRange] = {}
    taken_until = -1
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple of names for every entry
    for entry in sorted(zip.entries, key=lambda e: e.local_header_offset):
        if len(out) >= MAX_ENTRIES:
            break
        section = sections.get(entry.name)  # the first of a name, as v1 (which refuses duplicates anyway)
        if section is None or entry.name.startswith("META-INF/") or entry.is_directory:
            continue
        try:
            start = zip.data_offset(entry)
            expected = jm.digests_to_verify(section, "-Digest", min_sdk, max_sdk)
            algorithms = tuple(jm.HASHLIB_NAMES[d.algorithm] for d in expected)
        except (ApkScanError, KeyError, ValueError):
            continue
        # every expected digest of its algorithm's length: a verdict is then one compare per digest
        # (joined digests of the wrong lengths that add up must never read as a match: review 42 F1)
        if algorithms and start > taken_until and all(
                len(d.digest) == _SIZES[jm.HASHLIB_NAMES[d.algorithm]] for d in expected):
            out[entry.index] = EntryRange(entry, start, shared.setdefault(algorithms, algorithms),
                                          b"".join(d.digest for d in expected))
            taken_until = start + max(entry.stored_size, 1) - 1
    return out
