"""The scan store's writes: buffered per input, one transaction each, and stopped for the run
(one warning) when another process holds the store or the disk is full. The store is a cache:
a write that fails costs a parse or a match next time, never a result."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from apkscan.batch.store_open import BUSY_MS
from apkscan.issues import warning

_PENDING: list[tuple[sqlite3.Connection, str, tuple[Any, ...]]] = []
BATCH = 256


def buffered_write(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> None:
    """Buffered until :func:`commit_writes`: one transaction per input, not one per row."""
    _PENDING.append((conn, sql, params))


def commit_writes(at_least: int = 1) -> None:
    """Write what scanning one input buffered (identity, stat key, findings, decisions) in one
    transaction; the store is a cache: a write that fails costs a parse or a match next time.
    ``at_least``: only once that many rows wait (the pool's parent deciding stored identities
    again after a policy change: one transaction per ``BATCH`` rows, the rest when it closes)."""
    if not _PENDING or len(_PENDING) < at_least:
        return
    rows, _PENDING[:] = list(_PENDING), []
    write_all(rows[0][0], [(sql, params) for _, sql, params in rows])


_STALLED: set[int] = set()  # connections (by id) whose writes stopped: another process held the lock


def write_all(conn: sqlite3.Connection, rows: list[tuple[str, Any]]) -> None:
    """One transaction, or nothing: a cache whose write fails costs a parse next time. A write
    still locked out after ``BUSY_MS`` (another process holds the store) stops this connection's
    writes for the run, with one ``STORE_UNAVAILABLE`` warning: never a wait per input."""
    if id(conn) in _STALLED:
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
        at = 0
        while at < len(rows):  # a run of one statement in one call (the lane's rows, 256 at a time), in order
            end = at + 1
            while end < len(rows) and rows[end][0] == rows[at][0]:
                end += 1
            conn.executemany(rows[at][0], [params for _, params in rows[at:end]])
            at = end
        conn.execute("COMMIT")
    except (sqlite3.Error, ValueError) as exc:  # ValueError: a value SQLite cannot take (UnicodeError)
        if conn.in_transaction:
            try:  # a failed COMMIT (disk full) has rolled back already (review 74 F5)
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
            _STALLED.add(id(conn))
            notice(warning("STORE_UNAVAILABLE", f"still locked by another process after {BUSY_MS // 1000} s "
                           f"({exc}): this run stores nothing more in it (results are not affected)"))
        elif isinstance(exc, sqlite3.OperationalError) and ("full" in str(exc) or "I/O error" in str(exc)):
            # a full disk (a full tmpfs says "disk I/O error"): one warning, not a failed write per input
            _STALLED.add(id(conn))
            notice(warning("STORE_UNAVAILABLE", f"{exc}: this run stores nothing more in it (results are not affected)"))


_TOLD: set[str] = set()


def notice(issue: Any) -> None:
    """A store warning on stderr, once per code and process (the store is a cache: never an error)."""
    if issue.code not in _TOLD:
        _TOLD.add(issue.code)
        sys.stderr.write(f"warning: {issue.code}: {issue.message}\n")
        sys.stderr.flush()
