"""``rules lint --iocs`` says POLICY_NO_IOC_DECISION as ``scan --iocs`` does (review 91 B).

A policy that names no ``ioc.<stem>.*`` decision leaves a confirmed indicator match to its default,
raised to ``review`` by the indicator floor: the scan warned, the linter could not (it took no
indicator file). Real STIX2 files, real policy files; the lint's word compared with the scan's.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main

REPO = Path(__file__).resolve().parents[1]
CLEAN = REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"
VENDOR_ONLY = """schema: apkscan-policy/1
policy: vendor-only
version: "1"
default: allowed
decisions:
  - id: no-bytedance
    verdict: prohibited
    when: {vendors: [ByteDance]}
"""
DECIDED = VENDOR_ONLY.replace("policy: vendor-only", "policy: feed-decided") + """  - id: feed-ok
    verdict: review
    when: {rules: ["ioc.feed.*"]}
"""


def _files(tmp_path: Path) -> tuple[str, str, str]:
    pkg = {"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "id": "indicator--1", "pattern_type": "stix",
         "pattern": "[app:id = 'com.example.clean']"}]}
    (tmp_path / "feed.stix2").write_text(json.dumps(pkg), encoding="utf-8")
    (tmp_path / "vendor-only.yaml").write_text(VENDOR_ONLY, encoding="utf-8")
    (tmp_path / "decided.yaml").write_text(DECIDED, encoding="utf-8")
    return str(tmp_path / "feed.stix2"), str(tmp_path / "vendor-only.yaml"), str(tmp_path / "decided.yaml")


def _lint(*args: str):
    return CliRunner().invoke(main, ["rules", "lint", *args])


def _said(stderr: str) -> list[str]:
    return [x for x in stderr.splitlines() if "POLICY_NO_IOC_DECISION" in x]


def test_lint_says_what_the_scan_says_of_a_policy_with_no_ioc_decision(tmp_path):
    feed, undecided, _ = _files(tmp_path)
    scan = CliRunner().invoke(main, ["scan", "--no-store", "-q", "--iocs", feed, "--policy", undecided, str(CLEAN)])
    assert _said(scan.stderr)  # the scan's word, the oracle
    for args in (["--iocs", feed, "--policy", undecided], ["--iocs", feed, undecided]):
        res = _lint(*args)
        said = _said(res.stderr)
        assert res.exit_code == 0 and len(said) == 1, res.output
        assert "ioc.feed" in said[0] and "vendor-only.yaml" in said[0] and "'allowed'" in said[0]


def test_lint_is_quiet_for_a_policy_that_decides_the_feed_and_without_iocs(tmp_path):
    feed, undecided, decided = _files(tmp_path)
    res = _lint("--iocs", feed, "--policy", decided)
    assert res.exit_code == 0 and not _said(res.stderr), res.output
    res = _lint("--policy", undecided)  # no indicator file: nothing to decide
    assert res.exit_code == 0 and not _said(res.stderr), res.output
    both = _lint("--iocs", feed, "--policy", decided, "--policy", undecided)
    assert [("vendor-only.yaml" in x) for x in _said(both.stderr)] == [True]


def test_lint_refuses_a_bad_feed_and_an_unknown_policy_as_the_scan_does(tmp_path):
    feed, undecided, _ = _files(tmp_path)
    res = _lint("--iocs", str(tmp_path / "missing.stix2"), "--policy", undecided)
    assert res.exit_code == 2 and "RULES_UNREADABLE" in res.stderr
    res = _lint("--iocs", feed, "--policy", "no-such-policy")
    assert res.exit_code == 2 and "POLICY_NOT_FOUND" in res.stderr
