"""Detection an adversary cannot steer: names normalised, keys over names, device records.

Certificates are real: the vendor DERs of ../shared/reference and certificates generated
here with ``cryptography`` (subjects chosen to imitate publishers).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from apkscan.apk.crypto.certificates import certificate_from_der
from apkscan.policy.loader import load_policy
from apkscan.rules.matcher import match_identity
from apkscan.rules.normalise import normalise, publisher_key, skeleton
from apkscan.rules.selftest import build_identity
from apkscan.scan import evaluate
from apkscan.sources.interface import RecordedApp, RecordedCertificate
from apkscan.sources.records import recorded_identity

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
KEY = ec.generate_private_key(ec.SECP256R1())


def _cert(org: str, cn: str = "Signer"):
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, org)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(KEY.public_key()).serial_number(7)
            .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
            .not_valid_after(datetime.datetime(2034, 1, 1, tzinfo=datetime.UTC))
            .sign(KEY, hashes.SHA256()))
    return certificate_from_der(cert.public_bytes(Encoding.DER))


def _vendor_der(cert_id: str) -> bytes:
    ref = SHARED / "reference" / "vendor-identities.json"
    if not ref.exists():
        pytest.skip("../shared/reference absent")
    return bytes.fromhex(json.loads(ref.read_text())["certificates"][cert_id]["der_hex"])


# --- normalisation -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["WeChat\u200b", "We\u200dChat", "\ufeffWeChat", "\uff37\uff45\uff23hat",
                                 "WECHAT", "We\u00adChat", "We\u2066Chat\u2069"])
def test_invisible_and_compatibility_forms_normalise(raw):
    assert normalise(raw) == "wechat"


@pytest.mark.parametrize("raw", ["W\u0435Chat", "WeCh\u0430t", "\u0455ecure", "\u03bfk"])
def test_confusables_reach_the_ascii_skeleton(raw):
    assert skeleton(raw).isascii()
    assert skeleton(raw) in ("wechat", "secure", "ok")


def test_ascii_is_its_own_skeleton_and_chinese_is_untouched():
    assert skeleton("com.example.clean") == "com.example.clean"
    assert skeleton("微信") == "微信"


@pytest.mark.parametrize("name", ["Kaspersky Lab, Inc.", "Kaspersky Labs Limited",
                                  "AO  Kaspersky   Lab", "Kaspersky Lab ZAO", "KASPERSKY LAB",
                                  "Kaspersky Group", "АО Kaspersky Lab"])
def test_kaspersky_name_variants_are_the_vendor(name, rules):
    findings = match_identity(build_identity("com.example.notes", signers=[_cert(name)]), rules)
    assert {(f.rule, f.strength) for f in findings} == {("kaspersky.vendor", "strong")}
    ev = findings[0].evidence[0]
    assert ev.value == name and ev.normalised.startswith("kaspersky") and ev.basis == "subject"


@pytest.mark.parametrize("name", ["Kaspersky", "Kaspersky Fan Club", "Kaspersky-Free Alternatives Inc",
                                  "Kaspersky Lab Switzerland GmbH", "KASPERSKY"])
def test_names_that_only_begin_like_a_kaspersky_legal_name_are_claims(name, rules):
    """Review 27 F4: any O= starting with the word "Kaspersky" was a legal name (strong, and
    prohibited by BOD 17-01); the exception covers the listed legal names only, the rest is a claim."""
    findings = match_identity(build_identity("com.example.notes", signers=[_cert(name)]), rules)
    assert {(f.rule, f.strength) for f in findings} == {("kaspersky.vendor", "weak")}
    (ev,) = findings[0].evidence
    assert (ev.basis, ev.verified) == ("subject-present", False) and "not a listed" in ev.location


@pytest.mark.parametrize("name", ["Kasperskyy Notes Ltd", "Anti-Kaspersky Club", "Lab Inc."])
def test_names_that_only_resemble_kaspersky_do_not_match(name, rules):
    assert match_identity(build_identity("com.example.notes", signers=[_cert(name)]), rules) == []


def test_publisher_key_drops_legal_forms_only():
    assert publisher_key("Kaspersky Lab, Inc.") == "kaspersky lab"  # "Lab" is part of the name
    assert publisher_key("Tencent Technology(Shenzhen) Company Limited") == "tencent technology shenzhen"


# --- keys over names ----------------------------------------------------------------------------

def test_other_known_key_of_the_vendor_is_not_impersonation(rules):
    """QQ's key signing WeChat's package: a Tencent key, so a vendor app, not an impostor."""
    qq = certificate_from_der(_vendor_der("TENCENT_QQ"))
    findings = match_identity(build_identity("com.tencent.mm", "WeChat", signers=[qq]), rules)
    assert not any(f.kind == "impersonation" for f in findings)
    assert any(f.kind == "app" and f.strength == "confirmed" for f in findings)


def test_unknown_key_with_vendor_subject_and_no_listed_certs_is_a_strong_claim(rules):
    kl = _cert("AO Kaspersky Lab")
    findings = match_identity(build_identity("com.kaspersky.kes", signers=[kl]), rules)
    assert ("kaspersky.kes", "app", "strong") in {(f.rule, f.kind, f.strength) for f in findings}
    assert not any(f.kind == "impersonation" for f in findings)


# --- device records ------------------------------------------------------------------------------

def _recorded(package: str, *ders: bytes, digests: list[dict] | None = None):
    certs = [RecordedCertificate(der=d) for d in ders]
    certs += [RecordedCertificate(**d) for d in digests or []]
    return recorded_identity(RecordedApp(chain=("backup.ab",), package=package,
                                         recorded_by="adb backup _manifest", certificates=certs))


def test_recorded_vendor_certificate_caps_at_strong(rules):
    ident = _recorded("com.tencent.mm", _vendor_der("TENCENT_WECHAT"))
    findings = match_identity(ident, rules)
    app = next(f for f in findings if f.rule == "tencent.wechat")
    assert app.strength == "strong" and "certificate-recorded" in app.bases
    ev = next(e for e in app.evidence if e.basis == "certificate-recorded")
    assert "not verified by apkscan" in ev.location and "adb backup" in ev.location
    assert not any(f.kind == "impersonation" for f in findings)
    assert evaluate(ident, rules, load_policy(), source="backup.ab").verdict == "prohibited"


def test_recorded_foreign_certificate_is_strong_impersonation(rules):
    ident = _recorded("com.tencent.mm", _cert("Impostor Ltd").der or b"",
                      digests=[{"sha256": "ab" * 32}])
    findings = match_identity(ident, rules)
    imp = next(f for f in findings if f.kind == "impersonation")
    assert imp.strength == "strong" and "certificate-unknown" in imp.bases
    assert "certificate-recorded" not in imp.bases and "certificate" not in imp.bases
    key = next(e for e in imp.evidence if e.basis == "certificate-unknown")
    assert key.verified is False and key.location.startswith("recorded by adb backup _manifest")


def test_recorded_kaspersky_named_certificate_is_weak(rules):
    ident = _recorded("com.example.notes", _cert("AO Kaspersky Lab").der)
    (f,) = match_identity(ident, rules)
    assert (f.rule, f.strength) == ("kaspersky.vendor", "weak")
    assert "recorded by adb backup" in f.evidence[0].location


def test_listed_package_is_weak_and_never_impersonation(rules):
    ident = _recorded("com.tencent.mm")
    assert ident.origin == "listed"
    findings = match_identity(ident, rules)
    assert {(f.rule, f.kind, f.strength) for f in findings} == {("tencent.wechat", "app", "weak")}


# --- the shared corpus ---------------------------------------------------------------------------

CORPUS = SHARED / "corpus"


def _corpus_records():
    out = []
    for folder in ("apksig", "androguard"):
        gt = CORPUS / folder / "ground_truth.jsonl"
        if gt.exists():
            out += [(CORPUS / folder, json.loads(line)) for line in gt.read_text().splitlines() if line]
    return out


RECORDS = _corpus_records()


@pytest.fixture(scope="module")
def corpus_identities():
    from apkscan.apk.identify import identify
    return [(rec, identify(folder / rec["file"])) for folder, rec in RECORDS]


@pytest.mark.skipif(not RECORDS, reason="shared corpus (../shared/corpus) not available")
def test_no_finding_on_non_vendor_corpus_apps(corpus_identities, rules):
    noisy = {}
    for rec, ident in corpus_identities:
        findings = match_identity(ident, rules)
        if findings:
            noisy[rec["file"]] = [(f.rule, f.kind) for f in findings]
    assert noisy == {}


@pytest.mark.skipif(not RECORDS, reason="shared corpus (../shared/corpus) not available")
def test_package_agrees_with_aapt_on_the_corpus(corpus_identities):
    """The corpus ground truth holds aapt's package for every APK aapt could read."""
    compared, wrong = 0, {}
    for rec, ident in corpus_identities:
        if rec.get("aapt_rc") != 0 or not rec.get("package"):
            continue
        compared += 1
        got = ident.manifest.package if ident.manifest else None
        if got != rec["package"]:
            wrong[rec["file"]] = (got, rec["package"])
    assert compared > 250 and wrong == {}


# --- the manifest readers never raise -------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from apkscan.apk.manifest.android_manifest import read_manifest  # noqa: E402

_ADV_MANIFEST = None


def _adversarial_manifest() -> bytes:
    global _ADV_MANIFEST
    if _ADV_MANIFEST is None:
        import zipfile
        with zipfile.ZipFile(REPO / "fixtures" / "adversarial" / "first-chunk-decoy.apk") as z:
            _ADV_MANIFEST = z.read("AndroidManifest.xml")
    return _ADV_MANIFEST


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 400), st.binary(max_size=8))
def test_package_readings_survive_mutation(chunk_type, pos, junk):
    xml = bytearray(_adversarial_manifest())
    xml[0:2] = chunk_type.to_bytes(2, "little")
    pos = min(pos, len(xml))
    xml[pos:pos + len(junk)] = junk
    info = read_manifest(bytes(xml), None)  # promised never to raise
    values = [r.value for r in info.package_readings]
    assert len(values) == len(set(values))
    assert info.package is None or info.package in values or not values
