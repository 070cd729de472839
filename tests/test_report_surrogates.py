"""File names that are not UTF-8, and lone surrogates in a saved document (review 19 #2, #5).

Python reads such a name with ``surrogateescape`` (byte 0xff -> U+DCFF); no UTF-8 output can
encode it. Every output shows the byte as ``\\xff`` (JSON: the string ``\\xff``), and the run
ends with its normal exit code instead of a traceback and 1 ("prohibited").
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

from cli_helpers import fixture, planted_wechat, run

SHOWN = "\\xfe\\xff.apk"  # what every output shows for the bytes fe ff in the name


def _planted(tmp_path):
    return planted_wechat(tmp_path, b"\xfe\xff.apk")


def test_a_non_utf8_file_name_is_shown_escaped_in_every_output(tmp_path):
    folder, out = _planted(tmp_path), tmp_path / "out"
    res = run("scan", folder, "--no-store", "--no-color", *(x for f in ("json", "html", "csv", "sarif")
                                                            for x in (f"--{f}", out / f"r.{f}")),
              "--jsonl", out / "r.jsonl")
    assert res.returncode == 1, res.stderr  # the app is prohibited: 1, as for any other name
    assert "Traceback" not in res.stderr and SHOWN in res.stdout  # the terminal summary
    doc = json.loads((out / "r.json").read_text(encoding="utf-8"))
    assert doc["apps"][0]["identity"]["path"].endswith(f"/{SHOWN}")
    lines = [json.loads(x) for x in (out / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    app = next(x for x in lines if x["type"] == "app")
    assert app["identity"]["path"] == doc["apps"][0]["identity"]["path"] and lines[-1]["type"] == "end"
    assert [x["path"] for x in lines if x["type"] == "input_file"] == [x["path"] for x in doc["input_files"]]
    rows = list(csv.DictReader(io.StringIO((out / "r.csv").read_text(encoding="utf-8-sig"))))
    assert rows[0]["file"] == SHOWN and rows[0]["verdict"] == "prohibited"
    assert f"<code>{SHOWN}</code>" in (out / "r.html").read_text(encoding="utf-8")
    sarif = json.loads((out / "r.sarif").read_text(encoding="utf-8"))
    uris = {a["location"]["uri"] for a in sarif["runs"][0]["artifacts"]}
    assert any(u.endswith("/%FE%FF.apk") for u in uris), uris  # the name's own bytes (review 22 #7)


def test_inspect_json_and_terminal_show_a_non_utf8_name_escaped(tmp_path):
    folder = _planted(tmp_path)
    res = run("inspect", folder, "--json", tmp_path / "i.json")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert json.loads((tmp_path / "i.json").read_text(encoding="utf-8"))[0]["path"].endswith(SHOWN)
    res = run("inspect", folder)
    assert res.returncode == 0 and f"File: {folder}/{SHOWN}" in res.stdout, res.stderr


def test_report_and_diff_render_a_lone_surrogate_escaped(tmp_path):
    """A saved document may hold "\\ud800" (valid JSON): rendered as the text \\ud800 in every format."""
    folder = tmp_path / "ev"
    folder.mkdir()
    shutil.copyfile(fixture("wechat-tencent-subject.apk"), folder / "w.apk")
    base = tmp_path / "s.json"
    assert run("scan", folder, "--no-store", "-q", "--json", base).returncode == 1
    doc = json.loads(base.read_text(encoding="utf-8"))
    doc["apps"][0]["label"] = "\ud800lone"
    doc["apps"][0]["package"] = "com.new\udfff"
    bad = tmp_path / "surr.json"
    bad.write_text(json.dumps(doc, indent=2), encoding="ascii")  # ensure_ascii: "\ud800" escapes
    out = tmp_path / "out"
    res = run("report", bad, "--no-color", *(x for f in ("json", "html", "csv", "sarif")
                                              for x in (f"--{f}", out / f"r.{f}")))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "\\ud800lone" in res.stdout
    for f in ("json", "html", "csv", "sarif"):
        assert "\\ud800lone" in (out / f"r.{f}").read_text(encoding="utf-8-sig").replace("\\\\", "\\"), f
    assert json.loads((out / "r.json").read_text(encoding="utf-8"))["apps"][0]["label"] == "\\ud800lone"
    res = run("diff", base, bad, "--json", out / "d.json", "--html", out / "d.html")
    assert res.returncode in (0, 1) and "Traceback" not in res.stderr, res.stderr
    assert "com.new\\udfff" in res.stdout and "com.new\\udfff" in (out / "d.html").read_text(encoding="utf-8")
    assert "com.new\\\\udfff" in (out / "d.json").read_text(encoding="utf-8")


def test_an_unforeseen_encoding_error_is_a_lost_report_not_a_traceback(tmp_path, monkeypatch):
    """write_reports: a renderer's ValueError is exit 4 with a message; the other formats are written."""
    from apkscan.cli.common import write_reports
    from apkscan.report import formats

    def broken(doc, out):
        raise UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed")

    monkeypatch.setitem(formats.FORMATS, "csv", formats.Format("csv", broken, "csv"))
    doc = json.loads(json.dumps({"schema_version": "1.0"}))
    failed = write_reports(doc, {"csv": str(tmp_path / "r.csv"), "json": str(tmp_path / "r.json")}, typed=doc)
    assert failed == ["csv"] and json.loads((tmp_path / "r.json").read_text()) == doc
    assert not (tmp_path / "r.csv").exists()


