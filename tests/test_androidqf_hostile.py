"""AndroidQF acquisitions a device owner shaped (review 38 round 2).

A pulled APK that does not verify must not hide its package's record (the record's recorded
certificate says more than certificates merely present in a copy that fails); a record name
with a trailing newline is no package; an APK is found by its bytes under ``packages.json`` or
a ``.age`` name.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest


APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
TAMPERED = (APKS / "tampered-entry.apk").read_bytes()  # com.example.clean; its v1/v2 digests fail
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()


def _acquisition(root: Path, records: list[dict], apks: dict[str, bytes]) -> Path:
    (root / "apks").mkdir(parents=True)
    (root / "acquisition.json").write_text(json.dumps({"uuid": "u1", "androidqf_version": "1.7.0"}))
    (root / "packages.json").write_text(json.dumps(records))
    for name, data in apks.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _by_origin(doc: dict) -> dict[str, dict]:
    return {a["identity"]["origin"]: a for a in doc["apps"]}


def test_a_pulled_apk_that_does_not_verify_leaves_its_record_listed(scan_path, rules, tmp_path):
    # the device recorded a Tencent key for this package; the pulled copy fails its digests
    wechat_key = next(kc.sha256 for p in rules.packs if p.name == "tencent" for kc in p.certificates.values()
                      if kc.sha256)
    record = {"name": "com.example.clean", "files": [{"path": "/data/app/x/base.apk",
                                                       "sha256": hashlib.sha256(TAMPERED).hexdigest(),
                                                       "certificate": {"Sha256": wechat_key}}]}
    doc = scan_path(_acquisition(tmp_path / "acq", [record], {"apks/com.example.clean.apk": TAMPERED}))
    apps = _by_origin(doc)
    assert set(apps) == {"apk", "recorded"}  # before: the record was skipped as "its APK was scanned"
    assert apps["apk"]["identity"]["verified"] is False
    recorded = [(f["strength"], e["basis"]) for f in apps["recorded"]["findings"] for e in f["evidence"]]
    assert ("strong", "certificate-recorded") in recorded
    assert not any("whose APK was scanned" in s["reason"] for s in doc["skipped"])


def test_a_pulled_apk_that_verifies_still_stands_for_its_record(scan_path, tmp_path):
    record = {"name": "com.example.clean", "files": [{"sha256": hashlib.sha256(CLEAN).hexdigest()}]}
    doc = scan_path(_acquisition(tmp_path / "acq", [record], {"apks/com.example.clean.apk": CLEAN}))
    assert [a["identity"]["origin"] for a in doc["apps"]] == ["apk"]
    assert any("whose APK was scanned" in s["reason"] for s in doc["skipped"])


def test_a_record_name_with_a_trailing_newline_is_no_package(scan_path, tmp_path):
    records = [{"name": "com.tencent.mm\n", "files": []}, {"name": "com.example.notes", "files": []}]
    doc = scan_path(_acquisition(tmp_path / "acq", records, {"apks/clean.apk": CLEAN}))
    packages = sorted(a["package"] for a in doc["apps"])
    assert packages == ["com.example.clean", "com.example.notes"]  # before: 'com.tencent.mm\n' listed too
    codes = [i["code"] for e in doc["errors"] for i in e["errors"]]
    assert codes == ["ANDROIDQF_PACKAGES_INVALID"]  # the bad entry is counted, not dropped unsaid


@pytest.mark.parametrize("name", ["apks/wechat.apk.age", "backup.zip.age"])
def test_an_apk_under_an_age_name_is_scanned_by_its_bytes(scan_path, tmp_path, name):
    doc = scan_path(_acquisition(tmp_path / "acq", [], {name: WECHAT}))
    assert [a["package"] for a in doc["apps"]] == ["com.tencent.mm"]  # before: CONTAINER_AGE_ENCRYPTED
    codes = [i["code"] for e in doc["errors"] for i in e["errors"]]
    assert "CONTAINER_AGE_ENCRYPTED" not in codes


def test_a_real_age_file_is_still_said_to_be_encrypted(scan_path, tmp_path):
    doc = scan_path(_acquisition(tmp_path / "acq", [], {"acq.zip.age": b"age-encryption.org/v1\n-> X25519 abc\n" + b"\0" * 64}))
    [problem] = [i for e in doc["errors"] for i in e["errors"] if i["code"] == "CONTAINER_AGE_ENCRYPTED"]
    assert "age --decrypt" in problem["message"]


def test_apk_bytes_under_the_name_packages_json_are_scanned(scan_path, tmp_path):
    root = _acquisition(tmp_path / "acq", [], {})
    (root / "packages.json").write_bytes(WECHAT)
    shutil.copy(APKS / "clean-v1v2v3.apk", root / "apks" / "clean.apk")
    doc = scan_path(root)
    assert sorted(a["package"] for a in doc["apps"]) == ["com.example.clean", "com.tencent.mm"]
    codes = [i["code"] for e in doc["errors"] for i in e["errors"]]
    assert "ANDROIDQF_PACKAGES_INVALID" in codes  # and the records could not be read: said


# --- review 39: split sets, records without certificates ------------------------------------------

from backup_helpers import build_ab, manifest, pem_der  # noqa: E402

SPLIT = (APKS.parent / "containers" / "splits" / "clean-config.en.apk").read_bytes()  # com.example.clean, test-rsa


def _ab(tmp_path: Path, apks: dict[str, bytes]) -> Path:
    ab = tmp_path / "phone.ab"
    entries = [("apps/com.example.clean/_manifest", manifest("com.example.clean", 1, [pem_der("test-rsa")], True))]
    entries += [(f"apps/com.example.clean/a/{name}", data) for name, data in apks.items()]
    ab.write_bytes(build_ab(entries))
    return ab


@pytest.mark.parametrize("apks", [{"base.apk": TAMPERED}, {"base.apk": TAMPERED, "split_config.en.apk": SPLIT}],
                         ids=["base", "base-and-split"])
def test_a_set_whose_base_does_not_verify_leaves_its_recorded_certificates_listed(scan_path, tmp_path, apks):
    doc = scan_path(_ab(tmp_path, apks))
    origins = sorted(a["identity"]["origin"] for a in doc["apps"])
    assert "recorded" in origins  # before, with the intact split: skipped, the recorded key lost
    assert not any("whose APK was scanned" in s["reason"] for s in doc["skipped"])


def test_a_record_without_certificates_is_not_listed_twice_beside_a_copy_that_fails(scan_path, tmp_path):
    record = {"name": "com.example.clean", "files": [{"sha256": hashlib.sha256(TAMPERED).hexdigest()}]}
    doc = scan_path(_acquisition(tmp_path / "acq", [record], {"apks/com.example.clean.apk": TAMPERED}))
    assert [a["identity"]["origin"] for a in doc["apps"]] == ["apk"]
    assert any("whose APK was scanned" in s["reason"] for s in doc["skipped"])
