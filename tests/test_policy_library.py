"""The policy library: every shipped measure decides real signed fixture APKs as its scope
text reads, its citation reaches the reports, its uncertainties stay visible, and its own
examples (``apkscan policies test``) pass and can fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from markupsafe import escape

from apkscan.apk.identify import identify
from apkscan.cli import main
from apkscan.policy.loader import builtin_policies, lint_policy, load_policy
from apkscan.policy.selftest import run_policy_examples
from apkscan.rules.loader import load_ruleset
from apkscan.scan import evaluate

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
MEASURES = ["canada-tbs-2023", "canada-house-of-commons-2023", "us-no-tiktok-gov-devices-2022",
            "us-dhs-bod-17-01", "us-commerce-kaspersky-2024", "eu-commission-tiktok-2023",
            "texas-prohibited-tech"]
FIXTURES = ["wechat-tencent-subject.apk", "wechat-impostor.apk", "wechat-forged-cert.apk",
            "tiktok-bytedance-subject.apk", "kaspersky-subject-notes.apk", "clean-v1v2v3.apk"]
P, R, A = "prohibited", "review", "allowed"
# verdict of each fixture above, in order, under each policy (the scope text's reading)
EXPECTED = {
    "canada-tbs-2023": [P, P, P, P, P, A],
    "canada-house-of-commons-2023": [A, A, A, P, A, A],   # TikTok only
    "eu-commission-tiktok-2023": [A, A, A, P, A, A],      # TikTok only
    "us-no-tiktok-gov-devices-2022": [A, A, A, P, A, A],  # ByteDance family
    "texas-prohibited-tech": [A, A, A, P, A, A],
    "us-dhs-bod-17-01": [A, A, A, A, P, A],               # Kaspersky-branded, incl. a Kaspersky-named signer
    "us-commerce-kaspersky-2024": [A, A, A, A, P, A],
    "vendor-watch": [R, R, R, R, R, A],
}


@pytest.fixture(scope="module")
def identities():
    out = {}
    for name in FIXTURES:
        if not (APKS / name).exists():
            pytest.skip(f"fixture {name} not generated")
        out[name] = identify(APKS / name)
    return out


def test_every_measure_and_watch_list_is_shipped():
    assert set(EXPECTED) == set(builtin_policies())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_policy_decides_the_signed_fixtures(name, rules, identities):
    policy = load_policy(name)
    got = [evaluate(identities[f], rules, policy, source=f).verdict for f in FIXTURES]
    assert dict(zip(FIXTURES, got)) == dict(zip(FIXTURES, EXPECTED[name]))


@pytest.mark.parametrize("name", MEASURES)
def test_measure_carries_its_sources(name):
    p = load_policy(name)
    assert p.jurisdiction and p.effective and p.covers and p.title
    assert p.effective[:4].isdigit()
    banning = [d for d in p.decisions if d.verdict == "prohibited"]
    assert banning, "a measure prohibits something"
    for d in banning:
        assert d.text.strip() and d.authority and d.date, d.id
        assert d.urls and all(u.startswith("https://") for u in d.urls), d.id


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_examples_pass(name, rules):
    policy = load_policy(name)
    results = run_policy_examples(policy, rules)
    assert len(results) >= 3
    assert [r.detail for r in results if not r.passed] == []
    # every verdict the policy can give beyond the default is exercised by an example
    assert {d.verdict for d in policy.decisions if d.id != "user-indicators"} <= {r.verdict for r in results}


def test_a_wrong_expectation_fails(rules, tmp_path):
    text = (REPO / "signatures" / "policies" / "eu-commission-tiktok-2023.yaml").read_text()
    broken = text.replace("name: TikTok Lite (choice - it is the TikTok application)\n"
                          "    package: com.ss.android.ugc.tiktok.lite\n"
                          "    expect: {verdict: prohibited",
                          "name: TikTok Lite (choice - it is the TikTok application)\n"
                          "    package: com.ss.android.ugc.tiktok.lite\n"
                          "    expect: {verdict: allowed")
    assert broken != text
    # under its own name: an edited copy may not pass as the shipped policy (review 64 F6)
    broken = broken.replace("policy: eu-commission-tiktok-2023\n", "policy: eu-commission-tiktok-2023-edited\n", 1)
    assert "policy: eu-commission-tiktok-2023-edited\n" in broken
    path = tmp_path / "eu.yaml"
    path.write_text(broken)
    failed = [r for r in run_policy_examples(load_policy(str(path)), rules) if not r.passed]
    assert [r.name for r in failed] == ["TikTok Lite (choice - it is the TikTok application)"]
    res = CliRunner().invoke(main, ["policies", "test", str(path)])
    assert res.exit_code == 1 and "FAIL eu-commission-tiktok-2023-edited: TikTok Lite" in res.output


def test_choices_made_explicit(rules):
    """The readings the scope texts leave open, pinned where they differ between measures."""
    def verdict(policy, **ex):
        from apkscan.policy.selftest import check_example
        return check_example(load_policy(policy), {"name": "x", "expect": {"verdict": "?"}, **ex}, rules).verdict
    lemon8 = {"package": "com.bd.nproject"}
    assert verdict("us-no-tiktok-gov-devices-2022", **lemon8) == P    # a ByteDance "successor application"
    assert verdict("texas-prohibited-tech", **lemon8) == P            # named in the 2025 additions
    assert verdict("eu-commission-tiktok-2023", **lemon8) == A        # not "the TikTok application"
    capcut = {"package": "com.lemon.lvoverseas"}
    assert verdict("us-no-tiktok-gov-devices-2022", **capcut) == P
    assert verdict("texas-prohibited-tech", **capcut) == R            # successor clause only paraphrased
    lite = {"package": "com.zhiliaoapp.musically.go"}
    assert {verdict(p, **lite) for p in ("canada-tbs-2023", "canada-house-of-commons-2023",
                                         "eu-commission-tiktok-2023", "texas-prohibited-tech")} == {P}
    sdk = {"package": "com.example.app", "dex_classes": ["com.kaspersky.components.accessibility.KasperskyAccessibility"]}
    assert verdict("us-commerce-kaspersky-2024", **sdk) == R          # "third-party integration", weak evidence
    assert verdict("canada-tbs-2023", **sdk) == R                     # the "Kaspersky suite": its own app code (review 86 F4)


def test_claims_do_not_ban_where_a_key_is_known(rules):
    """Adversary: a self-made certificate with ByteDance's name, or a TikTok label, is a claim."""
    from apkscan.policy.selftest import check_example
    pol = load_policy("us-no-tiktok-gov-devices-2022")
    fake = {"name": "x", "expect": {"verdict": R}, "package": "com.example.tool",
            "signers": [{"sha256": "ab" * 32, "subject": {"O": "ByteDance Ltd"}}]}
    assert check_example(pol, fake, rules).verdict == R
    label = {"name": "x", "expect": {"verdict": R}, "package": "com.example.v", "label": "TikTok"}
    assert check_example(load_policy("canada-house-of-commons-2023"), label, rules).verdict == R


