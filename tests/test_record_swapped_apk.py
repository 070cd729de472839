"""A device record that names TikTok's certificate is never retired by an APK that contradicts
it, nor by one that merely carries that certificate (review 60 F2, F2b).

F2: an adb backup ``_manifest`` recording ``com.example.renamed`` as signed by TikTok's real
certificate is ``prohibited`` alone; any APK of that package signed by another key (beside the
record, under another app's data, or as a split set) made the record "listed once, as the
APK", so the only app left was ``allowed``. The contradiction is a tamper fact; the record stays
listed as its own app, decided on its recorded certificates. AndroidQF ``packages.json`` the same.
F2b: under ``--quick`` nothing verifies, and an APK with TikTok's certificate pasted over its own
(present, not verified) retired the record: prohibited became review, exit 0.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from backup_helpers import build_ab, manifest
from cli_helpers import FIXTURES, generate_module, issue_codes
from conftest import fixture_tools

from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

PACKAGE = "com.example.renamed"
MANIFEST = f"apps/{PACKAGE}/_manifest"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """TikTok's real certificate (DER), and ``apk(key, split=None)``: signed APKs of PACKAGE (cached)."""
    generate = generate_module()
    if not generate.VENDOR_JSON.is_file():  # TikTok's real certificate comes from the shared reference
        pytest.skip("../shared/reference absent")
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    import axml_writer as ax

    work, cache = tmp_path_factory.mktemp("sign"), {}

    def apk(key: str, split: str | None = None) -> bytes:
        if (key, split) not in cache:
            attrs = [ax.Attr("package", PACKAGE, android=False)]
            attrs += [ax.Attr("split", split, android=False)] if split else []
            unsigned = generate.build_unsigned(generate.App(PACKAGE, "Renamed", package_attrs=attrs))
            cache[key, split] = generate.sign(unsigned, work, [key], v1=True, v2=True, v3=True, min_sdk=21)
        return cache[key, split]
    return generate.vendor_der("BYTEDANCE_MUSICALLY"), generate, apk


def _scan(rules, policy, tmp_path, path: Path, **identify) -> dict:
    source = FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))
    return scan([source], rules, policy, identify_options=identify or None).to_dict()


def _apps(doc: dict) -> list[tuple[str, str, str]]:
    return sorted((a["identity"]["origin"], a["package"], a["verdict"]) for a in doc["apps"])


def _ab(tmp_path: Path, members: list[tuple[str, bytes]]) -> Path:
    path = tmp_path / "phone.ab"
    path.write_bytes(build_ab(members, compress=True))
    return path


def test_the_record_alone_is_prohibited(rules, policy, tmp_path, built):
    tiktok, _, _ = built
    doc = _scan(rules, policy, tmp_path, _ab(tmp_path, [(MANIFEST, manifest(PACKAGE, 1, [tiktok], False))]))
    assert _apps(doc) == [("recorded", PACKAGE, "prohibited")]


@pytest.mark.parametrize("where", [f"apps/{PACKAGE}/a/base.apk", "apps/com.other/f/x.bin"],
                         ids=["beside-the-record", "under-another-apps-data"])
def test_a_swapped_apk_does_not_remove_the_record(rules, policy, tmp_path, built, where):
    tiktok, _, apk = built
    doc = _scan(rules, policy, tmp_path, _ab(tmp_path, [(MANIFEST, manifest(PACKAGE, 1, [tiktok], where.endswith(".apk"))),
                                                        (where, apk("test-rsa"))]))
    assert _apps(doc) == [("apk", PACKAGE, "allowed"), ("recorded", PACKAGE, "prohibited")]
    [record] = [a for a in doc["apps"] if a["identity"]["origin"] == "recorded"]
    assert {f["evidence"][0]["basis"] for f in record["findings"]} == {"certificate-recorded"}
    assert issue_codes(doc) == ["BACKUP_RECORD_SIGNER_MISMATCH"]
    [err] = doc["errors"]
    assert err["source"]["chain"][-1] == MANIFEST and err["partial"] is True
    assert doc["counts"]["total"] == 2 and doc["counts"]["prohibited"] == 1  # the record: one input, app and error
    assert not any("listed once" in s["reason"] for s in doc["skipped"])


