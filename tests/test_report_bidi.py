"""Bidi controls and invisible characters in names show as escapes in HTML and CSV too
(review 19 #10): ``\\u202emm.tnecnet.moc`` displayed as ``com.tencent.mm``, "allowed", in the
HTML report, and ``com.tencent\\u200b.mm`` looked like ``com.tencent.mm``."""

from __future__ import annotations

import csv
import io
import sys

from cli_helpers import FIXTURES, invoke

CASES = {"rlo.apk": ("\u202emm.tnecnet.moc", "Calculator"), "zw.apk": ("com.tencent\u200b.mm", "Calculator"),
         "lbl.apk": ("com.example.calc", "\u202etahceW\u2066")}
SHOWN = {"\\u202emm.tnecnet.moc", "com.tencent\\u200b.mm", "\\u202etahceW\\u2066"}


def _apks(folder):
    sys.path.insert(0, str(FIXTURES))
    try:
        import generate
    finally:
        sys.path.remove(str(FIXTURES))
    folder.mkdir()
    for name, (package, label) in CASES.items():
        (folder / name).write_bytes(generate.build_unsigned(generate.App(package, label)))


def test_html_and_csv_show_bidi_and_zero_width_characters_as_escapes(tmp_path):
    _apks(tmp_path / "in")
    res = invoke("scan", tmp_path / "in", "--no-store", "-q", "--html", tmp_path / "r.html", "--csv", tmp_path / "r.csv")
    assert res.exit_code in (0, 1), res.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    sheet = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    for text in (page, sheet):
        assert not any(c in text for c in "\u202e\u200b\u2066")
    assert all(f"<code>{s}</code>" in page or f">{s}<" in page for s in SHOWN), [s for s in SHOWN if s not in page]
    rows = list(csv.DictReader(io.StringIO(sheet)))
    assert {r["package"] for r in rows} >= {"\\u202emm.tnecnet.moc", "com.tencent\\u200b.mm"}
    assert "\\u202etahceW\\u2066" in {r["label"] for r in rows}
