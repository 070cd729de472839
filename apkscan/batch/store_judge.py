"""Judging an existing store's integrity before it is opened for writing, without writing a byte of it.

Why first and read-only (review 91): the open that writes rebuilds a stale ``-shm``, writes the
schema's version into the WAL, and its close folds the WAL into the file and deletes it; a store
that connection found damaged was set aside changed, the evidence of what it held rewritten.
Judged here, a damaged store is renamed as it was, its ``-wal`` and ``-shm`` byte for byte.

How nothing is written: with a ``-wal``, SQLite's ``mode=ro`` with ``readonly_shm=1`` (the
``-shm`` opened read-only: the reader keeps its WAL index in its own memory, takes locks, writes no
file, and a read-only connection never checkpoints); without one, ``immutable=1`` (the file is the
whole store: no lock, and no ``-wal`` made, which ``mode=ro`` alone creates). ``PRAGMA
journal_mode`` is never asked (setting it writes the header). What cannot be read this way (a
``-shm`` that is a link, a busy or half-made store, a schema before ``checks``) is judged by the
write open as before.
"""

from __future__ import annotations

import os
import sqlite3
import time
from urllib.parse import quote

CHECK_ALWAYS_BYTES = 64 << 20  # a store up to this size is checked on every open (~30 ms)
CHECK_EVERY = 24 * 3600.0  # a bigger one at least daily (quick_check reads it whole: ~0.45 ms/MB)
_DAMAGED = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB: the only errors that set a store aside


def judged(path: str) -> tuple[str | None, bool | None]:
    """(why the store at ``path`` is damaged, or None; whether it was checked whole). Checked None:
    there is none yet, or it could not be read without a write, or it changed while read (another
    run writing it): the write open judges it (:func:`verdict`). A symlinked store is judged by the
    file it names."""
    real = os.path.realpath(path)
    before = _stamp(real)
    if before is None:  # none there, or empty: a new store, checked once made (its first check's time kept)
        return None, None
    uri = _read_only_uri(real, wal=before[1] is not None)
    if uri is None:
        return None, None
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            why, checked = verdict(conn, real)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if not damaged(exc):
            return None, None
        why, checked = str(exc), True
    except UnicodeDecodeError as exc:  # a damaged byte in the schema's text (review 74 F6): SQLite hands it to Python
        why, checked = f"its schema text is damaged ({exc.reason} at byte {exc.start})", True
    if why is not None and _stamp(real) != before:
        return None, None  # written meanwhile: its bytes were not the damaged store's alone
    return why, checked


def verdict(conn: sqlite3.Connection, path: str) -> tuple[str | None, bool]:
    """(what ``PRAGMA quick_check`` says is wrong, or None; whether it ran). Raises SQLite's error
    when reading the schema or a page fails."""
    if not _needs_check(conn, path):
        return None, False
    row = conn.execute("PRAGMA quick_check").fetchone()
    if row and row[0] == "ok":
        return None, True
    return (row[0] if row else "no answer"), True


def damaged(exc: sqlite3.Error) -> bool:
    """SQLite says the file's contents are damaged (not: cannot open, read-only, busy, full)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _DAMAGED
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _stamp(real: str) -> tuple[tuple[int, ...], tuple[int, ...] | None] | None:
    """The file's and its ``-wal``'s (size, mtime, inode); None: no file, or an empty one."""
    try:
        st = os.stat(real)
    except OSError:
        return None
    if st.st_size == 0:
        return None
    try:
        wal = os.lstat(real + "-wal")
        wal_stamp: tuple[int, ...] | None = (wal.st_size, wal.st_mtime_ns, wal.st_ino)
    except OSError:
        wal_stamp = None
    return (st.st_size, st.st_mtime_ns, st.st_ino), wal_stamp


def _read_only_uri(real: str, wal: bool) -> str | None:
    """The URI that reads the store as it is; None when that needs a write. A ``-wal`` without its
    ``-shm`` gets an empty one (0600, what any open makes): ``readonly_shm`` needs a file to open."""
    name = "file:" + quote(os.fsencode(real))
    if not wal:
        return name + "?mode=ro&immutable=1"
    try:
        fd = os.open(real + "-shm", os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0), 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError:
        return None
    return name + "?mode=ro&readonly_shm=1"


def _needs_check(conn: sqlite3.Connection, path: str) -> bool:
    """``PRAGMA quick_check`` on this open? Always for a small store; for a big one when its
    last check is over a day old, or when a run started since then has not ended (it died
    mid-write, or it is running now). SQLite also finds damage in the pages a lookup reads:
    that lookup is then a miss (``sqlite3.Error`` is never fatal here), and the next check
    sets the store aside."""
    real = os.path.realpath(path)
    size = sum(os.path.getsize(real + s) for s in ("", "-wal") if os.path.exists(real + s))
    if size <= CHECK_ALWAYS_BYTES:
        return True
    row = conn.execute("SELECT checked_at FROM checks WHERE id = 1").fetchone()
    if row is None or not isinstance(row[0], float) or time.time() - row[0] > CHECK_EVERY:
        return True
    return conn.execute("SELECT 1 FROM runs WHERE status = 'running' AND started_at >= ? LIMIT 1",
                        (row[0],)).fetchone() is not None
