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


# ------------------------------------------------------------------ F1: a name listed twice
def test_androidqf_name_listed_twice_reads_every_record(run, tmp_path):
    """Extractors give the last record (WeChat); the first (the clean app) is read too, both flagged."""
    path = write_zip(tmp_path / "acq.zip", [("acquisition.json", ACQ_JSON.encode()), ("packages.json", b"[]"),
                                            ("getprop.txt", b"[ro.x]: [y]\n"),
                                            ("apks/com.example.clean.apk", CLEAN), ("apks/com.example.clean.apk", WECHAT)])
    assert zipfile.ZipFile(path).read("apks/com.example.clean.apk") == WECHAT  # what an examiner extracts
    doc = run(path)
    assert apps(doc) == {"com.tencent.mm": "prohibited", "com.example.clean": "allowed"}
    for app in doc["apps"]:
        assert "TAMPER_DUPLICATE_ENTRY" in {t["code"] for t in app["identity"]["tamper"]}


def test_neo_backup_name_listed_twice_reads_every_record(run, tmp_path):
    props = json.dumps({"packageName": "com.example.clean", "packageLabel": "Clean", "versionCode": 1}).encode()
    inst = "com.example.clean/2024-05-01-10-00-00-000-user_0"
    doc = run(write_zip(tmp_path / "neo.zip", [(f"{inst}.properties", props), (f"{inst}/base.apk", CLEAN),
                                               (f"{inst}/base.apk", TIKTOK)]))
    assert apps(doc)["com.zhiliaoapp.musically"] == "prohibited"
    assert "com.example.clean" in apps(doc)


def test_name_listed_twice_over_the_same_data_is_read_once(run, tmp_path):
    """Two records of one name pointing at one local header: one app, no flag (nothing differs)."""
    path = write_zip(tmp_path / "acq.zip", [("acquisition.json", ACQ_JSON.encode()), ("packages.json", b"[]"),
                                            ("apks/wechat.apk", WECHAT)])
    data = bytearray(path.read_bytes())
    eocd = data.rindex(b"PK\x05\x06")
    count, cd_size, cd_off = struct.unpack_from("<HII", data, eocd + 10)
    last = data.rindex(b"PK\x01\x02", cd_off, eocd)  # the WeChat record, repeated
    record = bytes(data[last:eocd])
    data[eocd:eocd] = record
    struct.pack_into("<HHII", data, eocd + len(record) + 8, count + 1, count + 1, cd_size + len(record), cd_off)
    path.write_bytes(bytes(data))
    doc = run(path)
    assert apps(doc) == {"com.tencent.mm": "prohibited"}
    assert not {t["code"] for t in doc["apps"][0]["identity"]["tamper"]} & {"TAMPER_DUPLICATE_ENTRY"}


# ------------------------------------------------------------------ F4: zipped on a Mac, by PowerShell 5.1
def _acquisition(top: str, mac: bool = False, backslash: bool = False) -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    """The fixture acquisition's records, WeChat and TikTok known from packages.json only."""
    files = {"acquisition.json": (ACQ / "acquisition.json").read_bytes(), "getprop.txt": (ACQ / "getprop.txt").read_bytes(),
             "packages.json": records("com.tencent.mm", "com.zhiliaoapp.musically"), "apks/clean.apk": CLEAN}
    out: list[tuple[str | zipfile.ZipInfo, bytes]] = []
    for rel, data in files.items():
        name = f"{top}/{rel}"
        if backslash:  # PowerShell 5.1 Compress-Archive: '\' separators, made by Windows (host 0)
            info = zipfile.ZipInfo(name.replace("/", "\\"), (2026, 11, 30, 0, 0, 0))
            info.create_system = 0
            out.append((info, data))
        else:
            out.append((name, data))
        if mac:
            folder, base = name.rsplit("/", 1)
            out.append((f"__MACOSX/{folder}/._{base}", APPLE_DOUBLE))
    return out


def test_androidqf_zipped_on_a_mac_is_the_acquisition(run, tmp_path):
    doc = run(write_zip(tmp_path / "acq.zip", _acquisition("0b6c", mac=True), zipfile.ZIP_DEFLATED))
    assert apps(doc) == {"com.tencent.mm": "prohibited", "com.zhiliaoapp.musically": "prohibited",
                         "com.example.clean": "allowed"}
    assert not codes(doc)  # the AppleDouble `._clean.apk` is no INPUT_NOT_AN_APK
    assert skips(doc)["macOS metadata (__MACOSX/ AppleDouble file), not scanned"] == 4


