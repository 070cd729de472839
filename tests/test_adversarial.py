"""Adversarial corpus (fixtures/adversarial/, issue 9): every trick has a stated outcome.

Each APK was built by ``python fixtures/generate.py adversarial`` to steer detection one
way or the other; expected.json states the package Android installs (as ``aapt dump
badging`` reads it), the verdict under the shipped canada-tbs-2023 policy, the findings that
must appear and kinds that must not. ``aapt`` is also run on every fixture APK and must agree
with apkscan's package (skipped when Debian's aapt is not installed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apkscan.policy.loader import load_policy
from apkscan.rules.loader import lint_file, load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.model import RuleSet
from apkscan.scan import evaluate

REPO = Path(__file__).resolve().parents[1]
ADV = REPO / "fixtures" / "adversarial"
CASES = json.loads((ADV / "expected.json").read_text())["cases"]
ALL_FIXTURES = (sorted((REPO / "fixtures" / "apks").glob("*.apk")) + sorted(ADV.glob("*.apk"))
                + sorted((REPO / "fixtures" / "hostile" / "cases").glob("*.apk")))


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_ruleset()


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_adversarial_case(case, rules, policy):
    ident = identify(ADV / case["file"])
    assert ident.verified == case["expect_verified"]
    assert (ident.manifest.package or "") == case["package"]
    app = evaluate(ident, rules, policy, source=case["file"])
    got = {(f.rule, f.kind) for f in app.findings}
    assert {tuple(f) for f in case["findings"]} <= got, got
    assert not {f.kind for f in app.findings} & set(case["absent_kinds"]), got
    assert app.verdict == case["verdict"], [(f.rule, f.kind, f.strength, f.verdict) for f in app.findings]


def _one(name: str, rules: RuleSet):
    ident = identify(ADV / name)
    return ident, match_identity(ident, rules)


def test_raw_package_wins_and_the_decoy_is_named(rules):
    ident, findings = _one("raw-typed-wechat.apk", rules)
    codes = {i.code: i.message for i in ident.tamper}
    assert "com.example.notes" in codes["TAMPER_MANIFEST_AMBIGUOUS_PACKAGE"]
    assert "com.tencent.mm" in codes["TAMPER_MANIFEST_AMBIGUOUS_PACKAGE"]
    readings = {(r.how, r.value) for r in ident.manifest.package_readings}
    assert readings == {("framework", "com.tencent.mm"),
                        ("first chunk, typed value", "com.example.notes")}
    app = next(f for f in findings if f.kind == "app" and f.rule == "tencent.wechat")
    assert any(e.field == "package" and e.basis == "package" for e in app.evidence)


def test_reverse_trick_matches_only_as_another_reading(rules):
    _, findings = _one("raw-typed-reverse.apk", rules)
    app = next(f for f in findings if f.rule == "tencent.wechat")
    assert {e.basis for e in app.evidence} == {"package-reading"}
    assert app.evidence[0].field == "package (first chunk, typed value)" and app.strength == "weak"


def test_first_chunk_decoy_keeps_apksig_min_sdk(rules):
    ident, _ = _one("first-chunk-decoy.apk", rules)
    assert ident.manifest.package == "com.tencent.mm" and ident.manifest.label == "WeChat"
    assert ("first RES_XML chunk (apksig)", "com.example.notes") in {
        (r.how, r.value) for r in ident.manifest.package_readings}
    assert ident.manifest.min_sdk == 21


def test_counterfeit_names_what_was_copied(rules):
    _, findings = _one("wechat-counterfeit-subject.apk", rules)
    fake = next(f for f in findings if f.kind == "counterfeit-certificate")
    assert fake.evidence[0].matched == "TENCENT_WECHAT"
    assert "serial" in fake.evidence[0].location and "validity" in fake.evidence[0].location
    # the copied subject sits on a verified signer, yet it is a claim: no policy selecting on
    # basis `subject` may read it as the vendor's publisher identity
    assert fake.bases == {"subject-present"} and fake.evidence[0].verified is True
    app = next(f for f in findings if f.kind == "app")
    assert app.strength == "weak"  # the copied subject is a claim, not an identity
    _, other = _one("counterfeit-cert-other-app.apk", rules)
    assert {(f.kind, f.strength) for f in other} == {("counterfeit-certificate", "strong"),
                                                     ("app", "weak")}


def test_same_subject_with_other_serial_and_dates_is_not_counterfeit(rules):
    """A vendor may hold several keys under one subject: only copied serial/dates prove a fake."""
    findings = match_identity(identify(REPO / "fixtures" / "apks" / "wechat-tencent-subject.apk"), rules)
    assert not any(f.kind == "counterfeit-certificate" for f in findings)
    assert any(f.kind == "impersonation" for f in findings)


def test_planted_certificate_message_says_the_signature_verified(rules):
    ident, findings = _one("wechat-cert-planted.apk", rules)
    assert ident.verified
    (planted,) = [f for f in findings if f.kind == "planted-certificate"]
    assert "does not verify" not in planted.message and "signs nothing" in planted.message
    loc = planted.evidence[0].location
    assert "extra certificate" in loc and "PKCS#7" in loc and "that signature verified" in loc


def test_kaspersky_unverified_signer_is_weak_with_location(rules):
    _, findings = _one("kaspersky-signer-unverified.apk", rules)
    (f,) = [f for f in findings if f.rule == "kaspersky.vendor"]
    assert f.strength == "weak" and {e.basis for e in f.evidence} == {"subject-present"}
    # v1 itself verified; apksig rejects the APK (targetSdk 33 needs v2+): the message says so
    assert f.evidence[0].location.endswith("(that signature verified, but the APK does not "
                                           "verify for its SDK range)")


def test_label_evidence_shows_raw_normalised_and_locale(rules):
    _, findings = _one("wechat-zero-width-label.apk", rules)
    ev = next(e for f in findings for e in f.evidence if e.basis == "label")
    assert ev.value == "WeChat\u200b" and ev.normalised == "wechat" and ev.locale == ""
    assert ev.to_dict()["locale"] == ""  # the default locale is named, not dropped
    _, findings = _one("wechat-confusable-label.apk", rules)
    ev = next(e for f in findings for e in f.evidence if e.basis == "label")
    assert ev.value == "W\u0435Chat" and ev.normalised == "wechat"


STAMP_RULE = """
schema: apkscan-rules/1
pack: stamp
vendor: Example
version: "1"
reviewed: "2026-01-01"
rules:
  - id: stamp.app
    app: Stamped
    match: {source_stamp: [{sha256: "%s"}]}
    references: [test]
