"""Rule ids, pack names, policy defaults, indicator files and the STIX export (review 27 F7, F8,
F10, F12 and its NITs). Scans run on APKs built here and signed with the test keys."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.cli import main
from apkscan.policy.decide import decide
from apkscan.policy.loader import load_policy
from apkscan.rules.loader import RulesInvalid, load_ruleset
from apkscan.rules.model import Evidence, Finding, Rule, RulePack, RuleSet
from apkscan.rules.selftest import build_identity
from apkscan.rules.stix import export_stix
from test_policy_resolution import signed_apk

ALLOW_TENCENT = """schema: apkscan-policy/1
policy: review-by-default
version: "1"
default: review
decisions:
  - id: tencent-ok
    verdict: allowed
    when: {vendors: [Tencent]}
"""


def scan(*args) -> tuple[int, str, dict | None]:
    """``apkscan scan --no-store ... --json OUT``: exit code, stderr, document."""
    with tempfile.TemporaryDirectory(prefix="apkscan-out-") as folder:  # never beside the inputs
        out = Path(folder) / "out.json"
        res = CliRunner().invoke(main, ["scan", "--no-store", "-q", "--json", str(out), *map(str, args)])
        doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return res.exit_code, res.stderr, doc


@pytest.fixture(scope="module")
def apks(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("apks")
    return {"wechat": signed_apk(d / "wechat.apk", "com.tencent.mm", "WeChat", "impostor"),
            "clean": signed_apk(d / "clean.apk", "com.example.ownclean", "Own", "test-rsa")}


# --- F8: with default: review, an allowed decision makes an app allowed -------------------------

def test_allowed_decision_allows_under_a_review_default(tmp_path, apks):
    policy = tmp_path / "pol.yaml"
    policy.write_text(ALLOW_TENCENT, encoding="utf-8")
    code, err, doc = scan("--policy", policy, apks["wechat"], apks["clean"])
    assert code == 0, err
    by_pkg = {a["package"]: a for a in doc["apps"]}
    wechat = by_pkg["com.tencent.mm"]
    assert {f["verdict"] for f in wechat["findings"]} == {"allowed"}
    assert wechat["verdict"] == "allowed" and wechat["policy"]["decision"] == "tencent-ok"
    # no finding at all: the default speaks
    assert by_pkg["com.example.ownclean"]["verdict"] == "review"
    assert by_pkg["com.example.ownclean"]["verdicts"]["review-by-default"]["decision"] is None


# --- F7: synthetic finding ids are reserved ------------------------------------------------------

@pytest.mark.parametrize("rule_id", ["bytedance.vendor", "mine.forged-certificate", "x.planted-certificate",
                                     "tencent.counterfeit-certificate", "apkscan.split-mismatch",
                                     "ioc.feed.vendor"])
def test_reserved_rule_ids_are_refused(tmp_path, apks, rule_id):
    pack = tmp_path / "mine.yaml"
    pack.write_text(f"""schema: apkscan-rules/1
pack: mine
vendor: Mine
version: "1"
reviewed: "2026-01-01"
rules:
  - id: {rule_id}
    app: Something
    tags: [tiktok]
    references: [mine]
    match: {{package: [com.example.unrelated]}}
""", encoding="utf-8")
    with pytest.raises(RulesInvalid) as info:
        load_ruleset([pack])
    assert [e.code for e in info.value.errors] == ["RULES_ID_RESERVED"]
    assert info.value.errors[0].line == 7 and "reserved" in info.value.errors[0].reason
    code, err, _ = scan("--rules", pack, apks["clean"])
    assert code == 2 and "is reserved" in err
    lint = CliRunner().invoke(main, ["rules", "lint", str(pack)])
    assert lint.exit_code == 2


def test_a_rule_lends_tags_only_to_its_own_packs_findings():
    """Even a rule set built without the loader: a ``bytedance.vendor`` rule of another pack
    does not make the shipped pack's vendor finding a TikTok one."""
    intruder = RulePack("mine", "Mine", "1", "", rules=[Rule(id="bytedance.vendor", vendor="Mine", app="x",
                                                             pack="mine", tags=["tiktok"],
                                                             packages=["com.example.unrelated"])])
    rules = RuleSet(load_ruleset().packs + [intruder])
    finding = Finding(rule="bytedance.vendor", vendor="ByteDance", app="ByteDance (app not identified)",
                      strength="confirmed", kind="app", pack="bytedance",
                      evidence=[Evidence("signer.sha256", "00" * 32, "certificate", "BYTEDANCE_MICROCAO", True)])
    policy = load_policy("canada-house-of-commons-2023")
    decide(build_identity("com.example.video"), [finding], policy, rules)
    assert finding.policy is None or "tiktok" not in finding.policy["decision"]
    own = Finding(rule="bytedance.vendor", vendor="Mine", app="x", strength="weak", kind="app", pack="mine",
                  evidence=[Evidence("package", "com.example.unrelated", "package", "com.example.unrelated")])
    decide(build_identity("com.example.unrelated"), [own], policy, rules)
    assert own.policy is not None and "tiktok" in own.policy["decision"]