def test_macosx_file_that_is_no_apple_double_is_walked(run, tmp_path):
    members = _acquisition("0b6c", mac=True) + [("__MACOSX/0b6c/apks/._x.apk", WECHAT)]
    doc = run(write_zip(tmp_path / "acq.zip", members))
    assert any(a["source"]["chain"][-1] == "__MACOSX/0b6c/apks/._x.apk" and a["verdict"] == "prohibited"
               for a in doc["apps"])


def test_backup_app_zipped_on_a_mac_is_the_layout(run, tmp_path):
    props = json.dumps({"packageName": "com.zhiliaoapp.musically", "packageLabel": "TikTok", "versionCode": 1}).encode()
    inst = "NeoBackup/com.zhiliaoapp.musically/2024-05-01-10-00-00-000-user_0"
    doc = run(write_zip(tmp_path / "neo.zip", [(f"{inst}.properties", props), (f"{inst}/data.tar.gz", b"\x1f\x8b" + bytes(30)),
                                               ("__MACOSX/NeoBackup/._x", APPLE_DOUBLE)]))
    assert apps(doc) == {"com.zhiliaoapp.musically": "prohibited"}  # the record, read as Neo Backup's


def test_androidqf_zipped_by_powershell_is_the_acquisition(run, tmp_path):
    doc = run(write_zip(tmp_path / "acq.zip", _acquisition("0b6c", backslash=True), zipfile.ZIP_DEFLATED))
    assert apps(doc) == {"com.tencent.mm": "prohibited", "com.zhiliaoapp.musically": "prohibited",
                         "com.example.clean": "allowed"}
    clean = next(a for a in doc["apps"] if a["package"] == "com.example.clean")
    assert clean["source"]["chain"][-1] == "0b6c\\apks\\clean.apk"  # shown as stored, and said how it was read
    said = [t["message"] for t in clean["identity"]["tamper"] if t["code"] == "TAMPER_MEMBER_NAME"]
    assert len(said) == 1 and "read with '\\' as '/'" in said[0]


def test_powershell_macosx_apple_double_is_set_aside_by_its_name_as_read(run, tmp_path):
    """A DOS-host record ``__MACOSX\\...\\._clean.apk`` is set aside as ``__MACOSX/`` (its name read
    with '\\' as '/'), so its AppleDouble bytes are counted as macOS metadata, not walked by content
    as a file that is no APK."""
    info = zipfile.ZipInfo("__MACOSX\\0b6c\\apks\\._clean.apk", (2026, 11, 30, 0, 0, 0))
    info.create_system = 0
    doc = run(write_zip(tmp_path / "acq.zip", _acquisition("0b6c", backslash=True) + [(info, APPLE_DOUBLE)]))
    assert apps(doc) == {"com.tencent.mm": "prohibited", "com.zhiliaoapp.musically": "prohibited",
                         "com.example.clean": "allowed"}
    assert skips(doc)["macOS metadata (__MACOSX/ AppleDouble file), not scanned"] == 1
    assert "not an APK or a known container" not in skips(doc) and not codes(doc)


@pytest.mark.parametrize("host", [3, 11])
def test_backslash_names_from_other_hosts_stay_names(run, tmp_path, host):
    """unzip reads '\\' as a separator only in a record made on MS-DOS (host 0): on Unix (3) or
    NTFS (11) it is part of a name, for unzip and for apkscan."""
    members = [(info, data) for info, data in _acquisition("0b6c", backslash=True)]
    for info, _data in members:
        info.create_system = host
    doc = run(write_zip(tmp_path / "acq.zip", members))
    assert apps(doc) == {"com.example.clean": "allowed"}  # no layout: packages.json is a plain file


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


