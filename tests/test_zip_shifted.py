"""A container with bytes put before it, its offsets not moved (review 78 F3).

``cat prefix bundle.apks > x.apks`` leaves every offset of the bundle short by the prefix's size.
Android's libziparchive and apksig open such a file as no ZIP, but ``java.util.zip.ZipFile``
(bundletool, SAI and AppManager install split bundles through it) and Python's ``zipfile`` read it:
they take the central directory where it lies and move every offset by the difference. Before,
apkscan gave only an input error (or read the prefix as text) and never saw the WeChat bundle.
Each case is checked against ``zipfile`` and, where a JVM is installed, ``ZipFile`` on the same bytes.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = (ROOT / "fixtures" / "containers" / "wechat-sai.apks").read_bytes()
CLEAN = (ROOT / "fixtures" / "apks" / "clean-v1v2v3.apk").read_bytes()
SHIFTED = "TAMPER_ZIP_OFFSETS_SHIFTED"
LOCAL_ONLY = "TAMPER_CONTAINER_LOCAL_ONLY_ENTRY"


def _small_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "a decoy")
    return buf.getvalue()


PREFIXES = {
    "png-like junk": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20,
    "a small zip": _small_zip(),
    "a clean apk": CLEAN,
}

JAVA_LIST = """
import java.util.zip.*;
public class ZfList { public static void main(String[] a) throws Exception {
  try (ZipFile z = new ZipFile(a[0])) { var e = z.entries(); while (e.hasMoreElements()) System.out.println(e.nextElement().getName()); } } }
"""


def _codes(doc: dict) -> list[str]:
    return [i["code"] for e in doc["errors"] for i in e["errors"]]


def _java_names(path: Path) -> list[str] | None:
    if shutil.which("java") is None:
        return None
    src = path.parent / "ZfList.java"
    src.write_text(JAVA_LIST)
    done = subprocess.run(["java", str(src), str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("prefix", PREFIXES, ids=list(PREFIXES))
def test_a_bundle_behind_a_prefix_is_read_as_zipfile_reads_it(scan_path, tmp_path, prefix):
    path = tmp_path / "wechat.apks"
    path.write_bytes(PREFIXES[prefix] + BUNDLE)
    expected = sorted(zipfile.ZipFile(io.BytesIO(BUNDLE)).namelist())
    assert sorted(zipfile.ZipFile(path).namelist()) == expected  # Python's zipfile reads it (its concat)
    java = _java_names(path)
    assert java is None or sorted(java) == expected  # and so does java.util.zip.ZipFile
    doc = scan_path(path)
    assert {a["package"]: a["verdict"] for a in doc["apps"]} == {"com.tencent.mm": "prohibited"}
    # a ZIP's bytes first: ZipInputStream (SAI) reads their entries from byte 0 (review 80 F1), each a member
    assert _codes(doc) == [SHIFTED] + ([LOCAL_ONLY] if PREFIXES[prefix].startswith(b"PK\x03\x04") else [])
    assert f"{len(PREFIXES[prefix])} bytes before the ZIP" in doc["errors"][0]["errors"][0]["message"]
    assert [f["path"] for f in doc["input_files"]] == [str(path)]  # custody: the whole file, once
    assert doc["input_files"][0]["size"] == path.stat().st_size


def test_a_shifted_bundle_inside_a_zip_is_read_too(scan_path, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # stored: read in place, as a window
        z.writestr("pull/wechat.apks", PREFIXES["png-like junk"] + BUNDLE)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as z:  # deflated: spooled first
        z.writestr("pull/again.apks", PREFIXES["a small zip"] + BUNDLE)
    path = tmp_path / "pull.zip"
    path.write_bytes(buf.getvalue())
    doc = scan_path(path)
    assert sorted((a["source"]["chain"][1], a["verdict"]) for a in doc["apps"]) == [
        ("pull/again.apks", "prohibited"), ("pull/wechat.apks", "prohibited")]
    assert sorted(_codes(doc)) == [LOCAL_ONLY, SHIFTED, SHIFTED]  # the small zip's readme.txt: a stream reads it


def test_an_honest_container_and_an_apk_with_a_moved_prefix_carry_no_such_fact(scan_path, tmp_path):
    doc = scan_path(ROOT / "fixtures" / "containers" / "wechat-sai.apks")
    assert SHIFTED not in _codes(doc) and [a["verdict"] for a in doc["apps"]] == ["prohibited"]
    path = tmp_path / "self-extracting.zip"  # a prefix whose offsets were moved (zip -A): opens as written
    buf = io.BytesIO(PREFIXES["png-like junk"])
    buf.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buf, "a") as z:  # appending to non-ZIP bytes writes offsets past them
        z.writestr("base.apk", CLEAN)
    path.write_bytes(buf.getvalue())
    doc = scan_path(path)
    assert SHIFTED not in _codes(doc)
    assert [a["package"] for a in doc["apps"]] == ["com.example.clean"]


def test_bytes_whose_directory_is_not_where_the_shift_says_stay_an_error(scan_path, tmp_path):
    """Only a central record where the directory would lie makes the shifted reading: junk
    ending in a lone end record is still no ZIP."""
    end = b"PK\x05\x06" + b"\x00" * 4 + (1).to_bytes(2, "little") * 2 + (46).to_bytes(4, "little") + \
        (0).to_bytes(4, "little") + b"\x00\x00"
    path = tmp_path / "x.apk"
    path.write_bytes(b"\x00" * 500 + end)
    doc = scan_path(path)
    assert doc["apps"] == [] and SHIFTED not in _codes(doc)


# ---------------------------------------------------------------- two directories, read two ways

def _stored(name: bytes, data: bytes, at: int) -> tuple[bytes, bytes]:
    """A stored entry's local header + data, and its central record naming offset ``at``."""
    import struct
    import zlib

    crc = zlib.crc32(data)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0) + name + data
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data), len(data),
                          len(name), 0, 0, 0, 0, 0, at) + name
    return local, central


