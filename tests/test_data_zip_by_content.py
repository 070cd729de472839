"""A ZIP skipped by its name as data holds an APK by content too (closing notes 15/16 leftover).

AndroidQF's ``bugreport.zip`` (or a backup's data ZIP) holding an APK under a data name (no ``.apk``
suffix: ``FS/data/app/.../base``) was judged by its entry names only, so the APK was never scanned.
Now an entry whose bytes are a ZIP is read as one (stored or deflated, nested ZIPs followed up to
``data_zip.LEVELS``), in place or as a stream, and the data ZIP is walked when one holds an APK: the APK
is scanned and reported at its place. Real bytes: the fixture APKs in ZIPs built here (Python's
``zipfile``, seekable and not: sizes in the local headers, or data descriptors).
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from backup_helpers import AbWriter, manifest
from zip_helpers import Unseekable

from apkscan.scan import scan
from apkscan.sources import data_zip
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

REPO = Path(__file__).resolve().parents[1]
APKS, BACKUPS = REPO / "fixtures" / "apks", REPO / "fixtures" / "backups"
TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
UUID = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"
HIDDEN = "FS/data/app/~~eHl6==/com.zhiliaoapp.musically-MTIz==/base"
REASON = "AndroidQF acquisition file (not scanned)"


def zip_of(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED, descriptors: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(Unseekable(out) if descriptors else out, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


def bugreport(apk_method: int = zipfile.ZIP_DEFLATED, descriptors: bool = False, nested: bool = False,
              apk: bytes = TIKTOK) -> bytes:
    text = [("version.txt", b"2.0\n"), ("main_entry.txt", b"bugreport-x.txt"),
            ("bugreport-x.txt", b"== dumpstate: 2026-11-30\n" * 400)]
    if apk_method == zipfile.ZIP_STORED and not descriptors:
        inner = zip_of([*text[:1], (HIDDEN, apk)], zipfile.ZIP_STORED)
    else:
        inner = None
    members = [*text, (HIDDEN, apk)]
    if nested:  # an OEM's bugreport: the real zip inside another
        return zip_of([("bugreport-oem.zip", zip_of(members, descriptors=descriptors))], descriptors=descriptors)
    if inner is not None:
        return inner
    return zip_of(members, apk_method, descriptors)


def androidqf(root: Path, report: bytes) -> Path:
    d = root / UUID
    shutil.copytree(BACKUPS / "androidqf" / UUID, d)
    (d / "backup.ab").unlink()
    (d / "bugreport.zip").write_bytes(report)
    return d


def zipped(folder: Path, out: Path, method: int) -> Path:
    with zipfile.ZipFile(out, "w", method) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, f"{folder.name}/{p.relative_to(folder).as_posix()}")
    return out


def run(rules, policy, tmp_path: Path, path: Path) -> dict:
    return scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()


def tiktoks(doc: dict) -> list[dict]:
    return [a for a in doc["apps"] if a["package"] == "com.zhiliaoapp.musically" and a["identity"]["origin"] == "apk"]


FORMS = {"deflated": {}, "stored": {"apk_method": zipfile.ZIP_STORED}, "descriptors": {"descriptors": True},
         "nested": {"nested": True}, "nested with descriptors": {"nested": True, "descriptors": True}}


@pytest.mark.parametrize("packing", ["folder", "stored zip", "deflated zip"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_apk_under_a_data_name_in_bugreport_zip_is_scanned(rules, policy, tmp_path, packing, form):
    path = androidqf(tmp_path / "acq", bugreport(**FORMS[form]))
    if packing != "folder":
        path = zipped(path, tmp_path / "acq.zip", zipfile.ZIP_STORED if packing == "stored zip" else zipfile.ZIP_DEFLATED)
    doc = run(rules, policy, tmp_path, path)
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited" and app["identity"]["verified"]
    chain = app["source"]["chain"]
    assert chain[-1] == HIDDEN and chain[-2 if "nested" not in form else -3].endswith("bugreport.zip")
    assert not [e for e in doc["errors"] if "bugreport" in " ".join(e["source"]["chain"])]


@pytest.mark.parametrize("packing", ["folder", "deflated zip"])
def test_clean_bugreport_stays_skipped(rules, policy, tmp_path, packing):
    """A bugreport holding text and a ZIP of no APK (an OEM's nested zip of logs) is data as before."""
    logs = zip_of([("FS/data/misc/logd/logcat", b"log line\n" * 1000), ("proto/x.pb", b"\x08\x01" * 50)])
    report = zip_of([("version.txt", b"2.0\n"), ("dumpstate_board.zip", logs), ("FS/data/misc/x.bin", logs)])
    path = androidqf(tmp_path / "acq", report)
    if packing != "folder":
        path = zipped(path, tmp_path / "acq.zip", zipfile.ZIP_DEFLATED)
    doc = run(rules, policy, tmp_path, path)
    assert not [a for a in doc["apps"] if "bugreport.zip" in " ".join(a["source"]["chain"])]
    assert [s for s in doc["skipped"] if s["reason"] == REASON and any("bugreport.zip" in x for x in s["examples"])]
    assert doc["errors"] == []


def test_adb_backup_data_zip_with_a_deflated_apk_under_a_data_name(rules, policy, tmp_path):
    """An adb backup's ``f/`` file that is a ZIP holding a deflated APK under a data name: seen as the
    stream passes (within the first 4 MiB), scanned at its place."""
    out = io.BytesIO()
    with AbWriter(out) as w:
        w.add("apps/com.example.clean/_manifest", manifest("com.example.clean", 1, [], True))
        w.add("apps/com.example.clean/a/base.apk", CLEAN)
        w.add("apps/com.example.clean/f/cache.bin", zip_of([("notes.txt", b"x\n"), ("blob", TIKTOK)]))
    path = tmp_path / "phone.ab"
    path.write_bytes(out.getvalue())
    doc = run(rules, policy, tmp_path, path)
    (app,) = tiktoks(doc)
    assert app["source"]["chain"][1:] == ["apps/com.example.clean/f/cache.bin", "blob"]
    assert app["verdict"] == "prohibited"


def test_levels_bound_the_look(rules, policy, tmp_path):
    """ZIPs nested deeper than ``data_zip.LEVELS`` inside the data ZIP are not followed: the data ZIP
    is walked and the walker says how deep it went (``CONTAINER_TOO_DEEP``), never a silent skip
    (review 67 F3)."""
    inner = zip_of([(HIDDEN, TIKTOK)])
    for i in range(data_zip.LEVELS):
        inner = zip_of([(f"level{i}.bin", inner)])
    doc = run(rules, policy, tmp_path, androidqf(tmp_path / "acq", inner))
    assert tiktoks(doc) == []
    assert "CONTAINER_TOO_DEEP" in [i["code"] for e in doc["errors"] for i in e["errors"]]
    assert not [s for s in doc["skipped"] if s["reason"] == REASON and any("bugreport.zip" in x for x in s["examples"])]
    inner = zip_of([(HIDDEN, TIKTOK)])
    for i in range(data_zip.LEVELS - 2):
        inner = zip_of([(f"level{i}.bin", inner)])
    doc = run(rules, policy, tmp_path / "b", androidqf(tmp_path / "acq2", inner))
    assert len(tiktoks(doc)) == 1
