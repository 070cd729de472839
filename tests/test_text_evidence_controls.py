"""Text evidence holding stray control bytes, or UTF-16 one byte off (review 34 #4, #5).

#4: one NUL (a serial capture, a linker warning printing one, ANSI colours and a NUL) in the
first 4 KiB made a whole ``pm list`` "binary": skipped in a folder (WeChat unlisted, exit 0),
``ZIP_EOCD_NOT_FOUND`` given. Text is now told by the share of control bytes, not by one byte;
the NUL line is counted. Binaries (APK, DEX, SQLite, PNG, ELF) stay binaries.

#5: UTF-16LE dumpsys, 3 bytes of 8-bit text, then a UTF-16LE ``pm list`` one byte off: the list
read as one line of CJK-looking text with no NUL, dropped without a word once dumpsys structure
had started. Every such line is now counted, whatever came before it.
"""

from __future__ import annotations

import codecs
import sqlite3
import struct
import sys
import zlib
import zipfile
from pathlib import Path

import pytest

from apkscan.sources.text_encodings import text_encoding
from cli_helpers import issue_codes as codes, issue_messages as messages

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
PM = ("".join(f"package:com.example.app{i}\n" for i in range(150)) + "package:com.tencent.mm\n"
      + "".join(f"package:com.example.b{i}\n" for i in range(150)))
NUL_FORMS = {
    "nul-line1": "WARNING: linker: x\0y\n" + PM,
    "nul-first": "\0\n" + PM,
    "esc-nul": "\x1b[0m\n\x1b[32mpackage:com.example.z\x1b[0m\nx\0\n" + PM,
    "bell-del": "\a\x7f\x08 capture\n" + PM,
}


@pytest.mark.parametrize("in_folder", [False, True], ids=["given", "in-a-folder"])
@pytest.mark.parametrize("form", sorted(NUL_FORMS))
def test_a_listing_with_a_stray_control_byte_is_read(scan_path, tmp_path, form, in_folder):
    folder = tmp_path / "pulled"
    folder.mkdir()
    path = folder / "listing.txt"
    path.write_bytes(NUL_FORMS[form].encode())
    (folder / "readme.txt").write_text("device 17\n")  # the batch goes on around it
    doc = scan_path(folder if in_folder else path)
    assert {a["package"]: a["verdict"] for a in doc["apps"]}["com.tencent.mm"] == "prohibited"
    assert not [c for c in codes(doc) if c.startswith("ZIP_")]
    if "\0" in NUL_FORMS[form]:  # the NUL line is counted, as docs/backups.md promises
        assert any("NUL bytes" in m and "1 lines" in m for m in messages(doc))


def _binary_heads(tmp_path) -> dict[str, bytes]:
    db = tmp_path / "app.db"
    con = sqlite3.connect(db)
    con.execute("create table t (name text)")
    con.executemany("insert into t values (?)", [("package:com.tencent.mm",)] * 50)
    con.commit()
    con.close()
    png = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
           + b"\0\0\0\0" + zlib.compress(bytes(range(256)) * 40))
    apk = APKS / "clean-v1v2v3.apk"
    with zipfile.ZipFile(apk) as z:
        dex = z.read("classes.dex")  # a small DEX: its header and tables
    return {"sqlite": db.read_bytes()[:4096], "png": png[:4096], "elf": Path(sys.executable).read_bytes()[:4096],
            "apk": apk.read_bytes()[:4096], "dex": dex, "zeros": bytes(4096)}


def test_binaries_are_no_text(tmp_path):
    for name, head in _binary_heads(tmp_path).items():
        assert text_encoding(head) is None, name


def test_a_binary_in_a_folder_is_still_skipped_as_no_input(scan_path, tmp_path):
    folder = tmp_path / "pulled"
    folder.mkdir()
    for name, head in _binary_heads(tmp_path).items():
        if name != "apk":
            (folder / f"{name}.bin").write_bytes(head * 2)
    doc = scan_path(folder)
    assert doc["apps"] == [] and doc["errors"] == []
    assert {s["reason"] for s in doc["skipped"]} == {"not an APK or a known container"}


