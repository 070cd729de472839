"""Review 49: outputs named through a link planted in the evidence, the store's sidecar files,
and files the run reads besides its inputs (rules, passwords) are refused, never written.

Each case runs the real command on real APK bytes and checks the link's target, the evidence and
the side files by hash: nothing is created, replaced or deleted there.
"""

from __future__ import annotations

import json
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
    assert "goes through the link" in res.output
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


def test_follow_symlinks_never_leaves_the_inputs(tmp_path):
    """Review 49 F5: with --follow-symlinks, links in a seized image to files and folders of the
    examiner's machine (here: a reference copy of WeChat) made WeChat the device's, with its
    custody hash, and said nothing. Links out of the inputs are skipped and said; a link to a
    file inside them is still followed; naming the target scans it."""
    ev, refs = tmp_path / "ev9", tmp_path / "refsamples"
    copy("clean-v1v2v3.apk", ev / "clean.apk")
    copy("wechat-tencent-subject.apk", refs / "wechat.apk")
    os.symlink(refs / "wechat.apk", ev / "base.apk")
    os.symlink(refs, ev / "apps")
    os.symlink("clean.apk", ev / "again.apk")
    res = invoke("scan", str(ev), "--follow-symlinks", "--no-store", "-q", "--json", str(tmp_path / "f.json"))
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "f.json").read_text(encoding="utf-8"))
    assert [a["source"]["path"] for a in doc["apps"]] == [str(ev / "clean.apk")]  # again.apk: read as clean.apk
    assert all(a["verdict"] == "allowed" for a in doc["apps"])
    assert not any(str(refs) in f["path"] or f["path"].endswith("base.apk") for f in doc["input_files"])
    outside = [s for s in doc["skipped"] if s["reason"].startswith("symlink to a file or folder outside the inputs")]
    assert sum(s["count"] for s in outside) == 2
    assert any(f"apps -> {refs}" in e for s in outside for e in s["examples"])
    res = invoke("scan", str(ev), str(refs), "--follow-symlinks", "--no-store", "-q", "--json", str(tmp_path / "g.json"))
    assert res.exit_code == 1, res.output  # the reference folder named: scanned as itself, and through the links


def test_a_path_reaching_the_evidence_by_another_name_still_may_not_leave_through_its_link(planted, tmp_path):
    """Review 50 F1: the analyst's own alias of the evidence folder (``home/case1 -> ../ev``)
    and then the evidence's planted ``reports`` link: neither the real path nor the path as
    written lies inside the input, but a link inside it is on the way. So is a last component
    that is itself a link of the evidence, and a link reached through ``..``."""
    ev, victim = planted
    (tmp_path / "home").mkdir()
    os.symlink("../ev", tmp_path / "home" / "case1")
    os.symlink("../victim/planted.json", ev / "r.json")
    before = tree_hashes(tmp_path)
    for args in (["--json", f"{tmp_path}/home/case1/reports/case-2025.json"],
                 ["--jsonl", f"{tmp_path}/home/case1/reports/s.jsonl"],
                 ["--store", f"{tmp_path}/home/case1/reports/s.sqlite", "--json", f"{tmp_path}/o.json"],
                 ["--tmp-dir", f"{tmp_path}/home/case1/reports/tmp", "--json", f"{tmp_path}/o.json"],
                 ["--json", f"{ev}/r.json"],
                 ["--json", f"{tmp_path}/home/case1/../ev/reports/x.json"]):  # .. of case1 is ev's parent
        store = [] if "--store" in args else ["--no-store"]
        res = invoke("scan", str(ev), "-q", *store, *args)
        assert res.exit_code == 2, (args, res.output)
        assert "goes through the link" in res.output, res.output
    assert tree_hashes(tmp_path) == before and sorted(os.listdir(victim)) == ["case-2025.json"]


