"""Issue 10 items 1-2: output paths never touch inputs; exit codes mean one thing each.

Every test runs the real command (click's runner or a subprocess) on real APK bytes and
checks, through ``evidence_unchanged`` and explicit hashes, that no input changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cli_helpers import FIXTURES, ROOT, copy, evidence_unchanged, fixture, invoke, run, tree_hashes  # noqa: F401

pytestmark = pytest.mark.usefixtures("evidence_unchanged")


def test_json_option_cannot_swallow_an_input_apk(tmp_path):
    """Why #1: `scan --json a.apk b.apk -q` overwrote a.apk and exited 0."""
    a, b = copy("clean-v1v2v3.apk", tmp_path / "a.apk"), copy("wechat-impostor.apk", tmp_path / "b.apk")
    before = tree_hashes(tmp_path)
    for cmd in (["scan", "--json", a, b, "-q"], ["scan", b, "--csv", a], ["inspect", "--json", a, b],
                ["report", "--html", a, b]):
        res = invoke(*cmd)
        assert res.exit_code == 2, (cmd, res.output)
        assert "is an existing APK or archive: an input, not a report file" in res.output
    assert tree_hashes(tmp_path) == before


def test_output_is_never_an_input_nor_inside_one_even_with_force(tmp_path):
    notes = tmp_path / "notes.txt"  # an input that is not an APK: the path rule, not the magic check
    notes.write_text("evidence")
    folder = tmp_path / "evidence"
    copy("clean-v1v2v3.apk", folder / "x.apk")
    container = copy("clean-v1v2v3.apk", tmp_path / "device.apk")
    before = tree_hashes(tmp_path)
    cases = [
        (["scan", notes, "--json", notes, "--force"], "is the input"),
        (["scan", folder, "--json", folder / "scan.json", "--force"], "is inside the input"),
        (["scan", folder, "--html", folder / "sub" / "r.html"], "is inside the input"),
        (["scan", container, "--json", tmp_path / "device.apk" / "r.json"], "is inside the input"),
        (["inspect", folder, "--json", folder / "i.json"], "is inside the input"),
        (["report", notes, "--csv", notes, "--force"], "is the input"),
    ]
    (tmp_path / "link.json").symlink_to(notes)
    os.link(notes, tmp_path / "hard.json")
    cases += [(["scan", notes, "--json", tmp_path / "link.json", "--force"], "is the input"),
              (["scan", notes, "--json", tmp_path / "hard.json", "--force"], "is the input")]
    before = tree_hashes(tmp_path)
    for cmd, words in cases:
        res = invoke(*cmd)
        assert res.exit_code == 2, (cmd, res.output)
        assert words in res.output, (cmd, res.output)
    assert tree_hashes(tmp_path) == before
    assert not (folder / "sub").exists()


def test_existing_file_replaced_only_when_it_is_a_report_of_that_format_or_forced(tmp_path):
    apk = fixture("clean-v1v2v3.apk")
    notes = tmp_path / "notes.json"
    notes.write_text('{"case": "an analyst\'s own notes"}')
    res = invoke("scan", apk, "--json", notes, "-q")
    assert res.exit_code == 2 and "exists and is not an apkscan json report" in res.output
    assert json.loads(notes.read_text()) == {"case": "an analyst's own notes"}
    # every format recognises its own earlier report and replaces it
    outs = {f: tmp_path / f"r.{f}" for f in ("json", "html", "sarif", "csv")}
    args = [x for f, p in outs.items() for x in (f"--{f}", p)]
    assert invoke("scan", apk, *args, "-q").exit_code == 0
    first = {f: p.read_bytes() for f, p in outs.items()}
    assert invoke("scan", apk, *args, "-q").exit_code == 0
    assert all(outs[f].stat().st_size > 0 for f in outs) and first["csv"].startswith(b"\xef\xbb\xbfverdict,")
    first["html"] = outs["html"].read_bytes()
    # a report of another format is not "a report of that format"
    res = invoke("scan", apk, "--json", outs["html"], "-q")
    assert res.exit_code == 2 and "not an apkscan json report" in res.output
    assert outs["html"].read_bytes() == first["html"]
    # inspect's own JSON is recognised too; --force replaces a non-report
    assert invoke("inspect", apk, "--json", tmp_path / "i.json").exit_code == 0
    assert invoke("inspect", apk, "--json", tmp_path / "i.json").exit_code == 0
    assert invoke("scan", apk, "--json", notes, "--force", "-q").exit_code == 0
    assert json.loads(notes.read_text())["tool"]["name"] == "apkscan"


