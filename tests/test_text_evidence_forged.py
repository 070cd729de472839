"""dumpsys output a device owner shaped through its own apps' fields (review 40).

A package's versionName, label or MIME type is printed by ``dumpsys package`` as the app wrote it:
a newline there prints a column-0 line (a forged ``Hidden system packages:`` or ``Key Set Manager:``
header ending the section), a scan_path of NULs can make the capture look binary. The blocks after a
forged header must still be read as apps, and a capture that starts as a listing is text however
many NULs a field printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest



def _dump(version_name: str) -> str:
    return ("Activity Resolver Table:\n  Non-Data Actions:\n      android.intent.action.MAIN:\n\n"
            "Packages:\n  Package [com.android.shell] (1111111):\n    versionCode=33\n"
            f"  Package [com.example.decoy] (2a):\n    versionCode=1\n    versionName={version_name}\n"
            "  Package [com.example.decoy2] (2b):\n    versionCode=1\n"
            "  Package [com.tencent.mm] (a1b2c3d):\n    versionCode=2080\n")


def _write(tmp_path: Path, text: bytes, in_folder: bool) -> Path:
    folder = tmp_path / "pulled"
    folder.mkdir()
    (folder / "dumpsys.txt").write_bytes(text)
    return folder if in_folder else folder / "dumpsys.txt"


def _verdicts(doc: dict) -> dict[str, str]:
    return {a["package"]: a["verdict"] for a in doc["apps"]}


@pytest.mark.parametrize("in_folder", [False, True], ids=["given", "in-a-folder"])
@pytest.mark.parametrize("header", ["Hidden system packages:", "Key Set Manager:", "Queries:",
                                    "DUMP OF SERVICE other:"])
def test_blocks_after_a_header_a_field_printed_are_read(scan_path, tmp_path, header, in_folder):
    doc = scan_path(_write(tmp_path, _dump(f"1.0\n{header}").encode(), in_folder))
    verdicts = _verdicts(doc)
    assert verdicts.get("com.tencent.mm") == "prohibited", verdicts  # before: dropped, or only counted
    assert "com.example.decoy2" in verdicts


def test_real_hidden_system_packages_are_listed_once_with_their_updated_block(scan_path, tmp_path):
    text = _dump("1.0") + "\nHidden system packages:\n  Package [com.android.shell] (3333333):\n    versionCode=30\n"
    doc = scan_path(_write(tmp_path, text.encode(), False))
    shells = [a for a in doc["apps"] if a["package"] == "com.android.shell"]
    assert len(shells) == 1 and doc["errors"] == []


@pytest.mark.parametrize("in_folder", [False, True], ids=["given", "in-a-folder"])
@pytest.mark.parametrize("flood", [120, 4000])
def test_a_nul_flood_a_field_printed_near_the_top_does_not_make_the_capture_binary(scan_path, tmp_path, flood, in_folder):
    text = _dump("1.0").replace("android.intent.action.MAIN:\n",
                                "android.intent.action.MAIN:\n  Full MIME Types:\n      application/x-"
                                + "\0" * flood + ":\n")
    doc = scan_path(_write(tmp_path, text.encode(), in_folder))
    assert _verdicts(doc).get("com.tencent.mm") == "prohibited"  # before: skipped as binary, or ZIP_EOCD_NOT_FOUND
    assert any("NUL" in i["message"] for e in doc["errors"] for i in e["errors"])  # the NUL line is counted


def test_a_binary_that_quotes_a_mark_past_its_first_lines_stays_binary(scan_path, tmp_path):
    blob = bytes(range(256)) * 8 + b"\npackage:com.tencent.mm\n" + bytes(range(256)) * 8
    doc = scan_path(_write(tmp_path, blob, True))
    assert doc["apps"] == [] and doc["errors"] == []


# --- review 41 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("in_folder", [False, True], ids=["given", "in-a-folder"])
@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"WARNING: linker: a\n" * 12, "Warnung: Verknüpfer\n".encode()],
                         ids=["utf8-bom", "12-junk-lines", "non-ascii-junk"])
def test_a_nul_flood_after_a_bom_or_junk_still_leaves_the_capture_text(scan_path, tmp_path, prefix, in_folder):
    text = _dump("1.0").replace("android.intent.action.MAIN:\n",
                                "android.intent.action.MAIN:\n  Full MIME Types:\n      application/x-"
                                + "\0" * 120 + ":\n")
    doc = scan_path(_write(tmp_path, prefix + text.encode(), in_folder))
    assert _verdicts(doc).get("com.tencent.mm") == "prohibited"


@pytest.mark.parametrize("frame", ["", "== dumpstate: 2026-11-30\nDUMP OF SERVICE package:\n"], ids=["plain", "bugreport"])
def test_a_fake_service_header_before_packages_does_not_hide_them(scan_path, tmp_path, frame):
    text = frame + _dump("1.0").replace("android.intent.action.MAIN:\n",
                                        "android.intent.action.MAIN:\n  Full MIME Types:\n      application/x-a\n"
                                        "DUMP OF SERVICE activity:\n")
    doc = scan_path(_write(tmp_path, text.encode(), False))
    assert _verdicts(doc).get("com.tencent.mm") == "prohibited"  # before: no block read, TEXT_EVIDENCE_EMPTY
    assert not any("read as listed apps" in i["message"] for e in doc["errors"] for i in e["errors"])


def _users(*states: str) -> str:
    return "".join(f"    User {i}: ceDataInode=1 installed={s} hidden=false suspended=false\n" for i, s in enumerate(states))


@pytest.mark.parametrize(("users", "listed"), [(("false",), False), (("false", "false"), False), (("false", "true"), True),
                                               (("true",), True), ((), True)])
def test_a_package_installed_for_no_user_is_a_counted_skip(scan_path, tmp_path, users, listed):
    text = _dump("1.0") + _users(*users)  # the users of WeChat's block, the last one
    doc = scan_path(_write(tmp_path, text.encode(), False))
    assert ("com.tencent.mm" in _verdicts(doc)) is listed
    if not listed:
        assert any("installed for no user" in s["reason"] and "com.tencent.mm" in s["examples"] for s in doc["skipped"])


def test_a_forged_installed_false_line_cannot_unlist_an_installed_package(scan_path, tmp_path):
    text = _dump("1.0") + "    versionName=8.0\n    User 0: installed=false\n" + _users("true")
    doc = scan_path(_write(tmp_path, text.encode(), False))
    assert _verdicts(doc).get("com.tencent.mm") == "prohibited"


def test_a_forged_hidden_block_before_the_real_one_gives_way_to_it(scan_path, rules, policy, tmp_path):
    forged = ("    versionName=1.0\nHidden system packages:\n  Package [com.tencent.mm] (1):\n    versionCode=1\n"
              "    versionName=0.0-forged\n    User 0: installed=false\nPackages:")
    text = _dump(forged) + "    versionName=8.0.49\n" + _users("true")
    doc = scan_path(_write(tmp_path, text.encode(), False))
    [mm] = [a for a in doc["apps"] if a["package"] == "com.tencent.mm"]
    assert mm["verdict"] == "prohibited" and mm["identity"]["version_name"] == "8.0.49"  # before: 0.0-forged
