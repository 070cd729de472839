"""The CI fuzz run: each atheris target, seeded and bounded by run count, in a subprocess.

Seeds are the signed fixtures and the hostile corpus; new inputs go to a temp folder so
the repository is never written. A crash makes libFuzzer exit non-zero and this test fail
with the target's output (save the reproducer as a hostile fixture: fuzz/README.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fuzz"))
RUNS, SEED = 4000, 20240601


@pytest.mark.parametrize("target", ["zip", "manifest", "identify", "sources"])
def test_fuzz_target_seeded_bounded_run(target, tmp_path):
    pytest.importorskip("atheris", reason="atheris not installed (pip install atheris)")
    from seeds import seed

    corpus = seed(target, tmp_path / "corpus")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / f"fuzz_{target}.py"), str(corpus),
         f"-runs={RUNS}", f"-seed={SEED}", "-max_len=70000", "-rss_limit_mb=1024",
         f"-artifact_prefix={tmp_path}/"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert f"Done {RUNS} runs" in proc.stderr
