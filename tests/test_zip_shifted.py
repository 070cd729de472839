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
    assert _codes(doc) == [SHIFTED]
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
    assert _codes(doc) == [SHIFTED, SHIFTED]


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
