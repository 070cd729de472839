"""A container's ZIP read as ``java.util.zip.ZipFile``, Python's ``zipfile`` and ``unzip`` read it (review 81).

F1: the end record. apksig and libziparchive take the one whose comment ends the file; ``ZipFile`` the
first one scanning back whose directory and first local header are signed where it says, ``zipfile``
the last signature. A clean bundle whose comment holds a TikTok bundle (then junk) was "allowed".
F2: a stored member whose central sizes differ: ``ZipFile``, ``zipfile``, unzip and 7z extract its
compressed size (TikTok), apkscan read the uncompressed one (TikTok + a v1 APK whose offsets count
it as a prefix: the clean app). F4: a deflated member declaring the wrong size: ``ZipFile`` and unzip
inflate to the stream's end (TikTok); apkscan gave only ``ZIP_ENTRY_SIZE_MISMATCH``.
Every input is built here from the fixtures; Python's ``zipfile`` (and ``ZipFile``, when a JVM is
installed) is the oracle on the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from apkscan.apk.io.bytesource import ByteSource

ROOT = Path(__file__).resolve().parents[1]
APKS = ROOT / "fixtures" / "apks"
TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
V1 = (APKS / "v1-only.apk").read_bytes()
OTHER_END, STORED, INFLATED = "TAMPER_ZIP_OTHER_END_RECORD", "TAMPER_STORED_SIZES_DIFFER", "TAMPER_INFLATED_SIZE_DIFFERS"
NEW = {OTHER_END, STORED, INFLATED}
TIKTOK_PKG = "com.zhiliaoapp.musically"

JAVA_READ = """
import java.util.zip.*; import java.security.*;
public class ZfRead { public static void main(String[] a) throws Exception {
  try (ZipFile z = new ZipFile(a[0])) { var e = z.getEntry("base.apk"); var in = z.getInputStream(e);
    var md = MessageDigest.getInstance("SHA-256"); byte[] b = new byte[8192]; int n;
    while ((n = in.read(b)) > 0) md.update(b, 0, n);
    System.out.println(java.util.HexFormat.of().formatHex(md.digest())); } } }
"""


def _java_base(path: Path) -> str | None:
    """SHA-256 of ``base.apk`` as ``java.util.zip.ZipFile`` reads it; None without a JVM."""
    if shutil.which("java") is None:
        return None
    src = path.parent / "ZfRead.java"
    src.write_text(JAVA_READ)
    done = subprocess.run(["java", str(src), str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def _apps(doc: dict) -> dict[tuple, str]:
    return {(a["package"], tuple(a["source"]["chain"][1:])): a["verdict"] for a in doc["apps"]}


def _all_codes(doc: dict) -> set[str]:
    return set(__import__("re").findall(r'"((?:TAMPER|ZIP|CONTAINER)_[A-Z0-9_]+)"', json.dumps(doc)))


def _container_codes(doc: dict) -> set[str]:
    return {i["code"] for e in doc["errors"] for i in e["errors"]}


def _app_tamper(doc: dict, package: str) -> list[set[str]]:
    return [{t["code"] for t in a["identity"]["tamper"]} for a in doc["apps"] if a["package"] == package]


# ---------------------------------------------------------------- F1: the end record

def comment_bundle(junk: bytes = b"\x00junk-after-end\x01") -> bytes:
    """A clean bundle whose end record's comment runs to the file's end and holds a TikTok bundle, then junk."""
    outer = bytearray(_zip([("base.apk", CLEAN)]))
    comment = _zip([("base.apk", TIKTOK)]) + junk
    struct.pack_into("<H", outer, len(outer) - 2, len(comment))
    return bytes(outer) + comment


def test_a_bundle_in_the_end_records_comment_is_read_as_zipfile_reads_it(scan_path, tmp_path):
    path = tmp_path / "app.apks"
    path.write_bytes(comment_bundle())
    assert zipfile.ZipFile(path).read("base.apk") == TIKTOK  # the oracle
    java = _java_base(path)
    assert java is None or java == hashlib.sha256(TIKTOK).hexdigest()
    doc = scan_path(path)
    element = "[end record java.util.zip and Python's zipfile read]"
    assert _apps(doc) == {("com.example.clean", ("base.apk",)): "allowed",
                          (TIKTOK_PKG, (element, "base.apk")): "prohibited"}
    assert OTHER_END in _container_codes(doc)  # said for the container, as for its other readings
    assert _picks(path) == ("another", "the same")


def _picks(path: Path) -> tuple[str, str]:
    """Where ZipFile and zipfile find the end record, beside apksig's: whether ZipFile's is apksig's, and
    whether zipfile's is ZipFile's."""
    from apkscan.sources import zip_ends_other as z

    with ByteSource(str(path)) as source:
        found = z.picks(source)
    return ("apksig's" if found[z.JAVA] == found["apksig"] else "another",
            "the same" if found[z.PYTHON] == found[z.JAVA] else "another")


def test_a_bundle_after_a_zip_and_junk_opens_only_their_way(scan_path, tmp_path):
    """No end record ends the file: apksig opens no ZIP (``ZIP_EOCD_NOT_FOUND`` before, TikTok never seen);
    ``ZipFile`` and ``zipfile`` take the TikTok bundle's record, its offsets moved by the clean ZIP's size."""
    padding = bytes((i * 7 + 3) % 256 for i in range(70000))  # the clean ZIP's record out of zipfile's reach
    junk = bytes((i * 13 + 5) % 251 for i in range(200))
    path = tmp_path / "pull.apks"
    path.write_bytes(_zip([("base.apk", CLEAN)]) + _zip([("base.apk", TIKTOK), ("assets.bin", padding)]) + junk)
    assert zipfile.ZipFile(path).read("base.apk") == TIKTOK
    java = _java_base(path)
    assert java is None or java == hashlib.sha256(TIKTOK).hexdigest()
    doc = scan_path(path)
    tiktok = [a for a in doc["apps"] if a["package"] == TIKTOK_PKG]
    assert [a["verdict"] for a in tiktok] == ["prohibited"]
    assert OTHER_END in _container_codes(doc)
    assert "they open no ZIP here" in next(i["message"] for e in doc["errors"] for i in e["errors"] if i["code"] == OTHER_END)


def test_zipfile_alone_may_take_another_record(scan_path, tmp_path):
    """A lone end record in the junk: Python's zipfile takes it (the last signature: an empty ZIP, nothing
    to read), ``ZipFile`` passes over it (no central directory where it says) to TikTok's."""
    path = tmp_path / "app.apks"
    path.write_bytes(comment_bundle(b"PK\x05\x06" + bytes(30)))
    assert zipfile.ZipFile(path).namelist() == []
    java = _java_base(path)
    assert java is None or java == hashlib.sha256(TIKTOK).hexdigest()
    doc = scan_path(path)
    assert _apps(doc)[(TIKTOK_PKG, ("[end record java.util.zip reads]", "base.apk"))] == "prohibited"
    assert _picks(path) == ("another", "another")


