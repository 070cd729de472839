"""Dask: a worker killed by one input costs that input only, not one that shared the worker (review 91 F2).

When a worker dies unexpectedly, Dask's scheduler counts it against *every* task assigned to the
worker (running beside the crasher on another thread, or queued behind it), and after a few
deaths fails each with ``KilledWorker``: an input that shared the crasher's workers was reported
``BATCH_WORKER_DIED``, though a local run scans it. Made certain here with one worker of two
threads (as ``dask worker`` starts them: a thread per core): the innocent input runs beside the
crasher each time. A real LocalCluster, real fixture APKs; the crash is a real SIGKILL of the
worker process, a second into the task (as a crash deep in a scan comes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("distributed")
FIX = Path(__file__).resolve().parents[1] / "fixtures"
CRASHER = "a-crashes.apk"


def _crashing_unit(name: str):
    """A task body that kills its own worker process on one input (a closure: Dask ships it by value)."""
    from apkscan.batch.dask_runner import _remote_unit

    def unit(item, settings):
        if item.path.endswith("/" + name):
            import os
            import signal
            import time

            time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            import time

            time.sleep(3.0)  # still running beside the crasher when it kills the process
        return _remote_unit(item, settings)

    return unit


def test_an_input_that_shared_a_worker_with_one_that_kills_it_is_still_scanned(tmp_path):
    from apkscan.batch.dask_runner import DaskRunner
    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(FIX / "apks" / "clean-v1v2v3.apk", folder / CRASHER)
    shutil.copy(FIX / "apks" / "tiktok-bytedance-subject.apk", folder / "b-innocent.apk")
    rules, policy = load_ruleset(), load_policy()
    reference = scan([FileSource([str(folder)])], rules, policy)
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):  # 2 deaths fail a task (faster)
        cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None,
                               local_directory=str(tmp_path))
    runner = DaskRunner(Client(cluster), cluster)
    runner.unit = _crashing_unit(CRASHER)
    try:
        result = scan([FileSource([str(folder)])], rules, policy, runner=runner)
    finally:
        runner.close()
    died = {e.source: [i.code for i in e.errors] for e in result.errors}
    assert died == {str(folder / CRASHER): ["BATCH_WORKER_DIED"]}
    assert "KilledWorker" in result.errors[0].errors[0].message
    assert [a.to_dict() for a in result.apps] == [a.to_dict() for a in reference.apps
                                                   if not a.source.endswith("/" + CRASHER)]
    assert [a.verdict for a in result.apps] == ["prohibited"]  # the innocent input, scanned


@pytest.mark.parametrize("processes", [True, False])
def test_a_remote_clusters_killed_task_is_sent_again_only_where_nannies_restart_workers(processes):
    """Sent again to workers without a nanny, a crasher could kill the last of them and the run
    would wait for a worker for ever; the scheduler says which workers have one (a LocalCluster's
    processes do, its in-process workers do not), reached here as a remote scheduler is."""
    from distributed import Client, LocalCluster

    from apkscan.batch.dask_runner import DaskRunner

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=processes, dashboard_address=None)
    runner = DaskRunner(Client(cluster.scheduler_address), None)  # no cluster object: as --scheduler
    try:
        assert runner._restartable() is processes
    finally:
        runner.client.close()
        cluster.close()
