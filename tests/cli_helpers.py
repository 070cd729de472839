"""Shared by the CLI tests: run apkscan for real, and prove the evidence was not touched.

``evidence_unchanged`` hashes every file under ``fixtures/`` before a test and checks the
bytes after it, so no command in the CLI suite may write over or into an input.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
APKS = FIXTURES / "apks"


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``root`` (a file alone: just it)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture
def evidence_unchanged():
    """Fail the test if any fixture file changed, appeared or vanished."""
    before = tree_hashes(FIXTURES)
    yield
    assert tree_hashes(FIXTURES) == before, "a command changed files under fixtures/"


def fixture(name: str) -> Path:
    path = APKS / name
    if not path.is_file():
        pytest.skip(f"fixture {name} not generated")
    return path


def copy(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fixture(name), dest)
    return dest


def invoke(*args: str) -> Result:
    from apkscan.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "apkscan", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120, **kwargs)


def scanned_document(tmp_path: Path, name: str = "scan.json") -> tuple[Path, dict]:
    """A scan of a prohibited WeChat APK and a clean one, as its JSON document (path, parsed)."""
    out = tmp_path / name
    res = run("scan", fixture("wechat-tencent-subject.apk"), fixture("clean-v1v2v3.apk"), "--no-store", "-q",
              "--json", out)
    assert res.returncode == 1, res.stderr
    return out, json.loads(out.read_text(encoding="utf-8"))


def planted_wechat(tmp_path: Path, name: bytes) -> Path:
    """A folder holding the WeChat fixture under the file name ``name`` (bytes: any, not only UTF-8)."""
    folder = tmp_path / "ev"
    folder.mkdir()
    shutil.copyfile(fixture("wechat-tencent-subject.apk"), os.path.join(os.fsencode(folder), name))
    return folder


def generate_module():
    """fixtures/generate.py, the APK builder and signer (skips the test without apksigner)."""
    if shutil.which("apksigner") is None:
        pytest.skip("apksigner not installed")
    sys.path.insert(0, str(FIXTURES))
    try:
        import generate
    finally:
        sys.path.remove(str(FIXTURES))
    return generate


def issue_codes(doc: dict) -> list[str]:
    """Every issue code of a scan document's input errors, in order."""
    return [i["code"] for e in doc["errors"] for i in e["errors"]]


def issue_messages(doc: dict) -> list[str]:
    """Every issue message of a scan document's input errors, in order."""
    return [i["message"] for e in doc["errors"] for i in e["errors"]]
