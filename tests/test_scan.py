"""The scan pipeline and CLI: fixtures end to end, the corpus stays clean, exit codes, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cli_helpers import evidence_unchanged  # noqa: F401

from apkscan.policy.loader import load_policy
from apkscan.rules.loader import load_ruleset
from apkscan.rules.selftest import build_identity
from apkscan.result import AppResult, InputError, ScanResult
from apkscan.scan import evaluate

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
APKS = REPO / "fixtures" / "apks"
REPORT_SCHEMA = REPO / "apkscan" / "report" / "schema" / "scan-result.schema.json"

pytestmark = pytest.mark.usefixtures("evidence_unchanged")  # no command may touch fixtures/
try:
    from apkscan.apk.identify import identify
    IDENTIFY_ERROR = None
except ImportError as exc:  # the lead merges the identity layer separately
    identify = None
    IDENTIFY_ERROR = str(exc)

needs_identify = pytest.mark.skipif(identify is None, reason=f"apkscan.apk.identify not importable yet: {IDENTIFY_ERROR}")


def _fixture(name: str) -> Path:
    path = APKS / name
    if not path.exists():
        pytest.skip(f"fixture {name} not generated")
    return path


def _validate(doc: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not REPORT_SCHEMA.exists():
        pytest.skip("report schema absent")
    jsonschema.Draft202012Validator(json.loads(REPORT_SCHEMA.read_text())).validate(doc)


def test_result_document_shape_without_apk_layer(rules, policy):
    ident = build_identity("com.tencent.mm", "WeChat")
    app = evaluate(ident, rules, policy, source="x/wechat.apk")
    result = ScanResult(apps=[app], errors=[InputError("missing.apk", None, [])], rules=rules.meta(),
                        policy=policy.meta(), inputs=["x"])
    doc = result.to_dict()
    a = doc["apps"][0]
    assert a["source"]["path"] == "x/wechat.apk" and a["package"] == "com.tencent.mm"
    assert a["verdict"] == "prohibited" and a["findings"][0]["evidence"][0]["field"] == "package"
    assert {p["name"] for p in doc["rules"]["packs"]} == {"tencent", "bytedance", "kaspersky"}
    assert doc["policy"]["name"] == "canada-tbs-2023"
    assert result.exit_code("prohibited") == 1 and result.exit_code("never") == 3
    assert ScanResult(apps=[AppResult("a", None, ident)]).exit_code() == 0


def test_result_document_validates_against_report_schema(rules, policy):
    if identify is None:
        pytest.skip(f"apkscan.apk.identify not importable yet: {IDENTIFY_ERROR}")
    ident = identify(_fixture("wechat-impostor.apk"))
    doc = ScanResult(apps=[evaluate(ident, rules, policy, source="wechat-impostor.apk")],
                     errors=[InputError("missing.apk", None, [])], rules=rules.meta(),
                     policy=policy.meta()).to_dict()
    _validate(doc)


EXPECT = {
    # fixture: {(rule, kind, strength) that must be present}, verdict under canada-tbs-2023
    "wechat-tencent-subject.apk": ({("tencent.wechat", "impersonation", "strong")}, "prohibited"),
    "wechat-impostor.apk": ({("tencent.wechat", "app", "weak"), ("tencent.wechat", "impersonation", "strong")}, "prohibited"),
    "wechat-forged-cert.apk": ({("tencent.forged-certificate", "forged-certificate", "weak")}, "prohibited"),
    "kaspersky-subject-notes.apk": ({("kaspersky.vendor", "app", "strong")}, "prohibited"),
    "tiktok-bytedance-subject.apk": ({("bytedance.tiktok", "impersonation", "strong")}, "prohibited"),
    "clean-v1v2v3.apk": (set(), "allowed"),
}


@needs_identify
@pytest.mark.parametrize("name", sorted(EXPECT))
def test_fixture_end_to_end(name, rules, policy):
    want, want_verdict = EXPECT[name]
    ident = identify(_fixture(name))
    app = evaluate(ident, rules, policy, source=name)
    got = {(f.rule, f.kind, f.strength) for f in app.findings}
    assert want <= got, got
    assert app.verdict == want_verdict
    if name == "clean-v1v2v3.apk":
        assert got == set()
    if name == "wechat-forged-cert.apk":
        assert not ident.verified
        assert all(f.strength != "confirmed" for f in app.findings)
    if name == "wechat-tencent-subject.apk":  # keys over names: the subject is only a claim
        assert not any(f.kind == "app" and f.strength != "weak" for f in app.findings)


@needs_identify
def test_lineage_old_listed_end_to_end(tmp_path, policy):
    index = json.loads(_fixture("index.json").read_text())
    old = index["keys"]["listed-old"]["cert_sha256"]
    (tmp_path / "listed.yaml").write_text(f"""schema: apkscan-rules/1
pack: listed
vendor: Listed
version: "1"
reviewed: "2026-11-28"
certificates:
  - {{id: LISTED_OLD, sha256: "{old}", references: [fixtures/keys/listed-old.pem]}}
