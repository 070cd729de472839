"""Text evidence whose encoding changes inside the file (review 33 #4, #5, #6).

PowerShell 5's ``>>`` appends UTF-16LE (with or without a BOM) to a file adb or cmd wrote
in UTF-8. Past detection's head the banned packages were dropped without a word; inside it
the file was read as a broken APK. The reader now switches decoder where the UTF-16 starts,
and counts every line it still cannot read, whatever the structure around it. Each file is
written in tmp_path and scanned as the CLI does.
"""

from __future__ import annotations

import codecs
import io

import pytest

from apkscan.scan import scan
from apkscan.sources import text_evidence
from apkscan.sources.files import FileSource
from apkscan.sources.text_evidence import TextEvidenceReader
from apkscan.sources.walker import WalkOptions
from backup_helpers import Collected
from cli_helpers import issue_codes as codes

BANNED = "package:com.tencent.mm\r\npackage:com.zhiliaoapp.musically\r\n"
DUMPSYS = "DUMP OF SERVICE package:\nPackages:\n" + "".join(
    f"  Package [com.example.a{i}] ({i:x}):\n    versionCode=1 minSdk=21\n" for i in range(120))  # > 4 KiB
SHORT = "DUMP OF SERVICE package:\nPackages:\n  Package [com.example.notes] (1a2b):\n    versionCode=1\n"
TAILS = {"bom-le": codecs.BOM_UTF16_LE + BANNED.encode("utf-16-le"),  # Out-File -Append on an empty tail
         "le": BANNED.encode("utf-16-le"),  # .NET writes no BOM when appending to a non-empty file
         "bom-be": codecs.BOM_UTF16_BE + BANNED.encode("utf-16-be")}


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(data: bytes):
        path = tmp_path / "pkgs.txt"
        path.write_bytes(data)
        return scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()
    return go


def messages(got: Collected) -> list[str]:
    return [i.message for p in got.problems for i in p.issues]


def verdicts(doc) -> dict[str, str]:
    return {a["package"]: a["verdict"] for a in doc["apps"]}


@pytest.mark.parametrize("head", ["long-dumpsys", "short-dumpsys", "short-pm"])
@pytest.mark.parametrize("tail", sorted(TAILS))
def test_utf16_appended_to_utf8_is_read(run, head, tail):
    text = {"long-dumpsys": DUMPSYS, "short-dumpsys": SHORT, "short-pm": "package:com.example.notes\n"}[head]
    doc = run(text.encode() + TAILS[tail])
    got = verdicts(doc)
    assert got["com.tencent.mm"] == got["com.zhiliaoapp.musically"] == "prohibited"
    assert "com.example.a119" in got or "com.example.notes" in got
    assert not [c for c in codes(doc) if c.startswith("ZIP_")]  # text, not a broken APK


def test_lines_of_another_encoding_are_counted_whatever_the_structure():
    """A NUL line that reads as no UTF-16 (no switch) inside dumpsys structure is said, not dropped."""
    data = (DUMPSYS + "garbage\0\x01\x02\x03 line\n  more").encode()
    got = Collected(TextEvidenceReader(io.BytesIO(data), ("t.txt",)).entries())
    assert any(m for m in messages(got) if "NUL bytes or a byte-order mark" in m)


def test_utf8_appended_to_utf16_marks_are_counted():
    """cmd's ``>>`` after PowerShell's ``>``: not followed, but its listing marks are said."""
    data = codecs.BOM_UTF16_LE + DUMPSYS.encode("utf-16-le") + BANNED.encode()
    got = Collected(TextEvidenceReader(io.BytesIO(data), ("t.txt",)).entries())
    assert any("2 'package:' or 'Package [' marks in 8-bit text" in m for m in messages(got))


def test_byte_cap_counts_bytes_read(monkeypatch):
    monkeypatch.setattr(text_evidence, "MAX_BYTES", 1000)
    monkeypatch.setattr(text_evidence, "CHUNK", 256)
    lines = "".join(f"package:com.example.a{i:03d}\n" for i in range(100))  # 24 chars a line
    got = Collected(TextEvidenceReader(io.BytesIO(codecs.BOM_UTF16_LE + lines.encode("utf-16-le")),
                                       ("t.txt",)).entries())
    # 1000 raw bytes are 499 characters after the BOM: 20 whole lines (not 41 as UTF-8 output would allow)
    assert len(got.recorded) in (20, 21)
    assert any("larger than 1000 bytes" in m for m in messages(got))


def test_transcoder_takes_any_bytes_in_any_chunks():
    import random

    from apkscan.sources.text_encodings import Transcoder, text_encoding
    rng = random.Random(33)
    alphabet = b"\x00\xff\xfe\n\rpackage:\xe4\xb8\x80"
    for _ in range(500):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 1500)))
        t = Transcoder(text_encoding(data[:4096]) or "utf-8")
        at, out = 0, []
        while at < len(data):
            step = rng.randint(1, 700)
            out.append(t.feed(data[at:at + step]))
            at += step
        out.append(t.feed(b"", final=True))
        b"".join(out).decode("utf-8", "replace")
