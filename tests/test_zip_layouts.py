"""ZIP records that are no plain name-to-file pair, in layouts and plain archives (review 54).

F1 a name listed twice, F4 a layout zipped on a Mac (``__MACOSX/``) or by PowerShell 5.1 (``\\``),
F6 a ZIP of APKs under a data name, F7 an AndroidQF acquisition known by ``acquisition.json``
alone, F10 a password-protected member, F11 a folder record carrying data. Every ZIP is built
here from the shipped fixture APKs; each banned app must be reported, or a coded error said.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
ACQ = REPO / "fixtures" / "backups" / "androidqf" / "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"
WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()
TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
ACQ_JSON = json.dumps({"uuid": "11111111-2222-3333-4444-555555555555", "androidqf_version": "1.7.0"})
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(32)


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(path: Path) -> dict:
        opts = WalkOptions(tmp_dir=str(tmp_path / "spool"))
        return scan([FileSource([str(path)], opts)], rules, policy).to_dict()
    return go


def apps(doc) -> dict[str, str]:
    return {a["package"]: a["verdict"] for a in doc["apps"]}


def codes(doc) -> set[str]:
    return {i["code"] for e in doc["errors"] for i in e["errors"]}


def skips(doc) -> dict[str, int]:
    return {s["reason"]: s["count"] for s in doc["skipped"]}


def write_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]], method=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members:
            with pytest.warns(UserWarning) if _dup(z, name) else _nothing():
                z.writestr(name, data)
    return path


def _dup(z: zipfile.ZipFile, name) -> bool:
    name = name.filename if isinstance(name, zipfile.ZipInfo) else name
    return name in z.NameToInfo


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def records(*packages: str) -> bytes:
    return json.dumps([{"name": p, "files": []} for p in packages]).encode()


# ------------------------------------------------------------------ F6: a ZIP of APKs under a data name
def _zip_of(name: str, data: bytes, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_obb_that_is_a_zip_of_apks_is_walked(run, tmp_path, method):
    src = zipfile.ZipFile(REPO / "fixtures" / "containers" / "clean.xapk")
    members = [(i.filename, _zip_of("wechat.apk", WECHAT) if i.filename.endswith(".obb") else src.read(i.filename))
               for i in src.infolist()]
    assert any(n.endswith(".obb") for n, _ in members)
    doc = run(write_zip(tmp_path / "app.xapk", members, method))
    assert apps(doc)["com.tencent.mm"] == "prohibited"
    assert "OBB data, not an APK" not in skips(doc)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_androidqf_bugreport_zip_holding_an_apk_is_walked(run, tmp_path, method):
    members = [("acquisition.json", ACQ_JSON.encode()), ("packages.json", b"[]"), ("getprop.txt", b"[ro.x]: [y]\n"),
               ("bugreport.zip", _zip_of("FS/data/app/wechat.apk", WECHAT))]
    doc = run(write_zip(tmp_path / "acq.zip", members, method))
    assert apps(doc) == {"com.tencent.mm": "prohibited"}


def test_real_bugreport_zip_stays_skipped(run, tmp_path):
    members = [("acquisition.json", ACQ_JSON.encode()), ("packages.json", b"[]"), ("getprop.txt", b"[ro.x]: [y]\n"),
               ("bugreport.zip", _zip_of("bugreport-2026.txt", b"== dumpstate ==\n" * 100))]
    doc = run(write_zip(tmp_path / "acq.zip", members, zipfile.ZIP_DEFLATED))
    assert skips(doc)["AndroidQF acquisition file (not scanned)"] == 3 and not doc["apps"]


# ------------------------------------------------------------------ F7: acquisition.json alone
def test_androidqf_known_by_acquisition_json_alone(run, tmp_path):
    doc = run(write_zip(tmp_path / "acq.zip", [("acquisition.json", ACQ_JSON.encode()),
                                               ("packages.json", records("com.zhiliaoapp.musically"))]))
    assert "ANDROIDQF_INVALID" not in codes(doc)
    assert apps(doc) == {"com.zhiliaoapp.musically": "prohibited"}


