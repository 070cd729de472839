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


def _rows(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as c:
        return c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_mountinfo_lines_are_read_with_their_escapes():
    text = ("22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
            "42 27 7:0 / /media/USB\\040STICK rw,nosuid - fuseblk /dev/loop0 rw,user_id=0\n"
            "50 22 0:45 / /srv rw master:2 opt:x - nfs4 host:/srv rw\n")
    assert [(m.device, m.point, m.kind) for m in stat_read.mounts(text)] == [
        ("254:0", "/", "ext4"), ("7:0", "/media/USB STICK", "fuseblk"), ("0:45", "/srv", "nfs4")]
    assert stat_read.mounts(text)[1].options == "rw,user_id=0"


def _declare(tmp_path: Path, monkeypatch, kind: str) -> None:
    """This test's folder on a file system of type ``kind``, as /proc/self/mountinfo would say."""
    dev = os.stat(tmp_path).st_dev
    info = tmp_path / "mountinfo"
    info.write_text(f"1 0 {os.major(dev)}:{os.minor(dev)} / / rw - {kind} /dev/x rw\n")
    monkeypatch.setattr(stat_read, "MOUNTINFO", str(info))
    stat_read.forget_mounts()
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)


@pytest.mark.parametrize("kind", ["fuseblk", "exfat", "vfat", "ntfs3", "cifs", "nfs4", "overlay", "unheard-of"])
def test_a_file_system_without_ctime_gets_no_stat_key_and_no_lane_row(tmp_path, monkeypatch, kind):
    _declare(tmp_path, monkeypatch, kind)
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(CLEAN, folder / "a.apk")
    db = tmp_path / "s.sqlite"
    _scan(folder, db, tmp_path / "1.jsonl")
    again = _scan(folder, db, tmp_path / "2.jsonl")
    assert _rows(db, "identities") == 1 and _rows(db, "stat_keys") == 0 and _rows(db, "known_lines") == 0
    custody = [x for x in again if x.get("type") == "input_file"]
    assert custody and all(x.get("hashed") == "this run" for x in custody), custody
    stat_read.forget_mounts()


def test_a_file_system_keeping_ctime_still_gets_its_stat_keys(tmp_path, monkeypatch):
    _declare(tmp_path, monkeypatch, "ext4")
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(CLEAN, folder / "a.apk")
    db = tmp_path / "s.sqlite"
    _scan(folder, db, tmp_path / "1.jsonl")
    assert _rows(db, "stat_keys") == 1
    stat_read.forget_mounts()


def _table(tmp_path: Path, monkeypatch, lines: list[str]) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("".join(f"{i + 1} 0 {line}\n" for i, line in enumerate(lines)))
    monkeypatch.setattr(stat_read, "MOUNTINFO", str(info))
    stat_read.forget_mounts()


@pytest.mark.parametrize("layer_kind, kept", [("ext4", True), ("fuseblk", False), ("vfat", False)])
def test_an_overlay_counts_only_when_its_layers_keep_ctime(tmp_path, monkeypatch, layer_kind, kept):
    """Review 75 F2: an overlay over exFAT reports the lower file's ctime, which follows mtime."""
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir(), upper.mkdir()
    dev = os.stat(lower).st_dev
    _table(tmp_path, monkeypatch, [f"{os.major(dev)}:{os.minor(dev)} / / rw - {layer_kind} /dev/x rw",
                                   f"0:999 / /merged rw - overlay overlay rw,lowerdir={lower},upperdir={upper},"
                                   f"workdir={tmp_path}"])
    assert stat_read.keeps_ctime(os.makedev(0, 999), "/merged/a.apk") is kept
    stat_read.forget_mounts()


def test_an_overlay_whose_layers_are_out_of_sight_is_the_runtimes(tmp_path, monkeypatch):
    """A container's root: its layers are paths of the host, not of this mount namespace."""
    _table(tmp_path, monkeypatch, ["0:999 / / rw - overlay overlay rw,lowerdir=/nonexistent/l1:/nonexistent/l2,"
                                   "upperdir=/nonexistent/u,workdir=/nonexistent/w"])
    assert stat_read.keeps_ctime(os.makedev(0, 999), "/tmp/a.apk")
    stat_read.forget_mounts()


@pytest.mark.parametrize("host, kept", [("btrfs", True), ("ext4", False), ("overlay", False)])
def test_a_device_in_no_line_is_trusted_only_under_btrfs(tmp_path, monkeypatch, host, kept):
    """A btrfs subvolume has a device of its own that no line names; any other unnamed device (an
    overlay's file from a lower layer on another file system) fails closed."""
    _table(tmp_path, monkeypatch, [f"0:50 / /data rw - {host} /dev/x rw,lowerdir={tmp_path}"])
    assert stat_read.keeps_ctime(os.makedev(0, 77), "/data/sub/a.apk") is kept
    stat_read.forget_mounts()


def test_mountinfo_is_read_once_for_many_files(tmp_path, monkeypatch):
    """Review 75 F7: it was read and parsed again for every file (5 ms a file on a host with
    3,000 mounts)."""
    _declare(tmp_path, monkeypatch, "ext4")
    reads = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: reads.append(f) or real_open(f, *a, **k))
    for i in range(50):
        p = tmp_path / f"{i}.apk"
        p.write_bytes(b"x")
        stat_read.located(str(p))
    assert reads.count(stat_read.MOUNTINFO) == 1
    stat_read.forget_mounts()


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
        stat_read.forget_mounts()
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True)
        subprocess.run(["losetup", "-d", dev], capture_output=True)
        stat_read.forget_mounts()


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
    stat_read.forget_mounts()
    try:
        yield merged
    finally:
        subprocess.run(["umount", str(merged)], capture_output=True)
        stat_read.forget_mounts()


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
