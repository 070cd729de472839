"""A rule, indicator or policy file that is a named pipe is never waited on (review 91 C).

``--rules FIFO`` / ``--iocs FIFO`` with no writer blocked forever at the open (an evidence input's
FIFO was already refused: ``INPUT_NOT_A_FILE``). A pipe is opened without waiting for a writer: one
with none reads as empty at once (an empty file's error), one with a writer (``--rules <(...)``) is
read as a file is. A device or socket is refused unread (``RULES_NOT_A_FILE``). Each run is a real
process on a real ``os.mkfifo`` or ``os.pipe`` under a wall-clock timeout, so the old behaviour fails
the test instead of hanging it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apkscan.rules.yamlsrc import RuleError, read_document
from conftest import TEST_VENDOR_RULES

REPO = Path(__file__).resolve().parents[1]
APK = REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"
WAIT = 120  # seconds: a run takes ~2 s; only a blocked open reaches this

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")


def _run(*args: str, pass_fds: tuple[int, ...] = ()) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    try:
        return subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True,
                              timeout=WAIT, env=env, cwd=REPO, stdin=subprocess.DEVNULL, pass_fds=pass_fds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"apkscan {' '.join(args)} still waiting after {WAIT} s (a FIFO's open blocked)")


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "feed.fifo"
    os.mkfifo(path)  # no writer, ever
    return str(path)


@pytest.mark.parametrize("option, said", [("--rules", "RULES_INVALID"), ("--iocs", "RULES_IOC_NOT_JSON")])
def test_scan_does_not_wait_on_a_fifo_with_no_writer(fifo, option, said):
    """Read as empty at once: the empty file's error, exit 2."""
    res = _run("scan", "--no-store", "-q", option, fifo, str(APK))
    assert res.returncode == 2, res.stderr
    assert f"error: {said}: {fifo}:1:" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("args", [["{fifo}"], ["--iocs", "{fifo}"]])
def test_rules_lint_does_not_wait_on_a_fifo(fifo, args):
    res = _run("rules", "lint", *[a.format(fifo=fifo) for a in args])
    assert res.returncode == 2 and f": {fifo}:1:" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_a_pipe_with_a_writer_is_read_as_its_file_is(tmp_path):
    """``--rules <(...)``: the pack through a pipe loads as the same pack in a file does."""
    as_file = tmp_path / "testvendor.yaml"
    as_file.write_text(TEST_VENDOR_RULES, encoding="utf-8")
    listed = _run("rules", "list", "--rules", str(as_file))
    assert listed.returncode == 0 and "testvendor.clean" in listed.stdout, listed.stderr
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, TEST_VENDOR_RULES.encode())  # well under a pipe's buffer
        os.close(write_end)
        write_end = -1
        piped = _run("rules", "list", "--rules", f"/dev/fd/{read_end}", pass_fds=(read_end,))
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.replace(f"/dev/fd/{read_end}", str(as_file)) == listed.stdout


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
