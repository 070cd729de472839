"""Opening the scan store (schema: :data:`_MIGRATIONS`): created or migrated, integrity checked,
and every wait on another process bounded.

Waits (review 29 F4): the open (WAL set-up and migration) gives up after :data:`OPEN_WAIT` seconds
in total when another process holds the store's write lock; the run then scans without the store
(``STORE_UNAVAILABLE``), never stalls. Once open, a write waits at most :data:`BUSY_MS` for the
lock (:func:`apkscan.batch.store.commit_writes` then stops writing for the run, with one warning).

What is set aside (review 29 F6): only a store SQLite reports as damaged (``SQLITE_CORRUPT``,
``SQLITE_NOTADB``, or a failed ``PRAGMA quick_check``) is renamed ``*.corrupt-<time>``, with its
``-wal``, ``-shm`` and ``-journal``, and replaced (``STORE_CORRUPT``); a store that cannot be opened
for writing (read-only file system, a file without write permission, an immutable file, a full
disk, in use) is left exactly as it is and the run scans without it (``STORE_UNAVAILABLE``).
An existing store is judged read-only first (:mod:`apkscan.batch.store_judge`), so a damaged one is
set aside byte for byte, its ``-wal`` and ``-shm`` as they were (review 91).
"""

from __future__ import annotations

import os
import sqlite3
import time

from apkscan.batch.store_aside import identity, set_aside
from apkscan.batch.store_judge import damaged, judged, verdict
from apkscan.issues import Issue, warning

BUSY_MS = 5_000  # a write waits this long for another run's lock, then the run stops writing
OPEN_WAIT = 5.0  # the open (WAL, migration) waits this long in total for another process's lock

