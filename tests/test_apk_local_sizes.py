"""A listed entry whose LOCAL header sends a streaming reader elsewhere than its central record (review 83 F1).

``fixtures/apks/v2-only.apk`` with a stored asset ``assets/blob.bin`` after its first entry: the
central record lists all its bytes (so the listed entries meet end to end), but the local header
that ``java.util.zip.ZipInputStream`` follows ends it after a short first part; the rest of the
asset's listed bytes hold a local entry ``base.apk`` (the TikTok fixture) that ends where the next
listed header starts. The v2 content digest is recomputed and the signer re-signed with the
fixture key: apksigner verifies it, aapt reads ``com.example.v2only``, unzip lists five entries,
and Java 17's ``ZipInputStream`` lists ``base.apk`` after the asset (checked with
/work/reviews/r83/Zis.java for each variant below). Before, the check asked the central sizes
alone: the file was allowed under ``.apk`` and prohibited once renamed ``.apks``.
"""

from __future__ import annotations

import hashlib
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.apksigner_helper import apksigner_available, apksigner_verify
from tests.test_apk_local_coverage import APKS, LOCAL_ONLY, TIKTOK, _uncovered, apps_of, codes_in, container_codes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from v2_resign import KEY, V2, V2_ONLY, _block, lp, split_lp  # noqa: E402

_LOC = struct.Struct("<IHHHHHIIIHH")
_CEN = struct.Struct("<IHHHHHHIIIHHHHHII")
PAD = b"clean asset bytes\n" * 8


def _local(name: bytes, flags: int, method: int, crc: int, csize: int, size: int, extra: bytes = b"") -> bytes:
    return _LOC.pack(0x04034B50, 45 if extra else 20, flags, method, 0, 0x21, crc, csize, size, len(name),
                     len(extra)) + name + extra


def _stored(name: bytes, data: bytes) -> bytes:
    return _local(name, 0, 0, zlib.crc32(data), len(data), len(data)) + data


def _asset(variant: str) -> tuple[bytes, int, int, int]:
    """The asset's local header and listed bytes, and its central (flags, method, crc): a short
    first part by its local header, then ``base.apk``, listed as one entry."""
    hidden = _stored(b"base.apk", TIKTOK)
    name, crc = b"assets/blob.bin", zlib.crc32(PAD)
    if variant == "local sizes":  # stored, the local header's size the first part's only
        blob = _local(name, 0, 0, crc, len(PAD), len(PAD)) + PAD + hidden
        return blob, 0, 0, zlib.crc32(PAD + hidden)
    if variant == "local ZIP64 extra":  # both sizes 0xFFFFFFFF, the extra's the first part's
        z64 = struct.pack("<HHQQ", 1, 16, len(PAD), len(PAD))
        blob = _local(name, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, z64) + PAD + hidden
        return blob, 0, 0, zlib.crc32(PAD + hidden)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = c.compress(PAD) + c.flush()
    if variant == "local descriptor only":  # inflated to its end, its descriptor, then base.apk
        tail = struct.pack("<IIII", 0x08074B50, crc, len(packed), len(PAD)) + hidden
        return _local(name, 8, 8, 0, 0, 0) + packed + tail, 0, 8, crc
    # "central descriptor only": the directory says a descriptor follows, the local header has sizes
    blob = _local(name, 0, 8, crc, len(packed), len(PAD)) + packed + hidden
    return blob, 8, 8, crc


def hidden_apk(variant: str) -> bytes:
    """v2-only.apk with the asset after its first entry, v2 re-signed over the new bytes."""
    with zipfile.ZipFile(V2_ONLY) as src:
        entries = [(i.filename.encode(), src.read(i)) for i in src.infolist()]
    body, cd, count = bytearray(), bytearray(), len(entries) + 1
    for k, (name, data) in enumerate(entries):
        if k == 1:
            blob, flags, method, crc = _asset(variant)
            packed = len(blob) - 30 - len(b"assets/blob.bin") - struct.unpack_from("<H", blob, 28)[0]
            if flags & 8:
                packed -= 16  # the listed data stops short of the last 16 bytes: its "descriptor"
            size = len(PAD) if method == 8 else packed
            cd += _CEN.pack(0x02014B50, 20, 20, flags, method, 0, 0x21, crc, packed, size, 15, 0, 0, 0, 0, 0,
                            len(body)) + b"assets/blob.bin"
            body += blob
        cd += _CEN.pack(0x02014B50, 20, 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data), len(name),
                        0, 0, 0, 0, 0, len(body)) + name
        body += _stored(name, data)
    return _v2_signed(bytes(body), bytes(cd), count)


