"""Matcher: every matcher and every strength, on real certificates.

Vendor certificates are the real DER from ../shared/reference/vendor-identities.json;
other signers are the fixture test keys' certificates (fixtures/keys/*.pem). Identities
are shaped like the apk layer's (verified signers apart from merely present ones).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from apkscan.apk.crypto.certificates import certificate_from_der
from apkscan.rules.loader import lint_file, load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.model import RuleSet
from apkscan.rules.selftest import build_identity

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
KEYS = REPO / "fixtures" / "keys"


def _pem_cert(name: str):
    path = KEYS / f"{name}.pem"
    if not path.exists():
        pytest.skip(f"fixture key {path} not generated")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return certificate_from_der(cert.public_bytes(Encoding.DER))


def _vendor_cert(cert_id: str):
    ref = SHARED / "reference" / "vendor-identities.json"
    if not ref.exists():
        pytest.skip("../shared/reference absent")
    return certificate_from_der(bytes.fromhex(json.loads(ref.read_text())["certificates"][cert_id]["der_hex"]))


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_ruleset()


def _kinds(findings):
    return {(f.rule, f.kind, f.strength) for f in findings}


def test_vendor_cert_digests_match_reference():
    wechat = _vendor_cert("TENCENT_WECHAT")
    assert wechat.sha256 == "0fe4ff85c215918396dadc7cd8ce6963339af33d37751a56e54c7206b63a3c7c"
    assert wechat.md5 == "18c867f0717aa67b2ab7347505ba07ed"


def test_confirmed_when_vendor_cert_is_verified_signer(rules):
    wechat = _vendor_cert("TENCENT_WECHAT")
    findings = match_identity(build_identity("com.tencent.mm", "WeChat", signers=[wechat]), rules)
    assert ("tencent.wechat", "app", "confirmed") in _kinds(findings)
    assert not any(f.kind in ("impersonation", "forged-certificate") for f in findings)
    ev = next(f for f in findings if f.rule == "tencent.wechat").evidence
    fields = {(e.field, e.basis, e.verified) for e in ev}
    assert ("signer.sha256", "certificate", True) in fields
    assert ("package", "package", None) in fields and ("label", "label", None) in fields


def test_vendor_cert_alone_identifies_app_even_renamed(rules):
    tiktok = _vendor_cert("BYTEDANCE_MUSICALLY")
    findings = match_identity(build_identity("com.renamed.app", "Video", signers=[tiktok]), rules)
    assert ("bytedance.tiktok", "app", "confirmed") in _kinds(findings)


def test_shared_key_alone_gives_vendor_finding_not_an_app(rules):
    microcao = _vendor_cert("BYTEDANCE_MICROCAO")  # signs Douyin, trill, Toutiao, Xigua ...
    findings = match_identity(build_identity("com.renamed.app", signers=[microcao]), rules)
    assert _kinds(findings) == {("bytedance.vendor", "app", "confirmed")}
    trill = match_identity(build_identity("com.ss.android.ugc.trill", signers=[microcao]), rules)
    assert ("bytedance.tiktok-trill", "app", "confirmed") in _kinds(trill)


def test_copied_publisher_subject_does_not_suppress_impersonation(rules):
    tencent_like = _pem_cert("tencent-like")  # Tencent's subject, a test key
    findings = match_identity(build_identity("com.tencent.mm", "WeChat", signers=[tencent_like]), rules)
    # keys over names: a copied subject on a key WeChat never used is impersonation
    assert ("tencent.wechat", "impersonation", "strong") in _kinds(findings)
    assert ("tencent.wechat", "app", "weak") in _kinds(findings)
    ev = next(f for f in findings if f.rule == "tencent.wechat" and f.kind == "app").evidence
    subj = next(e for e in ev if e.field == "signer.subject.O")
    assert subj.value.startswith("Tencent Technology") and "claim" in subj.location
    assert subj.basis == "subject-present" and subj.verified is False  # no policy reads it as proof


def test_impersonation_when_vendor_package_has_unrelated_signer(rules):
    impostor = _pem_cert("impostor")
    findings = match_identity(build_identity("com.tencent.mm", "WeChat", signers=[impostor]), rules)
    kinds = _kinds(findings)
    assert ("tencent.wechat", "app", "weak") in kinds
    assert ("tencent.wechat", "impersonation", "strong") in kinds
    imp = next(f for f in findings if f.kind == "impersonation")
    assert any(e.value == impostor.sha256 for e in imp.evidence)


def test_no_impersonation_without_known_certs(rules):
    # No Kaspersky certificate is known, so an unknown signer cannot be called an impostor.
    findings = match_identity(build_identity("com.kms.free", signers=[_pem_cert("impostor")]), rules)
    assert _kinds(findings) == {("kaspersky.kms-free", "app", "weak")}


def test_forged_when_vendor_cert_present_but_not_verified(rules):
    wechat, impostor = _vendor_cert("TENCENT_WECHAT"), _pem_cert("impostor")
    identity = build_identity("com.tencent.mm", "WeChat", signers=[wechat, impostor], verified=False)
    findings = match_identity(identity, rules)
    assert all(f.strength != "confirmed" for f in findings)
    assert ("tencent.forged-certificate", "forged-certificate", "weak") in _kinds(findings)
    assert ("tencent.wechat", "app", "weak") in _kinds(findings)
    forged = next(f for f in findings if f.kind == "forged-certificate")
    assert all(e.verified is False and e.basis == "certificate-present" for e in forged.evidence)


def test_planted_on_other_package_never_identifies_the_app(rules):
    wechat = _vendor_cert("TENCENT_WECHAT")
    identity = build_identity("com.example.clean", present=[wechat], signers=[_pem_cert("test-rsa")])
    findings = match_identity(identity, rules)
    assert {(f.kind, f.strength) for f in findings} == {("planted-certificate", "weak")}
    assert "signs nothing" in findings[0].message
    assert "that signature verified" in findings[0].evidence[0].location


def test_kaspersky_subject_on_unrelated_package_is_strong(rules):
    kl = _pem_cert("kaspersky-like")
    findings = match_identity(build_identity("com.example.notes", "Secure Notes", signers=[kl]), rules)
    assert _kinds(findings) == {("kaspersky.vendor", "app", "strong")}


def test_subject_of_unverified_signer_is_only_weak(rules):
    kl = _pem_cert("kaspersky-like")
    identity = build_identity("com.example.notes", signers=[kl], verified=False)
    findings = match_identity(identity, rules)
    assert _kinds(findings) == {("kaspersky.vendor", "app", "weak")}
    assert {e.basis for e in findings[0].evidence} == {"subject-present"}


def test_bytedance_subject_on_tiktok_package(rules):
    bd = _pem_cert("bytedance-like")
    findings = match_identity(build_identity("com.zhiliaoapp.musically", "TikTok", signers=[bd]), rules)
    # the subject copies musical.ly's, the key is not TikTok's: impersonation, not strong app
    assert ("bytedance.tiktok", "impersonation", "strong") in _kinds(findings)
    assert ("bytedance.tiktok", "app", "weak") in _kinds(findings)


def test_clean_app_has_no_finding(rules):
    clean = _pem_cert("test-rsa")
    assert match_identity(build_identity("com.example.clean", "Clean Notes", signers=[clean]), rules) == []


def _pack(tmp_path: Path, body: str) -> RuleSet:
    f = tmp_path / "test.yaml"
    f.write_text(body)
    pack, errors = lint_file(f)
    assert not errors, [e.message for e in errors]
    return RuleSet([pack])


LINEAGE_RULE = """
schema: apkscan-rules/1
pack: test
vendor: Example
version: "1"
reviewed: "2026-01-01"
certificates:
  - {id: LISTED_OLD, sha256: "%s", references: [test]}
