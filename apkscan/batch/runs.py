"""Runs in the scan store (``--resume``): a run is its inputs and the options that change results;
the ``runs`` table (schema: :mod:`apkscan.batch.store`) says which runs were interrupted."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a --no-store run needs run_id alone, not sqlite3
    import sqlite3


def run_id(real_inputs: list[str], options: dict[str, Any]) -> str:
    """A run is its inputs (their real paths, in order: the caller resolves them) and the options
    that change results."""
    h = hashlib.sha256(repr((list(real_inputs), sorted(options.items()))).encode())
    return h.hexdigest()[:16]


def begin_run(conn: sqlite3.Connection, rid: str, resume: bool) -> tuple[float, float | None]:
    """Record a run's start: its own key, and with ``resume`` the start of the unfinished run it
    continues: interrupted, or still ``running`` because it never recorded its end (killed by a
    signal, out of memory, the machine lost: review 74 F4; a run still alive elsewhere reads the
    same, and resuming it only means taking what the store already holds)."""
    last = conn.execute("SELECT started_at, status FROM runs WHERE run_id=? ORDER BY started_at DESC LIMIT 1",
                        (rid,)).fetchone() if resume else None
    prior = last if last and last[1] in ("interrupted", "running") else None  # a later run finished: none (review 75 F6)
    started = time.time()
    conn.execute("INSERT INTO runs VALUES (?,?,NULL,'running')", (rid, started))
    return started, (prior[0] if prior else None)


def end_run(conn: sqlite3.Connection, rid: str, started: float, interrupted: bool) -> None:
    conn.execute("UPDATE runs SET finished_at=?, status=? WHERE run_id=? AND started_at=?",
                 (time.time(), "interrupted" if interrupted else "finished", rid, started))
