"""``--jsonl``: one line per decided app/error, the same objects as the JSON report, in order."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "fixtures"


def test_jsonl_lines_equal_the_reports_apps_and_errors(tmp_path):
    out, doc_path = tmp_path / "run.jsonl", tmp_path / "run.json"
    res = CliRunner().invoke(main, ["scan", str(FIX / "apks"), str(FIX / "containers"), "--jobs", "2", "-q",
                                    "--jsonl", str(out), "--json", str(doc_path)])
    assert res.exit_code == 1, res.output
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    assert lines[0]["type"] == "run" and lines[0]["run_id"] == doc["options"]["run_id"]
    assert lines[-1] == {"type": "end", "interrupted": False, "counts": doc["counts"],
                         "counts_by_policy": doc["counts_by_policy"], "finished_at": doc["finished_at"]}
    apps = [{k: v for k, v in x.items() if k != "type"} for x in lines if x["type"] == "app"]
    errors = [{k: v for k, v in x.items() if k != "type"} for x in lines if x["type"] == "error"]
    assert apps == doc["apps"] and errors == doc["errors"] and errors


def test_jsonl_never_replaces_an_input_or_a_foreign_file(tmp_path):
    apk = FIX / "apks" / "v2-only.apk"
    res = CliRunner().invoke(main, ["scan", str(FIX / "apks"), "--jsonl", str(apk)])
    assert res.exit_code == 2 and "input" in res.output
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    res = CliRunner().invoke(main, ["scan", str(apk), "--jsonl", str(notes)])
    assert res.exit_code == 2 and notes.read_text() == "my notes"
    first = tmp_path / "a.jsonl"
    for _ in range(2):  # an earlier stream is replaced
        res = CliRunner().invoke(main, ["scan", str(apk), "-q", "--jsonl", str(first)])
        assert res.exit_code == 0, res.output


def _lines(path):
    out = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    for x in out:
        x.pop("finished_at", None)
    return out


def test_jsonl_alone_streams_the_same_lines_and_exit_code_without_keeping_apps(tmp_path):
    """--jsonl -q without a report: the run keeps verdicts only (bounded memory), same stream."""
    args = ["scan", str(FIX / "apks"), str(FIX / "containers"), "--jobs", "2", "-q", "--no-store"]
    kept, streamed = tmp_path / "kept.jsonl", tmp_path / "streamed.jsonl"
    with_doc = CliRunner().invoke(main, [*args, "--jsonl", str(kept), "--json", str(tmp_path / "d.json")])
    alone = CliRunner().invoke(main, [*args, "--jsonl", str(streamed)])
    assert alone.exit_code == with_doc.exit_code == 1
    assert _lines(streamed) == _lines(kept) and _lines(kept)[-1]["counts"]["prohibited"] > 0
    never = CliRunner().invoke(main, [*args, "--jsonl", str(streamed), "--fail-on", "never"])
    assert never.exit_code == 3  # the fixtures' unreadable inputs still count


def test_scan_without_keep_holds_verdicts_not_identities(rules, policy):
    from apkscan.scan import StreamedApp, scan
    from apkscan.sources.files import FileSource

    seen = []
    kept = scan([FileSource([str(FIX / "apks")])], rules, policy, on_records=seen.extend)
    slim = scan([FileSource([str(FIX / "apks")])], rules, policy, on_records=lambda r: None, keep=False)
    assert all(isinstance(a, StreamedApp) for a in slim.apps) and len(slim.apps) == len(kept.apps)
    assert slim.counts() == kept.counts() and slim.exit_code("review") == kept.exit_code("review")
    assert [a.verdicts.keys() for a in slim.apps] == [a.verdicts.keys() for a in kept.apps]


def test_jsonl_folder_is_made_like_a_reports_and_an_unwritable_one_is_a_usage_error(tmp_path):
    """A review found `--jsonl /missing/dir/x` ending in a FileNotFoundError traceback after the scan."""
    apk = str(FIX / "apks" / "clean-v1v2v3.apk")
    made = tmp_path / "new" / "sub" / "run.jsonl"
    res = CliRunner().invoke(main, ["scan", "--no-store", apk, "-q", "--jsonl", str(made)])
    assert res.exit_code == 0 and _lines(made)[0]["type"] == "run"
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    res = CliRunner().invoke(main, ["scan", "--no-store", apk, "-q", "--jsonl", str(blocked / "x.jsonl")])
    assert res.exit_code == 2 and res.exception.__class__ is SystemExit  # checked like a report's path now:
    assert f"--jsonl {blocked / 'x.jsonl'}: cannot check it: Not a directory" in res.output


def test_jsonl_through_a_hard_link_to_an_input_is_refused_even_with_force(tmp_path):
    """Review 19 #1: `--jsonl out.apk --force`, out.apk a hard link to the input, truncated the
    evidence (only the real path was compared; reports and --store also compare the file id)."""
    import hashlib
    import os
    import shutil

    evidence, out = tmp_path / "ev", tmp_path / "out"
    evidence.mkdir()
    out.mkdir()
    apk = evidence / "a.apk"
    shutil.copyfile(FIX / "apks" / "clean-v1v2v3.apk", apk)
    text = evidence / "pm.txt"
    text.write_text("package:/data/app/com.x-1/base.apk=com.x\n")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (apk, text)}
    for given in (apk, text):
        link = out / f"hard-{given.name}"
        os.link(given, link)
        res = CliRunner().invoke(main, ["scan", str(given), "--no-store", "-q", "--jsonl", str(link), "--force"])
        assert res.exit_code == 2 and f"is the input {given}" in res.output, res.output
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (apk, text)} == before


def test_jsonl_to_a_fifo_is_refused_not_opened(tmp_path):
    """Review 19 #12: opening a FIFO for writing waited for a reader forever."""
    import os

    from cli_helpers import run

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for force in ([], ["--force"]):
        res = run("scan", FIX / "apks" / "clean-v1v2v3.apk", "--no-store", "-q", "--jsonl", fifo, *force)
        assert res.returncode == 2 and "not a regular file" in res.stderr, res.stderr


