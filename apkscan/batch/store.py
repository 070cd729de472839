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
  misses (tested). A new path is also looked up by inode and device with the same stat: another
  hard link to a known file (as backup snapshots share files), taken only while the known path
  still names that very file (a remounted image may reuse device and inode numbers).
  A file modified under two seconds before its stat gets no stat key (git's "racy clean"), and a
  key is stored only for the descriptor read (:mod:`apkscan.batch.stat_read`: review 56). Spooled
  members have no stable path: found by SHA-256, so two copies in two backups cost one parse.
- Not stored: APKs with a ``.idsig`` beside them (the v4 result depends on that file), and
  identities read under a condition of the moment (``issue_codes.TRANSIENT``: time budget, a writer...).

Stored identities are pickles of the apk layer's plain dataclasses, read back with an
unpickler that only builds ``apkscan`` classes and a few value types
(:mod:`apkscan.batch.safe_pickle`): a planted store cannot run code. Two runs on one store: WAL
journal, a busy timeout, one short transaction per write. Opening, checking and the schema: :mod:`apkscan.batch.store_open`
(a damaged store is set aside, ``STORE_CORRUPT``; one that cannot be written or stays locked is
left alone, ``STORE_UNAVAILABLE``; a newer one is unused, ``STORE_NEWER``). None stops a scan.
A stored row that is not what its table holds (another type, or one that fails when used) is a
miss, computed again, with one ``STORE_ROW_IGNORED`` warning per process.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from apkscan.batch import stat_read, store_writes
from apkscan.batch.runs import begin_run, end_run, run_id  # noqa: F401 (--resume: its own module, same names)
from apkscan.batch.safe_pickle import loads, loads_or_none  # noqa: F401 (results.py and the tests read rows here)
from apkscan.batch.stat_read import located, path_key, stat_key, stat_of  # noqa: F401 (known.py, tests: as before)
from apkscan.batch.store_judge import CHECK_ALWAYS_BYTES, CHECK_EVERY  # noqa: F401 (as before)
from apkscan.batch.store_open import (  # noqa: F401 (the store's public names, as before)
    _MIGRATIONS, BUSY_MS, SCHEMA_VERSION, StoreProblem, connect, open_checked)
from apkscan.batch.store_writes import (  # noqa: F401 (scan.py, the lanes and the tests write through these names)
    _STALLED, _TOLD, BATCH, buffered_write, commit_writes, write_all)
from apkscan.issue_codes import TRANSIENT
from apkscan.issues import ApkScanError, warning
from apkscan.sources.interface import ScanInput

RACY_NS = 2_000_000_000


def default_path() -> str:
    """``$XDG_CACHE_HOME/apkscan/store.sqlite`` (``~/.cache`` when unset or relative, as for the
    rule cache: the XDG spec ignores a relative XDG_CACHE_HOME)."""
    from apkscan.rules.cache import cache_home

    return os.path.join(cache_home(), "store.sqlite")


def parser_version() -> str:
    """apkscan's version + a digest of the apk layer's source and of the issue codes it files (a
    code renamed there is tested by membership later: review 48 F2): a parser change is a miss."""
    global _PARSER
    if _PARSER is None:
        from apkscan import __version__
        from apkscan.batch.digest import code_digest

        _PARSER = f"{__version__}+{code_digest('apk', 'issue_codes.py', 'issues.py')}"
    return _PARSER


_PARSER: str | None = None


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
            _STALLED.discard(id(conn))  # a new connection may get its id: it is tried afresh
            conn.close()


def racy(stat: tuple[int, ...], at: int | None = None) -> bool:
    """Changed too recently to trust the stat (git's "racy clean"): mtime can be set back by
    anyone, ctime cannot, so either being under RACY_NS older than ``at`` counts, the time taken
    *before* the stat (a write later in the same tick leaves a coarse stat as it was; review 56
    F2). None: now, for a stat taken just before."""
    return (stat_read.now() if at is None else at) - max(stat[1], stat[2]) < RACY_NS


def _sha256(item: ScanInput, reading: stat_read.Reading) -> str:  # a seam the tests time writes by
    return reading.sha256(item)  # held to custody's stat: a hit is never on other bytes (review 68 F3)


def recall(path: str, item: ScanInput, sdk: dict[str, Any], *, rehash: bool = False,
           stat_only: bool = False) -> tuple[Any, Callable[[Any], dict[str, Any] | None]]:
    """The stored identity of ``item`` (or None) and how to remember a freshly computed one (that
    gives its match facts back when it keeps them: matching need not compute them again).

    ``stat_only``: answer from the stat key alone, never read the file (the pool's parent
    asks this way before handing an input to a worker)."""
    conn = connection(path)
    if conn is None or item.reading is not None or (item.length is None and os.path.exists(item.path + ".idsig")):
        return None, _ignore  # a second reading: the same bytes (SHA-256, stat key) as the first, read another way
    reading = None
    try:
        at = stat_read.now()  # before the stat: the racy rule compares with the time it was taken
        key = stat_key(item)
        if key is not None and item.expect is not None and tuple(key[1]) != stat_read.stat_of(item.expect):
            return None, _ignore  # not the file custody names (replaced or changed): read, and refused, by identify
        options = options_key(sdk)
        if key is not None and not rehash:
            row = conn.execute("SELECT sha256 FROM stat_keys WHERE path=? AND off=? AND len=? AND size=? AND "
                               "mtime_ns=? AND ctime_ns=? AND inode=? AND dev=?", (*key[0], *key[1])).fetchone()
            linked = _by_file(conn, key) if row is None else None
            found = (row or linked) and _load_any(conn, row[0] if row else linked, sdk)
            found = found and _adapt(found, item)
            if found:
                if linked:  # nothing read: the other link's key, proven when stored, holds this stat
                    _put_stat(conn, None if racy(key[1], at) else key, linked)
                return found, BY_STAT_KEY
        if stat_only:
            return None, _ignore
        reading = stat_read.Reading(key, at).open(item.path, item.expect)
        sha = _sha256(item, reading)
        found = _load_any(conn, sha, sdk)
        found = found and _adapt(found, item)
        if found:
            _put_stat(conn, reading.proven(), sha)
            reading.close()
            return found, _ignore
    except BaseException as exc:
        if reading is not None:
            reading.close()
        # a miss: ValueError (UnicodeError, a NUL); ApkScanError: not custody's file (identify says so)
        if isinstance(exc, (OSError, sqlite3.Error, ValueError, ApkScanError)):
            return None, _ignore
        raise
    return None, Remember(conn, options, reading, sha)  # the descriptor stays open for the caller's read


class Remember:
    """``recall``'s ``remember`` on a miss: :meth:`read` reads the input through the descriptor
    its stat key was taken with, and stores the identity, with the key only if that descriptor
    proves it (:mod:`apkscan.batch.stat_read`). ``sha``: the SHA-256 the look-up computed through
    that descriptor, handed to ``identify`` so the file is hashed once, when proven."""

    __slots__ = ("conn", "options", "reading", "sha")

    def __init__(self, conn: sqlite3.Connection, options: str, reading: stat_read.Reading, sha: str | None = None):
        self.conn, self.options, self.reading, self.sha = conn, options, reading, sha

    def read(self, item: ScanInput, identify: Callable[..., Any],
             kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
        """``identify`` of ``item`` read through the descriptor, stored; the descriptor closed.
        Also the match facts stored with it (None: not kept). The look-up's SHA-256 is handed over
        only when the descriptor proves (``proven``) the bytes unchanged before ``identify``, and kept
        only if still so after; else ``identify`` again without it: digest and identity, one reading."""
        try:
            path, beside = self.reading.path(item.path), self.reading.idsig(item.path, item.length is None)
            known = self.sha if self.sha is not None and self.reading.proven() is not None else None
            identity = identify(path, **kwargs, **beside, **({"known_sha256": known} if known else {}))
            if known and self.reading.proven() is None:  # the bytes changed after the look-up's hash
                identity = identify(path, **kwargs, **beside)
            return identity, self(identity)
        finally:
            self.reading.close()

    def __call__(self, identity: Any) -> dict[str, Any] | None:
        return _save(self.conn, identity, self.options, self.reading.proven())


def BY_STAT_KEY(identity: Any) -> None:  # noqa: N802 - a marker: what recall returns as ``remember``
    """Nothing to remember: the identity was recognised by its stat key, the file not read again
    (its custody hash is the store's, computed when it was last read)."""


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


def storable(identity: Any) -> bool:
    """Only an identity read to the end is kept (not one cut by a time budget or an internal error),
    and only one that depends on its own bytes alone: a v4 result (verified or not) depends on the
    ``.idsig`` beside the file, which is not in the key; stored findings or verdicts of such a
    reading would be served to every other copy of the same bytes. Decided from what identify
    read, not from whether a ``.idsig`` exists now (it may appear or go during the scan)."""
    if identity.file is None or any(i.code in TRANSIENT for i in identity.errors):
        return False
    v4 = identity.verification.schemes.get("v4") if identity.verification is not None else None
    return v4 is None or not v4.present


def _ignore(_identity: Any) -> None:
    return None


def _load_any(conn: sqlite3.Connection, sha: str, sdk: dict[str, Any]) -> Any:
    """The identity of ``sha`` stored for these options, else one stored for the same options with
    more whole-file digests (``--hashes``), those this run did not ask set back to None: what a
    run reading the file again would give (the digests are the only difference ``--hashes`` makes).
    Why: a run with ``--hashes sha256,sha1,md5`` (an ``--iocs`` MD5 indicator) read every file
    again when the next run asked fewer digests (review 91 A)."""
    found = _load(conn, sha, options_key(sdk))
    asked = sdk.get("hashes")
    if found is not None or not isinstance(asked, tuple):
        return found
    from apkscan.apk.signing.digests import FILE_HASHES as FILE_DIGESTS  # parse_hashes orders them so

    extra = [h for h in FILE_DIGESTS if h not in asked]
    for mask in range(1, 1 << len(extra)):  # each wider set of digests, as parse_hashes orders them
        more = {h for i, h in enumerate(extra) if mask >> i & 1}
        found = _load(conn, sha, options_key({**sdk, "hashes": tuple(h for h in FILE_DIGESTS
                                                                       if h in asked or h in more)}))
        if found is not None:
            for h in more:
                setattr(found.file, h, None)
            return found
    return None


def _load(conn: sqlite3.Connection, sha: str, options: str) -> Any:
    row = conn.execute("SELECT identity, digest FROM identities WHERE sha256=? AND parser=? AND options=?",
                       (sha, parser_version(), options)).fetchone()
    if not row:
        return None
    if not _as_stored(row, sha):
        return None
    got = loads_or_none(row[0])
    if _identity_of(got, sha) and _kept(got):
        return got
    ignored(f"an identities row for {sha} is not an identity of those bytes")  # damaged or planted
    return None


def _kept(identity: Any) -> bool:
    """Whether a recalled identity is one :func:`storable` lets in: a planted row holding a reading
    cut short (``INPUT_TIMEOUT``) or with a v4 result must not be served as the bytes' identity."""
    try:
        return storable(identity)
    except Exception:  # noqa: BLE001 - a planted object's attributes: a miss, never a crash
        return False


def stored_identity(path: str, sha: str, sdk: dict[str, Any], keep_facts: bool = False) -> Any:
    """The stored identity of ``sha`` for a caller that only matches or decides with it (the warm
    lane, :mod:`apkscan.batch.known`): of these bytes, read to the end (:func:`storable`), its insides
    not serialised to be checked (the caller takes any failure in using it for a miss). None: not
    stored, or not such an identity. ``keep_facts``: it has no facts that can be read (damaged,
    or never kept): keep them, sealed to the row's digest just checked (:func:`apkscan.batch.store_facts.put_facts`)."""
    conn = connection(path)
    if conn is None:
        return None
    try:
        row = conn.execute("SELECT identity, digest FROM identities WHERE sha256=? AND parser=? AND options=?",
                           (sha, parser_version(), options_key(sdk))).fetchone()
    except (sqlite3.Error, ValueError):
        return None
    got = loads_or_none(row[0]) if row and _as_stored(row, sha) else None
    ok = _identity_of(got, sha, whole=False) and _kept(got)
    if ok and keep_facts:
        from apkscan.batch.store_facts import put_facts

        put_facts(conn, got, options_key(sdk), row[1])
    return got if ok else None


def _as_stored(row: Any, sha: str) -> bool:
    """Whether an identities row's pickle is the one apkscan wrote: its SHA-256 is the row's
    ``digest``, computed when the row was written (review 74 F1: a byte flipped on disk could still
    unpickle, as another package, and be matched under the next rules). No digest (a row migrated
    from schema 7, or rewritten in place: the trigger clears it) is a miss too: parsed again."""
    from apkscan.batch.store_facts import blob_digest

    try:
        sound = isinstance(row[0], bytes) and isinstance(row[1], str) and blob_digest(row[0]) == row[1]
    except (TypeError, IndexError):
        sound = False
    if not sound:
        ignored(f"an identities row for {sha} does not hold the pickle its digest was taken of")
    return sound


def _identity_of(value: Any, sha: str, whole: bool = True) -> bool:
    """An ``ApkIdentity`` of the bytes with SHA-256 ``sha`` whose insides (unless not ``whole``) a report
    can use (the allow-list unpickler builds any apkscan dataclass: an ``Issue`` is no identity)."""
    from apkscan.apk.model import ApkIdentity, FileFacts

    if not (isinstance(value, ApkIdentity) and isinstance(value.file, FileFacts) and value.file.sha256 == sha
            and all(isinstance(x, list) for x in (value.tamper, value.errors, value.warnings))):
        return False
    if not whole:
        return True
    try:  # right type, damaged inside (a field of another type): would fail in matching or a report
        value.to_dict()
    except Exception:  # noqa: BLE001 - a planted or damaged row is a miss
        return False
    return True


def ignored(what: str) -> None:
    store_writes.notice(warning("STORE_ROW_IGNORED", f"{what} (damaged or planted): not used, computed again"))


def _adapt(identity: Any, item: ScanInput) -> Any:
    try:
        identity.path = item.display
    except Exception:  # noqa: BLE001 - whatever a stored value does when used: a miss, never a crash
        ignored(f"a stored identity for {item.display} could not be used")
        return None
    return identity


def _put_stat(conn: sqlite3.Connection, key: Any, sha: str) -> None:
    """``key``: shown to describe the bytes whose SHA-256 is ``sha`` (``Reading.proven``, racy
    tested against the time it was taken); None: no stat key."""
    if key is None:
        return
    buffered_write(conn, "INSERT OR REPLACE INTO stat_keys VALUES (?,?,?,?,?,?,?,?,?)", (*key[0], *key[1], sha))


def _save(conn: sqlite3.Connection, identity: Any, options: str, key: Any) -> dict[str, Any] | None:
    """Store ``identity`` with its pickle's digest and match facts; those facts (None: not kept)."""
    if not storable(identity):
        return None
    try:
        blob = pickle.dumps(identity, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError):
        return None  # the store is a cache: a write that fails costs a parse next time, nothing else
    from apkscan.batch.store_facts import blob_digest, put_facts

    digest = blob_digest(blob)
    buffered_write(conn, "INSERT OR REPLACE INTO identities VALUES (?,?,?,?,?,?)",
                   (identity.file.sha256, parser_version(), options, blob, time.time(), digest))
    facts = put_facts(conn, identity, options, digest)
    _put_stat(conn, key, identity.file.sha256)
    return facts