rules:
  - id: test.rotated
    app: Rotated
    match: {certificates: [LISTED_OLD]}
    references: [test]
"""


def test_lineage_old_listed_cert_confirms(tmp_path):
    old, new = _pem_cert("listed-old"), _pem_cert("unlisted-new")
    rules = _pack(tmp_path, LINEAGE_RULE % old.sha256)
    identity = build_identity("com.example.rotated", signers=[new], lineage=[(old, True), (new, True)])
    findings = match_identity(identity, rules)
    assert _kinds(findings) == {("test.rotated", "app", "confirmed")}
    assert findings[0].evidence[0].field == "lineage[0].sha256"
    # The same lineage in an APK that does not verify proves nothing.
    bad = build_identity("com.example.rotated", signers=[new], lineage=[(old, True)], verified=False)
    assert {f.strength for f in match_identity(bad, rules)} == {"weak"}
    # A lineage node whose chain did not verify is only present.
    unverified_node = build_identity("com.example.rotated", signers=[new], lineage=[(old, False)])
    assert ("test.forged-certificate", "forged-certificate", "weak") in _kinds(match_identity(unverified_node, rules))


MATCHERS = """
schema: apkscan-rules/1
pack: m
vendor: Example
version: "1"
reviewed: "2026-01-01"
certificates:
  - {id: LOW, md5: "%s", confidence: low, references: [test]}