def test_no_false_refusal_through_dot_dot_after_a_link(tmp_path):
    """Review 50 F5: the input ``ev/cur/..`` is ``x/y`` (``ev/cur -> ../x/y/z``): ``ev/r.json`` lies
    outside it, and was refused because ``..`` was taken lexically. A folder given to --rules is
    named as a file the run reads in the message."""
    (tmp_path / "x" / "y" / "z").mkdir(parents=True)
    copy("clean-v1v2v3.apk", tmp_path / "x" / "y" / "app.apk")
    (tmp_path / "ev").mkdir()
    os.symlink("../x/y/z", tmp_path / "ev" / "cur")
    res = invoke("scan", str(tmp_path / "ev" / "cur" / ".."), "--no-store", "-q", "--json", str(tmp_path / "ev" / "r.json"))
    assert res.exit_code == 0, res.output
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "my.yaml").write_text((ROOT / "signatures" / "tencent.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    res = invoke("scan", str(tmp_path / "x"), "--no-store", "-q", "--no-builtin-rules", "--rules", str(rules),
                 "--json", str(rules / "r.json"))
    assert res.exit_code == 2 and "(a file this run reads)" in res.output, res.output


def test_a_second_mount_point_of_the_evidence_is_the_evidence(planted, tmp_path):
    """Review 51 F1: a bind mount (a container volume) gives the evidence folder a second real
    path; outputs named under it were written into the evidence or out through its link."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("no user and mount namespaces here (unshare -rm)")
    ev, victim = planted
    (tmp_path / "bindev").mkdir()
    before = tree_hashes(tmp_path)
    script = (f"mount --bind {ev} {tmp_path}/bindev && for out in {tmp_path}/bindev/x.json "
              f"{tmp_path}/bindev/reports/b.json; do {sys.executable} -m apkscan scan -q --no-store {ev} "
              f"--json $out; echo rc=$?; done")
    res = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.stdout.split() == ["rc=2", "rc=2"], res.stdout + res.stderr
    assert "is inside the input" in res.stderr and "goes through the link" in res.stderr
    assert tree_hashes(tmp_path) == before and sorted(os.listdir(victim)) == ["case-2025.json"]


def test_more_links_than_the_system_follows_is_refused(planted, tmp_path):
    """Review 51 F2: past 40 links the check let the path through, but writers resolve with
    Python's realpath, which follows any chain: the spool went out through the planted link."""
    ev, victim = planted
    (tmp_path / "chain").mkdir()
    os.symlink(str(ev), tmp_path / "chain" / "l41")
    for i in range(40, -1, -1):
        os.symlink(f"l{i + 1}", tmp_path / "chain" / f"l{i}")
    for opt in ("--tmp-dir", "--jsonl", "--json"):
        res = invoke("scan", str(ev), "-q", "--no-store", opt, f"{tmp_path}/chain/l0/reports/x")
        assert res.exit_code == 2, (opt, res.output)
    assert sorted(os.listdir(victim)) == ["case-2025.json"]


def test_the_rule_cache_is_not_written_through_a_link_in_the_inputs(tmp_path, monkeypatch):
    """Review 51 F6: ``scan ~`` with ``~/.cache -> elsewhere``: the store there was refused, but the
    rule cache was written through the link."""
    home, outside = tmp_path / "h", tmp_path / "hc"
    outside.mkdir()
    copy("clean-v1v2v3.apk", home / "app.apk")
    os.symlink("../hc", home / ".cache")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    from apkscan.rules import cache

    monkeypatch.setattr(cache, "_writable", cache._writable)  # the run makes it read-only for the process: undone after
    res = invoke("scan", str(home), "-q", "--no-store", "--json", str(tmp_path / "r.json"))
    assert res.exit_code == 0, res.output
    assert list(outside.rglob("*")) == []


def test_links_inside_backup_folders_are_said_not_dropped(tmp_path):
    """Review 51 F5: a symlink in a Titanium or Neo folder vanished: no app, no skipped record."""
    import shutil

    from cli_helpers import FIXTURES

    for name in ("titanium", "neo"):
        shutil.copytree(FIXTURES / "backups" / name, tmp_path / name)
    copy("wechat-tencent-subject.apk", tmp_path / "wechat.apk")
    os.symlink("../wechat.apk", tmp_path / "titanium" / "com.tencent.mm-0123456789abcdef.apk")
    os.symlink("../../wechat.apk", tmp_path / "neo" / "com.tencent.mm" / "linked.apk")
    for extra in ([], ["--follow-symlinks"]):
        res = invoke("scan", str(tmp_path / "titanium"), str(tmp_path / "neo"), "--no-store", "-q",
                     "--json", str(tmp_path / "r.json"), *extra)
        assert res.exit_code == 1, res.output
        doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        said = {e for s in doc["skipped"] if s["reason"].startswith("symlink in a backup folder") for e in s["examples"]}
        assert said == {"com.tencent.mm-0123456789abcdef.apk", "com.tencent.mm/linked.apk"}, doc["skipped"]


def test_one_file_reached_by_two_links_is_one_input(tmp_path):
    """Review 51 F8: with --follow-symlinks, ``f.apk -> sub/w.apk`` and ``in -> sub`` made one file
    two inputs (two apps, two custody records), and the real folder was called a loop."""
    ev = tmp_path / "ev"
    copy("wechat-tencent-subject.apk", ev / "sub" / "w.apk")
    os.symlink("sub", ev / "in")
    os.symlink("sub/w.apk", ev / "f.apk")
    res = invoke("scan", str(ev), "--follow-symlinks", "--no-store", "-q", "--json", str(tmp_path / "r.json"))
    assert res.exit_code == 1, res.output
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert len(doc["apps"]) == 1 and len(doc["input_files"]) == 1 and doc["counts"]["total"] == 1
    reasons = {s["reason"] for s in doc["skipped"]}
    assert any(r.startswith("symlink to a file or folder inside the inputs") for r in reasons), reasons
    assert [a["source"]["path"] for a in doc["apps"]] == [str(ev / "sub" / "w.apk")]  # under its own name


@pytest.mark.parametrize("follow", [[], ["--follow-symlinks"]])
def test_a_link_to_a_split_base_never_pulls_the_set_apart(tmp_path, follow):
    """Review 52 F1: with --follow-symlinks, ``a.apk -> app/base.apk`` was read as a standalone
    base, the real base skipped as the same file, and the planted split (another signer) came out
    as an allowed app of its own: the strong split-mismatch finding was lost."""
    from cli_helpers import FIXTURES

    app = tmp_path / "ev" / "app"
    copy("clean-v1v2v3.apk", app / "base.apk")
    for name, dest in (("clean-config.en.apk", "split_config.en.apk"),
                       ("clean-config.xxhdpi-impostor.apk", "split_config.xxhdpi.apk")):
        (app / dest).write_bytes((FIXTURES / "containers" / "splits" / name).read_bytes())
    os.symlink("app/base.apk", tmp_path / "ev" / "a.apk")
    res = invoke("scan", str(tmp_path / "ev"), "--no-store", "-q", "--json", str(tmp_path / "r.json"), *follow)
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [a["verdict"] for a in doc["apps"]] == ["review"], res.output
    assert any(f["kind"] == "split-mismatch" and f["strength"] == "strong" for f in doc["apps"][0]["findings"])