def test_user_pack_reusing_a_shipped_pack_name_is_refused(tmp_path, apks):
    pack = tmp_path / "shadow.yaml"
    pack.write_text("""schema: apkscan-rules/1
pack: bytedance
vendor: ByteDance
version: "1"
reviewed: "2026-01-01"
rules:
  - id: shadow.app
    app: Something
    references: [mine]
    match: {package: [com.example.unrelated]}
""", encoding="utf-8")
    with pytest.raises(RulesInvalid) as info:
        load_ruleset([pack])
    assert [e.code for e in info.value.errors] == ["RULES_ID_RESERVED"]
    assert "already used by" in info.value.errors[0].reason
    assert "rename the pack" in info.value.errors[0].reason  # not "replace with --no-builtin-rules": also refused
    assert "with --no-builtin-rules too" in info.value.errors[0].reason
    with pytest.raises(RulesInvalid) as info:  # replacing is explicit, and under its own name (review 64 F6)
        load_ruleset([pack], builtin=False)
    assert [e.code for e in info.value.errors] == ["RULES_ID_RESERVED"] and "is a shipped pack's" in info.value.errors[0].reason
    code, err, _ = scan("--rules", pack, apks["clean"])
    assert code == 2 and "--no-builtin-rules" in err


# --- F10 and NIT: indicator files ----------------------------------------------------------------

def _bundle(*patterns: str, malware: str = "spy") -> dict:
    objects = [{"type": "malware", "id": "malware--1", "name": malware}]
    for i, p in enumerate(patterns):
        objects += [{"type": "indicator", "id": f"indicator--{i}", "pattern": p},
                    {"type": "relationship", "id": f"relationship--{i}", "relationship_type": "indicates",
                     "source_ref": f"indicator--{i}", "target_ref": "malware--1"}]
    return {"type": "bundle", "id": "bundle--1", "objects": objects}


