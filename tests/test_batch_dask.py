"""Dask: a LocalCluster and a real two-worker cluster started with the ``dask`` command line
give the same documents as a local run (apart from timings); fsspec URLs are fetched by workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.cli import main

distributed = pytest.importorskip("distributed")
REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "fixtures"
INPUTS = [str(FIX / "apks"), str(FIX / "containers" / "bundletool.apks"), str(FIX / "containers" / "pull.tar.gz")]


def _doc(tmp_path, name, *extra, inputs=INPUTS):
    out = tmp_path / f"{name}.json"
    res = CliRunner().invoke(main, ["scan", *inputs, "-q", "--no-store", "--json", str(out), *extra])
    assert res.exit_code == 1, res.output  # the fixtures hold prohibited apps
    doc = json.loads(out.read_text(encoding="utf-8"))
    doc.pop("started_at"), doc.pop("finished_at")
    return doc


def test_local_cluster_equals_local_run(tmp_path):
    local = _doc(tmp_path, "local")
    assert _doc(tmp_path, "dask", "--dask", "local:2") == local
    assert len(local["apps"]) > 25 and any(a["splits"] for a in local["apps"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_worker_cluster_from_the_dask_command_line_equals_local_run(tmp_path):
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO))  # the workers run the tree under test, not the venv's install
        for _ in range(2):
            procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                           "--dashboard-address", ":0"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        assert _doc(tmp_path, "cluster", "--scheduler", address) == _doc(tmp_path, "local")
    finally:
        _stop(procs)


def _stop(procs: list[subprocess.Popen]) -> None:
    """The scheduler and workers a test started: terminated, killed if they linger."""
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def test_file_urls_are_their_local_paths(tmp_path):
    """A file:// URL names this machine's file, so it is scanned as the path (review 66 F3:
    tests/test_file_urls.py): the same document, index.json a skipped file of the folder's."""
    folder = FIX / "apks"
    local = _doc(tmp_path, "plain", inputs=[str(folder)])
    assert _doc(tmp_path, "urls", "--dask", "local:2", inputs=[folder.as_uri()]) == local
    assert local["input_files"] and [s["count"] for s in local["skipped"]] == [1]


def test_url_inputs_without_dask_are_a_usage_error():
    res = CliRunner().invoke(main, ["scan", "s3://bucket/pull/"])
    assert res.exit_code == 2 and "--dask" in res.output
    res = CliRunner().invoke(main, ["scan", "--no-store", "-q", (FIX / "apks" / "v2-only.apk").as_uri()])
    assert res.exit_code == 0, res.output  # a file:// URL is a path: no Dask needed


def _slow_unit(name: str, seconds: float):
    """A task body that hangs on one input (a closure: Dask ships it to the workers by value)."""
    from apkscan.batch.dask_runner import _remote_unit

    def unit(item, settings):
        if item.path.endswith("/" + name):
            import time

            time.sleep(seconds)
        return _remote_unit(item, settings)

    return unit


def test_timeout_on_a_local_cluster_costs_that_input_only(rules, policy):
    """The client stops waiting for the hung task, records BATCH_TIMEOUT, and every other input
    equals a local run's, in order. The budget (5 s) is one no fixture's scan comes near on a
    loaded machine, the hung task's 60 s far past it: 2 s failed 2 runs in 3 on two cores under
    three CPU burners, where a cold worker's imports took the first inputs past it."""
    from apkscan.batch.dask_runner import DaskRunner
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource

    folder = str(FIX / "apks")
    reference = scan([FileSource([folder])], rules, policy)
    runner = DaskRunner.connect(local="local:2", timeout=5.0)
    runner.unit = _slow_unit("v1-only.apk", 60)
    try:
        result = scan([FileSource([folder])], rules, policy, runner=runner)
    finally:
        runner.close()
    timed_out = [e for e in result.errors if e.errors[0].code == "BATCH_TIMEOUT"]
    assert [e.source for e in timed_out] == [str(FIX / "apks" / "v1-only.apk")]
    assert [a.to_dict() for a in result.apps] == [a.to_dict() for a in reference.apps
                                                   if not a.source.endswith("/v1-only.apk")]


def _imported() -> list[str]:
    import sys

    return [m for m in ("apkscan.apk.identify", "apkscan.rules.matcher", "apkscan.splits") if m in sys.modules]


