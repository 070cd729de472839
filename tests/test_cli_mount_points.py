"""Review 52 F2: a folder *inside* an input mounted a second time (``mount --bind ev/dev1/sdcard
/mnt/x``) gave the evidence a path that shares no prefix and no ancestor inode with the input, and
``--json /mnt/x/r.json`` wrote into it. Real mounts, in a user and mount namespace of their own
(``unshare -rm``), each run the real command on real APK bytes; the evidence is checked by hash.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from cli_helpers import ROOT, copy, invoke, tree_hashes

DRIVER = """
import json, subprocess, sys
plan = json.loads(sys.argv[1])
for step in plan["setup"]:
    subprocess.run(step, check=True)
runs = [subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True)
        for args in plan["runs"]]
print(json.dumps([[r.returncode, r.stderr] for r in runs]))
"""


def in_namespace(setup: list[list[str]], runs: list[list[str]]) -> list[tuple[int, str]]:
    """Run ``setup`` (mounts) then each apkscan command in a new user and mount namespace: the
    mounts vanish with it. Returns each run's exit code and stderr."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("no user and mount namespaces here (unshare -rm)")
    plan = json.dumps({"setup": setup, "runs": [[str(a) for a in r] for r in runs]})
    res = subprocess.run(["unshare", "-rm", sys.executable, "-c", DRIVER, plan], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}, timeout=600)
    assert res.returncode == 0, res.stderr
    return [tuple(r) for r in json.loads(res.stdout)]


@pytest.fixture
def evidence(tmp_path):
    """``ev/dev1/sdcard`` holds an APK and ``reports -> ../../../victim`` (a link planted in the evidence)."""
    sdcard = tmp_path / "ev" / "dev1" / "sdcard"
    copy("clean-v1v2v3.apk", sdcard / "app.apk")
    (tmp_path / "victim").mkdir()
    os.symlink("../../../victim", sdcard / "reports")
    return tmp_path / "ev", sdcard


def test_outputs_through_a_second_mount_point_of_a_sub_folder_are_refused(evidence, tmp_path):
    ev, sdcard = evidence
    x = tmp_path / "x"
    x.mkdir()
    before = tree_hashes(tmp_path)
    q = ["scan", ev, "-q", "--no-store"]
    results = in_namespace([["mount", "--bind", str(sdcard), str(x)]], [
        [*q, "--json", x / "r.json"],
        [*q, "--html", x / "new" / "sub" / "r.html"],  # its folders not made yet
        [*q, "--jsonl", x / "s.jsonl"],
        ["scan", ev, "-q", "--store", x / "st.sqlite", "--json", tmp_path / "o.json"],
        [*q, "--tmp-dir", x / "tmp", "--json", tmp_path / "o.json"],
        ["inspect", ev, "--json", x / "i.json"],
        [*q, "--json", x / "reports" / "r.json"],  # out through the planted link, reached by the mount
        ["scan", x, "-q", "--no-store", "--json", sdcard / "r.json"],  # the input named through the mount
    ])
    for code, err in results[:6]:
        assert code == 2 and f"is inside the input {ev}" in err, err
    assert f"(it is {sdcard / 'r.json'} through another mount point)" in results[0][1]  # the name that is in it
    assert results[6][0] == 2 and "goes through the link" in results[6][1], results[6]
    assert results[7][0] == 2 and f"is inside the input {x}" in results[7][1], results[7]  # (51 F1 already)
    assert tree_hashes(tmp_path) == before and not (tmp_path / "o.json").exists()
    assert os.listdir(tmp_path / "victim") == [] and sorted(os.listdir(sdcard)) == ["app.apk", "reports"]


