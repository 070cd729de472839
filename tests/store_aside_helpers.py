"""Real damaged stores for the set-aside tests (test_store_aside_exact.py, test_store_symlinked.py):
an apkscan store whose last writer died before any checkpoint, then bytes of its main file overwritten."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from apkscan.batch import store as st

PAGE = 4096
FILES = ("", "-wal", "-shm")


def sha(p: str) -> str | None:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest() if os.path.lexists(p) else None


def live_wal(db: Path, rows: int, identities: int = 0) -> None:
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


def damage(db: Path, where: str) -> None:
    """``schema``: every page after the first 0xff (the open itself fails); ``deep``: 16 pages in the
    middle of the identities (the schema reads, the open migrates; only the integrity check finds it)."""
    raw = bytearray(db.read_bytes())
    if where == "schema":
        raw[PAGE:] = b"\xff" * (len(raw) - PAGE)
    else:
        half = len(raw) // 2 // PAGE * PAGE
        raw[half:half + 16 * PAGE] = bytes(range(256)) * (16 * PAGE // 256)
    db.write_bytes(raw)


def aside_of(db: Path) -> str:
    (aside,) = db.parent.glob(db.name + ".corrupt-*[0-9]")
    return str(aside)