def test_a_local_clusters_workers_import_the_scanning_code_before_their_first_task():
    """--timeout runs from when an input is the oldest awaited: a cold worker's imports (seconds
    under load) were charged to the first inputs, and to the next ones after each restart of a
    worker for a timeout (a restart made a cold worker again). Workers preload them as they start."""
    from apkscan.batch.dask_runner import DaskRunner

    runner = DaskRunner.connect(local="local:2", timeout=5.0)
    try:
        everyone = ["apkscan.apk.identify", "apkscan.rules.matcher", "apkscan.splits"]
        assert list(runner.client.run(_imported).values()) == [everyone, everyone]
        first = sorted(runner.client.nthreads())[0]
        runner.client.restart_workers([first])  # as _abandon restarts the worker of an overdue task
        runner.client.wait_for_workers(2, timeout=120)
        assert list(runner.client.run(_imported).values()) == [everyone, everyone]
    finally:
        runner.close()


def test_a_dask_task_gets_the_time_budget_itself(rules, policy):
    """The cooperative layer: the task's identify stops on its own budget with INPUT_TIMEOUT."""
    from apkscan.scan import ScanSettings, scan_item
    from apkscan.sources.interface import ScanInput

    apk = str(FIX / "apks" / "v1v2.apk")
    records = scan_item(ScanInput(apk, (apk,)), ScanSettings(rules, policy, timeout=0.0))
    codes = [i.code for r in records if hasattr(r, "errors") for i in r.errors]
    assert "INPUT_TIMEOUT" in codes
    assert not [i.code for r in scan_item(ScanInput(apk, (apk,)), ScanSettings(rules, policy))
                if hasattr(r, "errors") for i in r.errors]


