"""A saved document whose app ``verdict`` contradicts its first policy's ``verdicts`` entry is
refused (review 19 #4): the views count ``verdict``, ``--fail-on`` reads ``verdicts``, so an
edited document could show "14 prohibited" and exit 0, or "0 prohibited" and exit 1."""

from __future__ import annotations

import json

import pytest

from cli_helpers import fixture, run


@pytest.fixture
def scanned(tmp_path):
    out = tmp_path / "s.json"
    res = run("scan", fixture("wechat-tencent-subject.apk"), fixture("clean-v1v2v3.apk"), "--no-store", "-q",
              "--json", out)
    assert res.returncode == 1, res.stderr
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("edit", ["verdicts", "verdict"])
def test_report_and_diff_refuse_a_verdict_that_contradicts_the_first_policys(scanned, tmp_path, edit):
    original = tmp_path / "orig.json"
    original.write_text(json.dumps(scanned), encoding="utf-8")
    i, app = next((i, a) for i, a in enumerate(scanned["apps"]) if a["verdict"] == "prohibited")
    first = scanned["policies"][0]["name"]
    if edit == "verdicts":  # the exit code would say "allowed", the counts "prohibited"
        app["verdicts"][first]["verdict"] = "allowed"
    else:  # the counts would say "allowed", the exit code "prohibited"
        app["verdict"] = "allowed"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(scanned), encoding="utf-8")
    res = run("report", edited, "--fail-on", "prohibited", "--html", tmp_path / "r.html")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"DOCUMENT_MALFORMED: apps/{i}/verdicts/{first}/verdict:" in res.stderr
    assert not (tmp_path / "r.html").exists() and "prohibited" not in res.stdout
    res = run("diff", original, edited)
    assert res.returncode == 2 and "DOCUMENT_MALFORMED" in res.stderr, res.stderr


def test_an_app_without_its_first_policys_verdict_is_refused(scanned, tmp_path):
    app = next(a for a in scanned["apps"] if a["verdict"] == "prohibited")
    app["verdicts"] = {"another-policy": app["verdicts"].popitem()[1]}
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(scanned), encoding="utf-8")
    res = run("report", edited, "--fail-on", "prohibited")
    assert res.returncode == 2 and "no verdict for the first policy" in res.stderr, res.stderr


def test_a_consistent_document_still_renders_and_flags(scanned, tmp_path):
    doc = tmp_path / "s.json"
    doc.write_text(json.dumps(scanned), encoding="utf-8")
    res = run("report", doc, "--fail-on", "prohibited")
    assert res.returncode == 1 and "1 prohibited" in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize("unnamed", ["no-policies-null-policy", "policy-as-a-string", "empty-names"])
@pytest.mark.parametrize("edit", ["verdicts", "verdict"])
def test_the_check_holds_when_the_document_names_no_first_policy(scanned, tmp_path, unnamed, edit):
    """``policies: []`` with ``policy`` null or a string (1.0), or nameless policies, used to skip
    the check: "1 prohibited" on screen and exit 0 (review 22 #5)."""
    first = scanned["policies"][0]["name"]
    if unnamed == "empty-names":
        scanned["policies"][0]["name"] = scanned["policy"]["name"] = ""
        for a in scanned["apps"]:
            a["verdicts"] = {"": a["verdicts"][first]}
        first = ""
    else:
        scanned["policies"] = []
        scanned["policy"] = None if unnamed == "no-policies-null-policy" else first
    i, app = next((i, a) for i, a in enumerate(scanned["apps"]) if a["verdict"] == "prohibited")
    consistent = tmp_path / "consistent.json"
    consistent.write_text(json.dumps(scanned), encoding="utf-8")
    res = run("report", consistent, "--fail-on", "prohibited")
    assert res.returncode == 1 and "1 prohibited" in res.stdout, res.stdout + res.stderr
    if edit == "verdicts":
        app["verdicts"][first]["verdict"] = "allowed"
    else:
        app["verdict"] = "allowed"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(scanned), encoding="utf-8")
    res = run("report", edited, "--fail-on", "prohibited", "--csv", tmp_path / "r.csv")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"DOCUMENT_MALFORMED: apps/{i}/verdicts/{first}/verdict:" in res.stderr
    assert not (tmp_path / "r.csv").exists()