_MIGRATIONS: list[str] = [
    # 1: identities by content, stat keys by place
    """CREATE TABLE identities (sha256 TEXT NOT NULL, parser TEXT NOT NULL, options TEXT NOT NULL,
                                identity BLOB NOT NULL, stored_at REAL NOT NULL,
                                PRIMARY KEY (sha256, parser, options));
       CREATE TABLE stat_keys (path TEXT NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL,
                               size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
                               inode INTEGER NOT NULL,
                               dev INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (path, off, len));""",
    # 2: runs, for --resume
    """CREATE TABLE runs (run_id TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,
                          status TEXT NOT NULL, PRIMARY KEY (run_id, started_at));""",
    # 3: what matching and deciding made of a stored identity, by rule set and policies
    """CREATE TABLE matches (sha256 TEXT NOT NULL, parser TEXT NOT NULL, options TEXT NOT NULL,
                             rules TEXT NOT NULL, findings BLOB NOT NULL,
                             PRIMARY KEY (sha256, parser, options, rules));
       CREATE TABLE decisions (sha256 TEXT NOT NULL, parser TEXT NOT NULL, options TEXT NOT NULL,
                               rules TEXT NOT NULL, policies TEXT NOT NULL, decided BLOB NOT NULL,
                               PRIMARY KEY (sha256, parser, options, rules, policies));""",
    # 4: the warm fast lane (apkscan.batch.known): a plain top-level APK's JSONL line by path and stat
    """CREATE TABLE known_lines (chain TEXT NOT NULL, parser TEXT NOT NULL, options TEXT NOT NULL,
                                 rules TEXT NOT NULL, policies TEXT NOT NULL, fmt TEXT NOT NULL,
                                 real TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                                 ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, dev INTEGER NOT NULL,
                                 sha256 TEXT NOT NULL, package TEXT, verdicts TEXT NOT NULL, line BLOB NOT NULL,
                                 PRIMARY KEY (chain, parser, options, rules, policies, fmt));""",
    # 5: when the store's integrity was last checked (a big store is not read whole on every run)
    """CREATE TABLE checks (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at REAL NOT NULL);""",
    # 6: stat keys found by file too (inode, device), not only by place: another hard link to it
    """CREATE INDEX stat_keys_by_file ON stat_keys (inode, dev, off, len);""",
    # 7: the few facts matching reads of a stored identity (apkscan.rules.prefilter), as JSON sealed to the
    # identity's pickle: a rescan under new rules knows an app matches nothing without unpickling it.
    # A store migrated from 6 has none: each identity is then matched as before (and its facts kept)
    """CREATE TABLE match_facts (sha256 TEXT NOT NULL, parser TEXT NOT NULL, options TEXT NOT NULL,
                                 facts TEXT NOT NULL, seal TEXT NOT NULL, PRIMARY KEY (sha256, parser, options));""",
    # 8: each identity's pickle digested once, when it is stored: match facts are sealed to that digest,
    # read without the pickle. Facts sealed to the pickle itself (7) go: kept again when next matched.
    # A pickle rewritten in place (never by apkscan: it replaces rows whole) loses its digest, so its
    # facts are no longer read (apkscan.batch.store_facts)
    """ALTER TABLE identities ADD COLUMN digest TEXT;
       DELETE FROM match_facts;
       CREATE TRIGGER identity_rewritten AFTER UPDATE OF identity ON identities
       BEGIN UPDATE identities SET digest = NULL WHERE rowid = NEW.rowid; END;""",
    # 9: stat keys and the fast lane's rows written before review 56 go. A key was then stored for
    # bytes read by a second lookup of the path, never shown to be the file the stat described (a
    # folder swapped during a scan left a banned file's stat naming a clean file's SHA-256, for good).
    # Keys are now stored only when proven (apkscan.batch.stat_read); the next run hashes each file once.
    """DELETE FROM stat_keys;
       DELETE FROM known_lines;""",
    # 10: findings and decisions sealed like every other row (review 74 F1: a byte flipped on disk in
    # a decisions row could still unpickle, another verdict, and be served); rows without a seal go,
    # matched and decided again from their identities (apkscan.batch.results)
    """ALTER TABLE matches ADD COLUMN seal TEXT;
       ALTER TABLE decisions ADD COLUMN seal TEXT;
       DELETE FROM matches;
       DELETE FROM decisions;""",
    # 11: the keys (parser version, rule set, policies) each run used, and when: rows under keys no run
    # has used for a month are pruned (apkscan.batch.store_prune). Every key already stored counts
    # as used now, so nothing is pruned the day a store is migrated.
    """CREATE TABLE IF NOT EXISTS used_keys (kind TEXT NOT NULL, key TEXT NOT NULL, last_used REAL NOT NULL,
                               PRIMARY KEY (kind, key));
       INSERT OR IGNORE INTO used_keys SELECT DISTINCT 'parser', parser, (julianday('now') - 2440587.5) * 86400.0 FROM identities;
       INSERT OR IGNORE INTO used_keys SELECT DISTINCT 'rules', rules, (julianday('now') - 2440587.5) * 86400.0 FROM matches;
       INSERT OR IGNORE INTO used_keys SELECT DISTINCT 'rules', rules, (julianday('now') - 2440587.5) * 86400.0 FROM known_lines;
       INSERT OR IGNORE INTO used_keys SELECT DISTINCT 'policies', policies, (julianday('now') - 2440587.5) * 86400.0 FROM decisions;
       INSERT OR IGNORE INTO used_keys SELECT DISTINCT 'policies', policies, (julianday('now') - 2440587.5) * 86400.0 FROM known_lines;
       INSERT OR REPLACE INTO used_keys VALUES ('pruned', '', (julianday('now') - 2440587.5) * 86400.0);""",
    # 12: findings and decisions sealed to their row's key too (review 89 F2: a clean APK's row copied,
    # seal and all, onto a banned APK's SHA-256 was served); rows sealed without it go, matched and
    # decided again (their rule set's key, which digests batch/results.py, changed with the seal anyway)
    """DELETE FROM matches;
       DELETE FROM decisions;""",
    # 13: the warm lane's rows sealed to their key too (review 90: a row of a rule pack that did not ban
    # its app, its rules and policies set to today's, was served: allowed, exit 0); rows sealed without
    # it go (their format key, which digests batch/known_seal.py, changed with the seal anyway)
    """DELETE FROM known_lines;""",
]
SCHEMA_VERSION = len(_MIGRATIONS)


class StoreProblem(Exception):
    def __init__(self, issue: Issue):
        super().__init__(issue.message)
        self.issue = issue


def connect(path: str, wait: float = OPEN_WAIT) -> sqlite3.Connection:
    """Open (creating or migrating) the store; StoreProblem when it cannot be used as is.

    Waits out another run that is creating or migrating the same store (switching a new file to
    WAL can answer "database is locked" at once, without the busy handler: two runs started
    together on a new store used to call it corrupt), but ``wait`` seconds in total at most: a
    store another process holds locked raises the busy error then."""
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        try:
            return _open(path, max(0.05, left))
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or left <= 0.1:
                raise
            time.sleep(0.1)


def _open(path: str, wait: float) -> sqlite3.Connection:
    _create_private(path)
    conn = sqlite3.connect(os.fsencode(path), timeout=wait, isolation_level=None)  # a non-UTF-8 name too
    try:
        conn.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        _migrate(conn, path)
        conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
    except BaseException:
        conn.close()
        raise
    return conn


