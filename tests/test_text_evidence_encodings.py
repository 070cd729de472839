"""Text evidence as Windows saves it: UTF-8 BOM, UTF-16, a junk first line (review 30: 1, 10).

A BOM dropped the first `pm list packages` line (a WeChat-only listing became "empty
container", exit 0); UTF-16 or a `WARNING: linker` first line failed as ZIP_EOCD_NOT_FOUND.
Every line the reader drops is now counted in a TEXT_LINES_UNREADABLE warning.
"""

from __future__ import annotations

import io

import pytest

from apkscan.sources.text_detect import looks_like_text_evidence
from apkscan.sources.text_evidence import TextEvidenceReader
from backup_helpers import Collected

PM = ("package:/data/app/~~Qk1v==/com.tencent.mm-Zm9v==/base.apk=com.tencent.mm\r\n"
      "package:/data/app/~~YWJj==/com.example.notes-ZGVm==/base.apk=com.example.notes\r\n")
FORMS = {
    "utf8-bom-single": b"\xef\xbb\xbfpackage:com.tencent.mm\r\n",
    "utf8-bom": b"\xef\xbb\xbf" + PM.encode(),
    "utf16le-bom": b"\xff\xfe" + PM.encode("utf-16-le"),
    "utf16be-bom": b"\xfe\xff" + PM.encode("utf-16-be"),
    "utf16le-no-bom": PM.encode("utf-16-le"),
    "junk-first-line": ("WARNING: linker: libfoo.so: unused DT entry\n" + PM).encode(),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_wechat_is_listed_whatever_the_encoding(scan_path, tmp_path, form):
    path = tmp_path / f"{form}.txt"
    path.write_bytes(FORMS[form])
    doc = scan_path(path)
    listed = {a["package"]: (a["verdict"], a["identity"]["origin"]) for a in doc["apps"]}
    assert listed["com.tencent.mm"] == ("prohibited", "listed")
    assert [e for e in doc["errors"] if any(i["code"].startswith("ZIP_") for i in e["errors"])] == []
    codes = [i["code"] for e in doc["errors"] for i in e["errors"]]
    assert codes == (["TEXT_LINES_UNREADABLE"] if form == "junk-first-line" else [])


def test_a_utf16_listing_read_in_small_chunks_loses_no_line():
    data = b"\xff\xfe" + "".join(f"package:com.example.app{i}\r\n" for i in range(5000)).encode("utf-16-le")
    got = Collected(TextEvidenceReader(io.BytesIO(data), ("t.txt",)).entries())
    assert len(got.recorded) == 5000 and got.problems == []


def test_every_dropped_line_of_a_listing_is_counted():
    data = b"package:com.tencent.mm\nnot a package line\npackage:bad!name\n\npackage:com.example.notes\nmore junk\n"
    got = Collected(TextEvidenceReader(io.BytesIO(data), ("t.txt",)).entries())
    assert [a.package for a in got.recorded] == ["com.tencent.mm", "com.example.notes"]
    messages = [i.message for p in got.problems for i in p.issues]
    assert got.codes == ["TEXT_LINES_UNREADABLE", "TEXT_LINES_UNREADABLE"]
    assert messages[0].startswith("1 'package:' lines not understood")
    assert messages[1].startswith("2 lines that are no 'package:' line") and "'not a package line'" in messages[1]


def test_junk_before_a_listing_is_tolerated_at_any_count():
    """Review 32 #2: a listing behind 9 junk lines was no text evidence; the listing's mark counts anywhere."""
    junk = "".join(f"WARNING: line {i}\n" for i in range(9))
    assert looks_like_text_evidence((junk[: -len("WARNING: line 8\n")] + PM).encode())
    assert looks_like_text_evidence((junk + PM).encode())
    assert not looks_like_text_evidence(junk.encode())
    assert not looks_like_text_evidence(b"\x00\x01binary\x00package:com.tencent.mm\n")


def test_a_dumpsys_block_whose_header_does_not_read_is_counted():
    data = (b"Packages:\n  Package [com.tencent.mm] (1a2b3c):\n    versionCode=1\n"
            b"  Package [com.bad name] (4d5e6f):\n  Package [bad!name] (7a8b9c):\n"
            b"  Package [com.example.notes] (abcdef):\n")
    got = Collected(TextEvidenceReader(io.BytesIO(data), ("t.txt",)).entries())
    assert [a.package for a in got.recorded] == ["com.tencent.mm", "com.example.notes"]
    messages = [i.message for p in got.problems for i in p.issues]
    assert got.codes == ["TEXT_LINES_UNREADABLE"] and messages[0].startswith("2 'Package [...]' block headers")
