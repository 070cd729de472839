"""A rule, indicator or policy file that is a named pipe is refused, never waited on (review 91 C).

``--rules FIFO`` / ``--iocs FIFO`` with no writer blocked forever at the open (an evidence input's
FIFO was already refused: ``INPUT_NOT_A_FILE``). Each run is a real process on a real
``os.mkfifo`` under a wall-clock timeout, so the old behaviour fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apkscan.rules.yamlsrc import RuleError, read_document

REPO = Path(__file__).resolve().parents[1]
APK = REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"
WAIT = 120  # seconds: a refusal takes ~2 s; only a blocked open reaches this

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    try:
        return subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True,
                              timeout=WAIT, env=env, cwd=REPO, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"apkscan {' '.join(args)} still waiting after {WAIT} s (a FIFO's open blocked)")


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "feed.fifo"
    os.mkfifo(path)  # no writer, ever
    return str(path)


@pytest.mark.parametrize("option", ["--rules", "--iocs"])
def test_scan_refuses_a_fifo_given_as_rules_or_indicators(fifo, option):
    res = _run("scan", "--no-store", "-q", option, fifo, str(APK))
    assert res.returncode == 2, res.stderr
    assert f"error: RULES_NOT_A_FILE: {fifo}: not a regular file" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("args", [["{fifo}"], ["--iocs", "{fifo}"]])
def test_rules_lint_refuses_a_fifo(fifo, args):
    res = _run("rules", "lint", *[a.format(fifo=fifo) for a in args])
    assert res.returncode == 2 and f"RULES_NOT_A_FILE: {fifo}" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_refused_unread():
    """A character device has no size to bound it (it was read up to the cap): refused unread."""
    with pytest.raises(RuleError) as got:
        read_document("/dev/zero")
    assert got.value.code == "RULES_NOT_A_FILE"


def test_a_regular_file_and_a_symlink_to_one_still_read(tmp_path):
    link = tmp_path / "tencent.yaml"
    link.symlink_to(REPO / "signatures" / "tencent.yaml")
    assert read_document(link).data == read_document(REPO / "signatures" / "tencent.yaml").data