@pytest.mark.parametrize("name", ["app.apk", "app.apks"])
def test_an_apks_own_end_record_is_still_apksigs(scan_path, tmp_path, name):
    """An APK (its directory names AndroidManifest.xml) named as an APK is read as Android installs it, by
    apksig's end record alone; named as an archive SAI and bundletool open, its other record is read too."""
    outer = bytearray(CLEAN)
    comment = _zip([("base.apk", TIKTOK)]) + b"junk"
    assert outer[-22:-18] == b"PK\x05\x06" and outer[-2:] == b"\x00\x00"
    struct.pack_into("<H", outer, len(outer) - 2, len(comment))
    path = tmp_path / name
    path.write_bytes(bytes(outer) + comment)
    doc = scan_path(path)
    packages = sorted(a["package"] for a in doc["apps"])
    if name.endswith(".apk"):
        assert packages == ["com.example.clean"] and OTHER_END not in _all_codes(doc)
    else:
        assert packages == ["com.example.clean", TIKTOK_PKG] and OTHER_END in _container_codes(doc)


# ---------------------------------------------------------------- F2: a stored member's two sizes

def _single(name: bytes, method: int, data: bytes, csize: int, usize: int, crc: int) -> bytes:
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, csize, usize, len(name), 0) + name
    body = local + data
    cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, csize, usize, len(name),
                     0, 0, 0, 0, 0, 0) + name
    return body + cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), len(body), 0)


def stored_polyglot() -> bytes:
    """``base.apk`` stored: compressed size TikTok's, uncompressed size TikTok + a v1 APK whose offsets count
    TikTok as a prefix (so apkscan's reading before opened as the clean v1 app)."""
    clean, shift = bytearray(V1), len(TIKTOK)
    end = clean.rfind(b"PK\x05\x06")
    count, _size, cd = struct.unpack_from("<HII", clean, end + 10)
    pos = cd
    for _ in range(count):
        nlen, xlen, clen = struct.unpack_from("<HHH", clean, pos + 28)
        struct.pack_into("<I", clean, pos + 42, struct.unpack_from("<I", clean, pos + 42)[0] + shift)
        pos += 46 + nlen + xlen + clen
    struct.pack_into("<I", clean, end + 16, cd + shift)
    data = TIKTOK + bytes(clean)
    return _single(b"base.apk", 0, data, len(TIKTOK), len(data), zlib.crc32(TIKTOK))


