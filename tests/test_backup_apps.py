"""Backup-app layout readers (Neo Backup, OAndBackup, Swift, Titanium) on the fixtures and hostile variants."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import shutil

import pytest

from apkscan.sources.backup_apps import backup_app_reader, detect_backup_app
from apkscan.sources.records import recorded_identity
from apkscan.sources.swift_titanium import parse_java_properties
from backup_helpers import APKS, BACKUPS, Collected, FolderTree, ZipTree, apk_sha256, zip_folder

WECHAT = apk_sha256("wechat-tencent-subject.apk")


def collect(folder, chain=None) -> tuple[str | None, Collected]:
    tree = FolderTree(folder, chain)
    return detect_backup_app(tree), Collected(backup_app_reader(tree).entries())


def test_neo_backup():
    kind, got = collect(BACKUPS / "neo")
    assert kind == "neo-backup"
    assert got.members == {"com.tencent.mm/2024-05-01-10-00-00-000-user_0/base.apk": WECHAT}
    # every package's newest record; the scan drops WeChat's when its APK is scanned as com.tencent.mm
    assert [a.package for a in got.recorded] == ["com.tencent.mm", "com.zhiliaoapp.musically"]
    tiktok = got.app("com.zhiliaoapp.musically")
    assert (tiktok.recorded_by, tiktok.label, tiktok.version_code, tiktok.version_name) == \
        ("Neo Backup properties", "TikTok", 310501, "31.5.1")
    assert tiktok.certificates == [] and recorded_identity(tiktok).origin == "listed"
    assert got.skip_counts == {"app data archive (not scanned)": 2} and got.problems == []


def test_neo_backup_in_a_zip():
    tree = ZipTree(zip_folder(BACKUPS / "neo", "NeoBackup"))
    assert detect_backup_app(tree) == "neo-backup"
    got = Collected(backup_app_reader(tree).entries())
    assert got.members == {"NeoBackup/com.tencent.mm/2024-05-01-10-00-00-000-user_0/base.apk": WECHAT}


def test_neo_backup_hostile(tmp_path):
    root = tmp_path / "neo"
    shutil.copytree(BACKUPS / "neo", root)
    props = root / "com.tencent.mm" / "2024-05-01-10-00-00-000-user_0.properties"
    props.write_text('{"packageName": ')  # broken: the APK is still yielded, the problem reported
    (root / "com.tencent.mm" / "2024-05-01-10-00-00-000-user_0" / "notes.txt").write_text("x")
    (root / "stray.apk").write_bytes((APKS / "clean-v1v2v3.apk").read_bytes())
    _, got = collect(root)
    assert got.codes == ["BACKUP_METADATA_INVALID"]
    assert set(got.members) == {"com.tencent.mm/2024-05-01-10-00-00-000-user_0/base.apk",
                                "com.tencent.mm/2024-05-01-10-00-00-000-user_0/notes.txt", "stray.apk"}
    # the broken record is still listed, by its folder's package name
    assert [a.package for a in got.recorded] == ["com.tencent.mm", "com.zhiliaoapp.musically"]


def test_oandbackup():
    kind, got = collect(BACKUPS / "oandbackup")
    assert kind == "oandbackup"
    assert got.members == {"com.example.clean/base.apk": apk_sha256("clean-v1v2v3.apk")}
    assert [a.package for a in got.recorded] == ["com.example.clean"]  # dropped by the scan: its APK is scanned
    assert got.skip_counts == {"app data archive (not scanned)": 1}


def test_oandbackup_without_apk_is_listed(tmp_path):
    root = tmp_path / "oab"
    shutil.copytree(BACKUPS / "oandbackup", root)
    (root / "com.example.clean" / "base.apk").unlink()
    _, got = collect(root)
    app = got.app("com.example.clean")
    assert (app.recorded_by, app.label, app.version_code) == ("OAndBackup log", "Clean Notes", 1)


def test_swift_backup():
    kind, got = collect(BACKUPS / "swift")
    assert kind == "swift-backup"
    splits = hashlib.sha256((BACKUPS / "swift" / "com.tencent.mm.splits").read_bytes()).hexdigest()
    assert got.members == {"com.tencent.mm.app": WECHAT, "com.tencent.mm.splits": splits}
    tiktok = got.app("com.zhiliaoapp.musically")  # only its data was backed up
    assert tiktok.recorded_by == "Swift Backup file names" and tiktok.certificates == []
    assert got.skip_counts == {"app data archive (not scanned)": 2,
                               "Swift Backup metadata (obfuscated, not read)": 1}


def test_titanium_backup():
    kind, got = collect(BACKUPS / "titanium")
    assert kind == "titanium-backup"
    notes = apk_sha256("kaspersky-subject-notes.apk")
    md5w = hashlib.md5((APKS / "wechat-tencent-subject.apk").read_bytes()).hexdigest()
    md5n = hashlib.md5((APKS / "kaspersky-subject-notes.apk").read_bytes()).hexdigest()
    # members are the decompressed APK bytes
    assert got.members == {f"com.tencent.mm-{md5w}.apk.gz": WECHAT, f"com.example.notes-{md5n}.apk.bz2": notes}
    assert got.codes == []
    # the notes record names another APK: a tamper fact carried by that APK's member
    from apkscan.sources.interface import Member
    flags = {m.name: [f.code for f in m.flags] for m in backup_app_reader(FolderTree(BACKUPS / "titanium")).entries()
             if isinstance(m, Member)}
    assert flags == {f"com.tencent.mm-{md5w}.apk.gz": [], f"com.example.notes-{md5n}.apk.bz2": ["BACKUP_APK_MD5_MISMATCH"]}
    tiktok = got.app("com.zhiliaoapp.musically")
    assert (tiktok.label, tiktok.version_code, tiktok.version_name) == ("TikTok\u00ae", 310501, "31.5.1")
    assert sorted(a.package for a in got.recorded) == ["com.example.notes", "com.tencent.mm", "com.zhiliaoapp.musically"]
    assert got.skip_counts == {"app data archive (not scanned)": 2}


def test_titanium_truncated_and_corrupt_apks(tmp_path):
    root = tmp_path / "tb"
    root.mkdir()
    apk = (APKS / "clean-v1v2v3.apk").read_bytes()
    md5 = hashlib.md5(apk).hexdigest()
    (root / f"com.a.b-{md5}.apk.gz").write_bytes(gzip.compress(apk)[:-100])
    (root / f"com.c.d-{md5}.apk.bz2").write_bytes(b"BZh9" + b"\x00" * 100)
    (root / f"com.e.f-{md5}.apk.lzop").write_bytes(b"\x89LZO")
    _, got = collect(root)
    assert got.member_errors == {f"com.a.b-{md5}.apk.gz": "BACKUP_TRUNCATED",
                                 f"com.c.d-{md5}.apk.bz2": "BACKUP_CORRUPT"}
    assert got.codes == ["BACKUP_CODEC_UNSUPPORTED"]


def test_not_a_backup_app():
    assert detect_backup_app(FolderTree(BACKUPS / "androidqf")) is None
    assert backup_app_reader(FolderTree(APKS)) is None


def test_java_properties():
    props = parse_java_properties(b"# c\n! c\nk1=v1\nk2 : v2\nk3 v3\nlong=a\\\n   b\nu=\\u00e9\\n\nesc\\=key=x\n")
    assert props == {"k1": "v1", "k2": "v2", "k3": "v3", "long": "ab", "u": "\u00e9\n", "esc=key": "x"}


@pytest.mark.parametrize("codec,compress", [("gz", gzip.compress), ("bz2", bz2.compress)])
def test_titanium_name_md5_must_match_record(tmp_path, codec, compress):
    root = tmp_path / "tb"
    root.mkdir()
    apk = (APKS / "clean-v1v2v3.apk").read_bytes()
    md5 = hashlib.md5(apk).hexdigest()
    (root / f"com.a.b-{md5}.apk.{codec}").write_bytes(compress(apk))
    (root / "com.a.b-20240101-000000.properties").write_text(f"app_apk_md5={md5}\n")
    _, got = collect(root)
    assert got.problems == [] and list(got.members.values()) == [apk_sha256("clean-v1v2v3.apk")]
