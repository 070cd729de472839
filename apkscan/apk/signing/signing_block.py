"""The APK Signing Block: the id/value container between the ZIP entries and the central directory.

Mirrors apksig's ``ApkUtilsLite.findApkSigningBlock`` and
``ApkSigningBlockUtilsLite.findApkSignatureSchemeBlock``. apksig treats every problem
here as "no signature" (``SignatureNotFoundException``), never as a verification error:
a block with a wrong magic, lying sizes or a malformed pair simply hides the schemes in
it, and the APK falls back to whatever is left (usually v1). We do the same, but keep
the reason as a ``TAMPER_`` indicator so reports can say *why* v2/v3 were not seen.

Pairs are parsed until the first malformed one; those before it stay usable, exactly
as apksig finds a scheme block that precedes a broken entry.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.signing.common import KNOWN_BLOCK_IDS
from apkscan.issues import ApkScanError, Issue, tamper

MAGIC = b"APK Sig Block 42"
FOOTER_SIZE = 24  # uint64 size + 16-byte magic
MIN_BLOCK_SIZE = 32  # header size field + footer
MAX_BLOCK_SIZE = 64 << 20  # real blocks are kilobytes; apksig's own cap is 2 GiB
INT_MAX = 2**31 - 1


@dataclass(slots=True)
class SigningBlock:
    """Where the block is and what it holds; ``found`` False means "no block" (see ``tamper``)."""

    found: bool = False
    offset: int | None = None  # file offset of the block (its leading size field)
    size: int = 0  # total bytes, both size fields and the magic included
    pairs: dict[int, bytes] = field(default_factory=dict)  # id -> value of its first occurrence
    pair_ids: list[int] = field(default_factory=list)  # every id in file order, duplicates kept
    duplicate_ids: list[int] = field(default_factory=list)
    tamper: list[Issue] = field(default_factory=list)

    def value(self, block_id: int) -> bytes | None:
        """The first value with this id, as apksig's lookup returns it."""
        return self.pairs.get(block_id)


def find_signing_block(zip: ZipArchive) -> SigningBlock:
    """Locate and parse the block right before the central directory; never raises."""
    result = SigningBlock()
    try:
        _locate(zip, result)
    except ApkScanError as exc:
        result.found = False
        result.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_UNREADABLE", exc.message))
    return result


def _locate(zip: ZipArchive, out: SigningBlock) -> None:
    cd_offset = zip.cd_offset
    if cd_offset + zip.cd_size != zip.eocd_offset:
        # apksig: "ZIP Central Directory is not immediately followed by End of Central Directory"
        if _has_magic(zip, cd_offset):
            out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_IGNORED", "APK Signing Block ignored: the central directory is not immediately followed by the EOCD"))
        return
    if cd_offset < MIN_BLOCK_SIZE:
        return
    footer = zip.source.read(cd_offset - FOOTER_SIZE, FOOTER_SIZE)
    if footer[8:] != MAGIC:
        return  # no block: the ordinary case for v1-only APKs
    (size_in_footer,) = struct.unpack_from("<Q", footer, 0)
    if size_in_footer < FOOTER_SIZE or size_in_footer > INT_MAX - 8:
        out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_MALFORMED", f"APK Signing Block size out of range: {size_in_footer}"))
        return
    total = size_in_footer + 8
    offset = cd_offset - total
    if offset < 0:
        out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_MALFORMED", f"APK Signing Block offset out of range: {offset}"))
        return
    (size_in_header,) = struct.unpack("<Q", zip.source.read(offset, 8))
    if size_in_header != size_in_footer:
        out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_MALFORMED", f"APK Signing Block sizes in header and footer do not match: {size_in_header} vs {size_in_footer}"))
        return
    if total > MAX_BLOCK_SIZE:
        out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_TOO_LARGE", f"APK Signing Block of {total} bytes exceeds the {MAX_BLOCK_SIZE}-byte limit; treated as absent"))
        return
    out.found, out.offset, out.size = True, offset, total
    block = zip.source.read(offset, total)
    _parse_pairs(memoryview(block)[8 : total - FOOTER_SIZE], out, zip.source.check_deadline)


def _has_magic(zip: ZipArchive, cd_offset: int) -> bool:
    return cd_offset >= MIN_BLOCK_SIZE and zip.source.read(cd_offset - 16, 16) == MAGIC


MAX_LISTED_IDS = 256  # ids kept in file order for the report (real blocks hold a handful)
MAX_DUPLICATE_FACTS = 20  # one tamper fact per duplicated id, then a count


def _parse_pairs(pairs: memoryview, out: SigningBlock, check_deadline=lambda: None) -> None:
    """uint64 length, uint32 id, value; stop at the first entry whose length lies.

    Every entry is read (apksig finds a scheme's block wherever it is), but only the first
    MAX_LISTED_IDS ids are listed and values are kept for the first occurrence of each id only:
    a 64 MiB block of 12-byte entries is 5.6 million of them (one fact per duplicate was 1.2 GB)."""
    pos, count, end = 0, 0, len(pairs)
    duplicates = 0
    while pos < end:
        count += 1
        if not count & 0xFFFF:
            check_deadline()
        if end - pos < 8:
            out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_MALFORMED", f"insufficient data to read size of APK Signing Block entry #{count}"))
            return
        (length,) = struct.unpack_from("<Q", pairs, pos)
        pos += 8
        if length < 4 or length > INT_MAX or length > end - pos:
            out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_MALFORMED", f"APK Signing Block entry #{count} size out of range: {length}, available: {end - pos}"))
            return
        (block_id,) = struct.unpack_from("<I", pairs, pos)
        if len(out.pair_ids) < MAX_LISTED_IDS:
            out.pair_ids.append(block_id)
        if block_id in out.pairs:
            duplicates += 1
            if block_id not in out.duplicate_ids and len(out.duplicate_ids) < MAX_DUPLICATE_FACTS:
                out.duplicate_ids.append(block_id)
                out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_DUPLICATE_ID", f"APK Signing Block holds id {block_id:#010x} more than once; the first is used"))
        elif block_id in KNOWN_BLOCK_IDS or len(out.pairs) < MAX_LISTED_IDS:
            out.pairs[block_id] = bytes(pairs[pos + 4 : pos + length])
        pos += length
    if count > MAX_LISTED_IDS:
        out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_ENTRIES", f"APK Signing Block holds {count} entries; the first {MAX_LISTED_IDS} ids are listed (real blocks hold a few)"))
    if duplicates > len(out.duplicate_ids):
        out.tamper.append(tamper("TAMPER_APK_SIG_BLOCK_DUPLICATE_ID", f"{duplicates} entries repeat an id in all"))
