"""``diff`` with an interrupted scan on either side (review 19 #3): a SIGTERM'd newer audit lacks
the apps it did not reach; they must not read as "removed, nothing got worse", exit 0."""

from __future__ import annotations

import json

import pytest

from cli_helpers import run, scanned_document


@pytest.fixture
def audits(tmp_path):
    full, doc = scanned_document(tmp_path, "full.json")
    doc["apps"] = [a for a in doc["apps"] if a["verdict"] != "prohibited"]  # what finished before the signal
    doc["interrupted"] = True
    part = tmp_path / "part.json"
    part.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return full, part


def test_an_interrupted_newer_scan_is_incomplete_in_every_output(audits, tmp_path):
    full, part = audits
    res = run("diff", full, part, "--json", tmp_path / "d.json", "--html", tmp_path / "d.html")
    assert res.returncode == 3, res.stdout + res.stderr
    assert "DIFF_SCAN_INTERRUPTED" in res.stdout and "nothing got worse" not in res.stdout
    assert "INCOMPLETE" in res.stdout and "- com.tencent.mm" in res.stdout
    out = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    assert out["complete"] is False and out["new"]["interrupted"] is True and out["old"]["interrupted"] is False
    assert [n["code"] for n in out["notes"] if n["code"] != "DIFF_POLICY_UNCERTAIN"] == ["DIFF_SCAN_INTERRUPTED"]
    page = (tmp_path / "d.html").read_text(encoding="utf-8")
    assert 'class="banner interrupted"' in page and "(incomplete: a scan was interrupted)</title>" in page


def test_an_interrupted_older_scan_is_incomplete_and_worse_still_wins(audits, tmp_path):
    full, part = audits
    res = run("diff", part, full)  # the prohibited app is "added": worse (1) beats incomplete (3)
    assert res.returncode == 1 and "DIFF_SCAN_INTERRUPTED" in res.stdout and "INCOMPLETE" in res.stdout
    res = run("diff", part, part)
    assert res.returncode == 3 and "nothing got worse" not in res.stdout


def test_two_complete_scans_still_exit_0(audits):
    full, _ = audits
    res = run("diff", full, full)
    assert res.returncode == 0 and "nothing got worse" in res.stdout and "DIFF_SCAN_INTERRUPTED" not in res.stdout
