"""Text evidence past the old tolerance (review 32 #2).

9+ junk lines, one junk line over the 4 KiB head, `dumpsys package` behind one `WARNING: linker`
line, UTF-16BE without a BOM and UTF-32 were no text evidence: in a pulled folder the listing
was skipped ("not an APK or a known container", exit 0), given directly a misleading
ZIP_EOCD_NOT_FOUND. Now text (UTF-8/16/32, BOM or not) carrying a `package:` line, a
`Package [` block or a dumpsys header within a bounded scan is read, its junk counted; text
without one is said by code unless read to its end.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from apkscan.sources.text_detect import SCAN_BYTES
from apkscan.sources.text_encodings import text_encoding
from cli_helpers import issue_codes as _codes

DUMPSYS = (Path(__file__).resolve().parents[1] / "fixtures" / "backups" / "dumpsys-package.txt").read_text()
PM = "package:/data/app/~~Qk1v==/com.tencent.mm-Zm9v==/base.apk=com.tencent.mm\npackage:com.example.notes\n"
LINKER = "WARNING: linker: /system/bin/sh: unused DT entry: type 0x6ffffffe arg 0x1234\n"
FORMS = {
    "junk9": (LINKER * 9 + PM).encode(),
    "junk40": (LINKER * 40 + PM).encode(),
    "junk-long": ("WARNING: " + "x" * 4200 + "\n" + PM).encode(),
    "dumpsys-junk1": (LINKER + DUMPSYS).encode(),
    "utf16be-nobom": PM.encode("utf-16-be"),
    "utf32le-nobom": PM.encode("utf-32-le"),
    "utf32be-nobom": PM.encode("utf-32-be"),
    "utf32-bom": codecs.BOM_UTF32_LE + PM.encode("utf-32-le"),
    "utf32be-bom": codecs.BOM_UTF32_BE + PM.encode("utf-32-be"),
    "utf16be-nobom-junk": (LINKER * 12 + PM).encode("utf-16-be"),
    "past-the-head-utf16le": ("W" * 5000 + "\n" + PM).encode("utf-16-le"),
}
JUNK = {"junk9", "junk40", "junk-long", "dumpsys-junk1", "utf16be-nobom-junk", "past-the-head-utf16le"}


@pytest.mark.parametrize("in_folder", [False, True], ids=["given", "in-a-folder"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_wechat_is_listed_past_the_old_tolerance(scan_path, tmp_path, form, in_folder):
    folder = tmp_path / "pulled"
    folder.mkdir()
    path = folder / "packages.txt"
    path.write_bytes(FORMS[form])
    doc = scan_path(folder if in_folder else path)
    listed = {a["package"]: (a["verdict"], a["identity"]["origin"]) for a in doc["apps"]}
    assert listed["com.tencent.mm"] == ("prohibited", "listed")
    assert not any(c.startswith("ZIP_") for c in _codes(doc))
    assert _codes(doc) == (["TEXT_LINES_UNREADABLE"] if form in JUNK else [])  # the junk counted, never silent
    assert doc["skipped"] == []


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_the_encoding_is_told_from_the_bytes(encoding):
    want = "utf-8" if encoding == "utf-8" else encoding
    assert text_encoding(("WARNING: é 端\n" + PM).encode(encoding)) == want


def test_binary_is_no_text():
    assert text_encoding(b"\x00\x01\x02\x03\xff\xfe\xfd" * 40) is None
    assert text_encoding(bytes(600)) is None


def test_a_listing_past_the_first_mib_in_a_folder_is_read(scan_path, tmp_path):
    """Review 34 #3: the scan goes on to the text's end (test_text_evidence_stream.py for its budgets)."""
    folder = tmp_path / "pulled"
    folder.mkdir()
    (folder / "big.txt").write_bytes(b"log line\n" * (SCAN_BYTES // 9 + 10) + PM.encode())
    doc = scan_path(folder)
    assert {a["package"]: a["verdict"] for a in doc["apps"]}["com.tencent.mm"] == "prohibited"
    assert _codes(doc) == ["TEXT_LINES_UNREADABLE"]  # the log lines before it, counted


def test_marked_text_that_names_no_package_is_said(scan_path, tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"Packages:\n  Package [bad name] (1a):\n")
    assert "TEXT_EVIDENCE_EMPTY" in _codes(scan_path(path))


def test_small_text_without_a_listing_in_a_folder_is_skipped_and_the_batch_goes_on(scan_path, tmp_path):
    folder = tmp_path / "pulled"
    folder.mkdir()
    (folder / "notes.txt").write_text("nothing to see\n")
    (folder / "packages.txt").write_bytes(FORMS["junk9"])
    doc = scan_path(folder)
    assert {a["package"] for a in doc["apps"]} == {"com.tencent.mm", "com.example.notes"}
    assert [(s["examples"][0].endswith("notes.txt"), s["reason"]) for s in doc["skipped"]] == [
        (True, "not an APK or a known container")]