def test_a_nested_mount_reached_through_another_mount_point_is_refused(evidence, tmp_path):
    """A filesystem mounted inside the evidence (``ev/card``, a tmpfs here) and a folder of it mounted
    again elsewhere: the output's filesystem is not the input's, only the nested mount ties them."""
    ev, _ = evidence
    card, d, t = ev / "card", tmp_path / "d", tmp_path / "t"
    for folder in (card, d, t):
        folder.mkdir()
    before = tree_hashes(tmp_path)
    results = in_namespace([["mount", "-t", "tmpfs", "card", str(card)], ["mkdir", str(card / "dcim")],
                            ["mount", "--bind", str(card / "dcim"), str(d)], ["mount", "--bind", str(card), str(t)]], [
        ["scan", ev, "-q", "--no-store", "--json", d / "r.json"],
        ["scan", ev, "-q", "--no-store", "--csv", t / "dcim" / "r.csv"],
        ["scan", ev, "-q", "--no-store", "--tmp-dir", t / "tmp"],
    ])
    for code, err in results:
        assert code == 2 and f"is inside the input {ev}" in err, err
    assert tree_hashes(tmp_path) == before


def test_escaped_mount_point_names(evidence, tmp_path):
    """mountinfo writes a space, tab, newline or backslash in a mount point as an octal escape."""
    ev, sdcard = evidence
    names = [tmp_path / "a b", tmp_path / "tab\there", tmp_path / "new\nline", tmp_path / "back\\134slash"]
    for name in names:
        name.mkdir()
    before = tree_hashes(tmp_path)
    results = in_namespace([["mount", "--bind", str(sdcard), str(n)] for n in names],
                           [["scan", ev, "-q", "--no-store", "--json", n / "r.json"] for n in names])
    for code, err in results:
        assert code == 2 and f"is inside the input {ev}" in err, err
    assert tree_hashes(tmp_path) == before


def test_what_lies_outside_the_inputs_is_still_written(evidence, tmp_path):
    """No refusal for a mount point of a folder outside the inputs on the same filesystem, nor for the
    evidence's parent folder beside the input named through a second mount point; and an input that is
    a file, bind-mounted elsewhere as a file, is that file (device and inode: caught before mounts)."""
    ev, sdcard = evidence
    out, o2, x, f = tmp_path / "out", tmp_path / "o2", tmp_path / "x", tmp_path / "f.csv"
    for folder in (out, o2, x):
        folder.mkdir()
    listing = sdcard / "pkgs.txt"  # a device's package listing: an input file that is no APK
    listing.write_text("package:com.example.app\n")
    f.write_bytes(b"")
    results = in_namespace([["mount", "--bind", str(out), str(o2)], ["mount", "--bind", str(sdcard), str(x)],
                            ["mount", "--bind", str(listing), str(f)]], [
        ["scan", ev, "-q", "--no-store", "--json", o2 / "r.json"],
        ["scan", x, "-q", "--no-store", "--json", ev / "dev1" / "beside.json"],
        ["scan", listing, "-q", "--no-store", "--csv", f, "--force"],
        ["scan", f, "-q", "--no-store", "--csv", x / "pkgs.txt", "--force"],
    ])
    assert [r[0] for r in results] == [0, 0, 2, 2], results
    assert "is the input" in results[2][1] and "is the input" in results[3][1]
    assert (out / "r.json").is_file() and (ev / "dev1" / "beside.json").is_file()
    assert listing.read_text() == "package:com.example.app\n"


def test_no_mount_table_falls_back_and_says_so(evidence, tmp_path, monkeypatch):
    """/proc not mounted (or unreadable): the checks without it still hold, and the run says what it
    could not check."""
    from apkscan.cli import mounts

    ev, sdcard = evidence
    monkeypatch.setattr(mounts, "MOUNTINFO", str(tmp_path / "no-proc" / "mountinfo"))
    res = invoke("scan", ev, "-q", "--no-store", "--json", sdcard / "r.json")
    assert res.exit_code == 2 and "is inside the input" in res.output, res.output
    res = invoke("scan", ev, "-q", "--no-store", "--json", tmp_path / "r.json")
    assert res.exit_code == 0 and (tmp_path / "r.json").is_file(), res.output
    if sys.platform.startswith("linux"):
        assert res.output.count("warning: MOUNT_TABLE_UNREADABLE: ") == 1
        from apkscan.issue_codes import meaning  # the registered text, as every CLI warning says its issue

        assert f"warning: MOUNT_TABLE_UNREADABLE: {meaning('MOUNT_TABLE_UNREADABLE')}\n" in res.output
