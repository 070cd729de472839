"""Review 37 R2-5: ``python bench/bench_report.py`` ended in a traceback on a fresh clone (no
``../shared``): it imports the report tests' sample, which calls ``pytest.skip`` without the shared
vendor certificates. It now runs with the fixtures' test certificates standing in, and says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_RUN = """
import pathlib, runpy, sys
sys.path[:0] = [{root!r}, {tests!r}]
import test_report_doc
test_report_doc.VENDORS = pathlib.Path({missing!r})  # as on a fresh clone: no ../shared
sys.argv = ["bench_report.py", "--apps", "20"]
runpy.run_path({bench!r}, run_name="__main__")
"""


def test_bench_report_runs_without_the_shared_folder(tmp_path):
    code = _RUN.format(root=str(ROOT), tests=str(ROOT / "tests"), missing=str(tmp_path / "absent.json"),
                       bench=str(ROOT / "bench" / "bench_report.py"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "absent: the fixtures' test certificates stand in" in proc.stdout
    assert "| terminal |" in proc.stdout
