"""Review 49 F7: reading evidence leaves its files' access times as they were.

The files are copies of real fixtures (APKs, a container holding an APK, backups, text
evidence, a split folder, an ``.idsig``) whose access time is set back before the scan, which a
plain read on a ``relatime`` mount would move; the test first proves that this folder's file
system does move it (else it is skipped: nothing to observe).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from cli_helpers import FIXTURES, invoke

OLD = 1_000_000_000  # 2001: older than every modification time below


def _age(root: Path) -> dict[str, float]:
    """Every file's and folder's access time set back (folders too: listing one moves it); listed
    first, then only ``stat`` is used, so the test itself lists no folder afterwards."""
    paths = [root, *root.rglob("*")]
    for path in paths:
        st = os.stat(path)
        os.utime(path, (OLD, st.st_mtime))
    return {str(p): os.stat(p).st_atime for p in paths}


def _atime_moves(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_bytes(b"x")
    os.utime(probe, (OLD, os.stat(probe).st_mtime))
    with open(probe, "rb") as fh:
        fh.read()
    moved = os.stat(probe).st_atime != OLD
    probe.unlink()
    return moved


@pytest.fixture
def evidence(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    if not _atime_moves(ev):
        pytest.skip("this file system does not update access times on read (noatime)")
    for name in ("clean-v1v2v3.apk", "wechat-impostor.apk", "v2-only.apk"):
        shutil.copy(FIXTURES / "apks" / name, ev / name)
    for name in ("clean.apkm", "pull.tar.gz", "deep.zip"):
        shutil.copy(FIXTURES / "containers" / name, ev / name)
    for name in ("adb-v5-compressed.ab", "pm-list-packages.txt", "dumpsys-package.txt"):
        shutil.copy(FIXTURES / "backups" / name, ev / name)
    shutil.copytree(FIXTURES / "backups" / "androidqf", ev / "androidqf")
    shutil.copytree(FIXTURES / "containers" / "splits", ev / "splits")
    return ev


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_scan_leaves_access_times_alone(evidence, tmp_path, jobs):
    before = _age(evidence)
    res = invoke("scan", str(evidence), "--no-store", "-q", "--jobs", jobs, "--json", str(tmp_path / "r.json"))
    assert res.exit_code in (0, 1, 3), res.output
    after = {p: os.stat(p).st_atime for p in before}
    assert {p for p in before if after[p] != before[p]} == set()
    assert len(before) > 12


def test_inspect_leaves_access_times_alone(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    if not _atime_moves(ev):
        pytest.skip("this file system does not update access times on read (noatime)")
    apk = ev / "a.apk"
    shutil.copy(FIXTURES / "apks" / "clean-v1v2v3.apk", apk)
    before = _age(ev)
    res = invoke("inspect", str(apk), "--json", str(tmp_path / "i.json"))
    assert res.exit_code in (0, 1), res.output
    assert {p: os.stat(p).st_atime for p in before} == before


def test_an_input_given_as_an_output_by_mistake_keeps_its_access_time(tmp_path):
    """Review 51 F3: ``scan --json a.apk b.apk`` is refused after reading a.apk's head (to say it is an
    APK), and ``--csv notes.txt`` after reading an existing file's head and tail: plain opens."""
    ev = tmp_path / "ev"
    ev.mkdir()
    if not _atime_moves(ev):
        pytest.skip("this file system does not update access times on read (noatime)")
    for name in ("a.apk", "b.apk"):
        shutil.copy(FIXTURES / "apks" / "clean-v1v2v3.apk", ev / name)
    shutil.copy(FIXTURES / "backups" / "pm-list-packages.txt", ev / "pm.txt")
    before = _age(ev)
    assert invoke("scan", "--no-store", "--json", str(ev / "a.apk"), str(ev / "b.apk")).exit_code == 2
    assert invoke("scan", "--no-store", "--csv", str(ev / "pm.txt"), str(ev / "b.apk")).exit_code == 2
    assert {p: os.stat(p).st_atime for p in before} == before
