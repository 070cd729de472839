"""Review 90 item 2: a store set aside as damaged (``STORE_CORRUPT``) goes with the files SQLite
finds beside it by name (``-wal``, ``-shm``, ``-journal``), under a name none of them has yet,
each renamed as it is (a symlink is moved, never followed), the store itself last. Real SQLite
files: a store with a live WAL (its writer died before any checkpoint) and damaged pages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from apkscan.batch import store as st
from apkscan.batch import store_aside

PAGE = 4096


def _aside(message: str) -> str:
    """The name a STORE_CORRUPT message says the store was set aside as."""
    return re.search(r"set aside as (.+?)(?: with its [-a-z, ]+)?, a new one is used", message).group(1)


def _damaged_with_live_wal(db: Path, runs: int) -> None:
    """An apkscan store whose ``runs`` rows live only in its ``-wal`` (the writer exited without a
    checkpoint or a close), every page after the first (the schema) then overwritten with 0xff."""
    conn, issues = st.open_checked(str(db))
    assert issues == [] and conn is not None
    conn.close()
    writer = (f"import os, sqlite3\nc = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
              "c.execute('PRAGMA wal_autocheckpoint=0')\n"
              f"for i in range({runs}):\n    c.execute(\"INSERT INTO runs VALUES (?, ?, NULL, 'done')\", (str(i), i))\n"
              "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", writer], check=True)
    assert Path(f"{db}-wal").stat().st_size > 0 and Path(f"{db}-shm").exists()
    raw = bytearray(db.read_bytes())
    raw[PAGE:] = b"\xff" * (len(raw) - PAGE)
    db.write_bytes(raw)


def test_a_damaged_store_goes_aside_with_its_live_wal_and_says_so(tmp_path):
    db = tmp_path / "s.sqlite"
    _damaged_with_live_wal(db, 50)
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
    (aside,) = tmp_path.glob("s.sqlite.corrupt-*[0-9]")
    assert Path(f"{aside}-wal").stat().st_size > 0 and Path(f"{aside}-shm").exists()
    assert f"set aside as {aside} with its -wal, -shm" in issues[0].message, issues[0].message
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0  # a new store, no old frame in it
    conn.close()


def test_two_stores_set_aside_in_one_second_keep_each_its_own_files(tmp_path, monkeypatch):
    """The second used to be renamed over the first (its bytes lost), its WAL over the first's."""
    monkeypatch.setattr(store_aside.time, "strftime", lambda *_a: "20260101T000000")  # one second for both
    db = tmp_path / "s.sqlite"
    kept = []
    for runs in (50, 80):
        _damaged_with_live_wal(db, runs)
        conn, issues = st.open_checked(str(db))
        assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
        conn.close()
        aside = _aside(issues[0].message)
        kept.append((aside, Path(aside).read_bytes(), Path(f"{aside}-wal").read_bytes()))
        for suffix in ("-wal", "-shm"):  # the new store's own, closed: gone with it (a fresh start for the next)
            assert not Path(f"{db}{suffix}").exists()
        db.unlink()
    assert kept[0][0] != kept[1][0] and kept[0][2] != kept[1][2]
    for aside, main, wal in kept:
        assert Path(aside).read_bytes() == main and Path(f"{aside}-wal").read_bytes() == wal


@pytest.mark.parametrize("target_exists", [True, False])
def test_side_files_are_moved_as_they_are_never_followed(tmp_path, target_exists):
    """A ``-journal`` goes too (it used to stay, then SQLite deleted it beside the new empty store);
    a symlink named ``<store>-wal`` is renamed itself: what it points to is neither moved, nor
    written, nor created (SQLite would create a dangling link's target if the link stayed)."""
    db = tmp_path / "s.sqlite"
    _damaged_with_live_wal(db, 50)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "precious"
    if target_exists:
        target.write_bytes(b"not the store's")
    os.unlink(f"{db}-wal")
    os.symlink(target, f"{db}-wal")
    Path(f"{db}-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 504)
    conn, issues = store_aside.set_aside(str(db), "damaged", store_aside.identity(str(db)))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
    conn.close()
    aside = _aside(issues[0].message)
    assert sorted(os.listdir(elsewhere)) == (["precious"] if target_exists else [])
    if target_exists:
        assert target.read_bytes() == b"not the store's"
    assert os.readlink(f"{aside}-wal") == str(target) and Path(f"{aside}-journal").read_bytes()[:4] == b"\xd9\xd5\x05\xf9"
    assert not os.path.lexists(f"{db}-journal") and not os.path.islink(f"{db}-wal")
    assert "with its -wal, -shm, -journal" in issues[0].message


def test_a_run_that_judged_the_store_damaged_after_another_set_it_aside_leaves_the_new_one(tmp_path, monkeypatch):
    """Review 90 (second look): run B judged the store damaged; run A set it aside and opened a new
    one; B then set aside what was at the path: A's new, healthy store (reported as corrupt), or, in
    the same second, over A's aside copy (the damaged bytes and their WAL lost). B now takes its
    turn, finds another file at the path and opens it."""
    monkeypatch.setattr(store_aside.time, "strftime", lambda *_a: "20260101T000000")
    db = tmp_path / "s.sqlite"
    _damaged_with_live_wal(db, 50)
    damaged = db.read_bytes()
    judged_by_b = store_aside.identity(str(db))
    conn_a, issues_a = st.open_checked(str(db))
    assert [i.code for i in issues_a] == ["STORE_CORRUPT"], issues_a
    conn_a.execute("INSERT INTO runs VALUES ('A-run', 1, NULL, 'done')")
    conn_a.commit()
    conn_b, issues_b = store_aside.set_aside(str(db), "B's verdict on the old file", judged_by_b)
    assert issues_b == [] and conn_b is not None
    assert conn_b.execute("SELECT run_id FROM runs").fetchall() == [("A-run",)]  # A's store, in place
    (aside,) = tmp_path.glob("s.sqlite.corrupt-*[0-9]")
    assert aside.read_bytes() == damaged and Path(f"{aside}-wal").stat().st_size > 0
    conn_a.close()
    conn_b.close()


def test_a_run_holding_the_turn_too_long_leaves_this_one_without_a_store_not_hung(tmp_path, monkeypatch):
    """Another run that holds the turn (stopped mid-rename, say) is waited for a bounded time; then
    this run scans without a store and moves nothing."""
    import fcntl

    monkeypatch.setattr(store_aside, "TURN_WAIT", 0.2)
    db = tmp_path / "s.sqlite"
    _damaged_with_live_wal(db, 5)
    held = os.open(db, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        conn, issues = store_aside.set_aside(str(db), "damaged", store_aside.identity(str(db)))
    finally:
        os.close(held)
    assert conn is None and [i.code for i in issues] == ["STORE_UNAVAILABLE"], issues
    assert not list(tmp_path.glob("s.sqlite.corrupt-*"))
