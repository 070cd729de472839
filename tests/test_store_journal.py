"""Review 89 F1: SQLite opens files beside the store by name. A hot ``<store>-journal`` another
user creates in the store's folder is copied into the store when it is next opened (a WAL store
too), so a folder others can write is no place for a store, sticky bit or not: the sticky bit
stops them renaming the store, not creating a name that is free. Real stores made by real scans,
a real hot journal made from another user's real store (:mod:`store_journal_helpers`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from store_journal_helpers import plant_journal, scan_apps

from apkscan.batch import store as st

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
BANNED, CLEAN = "tiktok-bytedance-subject.apk", "clean-v1v2v3.apk"
OLD = 1_600_000_000 * 10**9
NOBODY = 65534
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """The victim's warm store (made by a real scan of a banned and a clean APK), and beside it a
    hot journal built from the attacker's own real store: the clean APK, plus a stat key naming the
    victim's banned file (path and stat, all anyone can read) with the clean APK's SHA-256."""
    monkeypatch.setattr(st, "RACY_NS", 0)
    ev, home, att = tmp_path / "ev", tmp_path / "shared", tmp_path / "att"
    for folder in (ev, home, att / "in"):
        folder.mkdir(parents=True)
    for name in (BANNED, CLEAN):
        shutil.copy(APKS / name, ev / name)
        os.utime(ev / name, ns=(OLD, OLD))
    shutil.copy(APKS / CLEAN, att / "in" / CLEAN)
    home.chmod(0o700)
    db = home / "store.sqlite"
    cold = scan_apps(ev, "--no-store")
    assert cold[0] == 1 and cold[1][BANNED] == "com.zhiliaoapp.musically prohibited", cold
    assert scan_apps(ev, "--store", str(db))[:2] == cold[:2]
    assert scan_apps(ev, "--store", str(db))[:2] == cold[:2]  # warm: the stat keys answer

    theirs = att / "p.sqlite"
    scan_apps(att / "in", "--store", str(theirs))
    clean = hashlib.sha256((APKS / CLEAN).read_bytes()).hexdigest()
    s = os.stat(ev / BANNED)
    with closing(sqlite3.connect(theirs)) as c:
        with c:
            c.execute("INSERT OR REPLACE INTO stat_keys VALUES (?,?,?,?,?,?,?,?,?)",
                      (os.path.realpath(ev / BANNED), 0, -1, s.st_size, s.st_mtime_ns, s.st_ctime_ns,
                       s.st_ino, s.st_dev, clean))
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.execute("PRAGMA journal_mode=DELETE")  # every page in the main file
    return ev, db, theirs, cold


def _plant(theirs: Path, db: Path, mode: int) -> Path:
    journal = Path(plant_journal(theirs, db))
    journal.chmod(mode)
    if ROOT:
        os.chown(journal, NOBODY, NOBODY)  # another user's file, as in /tmp
    return journal


def test_a_journal_planted_in_a_sticky_folder_leaves_the_store_unused(planted):
    """The store's folder sticky and writable by all, as ``/tmp``: the planted journal would make
    the banned APK the clean one (allowed, exit 0); the store is left unused and untouched."""
    ev, db, theirs, cold = planted
    db.parent.chmod(0o1777)
    journal = _plant(theirs, db, 0o644)
    before = db.read_bytes()
    code, apps, err = scan_apps(ev, "--store", str(db))
    assert (code, apps) == cold[:2], apps  # as cold: TikTok prohibited, exit 1
    assert "STORE_UNTRUSTED" in err and "folder" in err and "1777" in err and "sticky" in err, err
    assert db.read_bytes() == before and journal.exists()  # never opened: nothing rolled back


@pytest.mark.parametrize("mode", [0o644, 0o666])
def test_a_journal_not_ones_own_beside_a_private_store_leaves_it_unused(planted, mode):
    """Defence in depth: a ``-journal`` another user owns, or others can write, in the store's own
    private folder (put there by root, or left from before the folder was made private)."""
    ev, db, theirs, cold = planted
    if mode == 0o644 and not ROOT:
        pytest.skip("another user's journal needs chown (root)")
    _plant(theirs, db, mode)
    code, apps, err = scan_apps(ev, "--store", str(db))
    assert (code, apps) == cold[:2], apps
    assert "STORE_UNTRUSTED" in err and "store.sqlite-journal" in err, err


def test_a_private_store_without_a_planted_journal_answers_as_cold(planted):
    """The control: the same store in its private folder is used, and says what a cold run says."""
    ev, db, _theirs, cold = planted
    code, apps, err = scan_apps(ev, "--store", str(db))
    assert (code, apps) == cold[:2] and "STORE_" not in err, err
