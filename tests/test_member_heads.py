"""``detect.zip_entry_head`` (the walker's look into every member of every APK, for nested
APKs and containers) reads one member's first bytes without the streaming entry reader.

It must give what that reader gave on real APKs (fixtures, corpus), and on crafted and
mutated deflate streams what the rule says (``spec_head``, one inflate call over the whole
entry): the chunked reads must not change the answer. The old streaming answer for a corrupt
entry depended on where its read steps ended, so it is no reference for mutated streams.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import pytest

from apkscan.apk.io.bytesource import BytesSource, ByteSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkScanError
from apkscan.sources import detect

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
FAILS = (ApkScanError,)  # a coded error, as the entry reader raises: callers catch nothing else


def streamed_head(archive, entry, size):
    """What the walker read before: the first ``size`` bytes through ``ZipArchive.stream``."""
    out = b""
    gen = archive.stream(entry, chunk=size)
    try:
        for chunk in gen:
            out += chunk
            if len(out) >= size:
                break
    finally:
        gen.close()
    return out[:size]


def spec_head(archive, entry, size):
    """The rule, in one inflate call over all the entry's data: the first ``size`` bytes if the
    stream yields that many before it fails; an entry declaring fewer is read to its end and
    must end (deflate's end-of-stream) at exactly its declared size."""
    start = archive.data_offset(entry)
    whole = entry.uncompressed_size < size
    want = min(size, entry.uncompressed_size)
    data = archive.source.read(start, entry.stored_size)
    if not entry.compressed:
        return data[:want]
    z = zlib.decompressobj(-15)
    try:
        out = z.decompress(data, want + whole)
    except zlib.error:
        raise ApkScanError("SPEC", "corrupt") from None
    if len(out) != want or (whole and not z.eof):
        raise ApkScanError("SPEC", "no head")
    return out


def outcome(fn, archive, entry, size):
    try:
        return fn(archive, entry, size)
    except FAILS:
        return "error"


def assert_same(archive, reference=streamed_head, size=512):
    for entry in archive.entries:
        if entry.is_directory:
            continue
        for n in (size, 4):
            want = outcome(reference, archive, entry, n)
            got = outcome(detect.zip_entry_head, archive, entry, n)
            assert got == want, (entry.name, n, entry.method, entry.uncompressed_size)


def raw_zip(name: bytes, data: bytes, *, method: int, usize: int, crc: int = 0) -> bytes:
    """One entry with exactly these bytes, method and declared size (zipfile would fix them)."""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), usize, len(name), 0)
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), usize,
                     len(name), 0, 0, 0, 0, 0, 0)
    body = local + name + data
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd) + len(name), len(body), 0)
    return body + cd + name + eocd


def deflate(data: bytes, level: int = 6) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


EMPTY_STORED_BLOCK = b"\x00\x00\x00\xff\xff"  # BFINAL=0, BTYPE=00, LEN=0, NLEN=0xffff
ZIP_MAGIC = b"PK\x03\x04" + bytes(600)