"""


def test_stamp_over_failed_schemes_does_not_strengthen(tmp_path):
    index = json.loads((REPO / "fixtures" / "apks" / "index.json").read_text())
    f = tmp_path / "stamp.yaml"
    f.write_text(STAMP_RULE % index["keys"]["test-rsa-old"]["cert_sha256"])
    pack, errors = lint_file(f)
    assert not errors
    ident = identify(ADV / "stamp-over-failed-scheme.apk")
    assert ident.verification.source_stamp is not None and not ident.verified
    (finding,) = match_identity(ident, RuleSet([pack]))
    assert finding.strength == "weak" and finding.evidence[0].verified is False


def test_stix_indicators_stand_alone(tmp_path, rules):
    """MVT semantics: a package indicator is a hit on its own, never an impersonation claim."""
    wechat_sha256 = "0fe4ff85c215918396dadc7cd8ce6963339af33d37751a56e54c7206b63a3c7c"
    bundle = {"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "malware", "id": "malware--1", "name": "WeChat"},
        {"type": "indicator", "id": "indicator--1", "pattern": "[app:id = 'com.tencent.mm']"},
        {"type": "indicator", "id": "indicator--2", "pattern": f"[app:cert.sha256 = '{wechat_sha256}']"},
        {"type": "relationship", "id": "r1", "relationship_type": "indicates",
         "source_ref": "indicator--1", "target_ref": "malware--1"},
        {"type": "relationship", "id": "r2", "relationship_type": "indicates",
         "source_ref": "indicator--2", "target_ref": "malware--1"}]}
    path = tmp_path / "wechat.stix2"
    path.write_text(json.dumps(bundle))
    iocs = load_ruleset(builtin=False, iocs=[path])
    findings = match_identity(identify(ADV / "raw-typed-wechat.apk"), iocs)
    kinds = {(f.rule, f.kind) for f in findings}
    assert ("ioc.wechat.wechat", "app") in kinds
    assert not any(f.kind == "impersonation" for f in findings)
    # the certificate indicator alone is a hit too
    genuine = match_identity(identify(REPO / "fixtures" / "apks" / "wechat-forged-cert.apk"), iocs)
    assert any(f.rule == "ioc.wechat.wechat" for f in genuine)


def _aapt_package(path: Path) -> str | None:
    proc = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True,
                          text=True, check=False, timeout=60)
    m = re.search(r"^package: name='([^']*)'", proc.stdout, re.MULTILINE)
    return m.group(1) if m else None


@pytest.mark.skipif(shutil.which("aapt") is None, reason="aapt (Debian package) not installed")
@pytest.mark.parametrize("path", ALL_FIXTURES, ids=[p.name for p in ALL_FIXTURES])
def test_aapt_agrees_on_package(path):
    """aapt reads the manifest with the framework's ResXMLTree: first chunk, raw string."""
    want = _aapt_package(path)
    if want is None:
        pytest.skip(f"aapt reads no manifest in {path.name}")
    ident = identify(path)
    assert (ident.manifest.package or "") == want


def test_scan_document_of_the_corpus_validates(rules, policy):
    """New kinds, bases and evidence fields stay inside the report's JSON Schema."""
    jsonschema = pytest.importorskip("jsonschema")
    from apkscan.result import ScanResult

    apps = [evaluate(identify(ADV / c["file"]), rules, policy, source=c["file"]) for c in CASES]
    doc = ScanResult(apps=apps, rules=rules.meta(), policy=policy.meta()).to_dict()
    schema = json.loads((REPO / "apkscan" / "report" / "schema" / "scan-result.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    kinds = {f["kind"] for a in doc["apps"] for f in a["findings"]}
    assert {"impersonation", "planted-certificate", "counterfeit-certificate",
            "manifest-ambiguity"} <= kinds
