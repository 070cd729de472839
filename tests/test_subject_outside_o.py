"""Review 60 F3: a vendor's publisher name written in a signer's ``CN=`` or ``OU=`` (not ``O=``).

Only a whole ``O=`` that is a listed legal name (Kaspersky, which lists no key) or a publisher
pattern on one of the vendor's keys is the publisher; the same name elsewhere in the subject
was not looked at, so a signer ``CN=AO Kaspersky Lab, O=Example Corp`` was ``allowed`` with no
finding, even under ``vendor-watch``. It is a claim now (``subject-present``, weak, review),
never the ``strong`` O= match, and never on the vendor's own key.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_match_strength import _apk, _app, _scan, _verdicts, gen  # noqa: F401, F811
from test_rules_index import _certs
from test_rules_prefilter import _sound, with_pack
from test_rules_prefilter_drift import texts

from apkscan.apk.identify import identify
from apkscan.rules.matcher import match_identity
from cli_helpers import FIXTURES

POLICIES = ["us-dhs-bod-17-01", "canada-tbs-2023", "us-commerce-kaspersky-2024", "vendor-watch"]


def _policies(*names: str) -> list[str]:
    return [a for n in names for a in ("--policy", n)]


@pytest.mark.parametrize("subject,field", [
    ("CN=AO Kaspersky Lab,O=Example Corp", "signer.subject.CN"),   # review 60's reproducer
    ("OU=Kaspersky Lab ZAO,O=Example Corp", "signer.subject.OU"),
    ("CN=KASPERSKY LAB,O=Example Corp", "signer.subject.CN"),      # another case: still the name
])
def test_a_kaspersky_name_in_cn_or_ou_is_a_claim(gen, tmp_path, subject, field):
    apk = _apk(gen, tmp_path, "secure.apk", "com.example.secure", "Secure", "cn-claim", subject)
    _, doc = _scan(tmp_path, apk, *_policies(*POLICIES))
    app = _app(doc, "secure.apk")
    (f,) = app["findings"]
    assert (f["rule"], f["kind"], f["strength"]) == ("kaspersky.vendor", "app", "weak")
    (ev,) = f["evidence"]
    assert (ev["field"], ev["basis"], ev["verified"]) == (field, "subject-present", False)
    assert "not O=" in ev["location"]
    assert {p: v[0] for p, v in _verdicts(app).items()} == {p: "review" for p in POLICIES}


def test_a_listed_name_in_o_stays_the_strong_match_without_a_cn_claim(gen, tmp_path):
    """The fixture key ``CN=Kaspersky Lab, O=Kaspersky Lab ZAO``: its O= is the publisher
    (strong, prohibited where the measure says so); its CN adds no claim beside it."""
    apk = _apk(gen, tmp_path, "notes.apk", "com.example.notes", "Notes", "kaspersky-like")
    _, doc = _scan(tmp_path, apk, *_policies("us-dhs-bod-17-01"))
    app = _app(doc, "notes.apk")
    (f,) = app["findings"]
    assert (f["rule"], f["strength"]) == ("kaspersky.vendor", "strong")
    assert [(e["field"], e["basis"]) for e in f["evidence"]] == [("signer.subject.O", "subject")]
    assert _verdicts(app)["us-dhs-bod-17-01"][0] == "prohibited"


@pytest.mark.parametrize("subject", ["CN=Kasper Smith,O=Example Corp", "CN=Secure Lab,OU=Mobile,O=Example Corp"])
def test_other_cn_and_ou_values_make_no_claim(gen, tmp_path, subject):
    apk = _apk(gen, tmp_path, "secure.apk", "com.example.secure", "Secure", "cn-plain", subject)
    _, doc = _scan(tmp_path, apk, *_policies("vendor-watch"))
    app = _app(doc, "secure.apk")
    assert app["findings"] == [] and app["verdict"] == "allowed"


OWN_PACK = """schema: apkscan-rules/1
pack: ownkey
vendor: OwnKey
version: "1"
reviewed: "2026-11-30"
sources:
  S1: "fixtures/keys/test-rsa.pem (CN=apkscan test, O=Example Corp): the vendor key in this test"
