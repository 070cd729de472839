"""Issue 10 item 3: Ctrl-C and SIGTERM during a scan, in a real process.

The slow input is real: a folder of thousands of hard links to fixture APKs (no bytes
copied). The signal is sent once the scanner has an input of that folder open (seen in
``/proc/<pid>/fd``), so it lands inside the scan loop, not during start-up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import ROOT, evidence_unchanged, fixture, tree_hashes  # noqa: F401

pytestmark = [pytest.mark.usefixtures("evidence_unchanged"),
              pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")]
COPIES = 6000


def _slow_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    sources = [fixture("wechat-impostor.apk"), fixture("clean-v1v2v3.apk")]
    for i in range(COPIES):
        os.link(sources[i % 2], folder / f"app-{i:05d}.apk")
    return folder


def _wait_until_scanning(proc: subprocess.Popen, folder: Path, limit: float = 60.0) -> None:
    """Until the process has ``app-00020.apk`` or a later input open (inputs are read in name
    order): it is inside the scan loop with 20 inputs finished."""
    fd_dir = Path(f"/proc/{proc.pid}/fd")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"scan ended before the signal: {proc.communicate()}")
        try:
            targets = [os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)]
        except OSError:
            targets = []
        if any(t.startswith(str(folder)) and t >= str(folder / "app-00020.apk") for t in targets):
            return
        time.sleep(0.01)
    pytest.fail("the scan never opened an input")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_scan_writes_every_report_marked_interrupted_and_exits_130(tmp_path, signum):
    """Why #2: Ctrl-C printed "Aborted!", exited 1 (= prohibited found) and wrote no report."""
    folder = _slow_folder(tmp_path)
    before = tree_hashes(fixture("clean-v1v2v3.apk").parent)
    out = tmp_path / "out"
    paths = {f: out / f"r.{f}" for f in ("json", "html", "csv", "sarif")}
    args = [x for f, p in paths.items() for x in (f"--{f}", str(p))]
    proc = subprocess.Popen([sys.executable, "-m", "apkscan", "scan", str(folder), *args, "--no-color"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, NO_COLOR="1"))
    try:
        _wait_until_scanning(proc, folder)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Aborted!" not in stderr and "Traceback" not in stderr
    assert "interrupted:" in stderr
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert doc["interrupted"] is True
    assert 0 < len(doc["apps"]) + len(doc["errors"]) < COPIES  # what finished, not more
    assert doc["errors"] == [] and doc["counts"]["prohibited"] >= 1
    assert "Interrupted:" in paths["html"].read_text(encoding="utf-8")
    assert "INTERRUPTED" in stdout  # the terminal summary says so too
    assert paths["csv"].read_bytes().startswith(b"\xef\xbb\xbfverdict,")
    invocation = json.loads(paths["sarif"].read_text(encoding="utf-8"))["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["descriptor"]["id"] == "SCAN_INTERRUPTED"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())  # no temp files
    assert tree_hashes(fixture("clean-v1v2v3.apk").parent) == before
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "apkscan" / "report" / "schema" / "scan-result.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_interrupted_inspect_exits_130_with_what_finished(tmp_path):
    folder = _slow_folder(tmp_path)
    out = tmp_path / "inspect.json"
    proc = subprocess.Popen([sys.executable, "-m", "apkscan", "inspect", str(folder), "--json", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_scanning(proc, folder)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    done = json.loads(out.read_text())
    assert 0 < len(done) < COPIES


class _SpoolingSource:
    """A source that spools each APK to a temporary copy (as container sources do) and asks
    the scanner to delete it; its own ``finally`` records that it was closed."""

    description = "spooling test source"

    def __init__(self, apk: Path, spool: Path):
        self.apk, self.spool = apk, spool
        self.closed = False

    def inputs(self):
        from apkscan.sources.interface import ScanInput

        try:
            for n in range(1000):
                copy = self.spool / f"spooled-{n}.apk"
                copy.write_bytes(self.apk.read_bytes())
                yield ScanInput(path=str(copy), chain=("backup.tar", f"apps/{n}/base.apk"), cleanup=True)
        finally:
            self.closed = True


def test_sigterm_unwinds_through_source_cleanup_and_keeps_what_finished(tmp_path):
    """SIGTERM becomes KeyboardInterrupt: the spooled copy in flight is deleted, the source is
    closed, and the result holds the inputs that finished, marked interrupted."""
    from apkscan.cli.signals import sigterm_as_interrupt
    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import scan

    spool = tmp_path / "spool"
    spool.mkdir()
    source = _SpoolingSource(fixture("wechat-impostor.apk"), spool)
    seen = []

    def progress(name: str) -> None:  # called with the 6th spooled input in the scanner's hands
        seen.append(name)
        if len(seen) == 6:
            os.kill(os.getpid(), signal.SIGTERM)  # a real signal, handled right here

    previous = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        result = scan([source], load_ruleset(), load_policy(), progress=progress)
    assert signal.getsignal(signal.SIGTERM) is previous  # handler restored
    assert result.interrupted and result.to_dict()["interrupted"] is True
    assert len(result.apps) == 5 and all(a.verdict == "prohibited" for a in result.apps)
    assert source.closed
    assert list(spool.iterdir()) == []  # every spooled copy removed, including the one in flight
