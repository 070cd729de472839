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

CHUNK = 500  # rows deleted per transaction: another run waits one chunk (SQLite's oldest limit: 999 parameters)
BUDGET = 2.0  # seconds of pruning per run at most; what is left waits for the next prune

# (table, the condition of a row to delete): rows under a key no run used for KEEP_DAYS, then orphans
_FRESH = "(SELECT key FROM used_keys WHERE kind = '{kind}' AND last_used >= :cut)"
_STEPS = [(t, f"parser NOT IN {_FRESH.format(kind='parser')}")
          for t in ("identities", "match_facts", "matches", "decisions", "known_lines")]
_STEPS += [(t, f"rules NOT IN {_FRESH.format(kind='rules')}") for t in ("matches", "decisions", "known_lines")]
_STEPS += [(t, f"policies NOT IN {_FRESH.format(kind='policies')}") for t in ("decisions", "known_lines")]
# what an identity leaves behind once it is gone
_STEPS += [(t, f"NOT EXISTS (SELECT 1 FROM identities i WHERE i.sha256 = {t}.sha256 AND i.parser = {t}.parser "
               f"AND i.options = {t}.options)") for t in ("match_facts", "matches", "decisions")]
_STEPS += [("stat_keys", "NOT EXISTS (SELECT 1 FROM identities i WHERE i.sha256 = stat_keys.sha256)"),
           ("runs", "started_at < :old_runs")]


def record_use(conn: sqlite3.Connection, parser: str, rules: str | None, policies: str | None,
               now: float | None = None) -> None:
    """Note that this run used these keys (its rows are fresh)."""
    now = time.time() if now is None else now
    keys = [("parser", parser)] + [(k, v) for k, v in (("rules", rules), ("policies", policies)) if v]
    conn.executemany("INSERT OR REPLACE INTO used_keys VALUES (?, ?, ?)", [(k, v, now) for k, v in keys])


def due(conn: sqlite3.Connection, now: float) -> bool:
    row = conn.execute("SELECT last_used FROM used_keys WHERE kind = 'pruned' AND key = ''").fetchone()
    return row is None or not 0 <= now - row[0] < EVERY  # a marker in the future (a clock set back): due


def prune(conn: sqlite3.Connection, now: float | None = None, budget: float = BUDGET) -> dict[str, int]:
    """Delete rows under keys unused for KEEP_DAYS days and what they leave behind, CHUNK rows a
    transaction, for ``budget`` seconds at most; rows deleted per table. The attempt is noted first:
    a prune that fails (a full disk) or runs out of time is not tried again before EVERY has passed
    (review 76 F5, F7: one transaction over the whole store held the lock for 17 s on 300,000 rows
    and, failing on a full disk, was tried again at the end of every run)."""
    now = time.time() if now is None else now
    conn.execute("INSERT OR REPLACE INTO used_keys VALUES ('pruned', '', ?)", (now,))
    args = {"cut": now - KEEP_DAYS * 86400, "old_runs": now - RUNS_KEPT_DAYS * 86400}
    stop = time.monotonic() + budget
    gone = {table: 0 for table, _ in _STEPS}
    for table, condition in _STEPS:
        last = -1
        while time.monotonic() < stop:
            ids = [r[0] for r in conn.execute(f"SELECT rowid FROM {table} WHERE rowid > :last AND {condition} "
                                              f"ORDER BY rowid LIMIT {CHUNK}", {**args, "last": last})]
            if not ids:
                break
            last = ids[-1]
            # the condition again: a row written meanwhile under a reused rowid is not deleted (review 77 F4)
            gone[table] += conn.execute(f"DELETE FROM {table} WHERE rowid IN ({','.join(f':r{i}' for i in range(len(ids)))}) "
                                        f"AND {condition}", {**args, **{f"r{i}": v for i, v in enumerate(ids)}}).rowcount
    conn.execute("DELETE FROM used_keys WHERE kind <> 'pruned' AND last_used < ?", (args["cut"],))
    return gone


def after_run(path: str, key: tuple[str, ...] | None) -> None:
    """After a run with the store (its reports written): record the run's keys (``key``: parser,
    options, rules, policies), and prune when a day has passed since the last time. The store is a
    cache: a failure, or Ctrl-C, only stops the pruning (the rows stay until a later prune)."""
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
    except (sqlite3.Error, KeyboardInterrupt):
        pass
    finally:
        store.close_connections()  # the WAL folded back: the .sqlite file alone holds the store