def test_unverified_url_is_flagged_never_the_cited_url():
    p = load_policy("canada-tbs-2023")
    prov = next(d for d in p.decisions if d.id == "tbs-2023-02-tiktok").provenance(p)
    assert "canada.ca" not in prov["url"] and all("canada.ca" not in u for u in prov["urls"])
    assert [u["url"] for u in prov["unverified_urls"]][0].startswith("https://www.canada.ca/")
    assert "memory" in prov["unverified_urls"][0]["note"]
    us = load_policy("us-no-tiktok-gov-devices-2022")
    assert any("2022-12-29" in u for u in us.decisions[0].provenance(us)["uncertain"])


@pytest.mark.parametrize("name,fixture", [
    ("canada-tbs-2023", "wechat-impostor.apk"),
    ("canada-house-of-commons-2023", "tiktok-bytedance-subject.apk"),
    ("eu-commission-tiktok-2023", "tiktok-bytedance-subject.apk"),
    ("us-no-tiktok-gov-devices-2022", "tiktok-bytedance-subject.apk"),
    ("texas-prohibited-tech", "tiktok-bytedance-subject.apk"),
    ("us-dhs-bod-17-01", "kaspersky-subject-notes.apk"),
    ("us-commerce-kaspersky-2024", "kaspersky-subject-notes.apk"),
    ("vendor-watch", "wechat-impostor.apk"),
])
def test_citation_reaches_json_and_html_reports(name, fixture, tmp_path):
    if not (APKS / fixture).exists():
        pytest.skip(f"fixture {fixture} not generated")
    out_html = tmp_path / "r.html"
    res = CliRunner().invoke(main, ["scan", str(APKS / fixture), "--policy", name, "--json", "-",
                                    "--html", str(out_html), "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    app = doc["apps"][0]
    policy = load_policy(name)
    decision = next(d for d in policy.decisions if d.id == app["policy"]["decision"])
    assert app["verdict"] == decision.verdict != "allowed"
    assert app["policy"]["text"] == decision.text and app["policy"]["policy"] == name
    assert app["policy"]["date"] == decision.date and app["policy"]["url"] == (decision.urls or [None])[0]
    assert any(f["policy"] and f["policy"]["decision"] == decision.id for f in app["findings"])
    assert doc["policy"]["name"] == name and doc["policy"]["jurisdiction"] == (policy.jurisdiction or None)
    assert doc["policy"]["uncertain"] == policy.uncertain and (name == "vendor-watch" or policy.uncertain)
    page = out_html.read_text(encoding="utf-8")
    assert str(escape(decision.text.strip())) in page
    if decision.urls:
        assert str(escape(decision.urls[0])) in page


def test_policies_list_and_show():
    runner = CliRunner()
    listed = runner.invoke(main, ["policies", "list"])
    assert listed.exit_code == 0
    lines = {line.split()[0]: line for line in listed.output.splitlines()}
    assert set(lines) == set(EXPECTED)
    assert "Texas (state)" in lines["texas-prohibited-tech"] and "7 decisions" in lines["texas-prohibited-tech"]
    assert "2017-09-13" in lines["us-dhs-bod-17-01"]
    shown = runner.invoke(main, ["policies", "show", "canada-tbs-2023"])
    assert shown.exit_code == 0
    assert "source (UNVERIFIED" in shown.output and "uncertain:" in shown.output
    assert "tbs-2023-10-wechat: prohibited when tags=wechat" in shown.output
    texas = runner.invoke(main, ["policies", "show", "texas-prohibited-tech"]).output
    assert "RedNote" in texas and "not detected" in texas
    missing = runner.invoke(main, ["policies", "show", "no-such-policy"])
    assert missing.exit_code == 2 and "no such policy" in missing.output


def test_policies_test_all_pass_and_bad_file_exits_2(tmp_path):
    res = CliRunner().invoke(main, ["policies", "test"])
    assert res.exit_code == 0 and " 0 failed" in res.output
    assert all(f"PASS {name}:" in res.output for name in EXPECTED)
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: apkscan-policy/1\npolicy: x\nversion: '1'\ndecisions: []\n"
                   "examples:\n  - {name: a, package: p, expect: {verdict: allowed, decision: nope}}\n")
    res = CliRunner().invoke(main, ["policies", "test", str(bad)])
    assert res.exit_code == 2 and "bad.yaml:6" in res.output and "unknown decision 'nope'" in res.output


@pytest.mark.parametrize("snippet,reason", [
    ("urls: [{verified: false}]", "url"),                 # an unverified source must still name its URL
    ("urls: [{url: x, trusted: true}]", "trusted"),        # no invented flags
    ("date: '2023-13'", "calendar"),                       # matches the pattern, is no month
    ("date: '2023-02-30'", "calendar"),
])
def test_bad_source_entries_are_rejected(tmp_path, snippet, reason):
    path = tmp_path / "p.yaml"
    path.write_text("schema: apkscan-policy/1\npolicy: x\nversion: '1'\ndecisions:\n"
                    f"  - {{id: d, verdict: review, when: any, {snippet}}}\n")
    policy, errors = lint_policy(path)
    assert policy is None and errors and all(e.line == 5 for e in errors)
    assert reason in " ".join(e.reason for e in errors)


def test_every_other_fixture_is_allowed_by_every_policy(rules):
    """No false alarm: the non-vendor fixtures (tampered, rotated, hostile label...) are allowed."""
    index = APKS / "index.json"
    if not index.exists():
        pytest.skip("fixtures not generated")
    others = [f["file"] for f in json.loads(index.read_text())["fixtures"]
              if f["file"] not in FIXTURES and (APKS / f["file"]).exists()]
    assert len(others) >= 15
    policies = [load_policy(name) for name in EXPECTED]
    flagged = []
    for name in others:
        ident = identify(APKS / name)
        for policy in policies:
            app = evaluate(ident, rules, policy, source=name)
            if app.verdict != "allowed" or app.policy is not None:
                flagged.append((name, policy.name, app.verdict))
    assert flagged == []


# --- one vocabulary over every shipped policy (issues 9 and 13) ---------------------------------

ADVERSARIAL = REPO / "fixtures" / "adversarial"
CLAIM_KINDS = {"forged-certificate", "planted-certificate", "counterfeit-certificate",
               "manifest-ambiguity", "split-mismatch"}
# verdicts over the adversarial corpus (real signed APKs built to steer detection), per policy in
# this order: tbs, house of commons, eu, us tiktok act, texas, dhs, commerce, vendor-watch
ORDER = ["canada-tbs-2023", "canada-house-of-commons-2023", "eu-commission-tiktok-2023",
         "us-no-tiktok-gov-devices-2022", "texas-prohibited-tech", "us-dhs-bod-17-01",
         "us-commerce-kaspersky-2024", "vendor-watch"]
ADVERSARIAL_VERDICTS = {
    # Android installs WeChat (under another key): WeChat where WeChat is banned; the ambiguous
    # manifest is reviewed under every policy, never allowed silently
    "raw-typed-wechat.apk": "P R R R R R R R",
    "first-chunk-decoy.apk": "P R R R R R R R",
    "duplicate-package.apk": "P R R R R R R R",
    # WeChat only to other parsers: a claim, reviewed everywhere (ambiguity)
    "raw-typed-reverse.apk": "R R R R R R R R",
    # a self-made key copying WeChat's certificate on WeChat's package is still WeChat
    "wechat-counterfeit-subject.apk": "P A A A A A A R",
    # the same counterfeit, or WeChat's real certificate planted, on another app: review
    "counterfeit-cert-other-app.apk": "R A A A A A A R",
    "wechat-cert-planted.apk": "R A A A A A A R",
    "kaspersky-qrscanner.apk": "P A A A A P P R",        # Kaspersky namespace: every Kaspersky app
    "kaspersky-name-variant.apk": "P A A A A P P R",     # verified signer, Kaspersky legal-name variant
    "kaspersky-signer-unverified.apk": "R A A A A R R R",  # the same name on a signer that failed
    "kaspersky-label.apk": "R A A A A R R R",
    "wechat-confusable-label.apk": "R A A A A A A R",
    "namespace-lookalike.apk": "A A A A A A A A",
    "stamp-over-failed-scheme.apk": "A A A A A A A A",
}


def test_no_shipped_policy_prohibits_on_a_claim():
    """Structure of every shipped policy: a prohibiting decision names the identifying kinds and
    bases only, so forged/planted/counterfeit certificates, package readings, subjects on other
    keys, ambiguous manifests and split mismatches can never prohibit; and every policy reviews
    ambiguous manifests and split mismatches instead of allowing them by default."""
    from apkscan.policy.decide import holds
    from apkscan.rules.matcher import match_identity
    from apkscan.rules.selftest import example_identity
    from apkscan.splits import mismatch_finding

    # the two findings as the matcher and the bundle assembly make them
    (ambiguity,) = [f for f in match_identity(example_identity(
        {"package": "com.example.a", "package_readings": [{"value": "com.example.b"}]}), load_ruleset())
        if f.kind == "manifest-ambiguity"]
    split = mismatch_finding(example_identity({"package": "com.example.a", "signers": [{"sha256": "aa" * 32}]}),
                             example_identity({"package": "com.example.a"}), "split")
    tamper_findings = [ambiguity, split]
    for name in builtin_policies():
        policy = load_policy(name)
        for d in policy.decisions:
            if d.verdict != "prohibited":
                continue
            assert d.when.kinds and set(d.when.kinds) <= {"app", "impersonation"}, (name, d.id)
            assert d.when.basis and set(d.when.basis) <= {"package", "certificate",
                                                           "certificate-recorded", "subject"}, (name, d.id)
            assert d.when.tags or d.when.rules or d.when.vendors, (name, d.id)
        for finding in tamper_findings:
            first = next((d for d in policy.decisions if holds(d.when, finding, set())), None)
            assert first is not None and first.verdict == "review", (name, finding.kind)


@pytest.mark.parametrize("fixture", sorted(ADVERSARIAL_VERDICTS))
def test_every_policy_decides_the_adversarial_corpus(fixture, rules):
    if not (ADVERSARIAL / fixture).exists():
        pytest.skip("adversarial corpus not generated")
    ident = identify(ADVERSARIAL / fixture)
    got = []
    for name in ORDER:
        app = evaluate(ident, rules, load_policy(name), source=fixture)
        got.append(app.verdict[0].upper())
        for f in app.findings:  # a claim never prohibits, whatever the policy
            if f.kind in CLAIM_KINDS or not f.bases & {"package", "certificate",
                                                        "certificate-recorded", "subject"}:
                assert f.verdict != "prohibited", (name, f.rule, f.kind)
    assert " ".join(got) == ADVERSARIAL_VERDICTS[fixture]


def test_listed_packages_from_a_device_list_count_like_installed_packages(rules):
    """`pm list packages` names what IS installed: a banned package listed there gets the
    measure's verdict (weak: no key was seen), a listed vendor package outside a measure's scope
    does not, and an edited list cannot claim a key it does not have."""
    from apkscan.sources.interface import RecordedApp
    from apkscan.sources.records import recorded_identity
    from apkscan.sources.text_evidence import TextEvidenceReader

    text = REPO / "fixtures" / "backups" / "pm-list-packages.txt"
    if not text.exists():
        pytest.skip("backup fixtures not generated")
    with text.open("rb") as fh:
        listed = {a.package: recorded_identity(a) for a in TextEvidenceReader(fh, ("pm.txt",)).entries()
                  if isinstance(a, RecordedApp)}
    assert {"com.tencent.mm", "com.zhiliaoapp.musically"} <= set(listed)
    assert {i.origin for i in listed.values()} == {"listed"}
    want = {  # (WeChat, TikTok) per policy
        "canada-tbs-2023": (P, P), "canada-house-of-commons-2023": (A, P),
        "eu-commission-tiktok-2023": (A, P), "us-no-tiktok-gov-devices-2022": (A, P),
        "texas-prohibited-tech": (A, P), "us-dhs-bod-17-01": (A, A),
        "us-commerce-kaspersky-2024": (A, A), "vendor-watch": (R, R)}
    for name, verdicts in want.items():
        got = []
        for pkg in ("com.tencent.mm", "com.zhiliaoapp.musically"):
            app = evaluate(listed[pkg], rules, load_policy(name), source="pm.txt")
            assert all(f.strength == "weak" and f.kind == "app" for f in app.findings), name
            got.append(app.verdict)
        assert tuple(got) == verdicts, name


def test_an_example_cannot_mix_a_device_record_with_apk_facts(tmp_path):
    """Otherwise the signers would be silently ignored and the example would prove nothing."""
    path = tmp_path / "p.yaml"
    path.write_text("schema: apkscan-policy/1\npolicy: x\nversion: '1'\ndecisions: []\nexamples:\n"
                    "  - {name: a, package: com.tencent.mm, origin: listed,\n"
                    "     signers: [{sha256: '0000000000000000000000000000000000000000000000000000000000000000'}], expect: {verdict: allowed}}\n")
    policy, errors = lint_policy(path)
    assert policy is None and [e.line for e in errors] == [6]
    assert "cannot also have signers" in errors[0].reason
