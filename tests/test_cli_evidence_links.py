"""Review 49: outputs named through a link planted in the evidence, the store's sidecar files,
and files the run reads besides its inputs (rules, passwords) are refused, never written.

Each case runs the real command on real APK bytes and checks the link's target, the evidence and
the side files by hash: nothing is created, replaced or deleted there.
"""

from __future__ import annotations

import os

import pytest
from cli_helpers import ROOT, copy, invoke, tree_hashes


@pytest.fixture
def planted(tmp_path):
    """``ev/`` holds an APK and ``reports -> ../victim``; ``victim/`` holds another case's report."""
    ev, victim = tmp_path / "ev", tmp_path / "victim"
    copy("clean-v1v2v3.apk", ev / "app.apk")
    victim.mkdir()
    res = invoke("scan", str(ev / "app.apk"), "--no-store", "-q", "--json", str(victim / "case-2025.json"))
    assert res.exit_code == 0, res.output
    os.symlink("../victim", ev / "reports")
    return ev, victim


@pytest.mark.parametrize("option", [
    ["--json", "{ev}/reports/case-2025.json"],  # another case's apkscan report: replaced without --force before
    ["--csv", "{ev}/reports/notes.txt", "--force"],
    ["--html", "{ev}/reports/sub/r.html"],
    ["--sarif", "{ev}/reports/../r2.sarif"],  # written to the victim's parent by the system
    ["--jsonl", "{ev}/reports/s.jsonl"],
    ["--store", "{ev}/reports/store.sqlite", "--json", "{tmp}/out.json"],
    ["--tmp-dir", "{ev}/reports/tmp", "--json", "{tmp}/out.json"],
])
def test_a_path_through_a_link_in_the_evidence_is_refused(planted, tmp_path, option):
    ev, victim = planted
    before = tree_hashes(tmp_path)
    args = [a.format(ev=ev, tmp=tmp_path) for a in option]
    no_store = [] if "--store" in args else ["--no-store"]
    res = invoke("scan", str(ev), "-q", *no_store, *args)
    assert res.exit_code == 2, res.output
    assert "as written" in res.output
    assert tree_hashes(tmp_path) == before
    assert sorted(os.listdir(victim)) == ["case-2025.json"] and not (tmp_path / "r2.sarif").exists()


def test_the_same_outputs_outside_the_evidence_are_written(planted, tmp_path):
    """The check is about the path as written, not about links anywhere: a report beside the evidence
    is still written, and an output folder reached through a link outside the inputs is fine."""
    ev, victim = planted
    os.symlink("victim", tmp_path / "out-link")
    res = invoke("scan", str(ev), "--no-store", "-q", "--json", str(tmp_path / "out-link" / "r.json"),
                 "--jsonl", str(tmp_path / "s.jsonl"))
    assert res.exit_code == 0, res.output
    assert (victim / "r.json").is_file() and (tmp_path / "s.jsonl").is_file()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_a_store_whose_sidecar_is_an_input_is_refused(tmp_path, suffix):
    """SQLite deletes an existing ``X-wal`` when it creates the store ``X``: the input was gone
    before it was read (INPUT_NOT_FOUND)."""
    case = tmp_path / "case"
    sidecar = copy("clean-v1v2v3.apk", case / f"st.sqlite{suffix}")
    before = tree_hashes(tmp_path)
    res = invoke("scan", str(sidecar), "--store", str(case / "st.sqlite"), "-q", "--json", str(tmp_path / "r.json"))
    assert res.exit_code == 2, res.output
    assert f"its {suffix[1:]} file" in res.output and "is the input" in res.output
    assert tree_hashes(tmp_path) == before and not (case / "st.sqlite").exists()


def test_force_never_replaces_a_rule_file_or_the_password_file(tmp_path):
    ev = tmp_path / "ev"
    copy("clean-v1v2v3.apk", ev / "app.apk")
    rules = tmp_path / "rules" / "my.yaml"
    rules.parent.mkdir()
    rules.write_text((ROOT / "signatures" / "tencent.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    password = tmp_path / "pw.txt"
    password.write_text("secret\n")
    before = tree_hashes(tmp_path)
    for args in (["--no-builtin-rules", "--rules", str(rules), "--json", str(rules), "--force"],
                 ["--no-builtin-rules", "--rules", str(rules.parent), "--csv", str(rules.parent / "r.csv"), "--force"],
                 ["--password-file", str(password), "--csv", str(password), "--force"],
                 ["--password-file", str(password), "--jsonl", str(password), "--force"]):
        res = invoke("scan", str(ev), "--no-store", "-q", *args)
        assert res.exit_code == 2, (args, res.output)
        assert "is the input" in res.output or "is inside the input" in res.output, res.output
    assert tree_hashes(tmp_path) == before