def _write(path: Path, bundle: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


DOMAIN = "[domain-name:value = 'evil.example']"  # file:hashes are matched since review 90 F2


@pytest.mark.parametrize("patterns", [
    (DOMAIN,), ("[file:hashes.'SHA-256' = '" + "ab" * 31 + "']",), ('[app:id = "com.example.ownclean"]',),
    ("[app:id = 'a' OR app:id = 'com.example.ownclean']",), (),
])
def test_indicator_file_without_a_usable_indicator_is_refused(tmp_path, apks, patterns):
    f = _write(tmp_path / "feed.stix2", _bundle(*patterns))
    with pytest.raises(RulesInvalid) as info:
        load_ruleset(builtin=False, iocs=[f])
    assert [e.code for e in info.value.errors] == ["RULES_IOC_EMPTY"]
    code, err, _ = scan("--iocs", f, apks["clean"])
    assert code == 2 and "no indicator apkscan can match" in err
    if patterns and ("hashes" in patterns[0] or "domain" in patterns[0]):
        assert "apkscan reads only" in err and "file:hashes.sha256|sha1|md5" in err


def test_skipped_indicators_are_counted_on_stderr_and_the_rest_used(tmp_path, apks):
    f = _write(tmp_path / "feed.stix2", _bundle(DOMAIN, "[app:id = 'com.example.ownclean']", DOMAIN))
    code, err, doc = scan("--iocs", f, apks["clean"])
    assert code in (0, 1), err
    assert "warning: RULES_IOC_SKIPPED" in err and "2 indicators left out" in err and "domain-name" in err
    assert [x["rule"] for x in doc["apps"][0]["findings"]] == ["ioc.feed.spy"]
    assert doc["apps"][0]["verdict"] == "review"


def test_two_indicator_files_of_one_name_both_load(tmp_path, apks):
    a = _write(tmp_path / "a" / "indicators.stix2", _bundle("[app:id = 'com.example.other']", malware="evil"))
    b = _write(tmp_path / "b" / "indicators.stix2", _bundle("[app:id = 'com.example.ownclean']", malware="evil"))
    rules = load_ruleset(builtin=False, iocs=[a, b])
    assert [p.name for p in rules.packs] == ["ioc.indicators", "ioc.indicators-2"]
    assert [r.id for r in rules.rules] == ["ioc.indicators.evil", "ioc.indicators-2.evil"]
    with pytest.raises(RulesInvalid, match="given twice"):  # one file twice is no second feed
        load_ruleset(builtin=False, iocs=[a, b, tmp_path / "a" / ".." / "a" / "indicators.stix2"])
    code, err, doc = scan("--iocs", a, "--iocs", b, apks["clean"])
    assert code in (0, 1), err
    assert [x["rule"] for x in doc["apps"][0]["findings"]] == ["ioc.indicators-2.evil"]


def test_malware_named_vendor_gets_no_synthetic_id(tmp_path):
    f = _write(tmp_path / "feed.stix2", _bundle("[app:id = 'com.example.x']", malware="Vendor"))
    assert [r.id for r in load_ruleset(builtin=False, iocs=[f]).rules] == ["ioc.feed.vendor-indicators"]


# --- F12: shared keys are not exported as stand-alone indicators --------------------------------

def test_export_leaves_shared_certificates_out_with_a_note():
    rules = load_ruleset()
    shared = {(r.id, rc.cert.sha256) for r in rules.rules for rc in r.certificates if rc.shared}
    assert shared, "the shipped packs mark the Micro Cao key shared"
    bundle = export_stix(rules)
    objs = {o["id"]: o for o in bundle["objects"]}
    rule_of = {o["id"]: o["description"].split()[2] for o in objs.values() if o["type"] == "malware"}
    exported = set()
    for rel in (o for o in objs.values() if o["type"] == "relationship"):
        pattern = objs[rel["source_ref"]]["pattern"]
        assert " AND " not in pattern and pattern.count("=") == 1  # MVT splits at the one '='
        exported.add((rule_of[rel["target_ref"]], pattern.split("'")[1]))
    assert not shared & exported
    trill = next(o for o in objs.values() if o["type"] == "malware" and "bytedance.tiktok" in o["description"]
                 and "left out" in o["description"])
    assert "shared with other apps" in trill["description"]
    # a key the vendor does not share is still exported
    own = {(r.id, rc.cert.sha256) for r in rules.rules if r.kind == "app" for rc in r.certificates
           if not rc.shared and rc.cert.sha256}
    assert own and own <= exported


# --- NIT: rules lint warns about decisions no loaded rule can satisfy ---------------------------

def test_lint_warns_about_selectors_nothing_produces(tmp_path):
    policy = tmp_path / "typo.yaml"
    policy.write_text("""schema: apkscan-policy/1
policy: typo
version: "1"
default: allowed
decisions:
  - {id: tag, verdict: prohibited, when: {tags: [tik-tok]}}
  - {id: vendor, verdict: prohibited, when: {vendors: [Bytedance]}}
  - {id: rule, verdict: prohibited, when: {rules: [bytedance.tiktokk]}}
  - {id: fine, verdict: review, when: {tags: [tiktok], vendors: [Byte*], rules: [bytedance.vendor, "ioc.*"]}}
""", encoding="utf-8")
    res = CliRunner().invoke(main, ["rules", "lint", str(policy)])
    assert res.exit_code == 0  # a warning: the file is valid
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning: POLICY_SELECTS_NOTHING")]
    assert len(warnings) == 3, res.stderr
    assert all(f"decision {d!r}" in w for d, w in zip(("tag", "vendor", "rule"), warnings, strict=True))
    shipped = CliRunner().invoke(main, ["rules", "lint"])
    assert shipped.exit_code == 0 and "POLICY_SELECTS_NOTHING" not in shipped.stderr
