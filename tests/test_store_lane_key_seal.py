"""Review 90 item 1: the seal of a warm-lane row (``known_lines``, :mod:`apkscan.batch.known_seal`)
covers its key (path, parser, options, rules, policies, format), not only its columns and line.
TikTok's row written under a rule pack that does not ban it (allowed), moved by one SQL UPDATE onto
this run's rule key, was served as is: TikTok ``allowed``, exit 0, no warning, under rules that
prohibit it. Now that row is a miss (``STORE_ROW_IGNORED``) and the app is decided again, as cold.
Real stores from real scans of the fixture APKs (``--jsonl -q``: the lane answers lines)."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_journal_helpers import BANNED, banned_and_clean

from apkscan.batch import store as st
from apkscan.cli import main

REPO = Path(__file__).resolve().parents[1]
TENCENT_ONLY = ("--no-builtin-rules", "--rules", str(REPO / "signatures" / "tencent.yaml"))


def _lines(ev: Path, *extra: str) -> tuple[int, dict[str, str], str]:
    """``apkscan scan ev --jsonl -q``: exit code, each app as ``{file name: "package verdict"}``, stderr."""
    out = ev.parent / "r.jsonl"
    res = CliRunner().invoke(main, ["scan", str(ev), "--jsonl", str(out), "--force", "-q", *extra])
    st.close_connections()
    assert res.exit_code in (0, 1), res.output
    apps = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["type"] == "app":
            apps[rec["source"]["path"].rsplit("/", 1)[-1]] = f"{rec['package']} {rec['verdict']}"
    return res.exit_code, apps, res.stderr


@pytest.fixture
def lane(tmp_path, monkeypatch):
    """A store whose lane holds TikTok's row under the Tencent-only rules (allowed) and under the
    built-in rules (prohibited), and what a run without a store says."""
    ev, db = banned_and_clean(tmp_path, monkeypatch)
    cold = _lines(ev, "--no-store")
    assert cold[0] == 1 and cold[1][BANNED] == "com.zhiliaoapp.musically prohibited", cold
    old = _lines(ev, "--store", str(db), *TENCENT_ONLY)
    assert old[1][BANNED] == "com.zhiliaoapp.musically allowed", old  # nothing in that pack bans it
    assert _lines(ev, "--store", str(db))[:2] == cold[:2]
    return ev, db, cold


def _move_old_row(db: Path, columns: tuple[str, ...]) -> None:
    """TikTok's row of the Tencent-only run, its ``columns`` set to those of the row today's run wrote
    for it (that row deleted first)."""
    with closing(sqlite3.connect(db)) as c, c:
        rows = c.execute("SELECT rowid, rules, policies FROM known_lines WHERE chain LIKE ? ORDER BY rowid",
                         (f"%{BANNED}",)).fetchall()
        assert len(rows) == 2 and rows[0][1] != rows[1][1], rows
        (old, *_), (new, *current) = rows
        c.execute("DELETE FROM known_lines WHERE rowid=?", (new,))
        values = dict(zip(("rules", "policies"), current))
        c.execute(f"UPDATE known_lines SET {', '.join(f'{k}=?' for k in columns)} WHERE rowid=?",
                  (*(values[k] for k in columns), old))
        assert c.total_changes == 2


def test_a_lane_row_moved_onto_this_runs_key_is_a_miss(lane):
    """The row TikTok was allowed by under the old rules, its rules and policies columns set to
    today's (the policies key digests the rule set too): served as is, it said allowed, exit 0."""
    ev, db, cold = lane
    _move_old_row(db, ("rules", "policies"))
    code, apps, err = _lines(ev, "--store", str(db))
    assert (code, apps) == cold[:2], apps  # TikTok prohibited, exit 1, as without a store
    assert "STORE_ROW_IGNORED" in err and "warm-lane row" in err, err


def test_lane_rows_are_written_sealed_to_their_keys(lane, rows=4):
    """Every row's seal is the one its key and columns give; the same row under another key is not."""
    from apkscan.batch.known_seal import seal_of

    _ev, db, _cold = lane
    with closing(sqlite3.connect(db)) as c:
        got = c.execute("SELECT chain, parser, options, rules, policies, fmt, real, size, mtime_ns, ctime_ns, inode, dev, sha256, package, verdicts, line "
                        "FROM known_lines").fetchall()
    assert len(got) == rows
    for *key, sha, package, verdicts, line in got:
        verdict, pairs, span, seal = json.loads(verdicts)
        assert seal == seal_of(tuple(key), sha, package, verdict, pairs, span, line)
        assert seal != seal_of((*key[:3], "other", *key[4:]), sha, package, verdict, pairs, span, line)


def test_a_store_of_schema_12_loses_its_lane_rows_and_answers_as_cold(lane):
    """Schema 13 drops the lane's rows sealed without their key (rows moved under the old seal are
    never served); identities stay, so the next run reads no APK's manifest again yet gives the cold
    answers, and writes rows sealed to their keys."""
    ev, db, cold = lane
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("PRAGMA user_version=12")
    _move_old_row(db, ("rules", "policies"))  # moved under schema 12: must not be served either
    code, apps, err = _lines(ev, "--store", str(db))
    assert (code, apps) == cold[:2] and "STORE_" not in err, err
    with closing(sqlite3.connect(db)) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == st.SCHEMA_VERSION == 13
        assert c.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 2
        assert c.execute("SELECT COUNT(*) FROM known_lines").fetchone()[0] == 2  # written again, this key
    test_lane_rows_are_written_sealed_to_their_keys((ev, db, cold), rows=2)


def test_a_row_moved_onto_another_file_s_stat_is_not_served(tmp_path, monkeypatch):
    """Review 90 (second look): the lane compares the row's file columns (real path, size, times,
    inode, device) with the file; one SQL UPDATE of them made the clean APK's row answer for the
    banned APK's bytes written at the clean APK's path: ``allowed``, exit 0. They are sealed now."""
    from store_journal_helpers import CLEAN, OLD

    ev, db = banned_and_clean(tmp_path, monkeypatch)
    banned = (ev / BANNED).read_bytes()
    (ev / BANNED).unlink()
    assert _lines(ev, "--store", str(db))[0] == 0
    (ev / CLEAN).unlink()
    (ev / CLEAN).write_bytes(banned)  # another inode, size and ctime: the row no longer fits
    os.utime(ev / CLEAN, ns=(OLD, OLD))
    cold = _lines(ev, "--no-store")
    assert cold[0] == 1 and cold[1][CLEAN] == "com.zhiliaoapp.musically prohibited", cold
    s = os.stat(ev / CLEAN)
    with closing(sqlite3.connect(db)) as c, c:
        moved = c.execute("UPDATE known_lines SET size=?, mtime_ns=?, ctime_ns=?, inode=?, dev=?",
                          (s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino, s.st_dev)).rowcount
    assert moved == 1
    warm = _lines(ev, "--store", str(db))
    assert warm[:2] == cold[:2], warm
    assert "STORE_ROW_IGNORED" in warm[2]