def _v2_signed(body: bytes, cd: bytes, count: int) -> bytes:
    """``body`` and ``cd`` as an APK whose v2 signer (v2-only.apk's, test-rsa) signs their digest."""
    def eocd(at: int) -> bytes:
        return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(cd), at, 0)

    sections = [body, cd, eocd(len(body))]
    chunks = [s[i:i + (1 << 20)] for s in sections for i in range(0, len(s), 1 << 20)]
    inner = b"".join(hashlib.sha256(b"\xa5" + struct.pack("<I", len(c)) + c).digest() for c in chunks)
    top = hashlib.sha256(b"\x5a" + struct.pack("<I", len(chunks)) + inner).digest()
    key = serialization.load_der_private_key(KEY.read_bytes(), None)
    pairs = _block(V2_ONLY.read_bytes())[3]
    for pair in pairs:
        if pair[0] == V2:
            signed, _sigs, record = split_lp(split_lp(split_lp(pair[1])[0])[0])
            signed = lp(lp(struct.pack("<I", 0x0103) + lp(top))) + b"".join(lp(r) for r in split_lp(signed)[1:])
            sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
            pair[1] = lp(lp(lp(signed) + lp(lp(struct.pack("<I", 0x0103) + lp(sig))) + lp(record)))
    blob = b"".join(struct.pack("<QI", len(v) + 4, pid) + v for pid, v in pairs)
    block = struct.pack("<Q", len(blob) + 24) + blob + struct.pack("<Q", len(blob) + 24) + b"APK Sig Block 42"
    return body + block + cd + eocd(len(body) + len(block))


VARIANTS = ["local sizes", "local ZIP64 extra", "local descriptor only", "central descriptor only"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_local_entry_inside_a_listed_entry_is_read(scan_path, tmp_path, variant):
    """The reviewer's clean-with-hidden.apk ("local sizes") and the same cause by a local ZIP64
    extra, by a data descriptor only the local header says (no size usable without inflating: the
    local headers are walked), by one only the central record says: TikTok is found, prohibited,
    flagged; the APK Android installs is read as before."""
    path = tmp_path / "clean-with-hidden.apk"
    path.write_bytes(data := hidden_apk(variant))
    assert [i.filename for i in zipfile.ZipFile(path).infolist()][1] == "assets/blob.bin"
    assert len(zipfile.ZipFile(path).infolist()) == 5 and TIKTOK in data
    doc = scan_path(path)
    apps = apps_of(doc)
    assert "com.example.v2only" in apps and apps["com.example.v2only"]["verdict"] == "allowed"
    tiktok = apps["com.zhiliaoapp.musically"]
    assert tiktok["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(tiktok["identity"])
    assert tiktok["source"]["chain"][-1] == "base.apk"
    assert LOCAL_ONLY in container_codes(doc) and _uncovered(path)[0]


@pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed")
@pytest.mark.parametrize("variant", VARIANTS)
def test_the_carrier_verifies(tmp_path, variant):
    """The oracle's side: the v2 scheme signs the bytes, not the local headers' sizes."""
    path = tmp_path / "clean-with-hidden.apk"
    path.write_bytes(hidden_apk(variant))
    assert apksigner_verify(path)["verified"]


def test_honest_local_headers_cost_a_read_per_window(tmp_path):
    """The fixture APK as it is: every listed entry's local header read (the first 16 KiB window
    holds them all), nothing reached."""
    assert _uncovered(APKS / "v2-only.apk") == (False, 1)
