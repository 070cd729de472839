"""Property tests: hostile bytes never crash the readers.

API promises checked: ``ZipArchive.open``/``read``/``stream`` raise only ``ApkScanError``
subclasses; ``find_signing_block`` and ``read_manifest`` never raise at all. Inputs are
arbitrary bytes and mutations (byte flips, 32-bit field overwrites, cuts, splices) of a
real signed APK, so the generator reaches past the EOCD checks into entries and the block.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apkscan.apk.io.bytesource import BytesSource
from apkscan.apk.manifest.android_manifest import read_manifest
from apkscan.apk.signing.signing_block import find_signing_block
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkScanError

ROOT = Path(__file__).resolve().parents[1]
SEED_APK = ROOT / "fixtures" / "apks" / "clean-v1v2v3.apk"
BASE = SEED_APK.read_bytes() if SEED_APK.exists() else b""
MAX_ENTRY = 1 << 20
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def exercise(data: bytes) -> None:
    """Everything identify does with the ZIP layer; only ApkScanError may escape."""
    try:
        zip = ZipArchive.open(BytesSource(data))
    except ApkScanError:
        return
    block = find_signing_block(zip)  # promised never to raise
    assert block.found in (True, False)
    for entry in zip.entries[:64]:
        try:
            payload = zip.read(entry, MAX_ENTRY)
            assert len(payload) == entry.uncompressed_size
        except ApkScanError:
            pass
    m = zip.entry("AndroidManifest.xml")
    axml = None
    if m is not None:
        try:
            axml = zip.read(m, MAX_ENTRY)
        except ApkScanError:
            pass
    read_manifest(axml, None)  # promised never to raise


@st.composite
def mutated_apk(draw):
    data = bytearray(BASE)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "u32", "cut", "splice", "u16"]))
        pos = draw(st.integers(0, max(0, len(data) - 5)))
        if kind == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "u32":
            struct.pack_into("<I", data, pos, draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, len(data)])))
        elif kind == "u16":
            struct.pack_into("<H", data, pos, draw(st.sampled_from([0, 1, 8, 0x6363, 0xFFFF])))
        elif kind == "cut":
            del data[pos:pos + draw(st.integers(1, 512))]
        else:
            data[pos:pos] = draw(st.binary(max_size=64))
    return bytes(data)


@SETTINGS
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_only_raise_apkscan_errors(data):
    exercise(data)


@SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_behind_a_valid_eocd(data):
    """Random bytes framed as a ZIP so the central-directory parser sees them."""
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 4, 4, len(data), 0, 0)
    exercise(data + eocd)


@SETTINGS
@given(mutated_apk())
def test_mutated_signed_apk_only_raises_apkscan_errors(data):
    if not BASE:
        pytest.skip("fixtures/apks/clean-v1v2v3.apk missing")
    exercise(data)


@SETTINGS
@given(st.binary(max_size=4096))
def test_read_manifest_never_raises(data):
    info = read_manifest(data, data[::-1])
    assert info.package is None or isinstance(info.package, str)
