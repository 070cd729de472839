"""The scan store is pruned (review 74 F7): rows under keys no run used for a month go.

Real stores written by real scans; "a month ago" is written into ``used_keys`` as a run would have
left it, and the prune is then due at the end of the next run.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.batch import store, store_prune
from apkscan.cli import main
from conftest import APKS

EXTRA = Path(__file__).with_name("extra_pack.yaml")
DAY = 86400.0


@pytest.fixture(autouse=True)
def no_racy_wait(monkeypatch):
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)  # files copied here have a fresh ctime


def _scan(folder: Path, db: Path, out: Path, *extra: str) -> tuple[dict, int]:
    res = CliRunner().invoke(main, ["scan", str(folder), "--store", str(db), "--jobs", "1", "-q", "--force",
                                    "--jsonl", str(out), *extra])
    store.close_connections()
    assert res.exit_code in (0, 1, 3), res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    return json.loads(lines[-1])["counts"], res.exit_code


def _count(db: Path, sql: str, *args) -> int:
    with closing(sqlite3.connect(db)) as c:
        return c.execute(sql, args).fetchone()[0]


def _age(db: Path, kind: str, days: float, where: str = "1") -> None:
    with closing(sqlite3.connect(db)) as c, c:
        c.execute(f"UPDATE used_keys SET last_used = ? WHERE kind = ? AND {where}", (time.time() - days * DAY, kind))


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for name in ("clean-v1v2v3.apk", "wechat-impostor.apk", "tiktok-bytedance-subject.apk", "v2-only.apk"):
        shutil.copy(APKS / name, d / name)
    return d


def test_rows_of_a_rule_set_unused_for_a_month_go_and_the_current_ones_stay(tmp_path):
    d, db = _folder(tmp_path), tmp_path / "s.sqlite"
    old = _scan(d, db, tmp_path / "a.jsonl")
    old_rules = {r for (r,) in sqlite3.connect(db).execute("SELECT DISTINCT rules FROM matches")}
    new = _scan(d, db, tmp_path / "b.jsonl", "--rules", str(EXTRA))
    assert _count(db, "SELECT COUNT(DISTINCT rules) FROM matches") == 2
    # nothing is pruned while every key is fresh, even when a prune is due
    _age(db, "pruned", 2)
    _scan(d, db, tmp_path / "c.jsonl", "--rules", str(EXTRA))
    assert _count(db, "SELECT COUNT(DISTINCT rules) FROM matches") == 2
    # the first rule set unused for 31 days: its findings, decisions and lane rows go
    [key] = old_rules
    before = {t: _count(db, f"SELECT COUNT(*) FROM {t} WHERE rules = ?", key)
              for t in ("matches", "decisions", "known_lines")}
    assert all(before.values()), before
    _age(db, "rules", 31, f"key = '{key}'")
    _age(db, "pruned", 2)
    assert _scan(d, db, tmp_path / "d.jsonl", "--rules", str(EXTRA)) == new
    for table in ("matches", "decisions", "known_lines"):
        assert _count(db, f"SELECT COUNT(*) FROM {table} WHERE rules = ?", key) == 0, table
    for table in ("matches", "known_lines"):  # the lane keeps what it matched, not what it decided
        assert _count(db, f"SELECT COUNT(*) FROM {table} WHERE rules <> ?", key) > 0, table
    assert _count(db, "SELECT COUNT(*) FROM identities") == 4  # identities do not depend on rules
    assert _count(db, "SELECT COUNT(*) FROM used_keys WHERE kind = 'rules' AND key = ?", key) == 0
    # and the old rule set comes back as a rule change does: nothing parsed again, the same counts
    assert _scan(d, db, tmp_path / "e.jsonl") == old


def test_rows_of_an_old_parser_go_with_what_they_leave_behind(tmp_path):
    """An upgrade's old parser version: its identities, facts, findings, decisions, lane rows and
    the stat keys naming bytes no identity holds any more."""
    d, db = _folder(tmp_path), tmp_path / "s.sqlite"
    first = _scan(d, db, tmp_path / "a.jsonl")
    with closing(sqlite3.connect(db)) as c, c:  # as an older apkscan would have left them
        for table in ("identities", "match_facts", "matches", "decisions", "known_lines"):
            c.execute(f"UPDATE {table} SET parser = 'apkscan-0.0.1+old'")
        c.execute("INSERT INTO used_keys VALUES ('parser', 'apkscan-0.0.1+old', ?)", (time.time() - 40 * DAY,))
        c.execute("DELETE FROM used_keys WHERE kind = 'parser' AND key <> 'apkscan-0.0.1+old'")
    assert _count(db, "SELECT COUNT(*) FROM stat_keys") == 4
    _age(db, "pruned", 2)
    assert _scan(d, db, tmp_path / "b.jsonl") == first  # parsed again under this parser
    for table in ("identities", "match_facts", "matches", "decisions", "known_lines"):
        assert _count(db, f"SELECT COUNT(*) FROM {table} WHERE parser = 'apkscan-0.0.1+old'") == 0, table
    assert _count(db, "SELECT COUNT(*) FROM identities") == 4
    assert _count(db, "SELECT COUNT(*) FROM stat_keys") == 4  # this run's own, proven again


def test_stat_keys_naming_bytes_no_identity_holds_go(tmp_path):
    d, db = _folder(tmp_path), tmp_path / "s.sqlite"
    _scan(d, db, tmp_path / "a.jsonl")
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("INSERT INTO stat_keys VALUES ('/gone/app.apk', 0, -1, 1, 1, 1, 1, 1, ?)", ("ab" * 32,))
    with closing(store.connect(str(db))) as conn:
        gone = store_prune.prune(conn)
        assert gone["stat_keys"] == 1 and gone["identities"] == 0
        assert conn.execute("SELECT COUNT(*) FROM stat_keys").fetchone()[0] == 4


def test_a_prune_runs_at_most_once_a_day(tmp_path):
    d, db = _folder(tmp_path), tmp_path / "s.sqlite"
    _scan(d, db, tmp_path / "a.jsonl")
    _age(db, "rules", 31)
    _age(db, "pruned", 0.5)  # the last prune 12 hours ago: not due, old rows kept for now
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("INSERT INTO used_keys VALUES ('rules', 'another-rule-set', ?)", (time.time() - 40 * DAY,))
        c.execute("INSERT INTO matches SELECT sha256, parser, options, 'another-rule-set', findings, seal FROM matches")
    n = _count(db, "SELECT COUNT(*) FROM matches WHERE rules = 'another-rule-set'")
    _scan(d, db, tmp_path / "b.jsonl")
    assert n > 0 and _count(db, "SELECT COUNT(*) FROM matches WHERE rules = 'another-rule-set'") == n
    _age(db, "pruned", 1.01)
    _scan(d, db, tmp_path / "c.jsonl")
    assert _count(db, "SELECT COUNT(*) FROM matches WHERE rules = 'another-rule-set'") == 0


def test_a_migrated_store_counts_every_stored_key_as_used_now(tmp_path):
    d, db = _folder(tmp_path), tmp_path / "s.sqlite"
    _scan(d, db, tmp_path / "a.jsonl")
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("DROP TABLE used_keys")
        c.execute("PRAGMA user_version = 10")
    with closing(store.connect(str(db))) as conn:
        kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM used_keys GROUP BY kind").fetchall())
        assert kinds == {"parser": 1, "rules": 1, "policies": 1, "pruned": 1}
        assert store_prune.prune(conn)["identities"] == 0


def test_a_run_without_jsonl_notes_its_keys_and_prunes_too(tmp_path):
    """The keys are noted by every run with a store, not only by the fast lane's (``--jsonl``)."""
    d, db = _folder(tmp_path), tmp_path / "s.sqlite"
    _scan(d, db, tmp_path / "a.jsonl")
    _age(db, "rules", 31)
    _age(db, "pruned", 2)
    res = CliRunner().invoke(main, ["scan", str(d), "--store", str(db), "--jobs", "1", "-q", "--json",
                                    str(tmp_path / "r.json"), "--rules", str(EXTRA)])
    store.close_connections()
    assert res.exit_code == 1, res.output
    with closing(sqlite3.connect(db)) as c:
        fresh = c.execute("SELECT COUNT(*) FROM used_keys WHERE kind = 'rules' AND last_used > ?",
                          (time.time() - 600,)).fetchone()[0]
        old = c.execute("SELECT COUNT(*) FROM used_keys WHERE kind = 'rules' AND last_used < ?",
                        (time.time() - 600,)).fetchone()[0]
        pruned = c.execute("SELECT last_used FROM used_keys WHERE kind = 'pruned'").fetchone()[0]
    assert fresh == 1 and old == 0 and pruned > time.time() - 600


