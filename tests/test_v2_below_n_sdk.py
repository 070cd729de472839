"""A v2 block over an SDK range that ends before N (API 24), a v3.1 block over one before T (33):
apksig never reads it.

``ApkVerifier.verify`` checks v2 only for ``maxSdkVersion >= 24``, so ``apksigner verify
--max-sdk-version 23`` says "Verified using v2 scheme: false" and nothing about the block. apkscan
reports every scheme present, even one the verdict ignores, as it reports v3 below P: checked on
its own terms (every level that reads it), its real defects said, the verdict untouched. It checked
v2 over the empty range 24-23 instead, and every v2 signer of every v1+v2 APK "failed"
V2_SIG_NO_SUPPORTED_SIGNATURES, a defect no platform reading v2 would find; a v3.1 block, checked
from 33 to the range's end, V3_MISSING_SDK_VERSIONS.
"""

from __future__ import annotations

import struct
import subprocess

import pytest
from apksigner_helper import apksigner_available

from apkscan.apk.identify import identify
from conftest import APKS, FIXTURES

V31 = APKS.parents[2] / "shared" / "corpus" / "apksig" / "v31-rsa-2048_2-tgt-33-1-tgt-28.apk"  # minSdk 23

V1V2, V1V2V3, V2_ONLY = APKS / "v1v2.apk", APKS / "clean-v1v2v3.apk", APKS / "v2-only.apk"  # minSdk 21, 21, 24


def _codes(scheme) -> list[str]:
    return sorted(i.code for i in [*scheme.all_errors(), *scheme.warnings, *(w for s in scheme.signers for w in s.warnings)])


def _broken_v2_signature(src, tmp_path):
    """``src`` with the last byte of its first v2 signer's first signature flipped (v1 untouched)."""
    import sys

    sys.path.insert(0, str(FIXTURES))
    import tamper

    data = bytearray(src.read_bytes())
    start, end = tamper.signing_block_bounds(bytes(data))
    pos = start + 8
    while pos < end - 24:
        size, pair_id = struct.unpack_from("<QI", data, pos)
        if pair_id == tamper.V2_BLOCK_ID:
            break
        pos += 8 + size
    else:
        raise AssertionError("no v2 block")
    signer = pos + 12 + 4 + 4  # the pair's value: signers length, first signer's length
    signed_data_len = struct.unpack_from("<I", data, signer)[0]
    record = signer + 4 + signed_data_len + 4 + 4  # signatures length, first record's length
    sig_len = struct.unpack_from("<I", data, record + 4)[0]  # after the algorithm id
    data[record + 8 + sig_len - 1] ^= 0x01
    out = tmp_path / f"{src.stem}-v2-sig-broken.apk"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("apk", [V1V2, V1V2V3], ids=lambda p: p.stem)
def test_an_intact_v2_block_reads_as_over_its_own_levels_and_does_not_count(apk):
    whole, below = identify(apk).verification, identify(apk, max_sdk=23).verification
    assert below.verified and below.verified_using == ["v1"]  # apksigner: v1 true, v2 false
    v2 = below.schemes["v2"]
    assert v2.present and v2.verified and _codes(v2) == [] == _codes(whole.schemes["v2"])
    assert all(s.verified for s in v2.signers)


def test_a_broken_v2_block_says_its_real_defect_and_the_verdict_stays_v1s(tmp_path):
    bad = _broken_v2_signature(V1V2, tmp_path)
    whole, below = identify(bad).verification, identify(bad, max_sdk=23).verification
    assert not whole.verified and "V2_SIG_DID_NOT_VERIFY" in _codes(whole.schemes["v2"])  # the control
    assert below.verified and below.verified_using == ["v1"] and below.errors == []
    assert not below.schemes["v2"].verified
    assert _codes(below.schemes["v2"]) == _codes(whole.schemes["v2"]) == ["V2_SIG_DID_NOT_VERIFY"]


def test_a_refused_range_leaves_v2_without_a_made_up_defect():
    v = identify(V2_ONLY, max_sdk=23).verification  # minSdkVersion 24 > 23: apksigner throws
    assert [i.code for i in v.errors] == ["INPUT_BAD_SDK_RANGE"]
    assert v.schemes["v2"].present and not v.schemes["v2"].verified and _codes(v.schemes["v2"]) == []


@pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed")
def test_apksigner_reads_no_v2_below_n_and_says_nothing_of_it(tmp_path):
    for apk in (V1V2, _broken_v2_signature(V1V2, tmp_path)):
        out = subprocess.run(["apksigner", "verify", "-v", "--max-sdk-version", "23", str(apk)],
                             capture_output=True, text=True, timeout=120, check=False)
        lines = out.stdout.splitlines()
        assert out.returncode == 0 and "Verifies" in lines, out.stdout + out.stderr
        assert "Verified using v1 scheme (JAR signing): true" in lines
        assert "Verified using v2 scheme (APK Signature Scheme v2): false" in lines
        assert not [ln for ln in lines if ln.startswith(("ERROR", "WARNING"))]
        v = identify(apk, max_sdk=23).verification
        assert v.verified and v.verified_using == ["v1"] and v.errors == [] and v.warnings == []


@pytest.mark.skipif(not V31.is_file(), reason="shared corpus not present")
@pytest.mark.parametrize("max_sdk", [23, 27, 32])
def test_a_v31_block_below_t_reads_as_over_its_own_levels_and_does_not_count(max_sdk):
    whole, below = identify(V31).verification, identify(V31, max_sdk=max_sdk).verification
    assert "v31" in whole.verified_using and whole.schemes["v31"].verified  # the control
    assert below.verified and "v31" not in below.verified_using and below.errors == []
    assert below.schemes["v31"].verified and _codes(below.schemes["v31"]) == [] == _codes(whole.schemes["v31"])
