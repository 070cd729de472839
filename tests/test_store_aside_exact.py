"""Review 91 A: a damaged store is set aside byte for byte, its ``-wal`` and ``-shm`` as they were.

The store used to be judged by the connection that opens it for writing: that open rebuilt the
``-shm``, wrote the schema's version into the WAL, and closing it folded the WAL into the damaged
file; the copy set aside was no longer what the store held. Real SQLite files: a store whose last
writer died before any checkpoint (its rows only in the WAL), then bytes of the main file
overwritten; SHA-256 of each file before the open and of its set-aside copy after."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from apkscan.batch import store as st

PAGE = 4096
FILES = ("", "-wal", "-shm")


def _sha(p: str) -> str | None:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest() if os.path.lexists(p) else None


def _live_wal(db: Path, rows: int, identities: int = 0) -> None:
    """An apkscan store (``identities`` rows checkpointed into the file), then ``rows`` runs written
    by a process that exits without a checkpoint or a close: they live only in the ``-wal``."""
    conn, issues = st.open_checked(str(db))
    assert issues == [] and conn is not None
    conn.executemany("INSERT INTO identities VALUES (?, 'p', 'o', ?, 0, NULL)",
                     [(f"{i:064x}", bytes([i % 251]) * 900) for i in range(identities)])
    conn.close()
    if not rows:
        return
    writer = (f"import os, sqlite3\nc = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
              "c.execute('PRAGMA wal_autocheckpoint=0')\n"
              f"for i in range({rows}):\n    c.execute(\"INSERT INTO runs VALUES (?, ?, NULL, 'done')\", (str(i), i))\n"
              "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", writer], check=True)
    assert Path(f"{db}-wal").stat().st_size > 0 and Path(f"{db}-shm").exists()


def _damage(db: Path, where: str) -> None:
    """``schema``: every page after the first 0xff (the open itself fails); ``deep``: 16 pages in the
    middle of the identities (the schema reads, the open migrates; only the integrity check finds it)."""
    raw = bytearray(db.read_bytes())
    if where == "schema":
        raw[PAGE:] = b"\xff" * (len(raw) - PAGE)
    else:
        half = len(raw) // 2 // PAGE * PAGE
        raw[half:half + 16 * PAGE] = bytes(range(256)) * (16 * PAGE // 256)
    db.write_bytes(raw)


def _aside(db: Path) -> str:
    (aside,) = db.parent.glob(db.name + ".corrupt-*[0-9]")
    return str(aside)


@pytest.mark.parametrize("where", ["schema", "deep"])
def test_a_damaged_store_with_a_live_wal_is_set_aside_byte_for_byte(tmp_path, where):
    db = tmp_path / "s.sqlite"
    _live_wal(db, 50, identities=0 if where == "schema" else 2000)
    _damage(db, where)
    before = {s: _sha(f"{db}{s}") for s in FILES}
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0  # the new store
    conn.close()
    aside = _aside(db)
    assert {s: _sha(f"{aside}{s}") for s in FILES} == before


def test_a_damaged_store_without_its_shm_keeps_its_file_and_wal_exact(tmp_path):
    """The ``-shm`` gone (a clean-up, a copy of two files): the store is still judged without a write
    to its file or WAL (an empty ``-shm`` is made for the read-only reader, as any open would)."""
    db = tmp_path / "s.sqlite"
    _live_wal(db, 50, identities=2000)
    _damage(db, "deep")
    os.unlink(f"{db}-shm")
    before = {s: _sha(f"{db}{s}") for s in ("", "-wal")}
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
    conn.close()
    aside = _aside(db)
    assert {s: _sha(f"{aside}{s}") for s in ("", "-wal")} == before


def test_a_damaged_store_without_a_wal_is_read_without_one_made(tmp_path):
    """No ``-wal`` (the last writer closed it): the file alone is the store, read as it is; no ``-wal``
    or ``-shm`` is made beside it, none goes aside with it."""
    db = tmp_path / "s.sqlite"
    _live_wal(db, 0, identities=2000)  # closed: the WAL folded in and deleted
    assert not os.path.lexists(f"{db}-wal") and not os.path.lexists(f"{db}-shm")
    _damage(db, "deep")
    before = _sha(str(db))
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
    conn.close()
    aside = _aside(db)
    assert _sha(aside) == before
    assert not os.path.lexists(f"{aside}-wal") and not os.path.lexists(f"{aside}-shm")


def test_a_healthy_store_with_a_live_wal_is_opened_with_its_rows(tmp_path):
    """The control: judged read-only, a healthy store is opened as before, its WAL's rows in it."""
    db = tmp_path / "s.sqlite"
    _live_wal(db, 50, identities=200)
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
    _live_wal(db, 50, identities=2000)
    _damage(db, "deep")
    before = {s: _sha(f"{db}{s}") for s in FILES}
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
    aside = _aside(db)
    assert {s: _sha(f"{aside}{s}") for s in FILES} == before
    with sqlite3.connect(db) as c:
        assert sorted(r[0] for r in c.execute("SELECT run_id FROM runs")) == ["A", "B"]
