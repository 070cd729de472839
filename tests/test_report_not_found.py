"""Review 62 L3: ``apkscan report`` names a missing document with the code ``scan`` and
``inspect`` give a missing input (``INPUT_NOT_FOUND``), not with a bare OS message."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_report_of_a_missing_document_says_input_not_found(tmp_path):
    missing = tmp_path / "gone.json"
    proc = subprocess.run([sys.executable, "-m", "apkscan", "report", str(missing)], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and f"{missing}: INPUT_NOT_FOUND:" in proc.stderr
    scan = subprocess.run([sys.executable, "-m", "apkscan", "scan", "--no-store", "-q", "--json", "-", str(missing)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert '"INPUT_NOT_FOUND"' in scan.stdout
