"""``--tmp-dir`` and ``TMPDIR`` are checked against the inputs like an output path (review 19 #6):
spooled APK copies and the private folder never go into evidence, and a ``--tmp-dir`` apkscan
created is removed afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from cli_helpers import FIXTURES, ROOT, run, tree_hashes


def _evidence(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    shutil.copyfile(FIXTURES / "containers" / "pull.tar.gz", ev / "pull.tar.gz")  # its APKs are spooled
    os.utime(ev, (1_000_000_000, 1_000_000_000))
    return ev


def _untouched(ev, before):
    assert tree_hashes(ev) == before and sorted(os.listdir(ev)) == ["pull.tar.gz"]
    assert os.stat(ev).st_mtime == 1_000_000_000


def test_a_tmp_dir_inside_or_equal_to_an_input_is_a_usage_error(tmp_path):
    ev = _evidence(tmp_path)
    before = tree_hashes(ev)
    for tmp in (ev / "tmp", ev):
        res = run("scan", ev, "--no-store", "-q", "--tmp-dir", tmp, "--json", tmp_path / "r.json")
        assert res.returncode == 2, res.stderr
        assert f"--tmp-dir {tmp}: is" in res.stderr and "evidence" in res.stderr
        _untouched(ev, before)
    assert not (tmp_path / "r.json").exists()


def test_tmpdir_in_the_environment_inside_an_input_is_a_usage_error(tmp_path):
    ev = _evidence(tmp_path)
    before = tree_hashes(ev)
    res = subprocess.run([sys.executable, "-m", "apkscan", "scan", str(ev), "--no-store", "-q"], capture_output=True,
                         text=True, cwd=ROOT, env=dict(os.environ, TMPDIR=str(ev)), timeout=120)
    assert res.returncode == 2 and f"TMPDIR={ev}: is the input" in res.stderr, res.stderr
    _untouched(ev, before)


def test_a_tmp_dir_apkscan_made_is_removed_after_the_run(tmp_path):
    ev = _evidence(tmp_path)
    made = tmp_path / "new" / "spool"
    res = run("scan", ev, "--no-store", "-q", "--jobs", "1", "--tmp-dir", made)
    assert res.returncode in (0, 1, 3) and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "mine"
    kept.mkdir()
    res = run("scan", ev, "--no-store", "-q", "--jobs", "1", "--tmp-dir", kept)
    assert res.returncode in (0, 1, 3) and kept.is_dir() and list(kept.iterdir()) == []


def test_the_default_temporary_folder_is_checked_too(tmp_path):
    """No TMPDIR: the folder tempfile would pick (here a writable TMP inside the evidence)."""
    ev = _evidence(tmp_path)
    before = tree_hashes(ev)
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP")}
    res = subprocess.run([sys.executable, "-m", "apkscan", "scan", str(ev), "--no-store", "-q"], capture_output=True,
                         text=True, cwd=ROOT, env=dict(env, TMP=str(ev)), timeout=120)
    assert res.returncode == 2 and f"TMP={ev}: is the input" in res.stderr, res.stderr
    _untouched(ev, before)


def test_inspect_checks_the_temporary_folder_too(tmp_path):
    """inspect spools the members of compressed containers as scan does (review 22 #3)."""
    ev = _evidence(tmp_path)
    before = tree_hashes(ev)
    res = subprocess.run([sys.executable, "-m", "apkscan", "inspect", str(ev)], capture_output=True,
                         text=True, cwd=ROOT, env=dict(os.environ, TMPDIR=str(ev)), timeout=120)
    assert res.returncode == 2 and f"TMPDIR={ev}: is the input" in res.stderr, res.stderr
    assert "set TMPDIR outside the inputs" in res.stderr and "Traceback" not in res.stderr
    _untouched(ev, before)
    res = subprocess.run([sys.executable, "-m", "apkscan", "inspect", str(ev)], capture_output=True,
                         text=True, cwd=ROOT, env=dict(os.environ, TMPDIR=str(tmp_path)), timeout=120)
    assert res.returncode in (0, 1) and "File: " in res.stdout, res.stderr  # outside the inputs: read as usual
    _untouched(ev, before)


def test_a_tmp_dir_through_a_link_and_dotdot_is_the_folder_the_system_names(tmp_path):
    """``link/../spool`` is ``spool`` beside the link's target: created, spooled into and removed
    there, not a folder made by its text beside the link (review 43 F7: every member an error)."""
    ev = _evidence(tmp_path)
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    res = run("scan", ev, "--no-store", "-q", "--jobs", "1", "--tmp-dir", f"{tmp_path}/link/../spool",
              "--json", tmp_path / "r.json")
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["apps"] and not doc["errors"], doc["errors"]
    assert not (tmp_path / "spool").exists() and not (tmp_path / "real" / "spool").exists()