def test_jsonl_dash_is_stdout_and_empty_is_a_usage_error(tmp_path, monkeypatch):
    """Review 19 #12/#13: `--jsonl -` wrote a file named `-`; `--jsonl ""` silently streamed nothing."""
    monkeypatch.chdir(tmp_path)
    apk = str(FIX / "apks" / "clean-v1v2v3.apk")
    res = CliRunner().invoke(main, ["scan", apk, "--no-store", "--jsonl", "-", "--no-color"])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "-").exists()
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert [x["type"] for x in lines] == ["run", "input_file", "app", "end"]  # custody first: its scan hashed it
    assert "1 input" in res.stderr  # the summary moved to stderr: stdout is the stream
    res = CliRunner().invoke(main, ["scan", apk, "--no-store", "--jsonl", "-", "--json", "-"])
    assert res.exit_code == 2 and "stdout is already taken" in res.output
    res = CliRunner().invoke(main, ["scan", apk, "--no-store", "-q", "--jsonl", ""])
    assert res.exit_code == 2 and "empty file name" in res.output
    assert list(tmp_path.iterdir()) == []


def test_jsonl_to_a_closed_stdout_pipe_finishes_the_scan(tmp_path):
    """`--jsonl - | head`: the reader left; the scan still ends normally and writes its reports."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "apkscan", "scan", str(FIX / "apks" / "clean-v1v2v3.apk"),
                             "--no-store", "-q", "--jsonl", "-", "--csv", str(tmp_path / "r.csv")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err, err
    assert (tmp_path / "r.csv").read_text(encoding="utf-8-sig").startswith("verdict,")


def test_unicode_line_separators_in_a_label_never_split_a_record(tmp_path):
    """Review 46 #10: U+2028, U+2029 and U+0085 from a label were written raw: valid JSON, but
    ``str.splitlines()`` (and other Unicode line readers) cut one app record into pieces."""
    import sys

    sys.path.insert(0, str(FIX))
    try:
        import generate
    finally:
        sys.path.remove(str(FIX))
    label = 'Notes\u2028{"type": "end"}\x85x\u2029y'
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "n.apk").write_bytes(generate.build_unsigned(generate.App("com.example.notes", label)))
    out, doc_path = tmp_path / "run.jsonl", tmp_path / "run.json"
    res = CliRunner().invoke(main, ["scan", str(tmp_path / "in"), "--no-store", "-q", "--jsonl", str(out),
                                    "--json", str(doc_path)])
    assert res.exit_code == 0, res.output
    for path in (out, doc_path):
        text = path.read_text(encoding="utf-8")
        assert not {"\u2028", "\u2029", "\x85"} & set(text)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["type"] for x in lines] == ["run", "input_file", "app", "end"]
    assert json.loads(lines[2])["label"] == label == json.loads(doc_path.read_text(encoding="utf-8"))["apps"][0]["label"]


def test_a_stream_the_system_refuses_to_create_is_a_usage_error(tmp_path, monkeypatch):
    """Review 51 F2: an OSError creating the stream (past the path checks: a link loop, a full disk)
    was a traceback with exit 1, the code of 'prohibited found'."""
    import apkscan.batch.jsonl as jsonl_mod

    def refused(_path):
        raise OSError(40, "Too many levels of symbolic links")

    monkeypatch.setattr(jsonl_mod, "_create", refused)
    res = CliRunner().invoke(main, ["scan", str(FIX / "apks" / "clean-v1v2v3.apk"), "--no-store", "-q",
                                    "--jsonl", str(tmp_path / "s.jsonl")])
    assert res.exit_code == 2 and "cannot create it: Too many levels" in res.output, res.output


def test_a_stream_that_fails_mid_run_ends_there_and_the_reports_are_written(tmp_path, monkeypatch):
    """Review 52 F3: ENOSPC while streaming was a traceback with exit 1 (the code of 'prohibited
    found') and the --json report was never written. Now the stream ends where it failed, the
    scan and its reports go on, and the exit code is 4 (a requested output could not be written)."""
    import apkscan.batch.jsonl as jsonl_mod

    real, calls = jsonl_mod.visible_surrogates, []

    def full_disk(text, in_json=False):
        calls.append(text)
        if len(calls) > 3:
            raise OSError(28, "No space left on device")
        return real(text, in_json)

    monkeypatch.setattr(jsonl_mod, "visible_surrogates", full_disk)
    res = CliRunner().invoke(main, ["scan", str(FIX / "apks"), "--no-store", "-q", "--jobs", "1",
                                    "--jsonl", str(tmp_path / "s.jsonl"), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 4, res.output
    assert "--jsonl" in res.stderr and "No space left on device" in res.stderr
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["counts"]["total"] >= 20 and doc["interrupted"] is False
    assert len((tmp_path / "s.jsonl").read_text(encoding="utf-8").splitlines()) == 3
