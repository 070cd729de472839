"""Review 91 A: a damaged store is set aside byte for byte, its ``-wal`` and ``-shm`` as they were.

The store used to be judged by the connection that opens it for writing: that open rebuilt the
``-shm``, wrote the schema's version into the WAL, and closing it folded the WAL into the damaged
file; the copy set aside was no longer what the store held. Real SQLite files: a store whose last
writer died before any checkpoint (its rows only in the WAL), then bytes of the main file
overwritten; SHA-256 of each file before the open and of its set-aside copy after."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_aside_helpers import FILES, aside_of, damage, live_wal, sha

from apkscan.batch import store as st

@pytest.mark.parametrize("where", ["schema", "deep"])
def test_a_damaged_store_with_a_live_wal_is_set_aside_byte_for_byte(tmp_path, where):
    db = tmp_path / "s.sqlite"
    live_wal(db, 50, identities=0 if where == "schema" else 2000)
    damage(db, where)
    before = {s: sha(f"{db}{s}") for s in FILES}
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0  # the new store
    conn.close()
    aside = aside_of(db)
    assert {s: sha(f"{aside}{s}") for s in FILES} == before


def test_a_damaged_store_without_its_shm_keeps_its_file_and_wal_exact(tmp_path):
    """The ``-shm`` gone (a clean-up, a copy of two files): the store is still judged without a write
    to its file or WAL (an empty ``-shm`` is made for the read-only reader, as any open would)."""
    db = tmp_path / "s.sqlite"
    live_wal(db, 50, identities=2000)
    damage(db, "deep")
    os.unlink(f"{db}-shm")
    before = {s: sha(f"{db}{s}") for s in ("", "-wal")}
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
    conn.close()
    aside = aside_of(db)
    assert {s: sha(f"{aside}{s}") for s in ("", "-wal")} == before


def test_a_damaged_store_without_a_wal_is_read_without_one_made(tmp_path):
    """No ``-wal`` (the last writer closed it): the file alone is the store, read as it is; no ``-wal``
    or ``-shm`` is made beside it, none goes aside with it."""
    db = tmp_path / "s.sqlite"
    live_wal(db, 0, identities=2000)  # closed: the WAL folded in and deleted
    assert not os.path.lexists(f"{db}-wal") and not os.path.lexists(f"{db}-shm")
    damage(db, "deep")
    before = sha(str(db))
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
    conn.close()
    aside = aside_of(db)
    assert sha(aside) == before
    assert not os.path.lexists(f"{aside}-wal") and not os.path.lexists(f"{aside}-shm")


def test_a_healthy_store_with_a_live_wal_is_opened_with_its_rows(tmp_path):
    """The control: judged read-only, a healthy store is opened as before, its WAL's rows in it."""
    db = tmp_path / "s.sqlite"
    live_wal(db, 50, identities=200)
    conn, issues = st.open_checked(str(db))
    assert conn is not None and issues == [], issues
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 50
    assert conn.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 200
    conn.close()
    assert not list(tmp_path.glob("s.sqlite.corrupt-*"))


def test_two_runs_racing_on_one_damaged_store_set_it_aside_once_and_keep_both_rows(tmp_path):
    """Two processes open the same damaged store at once: one sets it aside (its bytes exact), the
    other takes its turn after it and opens the new store; each run's row is in that store."""
    db = tmp_path / "s.sqlite"
    live_wal(db, 50, identities=2000)
    damage(db, "deep")
    before = {s: sha(f"{db}{s}") for s in FILES}
    go = tmp_path / "go"
    run = (f"import os, sys, time\nfrom apkscan.batch import store as st\n"
           f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.002)\n"
           f"conn, issues = st.open_checked({str(db)!r})\nprint(','.join(i.code for i in issues))\n"
           "conn.execute(\"INSERT INTO runs VALUES (?, 1, NULL, 'done')\", (sys.argv[1],))\nconn.close()\n")
    env = {**os.environ, "PYTHONPATH": str(Path(st.__file__).parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", run, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for name in ("A", "B")]
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sorted(out.strip() for out, _ in outs) == ["", "STORE_CORRUPT"], outs
    aside = aside_of(db)
    assert {s: sha(f"{aside}{s}") for s in FILES} == before
    with sqlite3.connect(db) as c:
        assert sorted(r[0] for r in c.execute("SELECT run_id FROM runs")) == ["A", "B"]
