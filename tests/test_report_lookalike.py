"""Review 82 F5: a look-alike name must not be shown as if it were the real one.

A repackage labelled ``TikТok`` (Cyrillic Т) takes the TikTok label rule through the name's
skeleton, but every human format printed the stored text, which a reviewer reads as ``TikTok``.
Real APKs (fixtures/generate.py, apksigner) with look-alike labels, a look-alike package and a
signer subject in look-alike letters, and genuine non-Latin labels beside them; one scan writes
JSON, CSV and HTML, and its terminal summary; each format is read back as a person (or a
spreadsheet, or a browser) reads it.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil
from html.parser import HTMLParser

import pytest
from cli_helpers import FIXTURES, generate_module, invoke

from apkscan.document import ScanDocument
from apkscan.report import terminal
from apkscan.report.lookalike import marks, note

TT = "TikТok"  # Cyrillic capital TE (U+0422)
WE = "WеChat"  # Cyrillic small IE (U+0435)
WHOLE = "ТікТок"  # every letter Cyrillic, every one a Latin look-alike
WIDE = "ＴｉｋＴｏｋ"  # full width
PACKAGE = "com.zhiliaoapp.musicаlly"  # Cyrillic small A (U+0430)
ORG = "ВyteDance Ltd"  # Cyrillic capital VE (U+0412)
GENUINE = ["微信", "Лаборатория Касперского", "TikTok"]
NOTES = {TT: " [look-alike: Т=U+0422]", WE: " [look-alike: е=U+0435]",
         WHOLE: " [look-alike: Т=U+0422, і=U+0456, к=U+043A, о=U+043E]",
         WIDE: " [look-alike: Ｔ=U+FF34, ｉ=U+FF49, ｋ=U+FF4B, ｏ=U+FF4F]",
         PACKAGE: " [look-alike: а=U+0430]", ORG: " [look-alike: В=U+0412]"}
# file -> (package, label, key)
APKS = {"tt.apk": ("com.example.video", TT, "unlisted-new"),
        "we.apk": ("com.example.chat", WE, "unlisted-new"),
        "whole.apk": ("com.example.whole", WHOLE, "unlisted-new"),
        "wide.apk": ("com.example.wide", WIDE, "unlisted-new"),
        "weixin.apk": ("com.example.wx", "微信", "unlisted-new"),
        "kaspersky.apk": ("com.example.av", "Лаборатория Касперского", "unlisted-new"),
        "plain.apk": ("com.example.plain", "TikTok", "unlisted-new"),
        "package.apk": (PACKAGE, "Notes", "unlisted-new"),
        "signer.apk": ("com.example.notes", "Notes", "lookalike-org")}


def signed_apks(tmp, into, apks: dict) -> None:
    """``{file name: (package, label, key)}`` built and signed v1+v2 into ``into``; the key
    ``lookalike-org`` has the subject ``CN=Notes,O=`` :data:`ORG`, made in ``tmp``'s own key
    folder (a made-up subject's key never lands in fixtures/keys)."""
    gen = generate_module()
    keys, saved = tmp / "keys", gen.KEYS
    shutil.copytree(FIXTURES / "keys", keys)
    gen.KEYS = keys
    gen.KEY_SPECS["lookalike-org"] = (f"CN=Notes,O={ORG}", "ec")
    into.mkdir(exist_ok=True)
    try:
        for name, (package, label, key) in apks.items():
            work = tmp / f"work-{name}"
            work.mkdir()
            unsigned = gen.build_unsigned(gen.App(package, label))
            (into / name).write_bytes(gen.sign(unsigned, work, [key], v1=True, v2=True, v3=False, min_sdk=21))
    finally:
        gen.KEYS = saved
        gen.KEY_SPECS.pop("lookalike-org", None)


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> dict:
    """One scan of the APKs above: its JSON, CSV, HTML and terminal text."""
    tmp = tmp_path_factory.mktemp("lookalike")
    signed_apks(tmp, tmp / "in", APKS)
    paths = {f: tmp / f"scan.{f}" for f in ("json", "csv", "html", "sarif")}
    res = invoke("scan", "--no-store", "--no-color", *[a for f, p in paths.items() for a in (f"--{f}", p)],
                 tmp / "in")
    assert res.exit_code == 0, res.output  # review verdicts: no --fail-on
    return {"terminal": res.output, "doc": json.loads(paths["json"].read_text(encoding="utf-8")),
            "csv": paths["csv"].read_text(encoding="utf-8"), "html": paths["html"],
            "sarif": json.loads(paths["sarif"].read_text(encoding="utf-8"))}


def _app(doc: dict, name: str) -> dict:
    (app,) = [a for a in doc["apps"] if a["source"]["path"].endswith("/" + name)]
    return app


def test_the_look_alike_names_take_the_vendors_rules(scan):
    """What makes the marks matter: each look-alike name is read as the vendor's (its skeleton)."""
    doc = scan["doc"]
    for name in ("tt.apk", "we.apk", "whole.apk", "wide.apk", "package.apk", "signer.apk"):
        assert _app(doc, name)["verdict"] == "review", name
    assert _app(doc, "tt.apk")["label"] == TT  # JSON keeps the stored text
    assert _app(doc, "package.apk")["package"] == PACKAGE


def test_csv_cells_note_each_look_alike_and_only_those(scan):
    rows = {r["file"]: r for r in csv.DictReader(io.StringIO(scan["csv"], newline=""))}
    for name in ("tt.apk", "we.apk", "whole.apk", "wide.apk"):
        label = APKS[name][1]
        assert rows[name]["label"] == label + NOTES[label], name
    assert rows["package.apk"]["package"] == PACKAGE + NOTES[PACKAGE]
    assert rows["signer.apk"]["publisher"].startswith(ORG + NOTES[ORG] + " [name only")
    for name in ("weixin.apk", "kaspersky.apk", "plain.apk"):
        assert rows[name]["label"] == APKS[name][1], name  # a genuine name is shown as it is
        assert "look-alike" not in "".join(rows[name].values())
    assert rows["tt.apk"]["source"].endswith("/tt.apk")  # paths stay as stored


def test_the_terminal_notes_each_look_alike_and_only_those(scan):
    lines = {name: next(ln for ln in scan["terminal"].splitlines() if f" {name} " in ln) for name in APKS}
    for name in ("tt.apk", "we.apk", "whole.apk", "wide.apk"):
        label = APKS[name][1]
        assert lines[name].rstrip().endswith(label + NOTES[label]), lines[name]
    assert f"{PACKAGE}{NOTES[PACKAGE]} " in lines["package.apk"]
    assert f"{ORG}{NOTES[ORG]} [name only" in lines["signer.apk"]
    for name in ("weixin.apk", "kaspersky.apk", "plain.apk"):
        assert lines[name].rstrip().endswith(APKS[name][1]) and "look-alike" not in lines[name]


def test_sarif_alert_text_notes_the_look_alikes(scan):
    """A dashboard shows the alert text: the label, package and publisher carry their notes
    (brackets escaped as SARIF plain text escapes them)."""
    texts = [r["message"]["text"] for r in scan["sarif"]["runs"][0]["results"]]
    for name in (TT, WE, WHOLE, PACKAGE, ORG):
        escaped = NOTES[name].replace("[", "\\[").replace("]", "\\]")
        assert any(f"{name}{escaped}" in t for t in texts), name
    for label in GENUINE:
        (text,) = [t for t in texts if f": {label} (" in t]
        assert "look-alike" not in text


def test_on_two_lines_the_label_note_comes_before_a_long_label(scan):
    """A narrow terminal cuts the second line at its end: a long label must not push its note
    past the cut, so there the note comes before the label in quotes."""
    doc = scan["doc"]
    long_label = TT + " " + "x" * 300
    for a in doc["apps"]:
        if a["source"]["path"].endswith("/tt.apk"):
            a["label"] = a["identity"]["label"] = long_label
    out = io.StringIO()
    terminal.render(ScanDocument.of(doc), out, columns=100)
    (second,) = [ln for ln in out.getvalue().splitlines() if "com.example.video" in ln]
    assert len(second) <= 100 and f"·{NOTES[TT]} “{TT} x" in second


class _Marks(HTMLParser):
    """Each ``<mark class="lookalike">``'s (text, title), and the text of each look-alike note."""

    def __init__(self):
        super().__init__()
        self.marks: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self._in: tuple[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "mark" and a.get("class") == "lookalike":
            self._in = ("mark", a.get("title") or "")
        elif tag == "span" and a.get("class") == "lookalike-note":
            self._in = ("note", "")

    def handle_data(self, data):
        if self._in and self._in[0] == "mark":
            self.marks.append((data, self._in[1]))
        elif self._in:
            self.notes.append(data)
        self._in = None


def test_html_marks_each_look_alike_with_its_code_point_and_name(scan):
    text = scan["html"].read_text(encoding="utf-8")
    page = _Marks()
    page.feed(text)
    titles = dict(page.marks)
    assert titles["Т"] == "Т U+0422 CYRILLIC CAPITAL LETTER TE, reads as t"
    assert titles["е"] == "е U+0435 CYRILLIC SMALL LETTER IE, reads as e"
    assert titles["Ｔ"] == "Ｔ U+FF34 FULLWIDTH LATIN CAPITAL LETTER T, reads as t"
    assert titles["а"] == "а U+0430 CYRILLIC SMALL LETTER A, reads as a"
    assert titles["В"] == "В U+0412 CYRILLIC CAPITAL LETTER VE, reads as b"
    assert {c for c, _ in page.marks} == set("ТікоеＴｉｋｏаВ")
    assert set(page.notes) == {v.strip() for v in NOTES.values()}
    assert f'Tik<mark class="lookalike" title="{titles["Т"]}">Т</mark>ok <span class="lookalike-note"' in text
    for label in GENUINE:  # a genuine name's cell is its text alone
        assert f'<td class="claim" data-sort="{label}">{label}</td>' in text


def test_the_diff_page_marks_an_added_look_alike(scan, tmp_path):
    """``apkscan diff``: the app that appeared is listed by package and label, the label marked."""
    new = tmp_path / "new.json"
    new.write_text(json.dumps(scan["doc"]), encoding="utf-8")
    old_doc = copy.deepcopy(scan["doc"])
    old_doc["apps"] = [a for a in old_doc["apps"] if not a["source"]["path"].endswith("/tt.apk")]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(old_doc), encoding="utf-8")
    page = tmp_path / "diff.html"
    res = invoke("diff", old, new, "--html", page)
    assert res.exit_code in (0, 1), res.output
    (row,) = [r for r in page.read_text(encoding="utf-8").split("<tr class=\"change ")[1:] if "com.example.video" in r]
    assert row.startswith("added") and "<br>Tik<mark class=\"lookalike\"" in row and "[look-alike: Т=U+0422]" in row


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_in_chromium_a_look_alike_label_reads_otherwise_than_the_real_one(scan, tmp_path):
    """In the real browser: the cell of ``TikТok`` is not the text of ``TikTok``'s cell; its mark
    is an element holding the one Cyrillic letter, titled with its code point; genuine labels
    are shown exactly as stored; and the search finds the marked rows by ``look-alike``."""
    pytest.importorskip("websocket", reason="websocket-client not installed")
    from test_report_html import Browser

    b = Browser(str(tmp_path / "profile"))
    try:
        b.open(scan["html"].as_uri())
        assert b.problems() == []
        cells = b.eval("Object.fromEntries(Array.from(document.querySelectorAll('tbody.app')).map(t => "
                       "[t.querySelector('td.file').textContent.trim(), t.querySelector('td').textContent]))")
        assert cells["tt.apk"] == TT + NOTES[TT] and cells["plain.apk"] == "TikTok"
        assert cells["we.apk"] == WE + NOTES[WE]
        for name in ("weixin.apk", "kaspersky.apk", "plain.apk"):
            assert cells[name] == APKS[name][1]
        mark = b.eval("var m = document.querySelector('mark.lookalike'); [m.textContent, m.title, "
                      "getComputedStyle(m).outlineStyle]")
        assert mark[0] in "ТікоеＴｉｋｏаВ" and f"U+{ord(mark[0]):04X}" in mark[1] and mark[2] == "dashed"
        b.eval("var t = document.getElementById('f-text'); t.value = 'look-alike'; t.dispatchEvent(new Event('input'))")
        shown = b.eval("Array.from(document.querySelectorAll('tbody.app')).filter(t => !t.hidden)"
                       ".map(t => t.querySelector('td.file').textContent.trim()).sort()")
        assert shown == sorted(["tt.apk", "we.apk", "whole.apk", "wide.apk", "package.apk", "signer.apk"])
        assert b.problems() == []
    finally:
        b.close()


@pytest.mark.parametrize("name,want", [
    ("TikТok", "Т"), ("WеChat", "е"), ("ТікТок", "ТікТок"), ("ТікТок Lite", "ТікТок"), ("ＴｉｋＴｏｋ", "ＴｉｋＴｏｋ"),
    ("W℮Chat", "℮"), ("ᴛikᴛok", "ᴛᴛ"), ("Kасперского", "K"), ("微信WеChat", "е"),
    ("CN=ТikТok, O=ВyteDance", "ТТВ"),
    # genuine text in one script, accents and strokes a reader sees, ASCII among itself
    ("微信", ""), ("Лаборатория Касперского", ""), ("АО «Лаборатория Касперского»", ""),
    ("Kaspersky Антивирус", ""), ("Яндекс Go", ""), ("LINEマンガ", ""), ("WéChat", ""), ("Łódź", ""),
    ("Straße", ""), ("Ελληνικά", ""), ("musicaIly", ""), ("TikTok", ""),
])
def test_which_characters_are_marked(name, want):
    """The rule as documented in :mod:`apkscan.report.lookalike`, on the names it names."""
    assert "".join(name[i] for i in marks(name)) == want
    assert (note(name) != "") == bool(want)


def test_a_long_look_alike_label_is_marked_a_bounded_number_of_times(tmp_path):
    """Review 87 F6: every look-alike of a name was marked, each mark a titled element, so a
    300,000-character label edited into a saved document made a 10 MB page. A real APK labelled
    with 4,200 characters of look-alikes, scanned, then its saved label made 300,000 characters:
    each marked name carries at most MARK_MAX marks, and the page grows with the label's text,
    not its marks."""
    from apkscan.report.lookalike import MARK_MAX

    gen = generate_module()
    keys, saved = tmp_path / "keys", gen.KEYS
    shutil.copytree(FIXTURES / "keys", keys)
    gen.KEYS = keys
    try:
        unsigned = gen.build_unsigned(gen.App("com.example.whole", WHOLE + (" " + WHOLE) * 600))
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "long.apk").write_bytes(gen.sign(unsigned, tmp_path, ["unlisted-new"], v1=True, v2=True,
                                                            v3=False, min_sdk=21))
    finally:
        gen.KEYS = saved
    doc_path, page = tmp_path / "scan.json", tmp_path / "scan.html"
    res = invoke("scan", "--no-store", "--no-color", "--json", doc_path, "--html", page, tmp_path / "in")
    assert res.exit_code == 0, res.output
    pages = [page.read_text(encoding="utf-8")]
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    (app,) = doc["apps"]
    app["label"] = (WHOLE + " ") * 43_000  # 301,000 characters, edited into the saved document
    doc_path.write_text(json.dumps(doc), encoding="utf-8")
    res = invoke("report", doc_path, "--html", page)
    assert res.exit_code == 0, res.output
    pages.append(page.read_text(encoding="utf-8"))
    for html in pages:
        notes, marked = html.count('class="lookalike-note"'), html.count('<mark class="lookalike"')
        assert notes >= 1 and marked <= MARK_MAX * notes, (notes, marked)
    assert len(pages[1]) < 3 * len(app["label"].encode("utf-8")) + len(pages[0]), len(pages[1])