rules:
  - id: m.glob
    app: Glob
    match: {package_glob: ["com.example.*.pro"]}
    references: [test]
  - id: m.regex
    app: Regex
    match: {package_regex: ["^org\\\\.sample\\\\.(a|b)$"]}
    references: [test]
  - id: m.label
    app: Label
    match: {label: ["(?i)^secure notes$"]}
    references: [test]
  - id: m.issuer
    app: Issuer
    match: {issuer: [{O: "^Kaspersky Lab ZAO$", C: "^RU$"}]}
    references: [test]
  - id: m.low
    app: Low confidence
    match: {certificates: [LOW]}
    references: [test]
  - id: m.stamp
    app: Stamp
    match: {source_stamp: [{sha256: "%s"}]}
    references: [test]
  - id: m.sdk
    app: Some SDK
    kind: sdk
    match: {dex_prefix: ["com.kaspersky.components."], dex_exclude: ["com.kaspersky.components.kautomator."]}
    references: [test]
"""


def test_each_matcher(tmp_path):
    kl, rsa, ec = _pem_cert("kaspersky-like"), _pem_cert("test-rsa"), _pem_cert("test-ec")
    rules = _pack(tmp_path, MATCHERS % (rsa.md5, ec.sha256))
    k = lambda ident, classes=None: _kinds(match_identity(ident, rules, classes))
    assert k(build_identity("com.example.x.pro")) == {("m.glob", "app", "weak")}
    assert k(build_identity("org.sample.b")) == {("m.regex", "app", "weak")}
    assert k(build_identity("org.sample.bc")) == set()
    assert k(build_identity("p", "Secure Notes")) == {("m.label", "app", "weak")}
    # self-signed; this pack lists keys and kl is none of them: the issuer name is a claim (review 27 F3)
    assert ("m.issuer", "app", "weak") in k(build_identity("p", signers=[kl]))
    assert k(build_identity("p", signers=[rsa])) == {("m.low", "app", "strong")}  # low confidence caps
    assert k(build_identity("p", stamp=(ec, True), verified=True)) == {("m.stamp", "app", "strong")}
    # a verified stamp on an APK that does not verify vouches for nothing
    assert k(build_identity("p", stamp=(ec, True), verified=False)) == {("m.stamp", "app", "weak")}
    assert k(build_identity("p", stamp=(ec, False))) == {("m.stamp", "app", "weak")}
    assert k(build_identity("p"), ["com.kaspersky.components.accessibility.A"]) == {("m.sdk", "sdk", "weak")}
    assert k(build_identity("p"), ["com.kaspersky.components.kautomator.K"]) == set()
    assert k(build_identity("p")) == set()  # SDK rules need --deep (class names)


def test_kaspresso_test_library_is_not_kaspersky(rules):
    classes = ["com.kaspersky.kaspresso.Kaspresso", "com.kaspersky.components.kautomator.KautomatorConfigurator",
               "com.kaspersky.components.alluresupport.AllureSupport"]
    findings = match_identity(build_identity("com.example.app"), rules, classes)
    assert findings == []
    real = match_identity(build_identity("com.example.app"), rules,
                          ["com.kaspersky.components.accessibility.KasperskyAccessibility"])
    assert _kinds(real) == {("kaspersky.sdk.components", "sdk", "weak")}


def test_finding_to_dict_shape(rules):
    wechat = _vendor_cert("TENCENT_WECHAT")
    f = match_identity(build_identity("com.tencent.mm", signers=[wechat]), rules)[0].to_dict()
    assert {"rule", "vendor", "app", "strength", "kind", "evidence"} <= set(f)
    assert all("field" in e and "value" in e for e in f["evidence"])
    assert re.fullmatch(r"[0-9a-f]{64}", next(e["value"] for e in f["evidence"] if e["field"] == "signer.sha256"))


def _self_signed(organisation: str):
    """A throw-away self-signed certificate whose subject carries ``organisation``."""
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Android"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return certificate_from_der(cert.public_bytes(Encoding.DER))


@pytest.mark.parametrize("organisation", ["Friends of Tencent Company", "Fans of Tencent Company"])
def test_a_name_ending_like_qzones_is_no_tencent_publisher(rules, organisation):
    """Review 28 F10: the QZone key's O= was matched by its last words, so any
    "... of Tencent Company" was a Tencent publisher; it is matched whole now."""
    signer = _self_signed(organisation)
    assert match_identity(build_identity("com.example.club", "Club", signers=[signer]), rules) == []


def test_qzones_own_organisation_is_still_a_tencent_publisher(rules):
    findings = match_identity(build_identity("com.example.club", "Club", signers=[_self_signed("QZone Team of Tencent Company")]), rules)
    assert {f.rule for f in findings} == {"tencent.vendor"}