def crafted() -> dict[str, tuple[bytes, int, int]]:
    """name -> (entry data, method, declared size): each one a way to disagree with the reader."""
    body = deflate(ZIP_MAGIC)
    return {
        "plain": (body, 8, len(ZIP_MAGIC)),
        "stored": (ZIP_MAGIC, 0, len(ZIP_MAGIC)),
        # the magic only after 100 KiB of empty stored blocks: found all the same
        "empty-blocks-first": (EMPTY_STORED_BLOCK * 20000 + body, 8, len(ZIP_MAGIC)),
        "declares-more": (body, 8, len(ZIP_MAGIC) + 100),
        "declares-less-than-head": (deflate(ZIP_MAGIC[:300]), 8, 200),
        "short-and-longer-than-declared": (deflate(b"PK\x03\x04" + bytes(96)), 8, 60),
        "short-and-shorter-than-declared": (deflate(b"PK\x03\x04" + bytes(96)), 8, 300),
        "short-exact": (deflate(b"PK\x03\x04" + bytes(96)), 8, 100),
        "exactly-512": (deflate(ZIP_MAGIC[:512]), 8, 512),
        "truncated": (body[: len(body) // 2], 8, len(ZIP_MAGIC)),
        "truncated-short": (deflate(b"PK\x03\x04" + bytes(200))[:6], 8, 204),
        "corrupt": (b"\xff" * 64 + body, 8, len(ZIP_MAGIC)),
        "trailing-garbage": (deflate(b"PK\x03\x04" + bytes(96)) + b"garbage", 8, 100),
        "unfinished-then-empty-final": (deflate(b"PK\x03\x04" + bytes(96))[:-2], 8, 100),
        "unknown-method": (body, 21, len(ZIP_MAGIC)),
        "empty": (deflate(b""), 8, 0),
        "empty-stored": (b"", 0, 0),
    }


@pytest.mark.parametrize("case", sorted(crafted()))
def test_crafted_entries_read_as_the_streaming_reader_reads_them(case):
    data, method, usize = crafted()[case]
    archive = ZipArchive.open(BytesSource(raw_zip(b"assets/x.bin", data, method=method, usize=usize)))
    assert_same(archive, spec_head)
    assert_same(archive, streamed_head)  # these corrupt ones read as before too


def test_a_magic_behind_empty_blocks_is_still_a_container():
    data, method, usize = crafted()["empty-blocks-first"]
    archive = ZipArchive.open(BytesSource(raw_zip(b"assets/x.bin", data, method=method, usize=usize)))
    assert [e.name for e in detect.nested_members(archive)[0]] == ["assets/x.bin"]


def test_mutated_deflate_streams_read_as_the_streaming_reader_reads_them():
    rng = random.Random(1129)
    seeds = [ZIP_MAGIC, b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(3000)), b"ANDROID BACKUP\n" + bytes(40)]
    for i in range(1500):
        plain = rng.choice(seeds)[: rng.choice((30, 200, 511, 512, 513, 4000))]
        body = bytearray(deflate(plain, rng.choice((0, 1, 9))))
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            if op == 0 and body:
                body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
            elif op == 1:
                del body[rng.randrange(len(body) + 1):]
            else:
                body += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        usize = rng.choice((len(plain), len(plain) + rng.randrange(-40, 41)))
        archive = ZipArchive.open(BytesSource(raw_zip(b"m", bytes(body), method=8, usize=max(0, usize))))
        assert_same(archive, spec_head)


def _apks(folder: Path, limit: int) -> list[Path]:
    return sorted(folder.rglob("*.apk"))[:limit] if folder.is_dir() else []


@pytest.mark.parametrize("apk", _apks(ROOT / "fixtures" / "apks", 200), ids=lambda p: p.name)
def test_fixture_members_read_the_same(apk):
    try:
        with ByteSource(apk) as source:
            assert_same(ZipArchive.open(source))
    except ApkScanError:
        pytest.skip("not a ZIP apkscan opens (a hostile fixture)")


def test_corpus_members_read_the_same():
    apks = _apks(CORPUS, 400)
    if not apks:
        pytest.skip("../shared/corpus is not here")
    checked = 0
    for apk in apks:
        try:
            with ByteSource(apk) as source:
                archive = ZipArchive.open(source)
                assert_same(archive)
                checked += 1
        except ApkScanError:
            continue  # not a ZIP apkscan opens: nothing to compare
    assert checked > 100


def overlapping_apk(names: int, payload: bytes, usize: int) -> bytes:
    """An 'APK' (it names AndroidManifest.xml) with ``names`` entries over one run of data: each
    has its own local header, whose extra field reaches past the headers after it to the
    shared data (so no two entries share a header that a cache could key on)."""
    manifest = raw_zip(b"AndroidManifest.xml", b"\x03\x00\x08\x00" + bytes(60), method=0, usize=64)
    body = manifest[: manifest.index(b"PK\x01\x02")]  # its local header and data
    names_b = [f"res/raw/d{i}".encode() for i in range(names)]
    offsets, at = [], len(body)
    for n in names_b:
        offsets.append(at)
        at += 30 + len(n)
    shared_at = at
    for off, n in zip(offsets, names_b):
        extra = shared_at - (off + 30 + len(n))
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(payload), usize, len(n), extra) + n
    body += payload
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, 0, 64, 64, 19, 0, 0, 0, 0, 0, 0)
    cd += b"AndroidManifest.xml"
    for off, n in zip(offsets, names_b):
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(payload), usize,
                          len(n), 0, 0, 0, 0, 0, off) + n
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, names + 1, names + 1, len(cd), len(body), 0)
    return body + cd + eocd


def test_members_sharing_their_data_are_checked_within_the_archives_size(tmp_path):
    """1,000 names, each with its own local header, over 400 KiB of empty deflate blocks: the
    nested-APK look read it once per name (400 MB; a review's 21 MB file took 107 s, in the
    pool's parent). Its reads are bounded by the archive's size (and 1 MiB): the rest are one
    CONTAINER_OVERLAP_LIMIT error on the APK, which is still scanned."""
    payload = EMPTY_STORED_BLOCK * 80_000 + deflate(ZIP_MAGIC)
    path = tmp_path / "overlap.apk"
    path.write_bytes(overlapping_apk(1000, payload, len(ZIP_MAGIC)))
    items, read = _walk(path)
    assert read < 3 * path.stat().st_size + (2 << 20)  # bounded by the input, not by names x data
    problems = [i for i in items if type(i).__name__ == "InputProblem"]
    unread = [p for p in problems if p.issues[0].code == "CONTAINER_OVERLAP_LIMIT"]
    assert len(unread) >= 1 and any(" members not checked" in p.issues[0].message for p in unread)
    assert [i.chain for i in items if type(i).__name__ == "ScanInput"][0] == (str(path),)  # the APK itself


