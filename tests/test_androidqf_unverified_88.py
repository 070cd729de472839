"""Review 88 F2: an AndroidQF record whose certificate AndroidQF could not verify was a recorded signer.

AndroidQF (mvt-project/androidqf modules/packages.go) writes the certificate apkverifier could
read with ``verified_certificate: false`` and ``certificate_error`` when the APK's signature did
not verify. apkscan read every recorded certificate as a device-recorded signer
(``certificate-recorded``, strong): a certificate pasted into an APK on the device made TikTok
``prohibited`` as if signed by ByteDance. Now such a certificate is merely present
(``certificate-present``, weak, saying why), never dropped; ``true`` and an absent field (older
AndroidQF) keep the recorded signer. The inputs: AndroidQF folders whose ``packages.json`` is
built here from TikTok's key DER in the reference, in AndroidQF's own form.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import test_match_strength
from backup_helpers import androidqf_records
from test_match_strength import _scan

gen = test_match_strength.gen  # the APK builder with the test keys in tmp_path (a fixture)

HOC, TBS = "canada-house-of-commons-2023", "canada-tbs-2023"
TIKTOK = "com.zhiliaoapp.musically"
ERROR = "ZIP: v2 signature: digest mismatch"
MISSING = object()


def _acquisition(root: Path, der: bytes, verified: object, package: str = TIKTOK) -> Path:
    """An AndroidQF folder (no APKs pulled) recording ``der`` for ``package``; ``verified`` is the
    file's ``verified_certificate`` (MISSING: the field left out, as older AndroidQF wrote)."""
    return androidqf_records(root, der, [package], verified=None if verified is MISSING else verified,
                             error=ERROR if verified is False else "")


def _key_evidence(app: dict) -> list[dict]:
    return [e for f in app["findings"] if f["kind"] == "app" for e in f["evidence"]
            if e["basis"].startswith("certificate")]


def _verdicts(app: dict) -> dict[str, tuple[str, str]]:
    return {p: (v["verdict"], v["decision"]) for p, v in app["verdicts"].items()}


def _one(gen, tmp_path: Path, verified: object, package: str) -> dict:
    der = gen.vendor_der("BYTEDANCE_MUSICALLY")
    _, doc = _scan(tmp_path, _acquisition(tmp_path / "qf", der, verified, package), "--policy", HOC, "--policy", TBS)
    (app,) = doc["apps"]
    assert app["identity"]["origin"] == "recorded"
    return app


@pytest.mark.parametrize("verified", [True, MISSING], ids=["verified", "field-absent"])
def test_a_verified_or_unsaid_certificate_stays_a_recorded_signer(gen, tmp_path, verified):
    """TikTok's key recorded for a package no rule names: the device's word that ByteDance signed
    it makes it TikTok (strong), prohibited by both policies, as before."""
    app = _one(gen, tmp_path, verified, "com.example.clips")
    der = gen.vendor_der("BYTEDANCE_MUSICALLY")
    assert [c["sha256"] for c in app["identity"]["recorded_certificates"]] == [hashlib.sha256(der).hexdigest()]
    assert "recorded_unverified" not in app["identity"]
    assert [(f["rule"], f["strength"]) for f in app["findings"]] == [("bytedance.tiktok", "strong")]
    assert {e["basis"] for e in _key_evidence(app)} == {"certificate-recorded"}
    assert _verdicts(app) == {HOC: ("prohibited", "hoc-2023-tiktok"), TBS: ("prohibited", "tbs-2023-02-tiktok")}


def test_a_certificate_androidqf_could_not_verify_is_only_present(gen, tmp_path):
    """The same record with ``verified_certificate: false``: the key is kept as present evidence
    (weak, saying why), so the app is reviewed, not prohibited as TikTok on the device's word.
    Before: certificate-recorded, strong, prohibited under both policies."""
    app = _one(gen, tmp_path, False, "com.example.clips")
    assert _verdicts(app) == {HOC: ("review", "hoc-2023-tiktok-claim"), TBS: ("review", "vendor-app-review")}
    ident = app["identity"]
    assert ident["recorded_certificates"] == []
    (kept,) = ident["recorded_unverified"]
    assert kept["sha256"] == hashlib.sha256(gen.vendor_der("BYTEDANCE_MUSICALLY")).hexdigest()
    assert kept["why"] == f"AndroidQF could not verify it ({ERROR})"
    assert [(f["rule"], f["strength"]) for f in app["findings"]] == [("bytedance.tiktok", "weak")]
    keys = _key_evidence(app)
    assert keys and {e["basis"] for e in keys} == {"certificate-present"}  # kept, never dropped
    assert {e["location"] for e in keys} == {
        f"recorded by AndroidQF packages.json; not verified: AndroidQF could not verify it ({ERROR})"}


def test_tiktok_by_its_package_keeps_its_verdict_with_the_key_only_present(gen, tmp_path):
    """On TikTok's own package the package decides the verdict (prohibited, as before); the key
    AndroidQF could not verify is present evidence, not a recorded signer, and no forged claim:
    apkscan read no signature."""
    app = _one(gen, tmp_path, False, TIKTOK)
    (tiktok,) = [f for f in app["findings"] if f["rule"] == "bytedance.tiktok"]
    assert tiktok["strength"] == "weak"
    assert {e["basis"] for e in _key_evidence(app)} == {"certificate-present"}
    assert "forged-certificate" not in [f["kind"] for f in app["findings"]]
    assert _verdicts(app) == {HOC: ("prohibited", "hoc-2023-tiktok"), TBS: ("prohibited", "tbs-2023-02-tiktok")}


def test_one_file_verified_under_the_key_keeps_the_recorded_signer(gen, tmp_path):
    """A package with two files under the key, one AndroidQF verified and one it could not: the
    verified one says the device's signer (strong), whichever comes first."""
    root = _acquisition(tmp_path / "qf", gen.vendor_der("BYTEDANCE_MUSICALLY"), False, "com.example.clips")
    path = root / "acq" / "packages.json"
    records = json.loads(path.read_text())
    good = dict(records[0]["files"][0], verified_certificate=True, certificate_error="",
                path="/data/app/~~AAAA==/com.example.clips-BBBB==/split_config.arm64_v8a.apk")
    records[0]["files"].append(good)
    path.write_text(json.dumps(records))
    _, doc = _scan(tmp_path, root, "--policy", HOC)
    (app,) = doc["apps"]
    assert "recorded_unverified" not in app["identity"]
    assert [(f["rule"], f["strength"]) for f in app["findings"]] == [("bytedance.tiktok", "strong")]