def _stale_rule_set(db: Path, copies: int) -> int:
    """``copies`` fake rule sets' findings per identity, unused for 40 days: rows a prune deletes."""
    with closing(sqlite3.connect(db)) as c, c:
        for i in range(copies):
            c.execute("INSERT INTO used_keys VALUES ('rules', ?, ?)", (f"stale-{i}", time.time() - 40 * DAY))
            c.execute("INSERT INTO matches SELECT sha256, parser, options, ?, findings, seal FROM matches "
                      "WHERE rules NOT LIKE 'stale-%'", (f"stale-{i}",))
        return c.execute("SELECT COUNT(*) FROM matches WHERE rules LIKE 'stale-%'").fetchone()[0]


def test_a_prune_deletes_in_short_transactions_and_notes_its_attempt_first(tmp_path, monkeypatch):
    """Review 76 F5, F7: one transaction over a big store held the lock for 17 s, and a prune that
    failed (a full disk) was tried again at the end of every run."""
    d, db = _folder(tmp_path), tmp_path / "s.sqlite"
    _scan(d, db, tmp_path / "a.jsonl")
    stale = _stale_rule_set(db, 10)
    monkeypatch.setattr(store_prune, "CHUNK", 7)
    statements: list[str] = []
    with closing(store.connect(str(db))) as conn:
        conn.set_trace_callback(statements.append)
        assert store_prune.prune(conn, budget=0.0)["matches"] == 0  # out of time at once: noted, nothing done
        assert not store_prune.due(conn, time.time())
        gone = store_prune.prune(conn, budget=60.0)
    assert gone["matches"] == stale > 7
    deletes = [s for s in statements if s.startswith("DELETE FROM matches")]
    assert len(deletes) == -(-stale // 7)  # one short statement (its own transaction) per chunk
    assert not any(s.startswith("BEGIN") for s in statements)
    assert _count(db, "SELECT COUNT(*) FROM matches WHERE rules LIKE 'stale-%'") == 0


def test_ctrl_c_during_a_prune_keeps_the_reports_and_the_exit_code(tmp_path, monkeypatch):
    """Review 76 F6: the prune ran inside the run's end, before the reports: Ctrl-C there lost them."""
    d, db = _folder(tmp_path), tmp_path / "s.sqlite"
    _scan(d, db, tmp_path / "a.jsonl")
    _age(db, "pruned", 2)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_prune, "prune", interrupted)
    res = CliRunner().invoke(main, ["scan", str(d), "--store", str(db), "--jobs", "1", "-q", "--json",
                                    str(tmp_path / "r.json")])
    store.close_connections()
    assert res.exit_code == 1, res.output  # the banned apps, as always; not 130
    assert json.loads((tmp_path / "r.json").read_text())["interrupted"] is False
