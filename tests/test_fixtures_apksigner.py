"""The committed fixture APKs are what fixtures/apks/index.json says they are.

Two layers: structural checks on the bytes (always run: the tampering really is in the file,
the right certificates are where they should be), and the reference verdict of Google's
``apksigner`` (run only where it is installed) which must equal ``expect_verified`` with the
expected signer certificates.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
APKS = FIXTURES / "apks"
SHARED = Path(__file__).resolve().parents[2] / "shared"

sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tamper
from apksigner_helper import apksigner_available, apksigner_verify

INDEX = json.loads((APKS / "index.json").read_text())
RECORDS = {r["file"]: r for r in INDEX["fixtures"]}


def _data(name: str) -> bytes:
    return (APKS / name).read_bytes()


def _entry(data: bytes, name: str) -> bytes:
    """Uncompressed entry bytes, located through the central directory (as Android does)."""
    rec = tamper.record(data, name)
    start = tamper.local_data_offset(data, rec)
    raw = data[start:start + rec.compressed_size]
    return zlib.decompress(raw, -15) if rec.method == 8 else raw


def _pem_der(key: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    cert = x509.load_pem_x509_certificate((FIXTURES / "keys" / f"{key}.pem").read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)


# --- index consistency --------------------------------------------------------------------------

def test_every_fixture_in_index_exists_and_is_small():
    assert len(RECORDS) >= 25
    for name, rec in RECORDS.items():
        data = _data(name)
        assert len(data) == rec["size"] < 64 * 1024
        assert hashlib.sha256(data).hexdigest() == rec["sha256"]


def test_index_cert_hashes_match_committed_certificates():
    for key, info in INDEX["keys"].items():
        assert hashlib.sha256(_pem_der(key)).hexdigest() == info["cert_sha256"]
    for rec in RECORDS.values():
        for key, sha in rec["cert_sha256"].items():
            assert INDEX["keys"][key]["cert_sha256"] == sha


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_manifest_facts_match_index(name):
    """Package, label and SDK levels read back with androguard's independent parser."""
    from loguru import logger
    logger.disable("androguard")
    from androguard.core.axml import ARSCParser, AXMLPrinter

    rec = RECORDS[name]
    data = _data(name)
    xml = AXMLPrinter(_entry(data, "AndroidManifest.xml")).get_xml_obj()
    ns = "{http://schemas.android.com/apk/res/android}"
    assert xml.get("package") == rec["package"]
    assert xml.find("uses-sdk").get(ns + "minSdkVersion") == str(rec["min_sdk"])
    assert xml.find("uses-sdk").get(ns + "targetSdkVersion") == str(rec["target_sdk"])
    label = xml.find("application").get(ns + "label")
    if rec["label_locales"]:
        arsc = ARSCParser(_entry(data, "resources.arsc"))
        assert label.startswith("@7F")
        resolved = {cfg.get_language() if cfg.get_language() != "\x00\x00" else "": value
                    for cfg, value in arsc.get_resolved_res_configs(int(label[1:], 16))}
        assert resolved == rec["label_locales"]
    else:
        assert label == rec["label"]


# --- the tampering is really there ---------------------------------------------------------------

def test_tampered_entry_differs_from_clean_in_one_byte():
    clean, bad = _data("clean-v1v2v3.apk"), _data("tampered-entry.apk")
    assert len(clean) == len(bad)
    diff = [i for i in range(len(clean)) if clean[i] != bad[i]]
    assert len(diff) == 1
    rec = tamper.record(bad, "res/raw/notes.txt")
    start = tamper.local_data_offset(bad, rec)
    assert start <= diff[0] < start + rec.compressed_size


def test_v2_stripped_has_no_signing_block_but_v1_claims_v2():
    data = _data("v2-stripped.apk")
    assert tamper.signing_block_bounds(data) is None
    assert b"APK Sig Block 42" not in data
    sf = [r.name for r in tamper.central_directory(data) if r.name.endswith(".SF")]
    assert sf and b"X-Android-APK-Signed: 2" in _entry(data, sf[0])


def _lfh(data: bytes, name: str) -> tuple[int, int, int, int]:
    """(flags, method, compressed size, uncompressed size) from the local header."""
    rec = tamper.record(data, name)
    flags, method = struct.unpack_from("<HH", data, rec.local_offset + 6)
    csize, usize = struct.unpack_from("<II", data, rec.local_offset + 18)
    return flags, method, csize, usize


