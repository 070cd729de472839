"""The APK Signature Scheme v4 file (``.idsig``): parsing and the stored Merkle tree.

Mirrors apksig's ``V4Signature``. The file is ``int32 version (2) | bytes hashingInfo |
bytes signingInfos | bytes tree``, each ``bytes`` an int32 length plus data,
little-endian. apksig compares the stored tree byte for byte with a recomputed one; we
never hold the tree: :func:`parse_idsig` streams it once and checks that every page hashes
to its entry in the level above, so with the top page hashing to the real root (checked
by ``v4.verify_v4``) and the right length, every byte of it is pinned, in bounded memory.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field

from apkscan.apk.io.readonly import open_fd
from apkscan.issues import ApkScanError, Issue, LimitExceeded, tamper
from apkscan.apk.signing.common import Buf, Malformed

CURRENT_VERSION = 2
PAGE = 4096
MAX_INFO_SIZE = 1 << 20  # hashingInfo / signingInfos; apksig's signer caps signingInfos at 7 KiB
MAX_SIGNING_INFOS = 16  # real files have one (v2/v3) or two (v3.1)
MAX_TREE_SIZE = 1 << 31  # apksig: "We don't support verity tree if it is larger than Integer.MAX_VALUE"
READ_CHUNK = 1 << 20


@dataclass(slots=True)
class HashingInfo:
    hash_algorithm: int  # 1 = SHA-256, the only one defined; apksig never checks it
    log2_block_size: int  # 12 = 4 KiB
    salt: bytes  # apksig recomputes the root without salt whatever this says
    raw_root_hash: bytes  # fs-verity root of the whole APK


@dataclass(slots=True)
class SigningInfo:
    apk_digest: bytes  # the v2/v3 content digest this signature is bound to
    certificate: bytes
    additional_data: bytes
    public_key: bytes  # SubjectPublicKeyInfo DER
    signature_algorithm_id: int
    signature: bytes
    block_id: int | None = None  # None for the primary signing info


@dataclass(slots=True)
class V4File:
    """A parsed ``.idsig`` file; the tree itself is summarised, not kept."""

    path: str
    version: int
    hashing: HashingInfo
    signing_infos: list[SigningInfo]
    tree_size: int | None = None  # None: no tree stored (apksig then skips the tree check)
    tree_top_hash: bytes | None = None  # SHA-256 of the tree's first page
    tree_consistent: bool = False  # every page hashes to its parent entry, padding included
    warnings: list[Issue] = field(default_factory=list)


def _parse_hashing_info(data: bytes) -> HashingInfo:
    buf = Buf(data)
    try:
        alg, log2 = buf.i32(), buf.u8()
        salt, root = buf.prefixed_bytes(), buf.prefixed_bytes()
    except Malformed as exc:
        raise ApkScanError("V4_SIG_MALFORMED_HASHING_INFO", f"malformed v4 hashing info: {exc}") from None
    return HashingInfo(alg, log2, salt, root)


def _parse_signing_info(buf: Buf, block_id: int | None) -> SigningInfo:
    apk_digest, cert, additional, key = (buf.prefixed_bytes() for _ in range(4))
    alg = buf.i32()
    return SigningInfo(apk_digest, cert, additional, key, alg & 0xFFFFFFFF, buf.prefixed_bytes(), block_id)


def _parse_signing_infos(data: bytes) -> list[SigningInfo]:
    """Primary SigningInfo, then (int32 block id, bytes SigningInfo) blocks (v3.1)."""
    buf = Buf(data)
    try:
        out = [_parse_signing_info(buf, None)]
        while buf.remaining():
            if len(out) >= MAX_SIGNING_INFOS:
                raise Malformed(f"more than {MAX_SIGNING_INFOS} signing infos")
            block_id = buf.i32()
            # apksig ignores bytes after a block's SigningInfo
            out.append(_parse_signing_info(buf.slice(), block_id & 0xFFFFFFFF))
    except Malformed as exc:
        raise ApkScanError("V4_SIG_MALFORMED_SIGNERS", f"V4 signature has malformed signer block: {exc}") from None
    return out


def parse_idsig(path: str, follow: bool = True) -> V4File:
    """Read and structurally check an ``.idsig`` file with bounded reads.

    Raises ``ApkScanError``: ``INPUT_V4_FILE_UNREADABLE`` (I/O), ``V4_SIG_NO_SIGNATURES``
    (empty), ``V4_SIG_VERSION_NOT_CURRENT``, ``V4_SIG_MALFORMED_HASHING_INFO``,
    ``V4_SIG_MALFORMED_SIGNERS``; ``LimitExceeded`` for oversized fields. apksig itself
    throws (apksigner aborts) in each of these cases. ``follow=False`` (a file found beside the
    APK, not named): a symlink, FIFO or device is not opened (``INPUT_V4_FILE_UNREADABLE``).
    """
    try:
        with os.fdopen(_open(path, follow), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(4)
            if len(head) < 4:
                raise ApkScanError("V4_SIG_NO_SIGNATURES", "Signature file does not contain a v4 signature.")
            (version,) = struct.unpack("<i", head)
            if version != CURRENT_VERSION:
                raise ApkScanError("V4_SIG_VERSION_NOT_CURRENT", f"V4 signature format version {version} is different from the tool's current version {CURRENT_VERSION}")
            hashing_raw = _read_field(f, "hashing info")
            signing_raw = _read_field(f, "signing infos")
            if hashing_raw is None or signing_raw is None:
                raise ApkScanError("V4_SIG_NO_SIGNATURES", "Signature file does not contain a v4 signature.")
            v4 = V4File(path, version, _parse_hashing_info(hashing_raw), _parse_signing_infos(signing_raw))
            _scan_tree(f, size, v4)
    except OSError as exc:
        raise ApkScanError("INPUT_V4_FILE_UNREADABLE", f"cannot read v4 signature file: {exc}") from None
    return v4


def _open(path: str, follow: bool) -> int:
    try:
        return open_fd(path, regular=True, follow=follow)
    except ApkScanError as exc:
        raise ApkScanError("INPUT_V4_FILE_UNREADABLE", f"cannot read v4 signature file: {exc.message}") from None


def _read_field(f, what: str) -> bytes | None:
    """apksig ``readBytes(InputStream)``: None at end of file, a bounded read otherwise."""
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<i", head)
    if n < 0:
        raise ApkScanError("V4_SIG_MALFORMED_SIGNERS", f"negative length {n} of the v4 {what}")
    if n > MAX_INFO_SIZE:
        raise LimitExceeded("INPUT_V4_FIELD_TOO_LARGE", f"v4 {what} of {n} bytes exceeds the {MAX_INFO_SIZE}-byte limit")
    data = f.read(n)
    return data if len(data) == n else None


def _level_pages(tree_pages: int) -> list[int] | None:
    """Pages per level, top first, for a tree of ``tree_pages`` pages; None if no tree has that size.

    A bottom level of b pages has parents of ceil(b/128), ceil(ceil(b/128)/128), ... pages,
    up to one page; the total grows strictly with b, so b is unique.
    """
    lo, hi = 1, tree_pages
    while lo <= hi:
        b = (lo + hi) // 2
        levels = [b]
        while levels[-1] > 1:
            levels.append(-(-levels[-1] // 128))
        total = sum(levels)
        if total == tree_pages:
            return levels[::-1]
        if total < tree_pages:
            lo = b + 1
        else:
            hi = b - 1
    return None


def _scan_tree(f, file_size: int, v4: V4File) -> None:
    """Stream the stored tree once: record its size, top-page hash and internal consistency."""
    head = f.read(4)
    if len(head) < 4:
        return  # no tree: apksig skips the tree comparison
    (n,) = struct.unpack("<i", head)
    start = f.tell()
    if n < 0 or n > file_size - start:
        # apksig's readBytes hits EOF and returns null: the tree is silently ignored
        v4.warnings.append(tamper("TAMPER_V4_TREE_TRUNCATED", f"v4 file declares a {n}-byte Merkle tree but only {file_size - start} bytes follow; the tree is ignored, as apksig does"))
        return
    v4.tree_size = n
    if n == 0 or n % PAGE or n > MAX_TREE_SIZE:
        return  # cannot equal any real tree; verify_v4 reports the mismatch
    levels = _level_pages(n // PAGE)
    if levels is None:
        return
    parent = b""
    ok = True
    for index, pages in enumerate(levels):
        expected = parent  # this level's page hashes, as the level above records them
        keep = index + 1 < len(levels)  # the bottom level's entries have no child level here
        current = bytearray()
        done = 0
        while done < pages:
            want = min(pages - done, READ_CHUNK // PAGE) * PAGE
            chunk = f.read(want)
            if len(chunk) != want:
                return
            for off in range(0, want, PAGE):
                page = chunk[off : off + PAGE]
                if index == 0:
                    v4.tree_top_hash = hashlib.sha256(page).digest()
                else:
                    j = done + off // PAGE
                    if hashlib.sha256(page).digest() != expected[j * 32 : (j + 1) * 32]:
                        ok = False
            if keep:
                current += chunk
            done += want // PAGE
        if index > 0 and any(expected[pages * 32 :]):
            ok = False  # a parent's padding after the last entry must be zero
        parent = bytes(current)
    v4.tree_consistent = ok


def expected_tree_size(apk_size: int) -> int:
    """apksig ``VerityTreeBuilder.calculateLevelOffset``: total tree bytes for ``apk_size``."""
    total, size = 0, apk_size
    while True:
        chunks = -(-size // PAGE)
        total += PAGE * -(-(chunks * 32) // PAGE)
        if chunks * 32 <= PAGE:
            return total
        size = chunks * 32


# ------------------------------------------------------------------------ verification
