"""Review 65 H1: what a policy names but cannot detect is said in every report a person reads.

An APK of DeepSeek or RedNote (both in the Texas policy's own ``covers:``, no shipped rule for
either) came out ``allowed`` with no finding, and only the JSON's ``policies[].uncertain`` said
the policy cannot detect them: the terminal summary, the HTML report and SARIF were silent. Each
now shows every policy's ``uncertain`` items, once per policy (not per app), in a scan and in
``apkscan report`` alike; CSV rows are per app, so docs/reports.md points CSV users at the JSON.
"""

from __future__ import annotations

import json

import pytest
import yaml
from cli_helpers import run
from conftest import REPO
from test_match_strength import _apk, gen  # noqa: F401

TEXAS = "texas-prohibited-tech"
HEAD = "uncertain (what it cannot detect, what its sources leave open):"


def _uncertain(name: str) -> list[str]:
    data = yaml.safe_load((REPO / "signatures" / "policies" / f"{name}.yaml").read_text(encoding="utf-8"))
    return data["uncertain"]


def _block(stdout: str, name: str) -> list[str]:
    """The items under ``name``'s heading in a terminal summary."""
    lines = stdout.splitlines()
    start = lines.index(f"{name}, {HEAD}")
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("  - "):
            break
        out.append(line[4:])
    return out


@pytest.fixture
def texas_run(gen, tmp_path):  # noqa: F811
    """Real APKs (fixtures/generate.py, apksigner) of two apps the Texas policy names but no
    rule detects, scanned under it into every format."""
    for name, package, label in [("deepseek.apk", "com.deepseek.chat", "DeepSeek"),
                                 ("rednote.apk", "com.xingin.xhs", "RedNote")]:
        _apk(gen, tmp_path, name, package, label, "unlisted-new")
    out = {f: tmp_path / f"tx.{f}" for f in ("json", "html", "sarif", "csv")}
    res = run("scan", "--no-store", "--policy", TEXAS, *[a for f, p in out.items() for a in (f"--{f}", p)],
              tmp_path / "in")
    assert res.returncode == 0, res.stderr
    return res, out


def test_texas_says_what_it_cannot_detect_in_the_summary_sarif_and_report(texas_run):
    res, out = texas_run
    doc = json.loads(out["json"].read_text(encoding="utf-8"))
    assert [a["verdict"] for a in doc["apps"]] == ["allowed", "allowed"]  # still allowed: nothing detects them
    want = _uncertain(TEXAS)
    assert any("RedNote, DeepSeek" in u for u in want) and any("2026-01-26" in u for u in want)
    assert doc["policies"][0]["uncertain"] == want
    # the terminal summary of an all-allowed run (its short path) says it once, not per app
    assert _block(res.stdout, TEXAS) == want
    assert res.stdout.count(HEAD) == 1
    # SARIF: the run's properties
    sarif = json.loads(out["sarif"].read_text(encoding="utf-8"))
    assert sarif["runs"][0]["properties"]["policyUncertain"] == {TEXAS: want}
    # re-rendered from the JSON (the typed document's path): the same block
    again = run("report", out["json"])
    assert again.returncode == 0, again.stderr
    assert _block(again.stdout, TEXAS) == want
    again_sarif = out["json"].parent / "again.sarif"
    assert run("report", out["json"], "--sarif", again_sarif).returncode == 0
    assert json.loads(again_sarif.read_text())["runs"][0]["properties"]["policyUncertain"] == {TEXAS: want}
    # CSV rows stay one per app: no caveat row, no comment line before the header
    rows = out["csv"].read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("verdict,")
    assert not any("RedNote, DeepSeek" in r for r in rows)
    assert [r.split(",")[0] for r in rows[1:]] == ["allowed", "allowed"]


def test_every_policy_with_uncertain_items_says_them_once_and_a_flagged_run_too(gen, tmp_path):  # noqa: F811
    """Two policies, a prohibited app (the summary's full path): a block per policy, in scan order."""
    _apk(gen, tmp_path, "tiktok.apk", "com.zhiliaoapp.musically", "TikTok", "unlisted-new")
    _apk(gen, tmp_path, "deepseek.apk", "com.deepseek.chat", "DeepSeek", "unlisted-new")
    res = run("scan", "--no-store", "--policy", TEXAS, "--policy", "canada-tbs-2023", "--policy", "vendor-watch",
              tmp_path / "in")
    assert res.returncode == 1, res.stderr
    assert _block(res.stdout, TEXAS) == _uncertain(TEXAS)
    assert _block(res.stdout, "canada-tbs-2023") == _uncertain("canada-tbs-2023")
    assert "vendor-watch, uncertain" not in res.stdout  # nothing uncertain: no block
    assert res.stdout.index(f"{TEXAS}, {HEAD}") < res.stdout.index(f"canada-tbs-2023, {HEAD}")
    assert res.stdout.count(HEAD) == 2


def test_an_edited_documents_uncertain_items_are_escaped_and_bounded(tmp_path, texas_run):
    """A saved document is hostile: its items are shown escaped, 12 at most, each cut."""
    _, out = texas_run
    doc = json.loads(out["json"].read_text(encoding="utf-8"))
    items = ["\x1b[2Jwiped \u202eevil"] + [f"item {i} " + "x" * 5000 for i in range(99)]
    doc["policies"][0]["uncertain"] = doc["policy"]["uncertain"] = items
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    res = run("report", edited)
    assert res.returncode == 0, res.stderr
    shown = _block(res.stdout, TEXAS)
    assert len(shown) == 12 and "\x1b" not in res.stdout and "\u202e" not in res.stdout
    assert shown[0].startswith("\\x1b[2Jwiped") and all(len(s) < 450 for s in shown)
    assert "... and 88 more" in res.stdout
    # a mistyped one is refused with the document (the schema pins a list of texts)
    doc["policies"][0]["uncertain"] = 5
    edited.write_text(json.dumps(doc), encoding="utf-8")
    bad = run("report", edited)
    assert bad.returncode == 2 and "uncertain" in bad.stderr
