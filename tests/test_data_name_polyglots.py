"""Review 60 F1: a signed APK behind a tar, gzip or JPEG head (offsets moved as ``zip -A`` moves them;
apksigner verifies it, prefix and all) under a name a backup layout skips as data (adb ``f/`` and
``shared/``, OAndBackup ``<pkg>.zip``, Neo ``data.tar.gz``, Swift ``.dat``, Titanium's data ``.tar.gz``,
AndroidQF ``command.log``, an XAPK's OBB) is looked at from its end as any file or member is: bytes in
place (a folder's file, a stored ZIP member) whatever their head, a stream (a deflated member, an adb
backup's member) when its head is one the walker knows, by a tail kept as it passes. Clean data
costs no spool and no second reading, and adds no record."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from backup_helpers import AbWriter, manifest
from conftest import prefixed_apk
from test_polyglot_members import Costs, codes, gzip_of, tampers
from test_polyglots import tar_of

from apkscan.scan import scan
from apkscan.sources import polyglot
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

REPO = Path(__file__).resolve().parents[1]
APKS, KEYS, BACKUPS = REPO / "fixtures" / "apks", REPO / "fixtures" / "keys", REPO / "fixtures" / "backups"
WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 490
POLYGLOT = "CONTAINER_POLYGLOT"
INSTANCE = "2024-05-01-10-00-00-000-user_0"
UUID = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> dict[str, bytes]:
    """WeChat behind a tar, a gzip stream and a JPEG head, signed after prefixing (Tencent-like key)."""
    out, base = {}, tmp_path_factory.mktemp("datapoly")
    for head, prefix in (("tar", tar_of([("readme.txt", b"hello\n")])), ("gzip", gzip_of(b"hello\n")), ("jpeg", JPEG)):
        unsigned, path = base / f"{head}-unsigned.apk", base / f"{head}.apk"
        unsigned.write_bytes(prefixed_apk(WECHAT, prefix))
        subprocess.run(["apksigner", "sign", "--key", str(KEYS / "tencent-like.pk8"), "--cert",
                        str(KEYS / "tencent-like.pem"), "--v4-signing-enabled", "false", "--out", str(path),
                        str(unsigned)], check=True, capture_output=True)
        subprocess.run(["apksigner", "verify", str(path)], check=True, capture_output=True)
        out[head] = path.read_bytes()
    return out


def _adb(root: Path, name: str, data: bytes) -> Path:
    out = io.BytesIO()
    with AbWriter(out) as w:
        w.add("apps/com.example.clean/_manifest", manifest("com.example.clean", 1, [], True))
        w.add("apps/com.example.clean/a/base.apk", CLEAN)
        w.add(name, data)
    path = root / "phone.ab"
    path.write_bytes(out.getvalue())
    return path


def _neo(root: Path, data: bytes) -> str:
    inst = root / "com.example.clean" / INSTANCE
    inst.mkdir(parents=True)
    props = {"packageName": "com.example.clean", "versionCode": 1}
    (inst.parent / f"{INSTANCE}.properties").write_text(json.dumps(props))
    (inst / "base.apk").write_bytes(CLEAN)
    (inst / "data.tar.gz").write_bytes(data)
    return f"com.example.clean/{INSTANCE}/data.tar.gz"


def _androidqf(root: Path, data: bytes) -> str:
    shutil.copytree(BACKUPS / "androidqf" / UUID, root / UUID)
    for apk in (root / UUID / "apks").iterdir():
        apk.unlink()
    (root / UUID / "backup.ab").unlink()
    (root / UUID / "apks" / "com.example.clean.apk").write_bytes(CLEAN)
    (root / UUID / "packages.json").write_text("[]")
    (root / UUID / "command.log").write_bytes(data)
    return f"{UUID}/command.log"


def _files(root: Path, files: dict[str, bytes], name: str) -> str:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return name


def _layout(place: str, root: Path, data: bytes) -> tuple[str, str]:
    """A backup folder of ``place`` with ``data`` under its data name: (that name, its skip reason)."""
    if place == "oandbackup":
        shutil.copytree(BACKUPS / "oandbackup", root, dirs_exist_ok=True)
        name = "com.example.clean/com.example.clean.zip"
        return _files(root, {name: data}, name), "app data archive (not scanned)"
    if place == "neo":
        return _neo(root, data), "app data archive (not scanned)"
    if place == "swift":
        return _files(root, {"com.example.clean.app": CLEAN, "com.example.clean.dat": data}, "com.example.clean.dat"), \
            "app data archive (not scanned)"
    if place == "titanium":
        props, name = b"app_label=Clean\napp_version_code=1\n", "com.example.clean-20240501-100000.tar.gz"
        return _files(root, {"com.example.clean-20240501-100000.properties": props, name: data}, name), \
            "app data archive (not scanned)"
    if place == "xapk":
        meta = json.dumps({"package_name": "com.example.clean", "split_apks": [{"file": "base.apk", "id": "base"}]})
        return _files(root, {"manifest.json": meta.encode(), "base.apk": CLEAN,
                             "Android/obb/com.example.clean/main.1.com.example.clean.obb": data},
                      "Android/obb/com.example.clean/main.1.com.example.clean.obb"), "OBB data, not an APK"
    return _androidqf(root, data), "AndroidQF acquisition file (not scanned)"


def _zip(root: Path, method: int, path: Path) -> Path:
    with zipfile.ZipFile(path, "w", method) as z:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(root).as_posix())
    return path


def build(place: str, packing: str, tmp_path: Path, data: bytes) -> tuple[Path, str, str]:
    """The input to scan, the data file's name in it, and the reason it is skipped under."""
    if place.startswith("adb"):
        name = "apps/com.example.clean/f/cache.bin" if place == "adb f/" else "shared/0/Download/notes.bin"
        return _adb(tmp_path, name, data), name, "app data (not scanned)" if place == "adb f/" else \
            "shared storage (not scanned)"
    root = tmp_path / "backup"
    root.mkdir()
    name, reason = _layout(place, root, data)
    if packing == "folder":
        return root, name, reason
    method = zipfile.ZIP_STORED if packing == "stored zip" else zipfile.ZIP_DEFLATED
    return _zip(root, method, tmp_path / ("backup.xapk" if place == "xapk" else "backup.zip")), name, reason


