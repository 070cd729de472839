"""Review 91 B: a store path that is a symlink. The store is the file the link names (SQLite opens
it there and keeps its ``-wal`` and ``-shm`` beside it; the trust check judges that file and
folder: tests/test_store_trust.py), so everything done to the store is done to that file: set
aside where it is (the link was renamed, the damaged file and its WAL left in place, and a new store
made in the link's folder), made 0600 where a dangling link points (SQLite made it 0644), and its
``-wal``/``-shm`` checked for other hard links where they are. The link itself is never moved."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from store_aside_helpers import FILES, aside_of, damage, live_wal, sha

from apkscan.batch import store as st


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    home, data = tmp_path / "home", tmp_path / "data"
    for f in (home, data):
        f.mkdir(mode=0o700)
    return home, data


def test_a_symlinked_damaged_store_is_set_aside_where_it_is_and_replaced_there(tmp_path):
    home, data = _folders(tmp_path)
    target, link = data / "t.sqlite", home / "s.sqlite"
    live_wal(target, 50, identities=2000)
    damage(target, "deep")
    link.symlink_to(target)
    before = {s: sha(f"{target}{s}") for s in FILES}
    conn, issues = st.open_checked(str(link))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"], issues
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0  # a new store
    conn.execute("INSERT INTO runs VALUES ('new', 1, NULL, 'done')")
    conn.close()
    aside = aside_of(target)  # beside the file, with its -wal and -shm, byte for byte
    assert {s: sha(f"{aside}{s}") for s in FILES} == before
    assert f"the file it links to, {target}, set aside as {aside} with its -wal, -shm" in issues[0].message
    assert sorted(os.listdir(home)) == ["s.sqlite"] and os.readlink(link) == str(target)  # the link kept
    assert stat.S_ISREG(os.lstat(target).st_mode) and stat.S_IMODE(os.lstat(target).st_mode) == 0o600
    conn, issues = st.open_checked(str(link))  # the next run: the new store, through the same link
    assert issues == [] and conn.execute("SELECT run_id FROM runs").fetchall() == [("new",)]
    conn.close()


def test_a_dangling_link_makes_a_private_store_where_it_points(tmp_path):
    home, data = _folders(tmp_path)
    target, link = data / "t.sqlite", home / "s.sqlite"
    link.symlink_to(target)
    old = os.umask(0o022)
    try:
        conn, issues = st.open_checked(str(link))
    finally:
        os.umask(old)
    assert conn is not None and issues == [], issues
    conn.close()
    assert os.readlink(link) == str(target)
    assert stat.S_ISREG(os.lstat(target).st_mode) and stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_a_symlinked_store_whose_wal_has_another_name_is_left_alone(tmp_path):
    """The ``-wal`` SQLite writes is the one beside the file the link names; another hard link to it
    (evidence elsewhere) is seen there, not looked for beside the link."""
    home, data = _folders(tmp_path)
    target, link = data / "t.sqlite", home / "s.sqlite"
    live_wal(target, 5)
    link.symlink_to(target)
    evidence = data / "evidence-wal"
    os.link(f"{target}-wal", evidence)
    before = {s: sha(f"{target}{s}") for s in FILES}
    conn, issues = st.open_checked(str(link))
    assert conn is None and [i.code for i in issues] == ["STORE_UNAVAILABLE"], issues
    assert "t.sqlite-wal has 2 names" in issues[0].message, issues[0].message
    assert {s: sha(f"{target}{s}") for s in FILES} == before


OTHER_UID = 54321
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="lchown needs root")


@as_root
@pytest.mark.parametrize("mode", [0o700, 0o1777])
def test_a_store_link_of_another_user_is_not_followed(tmp_path, mode):
    """Followed, a link is written through, set aside through and a new store made where it points:
    only this user's (or root's) links are. Another user's can be pointed at another file whenever they
    like, in a sticky folder too (where its folder passes the check); the store is then left unused."""
    home, data = _folders(tmp_path)
    home.chmod(mode)
    target, link = data / "t.sqlite", home / "s.sqlite"
    conn, issues = st.open_checked(str(target))
    assert issues == []
    conn.close()
    link.symlink_to(target)
    os.lchown(link, OTHER_UID, -1)
    before = {s: sha(f"{target}{s}") for s in FILES}
    conn, issues = st.open_checked(str(link))
    assert conn is None and [i.code for i in issues] == ["STORE_UNTRUSTED"], issues
    assert f"symlink belonging to user {OTHER_UID}" in issues[0].message, issues[0].message
    assert {s: sha(f"{target}{s}") for s in FILES} == before
