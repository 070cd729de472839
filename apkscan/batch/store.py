"""The scan store: identities kept in SQLite so the same bytes are never parsed twice.

What is keyed by what (the decision, and why):

- ``identities``: the identity ``identify`` computed, keyed by the APK's **SHA-256**, the
  **parser version** (a digest of the apk layer's source, so any parser change misses)
  and the SDK options it was verified for. Rules and policy are *not* in the key: a
  rescan after a rule or policy change re-matches stored identities and parses nothing.
- ``stat_keys``: an APK the scanner reads in place from the user's own files (an APK
  given or met in a folder, or a stored member of a ZIP read by window) maps
  ``(real path, offset, length)`` + ``(size, mtime_ns, ctime_ns, inode, device)`` to its
  SHA-256, so an unchanged file is recognised without reading it (``--rehash`` reads it
  anyway). ctime is in the key because nobody can set it: a file replaced by another of the
  same size, with its mtime copied back and the freed inode number reused (ext4 does), still
  misses (tested). A path not seen before is also looked up by inode and device with the same
  stat: another hard link to a file already known (backup snapshots share files that way),
  taken only while the known path still names that very file (a remounted image may reuse
  device and inode numbers).
  A file modified in the last two seconds gets no stat key (the same tick could hide a
  second write: git's "racy clean" rule). Members that had to be spooled (inside
  compressed or streamed containers) have no stable path: they are hashed after reading
  and found by SHA-256, so two copies of an APK in two backups cost one parse.
- APKs with a ``.idsig`` beside them are not stored (the v4 result depends on that file).
- Identities whose reading hit a transient condition (time budget, internal error,
  unreadable file) are not stored.

Stored identities are pickles of the apk layer's plain dataclasses, read back with an
unpickler that only builds ``apkscan`` classes and a few value types
(:mod:`apkscan.batch.safe_pickle`): a planted store cannot run code. Safety for two runs on one store: WAL journal, a busy timeout, one
short transaction per write. A store that SQLite cannot read, or that fails ``PRAGMA
quick_check`` (every open up to 64 MiB, daily above: :func:`_needs_check`), is set aside (renamed
``*.corrupt-<time>``), reported as ``STORE_CORRUPT``, and a fresh one is made; a store
from a newer apkscan is left alone and not used (``STORE_NEWER``). Neither stops a scan.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from apkscan.batch.runs import begin_run, end_run, run_id  # noqa: F401 (--resume: its own module, same names)
from apkscan.batch.safe_pickle import loads, loads_or_none  # noqa: F401 (results.py and the tests read rows here)
from apkscan.issues import Issue, warning
from apkscan.sources.interface import ScanInput
from apkscan.sources.custody import sha256_file
from apkscan.sources.tempspace import is_temporary

BUSY_MS = 30_000
RACY_NS = 2_000_000_000
_TRANSIENT = ("INPUT_TIMEOUT", "INTERNAL_ERROR", "INPUT_UNREADABLE", "INPUT_LIMIT_EXCEEDED")
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
]
SCHEMA_VERSION = len(_MIGRATIONS)


def default_path() -> str:
    """``$XDG_CACHE_HOME/apkscan/store.sqlite`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "apkscan", "store.sqlite")


def parser_version() -> str:
    """apkscan's version + a digest of the apk layer's source: a parser change is a miss."""
    global _PARSER
    if _PARSER is None:
        from apkscan import __version__
        from apkscan.batch.digest import code_digest

        _PARSER = f"{__version__}+{code_digest('apk')}"
    return _PARSER


_PARSER: str | None = None


class StoreProblem(Exception):
    def __init__(self, issue: Issue):
        super().__init__(issue.message)
        self.issue = issue


def connect(path: str, attempts: int = 50) -> sqlite3.Connection:
    """Open (creating or migrating) the store; StoreProblem when it cannot be used as is.

    Waits out another run that is creating or migrating the same store: switching a new file
    to WAL can answer "database is locked" at once, without the busy handler (two runs started
    together on a new store used to call it corrupt and set each other's store aside)."""
    for attempt in range(attempts):
        try:
            return _open(path)
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def _open(path: str) -> sqlite3.Connection:
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", mode=0o700, exist_ok=True)
    conn = sqlite3.connect(os.fsencode(path), timeout=BUSY_MS / 1000, isolation_level=None)  # a non-UTF-8 name too
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


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
            for statement in _MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _foreign(path: str) -> str | None:
    """Why ``path`` is not ours to open or set aside (:mod:`apkscan.batch.store_file`)."""
    from apkscan.batch.store_file import foreign

    return foreign(path, _MIGRATIONS)


def open_checked(path: str) -> tuple[sqlite3.Connection | None, list[Issue]]:
    """The parent's open: integrity checked; a corrupt store is set aside and replaced.

    Only a file that is an SQLite database is ever renamed: ``--store ~/notes.txt``, a folder,
    another program's database or a file with other hard links is left alone (never written)
    and the scan runs without a store.
    """
    try:
        why = _foreign(path)
    except OSError as exc:
        why = exc.strerror or str(exc)
    if why:
        return None, [warning("STORE_UNAVAILABLE", f"{path}: {why}; left alone, scanning without a store")]
    try:
        conn = connect(path)
        if not _needs_check(conn, path):
            return conn, []
        row = conn.execute("PRAGMA quick_check").fetchone()
        if row and row[0] == "ok":
            conn.execute("INSERT OR REPLACE INTO checks VALUES (1, ?)", (time.time(),))
            return conn, []
        conn.close()
        why = row[0] if row else "no answer"
    except StoreProblem as exc:
        return None, [exc.issue]
    except sqlite3.OperationalError as exc:
        if _busy(exc):  # another run holds it: in use is not corrupt, and never ours to move
            return None, [warning("STORE_UNAVAILABLE", f"{path}: in use by another run ({exc}); scanning without a store")]
        why = str(exc)
    except sqlite3.DatabaseError as exc:
        why = str(exc)
    except OSError as exc:
        return None, [warning("STORE_UNAVAILABLE", f"{path}: {exc.strerror or exc}; scanning without a store")]
    aside = f"{path}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
    issues = [warning("STORE_CORRUPT", f"{path}: unreadable store ({why}); set aside as {aside}, a new one is used")]
    try:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, aside + suffix)
        return connect(path), issues
    except (OSError, sqlite3.DatabaseError, StoreProblem) as exc:
        issues.append(warning("STORE_UNAVAILABLE", f"{path}: {exc}; scanning without a store"))
        return None, issues


CHECK_ALWAYS_BYTES = 64 << 20  # a store up to this size is checked on every open (~30 ms)
CHECK_EVERY = 24 * 3600.0  # a bigger one at least daily (quick_check reads it whole: ~0.45 ms/MB)


def _needs_check(conn: sqlite3.Connection, path: str) -> bool:
    """``PRAGMA quick_check`` on this open? Always for a small store; for a big one when its
    last check is over a day old, or when a run started since then has not ended (it died
    mid-write, or it is running now). SQLite also finds damage in the pages a lookup reads:
    that lookup is then a miss (``sqlite3.Error`` is never fatal here), and the next check
    sets the store aside."""
    size = sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
    if size <= CHECK_ALWAYS_BYTES:
        return True
    row = conn.execute("SELECT checked_at FROM checks WHERE id = 1").fetchone()
    if row is None or not isinstance(row[0], float) or time.time() - row[0] > CHECK_EVERY:
        return True
    return conn.execute("SELECT 1 FROM runs WHERE status = 'running' AND started_at >= ? LIMIT 1",
                        (row[0],)).fetchone() is not None


_CONNS: dict[tuple[int, str], sqlite3.Connection | None] = {}


def connection(path: str) -> sqlite3.Connection | None:
    """One connection per process and store (never one inherited across fork)."""
    key = (os.getpid(), path)
    if key not in _CONNS:
        try:
            _CONNS[key] = connect(path)
        except (sqlite3.Error, StoreProblem, OSError):
            _CONNS[key] = None  # the parent already reported why; scan without it
    return _CONNS[key]


def close_connections() -> None:
    """Close this process's connections: called before forking a worker, because SQLite's
    per-process lock bookkeeping must not be copied into a child (it would believe it holds
    locks it does not). The next lookup reopens."""
    commit_writes()
    for key in [k for k in _CONNS if k[0] == os.getpid()]:
        conn = _CONNS.pop(key)
        if conn is not None:
            conn.close()


def path_key(path: str) -> str | bytes:
    """A path as the store keys it, losslessly: the text itself when it is UTF-8, else its bytes
    (``os.fsencode``: a name holding byte 0xff is read as U+DCFF, which SQLite cannot encode).
    A BLOB never equals a TEXT in SQLite, so the two forms cannot collide."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def stat_key(item: ScanInput) -> tuple[tuple[str | bytes, int, int], tuple[int, int, int, int]] | None:
    """``(place, stat)`` of an APK read in place from the user's own file; None otherwise."""
    if item.cleanup or is_temporary(item.path):
        return None
    place = (path_key(os.path.realpath(item.path)), item.offset, -1 if item.length is None else item.length)
    return place, stat_of(os.stat(item.path))


def stat_of(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What a stat key compares: size, mtime, ctime (ns), inode, device."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


def racy(stat: tuple[int, ...]) -> bool:
    """Changed too recently to trust the stat (git's "racy clean"): mtime can be set back by
    anyone, ctime cannot, so either being under RACY_NS old counts."""
    return time.time_ns() - max(stat[1], stat[2]) < RACY_NS


def _sha256(item: ScanInput) -> str:
    return sha256_file(item.path, item.offset, item.length)


def recall(path: str, item: ScanInput, sdk: dict[str, Any], *, rehash: bool = False,
           stat_only: bool = False) -> tuple[Any, Callable[[Any], None]]:
    """The stored identity of ``item`` (or None) and how to remember a freshly computed one.

    ``stat_only``: answer from the stat key alone, never read the file (the pool's parent
    asks this way before handing an input to a worker)."""
    conn = connection(path)
    if conn is None or (item.length is None and os.path.exists(item.path + ".idsig")):
        return None, _ignore
    try:
        key = stat_key(item)
        options = options_key(sdk)
        if key is not None and not rehash:
            row = conn.execute("SELECT sha256 FROM stat_keys WHERE path=? AND off=? AND len=? AND size=? AND "
                               "mtime_ns=? AND ctime_ns=? AND inode=? AND dev=?", (*key[0], *key[1])).fetchone()
            linked = _by_file(conn, key) if row is None else None
            found = (row or linked) and _load(conn, row[0] if row else linked, options)
            if found:
                if linked:
                    _put_stat(conn, key, linked)
                return _adapt(found, item), _ignore
        if stat_only:
            return None, _ignore
        sha = _sha256(item)
        found = _load(conn, sha, options)
        if found:
            _put_stat(conn, key, sha)
            return _adapt(found, item), _ignore
    except (OSError, sqlite3.Error, ValueError):  # ValueError: UnicodeError, a NUL: a miss, never an error
        return None, _ignore
    return None, lambda identity: _save(conn, identity, options, key)


def _by_file(conn: sqlite3.Connection, key: Any) -> str | None:
    """The SHA-256 the stat key of the same file under another path holds: another hard link to
    it (backup snapshots made with ``rsync --link-dest`` share every unchanged APK this way).

    Device and inode numbers name a file only while its file system is mounted (a loop or USB
    device number comes back with the next image, whose ctimes its maker set: review 14), so the
    row's own path must still name, now, this very file with this stat. Inode 0 (no inode
    numbers) never matches."""
    (_, off, length), (size, mtime, ctime, inode, dev) = key
    if not inode:
        return None
    rows = conn.execute("SELECT path, sha256 FROM stat_keys WHERE inode=? AND dev=? AND off=? AND len=? AND size=? "
                        "AND mtime_ns=? AND ctime_ns=? LIMIT 8", (inode, dev, off, length, size, mtime, ctime)).fetchall()
    for path, sha in rows:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat_of(st) == (size, mtime, ctime, inode, dev):
            return sha
    return None


def options_key(sdk: dict[str, Any]) -> str:
    return repr(sorted(sdk.items()))



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
    conn = rows[0][0]
    try:
        conn.execute("BEGIN IMMEDIATE")
        for _, sql, params in rows:
            conn.execute(sql, params)
        conn.execute("COMMIT")
    except (sqlite3.Error, ValueError):  # ValueError: a value SQLite cannot take (UnicodeError)
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def storable(identity: Any) -> bool:
    """Only an identity read to the end is kept (not one cut by a time budget or an internal error),
    and only one that depends on its own bytes alone: a v4 result (verified or not) depends on the
    ``.idsig`` beside the file, which is not in the key; stored findings or verdicts of such a
    reading would be served to every other copy of the same bytes. Decided from what identify
    read, not from whether a ``.idsig`` exists now (it may appear or go during the scan)."""
    if identity.file is None or any(i.code.startswith(_TRANSIENT) for i in identity.errors):
        return False
    v4 = identity.verification.schemes.get("v4") if identity.verification is not None else None
    return v4 is None or not v4.present


def _ignore(_identity: Any) -> None:
    return None


def _load(conn: sqlite3.Connection, sha: str, options: str) -> Any:
    row = conn.execute("SELECT identity FROM identities WHERE sha256=? AND parser=? AND options=?",
                       (sha, parser_version(), options)).fetchone()
    return loads_or_none(row[0]) if row else None  # a damaged or planted row: parse the APK again


def _adapt(identity: Any, item: ScanInput) -> Any:
    identity.path = item.display
    return identity


def _put_stat(conn: sqlite3.Connection, key: Any, sha: str) -> None:
    if key is None or racy(key[1]):
        return
    buffered_write(conn, "INSERT OR REPLACE INTO stat_keys VALUES (?,?,?,?,?,?,?,?,?)", (*key[0], *key[1], sha))


def _save(conn: sqlite3.Connection, identity: Any, options: str, key: Any) -> None:
    if not storable(identity):
        return
    try:
        blob = pickle.dumps(identity, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError):
        return  # the store is a cache: a write that fails costs a parse next time, nothing else
    buffered_write(conn, "INSERT OR REPLACE INTO identities VALUES (?,?,?,?,?)",
           (identity.file.sha256, parser_version(), options, blob, time.time()))
    _put_stat(conn, key, identity.file.sha256)