def test_a_local_cluster_keeps_its_scratch_space_under_the_checked_folder_and_removes_it(tmp_path):
    """Dask's default ``dask-scratch-space`` goes under TMPDIR, which --tmp-dir does not cover:
    with TMPDIR inside the evidence it was created there and left behind (review 22 #4)."""
    import os
    import shutil

    ev, spool = tmp_path / "ev", tmp_path / "spool"
    ev.mkdir()
    spool.mkdir()
    shutil.copyfile(FIX / "containers" / "pull.tar.gz", ev / "pull.tar.gz")
    shutil.copyfile(FIX / "apks" / "clean-v1v2v3.apk", ev / "a.apk")
    os.utime(ev, (1_000_000_000, 1_000_000_000))
    env = dict(os.environ, TMPDIR=str(ev))
    res = subprocess.run([sys.executable, "-m", "apkscan", "scan", str(ev), "--no-store", "-q", "--dask", "local:2",
                          "--tmp-dir", str(spool), "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert sorted(os.listdir(ev)) == ["a.apk", "pull.tar.gz"] and os.stat(ev).st_mtime == 1_000_000_000
    assert os.listdir(spool) == []  # the cluster's private folder is gone too
    clean = tmp_path / "clean-tmp"
    clean.mkdir()
    res = subprocess.run([sys.executable, "-m", "apkscan", "scan", str(ev), "--no-store", "-q", "--dask", "local:2"],
                         capture_output=True, text=True, cwd=REPO, env=dict(os.environ, TMPDIR=str(clean)), timeout=300)
    assert res.returncode == 1, res.stderr
    assert os.listdir(clean) == []  # without --tmp-dir: under the default folder, and removed


def _children(pid: int) -> list[int]:
    out = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return out


@pytest.mark.skipif(sys.platform != "linux", reason="SIGSTOP and /proc")
def test_a_hung_worker_never_stalls_a_scheduler_run_and_relative_paths_work(tmp_path):
    """Review 29 F1: with one of two workers stopped (SIGSTOP: hung in C code, or left stuck by an
    earlier run), the run used to wait forever in a broadcast scatter of the settings, before its
    first task. Now it finishes: every input is an app or a coded error (BATCH_TIMEOUT for what the
    stopped worker held), and the banned app is reported. Also (NIT): inputs named relative to the
    client's folder, which is not the workers' (they get absolute paths; reports keep the names)."""
    import shutil
    import signal
    import time

    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    elsewhere = tmp_path / "workers-cwd"
    elsewhere.mkdir()
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    stopped: list[int] = []
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        from apkscan.batch.dask_runner import WARM

        preload = [arg for name in WARM for arg in ("--preload", name)]  # as docs/batch.md advises for --timeout:
        for _ in range(2):  # a cold worker's imports (seconds under load) ran past the 3 s budget
            procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                           "--dashboard-address", ":0", *preload], env=env, cwd=elsewhere,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        stopped = _children(procs[1].pid)  # the worker process under the first worker's nanny
        assert stopped, "no worker process under the nanny"
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        inputs = tmp_path / "in"
        inputs.mkdir()
        names = ["wechat-tencent-subject.apk", "clean-v1v2v3.apk", "tiktok-bytedance-subject.apk", "v1-only.apk"]
        for name in names:
            shutil.copy(FIX / "apks" / name, inputs / name)
        started = time.monotonic()
        res = subprocess.run([sys.executable, "-c", "from apkscan.cli import main; main()", "scan", "in", "-q",
                              "--no-store", "--timeout", "3", "--scheduler", address, "--json", "r.json"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
        took = time.monotonic() - started
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        _stop(procs)
    assert res.returncode in (1, 3), res.stderr
    assert took < 180, took
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    apps = {a["source"]["path"]: a["verdict"] for a in doc["apps"]}
    errors = {e["source"]["path"]: [i["code"] for i in e["errors"]] for e in doc["errors"]}
    assert sorted([*apps, *errors]) == sorted(f"in/{n}" for n in names), (apps, errors)
    assert all(codes == ["BATCH_TIMEOUT"] for codes in errors.values()), errors  # what the stopped worker held
    assert len(errors) < len(names), errors  # the other worker scanned the rest
    for name, verdict in (("wechat-tencent-subject.apk", "prohibited"), ("tiktok-bytedance-subject.apk", "prohibited")):
        assert apps.get(f"in/{name}", verdict) == verdict  # banned: reported so, or a coded error above


def test_a_worker_on_another_machine_compares_the_custody_stat_without_its_device(rules, policy, tmp_path):
    """Review 68 ("not shown"): a task carries the client's custody stat, and the worker's open
    compared all of it, the device number too. Two NFS clients of one export see one file under
    two device numbers, so on a cluster over a shared file system every local input was
    INPUT_CHANGED_DURING_SCAN. The stat now goes with the machine it was taken on: a worker
    elsewhere (made here: another machine id and the device number another kernel gives) compares
    inode, size, mtime and ctime, and still refuses a change in any of them; a worker on the
    client's machine compares the device as well."""
    import shutil
    import types
    from dataclasses import replace

    from apkscan.apk.io.readonly import TakenOn, this_machine
    from apkscan.batch.dask_runner import DaskRunner, _remote_unit
    from apkscan.scan import ScanSettings
    from apkscan.sources.interface import ScanInput

    apk = tmp_path / "app.apk"
    shutil.copy(FIX / "apks" / "tiktok-bytedance-subject.apk", apk)
    os.utime(apk, ns=(1_600_000_000 * 10**9,) * 2)  # a write later moves mtime, whatever the clock's tick
    st = os.stat(apk)
    sent: list = []
    DaskRunner(types.SimpleNamespace(submit=lambda unit, item, *a, **kw: sent.append(item)))._submit(
        ScanInput(str(apk), (str(apk),), expect=st))
    assert [s.expect for s in sent] == [TakenOn(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                                                this_machine())]

    def worker(expect) -> tuple[list[str], list[str]]:
        records = _remote_unit(ScanInput(str(apk), (str(apk),), expect=expect), ScanSettings(rules, policy))
        return ([r.identity.manifest.package for r in records if hasattr(r, "identity")],
                [i.code for r in records if hasattr(r, "errors") and not hasattr(r, "identity") for i in r.errors])

    here, changed = sent[0].expect, ([], ["INPUT_CHANGED_DURING_SCAN"])
    elsewhere = replace(here, st_dev=st.st_dev + 1, machine="boot:another-machine")
    assert worker(elsewhere) == (["com.zhiliaoapp.musically"], [])
    assert worker(replace(here, st_dev=st.st_dev + 1)) == changed  # this machine: the device counts
    for field in ("st_ino", "st_size", "st_mtime_ns", "st_ctime_ns"):
        assert worker(replace(elsewhere, **{field: getattr(st, field) + 1})) == changed, field
    with open(apk, "r+b") as fh:  # the same bytes written over themselves: only mtime and ctime move
        data = fh.read()
        fh.seek(0)
        fh.write(data)
    assert os.stat(apk).st_size == st.st_size
    assert worker(elsewhere) == changed
