"""Every digest an APK needs, from ONE sequential read of the file.

The file is read once, in pieces, and each piece is handed to every consumer that wants
it: the whole-file hashes (``FileFacts``: SHA-256 always, SHA-1/MD5 when asked for), the
v2/v3 content digests over apksig's three sections
(``ApkSigningBlockUtils.computeContentDigests``), v1's entry digests (stored entries hashed,
deflated ones inflated, bounded, on the way: v1 needs no second read), and the fs-verity
Merkle root of the whole file, only when a v4 signature is there to check. How the pieces
are read and the work shared over the cores is ``lanes``; memory stays bounded (a few
reused read buffers, one inflated piece per lane, one partial 4 KiB page per Merkle level).

The three sections: bytes before the APK Signing Block, the central directory, and
the End of Central Directory record whose central-directory-offset field is replaced
by the signing block's offset (so the digest does not depend on the block's size).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from apkscan.apk.crypto.algorithms import ContentDigest
from apkscan.apk.io.zipreader import ZipArchive, ZipEntry
from apkscan.apk.model import FileFacts
from apkscan.apk.signing.lanes import COST, PARALLEL_MIN_SIZE, READ_SIZE, EntryDigest, Span, entry_cost, read_once
from apkscan.issues import ApkFormatError, Issue, error

__all__ = ["PARALLEL_MIN_SIZE", "READ_SIZE", "DigestPass", "EntryDigests", "EntryRange", "compute_digests"]

CHUNK_SIZE = 1 << 20  # apksig's CONTENT_DIGESTED_CHUNK_MAX_SIZE_BYTES
VERITY_BLOCK = 4096
VERITY_SALT = bytes(8)  # apksig hashes the v2/v3 verity tree with 8 zero bytes of salt
CHUNKED = (ContentDigest.CHUNKED_SHA256, ContentDigest.CHUNKED_SHA512)
_EMPTY_SHA256 = hashlib.sha256().digest()
FILE_HASHES = ("sha256", "sha1", "md5")  # whole-file digests apkscan can report; SHA-256 always


class WholeFile:
    """The whole-file digests asked for (SHA-256 always), fed by :func:`read_once` spans.

    ``known_sha256``: the SHA-256 of exactly the bytes this pass reads, already computed (the
    scan store's look-up by content): not computed again. The caller vouches for "exactly these
    bytes" (:meth:`apkscan.batch.store.Remember.read` proves it, else identifies again without)."""

    def __init__(self, size: int, names: tuple[str, ...], known_sha256: str | None = None):
        self.size = size
        self.known = known_sha256
        self.hashers = {n: hashlib.new(n) for n in FILE_HASHES
                        if (n == "sha256" and known_sha256 is None) or (n in names and n != "sha256")}

    def spans(self) -> list[Span]:
        return [Span([(0, self.size)], h, COST[n]) for n, h in self.hashers.items()]

    def facts(self) -> FileFacts:
        got = {n: h.hexdigest() for n, h in self.hashers.items()}
        if self.known is not None:
            got["sha256"] = self.known
        return FileFacts(self.size, *(got.get(n) for n in FILE_HASHES))


@dataclass(frozen=True, slots=True)
class EntryRange:
    """An entry v1 will digest: where its data starts, the digests (hashlib names) wanted and
    the digests MANIFEST.MF gives for them, joined in that order (v1's plan decodes them once)."""

    entry: ZipEntry
    start: int
    algorithms: tuple[str, ...]
    expected: bytes

    @property
    def end(self) -> int:
        return self.start + self.entry.stored_size

    @property
    def cost(self) -> float:
        return entry_cost(self.entry, self.algorithms)


class EntryDigests(Mapping):
    """v1's entry digests checked in the pass, by entry index: ``table[i]`` is the tuple of
    hashlib names whose digest differs from MANIFEST.MF's (empty: every one matches), or the
    ``ApkFormatError`` the pass met reading the entry; an entry not in the table was not
    checked (v1 streams it itself).

    A byte per entry and the rare differences (a dict of digests per entry held ~230 bytes an
    entry: 15 MB for 65,000 entries while v1 ran)."""

    def __init__(self, count: int):
        self._matched = bytearray(count)  # 1: checked, every digest matches
        self._other: dict[int, tuple[str, ...] | ApkFormatError] = {}  # checked: differing names, or the error

    def put(self, index: int, outcome: tuple[str, ...] | ApkFormatError) -> None:
        """Keep one entry's outcome (the first one: an index is put once)."""
        if not isinstance(index, int) or not 0 <= index < len(self._matched) or index in self:
            return
        if outcome == ():
            self._matched[index] = 1
        else:
            self._other[index] = outcome

    def __getitem__(self, index: int) -> tuple[str, ...] | ApkFormatError:
        if isinstance(index, int) and 0 <= index < len(self._matched) and self._matched[index]:
            return ()
        return self._other[index]

    def __contains__(self, index) -> bool:
        return (isinstance(index, int) and 0 <= index < len(self._matched) and self._matched[index] == 1) or index in self._other

    def __iter__(self) -> Iterator[int]:
        return (i for i in range(len(self._matched)) if i in self)

    def __len__(self) -> int:
        return self._matched.count(1) + len(self._other)


@dataclass(slots=True)
class DigestPass:
    """Results of the single pass: file facts, requested content digests, v4 root, v1 entries."""

    file: FileFacts
    content: dict[ContentDigest, bytes] = field(default_factory=dict)
    verity_root: bytes | None = None  # fs-verity root of the whole file (v4), unsalted
    issues: list[Issue] = field(default_factory=list)  # digests that could not be computed
    # entry index -> hashlib names of the digests that differ from MANIFEST.MF's (empty: all
    # match), or the error reading the entry (v1 reports it); ``EntryDigests``
    entries: Mapping[int, tuple[str, ...] | ApkFormatError] = field(default_factory=dict)


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

    def _push_blocks(self, data: memoryview) -> None:
        """Level-0 digests of whole blocks, joined and pushed a page at a time (the hot loop)."""
        salted = self.salted
        if salted.digest() == _EMPTY_SHA256:  # unsalted (v4): no state to copy per block
            digests = [hashlib.sha256(data[i : i + VERITY_BLOCK]).digest() for i in range(0, len(data), VERITY_BLOCK)]
        else:
            digests = [self._hash(data[i : i + VERITY_BLOCK]) for i in range(0, len(data), VERITY_BLOCK)]
        per_page = VERITY_BLOCK // 32
        buf = self.pending[0]
        start = 0
        if buf:  # complete the partial page first
            start = (VERITY_BLOCK - len(buf)) // 32
            for d in digests[:start]:
                self._push(0, d)
        for i in range(start, len(digests), per_page):
            page = digests[i : i + per_page]
            if len(page) == per_page and not buf and self.levels > 1:
                self._push(1, self._hash(b"".join(page)))
            else:
                for d in page:
                    self._push(0, d)

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
        full = (end - pos) // VERITY_BLOCK * VERITY_BLOCK
        if full:
            self._push_blocks(data[pos : pos + full])
            pos += full
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


class _Content:
    """The v2/v3 content digests planned for one signing block."""

    def __init__(self, zip: ZipArchive, offset: int | None, wanted: set[ContentDigest], issues: list[Issue]):
        self.chunked: list[_ChunkedDigest] = []
        self.verity: MerkleTree | None = None
        self.eocd = b""
        self.sizes = [0, 0, 0]
        want = {d for d in wanted if d in CHUNKED or d is ContentDigest.VERITY_CHUNKED_SHA256}
        if want and offset is None:
            issues.append(error("INPUT_CONTENT_DIGEST_UNAVAILABLE", "no APK Signing Block: content digests cannot be computed"))
        if not want or offset is None:
            return
        self.eocd = modified_eocd(zip, offset)
        self.sizes = [offset, zip.eocd_offset - zip.cd_offset, len(self.eocd)]
        self.chunked = [_ChunkedDigest(d, self.sizes) for d in CHUNKED if d in want]
        if ContentDigest.VERITY_CHUNKED_SHA256 in want:
            block_size = zip.cd_offset - offset
            if offset % VERITY_BLOCK or block_size % VERITY_BLOCK:
                issues.append(error("INPUT_VERITY_DIGEST_UNAVAILABLE", f"APK Signing Block at {offset} ({block_size} bytes) is not 4 KiB aligned, so the verity content digest is undefined"))
            else:
                self.verity = MerkleTree(sum(self.sizes), VERITY_SALT)

    @property
    def sinks(self) -> list:
        return [*self.chunked, *([self.verity] if self.verity else [])]

    def spans(self, zip: ZipArchive) -> list[Span]:
        """Section 1 and the central directory from the file; the EOCD comes from ``self.eocd``."""
        ranges = [(0, self.sizes[0]), (zip.cd_offset, zip.cd_offset + self.sizes[1])]
        out = [Span(ranges, c, 2.0 if c.name == "sha512" else 1.0) for c in self.chunked]
        return out + ([Span(ranges, self.verity, 1.3)] if self.verity else [])

    def finish(self) -> dict[ContentDigest, bytes]:
        out: dict[ContentDigest, bytes] = {}
        for sink in self.sinks:
            sink.update(memoryview(self.eocd))
        for c in self.chunked:
            out[ContentDigest.CHUNKED_SHA512 if c.name == "sha512" else ContentDigest.CHUNKED_SHA256] = c.digest()
        if self.verity is not None:
            out[ContentDigest.VERITY_CHUNKED_SHA256] = self.verity.root() + struct.pack("<Q", sum(self.sizes))
        return out


def compute_digests(
    zip: ZipArchive,
    signing_block_offset: int | None,
    wanted: set[ContentDigest],
    want_verity_root: bool = False,
    file_hashes: tuple[str, ...] = ("sha256",),
    entries: dict[int, EntryRange] | None = None,
    known_sha256: str | None = None,
) -> DigestPass:
    """Read the file once; return whole-file facts, wanted content digests, the v4 root and
    the check of ``entries`` against their expected digests (v1's entries, by entry index;
    their ranges must not overlap; the plan is not held while the file is read).

    ``known_sha256``: the file's SHA-256, already computed over these very bytes (:class:`WholeFile`).
    Content digests need a signing block (``signing_block_offset`` not None) followed
    directly by the central directory and the EOCD; otherwise none are computed.
    """
    source = zip.source
    issues: list[Issue] = []
    whole = WholeFile(source.size, file_hashes, known_sha256)
    content = _Content(zip, signing_block_offset, wanted, issues)
    spans = whole.spans() + content.spans(zip)
    file_verity = MerkleTree(source.size) if want_verity_root else None
    if file_verity is not None:  # a Python loop per 4 KiB block: dearer than one hash
        spans.append(Span([(0, source.size)], file_verity, 1.3))
    table = EntryDigests(len(zip.entries))
    check = source.check_deadline
    # each entry's digest state made when the read reaches it, the verdict kept in ``table``
    read_once(source, spans, list((entries or {}).values()),
              lambda r: EntryDigest(r.entry, r.start, r.algorithms, check, table, r.expected))
    return DigestPass(whole.facts(), content.finish(), file_verity.root() if file_verity else None, issues, table)
