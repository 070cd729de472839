"""A policy decision that selects nothing of the run's rules is said by ``scan`` (review 40 F4).

``vendors: [Tencnet]`` (a typo in a value, which no schema can catch) made WeChat ``allowed`` with
exit 0 and not a word; only ``rules lint`` said it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main

WECHAT = Path(__file__).resolve().parents[1] / "fixtures" / "apks" / "wechat-tencent-subject.apk"
TYPO = """schema: apkscan-policy/1
policy: typo
version: "1"
default: allowed
decisions:
  - id: no-wechat
    verdict: prohibited
    when: {vendors: [Tencnet]}
"""


def _scan(*args: str):
    out = Path(tempfile.mkdtemp(prefix="apkscan-out-")) / "out.json"
    res = CliRunner().invoke(main, ["scan", "--no-store", "-q", "--json", str(out), *args, str(WECHAT)])
    return res, json.loads(out.read_text(encoding="utf-8"))


def test_a_decision_selecting_no_loaded_vendor_is_said(tmp_path):
    policy = tmp_path / "typo.yaml"
    policy.write_text(TYPO, encoding="utf-8")
    res, doc = _scan("--policy", str(policy))
    assert doc["apps"][0]["verdict"] == "allowed"  # what the policy says, as written...
    assert "POLICY_SELECTS_NOTHING" in res.stderr and "'Tencnet'" in res.stderr  # ...but not silently


def test_the_shipped_policy_over_the_shipped_rules_says_nothing():
    res, doc = _scan()
    assert doc["apps"][0]["verdict"] == "prohibited" and "POLICY_SELECTS_NOTHING" not in res.stderr


def test_the_reports_carry_it_too(tmp_path):
    """Whoever reads only the filed report sees the dead decision (review 41 F9): the policy's
    ``notices`` in JSON, the run's notices in HTML and SARIF, and again when the JSON is re-rendered."""
    policy = tmp_path / "typo.yaml"
    policy.write_text(TYPO, encoding="utf-8")
    html, sarif = tmp_path / "r.html", tmp_path / "r.sarif"
    res, doc = _scan("--policy", str(policy), "--html", str(html), "--sarif", str(sarif))
    said = doc["policies"][0]["notices"]
    assert doc["policy"]["notices"] == said and len(said) == 1
    assert said[0].startswith("POLICY_SELECTS_NOTHING: ") and "'Tencnet'" in said[0]
    props = json.loads(sarif.read_text(encoding="utf-8"))["runs"][0]["properties"]
    assert props["ruleNotices"] == [f"policy typo: {said[0]}"]
    page = html.read_text(encoding="utf-8")
    assert "Rule and policy notices" in page and "Tencnet" in page
    src = tmp_path / "doc.json"
    src.write_text(json.dumps(doc), encoding="utf-8")
    again = tmp_path / "again.html"
    res = CliRunner().invoke(main, ["report", str(src), "--html", str(again)])
    assert res.exit_code == 0 and "Tencnet" in again.read_text(encoding="utf-8")


def test_a_policy_that_selects_something_has_no_notices():
    _res, doc = _scan()
    assert "notices" not in doc["policies"][0] and "notices" not in doc["policy"]
