"""A device record whose certificate contradicts the verified APK beside it is said (review 30: 14).

AndroidQF ``packages.json`` recorded ``com.example.clean`` with WeChat's certificate next to
the innocent APK (its own file hash, or ``-fast`` with none): the record was counted as
"record whose APK was scanned" and the contradiction disappeared.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions
from backup_helpers import build_ab, manifest, pem_der, pem_sha256
from cli_helpers import issue_codes as _codes

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()


def _acquisition(root: Path, files: list[dict]) -> Path:
    (root / "apks").mkdir(parents=True)
    (root / "acquisition.json").write_text(json.dumps({"uuid": "u1", "androidqf_version": "1.7.0"}))
    (root / "packages.json").write_text(json.dumps([{"name": "com.example.clean", "files": files}]))
    (root / "apks" / "com.example.clean.apk").write_bytes(CLEAN)
    return root


@pytest.mark.parametrize("with_hash", [True, False], ids=["file-hash", "fast-mode"])
def test_a_recorded_wechat_certificate_over_an_innocent_apk_is_a_tamper_fact(scan_path, tmp_path, with_hash):
    wechat = pem_sha256("tencent-like")
    f = {"path": "/data/app/x/base.apk", "certificate": {"Sha256": wechat.upper(), "Subject": "CN=Tencent"}}
    if with_hash:
        f["sha256"] = hashlib.sha256(CLEAN).hexdigest()
    doc = scan_path(_acquisition(tmp_path / "acq", [f]))
    # the record stays listed as its own app beside the APK (review 60 F2)
    assert sorted((a["package"], a["identity"]["origin"]) for a in doc["apps"]) == [
        ("com.example.clean", "apk"), ("com.example.clean", "recorded")]
    assert _codes(doc) == ["BACKUP_RECORD_SIGNER_MISMATCH"]
    [err] = doc["errors"]
    assert err["source"]["chain"][-1] == "packages.json" and wechat in err["errors"][0]["message"]


def test_a_record_that_agrees_with_the_apk_says_nothing(scan_path, tmp_path):
    signer = next(a for a in scan_path(APKS / "clean-v1v2v3.apk")["apps"])["identity"]["signers"][0]["sha256"]
    doc = scan_path(_acquisition(tmp_path / "acq", [{"sha256": hashlib.sha256(CLEAN).hexdigest(),
                                                "certificate": {"Sha256": signer}}]))
    assert doc["errors"] == [] and len(doc["apps"]) == 1


def test_an_adb_manifest_contradicting_its_apk_is_a_tamper_fact(scan_path, tmp_path):
    ab = tmp_path / "phone.ab"
    ab.write_bytes(build_ab([("apps/com.example.clean/_manifest",
                              manifest("com.example.clean", 1, [pem_der("tencent-like")], True)),
                             ("apps/com.example.clean/a/base.apk", CLEAN)]))
    doc = scan_path(ab)
    assert "BACKUP_RECORD_SIGNER_MISMATCH" in _codes(doc)
    # the contradicted record is listed as its own app, decided on its recorded certificate (review 60 F2)
    assert sorted(a["identity"]["origin"] for a in doc["apps"]) == ["apk", "recorded"]


ROTATED = (APKS / "rotated-lineage.apk").read_bytes()  # lineage test-rsa-old -> test-rsa-new; v1/v2 by the old key


def _rotated_acquisition(root: Path, cert_sha256: str) -> Path:
    (root / "apks").mkdir(parents=True)
    (root / "acquisition.json").write_text(json.dumps({"uuid": "u2", "androidqf_version": "1.7.0"}))
    (root / "packages.json").write_text(json.dumps([{"name": "com.example.lineage", "files": [
        {"path": "/data/app/x/base.apk", "sha256": hashlib.sha256(ROTATED).hexdigest(),
         "certificate": {"Sha256": cert_sha256}}]}]))
    (root / "apks" / "com.example.lineage.apk").write_bytes(ROTATED)
    return root


@pytest.mark.parametrize("key", ["test-rsa-old", "test-rsa-new"])
def test_a_record_naming_a_certificate_of_the_verified_key_history_is_no_tamper(scan_path, tmp_path, key):
    """Review 32 #3: the past (lineage, v1/v2) certificate of a rotated app is the same app's key."""
    doc = scan_path(_rotated_acquisition(tmp_path / "acq", pem_sha256(key)))
    assert doc["errors"] == []
    assert [(a["package"], a["identity"]["origin"]) for a in doc["apps"]] == [("com.example.lineage", "apk")]


def test_a_record_naming_a_key_outside_the_rotated_apps_history_is_still_tamper(scan_path, tmp_path):
    doc = scan_path(_rotated_acquisition(tmp_path / "acq", pem_sha256("listed-old")))
    assert _codes(doc) == ["BACKUP_RECORD_SIGNER_MISMATCH"]


# --- under --quick (no file SHA-256, no verified key) a record naming certificates is never tied to an
# APK by a certificate merely present (review 32 #7 tied it so; review 60 F2b: a pasted one retired it)

def _quick(rules, policy, tmp_path, path):
    return scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy,
                identify_options={"quick": True}).to_dict()


def test_quick_lists_a_record_beside_the_apk_carrying_its_certificate(rules, policy, tmp_path):
    signer = pem_sha256("test-rsa")  # clean-v1v2v3.apk's signer
    doc = _quick(rules, policy, tmp_path, _acquisition(tmp_path / "acq", [
        {"sha256": hashlib.sha256(CLEAN).hexdigest(), "certificate": {"Sha256": signer}}]))
    assert sorted(a["identity"]["origin"] for a in doc["apps"]) == ["apk", "recorded"]
    assert not any("listed once" in s["reason"] for s in doc["skipped"]) and doc["errors"] == []


def test_quick_keeps_a_record_whose_certificate_the_apk_does_not_carry(rules, policy, tmp_path):
    """Nothing is verified under --quick, so no tamper fact: the record stays listed with its certificate."""
    wechat = pem_sha256("tencent-like")
    doc = _quick(rules, policy, tmp_path, _acquisition(tmp_path / "acq", [
        {"sha256": hashlib.sha256(CLEAN).hexdigest(), "certificate": {"Sha256": wechat}}]))
    assert sorted(a["identity"]["origin"] for a in doc["apps"]) == ["apk", "recorded"] and doc["errors"] == []