def run(rules, policy, tmp_path: Path, path: Path) -> dict:
    return scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()


PLACES = [("adb f/", "stream"), ("adb shared", "stream"),
          *[(p, k) for p in ("oandbackup", "neo", "swift", "titanium", "androidqf") for k in
            ("folder", "stored zip", "deflated zip")],
          ("xapk", "stored zip"), ("xapk", "deflated zip")]


def _in_place(packing: str) -> bool:
    return packing in ("folder", "stored zip")


def _apk_spools(place: str, packing: str) -> int:
    """The clean APK's own spool: streamed (a deflated member, an adb backup's), none in place; Titanium has none."""
    return 0 if _in_place(packing) or place == "titanium" else 1


@pytest.mark.parametrize("head", ["tar", "gzip", "jpeg"])
@pytest.mark.parametrize("place,packing", PLACES)
def test_signed_apk_behind_a_head_under_a_data_name_is_found(rules, policy, tmp_path, monkeypatch, signed,
                                                           place, packing, head):
    """Any head, in place (a folder's file, a stored member) or streamed, is looked at from its end, as
    ``apkscan scan`` reads the same bytes given alone (review 72 F3: a JPEG head in a stream too): the
    banned app is scanned, flagged as read two ways when the head is one the walker opens. A bundle's
    deflated OBB of a JPEG head is data by its first bytes, as the walker reads any deflated member."""
    path, name, reason = build(place, packing, tmp_path, signed[head])
    costs = Costs(monkeypatch)
    doc = run(rules, policy, tmp_path, path)
    found = [a for a in doc["apps"] if a["package"] == "com.tencent.mm"]
    if (place, packing, head) == ("xapk", "deflated zip", "jpeg"):
        assert found == [] and reason in [s["reason"] for s in doc["skipped"]]
        assert (costs.spools, costs.replays) == (_apk_spools(place, packing), 0)  # the data is not read again
        return
    (app,) = found
    assert (app["verdict"], app["identity"]["verified"]) == ("prohibited", True)
    assert app["source"]["chain"][1:] == [name]
    assert (POLYGLOT in tampers(app)) == (head != "jpeg")
    assert POLYGLOT not in codes(doc)  # said on the APK read from the end, not on the member again
    assert costs.replays == (1 if place.startswith("adb") else 0)  # an adb backup is read again up to it


def _photos() -> bytes:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        z.writestr("DCIM/photo.jpg", JPEG)
    return bio.getvalue()


CLEAN_DATA = {
    "tar.gz": gzip_of(tar_of([("files/notes.txt", b"shopping list\n" * 200)])),
    "tar": tar_of([("files/notes.txt", b"shopping list\n" * 200)]),
    "jpeg": JPEG + b"\x11" * 70_000,
    "tar then a zip of photos": prefixed_apk(_photos(), tar_of([("a.txt", b"a\n")])),
}


@pytest.mark.parametrize("data", sorted(CLEAN_DATA))
@pytest.mark.parametrize("place,packing", PLACES)
def test_clean_data_costs_no_spool_and_adds_no_record(rules, policy, tmp_path, monkeypatch, place, packing, data):
    """Real data (a tar.gz, a tar, a photo; a tar that ends in a ZIP of photos, which names no APK):
    still one skip under its reason, no error, nothing spooled or read again beyond the clean APK's
    own spool when it is streamed."""
    path, name, reason = build(place, packing, tmp_path, CLEAN_DATA[data])
    costs = Costs(monkeypatch)
    doc = run(rules, policy, tmp_path, path)
    assert [a["package"] for a in doc["apps"] if a["identity"]["origin"] == "apk"] == \
        ([] if place == "titanium" else ["com.example.clean"])
    assert doc["errors"] == []
    assert reason in [s["reason"] for s in doc["skipped"]]
    assert (costs.spools, costs.replays, costs.reinflated) == (_apk_spools(place, packing), 0, 0)


def test_read_again_bound_holds_for_data_names(rules, policy, tmp_path, signed):
    """Each adb data member read again replays the backup up to it: past MAX_READ_AGAIN, the rest are
    ``CONTAINER_POLYGLOT_UNREAD``, each named, never a silent skip."""
    out = io.BytesIO()
    n = polyglot.MAX_READ_AGAIN + 2
    with AbWriter(out) as w:
        for i in range(n):
            w.add(f"apps/com.example.clean/f/cache{i:02}.bin", signed["tar"])
    path = tmp_path / "phone.ab"
    path.write_bytes(out.getvalue())
    doc = run(rules, policy, tmp_path, path)
    assert len(doc["apps"]) == polyglot.MAX_READ_AGAIN
    unread = [e["source"]["chain"][-1] for e in doc["errors"] if polyglot.UNREAD in [i["code"] for i in e["errors"]]]
    assert unread == [f"apps/com.example.clean/f/cache{i:02}.bin" for i in range(polyglot.MAX_READ_AGAIN, n)]