def test_input_like_names_and_special_files_are_refused(tmp_path):
    apk = fixture("clean-v1v2v3.apk")
    res = invoke("scan", apk, "--json", tmp_path / "new.apk", "-q")
    assert res.exit_code == 2 and "named like an input" in res.output and not (tmp_path / "new.apk").exists()
    assert invoke("scan", apk, "--json", tmp_path / "new.apk", "--force", "-q").exit_code == 0
    res = invoke("scan", apk, "--json", "/dev/null", "-q")  # would be replaced by a regular file
    assert res.exit_code == 2 and "not a regular file" in res.output
    assert not __import__("pathlib").Path("/dev/null").is_file()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it to look inside would block forever
    res = invoke("scan", apk, "--json", fifo, "-q")
    assert res.exit_code == 2 and "not a regular file" in res.output
    res = invoke("scan", apk, "--json", tmp_path, "-q")
    assert res.exit_code == 2 and "is a folder" in res.output
    res = invoke("scan", apk, "--json", tmp_path / "same", "--csv", tmp_path / "same", "-q")
    assert res.exit_code == 2 and "same file as" in res.output


def test_unwritable_report_path_stops_before_scanning_and_parents_are_created(tmp_path):
    """Why #4: a bad --json path was found only after the whole scan."""
    apk = fixture("wechat-impostor.apk")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    csv = tmp_path / "ok.csv"
    res = invoke("scan", apk, "--csv", csv, "--json", blocker / "dir" / "out.json")
    assert res.exit_code == 2 and "--json" in res.output
    assert not csv.exists()  # nothing was written: the check ran before any work
    assert "prohibited" not in res.output  # ... and before any scanning
    deep = tmp_path / "new" / "nested" / "out.json"
    assert invoke("scan", apk, "--json", deep, "-q").exit_code == 1
    assert json.loads(deep.read_text())["apps"][0]["verdict"] == "prohibited"
    assert [p.name for p in deep.parent.iterdir()] == ["out.json"]  # no probe or temp file left


def test_lost_report_exits_4_even_when_a_prohibited_app_was_found(tmp_path):
    """Why #4: a lost report must not hide behind exit 1. stdout is /dev/full: ENOSPC."""
    html = tmp_path / "r.html"
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "apkscan", "scan", str(fixture("wechat-impostor.apk")),
                               "--json", "-", "--html", str(html), "-q"], stdout=full,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert "cannot write the json report to -" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "<!-- apkscan report -->" in html.read_text(encoding="utf-8")  # the other format landed


def test_a_rules_export_that_cannot_be_written_exits_4_without_a_traceback():
    """Review 71 F10: `rules export` wrote bare: ENOSPC was a traceback and exit 1, the code of
    "an example failed" for `rules`. stdout is /dev/full."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "apkscan", "rules", "export", "-o", "-"], stdout=full,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert "cannot write the json report to -" in proc.stderr and "Traceback" not in proc.stderr


def test_inspect_exit_codes_follow_apksigner():
    """Why #3: inspect exited 0 on "Verifies: NO"; apksigner exits 1."""
    bad, good = fixture("v2-stripped.apk"), fixture("clean-v1v2v3.apk")
    proc = run("inspect", bad)
    assert proc.returncode == 1 and "Verifies: NO" in proc.stdout
    assert run("inspect", good).returncode == 0
    assert run("inspect", bad, "--fail-on", "never").returncode == 0
    missing = run("inspect", good, "no-such.apk")
    assert missing.returncode == 3 and "INPUT_NOT_FOUND" in missing.stdout
    both = run("inspect", bad, "no-such.apk")
    assert both.returncode == 1  # 1 wins over 3, as for scan


