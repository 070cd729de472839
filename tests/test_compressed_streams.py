"""Compressed layers read as gunzip, bunzip2 and unxz read them, and formats recognised but not
read (review 54 F5, F13): an intact APK followed by a few bytes is scanned and the bytes are said;
an lz4, lzip, compress, RAR or cpio file is a coded error, never a skip.

Every file is built here as real bytes (``gzip``, ``bz2``, ``lzma``, ``tarfile``; magic numbers
for the formats not read) and scanned end to end under the shipped rules.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import struct
from pathlib import Path

import pytest
from test_tar_streams import WECHAT, apps, codes, run, tar_of  # noqa: F401 (run: the fixture)

from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions


# ---------------------------------------------------------------- F5: trailing bytes after a compressed stream

@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_trailing_bytes_after_a_compressed_apk_keep_the_apk_and_are_said(run, kind):
    packed = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[kind](WECHAT)
    doc = run("wechat.apk.z", packed + b"JUNK" * 30)
    (app,) = doc["apps"]
    assert app["verdict"] == "prohibited" and app["sha256"] == hashlib.sha256(WECHAT).hexdigest()
    assert codes(doc) == ["CONTAINER_TRAILING_DATA"]
    assert f"120 bytes after the end of the {kind} stream" in doc["errors"][0]["errors"][0]["message"]


def test_frames_back_to_back_are_one_stream_and_a_cut_one_is_corrupt(run):
    half = len(WECHAT) // 2
    doc = run("wechat.apk.gz", gzip.compress(WECHAT[:half]) + gzip.compress(WECHAT[half:]))
    assert [a["sha256"] for a in doc["apps"]] == [hashlib.sha256(WECHAT).hexdigest()] and doc["errors"] == []
    doc = run("wechat.apk.gz", gzip.compress(WECHAT)[:-50])
    assert doc["apps"] == [] and codes(doc) == ["CONTAINER_CORRUPT"]
    doc = run("wechat.apk.xz", lzma.compress(WECHAT) + b"\0" * 8)  # xz stream padding: part of the format
    assert len(doc["apps"]) == 1 and doc["errors"] == []


def test_a_tar_gz_with_trailing_bytes_keeps_its_members(run):
    doc = run("pull.tar.gz", gzip.compress(tar_of([("wechat.apk", WECHAT)])) + b"\x00\x01garbage")
    assert apps(doc)["wechat.apk"]["verdict"] == "prohibited" and codes(doc) == ["CONTAINER_TRAILING_DATA"]


def titanium(tmp_path: Path, apk_gz: bytes) -> Path:
    """A Titanium Backup folder whose only APK file is ``com.tencent.mm-<md5>.apk.gz`` holding ``apk_gz``."""
    root = tmp_path / "TitaniumBackup"
    root.mkdir()
    md5 = hashlib.md5(WECHAT).hexdigest()
    (root / "com.tencent.mm-20240501-100000.properties").write_text(
        f"app_label=WeChat\napp_apk_md5={md5}\napp_gui_version_code=1\n")
    (root / f"com.tencent.mm-{md5}.apk.gz").write_bytes(apk_gz)
    return root


@pytest.mark.parametrize("shape", ["plain apk", "bzip2", "gzip with junk"])
def test_titanium_picks_the_codec_by_the_bytes(rules, policy, tmp_path, shape):
    """The ``.apk.gz`` suffix is a hint: a plain APK or a bzip2 stream under it is read, and bytes
    after the gzip stream are said; the verified APK is listed, not the weak record."""
    data = {"plain apk": WECHAT, "bzip2": bz2.compress(WECHAT), "gzip with junk": gzip.compress(WECHAT) + b"x" * 12}
    root = titanium(tmp_path, data[shape])
    doc = scan([FileSource([str(root)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()
    (app,) = doc["apps"]
    assert app["verdict"] == "prohibited" and app["identity"]["verified"]
    assert codes(doc) == (["CONTAINER_TRAILING_DATA"] if shape == "gzip with junk" else [])


# ---------------------------------------------------------------- F13: formats recognised, not read

@pytest.mark.parametrize("head,code", [
    (b"\x04\x22\x4d\x18\x64\x40\xa7", "CONTAINER_UNSUPPORTED_COMPRESSION"),  # lz4 frame
    (b"LZIP\x01\x0c", "CONTAINER_UNSUPPORTED_COMPRESSION"),
    (b"\x1f\x9d\x90", "CONTAINER_UNSUPPORTED_COMPRESSION"),  # compress (.Z), 16-bit codes, block mode
    (b"Rar!\x1a\x07\x01\x00", "INPUT_UNSUPPORTED_CONTAINER"),
    (b"070701", "INPUT_UNSUPPORTED_CONTAINER"),  # cpio newc
])
def test_archives_not_read_are_a_coded_error_in_a_folder_never_a_skip(rules, policy, tmp_path, head, code):
    folder = tmp_path / "pulls"
    folder.mkdir()
    (folder / "pull.bin").write_bytes(head + bytes(range(256)) * 8)
    doc = scan([FileSource([str(folder)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()
    assert codes(doc) == [code] and doc["skipped"] == []


def binary_cpio(members: list[tuple[str, bytes]], order: str) -> bytes:
    """An old binary cpio archive (``cpio -H bin``), its 16-bit words in ``order`` ('<' or '>')."""
    out = b""
    for ino, (name, data) in enumerate([*members, ("TRAILER!!!", b"")], 1):
        raw = name.encode() + b"\0"
        mode = 0o100644 if data else 0
        out += struct.pack(order + "13H", 0o070707, 0, ino, mode, 0, 0, 1, 0, 0, 0, len(raw),
                           len(data) >> 16, len(data) & 0xFFFF)
        out += raw + b"\0" * (len(raw) % 2) + data + b"\0" * (len(data) % 2)
    return out


@pytest.mark.parametrize("order", ["<", ">"])
def test_binary_cpio_is_a_coded_error_in_a_folder_never_a_skip(rules, policy, tmp_path, order):
    """The binary header (magic 0o070707 as a little- or big-endian word) is cpio too."""
    folder = tmp_path / "pulls"
    folder.mkdir()
    (folder / "pull.cpio").write_bytes(binary_cpio([("wechat.apk", WECHAT)], order))
    doc = scan([FileSource([str(folder)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()
    assert codes(doc) == ["INPUT_UNSUPPORTED_CONTAINER"] and doc["skipped"] == []
    assert "cpio" in doc["errors"][0]["errors"][0]["message"]


def test_two_cpio_magic_bytes_alone_are_no_cpio(rules, policy, tmp_path):
    """A file that merely starts with the binary magic, no header after it, is still skipped."""
    folder = tmp_path / "pulls"
    folder.mkdir()
    (folder / "data.bin").write_bytes(b"\xc7\x71" + bytes(range(1, 256)) * 8)
    doc = scan([FileSource([str(folder)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()
    assert codes(doc) == [] and [s["reason"] for s in doc["skipped"]] == ["not an APK or a known container"]