def two_directories(shown: bytes, hidden: bytes) -> bytes:
    """``base.apk`` = ``shown`` in the directory the end record names (libziparchive, apksig), and
    = ``hidden`` in the one right before the end record, read by ZipFile and zipfile with every
    offset moved by the first directory's size (both directories the same size)."""
    import struct

    local_a, _ = _stored(b"base.apk", shown, 0)
    at_b = len(local_a)
    local_b, _ = _stored(b"base.apk", hidden, at_b)
    _, cd_a = _stored(b"base.apk", shown, 0)
    _, cd_b = _stored(b"base.apk", hidden, at_b - len(cd_a))  # ZipFile adds len(cd_a) back
    off_a = len(local_a) + len(local_b)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd_b), off_a, 0)
    return local_a + local_b + cd_a + cd_b + end


def test_a_bundle_with_a_second_directory_zipfile_reads_is_read_both_ways(scan_path, tmp_path):
    tiktok = (ROOT / "fixtures" / "apks" / "tiktok-bytedance-subject.apk").read_bytes()
    path = tmp_path / "notes.apks"
    path.write_bytes(two_directories(CLEAN, tiktok))
    with zipfile.ZipFile(path) as z:  # the oracle: Python's zipfile, as ZipFile, reads the hidden base
        assert z.read("base.apk") == tiktok
    java = _java_names(path)
    assert java is None or java == ["base.apk"]
    doc = scan_path(path)
    got = {(a["package"], a["verdict"], len(a["source"]["chain"])) for a in doc["apps"]}
    assert any(p == "com.example.clean" and n == 2 for p, _v, n in got)  # the end record's directory, as before
    assert ("com.zhiliaoapp.musically", "prohibited", 3) in got  # ZipFile's directory, now read too
    # (the hidden base's local header is also read as ZipInputStream reads the stream: zip_local)
    assert any("[central directory java.util.zip reads]" in a["source"]["chain"]
               for a in doc["apps"] if a["package"] == "com.zhiliaoapp.musically")
    assert SHIFTED in _codes(doc) and doc["counts"]["total"] >= 2