def test_report_and_scan_codes_and_precedence(tmp_path):
    impostor = fixture("wechat-impostor.apk")
    assert invoke("scan", impostor, "-q").exit_code == 1
    assert invoke("scan", impostor, tmp_path / "missing.apk", "-q").exit_code == 1
    assert invoke("scan", fixture("clean-v1v2v3.apk"), tmp_path / "missing.apk", "-q").exit_code == 3
    saved = tmp_path / "scan.json"
    invoke("scan", impostor, "--json", saved, "-q")
    assert invoke("report", saved, "-q").exit_code == 0  # report: --fail-on never by default
    assert invoke("report", saved, "-q", "--fail-on", "prohibited").exit_code == 1


def test_exit_code_module_precedence():
    from apkscan.cli.exit_codes import ExitCode, combine

    assert combine(1, 3) == ExitCode.FLAGGED
    assert combine(1, 4) == ExitCode.REPORT_FAILED
    assert combine(1, 4, 130) == ExitCode.INTERRUPTED
    assert combine(0, 0) == ExitCode.OK and combine(3) == ExitCode.INCOMPLETE


def test_report_recognition_cannot_be_fooled_by_look_alikes(tmp_path):
    """Only our writers' exact openings count, and never a file with a ZIP end record."""
    apk = fixture("clean-v1v2v3.apk")
    mention = tmp_path / "notes.json"
    mention.write_text('{"schema_version": "1.0", "tool": {"name": "apkscan"}, "note": "my notes"}')
    good = tmp_path / "good.json"
    assert invoke("scan", apk, "--json", good, "-q").exit_code == 0
    disguised = tmp_path / "evidence.bin"  # a report's opening, then an APK's bytes
    disguised.write_bytes(good.read_bytes()[:300] + apk.read_bytes())
    old_csv = tmp_path / "other.csv"
    old_csv.write_text("verdict,comment\r\nok,mine\r\n")
    before = tree_hashes(tmp_path)
    for path, fmt in ((mention, "--json"), (disguised, "--json"), (old_csv, "--csv")):
        res = invoke("scan", apk, fmt, path, "-q")
        assert res.exit_code == 2 and "is not an apkscan" in res.output, (path, res.output)
    assert tree_hashes(tmp_path) == before
    older = tmp_path / "older.html"  # a report written before the marker comment existed
    assert invoke("scan", apk, "--html", older, "-q").exit_code == 0
    older.write_text(older.read_text(encoding="utf-8").replace("<!-- apkscan report -->\n", ""), encoding="utf-8")
    assert invoke("scan", apk, "--html", older, "-q").exit_code == 0
    assert "<!-- apkscan report -->" in older.read_text(encoding="utf-8")
    stix = tmp_path / "rules.stix2"
    assert invoke("rules", "export", "-o", stix).exit_code == 0
    assert invoke("rules", "export", "-o", stix).exit_code == 0  # our own export is replaced
    res = invoke("rules", "export", "-o", mention)
    assert res.exit_code == 2 and "-o/--output" in res.output


def test_outputs_and_the_store_through_a_link_and_dotdot_go_where_the_system_names(tmp_path):
    """``link/../out/r.json`` is ``out`` beside the link's target: its folder is made there and
    the report written there, not a folder made by the path's text beside the link and a write
    that fails (review 43 F7, for every path apkscan creates a folder for)."""
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    via = f"{tmp_path}/link/.."
    res = run("scan", FIXTURES / "apks" / "clean-v1v2v3.apk", "-q", "--store", f"{via}/st/s.sqlite",
              "--json", f"{via}/out/r.json", "--jsonl", f"{via}/out/r.jsonl", "--html", f"{via}/out/r.html")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "real" / "out"
    assert sorted(p.name for p in out.iterdir()) == ["r.html", "r.json", "r.jsonl"]
    assert json.loads((out / "r.json").read_text())["apps"]
    assert (tmp_path / "real" / "st" / "s.sqlite").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]