def test_a_stored_member_is_read_at_both_sizes(scan_path, tmp_path):
    path = tmp_path / "app.apks"
    path.write_bytes(stored_polyglot())
    assert zipfile.ZipFile(path).read("base.apk") == TIKTOK  # the oracle reads the compressed size
    java = _java_base(path)
    assert java is None or java == hashlib.sha256(TIKTOK).hexdigest()
    doc = scan_path(path)
    apps = _apps(doc)
    assert apps[(TIKTOK_PKG, ("base.apk [compressed size java.util.zip reads]",))] == "prohibited"
    assert ("com.example.v1only", ("base.apk",)) in apps  # Android's reading, as before
    assert all(STORED in codes for codes in _app_tamper(doc, TIKTOK_PKG) + _app_tamper(doc, "com.example.v1only"))


def test_a_stored_member_whose_uncompressed_size_runs_past_the_end(scan_path, tmp_path):
    """The uncompressed size past the file's end: that reading fails (as before), ZipFile's is TikTok."""
    path = tmp_path / "pull.zip"
    path.write_bytes(_single(b"base.apk", 0, TIKTOK, len(TIKTOK), len(TIKTOK) + 50_000, zlib.crc32(TIKTOK)))
    doc = scan_path(path)
    assert _apps(doc) == {(TIKTOK_PKG, ("base.apk [compressed size java.util.zip reads]",)): "prohibited"}
    assert "ZIP_ENTRY_OUT_OF_RANGE" in _container_codes(doc)


# ---------------------------------------------------------------- F4: a deflated member's declared size

def deflated(declared: int, data: bytes = TIKTOK) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = c.compress(data) + c.flush()
    return _single(b"base.apk", 8, packed, len(packed), declared, zlib.crc32(data))


@pytest.mark.parametrize("declared", [100, 4000, 20000])
def test_a_deflated_member_is_read_to_its_streams_end(scan_path, tmp_path, declared):
    path = tmp_path / "app.apks"
    path.write_bytes(deflated(declared))
    java = _java_base(path)
    assert java is None or java == hashlib.sha256(TIKTOK).hexdigest()
    doc = scan_path(path)
    assert _apps(doc) == {(TIKTOK_PKG, ("base.apk",)): "prohibited"}
    (codes,) = _app_tamper(doc, TIKTOK_PKG)
    assert INFLATED in codes and "ZIP_ENTRY_SIZE_MISMATCH" not in _all_codes(doc)


def test_inflating_to_the_end_stays_within_the_budget(rules, policy, tmp_path):
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource
    from apkscan.sources.walker import WalkOptions

    path = tmp_path / "bomb.zip"
    path.write_bytes(deflated(1000, b"PK\x03\x04" + bytes(8 << 20)))  # 8 MiB (a ZIP's head: spooled) declared as 1,000
    options = WalkOptions(tmp_dir=str(tmp_path / "spool"), max_inflate=2 << 20)
    doc = scan([FileSource([str(path)], options)], rules, policy).to_dict()
    assert doc["apps"] == [] and "CONTAINER_INFLATE_LIMIT" in _container_codes(doc)


# ---------------------------------------------------------------- clean inputs: no new fact

def test_the_fixture_containers_and_backups_gain_no_such_fact(scan_path, tmp_path, monkeypatch):
    monkeypatch.setenv("APKSCAN_BACKUP_PASSWORD", "apkscan-test")
    for folder in (ROOT / "fixtures" / "containers", ROOT / "fixtures" / "backups"):
        doc = scan_path(folder)
        assert doc["apps"] and not NEW & _all_codes(doc), folder


def test_a_deflated_bundle_in_a_pull_says_its_size_for_itself(scan_path, tmp_path):
    """A member that is a container carries no app of its own: the fact, known once it was inflated,
    is said for the member (its apps are the bundle's)."""
    inner = _zip([("base.apk", TIKTOK)])
    path = tmp_path / "pull.zip"
    data = bytearray(deflated(100, inner))
    data[data.index(b"base.apk"):data.index(b"base.apk") + 8] = b"app.apks"  # renamed, same length
    data[data.rindex(b"base.apk"):data.rindex(b"base.apk") + 8] = b"app.apks"
    path.write_bytes(bytes(data))
    doc = scan_path(path)
    assert [a["verdict"] for a in doc["apps"] if a["package"] == TIKTOK_PKG] == ["prohibited"]
    said = {(tuple(e["source"]["chain"][1:]), i["code"]) for e in doc["errors"] for i in e["errors"]}
    assert (("app.apks",), INFLATED) in said
