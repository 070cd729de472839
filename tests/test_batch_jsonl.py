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
                         "finished_at": doc["finished_at"]}
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
