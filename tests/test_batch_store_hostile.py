"""The scan store when its rows, its file or its lock are not what a run expects (review 29):
a planted row of another apkscan type (F2), a lane row whose columns disagree with its line (F7),
a healthy store that cannot be written (F6), a store another process holds locked (F4). Each is a
real CLI run in another process on real APK bytes: the banned app IS reported, the run goes on."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apkscan.batch import store as st
from apkscan.batch import store_open
from apkscan.issues import Issue

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
BANNED, CLEAN = "wechat-tencent-subject.apk", "clean-v1v2v3.apk"


def _cli(*args, timeout=120):
    cmd = [sys.executable, "-c", "from apkscan.cli import main; main()", "scan", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def warm(tmp_path):
    """Inputs (a banned and a clean APK, stat keys old enough to be kept) and a store warmed twice."""
    d = tmp_path / "in"
    d.mkdir()
    for name in (BANNED, CLEAN):
        shutil.copy(APKS / name, d / name)
        os.utime(d / name, ns=(1_600_000_000 * 10**9,) * 2)
    time.sleep(2.1)  # ctime past the racy window: stat keys and lane rows are written
    db = tmp_path / "s.sqlite"
    for _ in range(2):
        res = _cli(d, "-q", "-j1", "--store", db, "--jsonl", tmp_path / "warm.jsonl")
        assert res.returncode == 1, res.stderr
    return d, db


def _apps(path: Path) -> dict[str, str]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return {Path(a["source"]["path"]).name: a["verdict"] for a in lines if a["type"] == "app"}


def _identity_of_clean(db: Path) -> bytes:
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT identity FROM identities").fetchall()
    for (blob,) in rows:
        ident = st.loads(blob)
        if ident.manifest and ident.manifest.package != "com.tencent.mm":
            return blob
    raise AssertionError("no clean identity stored")


@pytest.mark.parametrize("kind", ["issue", "other-apk", "set"])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_planted_identity_of_another_type_is_a_miss_not_a_crash(warm, tmp_path, kind, jobs):
    """F2: an allowed apkscan dataclass (an Issue), another APK's identity under the banned one's
    SHA-256, or a set: each is a miss with one warning, the APK parsed again and reported banned."""
    d, db = warm
    planted = {"issue": lambda: pickle.dumps(Issue("X", "y")), "other-apk": lambda: _identity_of_clean(db),
               "set": lambda: pickle.dumps({1, 2})}[kind]()
    with sqlite3.connect(db) as c:
        c.execute("UPDATE identities SET identity=?", (planted,))
        c.execute("DELETE FROM known_lines")  # through the identities, not the lane
    out = tmp_path / "r.json"
    res = _cli(d, "-q", "-j", jobs, "--store", db, "--json", out, "--jsonl", tmp_path / "r.jsonl")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    doc = json.loads(out.read_text())
    verdicts = {Path(a["source"]["path"]).name: a["verdict"] for a in doc["apps"]}
    assert verdicts == {BANNED: "prohibited", CLEAN: "allowed"}, verdicts
    assert not doc.get("errors"), doc.get("errors")
    warned = res.stderr.count("STORE_ROW_IGNORED")
    assert warned == 1 if jobs == "1" else warned >= 1, res.stderr  # once per process


def test_a_lane_row_whose_columns_disagree_with_its_line_is_a_miss(warm, tmp_path):
    """F7: the counts and exit code come from the row's columns, the JSONL from its line: a row
    whose verdicts column says allowed while its line says prohibited is not served."""
    d, db = warm
    with sqlite3.connect(db) as c:
        n = c.execute("""UPDATE known_lines SET verdicts='["allowed", [["canada-tbs-2023", "allowed"]]]'
                         WHERE chain LIKE ?""", (f"%{BANNED}",)).rowcount
    assert n == 1
    out = tmp_path / "r.jsonl"
    res = _cli(d, "-q", "-j1", "--store", db, "--jsonl", out)
    assert res.returncode == 1, res.stderr
    assert _apps(out) == {BANNED: "prohibited", CLEAN: "allowed"}
    end = json.loads(out.read_text().splitlines()[-1])
    assert end["counts"]["prohibited"] == 1 and end["counts"]["allowed"] == 1, end


def _immutable(path: Path) -> bool:
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_a_healthy_store_that_cannot_be_written_is_left_alone_not_set_aside(warm, tmp_path):
    """F6: an intact store the run cannot open for writing (here an immutable file: even root
    cannot write it, as a read-only mount or a chmod 444 file for a user) is STORE_UNAVAILABLE,
    never STORE_CORRUPT, and is not renamed; the scan runs without it."""
    d, db = warm
    for suffix in ("-wal", "-shm"):
        assert not Path(f"{db}{suffix}").exists()  # closed cleanly: the store is one file
    if shutil.which("chattr") is None or not _immutable(db):
        pytest.skip("no chattr +i here")
    try:
        out = tmp_path / "r.jsonl"
        res = _cli(d, "-q", "-j1", "--store", db, "--jsonl", out)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert res.returncode == 1, res.stderr
    assert "STORE_UNAVAILABLE" in res.stderr and "STORE_CORRUPT" not in res.stderr, res.stderr
    assert not list(tmp_path.glob("*.corrupt-*")) and db.exists()
    assert _apps(out) == {BANNED: "prohibited", CLEAN: "allowed"}


def test_damaged_means_what_sqlite_says_not_any_error():
    assert store_open.damaged(sqlite3.DatabaseError("file is not a database"))
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    readonly.sqlite_errorcode = 8  # SQLITE_READONLY
    assert not store_open.damaged(readonly)


_HOLD = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_store_locked_by_another_process_is_given_up_after_a_bounded_wait(warm, tmp_path):
    """F4: another process holds the store's write lock for 120 s: the run waits a few seconds
    for the open, then scans without the store (STORE_UNAVAILABLE) and reports the banned app."""
    d, db = warm
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(db), "120"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        out = tmp_path / "r.jsonl"
        res = _cli(d, "-q", "-j1", "--store", db, "--jsonl", out, timeout=100)
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 1, res.stderr
    assert "STORE_UNAVAILABLE" in res.stderr and "STORE_CORRUPT" not in res.stderr, res.stderr
    assert took < 60, took  # before: 50 attempts x 30 s
    assert _apps(out) == {BANNED: "prohibited", CLEAN: "allowed"}


def test_writes_under_a_lock_held_by_another_process_stop_after_one_bounded_wait(tmp_path, capsys):
    """F4: a store opened fine, then locked by another process: the first write waits at most the
    busy timeout, then the run stops writing (one warning), never one wait per input."""
    db = tmp_path / "s.sqlite"
    conn = st.connect(str(db))
    conn.execute("PRAGMA busy_timeout=300")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(db), "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        st._TOLD.discard("STORE_UNAVAILABLE")
        started = time.monotonic()
        for i in range(20):
            st.write_all(conn, [("INSERT INTO checks VALUES (1, ?)", (float(i),))])
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
        st._STALLED.discard(id(conn))
        conn.close()
    assert took < 3, took
    assert capsys.readouterr().err.count("STORE_UNAVAILABLE") == 1


def test_stored_findings_with_a_field_of_another_type_are_a_miss_not_a_crash(warm, tmp_path):
    """F2 for the other tables: findings that are Findings, with a string field an int and a list
    field an int, crashed the report; now the row is a miss (matched again), with one warning."""
    d, db = warm
    with sqlite3.connect(db) as c:
        for table, column in (("decisions", "decided"), ("matches", "findings")):
            for rowid, blob in c.execute(f"SELECT rowid, {column} FROM {table}").fetchall():
                got = st.loads(blob)
                findings = got[0] if table == "decisions" else got
                for f in findings:
                    f.strength, f.references = 5, 7
                c.execute(f"UPDATE {table} SET {column}=? WHERE rowid=?", (pickle.dumps(got), rowid))
        c.execute("DELETE FROM known_lines")
    out = tmp_path / "r.json"
    res = _cli(d, "-q", "-j1", "--store", db, "--json", out)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    doc = json.loads(out.read_text())
    assert {Path(a["source"]["path"]).name: a["verdict"] for a in doc["apps"]} == {BANNED: "prohibited", CLEAN: "allowed"}
    assert res.stderr.count("STORE_ROW_IGNORED") == 1, res.stderr


def test_a_store_locked_between_its_open_and_the_runs_start_is_left_for_the_run(tmp_path, monkeypatch):
    """F4: another process taking the lock right after the open made begin_run raise a traceback;
    now the run goes on without the store (STORE_UNAVAILABLE) and reports the banned app."""
    from click.testing import CliRunner

    from apkscan.cli import main

    def locked(*_a, **_k):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr("apkscan.batch.runs.begin_run", locked)
    out = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["scan", str(APKS / BANNED), "-q", "--store", str(tmp_path / "s.sqlite"),
                                    "--json", str(out)])
    assert res.exit_code == 1 and "STORE_UNAVAILABLE" in res.stderr, res.output
    doc = json.loads(out.read_text())
    assert [a["verdict"] for a in doc["apps"]] == ["prohibited"] and doc["options"]["store"] is False
