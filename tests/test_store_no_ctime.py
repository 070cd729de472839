"""No stat key where the file system keeps no change time (review 74 F3).

A stat key trusts (size, mtime, ctime, inode, device): mtime can be set back by anyone, ctime
cannot, on a file system whose kernel sets it. exFAT keeps no ctime: Linux reports the mtime for
it, and the inode numbers stay, so a same-size rewrite in place with its mtime set back kept the
stat key and the store served the clean app's identity for WeChat. Such file systems (every type
not known to keep ctime: exFAT, FAT, NTFS, FUSE's ``fuseblk``...) get no stat key and no fast-lane
row: each file is hashed and found by its SHA-256.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.batch import stat_read, store
from apkscan.cli import main
from conftest import APKS

CLEAN, WECHAT = APKS / "clean-v1v2v3.apk", APKS / "wechat-impostor.apk"


def _scan(folder: Path, db: Path, out: Path) -> list[dict]:
    res = CliRunner().invoke(main, ["scan", str(folder), "--store", str(db), "--jobs", "1", "-q", "--force",
                                    "--jsonl", str(out)])
    store.close_connections()
    assert res.exit_code in (0, 1, 3), res.output
    return [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]


def _scanned_once(tmp_path: Path) -> tuple[Path, Path]:
    """A folder holding the clean APK, scanned once into a new store: (folder, store)."""
    folder, db = tmp_path / "in", tmp_path / "s.sqlite"
    folder.mkdir()
    shutil.copy(CLEAN, folder / "a.apk")
    _scan(folder, db, tmp_path / "1.jsonl")
    return folder, db


def _rows(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as c:
        return c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


MAGIC = {"fuse": 0x65735546, "exfat": 0x2011BAB0, "msdos": 0x4D44, "ntfs": 0x5346544E, "smb2": 0xFE534D42,
         "nfs": 0x6969, "overlay": 0x794C7630, "unheard-of": 0x1234ABCD}


def _as_if(monkeypatch, magic: int | None) -> None:
    """Every file system answers statfs with ``magic``, as that file system would."""
    monkeypatch.setattr(stat_read, "fs_magic", lambda target: magic)
    stat_read.forget_file_systems()
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)


@pytest.mark.parametrize("kind", sorted(MAGIC))
def test_a_file_system_without_ctime_gets_no_stat_key_and_no_lane_row(tmp_path, monkeypatch, kind):
    _as_if(monkeypatch, MAGIC[kind])
    folder, db = _scanned_once(tmp_path)
    again = _scan(folder, db, tmp_path / "2.jsonl")
    assert _rows(db, "identities") == 1 and _rows(db, "stat_keys") == 0 and _rows(db, "known_lines") == 0
    custody = [x for x in again if x.get("type") == "input_file"]
    assert custody and all(x.get("hashed") == "this run" for x in custody), custody
    stat_read.forget_file_systems()


def test_statfs_cannot_be_asked_gets_no_stat_key(tmp_path, monkeypatch):
    _as_if(monkeypatch, None)  # not Linux, or libc refuses
    folder, db = _scanned_once(tmp_path)
    assert _rows(db, "stat_keys") == 0
    stat_read.forget_file_systems()


def test_a_file_system_keeping_ctime_still_gets_its_stat_keys(tmp_path, monkeypatch):
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)
    assert stat_read.fs_magic(str(tmp_path)) in stat_read.CTIME_KEPT  # this machine's /tmp: ext4 or tmpfs
    folder, db = _scanned_once(tmp_path)
    assert _rows(db, "stat_keys") == 1


def test_statfs_is_asked_once_per_device(tmp_path, monkeypatch):
    """Review 75 F7: the file system was looked up again for every file."""
    asked = []
    real = stat_read.fs_magic
    monkeypatch.setattr(stat_read, "fs_magic", lambda target: asked.append(target) or real(target))
    stat_read.forget_file_systems()
    for i in range(50):
        p = tmp_path / f"{i}.apk"
        p.write_bytes(b"x")
        stat_read.located(str(p))
    assert len(asked) == 1
    stat_read.forget_file_systems()


# --- the attack on a real exFAT file system (root, a loop device, exfat-fuse: skipped otherwise) ---

def _can_mount_exfat() -> bool:
    return (os.geteuid() == 0 and all(shutil.which(t) for t in ("mkfs.exfat", "mount.exfat-fuse", "losetup"))
            and os.path.exists("/dev/fuse"))


@pytest.fixture
def exfat(tmp_path):
    if not _can_mount_exfat():
        pytest.skip("needs root, losetup, mkfs.exfat and exfat-fuse")
    image, point = tmp_path / "exfat.img", tmp_path / "mnt"
    point.mkdir()
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["mkfs.exfat", str(image)], check=True, capture_output=True)
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if loop.returncode:
        pytest.skip(f"no loop device: {loop.stderr.strip()}")
    dev = loop.stdout.strip()
    try:
        if subprocess.run(["mount.exfat-fuse", dev, str(point)], capture_output=True).returncode:
            pytest.skip("exfat-fuse could not mount")
        stat_read.forget_file_systems()
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)
        stat_read.forget_file_systems()


def test_a_same_size_rewrite_with_its_mtime_set_back_on_exfat_is_read_again(exfat, tmp_path, monkeypatch):
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)
    assert CLEAN.stat().st_size == WECHAT.stat().st_size
    target = exfat / "in"
    target.mkdir()
    app = target / "app.apk"
    shutil.copy(CLEAN, app)
    os.utime(app, ns=(1_600_000_000 * 10**9,) * 2)
    db = tmp_path / "s.sqlite"
    first = _scan(target, db, tmp_path / "1.jsonl")
    before = os.stat(app)
    with open(app, "r+b") as f:  # in place: the same inode, the same size
        f.write(WECHAT.read_bytes())
    os.utime(app, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(app)
    assert store.stat_of(after) == store.stat_of(before)  # exFAT: the stat cannot tell
    rescan = _scan(target, db, tmp_path / "2.jsonl")
    reference = _scan(target, tmp_path / "fresh.sqlite", tmp_path / "3.jsonl")
    verdicts = [[x.get("package"), x.get("verdict")] for x in (first, rescan, reference) for x in x
                if x.get("type") == "app"]
    assert verdicts[0] == ["com.example.clean", "allowed"]
    assert verdicts[1] == verdicts[2] and verdicts[1][0] == "com.tencent.mm", verdicts


@pytest.fixture
def overlay_on_exfat(exfat, tmp_path):
    """An overlay whose lower layer is the exFAT mount (root: mount -t overlay)."""
    upper, work, merged = tmp_path / "up", tmp_path / "wk", tmp_path / "merged"
    for d in (upper, work, merged):
        d.mkdir()
    (exfat / "in").mkdir()
    shutil.copy(CLEAN, exfat / "in" / "app.apk")
    os.utime(exfat / "in" / "app.apk", ns=(1_600_000_000 * 10**9,) * 2)
    if subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={exfat},upperdir={upper},workdir={work}",
                       str(merged)], capture_output=True).returncode:
        pytest.skip("cannot mount an overlay here")
    stat_read.forget_file_systems()
    try:
        yield merged
    finally:
        subprocess.run(["umount", str(merged)], capture_output=True)
        stat_read.forget_file_systems()


def test_an_overlay_over_exfat_is_read_again_after_a_rewrite_below_it(overlay_on_exfat, exfat, tmp_path, monkeypatch):
    """Review 75 F2: the overlay reports the lower file's stat: a rewrite of the lower file in place,
    its mtime set back, left the overlay's stat as it was."""
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)
    target, app, lower = overlay_on_exfat / "in", overlay_on_exfat / "in" / "app.apk", exfat / "in" / "app.apk"
    db = tmp_path / "s.sqlite"
    first = _scan(target, db, tmp_path / "1.jsonl")
    before = os.stat(app)
    with open(lower, "r+b") as f:
        f.write(WECHAT.read_bytes())
    os.utime(lower, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert store.stat_of(os.stat(app)) == store.stat_of(before)  # the overlay's stat cannot tell
    rescan = _scan(target, db, tmp_path / "2.jsonl")
    verdicts = [[x.get("package"), x.get("verdict")] for x in (first, rescan) for x in x if x.get("type") == "app"]
    assert verdicts == [["com.example.clean", "allowed"], ["com.tencent.mm", verdicts[1][1]]], verdicts
    assert verdicts[1][1] != "allowed"


def test_an_overlay_with_metacopy_is_read_again_after_its_lower_file_changes(tmp_path, monkeypatch):
    """Review 76 F1: with ``metacopy=on`` the stat is the upper copy's and the data the lower file's,
    every layer on ext4: a plain write to the lower file left the stat as it was."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount an overlay")
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)
    low, up, wk, merged = (tmp_path / n for n in ("low", "up", "wk", "merged"))
    for d in (low, up, wk, merged):
        d.mkdir()
    (low / "in").mkdir()
    shutil.copy(CLEAN, low / "in" / "app.apk")
    if subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                       f"lowerdir={low},upperdir={up},workdir={wk},metacopy=on,redirect_dir=on", str(merged)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount an overlay with metacopy here")
    stat_read.forget_file_systems()
    try:
        os.chmod(merged / "in" / "app.apk", 0o640)  # metadata copied up, data left below
        db = tmp_path / "s.sqlite"
        first = _scan(merged / "in", db, tmp_path / "1.jsonl")
        assert _rows(db, "stat_keys") == 0  # an overlay keeps none
        before = store.stat_of(os.stat(merged / "in" / "app.apk"))
        (low / "in" / "app.apk").write_bytes(WECHAT.read_bytes())
        assert store.stat_of(os.stat(merged / "in" / "app.apk")) == before  # the overlay's stat cannot tell
        rescan = _scan(merged / "in", db, tmp_path / "2.jsonl")
        apps = [(x.get("package"), x.get("verdict")) for x in (*first, *rescan) if x.get("type") == "app"]
        assert apps[0] == ("com.example.clean", "allowed") and apps[1][0] == "com.tencent.mm", apps
    finally:
        subprocess.run(["umount", str(merged)], capture_output=True)
        stat_read.forget_file_systems()
