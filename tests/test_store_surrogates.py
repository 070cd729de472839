"""A file name that is not UTF-8 with the scan store on (the default; review 22 #1).

Python reads byte 0xff of a name as U+DCFF, which SQLite cannot encode: the store keys such a
path by its bytes (``store.path_key``), and a look-up that still fails is a miss, never an error.
"""

from __future__ import annotations

import json
import os
import sqlite3

from cli_helpers import planted_wechat, run


def _planted(tmp_path):
    return planted_wechat(tmp_path, b"\xff.apk")


def _apps(jsonl):
    return [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines() if '"type": "app"' in x]


def test_the_default_store_scans_a_non_utf8_name_and_finds_it_again(tmp_path):
    folder, out = _planted(tmp_path), tmp_path / "out"
    for n in (1, 2):  # cold, then warm from the store
        res = run("scan", folder, "--no-color", "--json", out / f"r{n}.json")
        assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
        assert "INTERNAL_ERROR" not in res.stdout and "1 prohibited" in res.stdout, res.stdout
        doc = json.loads((out / f"r{n}.json").read_text(encoding="utf-8"))
        assert [a["verdict"] for a in doc["apps"]] == ["prohibited"] and doc["errors"] == []


def test_jsonl_with_the_store_keeps_and_replays_the_line_of_a_non_utf8_name(tmp_path, monkeypatch):
    """In process, so the racy window (2 s since the copy's ctime) can be closed instead of waited."""
    from click.testing import CliRunner

    from apkscan.cli import main
    from apkscan.sources.walker import Walker

    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)
    walked, real_local = [], Walker.local_file
    monkeypatch.setattr(Walker, "local_file", lambda self, path, *a, **kw: walked.append(path) or
                        real_local(self, path, *a, **kw))
    folder, out, st = _planted(tmp_path), tmp_path / "out", tmp_path / "st.sqlite"
    out.mkdir()
    for n in (1, 2):  # the second run is answered by the fast lane (known_lines) with the same line
        res = CliRunner().invoke(main, ["scan", str(folder), "-q", "--store", str(st), "--jsonl", str(out / f"r{n}.jsonl")])
        assert res.exit_code == 1 and isinstance(res.exception, SystemExit), (res.output, res.exception)
    first, second = _apps(out / "r1.jsonl"), _apps(out / "r2.jsonl")
    assert first == second and first[0]["verdict"] == "prohibited"
    assert first[0]["source"]["path"].endswith("/\\xff.apk")
    assert len(walked) == 1  # the warm run opened nothing
    with sqlite3.connect(st) as conn:
        chains = [r[0] for r in conn.execute("SELECT chain FROM known_lines")]
    assert chains == [os.path.join(os.fsencode(folder), b"\xff.apk")]  # the name's own bytes


def test_resume_over_a_non_utf8_name(tmp_path):
    folder, st = _planted(tmp_path), tmp_path / "st.sqlite"
    assert run("scan", folder, "-q", "--store", st).returncode == 1
    res = run("scan", folder, "--store", st, "--resume", "--jsonl", tmp_path / "r.jsonl", "--json", tmp_path / "r.json")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert [a["verdict"] for a in _apps(tmp_path / "r.jsonl")] == ["prohibited"]


def test_path_key_is_lossless_and_leaves_utf8_text_alone():
    from apkscan.batch.store import path_key

    assert path_key("/ev/é.apk") == "/ev/é.apk"
    assert path_key("/ev/\udcff.apk") == b"/ev/\xff.apk"
    assert path_key("/ev/\\xff.apk") != path_key("/ev/\udcff.apk")
