"""Policies: the shipped canada-tbs-2023 and vendor-watch verdicts, allow-lists, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from apkscan.apk.crypto.certificates import certificate_from_der
from apkscan.policy.decide import decide
from apkscan.policy.loader import (
    builtin_policies,
    lint_policy,
    load_policy,
    parse_allow,
)
from apkscan.rules.loader import RulesInvalid
from apkscan.rules.matcher import match_identity
from apkscan.rules.selftest import build_identity
from apkscan.rules.yamlsrc import RuleError

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"


def _pem(name):
    path = REPO / "fixtures" / "keys" / f"{name}.pem"
    if not path.exists():
        pytest.skip(f"{path} not generated")
    return certificate_from_der(x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER))


def _vendor(cert_id):
    ref = SHARED / "reference" / "vendor-identities.json"
    if not ref.exists():
        pytest.skip("../shared/reference absent")
    return certificate_from_der(bytes.fromhex(json.loads(ref.read_text())["certificates"][cert_id]["der_hex"]))


def verdict(identity, rules, policy="canada-tbs-2023", classes=None):
    pol = load_policy(policy) if isinstance(policy, str) else policy
    findings = match_identity(identity, rules, classes)
    return decide(identity, findings, pol, rules), findings


def test_shipped_policies():
    assert {"canada-tbs-2023", "vendor-watch"} <= set(builtin_policies())
    pol = load_policy()
    assert pol.name == "canada-tbs-2023"
    dates = {d.id: d.date for d in pol.decisions}
    assert dates["tbs-2023-02-tiktok"] == "2023-02-28" and dates["tbs-2023-10-wechat"] == "2023-10-30"
    assert all(d.urls for d in pol.decisions if d.verdict == "prohibited")


def test_genuine_wechat_prohibited_with_provenance(rules):
    out, findings = verdict(build_identity("com.tencent.mm", signers=[_vendor("TENCENT_WECHAT")]), rules)
    assert out.verdict == "prohibited"
    assert out.policy["decision"] == "tbs-2023-10-wechat" and out.policy["date"] == "2023-10-30"
    assert out.policy["url"].startswith("https://")
    assert findings[0].policy["authority"].startswith("Treasury Board")


def test_counterfeit_wechat_is_prohibited_and_impersonation(rules):
    out, findings = verdict(build_identity("com.tencent.mm", "WeChat", signers=[_pem("impostor")]), rules)
    assert out.verdict == "prohibited"
    imp = next(f for f in findings if f.kind == "impersonation")
    assert imp.verdict == "prohibited"


def test_forged_wechat_cert_is_review_never_confirmed(rules):
    # a pasted-in certificate proves nothing about who made the APK: review, not WeChat
    ident = build_identity("com.example.x", signers=[_vendor("TENCENT_WECHAT"), _pem("impostor")], verified=False)
    out, findings = verdict(ident, rules)
    assert out.verdict == "review"
    assert "app" not in {f.kind for f in findings} or all(
        f.strength == "weak" and "subject-present" in f.bases for f in findings if f.kind == "app")
    assert "forged-certificate" in {f.kind for f in findings}
    assert all(f.strength != "confirmed" for f in findings)


def test_wechat_cert_on_renamed_package_prohibited(rules):
    out, _ = verdict(build_identity("com.renamed", signers=[_vendor("TENCENT_WECHAT")]), rules)
    assert out.verdict == "prohibited"


def test_tiktok_by_package_and_by_cert(rules):
    assert verdict(build_identity("com.zhiliaoapp.musically"), rules)[0].verdict == "prohibited"
    out, _ = verdict(build_identity("com.other", signers=[_vendor("BYTEDANCE_MUSICALLY")]), rules)
    assert out.verdict == "prohibited" and out.policy["date"] == "2023-02-28"


def test_kaspersky_by_package_or_verified_signer(rules):
    assert verdict(build_identity("com.kaspersky.safekids"), rules)[0].verdict == "prohibited"
    kl = _pem("kaspersky-like")
    assert verdict(build_identity("com.example.notes", signers=[kl]), rules)[0].verdict == "prohibited"
    # an unverified Kaspersky-subject certificate proves nothing, but is worth a look
    unverified = build_identity("com.example.notes", signers=[kl], verified=False)
    assert verdict(unverified, rules)[0].verdict == "review"


def test_other_vendor_apps_review(rules):
    assert verdict(build_identity("com.tencent.mobileqq"), rules)[0].verdict == "review"
    assert verdict(build_identity("com.ss.android.ugc.aweme"), rules)[0].verdict == "review"
    # label only is not "presenting itself" by package or certificate: review
    assert verdict(build_identity("com.example.chat", "WeChat"), rules)[0].verdict == "review"


def test_sdk_alone_allowed_in_canada_review_in_watch(rules):
    ident = build_identity("com.example.shop")
    classes = ["com.tencent.mm.opensdk.openapi.WXAPIFactory"]
    out, findings = verdict(ident, rules, classes=classes)
    assert out.verdict == "allowed" and findings[0].kind == "sdk"
    assert verdict(ident, rules, "vendor-watch", classes)[0].verdict == "review"


def test_clean_app_allowed(rules):
    out, findings = verdict(build_identity("com.example.clean", signers=[_pem("test-rsa")]), rules)
    assert out.verdict == "allowed" and findings == [] and out.policy is None


def test_allow_list_needs_verified_certificate(rules):
    tencent_like = _pem("tencent-like")
    pol = load_policy("canada-tbs-2023", [parse_allow(f"com.tencent.mm:{tencent_like.sha256}", "lab test build")])
    ok, findings = verdict(build_identity("com.tencent.mm", signers=[tencent_like]), rules, pol)
    assert ok.verdict == "allowed" and ok.policy["decision"] == "allow-list"
    assert findings and all(f.verdict == "allowed" for f in findings)
    # same package, other key: the allow-list does not apply
    assert verdict(build_identity("com.tencent.mm", signers=[_pem("impostor")]), rules, pol)[0].verdict == "prohibited"
    # the allowed certificate only present, not verified: not allowed
    unverified = build_identity("com.tencent.mm", signers=[tencent_like], verified=False)
    assert verdict(unverified, rules, pol)[0].verdict == "prohibited"


def test_parse_allow_rejects_bad_spec():
    with pytest.raises(RuleError):
        parse_allow("com.example:notahash")


def test_bad_policy_file_line(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("schema: apkscan-policy/1\npolicy: p\nversion: '1'\ndecisions:\n"
                 "  - id: a\n    verdict: banned\n    when: any\n")
    pol, errors = lint_policy(f)
    assert pol is None and errors[0].line == 6 and "banned" in errors[0].message
    with pytest.raises(RulesInvalid):
        load_policy(str(f))
    with pytest.raises(RulesInvalid):
        load_policy("no-such-policy")


def test_user_policy_first_match_wins(tmp_path, rules):
    f = tmp_path / "mine.yaml"
    f.write_text("""schema: apkscan-policy/1
policy: mine
version: "1"
default: allowed
decisions:
  - id: qq-ok
    verdict: allowed
    when: {rules: ["tencent.mobileqq"]}
  - id: all-tencent
    verdict: prohibited
    when: {vendors: [Tencent], min_strength: weak}
""")
    pol = load_policy(str(f))
    assert verdict(build_identity("com.tencent.mobileqq"), rules, pol)[0].verdict == "allowed"
    assert verdict(build_identity("com.tencent.qqmusic"), rules, pol)[0].verdict == "prohibited"
