"""Swift Backup: a package named by file names is listed unless an APK *read as* it was scanned
(review 69 F7).

The reader made the file-name record of ``<pkg>`` only when no ``<pkg>.app``/``.splits`` existed,
so TikTok's backup whose ``.app`` held another app's APK (swapped before the backup was handed
over) read as that clean app alone: ``allowed``, exit 0. Neo Backup, OAndBackup and Titanium
keep such a record; Swift now does too, and says the swap (``BACKUP_APK_PACKAGE_MISMATCH``).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from backup_helpers import APKS, BACKUPS, zip_folder

from apkscan.scan import RECORD_OF_SCANNED_APK, scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

TIKTOK = "com.zhiliaoapp.musically"


def _data_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(f"{TIKTOK}/f", "f")
    return out.getvalue()


def _swift(root: Path, files: dict[str, bytes]) -> Path:
    folder = root / "swift"
    folder.mkdir()
    for name, data in {f"{TIKTOK}.dat": _data_zip(), f"{TIKTOK}.xml": b"\x13\x37obfuscated", **files}.items():
        (folder / name).write_bytes(data)
    return folder


def _scan(rules, policy, tmp_path: Path, path: Path) -> dict:
    source = FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))
    return scan([source], rules, policy).to_dict()


def _apps(doc: dict) -> list[tuple[str, str, str, str]]:
    return sorted((a["source"]["chain"][-1].rsplit("/", 1)[-1], a["package"], a["identity"]["origin"], a["verdict"])
                  for a in doc["apps"])


def _codes(doc: dict) -> list[str]:
    return sorted(i["code"] for e in doc["errors"] for i in e["errors"])


def _skips(doc: dict) -> dict[str, int]:
    return {s["reason"]: s["count"] for s in doc["skipped"]}


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_a_swapped_app_file_does_not_hide_the_package_it_is_named_after(rules, policy, tmp_path, zipped):
    folder = _swift(tmp_path, {f"{TIKTOK}.app": (APKS / "clean-v1v2v3.apk").read_bytes()})
    path = folder
    if zipped:
        path = tmp_path / "swift.zip"
        path.write_bytes(zip_folder(folder))
    doc = _scan(rules, policy, tmp_path, path)
    assert _apps(doc) == [(f"{TIKTOK}.app", "com.example.clean", "apk", "allowed"),
                          (f"{TIKTOK}.dat", TIKTOK, "listed", "prohibited")]
    assert _codes(doc) == ["BACKUP_APK_PACKAGE_MISMATCH"]
    (error,) = doc["errors"]
    assert "com.example.clean" in error["message"] and error["errors"][0]["severity"] == "tamper"
    assert RECORD_OF_SCANNED_APK not in _skips(doc)


def test_a_splits_file_of_another_package_is_a_swap_too(rules, policy, tmp_path):
    splits = io.BytesIO()
    with zipfile.ZipFile(splits, "w", zipfile.ZIP_STORED) as z:
        z.writestr("base.apk", (APKS / "clean-v1v2v3.apk").read_bytes())
    doc = _scan(rules, policy, tmp_path, _swift(tmp_path, {f"{TIKTOK}.splits": splits.getvalue()}))
    assert (f"{TIKTOK}.dat", TIKTOK, "listed", "prohibited") in _apps(doc)
    assert _codes(doc) == ["BACKUP_APK_PACKAGE_MISMATCH"]


def test_the_apk_of_the_package_retires_its_record(rules, policy, tmp_path):
    """WeChat's own APK as ``com.tencent.mm.app``: listed once, as the APK; nothing said of a swap."""
    folder = tmp_path / "swift"
    folder.mkdir()
    for name in ("com.tencent.mm.app", "com.tencent.mm.xml"):
        (folder / name).write_bytes((BACKUPS / "swift" / name).read_bytes())
    doc = _scan(rules, policy, tmp_path, folder)
    assert [(a["package"], a["identity"]["origin"]) for a in doc["apps"]] == [("com.tencent.mm", "apk")]
    assert _skips(doc)[RECORD_OF_SCANNED_APK] == 1 and _codes(doc) == []


def test_an_unreadable_app_file_leaves_the_record_listed_without_a_swap(rules, policy, tmp_path):
    cut = (APKS / "clean-v1v2v3.apk").read_bytes()[:2000]
    doc = _scan(rules, policy, tmp_path, _swift(tmp_path, {f"{TIKTOK}.app": cut}))
    assert (f"{TIKTOK}.dat", TIKTOK, "listed", "prohibited") in _apps(doc)
    assert "BACKUP_APK_PACKAGE_MISMATCH" not in _codes(doc)  # nothing was read as another package
