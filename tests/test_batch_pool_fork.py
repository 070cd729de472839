"""``--jobs``: a worker process the system cannot start costs inputs errors, not the run (review 91 F6).

Under memory pressure (the OOM killer just took a worker) or at the process limit, ``fork`` fails
with EAGAIN/ENOMEM; the OSError from starting a worker escaped the pool and ended the run: a
traceback, no report. Here the fork itself is made to fail (``os.fork`` raises as the kernel's
refusal does) after the pool's first workers, or from the start; real fixture APKs, real worker
processes and a real SIGKILL of one of them.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.batch import worker as worker_mod
from apkscan.cli import main

FIX = Path(__file__).resolve().parents[1] / "fixtures"
CLEAN = ("v2-only.apk", "clean-v1v2v3.apk", "v3-only.apk", "ec-v2v3.apk", "v1v2.apk", "v1-only.apk")  # all allowed
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork-based pool tests")


def _forks_then_refuses(monkeypatch, allowed: int) -> None:
    """``os.fork`` as the kernel answers at its limit, after ``allowed`` forks."""
    real, done = os.fork, []

    def fork():
        if len(done) >= allowed:
            raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        done.append(1)
        return real()

    monkeypatch.setattr(os, "fork", fork)


def _killing_unit(victim: str):
    real = worker_mod.scan_item

    def unit(item, settings):
        if item.display.endswith(victim):
            os.kill(os.getpid(), 9)
        return real(item, settings)
    return unit


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in CLEAN:
        shutil.copy(FIX / "apks" / name, folder / name)
    return folder


def _scan_cli(folder: Path, out: Path, *extra: str):
    res = CliRunner().invoke(main, ["scan", str(folder), "-q", "--no-store", "--json", str(out), *extra])
    return res, (json.loads(out.read_text(encoding="utf-8")) if out.exists() else None)


def test_a_replacement_worker_that_cannot_be_forked_leaves_the_others_to_finish(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    ref_res, reference = _scan_cli(folder, tmp_path / "ref.json", "--jobs", "1")
    assert ref_res.exit_code == 0 and len(reference["apps"]) == len(CLEAN)
    monkeypatch.setattr(worker_mod, "_unit", _killing_unit("v3-only.apk"))
    _forks_then_refuses(monkeypatch, 2)  # the two workers start; the dead one's replacement cannot
    res, doc = _scan_cli(folder, tmp_path / "pool.json", "--jobs", "2")
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 3, res.output
    assert doc is not None and doc["interrupted"] is False
    [err] = doc["errors"]
    assert err["source"]["path"].endswith("v3-only.apk")
    assert [e["code"] for e in err["errors"]] == ["BATCH_WORKER_DIED"]
    others = [a for a in reference["apps"] if not a["source"]["path"].endswith("v3-only.apk")]
    assert doc["apps"] == others  # every other input scanned by the worker left, in order
    assert not multiprocessing.active_children()


def test_no_worker_that_can_be_forked_makes_each_input_an_error(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    _forks_then_refuses(monkeypatch, 0)
    lines = tmp_path / "pool.jsonl"
    # --timeout: inputs go to workers even when few (no small tail scanned in this process)
    res, doc = _scan_cli(folder, tmp_path / "pool.json", "--jobs", "2", "--timeout", "60", "--jsonl", str(lines))
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 3, res.output
    assert doc is not None and doc["apps"] == []
    assert sorted(Path(e["source"]["path"]).name for e in doc["errors"]) == sorted(CLEAN)
    for e in doc["errors"]:
        assert [i["code"] for i in e["errors"]] == ["BATCH_WORKER_START_FAILED"]
        assert "Resource temporarily unavailable" in e["errors"][0]["message"]
    stream = [json.loads(x) for x in lines.read_text(encoding="utf-8").splitlines()]
    assert stream[-1]["type"] == "end" and stream[-1]["counts"]["errors"] == len(CLEAN)
    assert not multiprocessing.active_children()
