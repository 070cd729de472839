"""After a rule change with two cores, a helper process matches the stored identities again ahead
of the warm lane (:mod:`apkscan.batch.rematch`): the lane then only decides. Whatever it computes
must be what the lane would (the output of a cold scan under the new rules, byte for byte, counts
and exit code); it ends with the run, never with a helper left behind; damaged or planted rows
cost it nothing but the lane's own work."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing

import pytest

from apkscan.batch import rematch
from test_known_fast_paths import _clear, _scan, work  # noqa: F401 - the counting fixture, the same runner
from test_rule_change_lane import EXTRA, _changes, _damage, every_fixture, no_racy_wait  # noqa: F401


@pytest.fixture
def helpers(monkeypatch) -> list[int]:
    """The helpers started, each run to its end before the lane starts (so the lane finds every row
    it wrote: what a helper ahead of the lane does), with no minimum of rows."""
    started: list[int] = []
    start = rematch.start

    def waited(*a):
        pid = start(*a)
        if pid is not None:
            started.append(pid)
            _pid, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        return pid

    stop = rematch.stop
    monkeypatch.setattr(rematch, "MIN_ROWS", 0)
    monkeypatch.setattr(rematch, "start", waited)
    monkeypatch.setattr(rematch, "stop", lambda pid: None if pid in started else stop(pid))  # reaped: never signalled
    return started


@pytest.fixture
def lane_matched(monkeypatch) -> list[str]:
    """Stored identities whose facts the lane read or which it unpickled, to match them itself (a
    helper's own calls happen in the helper)."""
    from apkscan.batch import known, store

    seen: list[str] = []
    real, facts = store.stored_identity, known.stored_facts
    monkeypatch.setattr(store, "stored_identity", lambda path, sha, *a, **k: seen.append(sha) or real(path, sha, *a, **k))
    monkeypatch.setattr(known, "stored_facts", lambda path, sha, *a: seen.append(sha) or facts(path, sha, *a))
    return seen


@pytest.mark.parametrize("change", ["fewer packs", "one more pack", "one more pack and a policy"])
def test_a_rescan_with_the_helper_writes_what_a_cold_scan_under_the_new_rules_writes(
        every_fixture, tmp_path, work, helpers, lane_matched, change):
    new = _changes(tmp_path)[change]
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", "2")
    assert helpers == []  # nothing stored for another rule set yet
    _clear(work)
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), "--jobs", "2", *new)
    assert len(helpers) == 1 and work["parsed"] == []
    assert len(set(lane_matched)) == 1  # only the file that started the helper: the helper's rows answered the rest
    assert rescan == _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)
    _clear(work)
    assert _scan([every_fixture], tmp_path / "w.jsonl", "--store", str(db), "--jobs", "2", *new) == rescan
    assert work["parsed"] == [] and len(helpers) == 1  # warm: nothing of another rule set is left to match


def test_no_helper_with_one_job(every_fixture, tmp_path, helpers):
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", "1")
    _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), "--jobs", "1", "--rules", str(EXTRA))
    assert helpers == []


@pytest.mark.parametrize("how", ["garbage", "other bytes", "inside", "shape", "not whole", "no identity"])
def test_damaged_identities_cost_the_helper_nothing_but_the_lanes_own_work(every_fixture, tmp_path, helpers, how):
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", "2")
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("DELETE FROM match_facts")  # every identity unpickled (facts would prove most match nothing)
    _damage(db, how)
    new = ("--rules", str(EXTRA))
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), "--jobs", "2", *new)
    assert len(helpers) == 1
    assert rescan == _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)


def test_the_helper_is_stopped_when_the_run_ends_before_it(every_fixture, tmp_path, monkeypatch):
    """A helper still walking when the run ends is told to stop and reaped."""
    import time

    monkeypatch.setattr(rematch, "MIN_ROWS", 0)
    started: list[int] = []
    start = rematch.start
    monkeypatch.setattr(rematch, "_walk", lambda *a: time.sleep(60))  # in the helper: never done in time
    monkeypatch.setattr(rematch, "start", lambda *a: started.append(start(*a)) or started[-1])  # a pid, or None
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", "2")
    t = time.monotonic()
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), "--jobs", "2", "--rules", str(EXTRA))
    assert time.monotonic() - t < 30 and len(started) == 1 and started[0]  # a hang guard, not a timing
    with pytest.raises(ChildProcessError):
        os.waitpid(started[0], os.WNOHANG)
    assert rescan == _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", "--rules", str(EXTRA))
