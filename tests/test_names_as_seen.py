"""Review 53: names compared as a reader sees them, and inline rule certificates as vendor keys.

Each case is a repackaged banned app (a new package, a fresh key) whose claim differs from the
exact copy only in what a person cannot see: another case, a full-width or Cyrillic letter, a
trailing blank. The exact copy was caught; these passed as ``allowed`` with no finding.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_match_strength import _apk, _app, _scan, _verdicts, gen  # noqa: F401, F811

from apkscan.rules.normalise import forms, skeleton

# --- F1: a vendor's name in a certificate, another case or look-alike letters ---------------------


@pytest.mark.parametrize("org,rule,policy", [
    ("musical.ly Inc.", "bytedance.vendor", "canada-house-of-commons-2023"),  # the exact copy (control)
    ("Musical.ly Inc.", "bytedance.vendor", "canada-house-of-commons-2023"),
    ("music\u0430l.ly Inc.", "bytedance.vendor", "canada-house-of-commons-2023"),  # Cyrillic a
    ("BYTEDANCE LTD", "bytedance.vendor", "canada-house-of-commons-2023"),
    ("T\u0435ncent Technology(Shenzhen) Company Limited", "tencent.vendor", "canada-tbs-2023"),  # Cyrillic e
    ("\uff34encent Technology(Shenzhen) Company Limited", "tencent.vendor", "canada-tbs-2023"),  # full-width T
    # all in lower case: its own folded form, found only with case ignored (review 65 H2: no finding)
    ("bytedance pte. ltd.", "bytedance.vendor", "canada-house-of-commons-2023"),
    ("tencent technology(shenzhen) company limited", "tencent.vendor", "canada-tbs-2023"),
])
def test_a_vendor_name_that_only_looks_alike_is_still_a_claim(gen, tmp_path, org, rule, policy):
    apk = _apk(gen, tmp_path, "player.apk", "com.example.player", "Player", "made-up", f"CN=Mobile,O={org}")
    _, doc = _scan(tmp_path, apk, "--policy", policy)
    app = _app(doc, "player.apk")
    (f,) = app["findings"]
    assert (f["rule"], f["kind"], f["strength"]) == (rule, "app", "weak")
    (ev,) = f["evidence"]
    assert (ev["field"], ev["value"], ev["basis"], ev["verified"]) == ("signer.subject.O", org, "subject-present", False)
    if org not in ("musical.ly Inc.",) and org != org.lower():  # only the look-alikes say what they were read as
        assert ev["normalised"] and ev["normalised"] != org
    assert _verdicts(app)[policy][0] == "review"


def _wechat_names(gen):
    """WeChat's subject, serial and dates, from the committed ``wechat-counterfeit`` test key (which
    copies them), so these tests run in a clone with no ``../shared/reference/`` beside it."""
    from cryptography import x509

    return x509.load_pem_x509_certificate((gen.KEYS / "wechat-counterfeit.pem").read_bytes())


def _counterfeit_key(gen, name: str, org: str) -> None:
    """A key whose certificate copies WeChat's subject (with ``O=`` replaced), serial and dates."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    real = _wechat_names(gen)
    dn = x509.Name([x509.NameAttribute(a.oid, org if a.oid == NameOID.ORGANIZATION_NAME else a.value)
                    for a in real.subject])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(dn).issuer_name(dn).public_key(key.public_key())
            .serial_number(real.serial_number).not_valid_before(real.not_valid_before_utc)
            .not_valid_after(real.not_valid_after_utc).sign(key, hashes.SHA256()))
    (gen.KEYS / f"{name}.pk8").write_bytes(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (gen.KEYS / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    gen.KEY_SPECS[name] = ("(written by the test)", "rsa")


@pytest.mark.parametrize("swap", [("e", "e"), ("e", "\u0435"), ("T", "\uff34"), ("Tencent", "TENCENT")])
def test_a_counterfeit_certificate_with_a_look_alike_letter_is_still_counterfeit(gen, tmp_path, swap):
    """WeChat's subject, serial and dates on another key: a strong counterfeit finding whether
    ``O=`` is copied exactly or with a Cyrillic ``е``, a full-width ``Ｔ`` or in capitals."""
    from cryptography.x509.oid import NameOID

    real = _wechat_names(gen)
    org = real.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert swap[0] in org
    _counterfeit_key(gen, "fake-wechat", org.replace(swap[0], swap[1], 1))
    apk = _apk(gen, tmp_path, "notes.apk", "com.example.notes", "Notes", "fake-wechat")
    _, doc = _scan(tmp_path, apk, "--policy", "canada-tbs-2023")
    app = _app(doc, "notes.apk")
    fakes = [f for f in app["findings"] if f["kind"] == "counterfeit-certificate"]
    assert [(f["rule"], f["strength"]) for f in fakes] == [("tencent.counterfeit-certificate", "strong")]
    assert _verdicts(app)["canada-tbs-2023"][0] != "allowed"


# --- F2/F3: labels with blanks around them, and a pattern written in Cyrillic --------------------


@pytest.mark.parametrize("label,rule,policy", [
    ("TikTok ", "bytedance.tiktok", "us-no-tiktok-gov-devices-2022"),
    ("TikTok\u00a0", "bytedance.tiktok", "us-no-tiktok-gov-devices-2022"),
    ("TikTok\u2800", "bytedance.tiktok", "us-no-tiktok-gov-devices-2022"),  # braille pattern blank
    ("\u2800TikTok", "bytedance.tiktok", "us-no-tiktok-gov-devices-2022"),
    ("Tik\u3000Tok\t", "bytedance.tiktok", "us-no-tiktok-gov-devices-2022"),  # 'Tik Tok' is a name of it (review 60 F5)
    ("Tik\u3000Tok\tDownloader", None, None),  # the name inside a longer label: no claim (over-matching control)
    ("WeChat\u00a0", "tencent.wechat", "canada-tbs-2023"),
    ("QQ\u2007", "tencent.mobileqq", "canada-tbs-2023"),
    ("\u0410\u043d\u0442\u0438\u0432\u0438\u0440\u0443\u0441 K\u0430\u0441\u043f\u0435\u0440\u0441\u043a\u043e\u0433\u043e",
     "kaspersky.label", "canada-tbs-2023"),  # Антивирус Kасперского: one Latin K in the Cyrillic name
    ("Kacnepckoro", "kaspersky.label", "canada-tbs-2023"),  # all Latin look-alikes: its own skeleton
    ("Kacnepckiy Antivirus", "kaspersky.label", "canada-tbs-2023"),
    ("Kacper Notes", None, None),  # a Latin name near it that is no look-alike (over-matching control)
])
def test_labels_are_read_as_the_launcher_shows_them(gen, tmp_path, label, rule, policy):
    apk = _apk(gen, tmp_path, "app.apk", "com.example.video", label, "test-rsa")
    _, doc = _scan(tmp_path, apk, *(["--policy", policy] if policy else []))
    app = _app(doc, "app.apk")
    if rule is None:
        assert app["findings"] == [] and app["verdict"] == "allowed"
        return
    (f,) = app["findings"]
    assert (f["rule"], f["strength"]) == (rule, "weak")
    (ev,) = f["evidence"]
    assert (ev["basis"], ev["value"]) == ("label", label) and ev["normalised"]
    assert _verdicts(app)[policy][0] == "review"


def test_white_space_and_blanks_fold_to_one_space_and_ends_are_trimmed():
    assert forms("TikTok\u00a0\u2800") == [("raw", "TikTok\u00a0\u2800"), ("normalised", "tiktok")]
    assert skeleton(" Tik \u2003\t Tok\x00 ") == "tik tok"  # a NUL is no letter either
    assert forms("com.tencent.mm") == [("raw", "com.tencent.mm")]  # plain ASCII: itself, no extra forms


def test_a_cyrillic_pattern_is_also_read_on_the_skeleton_side():
    from apkscan.rules.normalise import skeleton_side

    mapped = skeleton_side(re.compile("(?i)kaspersky|касперск"))
    assert mapped is not None and mapped.pattern == "(?i)kaspersky|kacnepck"
    assert skeleton_side(re.compile("^(WeChat|微信)$")) is None  # nothing to map
    assert skeleton_side(re.compile(r"касп\w+")).pattern == r"kacn\w+"  # classes stay classes
    assert skeleton_side(re.compile("[\u200b]x")) is None  # maps to an empty class: no variant, no error


# --- F4: a certificate written inline in a rule is one of the vendor's keys ----------------------

PACK = """schema: apkscan-rules/1
pack: acme
vendor: Acme
version: "1"
reviewed: "2026-11-30"
sources:
  S_T: "review 53 test"
{certificates}rules:
  - id: acme.app
    app: Acme App
    references: [S_T]
    match:
      package: [com.acme.app]
      certificates: [{use}]
"""
POLICY = """schema: apkscan-policy/1
policy: acme-ban
title: "test policy: Acme apps banned"
version: "1"
reviewed: "2026-11-30"
default: allowed
decisions:
  - id: acme-app
    verdict: prohibited
    when: {vendors: [Acme], kinds: [app, impersonation], basis: [package, certificate]}
    text: Acme apps are banned.
    authority: test
  - id: acme-claim
    verdict: review
    when: {vendors: [Acme], kinds: [app, impersonation, forged-certificate, planted-certificate, counterfeit-certificate]}
    text: Acme claims.
    authority: test
"""


def _findings(app: dict) -> list[tuple[str, str, str]]:
    return sorted((f["rule"], f["kind"], f["strength"]) for f in app["findings"])


def test_an_inline_rule_certificate_is_the_vendor_key_as_a_listed_one_is(gen, tmp_path):
    import sys

    sys.path.insert(0, str(Path(gen.__file__).parent))
    import tamper

    key = "kaspersky-variant"  # stands in for Acme's key
    digest = gen.cert_sha256(key)
    work = tmp_path / "w"
    work.mkdir()
    genuine = tmp_path / "genuine.apk"
    genuine.write_bytes(gen.sign(gen.build_unsigned(gen.App("com.acme.app", "Acme")), work, [key],
                                 v1=True, v2=True, v3=True, min_sdk=21))
    clean = gen.sign(gen.build_unsigned(gen.App("com.example.clean", "Notes", min_sdk=21, target_sdk=29)),
                     work, ["test-rsa"], v1=True, v2=False, v3=False, min_sdk=21)
    planted = tmp_path / "planted.apk"
    planted.write_bytes(tamper.plant_certificate(clean, gen.cert_der(key)))
    policy = tmp_path / "acme-policy.yaml"
    policy.write_text(POLICY)
    seen = {}
    for how, certificates, use in (("ref", f"certificates:\n  - id: ACME_KEY\n    sha256: {digest}\n    references: [S_T]\n", "ACME_KEY"),
                                   ("inline", "", f"{{sha256: {digest}}}")):
        pack = tmp_path / f"acme-{how}.yaml"
        pack.write_text(PACK.format(certificates=certificates, use=use))
        _, doc = _scan(tmp_path, genuine, planted, "--no-builtin-rules", "--rules", pack, "--policy", policy)
        seen[how] = {name: (_app(doc, name)["verdict"], _findings(_app(doc, name)))
                     for name in ("genuine.apk", "planted.apk")}
    assert seen["inline"] == seen["ref"]
    assert seen["inline"]["genuine.apk"] == ("prohibited", [("acme.app", "app", "confirmed")])  # no impersonation
    assert seen["inline"]["planted.apk"] == ("review", [("acme.planted-certificate", "planted-certificate", "weak")])


def test_an_inline_certificate_reusing_a_listed_id_with_other_digests_is_refused(tmp_path):
    from apkscan.rules.loader import lint_file

    pack = tmp_path / "acme.yaml"
    pack.write_text(PACK.format(certificates=f"certificates:\n  - id: ACME_KEY\n    sha256: {'a' * 64}\n    references: [S_T]\n",
                                use=f"{{id: ACME_KEY, sha256: {'b' * 64}}}"))
    loaded, errors = lint_file(pack)
    assert loaded is None and any("already a certificate of this pack" in e.message for e in errors)


def test_counterfeit_subjects_are_compared_by_skeleton():
    """A copy that differs only in a look-alike letter has the same skeleton; another word does not."""
    assert skeleton("T\u0435ncent Technology") == skeleton("Tencent Technology")
    assert skeleton("Tencent Technologies") != skeleton("Tencent Technology")
