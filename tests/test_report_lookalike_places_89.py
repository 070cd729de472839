"""Review 89 (2): look-alike names are marked wherever a person reads them, not only in the tables.

Review 82 F5 marked the look-alike letters of app names in the HTML and terminal tables, the CSV
and SARIF; but ``apkscan inspect`` printed ``Label: TikТok`` as if it were the vendor's spelling,
an error naming a package (a backup's ``_manifest`` under another app's folder) showed it bare in
the terminal and the HTML error list, and the HTML tooltips (a long label's whole text, a file's
whole path) showed no mark either. Real APKs (fixtures/generate.py, apksigner) and a real adb
backup (tests/adb_writer.py), scanned and inspected by the CLI.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from backup_helpers import build_ab, manifest, pem_der
from cli_helpers import FIXTURES, generate_module, invoke
from test_report_lookalike import ORG, signed_apks

TT = "TikТok"  # Cyrillic capital TE (U+0422)
PACKAGE = "com.zhiliaoapp.musicаlly"  # Cyrillic small A (U+0430)
LONG = TT + " " + "Video " * 40  # past the 160 characters the table shows: the whole is in a title
NOTE = {TT: " [look-alike: Т=U+0422]", PACKAGE: " [look-alike: а=U+0430]", ORG: " [look-alike: В=U+0412]"}
FILE = f"{TT}.apk"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """APKs with a look-alike label (file named so too), a long one, a look-alike signer's name;
    and an adb backup whose _manifest names a look-alike package under another app's folder."""
    tmp = tmp_path_factory.mktemp("places")
    inputs = tmp / "in"
    signed_apks(tmp, inputs, {FILE: ("com.example.video", TT, "unlisted-new"),
                              "long.apk": ("com.example.long", LONG, "unlisted-new"),
                              "signer.apk": ("com.example.notes", "Notes", "lookalike-org")})
    backup = tmp / "backup.ab"
    backup.write_bytes(build_ab([("apps/com.example.notes/_manifest",
                                  manifest(PACKAGE, 1, [pem_der("tencent-like")], False))]))
    return {"inputs": inputs, "backup": backup, "tmp": tmp}


def test_inspect_notes_a_look_alike_label_and_signer(made):
    res = invoke("inspect", made["inputs"] / FILE, made["inputs"] / "signer.apk")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert f"File: {made['inputs'] / FILE}{NOTE[TT]}" in lines  # the file is named so too
    (label,) = [ln for ln in lines if ln.startswith("  Label: Tik")]
    assert label.startswith(f"  Label: {TT}{NOTE[TT]}  minSdk: 21"), label
    (signer,) = [ln for ln in lines if ln.startswith("  Signer #1: ") and "Notes" in ln]
    assert signer == f"  Signer #1: CN=Notes,O={ORG}{NOTE[ORG]}", signer
    assert "look-alike" not in res.output.replace(NOTE[TT], "").replace(NOTE[ORG], "")  # nothing else marked


def test_inspect_notes_a_look_alike_package_a_record_names(made):
    res = invoke("inspect", made["backup"])
    (note,) = [ln for ln in res.output.splitlines() if "recorded app" in ln]
    assert f"recorded app {PACKAGE}{NOTE[PACKAGE]} (adb backup _manifest)" in note, note


class _Cells(HTMLParser):
    """Text of the error list's rows, and the title of every table cell (as a browser reads them)."""

    def __init__(self):
        super().__init__()
        self.titles: list[str] = []
        self.errors: list[str] = []
        self._in_errors = self._row = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._in_errors = a.get("id") == "errors"
        if tag == "td" and "title" in a:
            self.titles.append(a["title"])
        if tag == "tr" and self._in_errors:
            self._row = True
            self.errors.append("")
        if tag == "mark" and self._row:
            self.errors[-1] += "<mark>"

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = False
        if tag == "mark" and self._row:
            self.errors[-1] += "</mark>"

    def handle_data(self, data):
        if self._row:
            self.errors[-1] += data


@pytest.fixture(scope="module")
def scanned(made) -> dict:
    page = made["tmp"] / "scan.html"
    res = invoke("scan", "--no-store", "--no-color", "--html", page, made["inputs"], made["backup"])
    assert res.exit_code in (0, 1, 3), res.output
    cells = _Cells()
    cells.feed(page.read_text(encoding="utf-8"))
    return {"terminal": res.output, "cells": cells}


