"""Detection by content: magic numbers and ZIP entry names, never file names."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from pathlib import Path

import pytest

from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.identify import identify
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.sources import detect, registry
from apkscan.sources.text_detect import looks_like_text_evidence

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
CONTAINERS = REPO / "fixtures" / "containers"


def names(path: Path) -> list[str]:
    with ByteSource(path) as src:
        return [e.name for e in ZipArchive.open(src).entries]


@pytest.mark.parametrize("file, kind", [
    ("bundletool.apks", detect.APKS_BUNDLETOOL), ("wechat-sai.apks", detect.APKS_SAI),
    ("clean.xapk", detect.XAPK), ("clean.apkm", detect.APKM), ("bomb.zip", detect.ZIP), ("deep.zip", detect.ZIP),
])
def test_zip_kind_of_each_bundle_fixture(file, kind):
    assert detect.zip_kind(names(CONTAINERS / file)) == kind


def test_an_apk_is_a_zip_with_a_manifest_whatever_else_it_holds():
    assert detect.zip_kind(names(APKS / "clean-v1v2v3.apk")) == detect.APK
    # a bundle's marker files inside an APK do not make it a bundle: the manifest decides
    assert detect.zip_kind(["toc.pb", "AndroidManifest.xml", "base.apk"]) == detect.APK
    # a manifest one folder down is not an APK's manifest
    assert detect.zip_kind(["app/AndroidManifest.xml", "notes.txt"]) == detect.ZIP


def test_heads_of_streams():
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        tf.addfile(tarfile.TarInfo("x"), io.BytesIO(b""))
    head = tar.getvalue()[:detect.HEAD_SIZE]
    assert detect.is_tar(head) and registry.stream_format(head).kind == "tar"
    assert registry.compression(gzip.compress(b"x")) == "gzip"
    assert registry.compression(bz2.compress(b"x")) == "bzip2"
    assert registry.compression(lzma.compress(b"x")) == "xz"
    assert registry.compression(b"\x28\xb5\x2f\xfd" + bytes(8)) == "zstd"
    assert registry.stream_format(b"7z\xbc\xaf\x27\x1c" + bytes(26)).kind == "7z"


def test_adb_backup_also_after_miui_junk_lines():
    assert registry.stream_format(b"ANDROID BACKUP\n5\n1\nnone\n").kind == "adb-backup"
    assert registry.stream_format(b"MIUI backup v2\nxx\nANDROID BACKUP\n5\n1\nnone\n").kind == "adb-backup"
    # the magic deep inside a text file is not a backup
    assert not detect.is_adb_backup(b"notes: " + b"x" * 300 + b"\nANDROID BACKUP\n")


def test_legacy_encrypted_apkm_and_what_must_not_look_like_it():
    assert detect.is_legacy_apkm((CONTAINERS / "legacy.apkm").read_bytes()[:detect.HEAD_SIZE])
    assert not detect.is_legacy_apkm((CONTAINERS / "clean.apkm").read_bytes()[:detect.HEAD_SIZE])
    assert not detect.is_legacy_apkm(b"\x00\x01" + b"\xff" * 200)  # absurd libsodium limits
    assert not detect.is_legacy_apkm(b"\x00\x03" + bytes(200))  # unknown algorithm


def test_text_evidence_hook():
    assert looks_like_text_evidence(b"package:/data/app/x/base.apk=com.tencent.mm\n")
    assert looks_like_text_evidence(b"Packages:\n  Package [com.tencent.mm] (1a2b):\n")
    assert not looks_like_text_evidence(b"this package: is a note\n")


def test_a_zip_named_txt_holding_an_apk_layout_is_an_apk(tmp_path):
    """Names are claims: bytes decide. An APK renamed .txt is still scanned as an APK."""
    p = tmp_path / "readme.txt"
    p.write_bytes((APKS / "clean-v1v2v3.apk").read_bytes())
    assert detect.zip_kind(names(p)) == detect.APK


def test_window_of_a_stored_zip_member_reads_exactly_like_the_extracted_apk(tmp_path):
    apk = (APKS / "rotated-lineage.apk").read_bytes()
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("pad.txt", b"x" * 1000)
        z.writestr(zipfile.ZipInfo("in/app.apk"), apk)  # stored
        z.comment = b"outer archive comment"
    with ByteSource(outer) as src:
        arc = ZipArchive.open(src)
        entry = arc.entry("in/app.apk")
        offset = arc.data_offset(entry)
    (tmp_path / "app.apk").write_bytes(apk)
    whole = identify(tmp_path / "app.apk")
    window = identify(outer, offset=offset, length=len(apk))
    assert window.verified and whole.verified
    assert window.file.sha256 == whole.file.sha256
    assert [c.sha256 for c in window.verification.signers] == [c.sha256 for c in whole.verification.signers]
    assert [n.certificate.sha256 for n in window.verification.lineage] == [n.certificate.sha256 for n in whole.verification.lineage]
    # one byte less: the window no longer ends with the APK's EOCD; an error, not a crash
    short = identify(outer, offset=offset, length=len(apk) - 1)
    assert not short.verified and short.errors
    # a window past the end of the file is refused cleanly
    bad = identify(outer, offset=offset, length=10**9)
    assert [i.code for i in bad.errors] == ["INPUT_UNREADABLE"]


def test_window_ignores_an_idsig_beside_the_container(tmp_path):
    apk = (APKS / "v2-only.apk").read_bytes()
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr(zipfile.ZipInfo("app.apk"), apk)
    (tmp_path / "outer.zip.idsig").write_bytes(b"garbage v4 signature")
    with ByteSource(outer) as src:
        arc = ZipArchive.open(src)
        off = arc.data_offset(arc.entry("app.apk"))
    ident = identify(outer, offset=off, length=len(apk))
    assert ident.verified
    assert not ident.verification.schemes["v4"].present