def test_diff_maps_an_unforeseen_encoding_error_to_its_output_code(tmp_path, monkeypatch):
    """diff's writer: a renderer's ValueError is DIFF_OUTPUT_UNWRITABLE, exit 2, not a traceback and 1."""
    from click.testing import CliRunner

    from apkscan.cli import main
    from apkscan.report import diff_html

    doc = tmp_path / "s.json"
    assert run("scan", fixture("clean-v1v2v3.apk"), "--no-store", "-q", "--json", doc).returncode == 0

    def broken(result, out):
        raise UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(diff_html, "render", broken)
    res = CliRunner().invoke(main, ["diff", str(doc), str(doc), "--html", str(tmp_path / "d.html")])
    assert res.exit_code == 2 and res.exception.__class__ is SystemExit, res.output
    assert "DIFF_OUTPUT_UNWRITABLE" in res.stderr and "UnicodeEncodeError" in res.stderr


def test_a_literal_backslash_x_name_never_looks_like_a_byte(tmp_path):
    """A file named with byte 0xff and one literally named ``\\xff.apk`` (four characters) used to
    get the same ``source``, the same CSV ``file`` and ``inspect`` line (review 22 #7): a
    backslash that could start an escape is now doubled, in every output."""
    folder, out = tmp_path / "forge", tmp_path / "out"
    folder.mkdir()
    raw = os.fsencode(folder)
    shutil.copyfile(fixture("wechat-tencent-subject.apk"), os.path.join(raw, b"\xff.apk"))
    shutil.copyfile(fixture("clean-v1v2v3.apk"), os.path.join(raw, b"\\xff.apk"))
    shutil.copyfile(fixture("clean-v1v2v3.apk"), os.path.join(raw, b"evil\\clean.apk"))
    res = run("scan", folder, "--no-store", "--no-color", "--jsonl", out / "r.jsonl",
              *(x for f in ("json", "csv", "html", "sarif") for x in (f"--{f}", out / f"r.{f}")))
    assert res.returncode == 1, res.stderr
    doc = json.loads((out / "r.json").read_text(encoding="utf-8"))
    by_verdict = {a["verdict"]: a for a in doc["apps"] if "xff" in a["source"]["path"]}
    assert by_verdict["prohibited"]["source"]["path"] == f"{folder}/\\xff.apk"
    assert by_verdict["allowed"]["source"]["path"] == f"{folder}/\\\\xff.apk"
    assert by_verdict["allowed"]["identity"]["path"] == by_verdict["allowed"]["source"]["outermost"]
    jsonl = [json.loads(x) for x in (out / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(x["source"]["path"] for x in jsonl if x["type"] == "app") == sorted(
        a["source"]["path"] for a in doc["apps"])
    rows = {r["verdict"] + r["file"]: r for r in csv.DictReader(io.StringIO((out / "r.csv").read_text(encoding="utf-8-sig")))}
    assert {"prohibited\\xff.apk", "allowed\\\\xff.apk", "allowedevil\\clean.apk"} <= set(rows), rows
    res = run("report", out / "r.json", "--csv", out / "rr.csv")  # the same names, never split on an escape
    assert res.returncode == 0, res.stderr
    rows = {r["verdict"] + r["file"] for r in csv.DictReader(io.StringIO((out / "rr.csv").read_text(encoding="utf-8-sig")))}
    assert {"prohibited\\xff.apk", "allowed\\\\xff.apk", "allowedevil\\clean.apk"} <= rows, rows
    html = (out / "r.html").read_text(encoding="utf-8")
    assert "<code>\\xff.apk</code>" in html and "<code>\\\\xff.apk</code>" in html
    sarif = json.loads((out / "r.sarif").read_text(encoding="utf-8"))
    uris = {a["location"]["uri"] for a in sarif["runs"][0]["artifacts"]}
    assert any(u.endswith("/%FF.apk") for u in uris), uris  # only the prohibited one has findings
    res = run("inspect", folder, "--fail-on", "never")
    assert f"File: {folder}/\\xff.apk\n" in res.stdout and f"File: {folder}/\\\\xff.apk\n" in res.stdout