rules:
  - id: listed.rotated
    app: Rotated app
    match: {{certificates: [LISTED_OLD]}}
    references: [fixtures/apks/index.json]
""")
    rules = load_ruleset([tmp_path], builtin=False)
    ident = identify(_fixture("lineage-old-listed.apk"))
    assert ident.verified and ident.verification.signers[0].sha256 != old
    app = evaluate(ident, rules, policy, source="lineage-old-listed.apk")
    assert [(f.rule, f.kind, f.strength) for f in app.findings] == [("listed.rotated", "app", "confirmed")]
    assert app.findings[0].evidence[0].field.startswith("lineage[")


def _corpus_apks() -> list[Path]:
    root = SHARED / "corpus"
    if not root.exists():
        pytest.skip("../shared/corpus absent")
    return sorted(root.rglob("*.apk"))


@needs_identify
def test_no_finding_on_non_vendor_corpus(rules):
    apks = _corpus_apks()
    assert len(apks) > 100
    vendor_prefixes = ("com.tencent.", "com.ss.android.", "com.zhiliaoapp.", "com.kaspersky.", "com.kms.",
                       "com.bytedance.")
    hits = []
    for path in apks:
        ident = identify(path, timeout=60)
        pkg = ident.manifest.package if ident.manifest else None
        if pkg and pkg.startswith(vendor_prefixes):
            continue  # belongs to a vendor: not part of this check
        findings = [f for f in (evaluate(ident, rules, load_policy(), source=str(path)).findings)]
        if findings:
            hits.append((path.name, pkg, [(f.rule, f.kind) for f in findings]))
    assert hits == []


@needs_identify
def test_cli_scan_exit_codes_and_json(tmp_path):
    from apkscan.cli import main

    runner = CliRunner()
    out = tmp_path / "r.json"
    res = runner.invoke(main, ["scan", str(_fixture("wechat-impostor.apk")), str(_fixture("clean-v1v2v3.apk")),
                               "--json", str(out), "--no-color"])
    assert res.exit_code == 1, res.output
    doc = json.loads(out.read_text())
    assert [a["verdict"] for a in doc["apps"]] == ["prohibited", "allowed"]
    assert doc["tool"]["name"] == "apkscan" and doc["started_at"] and doc["errors"] == []
    _validate(doc)
    clean = runner.invoke(main, ["scan", str(_fixture("clean-v1v2v3.apk"))])
    assert clean.exit_code == 0, clean.output
    never = runner.invoke(main, ["scan", str(_fixture("wechat-impostor.apk")), "--fail-on", "never"])
    assert never.exit_code == 0
    missing = runner.invoke(main, ["scan", str(_fixture("clean-v1v2v3.apk")), str(tmp_path / "nope.apk")])
    assert missing.exit_code == 3, missing.output
    junk = tmp_path / "junk.apk"
    junk.write_bytes(b"not a zip at all" * 10)
    assert runner.invoke(main, ["scan", str(junk)]).exit_code == 3
    folder = runner.invoke(main, ["scan", str(APKS), "--json", "-", "--policy", "vendor-watch", "--fail-on", "review"])
    assert folder.exit_code == 1
    assert len(json.loads(folder.stdout)["apps"]) >= 7  # the summary goes to stderr


def test_cli_rule_errors_exit_2(tmp_path):
    from apkscan.cli.scan_cmd import scan_command

    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: apkscan-rules/1\npack: [\n")
    res = CliRunner().invoke(scan_command, ["x.apk", "--rules", str(bad)])
    assert res.exit_code == 2 and "bad.yaml:" in res.output
    res = CliRunner().invoke(scan_command, ["x.apk", "--policy", "no-such-policy"])
    assert res.exit_code == 2


def test_cli_rules_commands(tmp_path):
    from apkscan.cli.rules_cmd import rules_command

    runner = CliRunner()
    lint = runner.invoke(rules_command, ["lint"])
    assert lint.exit_code == 0 and "tencent.yaml" in lint.output and "canada-tbs-2023" in lint.output
    test = runner.invoke(rules_command, ["test"])
    assert test.exit_code == 0 and " 0 failed" in test.output
    listed = runner.invoke(rules_command, ["list", "--json"])
    assert listed.exit_code == 0 and "canada-tbs-2023" in json.loads(listed.output)["policies"]
    out = tmp_path / "stix.json"
    assert runner.invoke(rules_command, ["export", "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["type"] == "bundle"
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: apkscan-rules/1\n")
    res = runner.invoke(rules_command, ["lint", str(bad)])
    assert res.exit_code == 2 and "bad.yaml:1" in res.output


@needs_identify
def test_cli_scan_unwritable_report_path_is_a_usage_error_before_scanning(tmp_path):
    """A report folder that cannot be created stops the run before any input is read: exit 2, nothing written."""
    from apkscan.cli import main

    out = tmp_path / "r.json"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = CliRunner().invoke(main, ["scan", str(_fixture("clean-v1v2v3.apk")), "--json", str(out),
                                    "--html", str(blocker / "sub" / "r.html"), "-q"])
    assert res.exit_code == 2, res.output
    assert "--html" in res.stderr and not out.exists()