def _create_private(path: str) -> None:
    """Each folder apkscan creates for the store 0700, a new store file 0600 (SQLite gives its
    -wal and -shm the main file's mode), a symlinked store's where the link points: the scan
    history (paths, packages, certificates, verdicts) is for this user only (review 37 R2-3). An
    existing file is left as it is.

    The trust check runs again once folder and file exist: ``open_checked``'s check passes a folder
    that does not exist yet, and someone who makes it (or plants the file) in between would
    otherwise hold this run's store (closing note 13, the store folder race)."""
    from apkscan.batch.store_file import untrusted
    from apkscan.folders import resolved
    from apkscan.rules.cache import private_dirs

    private_dirs(os.path.dirname(resolved(path)))
    made = os.path.realpath(path)  # a symlinked store's file, where the link points (SQLite made it 0644: review 91)
    try:
        os.close(os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
    except FileExistsError:
        pass
    doubt = untrusted(path)
    if doubt:
        raise StoreProblem(untrusted_issue(path, doubt))


def untrusted_issue(path: str, doubt: str) -> Issue:
    return warning("STORE_UNTRUSTED", f"{path}: {doubt}: whoever can write the store decides what a "
                                      "rescan reports; left unused, scanning without a store")


def _busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("BEGIN IMMEDIATE")  # two runs migrating at once: one waits, then sees the new version
    try:
        have = conn.execute("PRAGMA user_version").fetchone()[0]
        if have > SCHEMA_VERSION:
            raise StoreProblem(warning("STORE_NEWER", f"{path}: store schema {have} is newer than this "
                                       f"apkscan's {SCHEMA_VERSION}; not used"))
        for version in range(have, SCHEMA_VERSION):
            for statement in _statements(_MIGRATIONS[version]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT (disk full) has rolled back already: say why it failed,
            try:                 # not "cannot rollback - no transaction is active" (review 74 F5)
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one (in the open transaction: ``executescript`` would commit
    it); a trigger's body holds ``;`` of its own, so pieces are joined until SQLite reads them whole."""
    out, piece = [], ""
    for part in script.split(";"):
        piece += part + ";"
        if sqlite3.complete_statement(piece):
            if piece.strip(" \n;"):
                out.append(piece)
            piece = ""
    return out


def _foreign(path: str) -> str | None:
    """Why ``path`` is not ours to open or set aside (:mod:`apkscan.batch.store_file`)."""
    from apkscan.batch.store_file import foreign

    return foreign(path, _MIGRATIONS)


def _unavailable(path: str, why: str) -> tuple[None, list[Issue]]:
    return None, [warning("STORE_UNAVAILABLE", f"{path}: {why}; left alone, scanning without a store")]


def open_checked(path: str) -> tuple[sqlite3.Connection | None, list[Issue]]:
    """The parent's open: integrity checked; a damaged store is set aside and replaced.

    Only a file that is an SQLite database SQLite itself reports as damaged is ever renamed:
    ``--store ~/notes.txt``, a folder, another program's database, a file with other hard links,
    or a healthy store that cannot be written here is left alone and the scan runs without a store.
    """
    from apkscan.batch.store_file import untrusted

    try:
        why, doubt = _foreign(path), untrusted(path)
    except OSError as exc:
        why, doubt = exc.strerror or str(exc), None
    if why:
        return _unavailable(path, why)
    if doubt:
        return None, [untrusted_issue(path, doubt)]
    seen = identity(path)  # the file judged below: only it is ever set aside (review 90, a racing run)
    try:
        why, checked = judged(path)  # read-only: a damaged store goes aside as it was (review 91)
        if why is None:
            conn, why = _opened(path, checked)
            if conn is not None:
                return conn, []
    except StoreProblem as exc:
        return None, [exc.issue]
    except sqlite3.DatabaseError as exc:
        if _busy(exc):  # another run holds it: in use is not corrupt, and never ours to move
            return _unavailable(path, f"in use by another process, still locked after {OPEN_WAIT:g} s ({exc})")
        if not damaged(exc):  # read-only file system or file, no permission, disk full: not damage
            return _unavailable(path, f"cannot be opened for writing ({exc}{_space_left(path)})")
        why = str(exc)
    except UnicodeDecodeError as exc:  # a damaged byte in the schema's text (review 74 F6): SQLite hands it to Python
        why = f"its schema text is damaged ({exc.reason} at byte {exc.start})"
    except OSError as exc:
        return _unavailable(path, exc.strerror or str(exc))
    return set_aside(path, why, seen)


def _space_left(path: str) -> str:
    """"; its file system is full" when it has under 1 MiB free: SQLite says "disk I/O error" when
    the shared-memory file cannot grow on a full tmpfs (review 75 F4)."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return ""
    free = st.f_bavail * st.f_frsize
    return f"; its file system is full ({free} bytes free)" if free < (1 << 20) else ""


def _opened(path: str, checked: bool | None) -> tuple[sqlite3.Connection | None, str | None]:
    """The store opened for writing (None and why, when this open finds it damaged: judged here
    only when :func:`judged` could not read it without a write; then set aside as this open left it)."""
    conn = connect(path)
    try:
        why, checked = (None, checked) if checked is not None else verdict(conn, path)
        if why is None:
            if checked:
                conn.execute("INSERT OR REPLACE INTO checks VALUES (1, ?)", (time.time(),))
            return conn, None
    except BaseException:
        conn.close()
        raise
    conn.close()
    return None, why
