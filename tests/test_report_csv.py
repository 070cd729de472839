"""CSV output: one row per app, spreadsheet formula injection neutralised."""

from __future__ import annotations

import csv
import io

from test_report_doc import HOSTILE_LABEL, sample_document

from apkscan.report import csv_report, formats


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_one_row_per_app_and_per_error():
    buf = io.StringIO(newline="")
    csv_report.render(sample_document(), buf)
    rows = _rows(buf.getvalue())
    assert [r["verdict"] for r in rows] == ["prohibited", "prohibited", "review", "review",
                                            "allowed", "allowed", "error", "error"]
    wechat = rows[0]
    assert wechat["package"] == "com.tencent.mm"
    assert wechat["publisher"] == "Tencent Technology(Shenzhen) Company Limited"
    assert wechat["signer_verified"] == "yes"
    assert wechat["signer_cert_sha256"] == \
        "0fe4ff85c215918396dadc7cd8ce6963339af33d37751a56e54c7206b63a3c7c"
    assert wechat["container"] == "backups/alice-pixel7.ab"
    qq = rows[3] if rows[3]["package"] == "com.tencent.mobileqq" else rows[2]
    assert qq["signer_verified"] == "no" and qq["publisher"] == ""  # present is not verified
    assert "TAMPER_LOCAL_NAME_MISMATCH" in qq["tamper"]
    assert rows[-1]["errors"].startswith("INPUT_UNREADABLE")
    assert buf.getvalue().split("\n")[0].endswith("\r")  # RFC 4180 CRLF


def test_formula_injection_neutralised():
    for bad in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "＝1"):
        assert csv_report.neutralise(bad) == "'" + bad
    assert csv_report.neutralise("\t=1") == "'\t'=1"  # the tab is also a delimiter to a tab-split reader
    assert csv_report.neutralise("\r=1") == "'\r'=1"  # and a line break ends a row to a ;-split reader
    assert csv_report.neutralise("WeChat") == "WeChat"
    assert csv_report.neutralise(None) == ""
    assert csv_report.neutralise(2420) == "2420"
    buf = io.StringIO(newline="")
    csv_report.render(sample_document(), buf)
    for row in _rows(buf.getvalue()):
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    cells = {v for row in _rows(buf.getvalue()) for v in row.values()}
    assert "'@SUM(1+1)" in cells and "'+com.formula" in cells and "'-1" in cells
    assert HOSTILE_LABEL in cells  # starts with "<": kept verbatim, it is data in a cell


def test_file_has_bom_for_excel_stdout_does_not(tmp_path):
    path = tmp_path / "r.csv"
    formats.write(sample_document(), "csv", str(path))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"\r\r\n" not in raw
    assert "QQ 轻聊版" in raw.decode("utf-8-sig")
    out = io.StringIO(newline="")
    formats.write(sample_document(), "csv", "-", stdout=out)
    assert out.getvalue().startswith("verdict,")


def test_an_interrupted_scan_says_so_in_its_first_row():
    """Review 19 #9: JSON, HTML, SARIF and JSONL said "interrupted", the CSV looked complete."""
    doc = sample_document()
    whole = io.StringIO(newline="")
    csv_report.render(doc, whole)
    assert all(r["verdict"] != "interrupted" for r in _rows(whole.getvalue()))
    doc["interrupted"] = True
    buf = io.StringIO(newline="")
    csv_report.render(doc, buf)
    rows = _rows(buf.getvalue())
    assert buf.getvalue().startswith("verdict,")  # the header stays first (consumers, report recognition)
    assert rows[0]["verdict"] == "interrupted" and rows[0]["errors"].startswith("interrupted: the scan was stopped")
    assert rows[1:] == _rows(whole.getvalue())


def test_no_formula_cell_when_the_sheet_is_split_on_semicolons(tmp_path):
    """Review 19 #15: a label `Notes;=10+20;-3+4` was written as is; read with `;` as the
    delimiter (Excel's list separator in many locales) it gave the cells `=10+20` and `-3+4,...`."""
    import sys

    from cli_helpers import FIXTURES, invoke

    sys.path.insert(0, str(FIXTURES))
    try:
        import generate
    finally:
        sys.path.remove(str(FIXTURES))
    (tmp_path / "in").mkdir()
    label = "Notes;=10+20;-3+4|@SUM(A1); +cmd\n=1+2\n@SUM(1)"  # after a line break too (review 46 #6)
    (tmp_path / "in" / "notes.apk").write_bytes(generate.build_unsigned(generate.App("com.example.notes", label)))
    res = invoke("scan", tmp_path / "in", "--no-store", "-q", "--csv", tmp_path / "r.csv")
    assert res.exit_code == 0, res.output
    text = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "Notes;'=10+20;'-3+4|'@SUM(A1); '+cmd\n'=1+2\n'@SUM(1)" in {r["label"] for r in _rows(text)}
    for delimiter in (";", "|", ",", "\t"):
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            assert not [c for c in row if c.lstrip(" \t").startswith(("=", "+", "-", "@"))], (delimiter, row)
