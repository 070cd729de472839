"""``--jobs``: the process pool gives the sequential scan's records, in its order, whatever fails.

Real fixture APKs, containers and backups; workers are real processes, killed for real
(``os.kill``). A slow or crashing unit of work is made by replacing the worker's ``_unit``
before the pool forks, so the worker runs it.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from apkscan.batch import pool as pool_mod
from apkscan.batch import worker as worker_mod
from apkscan.policy.loader import load_policy
from apkscan.rules.loader import load_ruleset
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "fixtures"
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork-based pool tests")


@pytest.fixture(scope="module")
def rp():
    return load_ruleset(), load_policy()


def _doc(result) -> dict:
    doc = result.to_dict()
    doc.pop("started_at"), doc.pop("finished_at")
    return doc


def _scan(rp, paths, runner=None, tmp=None, progress=None):
    walk = WalkOptions(tmp_dir=str(tmp) if tmp else None, password=lambda: "apkscan-test", max_depth=6)
    return scan([FileSource([str(p) for p in paths], walk)], *rp, runner=runner, progress=progress)


def test_jobs_2_equals_sequential_on_apks_containers_and_backups(rp, tmp_path):
    paths = [FIX / "apks", FIX / "containers", FIX / "backups"]
    reference = _scan(rp, paths)
    pooled = _scan(rp, paths, pool_mod.Pool(2, tmp_dir=str(tmp_path / "pool")), tmp=tmp_path / "walk")
    assert _doc(pooled) == _doc(reference)
    assert len(reference.apps) > 30 and reference.errors  # the comparison covers apps and errors
    # deep.zip's APK is a spooled file handed over last: the walker removes its folder right after
    assert any(a.source.endswith("level6.zip ▸ app.apk") for a in pooled.apps)
    assert any(a.splits for a in pooled.apps)  # split bundles were assembled after their members returned
    assert not any((tmp_path / "pool").iterdir()) and not any((tmp_path / "walk").iterdir())
    assert not multiprocessing.active_children()


def test_a_copy_for_a_worker_waits_for_room_instead_of_failing(rp, tmp_path):
    """Review 14: APKs stored in ZIPs that only exist as deflated members are windows into the
    walker's spooled copy, so the pool copies each for its worker. With a --tmp-limit that holds
    one such copy, the second failed (CONTAINER_TMP_LIMIT) while the first was still being
    scanned: --jobs 2 reported an error where --jobs 1 (which copies nothing) reported TikTok.
    The copy now waits until the inputs in flight are done."""
    import io
    import zipfile

    def zipped(files, method):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in files:
                z.writestr(zipfile.ZipInfo(name), data, compress_type=method)
        return buf.getvalue()

    def padded(apk: Path, n: int) -> bytes:
        with zipfile.ZipFile(apk) as src:
            return zipped([(i.filename, src.read(i)) for i in src.infolist()] + [("assets/pad.bin", os.urandom(n))],
                          zipfile.ZIP_STORED)

    outer = tmp_path / "in" / "pull.zip"
    outer.parent.mkdir()
    outer.write_bytes(zipped([("a.zip", zipped([("clean.apk", padded(FIX / "apks" / "clean-v1v2v3.apk", 1_500_000))],
                                                 zipfile.ZIP_STORED)),
                              ("b.zip", zipped([("tiktok.apk", padded(FIX / "apks" / "tiktok-bytedance-subject.apk",
                                                                       1_500_000))], zipfile.ZIP_STORED))],
                             zipfile.ZIP_DEFLATED))
    walk = WalkOptions(tmp_dir=str(tmp_path / "walk"), tmp_limit=2_000_000)
    reference = scan([FileSource([str(outer)], walk)], *rp)
    pooled = scan([FileSource([str(outer)], walk)], *rp,
                  runner=pool_mod.Pool(2, tmp_dir=str(tmp_path / "pool"), tmp_limit=2_000_000))
    assert _doc(pooled) == _doc(reference)
    assert [a.verdict for a in pooled.apps] == ["allowed", "prohibited"] and not pooled.errors


def _slow_or_real(slow: str, seconds: float):
    real = pool_mod.scan_item

    def unit(item, settings):
        if getattr(item, "display", "").endswith(slow):
            time.sleep(seconds)
        return real(item, settings)
    return unit


def test_timeout_costs_that_input_only_and_replaces_its_worker(rp, monkeypatch):
    monkeypatch.setattr(worker_mod, "_unit", _slow_or_real("v1-only.apk", 120))
    reference = _scan(rp, [FIX / "apks"])
    result = _scan(rp, [FIX / "apks"], pool_mod.Pool(2, timeout=1.0))
    timed_out = [e for e in result.errors if e.errors[0].code == "BATCH_TIMEOUT"]
    assert [e.source for e in timed_out] == [str(FIX / "apks" / "v1-only.apk")]
    others = [a.to_dict() for a in reference.apps if not a.source.endswith("/v1-only.apk")]
    assert [a.to_dict() for a in result.apps] == others  # every other input, in the same order
    assert not multiprocessing.active_children()


def test_worker_killed_by_a_real_signal_costs_that_input_only(rp, monkeypatch):
    victim = "wechat-impostor.apk"
    monkeypatch.setattr(worker_mod, "_unit", _slow_or_real(victim, 30))  # long enough to be killed mid-scan

    def kill_it(pid, item):
        if item.display.endswith(victim):
            os.kill(pid, signal.SIGKILL)

    reference = _scan(rp, [FIX / "apks"])
    result = _scan(rp, [FIX / "apks"], pool_mod.Pool(2, timeout=60, on_dispatch=kill_it))
    died = [e for e in result.errors if e.errors[0].code == "BATCH_WORKER_DIED"]
    assert [e.source for e in died] == [str(FIX / "apks" / victim)]
    assert "signal 9" in died[0].errors[0].message
    assert [a.to_dict() for a in result.apps] == [a.to_dict() for a in reference.apps
                                                  if not a.source.endswith(victim)]


def test_worker_that_crashes_itself_costs_that_input_only(rp, monkeypatch):
    real = pool_mod.scan_item

    def unit(item, settings):
        if item.display.endswith("clean-v1v2v3.apk"):
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(item, settings)

    monkeypatch.setattr(worker_mod, "_unit", unit)
    result = _scan(rp, [FIX / "apks"], pool_mod.Pool(2))
    died = [e for e in result.errors if e.errors[0].code == "BATCH_WORKER_DIED"]
    assert len(died) == 1 and died[0].source.endswith("clean-v1v2v3.apk")
    assert len(result.apps) == len(_scan(rp, [FIX / "apks"]).apps) - 1


def test_a_worker_found_dead_by_a_send_charges_the_input_it_held(rp, monkeypatch, tmp_path):
    """A worker that dies while the parent has not yet waited on it is found by the next send (the
    pipe is broken): the input it was scanning is charged as ``_died`` charges it, not handed to a
    fresh worker (for an input that kills its process, one more worker killed; here, where the kill
    comes from outside, the input would be scanned again and reported as if nothing happened)."""
    folder = tmp_path / "in"
    folder.mkdir()
    victim = "a-first.apk"  # the first input: the parent sends its worker a second one right after it
    shutil.copy(FIX / "apks" / "wechat-impostor.apk", folder / victim)
    for name in ("clean-v1v2v3.apk", "v1-only.apk", "v2-only.apk", "ec-v2v3.apk"):
        shutil.copy(FIX / "apks" / name, folder / name)
    started = tmp_path / "started"
    real_unit, real_send = pool_mod.scan_item, worker_mod.Worker.send

    def unit(item, settings):
        if item.display.endswith(victim):
            with open(started, "a") as f:
                f.write("x")
        return real_unit(item, settings)

    killed: list[int] = []

    def send(self, task):
        if not killed and self.task is not None and self.task.item.display.endswith(victim):
            os.kill(self.proc.pid, signal.SIGKILL)  # dies holding the victim, once, as the OOM killer takes one
            self.proc.join(5)
            killed.append(self.proc.pid)
        return real_send(self, task)

    monkeypatch.setattr(worker_mod, "_unit", unit)
    monkeypatch.setattr(worker_mod.Worker, "send", send)
    reference = _scan(rp, [folder])
    result = _scan(rp, [folder], pool_mod.Pool(2, timeout=60))
    died = [e for e in result.errors if e.errors[0].code == "BATCH_WORKER_DIED"]
    assert [e.source for e in died] == [str(folder / victim)]
    assert "signal 9" in died[0].errors[0].message
    assert (len(started.read_text()) if started.exists() else 0) <= 1  # never scanned by a second worker
    assert [a.to_dict() for a in result.apps] == [a.to_dict() for a in reference.apps if not a.source.endswith(victim)]
    assert len(killed) == 1 and len(result.apps) == 4 and not multiprocessing.active_children()


def test_interrupt_keeps_what_finished_stops_workers_and_removes_temp_files(rp, tmp_path):
    seen = []

    def progress(name):
        seen.append(name)
        if len(seen) == 3:
            raise KeyboardInterrupt

    result = _scan(rp, [FIX / "containers" / "pull.tar.gz", FIX / "apks"],
                   pool_mod.Pool(2, tmp_dir=str(tmp_path / "pool")), tmp=tmp_path / "walk", progress=progress)
    assert result.interrupted
    assert 1 <= len(result.apps) + len(result.errors) <= 4  # what finished, in order, nothing invented
    assert not multiprocessing.active_children()
    assert not any((tmp_path / "pool").iterdir()) and not any((tmp_path / "walk").iterdir())


def test_sigterm_to_a_pooled_cli_scan_writes_reports_kills_workers_and_exits_130(tmp_path):
    import json
    import subprocess

    jsonl, report, tmp = tmp_path / "run.jsonl", tmp_path / "run.json", tmp_path / "tmp"
    inputs = [str(FIX / "apks")] * 60 + [str(FIX / "containers" / "pull.tar.gz")] * 20  # a few thousand inputs
    proc = subprocess.Popen([sys.executable, "-c", "from apkscan.cli import main; main()", "scan", *inputs,
                             "--jobs", "2", "--no-store", "-q", "--jsonl", str(jsonl), "--json", str(report),
                             "--tmp-dir", str(tmp)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    def records() -> int:  # app and error lines (custody lines come between them)
        text = jsonl.read_text() if jsonl.exists() else ""
        return text.count('{"type": "app"') + text.count('{"type": "error"')

    while time.monotonic() < deadline and records() < 5:
        time.sleep(0.05)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert children, "the pool has workers"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    doc = json.loads(report.read_text())
    assert doc["interrupted"] is True and 5 <= doc["counts"]["total"] < 60 * 27
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert lines[-1]["type"] == "end" and lines[-1]["interrupted"] is True
    assert sum(x["type"] in ("app", "error") for x in lines) == len(doc["apps"]) + len(doc["errors"])
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # workers killed and reaped
    assert not tmp.exists() or not any(tmp.rglob("*"))  # every spooled or copied file removed


def test_an_idle_worker_killed_between_inputs_is_replaced(rp):
    """The OOM killer may pick a worker while it waits: the next input goes to a new one."""
    killed = []

    def kill_others(pid, item):
        if not killed:  # after the first dispatch, kill every other (idle) worker of this process
            for child in multiprocessing.active_children():
                if child.pid != pid:
                    os.kill(child.pid, signal.SIGKILL)
                    child.join(10)  # dead before anything is sent to it
                    killed.append(child.pid)

    reference = _scan(rp, [FIX / "apks"])
    result = _scan(rp, [FIX / "apks"], pool_mod.Pool(2, on_dispatch=kill_others))
    assert killed and _doc(result) == _doc(reference)


class _CountingSource:
    """Many inputs (the same fixture APK, read in place); counts how far the pool has read."""

    description = "counting"

    def __init__(self, apk: Path, n: int):
        self.apk, self.n, self.taken = apk, n, 0

    def inputs(self):
        from apkscan.sources.interface import ScanInput

        for i in range(self.n):
            self.taken += 1
            yield ScanInput(str(self.apk), (f"copy-{i:03d}.apk",))


def test_the_source_is_read_at_most_a_bounded_window_ahead_of_the_results(rp):
    source = _CountingSource(FIX / "apks" / "v2-only.apk", 120)
    ahead = []
    result = scan([source], *rp, runner=pool_mod.Pool(2),
                  progress=lambda name: ahead.append(source.taken - len(ahead) - 1))
    assert [a.source for a in result.apps] == [f"copy-{i:03d}.apk" for i in range(120)]  # input order
    assert max(ahead) <= pool_mod.WINDOW * 2  # never more than WINDOW x jobs inputs read and not yet emitted


def test_pool_copies_stay_under_twice_the_tmp_limit_whatever_the_read_ahead(rp, tmp_path):
    """Members spooled from a tar.gz are moved to the pool; read-ahead (4 x jobs) must not pile
    up more than --tmp-limit there (plus the one member in transit)."""
    import io
    import tarfile

    apk = (FIX / "apks" / "v2-only.apk").read_bytes()
    archive = tmp_path / "pull.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(16):
            info = tarfile.TarInfo(f"apps/copy-{i:02d}.apk")
            info.size = len(apk)
            tar.addfile(info, io.BytesIO(apk))
    limit = 3 * len(apk)
    runner = pool_mod.Pool(2, tmp_dir=str(tmp_path / "pool"), tmp_limit=limit)
    result = _scan(rp, [archive], runner=runner, tmp=tmp_path / "walk")
    assert len(result.apps) == 16 and not result.errors
    assert 0 < runner.temp.peak < 2 * limit


def test_a_single_input_or_a_small_tail_is_scanned_without_starting_a_worker(rp, monkeypatch):
    started = []
    real = worker_mod.Worker.__init__
    monkeypatch.setattr(worker_mod.Worker, "__init__", lambda self, *a: started.append(1) or real(self, *a))
    one = _scan(rp, [FIX / "apks" / "v2-only.apk"], pool_mod.Pool(2))
    assert started == [] and _doc(one) == _doc(_scan(rp, [FIX / "apks" / "v2-only.apk"]))
    two = [FIX / "apks" / "v2-only.apk", FIX / "apks" / "v1-only.apk"]
    assert _doc(_scan(rp, two, pool_mod.Pool(2))) == _doc(_scan(rp, two)) and started == []  # 12 KB in all
    monkeypatch.setattr(pool_mod, "TAIL_BYTES", 1024)  # the same two, "too big" for the parent
    _scan(rp, two, pool_mod.Pool(2))
    assert started == [1, 1]
    _scan(rp, [FIX / "apks"], pool_mod.Pool(2))  # more than TAIL inputs
    assert started == [1, 1, 1, 1]
    _scan(rp, [FIX / "apks" / "v2-only.apk"], pool_mod.Pool(2, timeout=30))  # a time limit needs a process
    assert started == [1, 1, 1, 1, 1]


def _vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) << 10
    raise AssertionError("no VmSize")


def test_worker_memory_cap_turns_an_exhausting_input_into_its_error(rp, monkeypatch):
    """--worker-memory: the input that would take 2 GiB fails alone (MemoryError in its worker,
    recorded for it); the worker lives on and the other inputs are scanned."""
    real = pool_mod.scan_item

    def unit(item, settings):
        if getattr(item, "display", "").endswith("v1-only.apk"):
            hog = bytearray(2 << 30)  # what a memory bomb amounts to
            del hog
        return real(item, settings)

    monkeypatch.setattr(worker_mod, "_unit", unit)
    paths = [FIX / "apks" / n for n in ("v2-only.apk", "v1-only.apk", "v3-only.apk", "ec-v2v3.apk", "v1v2.apk")]
    capped = pool_mod.Pool(2, memory_limit=_vm_bytes() + (768 << 20))  # workers fork from this process
    result = _scan(rp, paths, capped)
    failed = {e.source: [i.code for i in e.errors] for e in result.errors}
    assert list(failed) == [str(FIX / "apks" / "v1-only.apk")], failed
    assert failed[str(FIX / "apks" / "v1-only.apk")] == ["INTERNAL_ERROR"]
    assert "MemoryError" in result.errors[0].errors[0].message
    assert sorted(a.source for a in result.apps) == sorted(str(p) for p in paths if p.name != "v1-only.apk")


_SLOW_CLI = """
import time
import apkscan.batch.worker as p
real = p._unit
p._unit = lambda item, settings: (time.sleep(3), real(item, settings))[1]
from apkscan.cli import main
main()
"""


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_end_with_a_parent_killed_by_sigkill(tmp_path):
    """Review 29 F5: a parent killed with SIGKILL (OOM killer, CI) left its workers alive for good:
    each held the parent's end of its own pipe (and earlier workers' ends), so recv never ended."""
    import subprocess

    cmd = [sys.executable, "-c", _SLOW_CLI, "scan", "-q", "-j2", "--no-store", "--jsonl", str(tmp_path / "o.jsonl"),
           str(FIX / "apks")]
    parent = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(workers := _children(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers) >= 2, "the pool started no workers"
        time.sleep(0.5)  # the workers are inside a (slow) task or waiting for the next
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers outlived their parent: {left}"
