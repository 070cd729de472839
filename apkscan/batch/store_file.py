"""Whether an existing file may be opened as the scan store: checked before SQLite writes a byte.

Why: opening a file as the store writes into it (WAL mode in its header, apkscan's tables).
A store path given by mistake, or a hard link into evidence (an SQLite database from a
device backup), must be left exactly as it is (review 22 #2). A file is the store's when it
is empty, or an SQLite database holding exactly the tables, indexes and triggers of apkscan's schema at
its ``user_version``; anything else is foreign and never opened for writing nor set aside.
A file SQLite cannot read at all is not decided here: the store's integrity check sets a
damaged store aside (renamed, its bytes untouched).
"""

from __future__ import annotations

import os
import re
import stat

SQLITE_MAGIC = b"SQLite format 3\x00"
_CREATED = re.compile(r"CREATE\s+(?:TABLE|INDEX|TRIGGER)\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)


def hard_links(path: str) -> str | None:
    """Why ``path`` (if it exists) must not be written in place: it has other names."""
    try:
        links = os.stat(path).st_nlink
    except OSError:
        return None
    if links > 1:
        return (f"has {links} names (hard links): writing it in place would change the file under "
                "its other names too, which may be evidence; give a new file name")
    return None


def store_links(path: str) -> str | None:
    """Why the store at ``path`` must not be opened: the database or its ``-wal``/``-shm`` has other names
    (those beside the file a symlinked store names: SQLite's, review 91)."""
    real = os.path.realpath(path)
    for p in (real, real + "-wal", real + "-shm"):
        why = hard_links(p)
        if why:
            return f"{os.path.basename(p)} {why}"
    return None


def untrusted(path: str) -> str | None:
    """Why the store at ``path`` could have been written by someone else, or None.

    A stored row decides what a rescan reports without the file being read again (a stat key
    names a SHA-256, the SHA-256 an identity), so whoever can write the store can make a banned
    app pass on every later run. The store is used only when it, its ``-wal``/``-shm``/``-journal``
    and its folder are this user's alone, as the rule cache's folders are
    (:func:`apkscan.rules.cache._trusted`). A folder others can write is refused even when sticky
    (``/tmp``): SQLite opens files beside the store by name (a hot ``-journal`` is copied into the
    database on open, even a WAL store's), and the sticky bit stops no one creating a name not yet
    taken (review 89 F1: a planted journal made a banned APK a clean one's stat key).
    A ``-journal`` another user owns or others can write is refused too (defence in depth), and so
    is a folder above the store's that fails ssh's StrictModes rule (:func:`apkscan.folders.untrusted`:
    another user's, or writable by others without the sticky bit, or another user's symlink on the
    way): its owner could rename the store's folder away and put their own in its place. A store
    path that is a symlink is followed (the store is the file it names) only when it and every link
    on the way belong to this user or root (review 91: another user's link, even in a sticky folder
    where it passes, can point the store, its set-aside and a new store's creation at another file)."""
    from apkscan.folders import link_doubt
    from apkscan.folders import untrusted as folder_doubt

    me = os.geteuid() if hasattr(os, "geteuid") else None
    given, path = path, os.path.realpath(path)  # a symlinked store: its file and folder are what SQLite writes
    folder = os.path.dirname(os.path.abspath(path))
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        st = None  # apkscan makes it, 0700, and checks again once made (store_open._create_private)
    if st is not None and me is not None and st.st_uid not in (me, 0):
        return f"its folder {folder} belongs to user {st.st_uid}, who could put another store in its place"
    if st is not None and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"its folder {folder} can be written by others (mode {stat.S_IMODE(st.st_mode):04o}), "
                "who could create the files SQLite opens beside the store by name (its -journal, "
                "copied into the store on open), sticky bit or not")
    for named in {os.path.dirname(os.path.abspath(given)), folder}:  # the link's folder and the store's
        why = folder_doubt(named)
        if why:
            return f"{why}: the store's folder could be renamed away and another put in its place"
    why = link_doubt(given) if path != os.path.abspath(given) else None  # a link on the way, the last name's too
    if why:
        return f"{why}: its owner could point the store at another file"
    if st is None:
        return None
    for p in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if me is not None and st.st_uid != me:
            return f"{os.path.basename(p)} belongs to user {st.st_uid}, not to this user ({me})"
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"{os.path.basename(p)} can be written by others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def expected_names(migrations: list[str], version: int) -> set[str]:
    """The tables, indexes and triggers apkscan's first ``version`` migrations create."""
    return {name for m in migrations[:version] for name in _CREATED.findall(m)}


def foreign(path: str, migrations: list[str]) -> str | None:
    """Why ``path`` is not ours to open as the store, or None (absent, empty, or apkscan's store).
    A symlink is judged by the file it names, which SQLite opens (none yet: a new store made there)."""
    path = os.path.realpath(path)
    if not os.path.lexists(path):
        return None
    if not os.path.isfile(path):
        return "not a regular file"
    why = store_links(path)
    if why:
        return why
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        return None
    if head != SQLITE_MAGIC:
        return "not an SQLite file"
    return _foreign_schema(path, migrations)


def _foreign_schema(path: str, migrations: list[str]) -> str | None:
    """Read-only and without locks (``immutable``: not even a ``-shm`` is created)."""
    import sqlite3  # not for --jsonl's link check (hard_links) in a --no-store run
    from urllib.parse import quote

    from apkscan.folders import resolved

    uri = "file:" + quote(os.fsencode(resolved(path))) + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' "
                                                "ESCAPE '\\'")}
        finally:
            conn.close()
    except (sqlite3.DatabaseError, UnicodeDecodeError):  # a damaged byte in the schema's text: review 74 F6
        return None  # unreadable: the integrity check decides (a damaged store is set aside)
    if names == expected_names(migrations, version):
        return None
    if version > len(migrations) and expected_names(migrations, len(migrations)) <= names:
        return None  # a newer apkscan's store: STORE_NEWER, left unused by the open itself
    return (f"an SQLite database that is not an apkscan scan store (schema {version}, "
            f"{len(names)} tables, indexes and triggers not apkscan's)")
