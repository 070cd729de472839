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