def test_badpack_local_headers_lie_and_central_directory_does_not():
    data = _data("badpack-local-method.apk")
    rec = tamper.record(data, "AndroidManifest.xml")
    assert rec.method == 8 and _lfh(data, "AndroidManifest.xml")[1] == 0x4A4B

    data = _data("badpack-local-sizes.apk")
    rec = tamper.record(data, "AndroidManifest.xml")
    assert _lfh(data, "AndroidManifest.xml")[2:] == (0, 0xFFFFFFF0)
    assert rec.compressed_size not in (0, 0xFFFFFFF0)

    data = _data("badpack-fake-encryption.apk")
    for name in ("AndroidManifest.xml", "classes.dex"):
        assert tamper.record(data, name).flags & 1 and _lfh(data, name)[0] & 1
    assert _entry(data, "classes.dex").startswith(b"dex\n035\x00")  # plainly readable

    data = _data("badpack-cd-method-deflate-stored.apk")
    assert tamper.record(data, "AndroidManifest.xml").method == 8
    assert _lfh(data, "AndroidManifest.xml")[1] == 0


def test_eocd_comment_holds_a_decoy_after_the_real_record():
    data = _data("eocd-comment.apk")
    real = tamper.find_eocd(data)
    decoy = data.rfind(b"PK\x05\x06")
    assert decoy > real  # a naive "last signature" scan picks the decoy
    assert struct.unpack_from("<H", data, real + 20)[0] == len(data) - real - 22


def test_data_descriptor_entries_flagged_in_both_headers():
    data = _data("data-descriptor.apk")
    flagged = [r.name for r in tamper.central_directory(data) if r.flags & 0x08]
    assert {"AndroidManifest.xml", "classes.dex", "res/raw/notes.txt"} <= set(flagged)
    for name in flagged:
        assert _lfh(data, name)[0] & 0x08


def _vendor_wechat_der() -> bytes:
    path = SHARED / "reference" / "vendor-identities.json"
    if not path.exists():
        pytest.skip("shared reference data not available")
    certs = json.loads(path.read_text())["certificates"]
    return bytes.fromhex(certs["TENCENT_WECHAT"]["der_hex"])


def test_forged_cert_present_in_v1_and_v2_impostor_cert_gone():
    from asn1crypto import cms

    wechat = _vendor_wechat_der()
    rec = RECORDS["wechat-forged-cert.apk"]
    assert hashlib.sha256(wechat).hexdigest() == rec["present_cert_sha256"]
    data = _data("wechat-forged-cert.apk")
    impostor = _pem_der("impostor")
    # v1: the PKCS#7 SignedData still parses and carries exactly the WeChat certificate.
    (block_name,) = [r.name for r in tamper.central_directory(data) if r.name.endswith(".RSA")]
    signed = cms.ContentInfo.load(_entry(data, block_name))["content"]
    certs = [c.dump() for c in signed["certificates"]]
    assert certs == [wechat]
    # v2: the signing block (stored raw in the file) carries the WeChat DER, not the impostor's.
    start, end = tamper.signing_block_bounds(data)
    assert wechat in data[start:end] and impostor not in data


def test_rotated_fixtures_sign_v1_with_old_key():
    for name in ("rotated-lineage.apk", "lineage-old-listed.apk"):
        rec = RECORDS[name]
        old, new = rec["lineage_keys"]
        data = _data(name)
        (block_name,) = [r.name for r in tamper.central_directory(data) if r.name.endswith(".RSA")]
        pkcs7 = _entry(data, block_name)
        assert _pem_der(old) in pkcs7 and _pem_der(new) not in pkcs7
        start, end = tamper.signing_block_bounds(data)
        assert _pem_der(new) in data[start:end]  # v3 signer


# --- the reference verdict -------------------------------------------------------------------------

needs_apksigner = pytest.mark.skipif(not apksigner_available(), reason="apksigner not on PATH")


@needs_apksigner
@pytest.mark.parametrize("name", sorted(RECORDS))
def test_apksigner_verdict_matches_index(name):
    rec = RECORDS[name]
    got = apksigner_verify(APKS / name)
    assert got["verified"] == rec["expect_verified"], got["output"]
    if rec["expect_verified"]:
        assert got["signers_sha256"] == rec["expect_signers_sha256"]
        assert not got["errors"]
    else:
        assert got["errors"], got["output"]


@needs_apksigner
def test_apksigner_helper_reports_schemes_and_errors():
    got = apksigner_verify(APKS / "clean-v1v2v3.apk")
    assert got["schemes"]["v1"] and got["schemes"]["v2"] and got["schemes"]["v3"]
    got = apksigner_verify(APKS / "v2-stripped.apk")
    assert any("Signature stripped" in e for e in got["errors"])
    # A v2-only APK does not verify when the caller asks for Android versions without v2.
    assert not apksigner_verify(APKS / "v2-only.apk", min_sdk=21)["verified"]
