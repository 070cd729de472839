"""Dask: a cluster without workers ends the run with coded errors, never a wait for ever (review 91 F7).

A worker that dies while its nanny is still starting it is not started again, and a remote
scheduler may have lost its workers or never had one: the tasks then wait in the scheduler for
ever, and a run without ``--timeout`` waited with them. Here the state is made certain: a real
``dask scheduler`` no worker joins, reached with ``--scheduler``, and a real LocalCluster whose only
worker is killed by its first task while its nanny reads as starting it. Each run is a subprocess under a time limit
(the watchdog's wait set to a few seconds), so the old behaviour fails the test, not hangs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_batch_dask import _free_port, _stop

pytest.importorskip("distributed")
REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
LIMIT = 240  # seconds a run may take here; without the watchdog it never ends

# the CLI with the watchdog's wait shortened (before it existed the run waits for ever: the limit fails it)
CLI = """import sys
try:
    from apkscan.batch import dask_watch
    dask_watch.NO_WORKER_WAIT = 3.0
    dask_watch.NEVER_JOINED_WAIT = 4.0  # no worker ever joins this test's scheduler
except ImportError:
    pass
from apkscan.cli import main
main(sys.argv[1:], prog_name="apkscan")
"""


def _apkscan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=LIMIT,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))


def _sources(doc: dict) -> list[str]:
    return [a["source"]["path"] for a in doc["apps"]] + [e["source"]["path"] for e in doc["errors"]]


def test_a_scheduler_without_workers_gives_each_input_an_error_and_resume_scans_them(tmp_path):
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store, out, lines = tmp_path / "s.db", tmp_path / "r.json", tmp_path / "r.jsonl"
    try:
        res = _apkscan("scan", str(APKS), "-q", "--store", str(store), "--json", str(out), "--jsonl", str(lines),
                       "--scheduler", address)
    finally:
        _stop([scheduler])
    assert res.returncode == 3, res.stderr  # inputs not scanned: as for any input error
    assert "Traceback" not in res.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["apps"] == [] and doc["interrupted"] is False
    codes = {e["source"]["path"]: [i["code"] for i in e["errors"]] for e in doc["errors"]}
    assert codes and set(map(tuple, codes.values())) == {("BATCH_NO_WORKERS",)}
    # no worker had joined: the longer wait (workers may still be queued), said so
    assert "no worker joined the Dask scheduler in 4 s" in doc["errors"][0]["errors"][0]["message"]
    stream = [json.loads(x) for x in lines.read_text(encoding="utf-8").splitlines()]
    assert stream[-1]["type"] == "end"  # the stream was finished, not cut
    # the run is recorded as unfinished: --resume (here without Dask) continues it and scans them all
    again = tmp_path / "again.json"
    res = _apkscan("scan", str(APKS), "-q", "--store", str(store), "--json", str(again), "--resume")
    assert "resuming the run that did not finish" in res.stderr, res.stderr
    resumed = json.loads(again.read_text(encoding="utf-8"))
    assert resumed["options"]["resumed_from"]
    assert sorted(_sources(resumed)) == sorted(codes)  # every input that had the error, now answered
    assert len(resumed["apps"]) > 20
    assert not [e for e in resumed["errors"] if e["errors"][0]["code"].startswith("BATCH_")]


# a LocalCluster whose only worker is SIGKILLed by its first task while its nanny reads as still
# starting it (the state review 91 F7 saw: the nanny then does not start it again)
LOCAL = """import json, sys
try:
    from apkscan.batch import dask_watch
    dask_watch.NO_WORKER_WAIT = 3.0
except ImportError:  # before the watchdog: the run waits for ever
    pass
from distributed import Client, LocalCluster
from apkscan.batch.dask_runner import DaskRunner, _remote_unit
from apkscan.policy.loader import load_policy
from apkscan.rules.loader import load_ruleset
from apkscan.scan import scan
from apkscan.sources.files import FileSource

def unit(item, settings):
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)

if __name__ == "__main__":
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                           local_directory=sys.argv[2])
    from distributed.core import Status
    for nanny in cluster.workers.values():
        nanny.status = Status.starting
    runner = DaskRunner(Client(cluster), cluster)
    runner.unit = unit
    try:
        result = scan([FileSource([sys.argv[1]])], load_ruleset(), load_policy(), runner=runner)
    finally:
        runner.close()
    print(json.dumps({"apps": len(result.apps), "starved": getattr(runner, "starved", None),
                      "joined": getattr(getattr(runner, "watch", None), "joined", None),
                      "errors": {e.source: [i.code for i in e.errors] for e in result.errors}}))
"""


def test_a_local_cluster_whose_only_worker_died_unrestarted_ends_the_run(tmp_path):
    script = tmp_path / "local.py"
    script.write_text(LOCAL, encoding="utf-8")
    res = subprocess.run([sys.executable, str(script), str(APKS), str(tmp_path)], capture_output=True, text=True,
                         timeout=LIMIT, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.splitlines()[-1])
    assert out["apps"] == 0 and out["starved"] is True
    assert out["joined"] is True  # the worker was there before it died: the short wait applies
    apks = sorted(str(p) for p in APKS.glob("*.apk"))
    assert sorted(out["errors"]) == apks
    assert {tuple(c) for c in out["errors"].values()} == {("BATCH_NO_WORKERS",)}