# ------------------------------------------------------------------ F10: a password-protected member
def _zipcrypto(data: bytes, password: bytes, crc: int) -> bytes:
    """Traditional PKWARE encryption (APPNOTE 6.1) of ``data``, its 12-byte header first."""
    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(c: int) -> None:
        keys[0] = zlib.crc32(bytes([c]), keys[0] ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = zlib.crc32(bytes([keys[1] >> 24]), keys[2] ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    for c in password:
        update(c)
    out = bytearray()
    for c in bytes(range(11)) + bytes([crc >> 24]) + data:
        k = keys[2] | 2
        out.append(c ^ (((k * (k ^ 1)) >> 8) & 0xFF))
        update(c)
    return bytes(out)


def _encrypted_zip(path: Path, name: str, data: bytes, method: int = 0,
                   others: list[tuple[str, bytes]] = ()) -> Path:
    """``others``, then ``name`` written encrypted: bit 0 set, its data ZipCrypto (``method`` 0) or
    opaque AES-like bytes (99)."""
    crc = zlib.crc32(data)
    body = _zipcrypto(data, b"infected", crc) if method == 0 else bytes(16) + zlib.compress(data)[::-1] + bytes(10)
    with zipfile.ZipFile(path, "w") as z:
        for other, content in others:
            z.writestr(other, content)
        z.writestr(name, body)
        local = z.getinfo(name).header_offset
    raw = bytearray(path.read_bytes())
    central = raw.rindex(b"PK\x01\x02")  # the last record: this member's
    for at, flag_at in ((local, 6), (central, 8)):
        struct.pack_into("<HH", raw, at + flag_at, 1, method)
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as z:  # what unzip and Python see: a password-protected member
        assert z.getinfo(name).flag_bits & 1
    return path


@pytest.mark.parametrize("name", ["wechat.apk", "614d5a807faf3d50"])
@pytest.mark.parametrize("method", [0, 99])
def test_encrypted_member_is_a_coded_error(run, tmp_path, name, method):
    doc = run(_encrypted_zip(tmp_path / "sample.zip", name, WECHAT, method))
    assert codes(doc) == {"CONTAINER_ENCRYPTED_MEMBER"}
    assert "encrypted" in doc["errors"][0]["errors"][0]["message"]
    assert not doc["skipped"] and not doc["apps"]


def test_encrypted_member_under_a_data_name_is_said(run, tmp_path):
    """An OBB of a bundle, AndroidQF's bugreport.zip: locked bytes may be anything, never 'data'."""
    src = zipfile.ZipFile(REPO / "fixtures" / "containers" / "clean.xapk")
    obb = next(i.filename for i in src.infolist() if i.filename.endswith(".obb"))
    others = [(i.filename, src.read(i.filename)) for i in src.infolist() if i.filename != obb]
    doc = run(_encrypted_zip(tmp_path / "app.xapk", obb, _zip_of("wechat.apk", WECHAT), others=others))
    assert codes(doc) == {"CONTAINER_ENCRYPTED_MEMBER"} and "OBB data, not an APK" not in skips(doc)
    others = [("acquisition.json", ACQ_JSON.encode()), ("packages.json", b"[]"), ("getprop.txt", b"[ro.x]: [y]\n")]
    doc = run(_encrypted_zip(tmp_path / "acq.zip", "bugreport.zip", _zip_of("wechat.apk", WECHAT), others=others))
    assert codes(doc) == {"CONTAINER_ENCRYPTED_MEMBER"}
    assert skips(doc)["AndroidQF acquisition file (not scanned)"] == 2


def test_forged_encryption_flag_on_a_plain_member_is_read(run, tmp_path):
    path = write_zip(tmp_path / "pull.zip", [("wechat.apk", WECHAT)])
    raw = bytearray(path.read_bytes())
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        raw[raw.index(sig) + at] |= 1
    path.write_bytes(bytes(raw))
    doc = run(path)
    assert apps(doc) == {"com.tencent.mm": "prohibited"}
    assert "TAMPER_ENCRYPTION_FLAG" in {t["code"] for t in doc["apps"][0]["identity"]["tamper"]}


# ------------------------------------------------------------------ F11: a folder record carrying data
def test_folder_record_carrying_data_is_scanned(run, tmp_path):
    doc = run(write_zip(tmp_path / "pull.zip", [("apps/", b""), ("wechat.apk/", WECHAT), ("clean.apk", CLEAN)]))
    assert apps(doc) == {"com.tencent.mm": "prohibited", "com.example.clean": "allowed"}


def test_folder_record_carrying_data_in_a_layout_is_scanned(run, tmp_path):
    doc = run(write_zip(tmp_path / "acq.zip", [("acquisition.json", ACQ_JSON.encode()), ("packages.json", b"[]"),
                                               ("apks/", b""), ("apks/wechat.apk/", WECHAT)]))
    assert apps(doc) == {"com.tencent.mm": "prohibited"}