def test_an_error_naming_a_look_alike_package_is_marked(scanned):
    """BACKUP_MANIFEST_MISMATCH names the package the _manifest claims: the terminal notes it,
    the HTML error list marks its letter and notes it."""
    said = f"_manifest names '{PACKAGE}' but sits under apps/com.example.notes/"
    (line,) = [ln for ln in scanned["terminal"].splitlines() if "BACKUP_MANIFEST_MISMATCH" in ln]
    assert line.endswith(said + NOTE[PACKAGE]), line
    (row,) = [r for r in scanned["cells"].errors if "BACKUP_MANIFEST_MISMATCH" in r]
    assert "_manifest names 'com.zhiliaoapp.music<mark>а</mark>lly' but sits under" in row, row
    assert row.endswith(NOTE[PACKAGE].strip()), row


def test_html_tooltips_note_a_look_alike_name(scanned, made):
    """A title attribute holds no mark: the whole label's and the whole path's carry the note."""
    titles = scanned["cells"].titles
    assert LONG + NOTE[TT] in titles  # the long label's cell: its whole text, noted
    (path,) = [t for t in titles if t.endswith(FILE + NOTE[TT])]
    assert path == f"{made['inputs'] / FILE}{NOTE[TT]}", path
    assert not [t for t in titles if "long.apk" in t and "look-alike" in t]  # a plain path is not noted


def test_a_split_of_a_look_alike_package_is_marked_in_its_finding_and_mismatch(made, tmp_path):
    """A bundle whose split claims a look-alike package: the split-mismatch finding's message and
    the splits table's reason quote it; both are marked in the HTML details."""
    import sys

    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    import axml_writer as ax

    gen = generate_module()
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name, package, split in (("base.apk", "com.example.notes", None),
                                 ("split_config.en.apk", PACKAGE, "config.en")):
        attrs = [ax.Attr("package", package, android=False)]
        if split:
            attrs.append(ax.Attr("split", split, android=False))
        app = gen.App(package, None, version_code=1, version_name="1.0", package_attrs=attrs)
        work = tmp_path / f"work-{name}"
        work.mkdir()
        (bundle / name).write_bytes(gen.sign(gen.build_unsigned(app), work, ["test-rsa"], v1=True, v2=True,
                                             v3=True, min_sdk=21))
    page = tmp_path / "b.html"
    res = invoke("scan", "--no-store", "--no-color", "--html", page, bundle)
    assert res.exit_code in (0, 1), res.output
    text = page.read_text(encoding="utf-8")
    quoted = "package &#39;com.zhiliaoapp.music<mark class=\"lookalike\""
    finding = text[text.index('<div class="finding">'):]
    assert quoted in finding[:finding.index("</div>")]  # the split-mismatch finding's message
    splits = text[text.index("<h4>Split APKs"):]
    assert quoted in splits[:splits.index("</table>")]  # the splits table's "no: ..." reason


def test_a_marked_error_message_stays_escaped(tmp_path):
    """The package a hostile _manifest names carries markup and an entity beside its look-alike:
    the HTML marks the letter and shows the rest as text; no element of its own gets in."""
    hostile = "<img/src=x>musicаlly&amp;"
    backup = tmp_path / "h.ab"
    backup.write_bytes(build_ab([("apps/com.example.x/_manifest", manifest(hostile, 1, [pem_der("tencent-like")], False))]))
    page = tmp_path / "h.html"
    res = invoke("scan", "--no-store", "--no-color", "--html", page, backup)
    assert res.exit_code in (0, 1, 3), res.output
    text = page.read_text(encoding="utf-8")
    errors = text[text.index('<section id="errors"'):]
    errors = errors[:errors.index("</section>")]
    assert ("_manifest names &#39;&lt;img/src=x&gt;music<mark class=\"lookalike\" title=\"а U+0430 CYRILLIC "
            "SMALL LETTER A, reads as a\">а</mark>lly&amp;amp;&#39; but sits under") in errors, errors
    assert "<img" not in text
    (line,) = [ln for ln in res.output.splitlines() if "BACKUP_MANIFEST_MISMATCH" in ln]
    assert line.endswith(f"_manifest names '{hostile}' but sits under apps/com.example.x/ [look-alike: а=U+0430]")


def test_the_tamper_line_of_an_allowed_app_notes_a_look_alike_file_name(tmp_path):
    """An allowed app with tamper indicators is named below the terminal table by its file."""
    src = FIXTURES / "apks" / "badpack-local-sizes.apk"
    (tmp_path / FILE).write_bytes(src.read_bytes())
    res = invoke("scan", "--no-store", "--no-color", tmp_path / FILE)
    (line,) = [ln for ln in res.output.splitlines() if ln.startswith("tamper indicators on allowed")]
    assert line.startswith(f"tamper indicators on allowed {FILE}{NOTE[TT]}: TAMPER_"), line
