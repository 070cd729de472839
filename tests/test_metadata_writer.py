"""Review 72 F6: a lease refused on one layout metadata file is that file's error, not the layout's.

Another process holding an AndroidQF ``packages.json`` open for writing dropped the whole
acquisition (the banned APKs in ``apks/``, ``backup.ab``) under one error naming the folder;
a Neo, OAndBackup or Titanium metadata file said ``INPUT_UNREADABLE`` instead of the stable
``INPUT_OPEN_FOR_WRITING``, and Titanium lost the package its ``.properties`` named; a Swift
``.app`` nobody could read gave a ``BACKUP_APK_PACKAGE_MISMATCH`` on its record. Now the file
gets its own error with its own code, and every other file of the layout is scanned as before.
Each case copies a fixture layout and holds one of its metadata files open for writing (a
plain ``O_WRONLY`` descriptor or a shared writable mapping), as another process would.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
from pathlib import Path

import pytest
from backup_helpers import BACKUPS, PASSWORD
from cli_helpers import invoke

from apkscan.apk.io import readonly

OPEN = "INPUT_OPEN_FOR_WRITING"
AQF = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"
pytestmark = pytest.mark.skipif(readonly._SETLEASE is None, reason="no file leases on this platform")

CASES = [
    ("androidqf", f"{AQF}/packages.json"),
    ("neo", "com.tencent.mm/2024-05-01-10-00-00-000-user_0.properties"),
    ("neo", "com.zhiliaoapp.musically/2024-05-02-11-00-00-user_0/backup.properties"),
    ("oandbackup", "com.example.clean/com.example.clean.log"),
    ("titanium", "com.zhiliaoapp.musically-20240502-110000.properties"),
    ("titanium", "com.tencent.mm-20240501-100000.properties"),
    ("swift", "com.tencent.mm.app"),
]


def _scan(tmp_path: Path, evidence: Path) -> tuple[int, dict]:
    out = tmp_path / "r.json"
    res = invoke("scan", "-q", "--force", "--no-store", "--jobs", "1", "--password", PASSWORD,
                 "--json", out, evidence)
    assert res.exit_code in (0, 1, 3), res.output
    return res.exit_code, json.loads(out.read_text())


def _errors(doc: dict) -> list[tuple[str, str, str]]:
    return sorted((e["source"]["chain"][-1], i["code"], i["severity"]) for e in doc["errors"] for i in e["errors"])


def _verdicts(doc: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for app in doc["apps"]:
        out.setdefault(app["verdict"], set()).add(app["package"])
    return out


def _origins(doc: dict, package: str) -> set[str]:
    return {a["identity"]["origin"] for a in doc["apps"] if a["package"] == package}


class _Writer:
    """Another process's hold on ``path`` for writing: a descriptor, or a shared writable mapping alone."""

    def __init__(self, path: Path, how: str):
        fd = os.open(path, os.O_WRONLY if how == "fd" else os.O_RDWR)
        self.fd, self.map = fd, None
        if how == "mapping":
            self.map = mmap.mmap(fd, os.path.getsize(path), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            os.close(fd)

    def close(self) -> None:
        if self.map is not None:
            self.map.close()
        else:
            os.close(self.fd)


@pytest.mark.parametrize("layout,held", CASES, ids=[f"{lay}:{Path(f).name}" for lay, f in CASES])
def test_a_metadata_file_open_for_writing_is_its_own_error_and_the_layout_is_still_read(tmp_path, layout, held):
    evidence = tmp_path / "ev" / layout
    shutil.copytree(BACKUPS / layout, evidence)
    _, before = _scan(tmp_path, evidence.parent)
    assert _errors(before) == []
    writer = _Writer(evidence / held, "fd")
    try:
        _, doc = _scan(tmp_path, evidence.parent)
    finally:
        writer.close()
    (said,) = _errors(doc)  # one error, on the held file (its chain's last name ends with its path)
    assert said[1:] == (OPEN, "error") and said[0].endswith(Path(held).name) and f"{layout}/{held}".endswith(said[0])
    # every banned package is still reported prohibited: from its APKs, or listed from what else names it
    assert _verdicts(doc).get("prohibited") == _verdicts(before).get("prohibited")
    assert _verdicts(doc).get("allowed", set()) <= _verdicts(before).get("allowed", set())


def test_androidqf_packages_json_held_by_a_mapping_keeps_the_apks_and_the_backup(tmp_path):
    """The acquisition's APKs are still read from apks/ and the TikTok record from backup.ab;
    the records that only packages.json held are what is missing, and the error says which file."""
    evidence = tmp_path / "ev" / "acq"
    shutil.copytree(BACKUPS / "androidqf", evidence)
    writer = _Writer(evidence / AQF / "packages.json", "mapping")
    try:
        code, doc = _scan(tmp_path, evidence.parent)
    finally:
        writer.close()
    (error,) = doc["errors"]
    assert error["source"]["chain"][-1] == f"{AQF}/packages.json" and error["code"] == OPEN
    assert "apk" in _origins(doc, "com.tencent.mm") and _origins(doc, "com.zhiliaoapp.musically")
    assert code == 1 and "prohibited" in {a["verdict"] for a in doc["apps"] if a["package"] == "com.tencent.mm"}
    assert not any(f["path"].endswith("packages.json") for f in doc["input_files"])  # never read: never hashed
    assert any(f["path"].endswith("backup.ab") for f in doc["input_files"])


def test_swift_app_file_nobody_could_read_is_no_swap(tmp_path):
    """The ``.splits`` holds another package's APK (the fixture's); with the ``.app`` unread, no APK
    of com.tencent.mm was scanned, but nothing says the ``.app`` held another: no tamper fact."""
    evidence = tmp_path / "ev" / "swift"
    shutil.copytree(BACKUPS / "swift", evidence)
    writer = _Writer(evidence / "com.tencent.mm.app", "mapping")
    try:
        _, doc = _scan(tmp_path, evidence.parent)
    finally:
        writer.close()
    assert _errors(doc) == [("com.tencent.mm.app", OPEN, "error")]
    assert _origins(doc, "com.tencent.mm") == {"listed"}