certificates:
  - id: OWN_KEY
    sha256: 3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81
    confidence: high
    references: [S1]
publisher:
  - subject: {O: "^apkscan test"}
    references: [S1]
rules:
  - id: ownkey.app
    app: Own Key App
    match: {package: [com.example.ownkey], certificates: [OWN_KEY]}
    references: [S1]
"""


def test_the_vendors_own_key_makes_no_claim_another_key_does(gen, tmp_path):
    """A publisher pattern that a vendor key's CN happens to fit: on that key (confirmed) the CN
    adds nothing; the same CN on another key is a claim."""
    pack = tmp_path / "ownkey.yaml"
    pack.write_text(OWN_PACK, encoding="utf-8")
    own = _apk(gen, tmp_path, "own.apk", "com.example.video", "Video", "test-rsa")
    _apk(gen, tmp_path, "other.apk", "com.example.video", "Video", "test-ec")  # CN=apkscan test ec
    _, doc = _scan(tmp_path, own.parent, "--rules", pack, *_policies("vendor-watch"))
    (mine,) = _app(doc, "own.apk")["findings"]
    assert (mine["rule"], mine["strength"]) == ("ownkey.app", "confirmed")  # its key names the app
    assert {e["basis"] for e in mine["evidence"]} == {"certificate"}
    (theirs,) = _app(doc, "other.apk")["findings"]
    assert (theirs["rule"], theirs["strength"]) == ("ownkey.vendor", "weak")
    assert [(e["field"], e["basis"]) for e in theirs["evidence"]] == [("signer.subject.CN", "subject-present")]


# --- the prefilter lets every such claim through (it may not drift from the matcher) ------------

NAMES_PACK = """\
schema: apkscan-rules/1
pack: drift3
vendor: Drift3
version: "1"
reviewed: "2026-01-01"
publisher:
  - names: [Kaspersky Lab ZAO]
    references: [test]
  - subject: {O: "^TikTok$"}
    references: [test]
  - subject: {O: "(?i)wechat|微信"}
    references: [test]
rules:
  - id: drift3.app
    app: Drift3 app
    match: {package: [com.drift3.app]}
    references: [test]
sources:
  test: a test pack
"""


@pytest.fixture(scope="module")
def world3(tmp_path_factory):
    return (with_pack(tmp_path_factory, "drift3", NAMES_PACK),
            identify(str(FIXTURES / "apks" / "clean-v1v2v3.apk")))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts(), attr=st.sampled_from(["CN", "OU"]))
@example(text="AO Kaspersky Lab", attr="CN")
@example(text="ＴikＴok", attr="OU")
@example(text="Kaspersky", attr="CN")
def test_every_cn_or_ou_claim_the_matcher_makes_the_prefilter_lets_through(world3, text, attr):
    rules, base = world3
    ident = copy.deepcopy(base)
    ident.manifest.label, ident.manifest.labels = "", {}
    for cert in _certs(ident):
        cert.subject_attrs = {"O": ["Example Corp"], attr: [text]}
    could = _sound(ident, rules)
    found = [e for f in match_identity(copy.deepcopy(ident), rules, indexed=False) for e in f.evidence
             if e.field.endswith(f".subject.{attr}")]
    assert all(e.basis == "subject-present" and not e.verified for e in found)
    if found:
        assert could


def test_the_generated_cn_values_reach_both_answers(world3):
    rules, base = world3
    got = []
    for text in ["AO Kaspersky Lab", "ＴikＴok", "We\u200bChat", "Kasper", "TikTo"]:
        ident = copy.deepcopy(base)
        for cert in _certs(ident):
            cert.subject_attrs = {"O": ["Example Corp"], "CN": [text]}
        got.append(any(e.basis == "subject-present" for f in match_identity(ident, rules, indexed=False)
                       for e in f.evidence))
    assert got == [True, True, True, False, False]