def test_a_swapped_split_set_does_not_remove_the_record(rules, policy, tmp_path, built):
    tiktok, _, apk = built
    doc = _scan(rules, policy, tmp_path, _ab(tmp_path, [(MANIFEST, manifest(PACKAGE, 1, [tiktok], True)),
                                                        (f"apps/{PACKAGE}/a/base.apk", apk("test-rsa")),
                                                        (f"apps/{PACKAGE}/a/split_config.en.apk",
                                                         apk("test-rsa", "config.en"))]))
    assert _apps(doc) == [("apk", PACKAGE, "allowed"), ("recorded", PACKAGE, "prohibited")]
    [bundle] = [a for a in doc["apps"] if a["identity"]["origin"] == "apk"]
    assert [s["split"] for s in bundle["splits"]] == ["config.en"]
    assert set(issue_codes(doc)) == {"BACKUP_RECORD_SIGNER_MISMATCH"}


def test_a_record_that_agrees_is_still_listed_once_as_the_apk(rules, policy, tmp_path, built):
    _, generate, apk = built
    doc = _scan(rules, policy, tmp_path, _ab(tmp_path, [
        (MANIFEST, manifest(PACKAGE, 1, [generate.cert_der("test-rsa")], True)),
        (f"apps/{PACKAGE}/a/base.apk", apk("test-rsa"))]))
    assert _apps(doc) == [("apk", PACKAGE, "allowed")] and doc["errors"] == []
    assert any("listed once" in s["reason"] for s in doc["skipped"])


def _acquisition(root: Path, data: bytes, cert_sha256: str) -> Path:
    (root / "apks").mkdir(parents=True)
    (root / "acquisition.json").write_text(json.dumps({"uuid": "u60", "androidqf_version": "1.7.0"}))
    (root / "packages.json").write_text(json.dumps([{"name": PACKAGE, "files": [
        {"path": "/data/app/x/base.apk", "sha256": hashlib.sha256(data).hexdigest(),
         "certificate": {"Sha256": cert_sha256}}]}]))
    (root / "apks" / f"{PACKAGE}.apk").write_bytes(data)
    return root


def test_an_androidqf_record_naming_the_apks_hash_but_tiktoks_key_stays_listed(rules, policy, tmp_path, built):
    tiktok, _, apk = built
    doc = _scan(rules, policy, tmp_path, _acquisition(tmp_path / "acq", apk("test-rsa"),
                                                      hashlib.sha256(tiktok).hexdigest()))
    assert _apps(doc) == [("apk", PACKAGE, "allowed"), ("recorded", PACKAGE, "prohibited")]
    assert issue_codes(doc) == ["BACKUP_RECORD_SIGNER_MISMATCH"]


# --- F2b: --quick verifies nothing; a certificate present never retires a record


@pytest.fixture(scope="module")
def forged(built) -> bytes:
    """PACKAGE signed by ``impostor`` with TikTok's certificate pasted over its own (v1, v2, v3)."""
    tiktok, generate, apk = built
    return fixture_tools().forge_certificate(apk("impostor"), generate.cert_der("impostor"), tiktok)


def test_quick_a_pasted_certificate_does_not_retire_the_record(rules, policy, tmp_path, built, forged):
    tiktok, _, _ = built
    path = _ab(tmp_path, [(MANIFEST, manifest(PACKAGE, 1, [tiktok], True)), (f"apps/{PACKAGE}/a/base.apk", forged)])
    for identify in ({}, {"quick": True}):
        doc = _scan(rules, policy, tmp_path, path, **identify)
        assert _apps(doc) == [("apk", PACKAGE, "review"), ("recorded", PACKAGE, "prohibited")], identify
        assert doc["skipped"] == [] and doc["errors"] == []


def test_quick_a_record_with_its_own_apk_is_listed_beside_it(rules, policy, tmp_path, built):
    """Genuine or not cannot be told under --quick: the device's record stays, strong, beside the APK."""
    _, generate, apk = built
    path = _ab(tmp_path, [(MANIFEST, manifest(PACKAGE, 1, [generate.cert_der("test-rsa")], True)),
                          (f"apps/{PACKAGE}/a/base.apk", apk("test-rsa"))])
    doc = _scan(rules, policy, tmp_path, path, quick=True)
    assert _apps(doc) == [("apk", PACKAGE, "allowed"), ("recorded", PACKAGE, "allowed")] and doc["errors"] == []


def test_quick_a_record_naming_no_certificate_is_still_tied_by_package(rules, policy, tmp_path, built):
    _, _, apk = built
    path = _ab(tmp_path, [(MANIFEST, manifest(PACKAGE, 1, [], True)), (f"apps/{PACKAGE}/a/base.apk", apk("test-rsa"))])
    doc = _scan(rules, policy, tmp_path, path, quick=True)
    assert _apps(doc) == [("apk", PACKAGE, "allowed")]
    assert any("tied by package" in s["reason"] for s in doc["skipped"])
