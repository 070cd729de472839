"""Review 62 M2: every CSV row of an app found in a backup or acquisition folder names the hashed
file it came from (the folder itself has no custody record), and SARIF ties the same rows to the
same input file.

The AndroidQF and Neo Backup folders are the committed fixture layouts (``fixtures/backups/``),
copied and scanned for real; each custody hash is checked against the file's bytes on disk.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO

BACKUPS = FIXTURES / "backups"


def _scan(cwd: Path, *inputs: str) -> tuple[list[dict], dict, dict]:
    proc = subprocess.run([sys.executable, "-m", "apkscan", "scan", "--no-store", "-q", "--fail-on", "never",
                           "--csv", "r.csv", "--json", "r.json", "--sarif", "r.sarif", *inputs],
                          capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((cwd / "r.csv").open(encoding="utf-8-sig")))
    return rows, json.loads((cwd / "r.json").read_text()), json.loads((cwd / "r.sarif").read_text())


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    work = tmp_path / "ev"
    work.mkdir()
    for name in ("androidqf", "neo"):
        shutil.copytree(BACKUPS / name, work / name)
    return work


@pytest.mark.parametrize("given", [("androidqf", "neo"), ("androidqf/", "neo/")])
def test_every_app_row_from_a_backup_folder_names_its_hashed_file(evidence, given):
    rows, doc, _ = _scan(evidence, *given)
    custody = {f["path"]: f for f in doc["input_files"]}
    apps = [r for r in rows if r["verdict"] in ("prohibited", "review", "allowed")]
    assert len(apps) == len(doc["apps"]) >= 8
    for r in apps:
        f = custody[r["input_file"]]  # a hashed file of the run, not the folder
        assert (int(r["input_size"]), r["input_sha256"]) == (f["size"], f["sha256"])
        on_disk = evidence / r["input_file"]
        assert on_disk.is_file() and hashlib.sha256(on_disk.read_bytes()).hexdigest() == r["input_sha256"]
    named = {r["input_file"].rsplit("/", 1)[-1] for r in apps}
    assert {"backup.ab", "packages.json", "base.apk", "backup.properties"} <= named  # records and members too
    # an APK of apks/ names itself, with its own SHA-256
    for r in apps:
        if "/apks/" in r["input_file"]:
            assert r["input_sha256"] == r["apk_sha256"]


def test_sarif_ties_backup_folder_apps_to_the_same_hashed_files(evidence):
    rows, doc, sarif = _scan(evidence, "androidqf")
    run = sarif["runs"][0]
    arts = run["artifacts"]
    inputs = {f["path"] for f in doc["input_files"]}

    def root(i: int) -> dict:
        while "parentIndex" in arts[i]:
            i = arts[i]["parentIndex"]
        return arts[i]

    assert run["results"]
    for res in run["results"]:
        top = root(res["locations"][0]["physicalLocation"]["artifactLocation"]["index"])
        assert "hashes" in top and any(top["location"]["uri"].endswith(p.lstrip(".")) for p in inputs)
    assert not any(a["location"]["uri"].rstrip("/").endswith("/androidqf") for a in arts)  # no unhashed folder
