"""A scan store someone else can write is not used (``STORE_UNTRUSTED``): a stored row decides
what a rescan reports without the file being read, so a planted store could make a banned app
pass on every later run. Real SQLite stores, real modes and owners."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.batch import store as st
from apkscan.cli import main

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
BANNED, CLEAN = "tiktok-bytedance-subject.apk", "clean-v1v2v3.apk"
OLD = 1_600_000_000 * 10**9
OTHER_UID = 54321
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    """A private folder holding a store that knows the banned APK and the clean one, and the
    banned file's stat key planted to name the clean APK's SHA-256."""
    monkeypatch.setattr(st, "RACY_NS", 0)
    ev, home = tmp_path / "ev", tmp_path / "home"
    ev.mkdir()
    home.mkdir(mode=0o700)
    for name in (BANNED, CLEAN):
        shutil.copy(APKS / name, ev / name)
        os.utime(ev / name, ns=(OLD, OLD))
    db = home / "s.sqlite"
    assert _scan(ev, db)[0] == {"com.zhiliaoapp.musically", "com.example.clean"}
    clean = hashlib.sha256((APKS / CLEAN).read_bytes()).hexdigest()
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("UPDATE stat_keys SET sha256=? WHERE path LIKE ?", (clean, f"%{BANNED}"))
        assert c.total_changes == 1
    st.close_connections()
    return ev, db


def _scan(ev: Path, db: Path) -> tuple[set[str], str]:
    out = db.parent.parent / "r.json"
    res = CliRunner().invoke(main, ["scan", str(ev), "--store", str(db), "-q", "--json", str(out)])
    st.close_connections()
    assert res.exit_code == 1, res.output  # TikTok found
    return {a["package"] for a in json.loads(out.read_text())["apps"]}, res.stderr


def _planted_rows_answer(ev: Path, db: Path) -> bool:
    """Whether a run with this store believes the planted stat key (the banned file read as clean)."""
    out = db.parent.parent / "r.json"
    res = CliRunner().invoke(main, ["scan", str(ev), "--store", str(db), "-q", "--json", str(out)])
    st.close_connections()
    return json.loads(out.read_text())["apps"] and "com.zhiliaoapp.musically" not in {
        a["package"] for a in json.loads(out.read_text())["apps"]} and res.exit_code == 0


def test_a_store_of_ones_own_is_used_planted_row_and_all(seeded):
    """The control: the store is trusted like one's own files, so a row planted in one's own store
    is believed (docs/batch.md's trust model); every other test here differs by one mode or owner."""
    ev, db = seeded
    assert _planted_rows_answer(ev, db)


@pytest.mark.parametrize("which", ["", "-wal"])
def test_a_store_others_can_write_is_left_unused(seeded, which):
    ev, db = seeded
    target = Path(str(db) + which)
    if which:
        target.write_bytes(b"")  # an empty WAL: nothing to replay
        target.chmod(0o600)
    target.chmod(0o664)
    before = db.read_bytes()
    packages, err = _scan(ev, db)
    assert packages == {"com.zhiliaoapp.musically", "com.example.clean"}  # read, not recalled
    assert "STORE_UNTRUSTED" in err and "0664" in err, err
    assert db.read_bytes() == before  # left as it was, not set aside


@as_root
def test_a_store_owned_by_another_user_is_left_unused(seeded):
    ev, db = seeded
    os.chown(db, OTHER_UID, -1)
    packages, err = _scan(ev, db)
    assert packages == {"com.zhiliaoapp.musically", "com.example.clean"}
    assert "STORE_UNTRUSTED" in err and str(OTHER_UID) in err, err


@pytest.mark.parametrize("mode,trusted", [(0o777, False), (0o1777, False), (0o775, False), (0o755, True)])
def test_a_store_in_a_folder_others_can_write_is_left_unused_sticky_or_not(seeded, mode, trusted):
    """Others who can write the folder can rename another store over this one; a sticky folder
    (``/tmp``) stops that, but not their creating a name SQLite opens beside the store (a hot
    ``-journal``: review 89 F1, tests/test_store_journal.py), so it is refused too."""
    ev, db = seeded
    db.parent.chmod(mode)
    if trusted:
        assert _planted_rows_answer(ev, db)  # used: its own (planted) row answers, as in the control
        return
    packages, err = _scan(ev, db)
    assert packages == {"com.zhiliaoapp.musically", "com.example.clean"}
    assert "STORE_UNTRUSTED" in err and "folder" in err, err


@as_root
def test_a_store_in_a_folder_of_another_user_is_left_unused(seeded):
    ev, db = seeded
    os.chown(db.parent, OTHER_UID, -1)
    packages, err = _scan(ev, db)
    assert packages == {"com.zhiliaoapp.musically", "com.example.clean"}
    assert "STORE_UNTRUSTED" in err and "folder" in err, err


def test_a_symlinked_store_is_judged_by_the_file_and_folder_it_names(seeded, tmp_path):
    """A link is not the store: the file it names and that file's folder are what SQLite writes
    (a link's own mode is always 0777 and says nothing)."""
    ev, db = seeded
    link = tmp_path / "home" / "link.sqlite"
    link.symlink_to(db)
    assert _planted_rows_answer(ev, link)  # the target is one's own: used
    db.chmod(0o666)
    packages, err = _scan(ev, link)
    assert packages == {"com.zhiliaoapp.musically", "com.example.clean"}
    assert "STORE_UNTRUSTED" in err and "0666" in err, err


@pytest.mark.parametrize("made_by", ["others-writable", pytest.param("other-user", marks=as_root)])
def test_a_store_folder_made_by_someone_else_while_this_run_opens_it_is_left_unused(
        seeded, tmp_path, monkeypatch, made_by):
    """The store's folder does not exist when the run checks it; someone else makes it (holding
    their planted store) before apkscan's own mkdir: the check after creation sees it."""
    import apkscan.folders as folders

    ev, planted = seeded
    db = tmp_path / "home" / "new" / "s.sqlite"
    make_private = folders.make_private

    def raced(folder):
        if not db.parent.exists():
            db.parent.mkdir()
            shutil.copy(planted, db)  # their store, its banned file's stat key naming the clean APK
            db.chmod(0o600)
            if made_by == "other-user":
                os.chown(db.parent, OTHER_UID, -1)
            else:
                db.parent.chmod(0o777)
        return make_private(folder)

    monkeypatch.setattr(folders, "make_private", raced)
    packages, err = _scan(ev, db)
    assert packages == {"com.zhiliaoapp.musically", "com.example.clean"}  # read, not recalled
    assert "STORE_UNTRUSTED" in err and "folder" in err, err


@pytest.mark.parametrize("above", ["others-writable", pytest.param("other-user", marks=as_root)])
def test_a_store_under_a_folder_others_can_rename_it_in_is_left_unused(seeded, tmp_path, above):
    """The store's own folder is private, but the folder above it is writable by others without the
    sticky bit (or another user's): they could rename the store's folder away and put their own, a
    planted store in it, in its place (ssh's StrictModes rule, as for the temporary folder)."""
    ev, db = seeded
    if above == "other-user":
        os.chown(tmp_path, OTHER_UID, -1)
    else:
        tmp_path.chmod(0o777)
    packages, err = _scan(ev, db)
    assert packages == {"com.zhiliaoapp.musically", "com.example.clean"}  # read, not recalled
    assert "STORE_UNTRUSTED" in err and str(tmp_path) in err and "renamed away" in err, err
    tmp_path.chmod(0o1777)  # sticky: others cannot rename what is ours in it
    if above == "other-user":
        os.chown(tmp_path, 0, -1)
    assert _planted_rows_answer(ev, db)
