"""``--jobs``: a result the parent cannot read back costs its input an error, not the run (review 91 F1).

A worker sends its records pickled; the parent rebuilt them with ``conn.recv()`` and caught only
EOFError/OSError, so a record whose rebuilding raised (a bug, or MemoryError on a huge result)
escaped the pool: the run ended with a traceback, no report, and exit 1 ("an app is prohibited").
Real fixture APKs, real worker processes: the worker's ``_unit`` is replaced before the pool
forks, so the worker itself sends the record the parent cannot rebuild.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.batch import pool as pool_mod
from apkscan.batch import worker as worker_mod
from apkscan.cli import main

FIX = Path(__file__).resolve().parents[1] / "fixtures"
CLEAN = ("v2-only.apk", "clean-v1v2v3.apk", "v3-only.apk", "ec-v2v3.apk", "v1v2.apk")  # all allowed
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork-based pool tests")


def _refuse(*_args):
    raise ValueError("this record cannot be rebuilt")


class _Unrebuildable:
    """Pickles in the worker; rebuilding it in the parent raises."""

    def __reduce__(self):
        return (_refuse, ())


def _unit_sending_one_unreadable_result(victim: str):
    real = pool_mod.scan_item

    def unit(item, settings):
        if item.display.endswith(victim):
            return [_Unrebuildable()]
        return real(item, settings)
    return unit


def _scan_cli(folder: Path, out: Path, *extra: str):
    res = CliRunner().invoke(main, ["scan", str(folder), "-q", "--no-store", "--json", str(out), *extra])
    return res, (json.loads(out.read_text(encoding="utf-8")) if out.exists() else None)


def test_a_result_the_parent_cannot_rebuild_is_that_inputs_error_and_the_run_goes_on(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in CLEAN:
        shutil.copy(FIX / "apks" / name, folder / name)
    ref_res, reference = _scan_cli(folder, tmp_path / "ref.json", "--jobs", "1")
    assert ref_res.exit_code == 0 and len(reference["apps"]) == len(CLEAN)

    monkeypatch.setattr(worker_mod, "_unit", _unit_sending_one_unreadable_result("v3-only.apk"))
    res, doc = _scan_cli(folder, tmp_path / "pool.json", "--jobs", "2", "--jsonl", str(tmp_path / "pool.jsonl"))
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 3, res.output  # some inputs could not be scanned; the report is written
    assert doc is not None and doc["interrupted"] is False
    [err] = doc["errors"]
    assert err["source"]["path"].endswith("v3-only.apk")
    assert [e["code"] for e in err["errors"]] == ["INTERNAL_ERROR"]
    assert "could not be read" in err["errors"][0]["message"] and "ValueError" in err["errors"][0]["message"]
    others = [a for a in reference["apps"] if not a["source"]["path"].endswith("v3-only.apk")]
    assert doc["apps"] == others  # every other input scanned, in the same order
    lines = [json.loads(x) for x in (tmp_path / "pool.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[-1]["type"] == "end" and lines[-1]["counts"]["errors"] == 1
    assert not multiprocessing.active_children()