def overlapping_zip(names: int, payload: bytes, usize: int, name: str, first: bytes = b"") -> bytes:
    """A plain ZIP (or a bundle, by its member names) whose ``names`` entries share one local
    header and its data; ``first``: a real member stored before them (``base.apk``)."""
    body, cd = b"", b""
    if first:
        n = b"base.apk"
        body = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, zlib.crc32(first), len(first), len(first),
                           len(n), 0) + n + first
        cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, zlib.crc32(first), len(first),
                         len(first), len(n), 0, 0, 0, 0, 0, 0) + n
    shared_at, n0 = len(body), name.format(0).encode()
    body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(payload), usize, len(n0), 0) + n0 + payload
    for i in range(names):
        n = name.format(i).encode()
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(payload), usize, len(n),
                          0, 0, 0, 0, 0, shared_at) + n
    count = names + (1 if first else 0)
    return body + cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(cd), len(body), 0)


def _walk(path: Path) -> tuple[list, int]:
    """The walker's items for ``path`` and the bytes its archives' members were read for."""
    from apkscan.apk.io import bytesource
    from apkscan.sources.files import FileSource

    read = [0]
    real = bytesource.ByteSource.read

    def counting(self, offset, length):
        read[0] += length
        return real(self, offset, length)

    bytesource.ByteSource.read = counting
    try:
        return list(FileSource([str(path)]).inputs()), read[0]
    finally:
        bytesource.ByteSource.read = real


def test_an_apk_whose_nested_names_share_one_local_header_is_walked_within_the_budget(tmp_path):
    """The review's 3,000 names over 20 MiB inside an APK, in small, over one local header: the
    nested look stops at the archive's size, so only the names it looked at are walked and the
    rest are one CONTAINER_OVERLAP_LIMIT error (a head cache once made every name nested, and
    each was walked: 58 s for the review's file)."""
    payload = EMPTY_STORED_BLOCK * 80_000 + deflate(ZIP_MAGIC)
    data = overlapping_zip(1000, payload, len(ZIP_MAGIC), "res/raw/d{}")
    manifest = raw_zip(b"AndroidManifest.xml", b"\x03\x00\x08\x00" + bytes(60), method=0, usize=64)
    path = tmp_path / "aliases.apk"  # the same entries after a manifest: an APK to the walker
    head_len = manifest.index(b"PK\x01\x02")
    eocd_at = data.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack_from("<II", data, eocd_at + 12)
    cd = bytearray(data[cd_off:cd_off + cd_size])
    pos = 0
    while pos < len(cd):  # every local header moves by the manifest's size
        lho = struct.unpack_from("<I", cd, pos + 42)[0]
        struct.pack_into("<I", cd, pos + 42, lho + head_len)
        nlen, xlen, clen = struct.unpack_from("<HHH", cd, pos + 28)
        pos += 46 + nlen + xlen + clen
    mcd = manifest[head_len:manifest.rfind(b"PK\x05\x06")]
    body = manifest[:head_len] + data[:cd_off]
    new_cd = mcd + bytes(cd)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1001, 1001, len(new_cd), len(body), 0)
    path.write_bytes(body + new_cd + eocd)
    items, read = _walk(path)
    assert read < 6 * path.stat().st_size + (4 << 20)  # not 1,000 x 400 KiB
    assert any(type(i).__name__ == "InputProblem" and i.issues[0].code == "CONTAINER_OVERLAP_LIMIT" for i in items)


def test_a_name_reading_the_same_header_another_way_is_read(tmp_path):
    """Two central-directory records over one local header: a decoy read as stored (its first
    bytes: deflate data, junk) and the banned APK read inflated from the same bytes. They are
    not one member (an alias rule keyed on the header skipped the APK; a review then showed that
    names change how the same bytes are treated too, and the rule was withdrawn)."""
    from apkscan.sources.files import FileSource

    apk = (ROOT / "fixtures" / "apks" / "tiktok-bytedance-subject.apk").read_bytes()
    packed = deflate(apk)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, zlib.crc32(apk), len(packed), len(apk), 7, 0)
    body = local + b"app.apk" + packed
    cd = b""
    for name, method, csize, usize in ((b"decoy.bin", 0, 64, 64), (b"app.apk", 8, len(packed), len(apk))):
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, 0, csize, usize,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    path = tmp_path / "two-ways.zip"
    path.write_bytes(body + cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(cd), len(body), 0))
    items = list(FileSource([str(path)]).inputs())
    assert [i.chain[-1] for i in items if type(i).__name__ == "ScanInput"] == ["app.apk"]
