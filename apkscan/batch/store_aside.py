"""Setting a damaged scan store aside: the store and the files SQLite keeps beside it renamed to a
free name, one run at a time, then a new store opened.

Why apart from the open (:mod:`apkscan.batch.store_open`): renaming evidence of damage has its own
hazards (a racing run, a planted symlink, an interrupted rename), each answered here.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time

from apkscan.issues import Issue, warning

SIDE_FILES = ("-wal", "-shm", "-journal")  # the files SQLite opens beside a store by name
TURN_WAIT = 10.0  # another run's set-aside (renames, then a new store's open: at most ~5 s) is waited for this long

def set_aside(path: str, why: str, seen: tuple[int, int] | None) -> tuple[sqlite3.Connection | None, list[Issue]]:
    """The damaged store renamed aside with the files SQLite keeps beside it, then a new one opened.

    Its ``-wal``, ``-shm`` and ``-journal`` go first, the store last: interrupted, the damaged store
    stays under its name, found and set aside again by the next run, and never a new store beside
    its old WAL or journal (SQLite finds those by name: a stale one is deleted or played into the
    new file). Each side file is renamed as it is, never followed (a symlink named ``<store>-wal`` is
    moved, not what it points to; nothing is deleted; a symlinked store is the file it names:
    :func:`_moved_aside`), to a name none of the four has yet: two
    stores set aside in one second kept each its own bytes and WAL (one overwrote the other's
    store, leaving its WAL paired with the other's file). A name that cannot be moved: no new store
    (``STORE_UNAVAILABLE``) rather than one opened beside it.

    ``seen``: the file that was judged damaged. Another run may have judged it too and set it aside
    first (review 90: the second then moved the first's new, healthy store aside as "corrupt", or
    renamed it over the first's aside copy); runs setting a store aside take turns (an exclusive
    ``flock`` on the file judged), and the one that finds another file at the path leaves it alone
    and opens it."""
    with _turn(path) as now:
        if now is False:
            return None, [warning("STORE_UNAVAILABLE", f"{path}: unreadable store ({why}); another run has been "
                                  f"setting it aside for over {TURN_WAIT:g} s; scanning without a store")]
        if now is None or now != seen:  # set aside by another run meanwhile (or gone): open what is there
            return _reopened(path)
        return _moved_aside(path, why, now)


@contextlib.contextmanager
def _turn(path: str):
    """An exclusive ``flock`` on the file at ``path`` while it is set aside (not SQLite's own
    ``fcntl`` locks: the two kinds do not meet on Linux); yields its (device, inode), None when
    there is none or it cannot be opened, False when another run held the lock past
    :data:`TURN_WAIT` (a stopped process never hangs this one)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        yield None
        return
    try:
        if not _locked(fd):
            yield False
            return
        st = os.fstat(fd)
        yield (st.st_dev, st.st_ino) if identity(path) == (st.st_dev, st.st_ino) else None
    finally:
        os.close(fd)  # the lock goes with it


def _locked(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # no flock here: the identity check still holds
        return True
    deadline = time.monotonic() + TURN_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        except OSError:  # a file system without flock: the identity check still holds
            return True


def _reopened(path: str) -> tuple[sqlite3.Connection | None, list[Issue]]:
    try:
        return _connect(path), []
    except (OSError, sqlite3.DatabaseError, _problem()) as exc:
        return None, [warning("STORE_UNAVAILABLE", f"{path}: {exc}; scanning without a store")]


def _moved_aside(path: str, why: str, judged: tuple[int, int]) -> tuple[sqlite3.Connection | None, list[Issue]]:
    """:func:`set_aside`'s renames and the new store, in the caller's turn. A symlinked store is the
    file the link names (SQLite keeps its side files beside that file): it goes aside there, the link
    stays, and the new store is made where it points (review 91: the link was moved, the damaged file
    and its WAL left in place, a new store made in the link's folder). That file is renamed only while
    it is still the one judged (a link pointed elsewhere meanwhile moves nothing)."""
    base = os.path.realpath(path) if os.path.islink(path) else path
    if _file_id(base) != judged:
        return _reopened(path)
    aside = _free_aside(base)
    moved: list[str] = []
    try:
        if aside is None:
            raise OSError(f"no free name {base}.corrupt-<time>-<n> (n up to 99)")
        for suffix in (*SIDE_FILES, ""):
            if os.path.lexists(base + suffix):
                os.rename(base + suffix, aside + suffix)  # rename never follows a symlink
                moved.append(suffix)
    except OSError as exc:
        said = f" (moved so far: {', '.join(aside + s for s in moved)})" if moved else ""
        return None, [warning("STORE_UNAVAILABLE", f"{path}: unreadable store ({why}); setting it aside "
                              f"failed ({exc}){said}; scanning without a store")]
    beside = [s for s in moved if s]
    side = f" with its {', '.join(beside)}" if beside else ""
    linked = f"the file it links to, {base}, " if base != path else ""
    issues = [warning("STORE_CORRUPT", f"{path}: unreadable store ({why}); {linked}set aside as {aside}{side}, "
                                       "a new one is used")]
    try:
        return _connect(path), issues
    except (OSError, sqlite3.DatabaseError, _problem()) as exc:
        issues.append(warning("STORE_UNAVAILABLE", f"{path}: {exc}; scanning without a store"))
        return None, issues


def _free_aside(path: str) -> str | None:
    """``<store>.corrupt-<time>`` (``-2``, ``-3``, ... after it) where neither it nor its side files exist."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for n in range(1, 100):
        aside = f"{path}.corrupt-{stamp}" + (f"-{n}" if n > 1 else "")
        if not any(os.path.lexists(aside + s) for s in ("", *SIDE_FILES)):
            return aside
    return None


def identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file SQLite opens at ``path``; None: none there yet."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _file_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of the regular file named ``path`` itself (a symlink there: None)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _connect(path: str) -> sqlite3.Connection:
    from apkscan.batch.store_open import connect  # (store_open imports this module)

    return connect(path)


def _problem() -> type[Exception]:
    from apkscan.batch.store_open import StoreProblem

    return StoreProblem
