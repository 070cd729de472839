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
    out = Path(tempfile.mkdtemp(prefix="apkscan-out-")) / "out.json"  # never beside the inputs
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
