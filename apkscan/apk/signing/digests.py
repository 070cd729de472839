"""Every digest an APK needs, from ONE sequential read of the file.

A file is read once, in 1 MiB pieces, and each piece is fed to every consumer that
wants it: the whole-file SHA-256/SHA-1/MD5 (``FileFacts``), the v2/v3 content digests
over apksig's three sections (``ApkSigningBlockUtils.computeContentDigests``), and the
fs-verity Merkle root of the whole file for v4. Reading once matters for large APKs
and slow disks; memory stays bounded because chunk digests go straight into the
top-level hash and Merkle levels keep only one partial 4 KiB page each.

The three sections: bytes before the APK Signing Block, the central directory, and
the End of Central Directory record whose central-directory-offset field is replaced
by the signing block's offset (so the digest does not depend on the block's size).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
import struct
from dataclasses import dataclass, field

from apkscan.apk.crypto.algorithms import ContentDigest
from apkscan.apk.model import FileFacts
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import Issue, error

READ_SIZE = 1 << 20
PARALLEL_MIN_SIZE = 16 << 20  # below this a helper thread costs more than it saves
CHUNK_SIZE = 1 << 20  # apksig's CONTENT_DIGESTED_CHUNK_MAX_SIZE_BYTES
VERITY_BLOCK = 4096
VERITY_SALT = bytes(8)  # apksig hashes the v2/v3 verity tree with 8 zero bytes of salt
CHUNKED = (ContentDigest.CHUNKED_SHA256, ContentDigest.CHUNKED_SHA512)


@dataclass(slots=True)
class DigestPass:
    """Results of the single pass: file facts, requested content digests, v4 root."""

    file: FileFacts
    content: dict[ContentDigest, bytes] = field(default_factory=dict)
    verity_root: bytes | None = None  # fs-verity root of the whole file (v4), unsalted
    issues: list[Issue] = field(default_factory=list)  # digests that could not be computed


class _ChunkedDigest:
    """apksig's chunked digest over consecutive sections, fed in arbitrary pieces.

    Each section is cut into 1 MiB chunks (the last one shorter); chunk digest =
    H(0xa5 || uint32le length || chunk); result = H(0x5a || uint32le count || chunk digests).
    """

    def __init__(self, algorithm: ContentDigest, section_sizes: list[int]):
        self.name = algorithm.hash_name
        self.lengths = _chunk_lengths(section_sizes)
        self.top = hashlib.new(self.name, b"\x5a" + struct.pack("<I", len(self.lengths)))
        self.index = 0
        self.left = 0
        self.current = None
        self._start_chunk()

    def _start_chunk(self) -> None:
        if self.index < len(self.lengths):
            n = self.lengths[self.index]
            self.current = hashlib.new(self.name, b"\xa5" + struct.pack("<I", n))
            self.left = n
        else:
            self.current = None

    def update(self, data: memoryview) -> None:
        pos = 0
        while pos < len(data) and self.current is not None:
            n = min(self.left, len(data) - pos)
            self.current.update(data[pos : pos + n])
            pos += n
            self.left -= n
            if self.left == 0:
                self.top.update(self.current.digest())
                self.index += 1
                self._start_chunk()

    def digest(self) -> bytes:
        return self.top.digest()


def _chunk_lengths(section_sizes: list[int]) -> list[int]:
    out: list[int] = []
    for size in section_sizes:
        full, rest = divmod(size, CHUNK_SIZE)
        out.extend([CHUNK_SIZE] * full)
        if rest:
            out.append(rest)
    return out


class MerkleTree:
    """fs-verity style SHA-256 Merkle tree root, built while data streams by.

    Mirrors apksig's ``VerityTreeBuilder``: 4 KiB blocks, the last one zero-padded,
    each level's digests zero-padded to whole pages, levels until one page holds them
    all; the root is the (salted) digest of that page. Only one partial page per level
    is kept, so memory is O(log size).
    """

    def __init__(self, total_size: int, salt: bytes | None = None):
        self.salted = hashlib.sha256(salt or b"")
        self.levels = _level_count(total_size)
        self.pending = [bytearray() for _ in range(self.levels)]
        self.block = bytearray()

    def _hash(self, data) -> bytes:
        h = self.salted.copy()
        h.update(data)
        return h.digest()

    def _push(self, level: int, digest: bytes) -> None:
        buf = self.pending[level]
        buf += digest
        if len(buf) == VERITY_BLOCK and level + 1 < self.levels:
            self._push(level + 1, self._hash(buf))
            buf.clear()

    def update(self, data: memoryview) -> None:
        pos = 0
        if self.block:
            take = min(VERITY_BLOCK - len(self.block), len(data))
            self.block += data[:take]
            pos = take
            if len(self.block) == VERITY_BLOCK:
                self._push(0, self._hash(self.block))
                self.block.clear()
        end = len(data)
        while end - pos >= VERITY_BLOCK:
            self._push(0, self._hash(data[pos : pos + VERITY_BLOCK]))
            pos += VERITY_BLOCK
        if pos < end:
            self.block += data[pos:end]

    def root(self) -> bytes:
        if self.block:
            self._push(0, self._hash(bytes(self.block) + bytes(VERITY_BLOCK - len(self.block))))
            self.block.clear()
        for level in range(self.levels - 1):
            buf = self.pending[level]
            if buf:
                self._push(level + 1, self._hash(bytes(buf) + bytes(VERITY_BLOCK - len(buf))))
                buf.clear()
        top = self.pending[self.levels - 1]
        return self._hash(bytes(top) + bytes(VERITY_BLOCK - len(top)))


def _level_count(size: int) -> int:
    """Number of digest levels apksig's ``calculateLevelOffset`` builds for ``size`` bytes."""
    levels = 0
    while True:
        levels += 1
        count = -(-size // VERITY_BLOCK)
        if count * 32 <= VERITY_BLOCK:
            return levels
        size = count * 32


def modified_eocd(zip: ZipArchive, signing_block_offset: int) -> bytes:
    """The EOCD (and comment) with its central directory offset set to the block offset."""
    eocd = bytearray(zip.source.read(zip.eocd_offset, zip.source.size - zip.eocd_offset))
    struct.pack_into("<I", eocd, 16, signing_block_offset & 0xFFFFFFFF)
    return bytes(eocd)


def compute_digests(
    zip: ZipArchive,
    signing_block_offset: int | None,
    wanted: set[ContentDigest],
    want_verity_root: bool = False,
) -> DigestPass:
    """Read the file once; return whole-file facts, wanted content digests and the v4 root.

    Content digests need a signing block (``signing_block_offset`` not None) followed
    directly by the central directory and the EOCD; otherwise none are computed.
    """
    source = zip.source
    size = source.size
    whole = [hashlib.sha256(), hashlib.sha1(), hashlib.md5()]
    issues: list[Issue] = []
    chunked: list[_ChunkedDigest] = []
    content_verity: MerkleTree | None = None
    eocd_bytes = b""
    section1 = cd_size = 0
    content_wanted = {d for d in wanted if d in CHUNKED or d is ContentDigest.VERITY_CHUNKED_SHA256}
    if content_wanted and signing_block_offset is not None:
        section1 = signing_block_offset
        cd_size = zip.eocd_offset - zip.cd_offset
        eocd_bytes = modified_eocd(zip, signing_block_offset)
        sizes = [section1, cd_size, len(eocd_bytes)]
        chunked = [_ChunkedDigest(d, sizes) for d in CHUNKED if d in content_wanted]
        if ContentDigest.VERITY_CHUNKED_SHA256 in content_wanted:
            block_size = zip.cd_offset - signing_block_offset
            if section1 % VERITY_BLOCK or block_size % VERITY_BLOCK:
                issues.append(error("INPUT_VERITY_DIGEST_UNAVAILABLE", f"APK Signing Block at {section1} ({block_size} bytes) is not 4 KiB aligned, so the verity content digest is undefined"))
            else:
                content_verity = MerkleTree(sum(sizes), VERITY_SALT)
    elif content_wanted:
        issues.append(error("INPUT_CONTENT_DIGEST_UNAVAILABLE", "no APK Signing Block: content digests cannot be computed"))
    file_verity = MerkleTree(size) if want_verity_root else None
    content_sinks = [*chunked, *([content_verity] if content_verity else [])]

    # Content sections as file ranges; the EOCD range is fed from ``eocd_bytes`` instead.
    ranges = [(0, section1), (zip.cd_offset, zip.cd_offset + cd_size)] if content_sinks else []
    # MD5 is the slowest hash and hashlib releases the GIL on large buffers: on big files a
    # helper thread runs it beside the other digests, at most two reads in flight.
    helper = ThreadPoolExecutor(max_workers=1) if size >= PARALLEL_MIN_SIZE else None
    here = whole if helper is None else whole[:2]
    pending = None
    pos = 0
    try:
        for piece in source.iter_range(0, size, READ_SIZE):
            view = memoryview(piece)
            if helper is not None:
                if pending is not None:
                    pending.result()
                pending = helper.submit(whole[2].update, piece)
            for h in here:
                h.update(view)
            if file_verity is not None:
                file_verity.update(view)
            end = pos + len(view)
            for lo, hi in ranges:
                a, b = max(lo, pos), min(hi, end)
                if a < b:
                    for sink in content_sinks:
                        sink.update(view[a - pos : b - pos])
            pos = end
        if pending is not None:
            pending.result()
    finally:
        if helper is not None:
            helper.shutdown(wait=True)
    content: dict[ContentDigest, bytes] = {}
    if content_sinks:
        tail = memoryview(eocd_bytes)
        for sink in content_sinks:
            sink.update(tail)
        for c in chunked:
            content[ContentDigest.CHUNKED_SHA512 if c.name == "sha512" else ContentDigest.CHUNKED_SHA256] = c.digest()
        if content_verity is not None:
            total = section1 + cd_size + len(eocd_bytes)
            content[ContentDigest.VERITY_CHUNKED_SHA256] = content_verity.root() + struct.pack("<Q", total)
    facts = FileFacts(size, whole[0].hexdigest(), whole[1].hexdigest(), whole[2].hexdigest())
    return DigestPass(facts, content, file_verity.root() if file_verity else None, issues)
