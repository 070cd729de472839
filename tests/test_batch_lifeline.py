"""The pool's processes as a batch (``lifeline.batch_policy``): the parent's scheduling policy is
switched only from the default, given back when the pool closes, and a system that refuses the
switch runs the pool as before. No timings here (bench/bench_batch.py --jobs-rounds)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from apkscan.batch import lifeline
from apkscan.batch import pool as pool_mod
from apkscan.batch import worker as worker_mod
from apkscan.policy.loader import load_policy
from apkscan.rules.loader import load_ruleset
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.interface import ScanInput, Skipped

FIX = Path(__file__).resolve().parents[1] / "fixtures"
pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setscheduler"), reason="Linux scheduling policies")


def _in_child(fn) -> int:
    """Run ``fn`` in a forked child (a policy changed there cannot leak into the test run); its exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(fn())
        except BaseException:  # noqa: BLE001 - any failure is a non-zero status
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_batch_policy_switches_from_the_default_and_gives_it_back():
    def child() -> int:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            return 0  # the test run itself is not under the default policy: nothing to check
        restore = lifeline.batch_policy()
        if os.sched_getscheduler(0) != os.SCHED_BATCH:
            return 1
        restore()
        return 0 if os.sched_getscheduler(0) == os.SCHED_OTHER else 2

    assert _in_child(child) == 0


def test_a_policy_the_user_chose_is_kept():
    def child() -> int:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # as `chrt -i 0 apkscan ...` would
        restore = lifeline.batch_policy()
        restore()
        return 0 if os.sched_getscheduler(0) == os.SCHED_IDLE else 1

    assert _in_child(child) == 0


def test_a_policy_the_user_sets_while_the_pool_runs_is_kept():
    """Review 51 F7: ``chrt -i -p 0 PID`` during the run was undone when the pool closed."""
    def child() -> int:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            return 0
        restore = lifeline.batch_policy()
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # the user, meanwhile
        restore()
        return 0 if os.sched_getscheduler(0) == os.SCHED_IDLE else 1

    assert _in_child(child) == 0


def test_a_refused_switch_leaves_the_policy_alone(monkeypatch):
    def refuse(*_a):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    before = os.sched_getscheduler(0)
    lifeline.batch_policy()()  # no error, and nothing to give back
    assert os.sched_getscheduler(0) == before


def _policy_unit(item, settings):
    """Each input's record says which policy its worker ran under."""
    if isinstance(item, ScanInput):
        return [Skipped((item.display,), f"policy {os.sched_getscheduler(0)}", 1, [item.display])]
    return pool_mod.scan_item(item, settings)


@pytest.mark.skipif(sys.platform != "linux", reason="fork-based pool")
def test_the_pool_runs_its_workers_as_a_batch_and_gives_the_parent_its_policy_back(monkeypatch):
    monkeypatch.setattr(worker_mod, "_unit", _policy_unit)
    before = os.sched_getscheduler(0)
    result = scan([FileSource([str(FIX / "apks")])], load_ruleset(), load_policy(), runner=pool_mod.Pool(2))
    assert os.sched_getscheduler(0) == before
    reasons = {s.reason for s in result.skipped.values()}
    def allowed() -> int:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        return 0

    switched = before == os.SCHED_OTHER and _in_child(allowed) == 0  # some containers refuse it
    expected = os.SCHED_BATCH if switched else before
    assert f"policy {expected}" in reasons and not {r for r in reasons if r.startswith("policy ")} - {f"policy {expected}"}


@pytest.mark.skipif(sys.platform != "linux", reason="fork-based pool")
def test_an_interrupted_pool_gives_the_parent_its_policy_back(monkeypatch):
    monkeypatch.setattr(worker_mod, "_unit", _policy_unit)
    seen = []

    def progress(name):
        seen.append(name)
        if len(seen) == 3:
            raise KeyboardInterrupt

    before = os.sched_getscheduler(0)
    result = scan([FileSource([str(FIX / "apks")])], load_ruleset(), load_policy(), runner=pool_mod.Pool(2),
                  progress=progress)
    assert result.interrupted and os.sched_getscheduler(0) == before
