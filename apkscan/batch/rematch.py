"""After a rule change, the stored identities matched again on the other core, ahead of the warm
lane (:mod:`apkscan.batch.known`).

Why: a rescan after a rule change is the lane's work, in the pool's parent, on one core: for each
plain APK it reads the row, matches the stored identity again (its sealed facts through the
prefilter, else the identity unpickled and matched: ~0.1 and ~0.5 ms), decides and writes; the
workers have nothing to parse, so the other core idles. A helper forked when the lane is bound
walks the lane's rows of another rule set (``known_lines``, in the order the cold run wrote them,
the walker's) and writes each stored identity's findings under this run's rules into ``matches``,
as the lane would (:func:`findings_of`: the same functions, the same rules object, inherited by
the fork). The lane then finds them with :func:`apkscan.batch.results.recall` and only decides;
where the helper is behind, the lane matches itself, as before (the same row, written twice).
So the output cannot change: only who computes a row that is a pure function of the stored
identity and the rules (the store's premise: matches are keyed by SHA-256, parser, options, rules).

Only with two cores or more for the run (``--jobs``) and when at least :data:`MIN_ROWS` rows wait
(a fork and its store connection cost milliseconds). The helper ignores Ctrl-C (the parent stops
it), dies with the parent (``lifeline.tie_to_parent``), writes :data:`BATCH` rows a transaction
and stops when it has walked the rows or is told to (:func:`stop`). A failure in it costs nothing
but the lane's own matching.
"""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
from typing import Any

from apkscan.batch import store, store_writes
from apkscan.batch.results import row_seal

MIN_ROWS = 256  # rows of another rule set before a helper is worth forking
BATCH = 64  # rows written per transaction (short: the lane writes to the same store)
PAGE = 512  # rows read per query


def start(path: str, settings: Any, key: tuple[str, ...], jobs: int | None) -> int | None:
    """Fork the helper for the lane keyed ``key`` (parser, options, rules, policies, format) and
    the run's ``settings`` (rules); its pid, or None: one core for the run (``jobs``, None: the
    cores available), or too little to do."""
    if jobs is None:
        try:
            jobs = len(os.sched_getaffinity(0))
        except AttributeError:
            jobs = os.cpu_count() or 1
    conn = store.connection(path) if jobs >= 2 and hasattr(os, "fork") else None
    if conn is None:
        return None
    enough = max(1, MIN_ROWS)
    try:
        waiting = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM known_lines WHERE parser=? AND options=? AND "
                               "fmt=? AND rules<>? LIMIT ?)", (key[0], key[1], key[4], key[2], enough)).fetchone()[0]
    except sqlite3.Error:
        return None
    if waiting < enough:  # nothing, or too little, of another rule set
        return None
    parent = os.getpid()
    store.close_connections()  # SQLite's locks must not be copied into the child
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # a mask held while forked: stop() must end it
        from apkscan.batch import lifeline

        lifeline.tie_to_parent(parent)
        store_writes.notice = _silent  # a store locked past BUSY_MS: the lane's to say (the run still stores)
        _walk(path, settings, key)
    except BaseException:  # noqa: BLE001 - the lane matches what the helper did not
        code = 1
    finally:
        os._exit(code)


def _silent(_issue: Any) -> None:
    return None


def stop(pid: int | None) -> None:
    """End the helper (done or not) and reap it."""
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _walk(path: str, s: Any, key: tuple[str, ...]) -> None:
    """Each stored identity the lane's rows of another rule set name, once, in their order."""
    conn = store.connection(path)
    if conn is None:
        return
    parser, options, rules_key = key[0], key[1], key[2]
    done: set[str] = set()
    last = 0
    while True:
        page = conn.execute("SELECT rowid, sha256 FROM known_lines WHERE rowid>? AND parser=? AND options=? AND fmt=? "
                            "AND rules<>? ORDER BY rowid LIMIT ?", (last, parser, options, key[4], rules_key, PAGE)).fetchall()
        if not page:
            break
        last = page[-1][0]
        for _rowid, sha in page:
            if sha in done:
                continue
            done.add(sha)
            if conn.execute("SELECT 1 FROM matches WHERE sha256=? AND parser=? AND options=? AND rules=?",
                            (sha, parser, options, rules_key)).fetchone():
                continue  # the lane (or a run before) got there first
            try:
                findings = findings_of(path, sha, s)
            except Exception:  # noqa: BLE001 - a stored value that fails when used: the lane's usual path
                continue
            if findings is not None:
                store.buffered_write(conn, "INSERT OR REPLACE INTO matches VALUES (?,?,?,?,?,?)",
                                     (sha, parser, options, rules_key, findings,
                                      row_seal(findings, "matches", sha, parser, options, rules_key)))
                store.commit_writes(at_least=BATCH)
    store.commit_writes()


def findings_of(path: str, sha: str, s: Any) -> bytes | None:
    """The pickled findings of the stored identity ``sha`` under ``s.rules``, as the lane makes them
    (:meth:`apkscan.batch.known.KnownFiles._decided`): ``[]`` when its sealed facts show no rule can
    match, else the stored identity (of these bytes, read to the end) matched. None: nothing
    stored that can be used (the lane then takes the usual path)."""
    from apkscan.batch.store_facts import matches_nothing, stored_facts
    from apkscan.rules import matcher

    facts = stored_facts(path, sha, s.sdk_kwargs)
    if facts is not None and matches_nothing(facts, s.rules):
        found: list[Any] = []
    else:
        identity = store.stored_identity(path, sha, s.sdk_kwargs, keep_facts=facts is None)
        if identity is None:
            return None
        found = matcher.match_identity(identity, s.rules, facts=facts)
    return pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL)
