"""Keeping the scan store from growing for ever (review 74 F7).

Every apkscan upgrade changes the parser version (a digest of the apk layer's source), every rule
pack update the rule-set key, every policy edit the policies key: rows under the old keys are never
read again, yet they stayed. Each run records the keys it used (table ``used_keys``, schema 11);
at the end of a run, at most once a day, rows under keys no run has used for :data:`KEEP_DAYS`
days go, then what they left behind (match facts, findings and decisions of an identity that is
gone, stat keys naming bytes no identity holds). Two apkscan versions or rule sets used in turn
keep each other's rows; a pruned row only costs a parse or a match the next time it is asked.
Freed pages are reused by SQLite: the file stops growing, it does not shrink.
"""

from __future__ import annotations

import sqlite3
import time

KEEP_DAYS = 30
EVERY = 24 * 3600.0  # pruned at most this often
RUNS_KEPT_DAYS = 365

# (table, key column, kind of key in used_keys): rows under a key unused for KEEP_DAYS go
_BY_KEY = [(t, "parser", "parser") for t in ("identities", "match_facts", "matches", "decisions", "known_lines")]
_BY_KEY += [(t, "rules", "rules") for t in ("matches", "decisions", "known_lines")]
_BY_KEY += [(t, "policies", "policies") for t in ("decisions", "known_lines")]

# what an identity leaves behind once it is gone
_ORPHANS = [
    "DELETE FROM {t} WHERE NOT EXISTS (SELECT 1 FROM identities i WHERE i.sha256 = {t}.sha256 "
    "AND i.parser = {t}.parser AND i.options = {t}.options)".format(t=t)
    for t in ("match_facts", "matches", "decisions")
] + ["DELETE FROM stat_keys WHERE NOT EXISTS (SELECT 1 FROM identities i WHERE i.sha256 = stat_keys.sha256)"]


def record_use(conn: sqlite3.Connection, parser: str, rules: str | None, policies: str | None,
               now: float | None = None) -> None:
    """Note that this run used these keys (its rows are fresh)."""
    now = time.time() if now is None else now
    keys = [("parser", parser)] + [(k, v) for k, v in (("rules", rules), ("policies", policies)) if v]
    conn.executemany("INSERT OR REPLACE INTO used_keys VALUES (?, ?, ?)", [(k, v, now) for k, v in keys])


def due(conn: sqlite3.Connection, now: float) -> bool:
    row = conn.execute("SELECT last_used FROM used_keys WHERE kind = 'pruned' AND key = ''").fetchone()
    return row is None or now - row[0] >= EVERY


def prune(conn: sqlite3.Connection, now: float | None = None) -> dict[str, int]:
    """Delete rows under keys unused for KEEP_DAYS days and what they leave behind, in one
    transaction; rows deleted per table."""
    now = time.time() if now is None else now
    cut = now - KEEP_DAYS * 86400
    gone: dict[str, int] = {}
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, column, kind in _BY_KEY:
            n = conn.execute(f"DELETE FROM {table} WHERE {column} NOT IN (SELECT key FROM used_keys "
                             "WHERE kind = ? AND last_used >= ?)", (kind, cut)).rowcount
            gone[table] = gone.get(table, 0) + n
        for sql in _ORPHANS:
            table = sql.split()[2]
            gone[table] = gone.get(table, 0) + conn.execute(sql).rowcount
        gone["runs"] = conn.execute("DELETE FROM runs WHERE started_at < ?",
                                    (now - RUNS_KEPT_DAYS * 86400,)).rowcount
        conn.execute("DELETE FROM used_keys WHERE kind <> 'pruned' AND last_used < ?", (cut,))
        conn.execute("INSERT OR REPLACE INTO used_keys VALUES ('pruned', '', ?)", (now,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise
    return gone


def after_run(path: str, key: tuple[str, ...] | None) -> None:
    """At the end of a run with the store: record the run's keys (``key``: parser, options, rules,
    policies, ...), and prune when a day has passed since the last time. The store is a cache: any
    failure here is ignored (the rows stay until a later run)."""
    from apkscan.batch import store

    conn = store.connection(path)
    if conn is None:
        return
    try:
        now = time.time()
        if key is None:
            record_use(conn, store.parser_version(), None, None, now)
        else:
            record_use(conn, key[0], key[2], key[3], now)
        if due(conn, now):
            prune(conn, now)
    except sqlite3.Error:
        pass
