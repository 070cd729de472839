"""v1 entry digests from the single file pass (deflated entries inflated in the pass):
a broken or lying entry gives the same issue as v1's own streaming path, on the one-thread
path (small APK) and the two-lane path (APK over ``PARALLEL_MIN_SIZE``)."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import zipfile

import pytest

from apkscan.apk.identify import identify
from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.zipreader import ZipArchive, ZipEntry
from apkscan.apk.signing import digests, lanes
from apkscan.apk.signing.v1 import verifier as v1
from apkscan.apk.signing.v1.entry_digests import plan_entry_digests

from conftest import APKS, KEYS

LEVEL0 = "assets/level0.txt"  # deflated with stored deflate blocks: a flipped byte still inflates
TEXT = b"".join(b"line %05d of a text asset that deflates well\n" % i for i in range(4000))


def _signed(folder, big: bool):
    if not shutil.which("apksigner"):
        pytest.skip("apksigner not installed")
    unsigned, signed = folder / "u.apk", folder / "s.apk"
    with zipfile.ZipFile(APKS / "unsigned.apk") as src, zipfile.ZipFile(unsigned, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr(zipfile.ZipInfo("assets/text.txt"), TEXT, compress_type=zipfile.ZIP_DEFLATED)
        dst.writestr(zipfile.ZipInfo(LEVEL0), TEXT, compress_type=zipfile.ZIP_DEFLATED, compresslevel=0)
        if big:
            dst.writestr(zipfile.ZipInfo("assets/blob.bin"), os.urandom(digests.PARALLEL_MIN_SIZE + (1 << 20)))
    subprocess.run(["apksigner", "sign", "--key", str(KEYS / "test-rsa.pk8"), "--cert", str(KEYS / "test-rsa.pem"),
                    "--min-sdk-version", "21", "--v3-signing-enabled", "false", "--out", str(signed), str(unsigned)],
                   check=True, capture_output=True, timeout=120)
    return signed


@pytest.fixture(scope="module", params=["small", "big"])
def apk(request, tmp_path_factory):
    return _signed(tmp_path_factory.mktemp(request.param), request.param == "big")


def _entry(path, name):
    with ByteSource(path) as src:
        archive = ZipArchive.open(src)
        entry = archive.entry(name)
        return entry, archive.data_offset(entry)


def _v1_issues(identity):
    return [(i.code, i.message) for i in identity.verification.schemes["v1"].errors]


def _streamed_v1_issues(path):
    """The same APK verified by v1 alone, streaming every entry itself (no pass)."""
    with ByteSource(path) as src:
        result = v1.verify_v1(ZipArchive.open(src), 21, 23, frozenset())
    return [(i.code, i.message) for i in result.scheme.errors]


def _patched(apk, tmp_path, name, patch):
    data = bytearray(apk.read_bytes())
    entry, start = _entry(apk, name)
    patch(data, entry, start)
    bad = tmp_path / "bad.apk"
    bad.write_bytes(bytes(data))
    return bad


def test_the_pass_digests_every_signed_entry_as_zipfile_reads_it(apk):
    with ByteSource(apk) as src, zipfile.ZipFile(apk) as zf:
        archive = ZipArchive.open(src)
        plan = plan_entry_digests(archive, 21, 23)
        result = digests.compute_digests(archive, None, set(), entries=plan)
        for index, r in plan.items():
            name = archive.entries[index].name
            assert r.algorithms == ("sha256",) and r.expected == hashlib.sha256(zf.read(name)).digest(), name
            assert result.entries[index] == (), name  # the pass's digest is MANIFEST.MF's: none differs
    assert {archive.entries[i].name for i in plan} >= {"classes.dex", "assets/text.txt", LEVEL0}
    assert identify(apk).verified


def test_corrupt_deflate_data_is_the_same_issue_from_the_pass(apk, tmp_path):
    def corrupt(data, entry, start):
        data[start] = 0xFF  # BTYPE 11: an invalid deflate block
    bad = _patched(apk, tmp_path, "classes.dex", corrupt)
    identity = identify(bad, min_sdk=21, max_sdk=23)  # only v1 counts below N
    assert not identity.verified
    assert _v1_issues(identity) == _streamed_v1_issues(bad)
    assert [c for c, _ in _v1_issues(identity)] == ["ZIP_ENTRY_INFLATE_FAILED"]


def test_a_deflated_entry_inflating_past_its_declared_size_is_stopped_in_the_pass(apk, tmp_path):
    def shrink(data, entry, start):  # both headers now declare 100 bytes fewer (one alone: a malformed entry)
        struct.pack_into("<I", data, entry.cd_record_offset + 24, entry.uncompressed_size - 100)
        struct.pack_into("<I", data, entry.local_header_offset + 22, entry.uncompressed_size - 100)
    bad = _patched(apk, tmp_path, "assets/text.txt", shrink)
    identity = identify(bad, min_sdk=21, max_sdk=23)
    assert _v1_issues(identity) == _streamed_v1_issues(bad)
    assert [c for c, _ in _v1_issues(identity)] == ["ZIP_ENTRY_SIZE_MISMATCH"]
    assert "inflates to more than the declared" in _v1_issues(identity)[0][1]


def test_a_changed_byte_in_a_deflated_entry_fails_its_v1_digest_from_the_pass(apk, tmp_path):
    def flip(data, entry, start):
        data[start + 1000] ^= 0x20  # inside a stored deflate block: still inflates, other text
    bad = _patched(apk, tmp_path, LEVEL0, flip)
    with zipfile.ZipFile(bad) as zf, pytest.raises(zipfile.BadZipFile, match="CRC"):
        zf.read(LEVEL0)  # inflates to the end, to other bytes
    identity = identify(bad, min_sdk=21, max_sdk=23)
    assert _v1_issues(identity) == _streamed_v1_issues(bad)
    assert [c for c, _ in _v1_issues(identity)] == ["JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY"]
    assert LEVEL0 in _v1_issues(identity)[0][1]


def test_the_two_lanes_share_the_entries_and_each_gets_the_file_work():
    class Sink:
        def update(self, view):
            pass
    size = 64 << 20
    spans = [lanes.Span([(0, size)], Sink(), 1.0), lanes.Span([(0, size)], Sink(), 1.0)]
    with ByteSource(APKS / "clean-v1v2v3.apk") as src:
        entry = ZipArchive.open(src).entries[0]
    entries = [lanes.EntryDigest(entry, i * (1 << 20), ("sha256",), lambda: None) for i in range(40)]
    for e in entries:
        e.end = e.start + (1 << 20)
    a, b = lanes.split(spans, entries, size, 2)
    assert len(a.spans) == len(b.spans) == 1
    assert 10 <= len(a.entries) <= 30 and len(a.entries) + len(b.entries) == 40


def test_one_unsplittable_entry_gets_a_lane_of_its_own():
    """A 1 GiB stored entry is one job: with the file hashes and the chunked digest on two
    lanes, it must go to the third, even when small deflated entries came first, or one
    core does two thirds of the work."""
    class Sink:
        def update(self, view):
            pass
    size = 1 << 30
    spans = [lanes.Span([(0, size)], Sink(), 1.0), lanes.Span([(0, size)], Sink(), 1.0)]
    def entry(i, method, csize, usize, start):
        e = ZipEntry(i, f"e{i}", b"e%d" % i, method, 0, 0, csize, usize, start - 30, 0)
        return lanes.EntryDigest(e, start, ("sha256",), lambda: None)
    small = [entry(0, 8, 100, 10 << 10, 100), entry(1, 8, 100, 10 << 10, 300)]
    big = entry(2, 0, size - 4096, size - 4096, 500)
    split = lanes.split(spans, [*small, big], size, 3)
    owner = next(l for l in split if big in l.entries)
    assert owner.spans == [] and owner.rate == 0


@pytest.mark.parametrize("size", [5000, digests.PARALLEL_MIN_SIZE + 4097])
def test_a_file_that_is_no_zip_still_gets_its_file_hashes(tmp_path, size):
    """Inputs that never reach the pass are hashed by the same reader (threads when big)."""
    data = os.urandom(size)
    path = tmp_path / "noise.apk"
    path.write_bytes(data)
    identity = identify(path, hashes=("sha1", "md5"))
    assert [i.code for i in identity.errors] == ["ZIP_EOCD_NOT_FOUND"]
    assert identity.file.size == size
    assert (identity.file.sha256, identity.file.sha1, identity.file.md5) == (
        hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest(), hashlib.md5(data).hexdigest())


def test_readinto_reads_the_window_and_refuses_to_run_past_it(tmp_path):
    from apkscan.apk.io.bytesource import BytesSource
    from apkscan.issues import ApkFormatError

    data = os.urandom(10_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    for src in (ByteSource(path, 1000, 5000), BytesSource(data[1000:6000])):
        with src:
            buf = memoryview(bytearray(4000))
            src.readinto(500, buf)
            assert bytes(buf) == data[1500:5500]
            with pytest.raises(ApkFormatError) as exc:
                src.readinto(1001, buf)  # 1001 + 4000 > 5000: the window ends first
            assert exc.value.code == "ZIP_OUT_OF_BOUNDS"


@pytest.mark.parametrize("apk", ["v1-only.apk", "clean-v1v2v3.apk"])
def test_manifest_mf_is_read_and_parsed_once_for_the_plan_and_v1(apk, monkeypatch):
    """The pass's plan and v1 share one read (and inflate) and one parse of MANIFEST.MF."""
    from apkscan.apk.signing.v1 import jar_manifest

    reads, parses = [], []
    real_read, real_parse = ZipArchive.read, jar_manifest.parse

    def counting_read(self, entry, *args, **kwargs):
        reads.append(entry.name)
        return real_read(self, entry, *args, **kwargs)

    def counting_parse(data, *args, **kwargs):
        parses.append(data[:16])
        return real_parse(data, *args, **kwargs)

    monkeypatch.setattr(ZipArchive, "read", counting_read)
    monkeypatch.setattr(jar_manifest, "parse", counting_parse)
    identity = identify(str(APKS / apk))
    assert identity.verification.schemes["v1"].verified
    assert reads.count("META-INF/MANIFEST.MF") == 1
    assert len([p for p in parses if p.startswith(b"Manifest-Version")]) == 1
