"""diff: an input given itself (a file on the command line) that failed is keyed by its path,
never its file name (review 71 F12).

Every adb backup is ``backup.ab`` and every pull ``base.apk``, and a device that refuses
``adb backup`` (or a pull that came back empty) leaves byte-identical files: keyed by name, a
banned app made unreadable on one device hid behind the other device's old failure ("gone,
nothing got worse", exit 0), and ``--source-by-name`` merged the two devices.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main
from apkscan.diff import NEW, diff_documents
from backup_helpers import APKS, BACKUPS, build_ab

CLEAN = APKS / "clean-v1v2v3.apk"
WECHAT = APKS / "wechat-impostor.apk"
BANNED_AB = BACKUPS / "adb-v5-compressed.ab"  # WeChat and TikTok


def _empty_ab() -> bytes:
    return build_ab([], version=5, compress=True)  # what a device that refuses `adb backup` gives


def _clean_ab() -> bytes:
    return build_ab([("apps/com.example.clean/a/base.apk", CLEAN.read_bytes())], version=5, compress=True)


def _lay(root: Path, files: dict[str, bytes]) -> list[Path]:
    out = []
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        out.append(root / name)
    return out


def _scan(out: Path, *inputs: Path) -> Path:
    res = CliRunner().invoke(main, ["scan", *map(str, inputs), "--json", str(out), "--quiet", "-j1", "--no-store"])
    assert res.exit_code in (0, 1, 3), res.output
    return out


def _diff(old: Path, new: Path, *args: str):
    return CliRunner().invoke(main, ["diff", str(old), str(new), *args])


def _failures(result) -> list[tuple[str, str, str, str]]:
    return [(f.source, f.name, f.code, f.status) for s in result.sources for f in s.new_failures + s.still_failing]


def test_two_devices_backups_given_as_files_swap_an_empty_backup(tmp_path):
    ev = tmp_path / "ev"
    m1 = _scan(tmp_path / "m1.json", *_lay(ev, {"a/backup.ab": _empty_ab(), "b/backup.ab": BANNED_AB.read_bytes()}))
    m2 = _scan(tmp_path / "m2.json", *_lay(ev, {"a/backup.ab": _clean_ab(), "b/backup.ab": _empty_ab()}))
    result = diff_documents(json.loads(m1.read_text()), json.loads(m2.read_text()))
    b = str(ev / "b" / "backup.ab")
    assert _failures(result) == [(b, b, "BACKUP_EMPTY", NEW)]
    assert {(c.source, c.package, c.change) for c in result.changes()} >= {(b, "com.tencent.mm", "removed")}
    res = _diff(m1, m2)
    assert res.exit_code == 1, res.output
    assert f"{b}: 2 changed" in res.output and f"! {b}  could not be scanned now" in res.output
    assert "(APKs given directly)" not in res.output and "nothing got worse" not in res.output


def test_the_same_evidence_given_as_a_folder_is_keyed_below_it(tmp_path):
    """The control: in a folder the place was already the path below it."""
    ev = tmp_path / "ev"
    _lay(ev, {"a/backup.ab": _empty_ab(), "b/backup.ab": BANNED_AB.read_bytes()})
    m1 = _scan(tmp_path / "m1.json", ev)
    _lay(ev, {"a/backup.ab": _clean_ab(), "b/backup.ab": _empty_ab()})
    m2 = _scan(tmp_path / "m2.json", ev)
    result = diff_documents(json.loads(m1.read_text()), json.loads(m2.read_text()))
    assert _failures(result) == [("", "b/backup.ab", "BACKUP_EMPTY", NEW)] and result.exit_code() == 1


def test_by_name_a_failed_backup_still_tells_the_devices_apart(tmp_path):
    jan = _lay(tmp_path / "jan", {"dev1/backup.ab": _empty_ab(), "dev2/backup.ab": BANNED_AB.read_bytes()})
    feb = _lay(tmp_path / "feb", {"dev1/backup.ab": _clean_ab(), "dev2/backup.ab": _empty_ab()})
    old, new = _scan(tmp_path / "jan.json", *jan), _scan(tmp_path / "feb.json", *feb)
    result = diff_documents(json.loads(old.read_text()), json.loads(new.read_text()), by_name=True)
    assert _failures(result) == [("dev2/backup.ab", "dev2/backup.ab", "BACKUP_EMPTY", NEW)]
    assert {(c.source, c.package, c.change) for c in result.changes()} == {
        ("dev1/backup.ab", "com.example.clean", "added"), ("dev2/backup.ab", "com.tencent.mm", "removed"),
        ("dev2/backup.ab", "com.zhiliaoapp.musically", "removed")}
    assert "DIFF_SOURCE_NAME_AMBIGUOUS" in {n.code for n in result.notes}
    res = _diff(old, new, "--source-by-name")
    assert res.exit_code == 1 and "backup.ab: 3 changed" not in res.output, res.output
    # the same device failing the same way in both months is not new
    again = _scan(tmp_path / "mar.json", *_lay(tmp_path / "mar", {"dev1/backup.ab": _clean_ab(),
                                                                  "dev2/backup.ab": _empty_ab()}))
    result = diff_documents(json.loads(new.read_text()), json.loads(again.read_text()), by_name=True)
    assert result.counts()["new_failures"] == 0 and result.exit_code() == 0, result.to_dict()


def test_empty_pulls_given_as_files_same_code_same_content_other_place_is_new(tmp_path):
    """docs/diff.md's own name: two 0-byte ``base.apk`` pulls fail alike (code and SHA-256 of nothing)."""
    bz = tmp_path / "bz"
    b1 = _scan(tmp_path / "b1.json", *_lay(bz, {"dev1/base.apk": b"", "dev2/base.apk": WECHAT.read_bytes()}))
    b2 = _scan(tmp_path / "b2.json", *_lay(bz, {"dev1/base.apk": CLEAN.read_bytes(), "dev2/base.apk": b""}))
    old, new = json.loads(b1.read_text()), json.loads(b2.read_text())
    assert [e["code"] for e in old["errors"]] == [e["code"] for e in new["errors"]]  # the same failure, elsewhere
    result = diff_documents(old, new)
    dev2 = str(bz / "dev2" / "base.apk")
    assert _failures(result) == [(dev2, dev2, new["errors"][0]["code"], NEW)] and result.exit_code() == 1
    assert [f.sha256 for s in result.sources for f in s.new_failures] == [hashlib.sha256(b"").hexdigest()]
    res = _diff(b1, b2)
    assert res.exit_code == 1 and f"! {dev2}  could not be scanned now" in res.output, res.output
    # the same pull empty in both scans is still the same failure
    assert diff_documents(new, new).counts()["new_failures"] == 0