def test_utf16_one_byte_off_after_dumpsys_structure_is_counted(scan_path, tmp_path):
    dump = "Packages:\r\n  Package [com.example.notes] (1a2b3c4):\r\n    versionCode=3\r\n"
    pm = "".join(f"package:com.example.a{i}\r\n" for i in range(20)) + "package:com.tencent.mm\r\n"
    path = tmp_path / "device.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + dump.encode("utf-16-le") + b"x\r\n" + pm.encode("utf-16-le"))
    doc = scan_path(path)
    assert [a["package"] for a in doc["apps"]] == ["com.example.notes"]
    [said] = [m for m in messages(doc) if "one byte off" in m]
    assert said.startswith("22 lines")  # 21 listing lines and the 8-bit one, joined by LFs read one byte off
    assert "package:com.example.a0" in said  # read one byte on, for the investigator
    assert codes(doc) == ["TEXT_LINES_UNREADABLE"]


def test_utf16be_one_byte_off_is_counted_and_shown(scan_path, tmp_path):
    dump = "Packages:\n  Package [com.example.notes] (1a2b3c4):\n    versionCode=3\n"
    path = tmp_path / "device.txt"
    path.write_bytes(codecs.BOM_UTF16_BE + dump.encode("utf-16-be") + b"x"
                     + "package:com.tencent.mm\npackage:com.example.a\n".encode("utf-16-be"))
    [said] = [m for m in messages(scan_path(path)) if "one byte off" in m]
    assert "package:com.tencent.mm" in said


def test_utf16_one_byte_off_without_a_lf_is_counted(scan_path, tmp_path):
    dump = "Packages:\n  Package [com.example.notes] (1a2b3c4):\n    versionCode=3\n"
    path = tmp_path / "device.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + dump.encode("utf-16-le") + b"x" + "package:com.tencent.mm".encode("utf-16-le"))
    assert any("one byte off" in m for m in messages(scan_path(path)))


def test_real_cjk_text_in_dumpsys_is_not_called_one_byte_off(scan_path, tmp_path):
    dump = ("Packages:\n  Package [com.example.notes] (1a2b3c4):\n    versionName=微信 8.0 测试版\n"
            "    label=愀挀欀 abc\n")
    path = tmp_path / "device.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + dump.encode("utf-16-le"))
    doc = scan_path(path)
    assert [a["package"] for a in doc["apps"]] == ["com.example.notes"] and doc["errors"] == []


DUMP = ("DUMP OF SERVICE package:\nPackages:\n  Package [com.android.shell] (1111111):\n    versionCode=33\n"
        "  Package [com.example.decoy] (2a):\n    versionCode=1\n    versionName=1.0\n{inject}\n"
        "  Package [com.tencent.mm] (a1b2c3d):\n    versionCode=2080\n"
        "Hidden system packages:\n  Package [com.android.shell] (3333333):\n    versionCode=30\n")


@pytest.mark.parametrize(("inject", "count"), [("Z", 1), ("DUMP OF SERVICE other:", 1), ("Packages (ended):", 1)])
def test_package_blocks_a_field_cut_off_from_their_section_are_counted(scan_path, tmp_path, inject, count):
    """A decoy's versionName or label holding a newline prints a line at column 0 (or a fake service
    header): the Packages: section ends there and WeChat's block after it was dropped without a word."""
    path = tmp_path / "dumpsys.txt"
    path.write_bytes(DUMP.format(inject=inject).encode())
    doc = scan_path(path)
    assert "com.example.decoy" in {a["package"] for a in doc["apps"]}
    [said] = [m for m in messages(doc) if "outside the package service's Packages: section" in m]
    assert said.startswith(f"{count} ") and "com.tencent.mm" in said
    assert "com.tencent.mm" in {a["package"] for a in doc["apps"]}  # and read (review 40 F6)


def test_hidden_system_packages_are_no_lines_dropped(scan_path, tmp_path):
    path = tmp_path / "dumpsys.txt"
    path.write_bytes(DUMP.replace("{inject}\n", "").encode())
    doc = scan_path(path)
    assert {a["package"]: a["verdict"] for a in doc["apps"]}["com.tencent.mm"] == "prohibited"
    assert doc["errors"] == []
