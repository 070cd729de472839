"""A stored entry flagged with a data descriptor, in an APK: Android's stream reads it as empty.

Android's ``java.util.zip.ZipInputStream`` (libcore, what SAI and ackpine run on) drops OpenJDK's
"only DEFLATED entries can have EXT descriptor" check (``readLOC``: "Android-changed"). Such a
stored entry has no sizes (bit 3: none taken from the header), so ``getNextEntry`` sets nothing left
to read, ``read`` ends it at once (no descriptor read, no CRC checked) and the next local header is
read where its data starts. The walk took the header for one the stream throws at (OpenJDK's
behaviour, desktop Java 17 here) and ended there, and the APK check took it for where the stream
stops, so a TikTok ``base.apk`` at the start of a listed asset's data, the asset's central record
saying deflated (its reading by the directory fails, so nothing else reads those bytes as a ZIP),
was read by SAI and missed: a v2-signed carrier that apksigner verifies, allowed under every name.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from tests.apksigner_helper import apksigner_available, apksigner_verify
from tests.cli_helpers import generate_module
from tests.test_apk_local_coverage import LOCAL_ONLY, _uncovered, apps_of, codes_in, container_codes
from tests.test_apk_local_descriptor import _DESC, _hidden, _local, carrier_of

BLOB = b"assets/blob.bin"


def _stored_with_descriptor(central_method: int) -> list[tuple[bytes, bytes, tuple]]:
    """The asset's local header: stored, bit 3, no sizes; its listed bytes ``base.apk``'s local
    entry, then the asset's descriptor. Its central record: ``central_method``, bit 3."""
    data = _hidden()
    crc = zlib.crc32(data)
    record = _local(BLOB, 0, 0, 0, 0, flags=8) + data + _DESC.pack(0x08074B50, crc, len(data), len(data))
    return [(record, BLOB, (8, central_method, crc, len(data), len(data)))]


@pytest.fixture(scope="module")
def carriers(tmp_path_factory) -> dict[int, Path]:
    gen, root = generate_module(), tmp_path_factory.mktemp("stored-bit3")
    out = {}
    for method in (8, 0):
        out[method] = root / f"carrier-{method}.apk"
        out[method].write_bytes(carrier_of(gen, root / f"work-{method}", _stored_with_descriptor(method)))
    return out


@pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed")
def test_the_carrier_verifies(carriers):
    assert apksigner_verify(carriers[8])["verified"]


def test_the_bytes_are_as_built(carriers):
    """The asset's local header says stored with a descriptor; ``base.apk``'s header follows it."""
    data = carriers[8].read_bytes()
    flags, method, nlen = struct.unpack_from("<HH", data, 6) + struct.unpack_from("<H", data, 26)
    assert (flags & 8, method) == (8, 0) and data[30:30 + nlen] == BLOB
    assert data[30 + nlen:34 + nlen] == b"PK\x03\x04"


def test_the_stream_is_found_to_reach_a_header_no_entry_lists(carriers):
    assert _uncovered(carriers[8])[0]


@pytest.mark.parametrize("name", ["hidden.apk", "hidden.bin", "hidden.apks"])
def test_the_hidden_base_apk_is_scanned(carriers, scan_path, tmp_path, name):
    """Was: one app, com.example.carrier, allowed, no fact. Now TikTok from the local headers too."""
    path = tmp_path / name
    path.write_bytes(carriers[8].read_bytes())
    doc = scan_path(path)
    apps = apps_of(doc)
    assert apps["com.example.carrier"]["verdict"] == "allowed"
    tiktok = apps["com.zhiliaoapp.musically"]
    assert tiktok["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(tiktok["identity"])
    assert tiktok["source"]["chain"][-1] == "base.apk"
    assert LOCAL_ONLY in container_codes(doc)


def test_a_stored_asset_is_read_both_ways(carriers, scan_path, tmp_path):
    """The asset's central record says stored: its bytes (a ZIP with no end record) were walked as
    a member before; the stream's reading of the APK gives TikTok as a local-only member of the APK
    too. Both streams read the same entry at the same offset: one app, the APK's, the asset named
    with it (rows92: was two rows, one per reading)."""
    path = tmp_path / "hidden.apk"
    path.write_bytes(carriers[0].read_bytes())
    doc = scan_path(path)
    found = [a for a in doc["apps"] if a["package"] == "com.zhiliaoapp.musically"]
    assert [tuple(a["source"]["chain"][1:]) for a in found] == [("base.apk",)]
    flag = [t["message"] for t in found[0]["identity"]["tamper"] if t["code"] == LOCAL_ONLY]
    assert len(flag) == 1 and "'assets/blob.bin'" in flag[0], flag
