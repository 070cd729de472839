"""A central-directory record past the EOCD's count (review 76 F3).

A v1-signed APK gets one more record named AndroidManifest.xml, holding WeChat's manifest: its local
header and data go before the central directory, the record after the counted ones, the EOCD's CD
size grows, its count does not. apksig and Android read the counted records (apksigner verifies the
file, aapt reads the first package); Python's zipfile reads records by the CD's size and androguard
(apkInspector) until the signature stops: both read WeChat. androguard reads on past the CD's end:
a record between it and the EOCD is its manifest too. apkscan matches those readings.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zipfile
import zlib

import pytest

from apkscan.apk.io import zip_trailing, zipreader
from apkscan.apk.io.bytesource import BytesSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import LimitExceeded
from cli_helpers import generate_module
from conftest import APKS

NOTES, WECHAT = "com.example.notes", "com.tencent.mm"
NAME = b"AndroidManifest.xml"


def _signed_notes(tmp_path) -> bytes:
    """Notes, v1-signed only (v1 covers entries by name, never the central directory's bytes; target 29: a
    higher target needs v2)."""
    gen = generate_module()
    return gen.sign(gen.build_unsigned(gen.App(NOTES, "Notes", target_sdk=29)), tmp_path, ["test-rsa"],
                    v1=True, v2=False, v3=False, min_sdk=21)


def _past_count(apk: bytes, payloads: list[bytes], junk: bytes = b"", grow: bool = True) -> bytes:
    """``apk`` with one stored record named AndroidManifest.xml per payload past the EOCD's count
    (then ``junk``), the CD size grown to hold them (``grow``; else they lie between the central
    directory and the EOCD), the count unchanged."""
    eocd = apk.rfind(b"PK\x05\x06")
    head = struct.unpack_from("<IHHHH", apk, eocd)
    cd_size, cd_offset = struct.unpack_from("<II", apk, eocd + 12)
    locals_, records, at = b"", b"", cd_offset
    for data in payloads:
        crc = zlib.crc32(data)
        locals_ += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data),
                               len(NAME), 0) + NAME + data
        records += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, len(data), len(data),
                               len(NAME), 0, 0, 0, 0, 0o644 << 16, at) + NAME
        at = cd_offset + len(locals_)
    cd = apk[cd_offset : cd_offset + cd_size] + records + junk
    end = struct.pack("<IHHHHIIH", *head, len(cd) if grow else cd_size, cd_offset + len(locals_), 0)
    return apk[:cd_offset] + locals_ + cd + end


def _wechat_manifest() -> bytes:
    generate_module()
    import axml_writer

    return axml_writer.manifest(WECHAT, label="WeChat")


def _androguard_package(path) -> str:
    from androguard.core.apk import APK
    from loguru import logger

    logger.disable("androguard")
    return APK(str(path)).get_package()


def _app(doc: dict) -> dict:
    (app,) = doc["apps"]
    return app


def _message(app: dict, code: str) -> str:
    return next(t["message"] for t in app["identity"]["tamper"] if t["code"] == code)


VERIFICATION = ("verified", "verified_using", "verified_sdk_range", "schemes", "signers", "lineage")


@pytest.mark.parametrize("junk, grow", [(b"", True), (b"\0" * 8, True), (b"", False)],
                         ids=["zipfile-and-androguard", "androguard-only", "after-the-cd-end"])
def test_wechat_past_the_eocd_count_is_matched(scan_path, tmp_path, junk, grow):
    signed = _signed_notes(tmp_path)
    original, path = tmp_path / "notes.apk", tmp_path / "past-count.apk"
    original.write_bytes(signed)
    path.write_bytes(_past_count(signed, [_wechat_manifest()], junk, grow))
    from apksigner_helper import apksigner_verify

    got = apksigner_verify(path, min_sdk=21)
    assert got["verified"] and got["schemes"].get("v1"), got  # apksig reads the counted records only
    if shutil.which("aapt"):
        aapt = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True, text=True, check=False)
        assert f"package: name='{NOTES}'" in aapt.stdout
    assert _androguard_package(path) == WECHAT  # apkInspector reads records until the signature stops
    if junk:  # bytes in the central directory that are no record: zipfile refuses the archive
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(path)
    elif not grow:  # zipfile reads the CD's size of bytes before the EOCD: the manifest is not found there
        with pytest.raises(zipfile.BadZipFile), zipfile.ZipFile(path) as z:
            z.read("AndroidManifest.xml")
    else:  # zipfile reads records by the CD's size, and the last AndroidManifest.xml
        with zipfile.ZipFile(path) as z:
            assert WECHAT.encode("utf-16-le") in z.read("AndroidManifest.xml")
    app, before = _app(scan_path(path)), _app(scan_path(original))
    assert app["identity"]["package"] == NOTES
    assert {r["value"] for r in app["identity"]["package_readings"]} == {NOTES, WECHAT}
    assert any(f["rule"] == "tencent.wechat" and f["kind"] == "app" for f in app["findings"]), app["findings"]
    assert app["verdict"] != "allowed" and before["verdict"] == "allowed"
    readers = "Python's zipfile and androguard read it" if grow and not junk else "androguard reads it"
    assert f"past the EOCD's count of records: {readers}, apksig and Android do not" in \
        _message(app, "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE")
    if grow:
        assert "1 more record past the EOCD's count, read by" in _message(app, "TAMPER_CD_TRAILING_DATA")
    else:  # apkInspector reads on past the CD's end while the record signature holds
        assert "1 more record past the EOCD's count after the central directory's end, read by androguard" in \
            _message(app, "TAMPER_DATA_BEFORE_EOCD")
    assert app["identity"]["verified"] and {k: app["identity"][k] for k in VERIFICATION} == \
        {k: before["identity"][k] for k in VERIFICATION}


def test_records_past_the_count_are_no_entries(tmp_path):
    signed = _signed_notes(tmp_path)
    archive = ZipArchive.open(BytesSource(_past_count(signed, [_wechat_manifest(), b"x"])))
    plain = ZipArchive.open(BytesSource(signed))
    assert [e.name for e in archive.entries] == [e.name for e in plain.entries]
    assert archive.entry("AndroidManifest.xml").local_header_offset == plain.entry("AndroidManifest.xml").local_header_offset
    assert [e.index for e in archive.trailing] == [len(plain.entries), len(plain.entries) + 1]
    assert all(e.zipfile_reads for e in archive.trailing)
    assert WECHAT.encode("utf-16-le") in archive.read(archive.trailing[0], 1 << 20)


@pytest.mark.parametrize("grow", [True, False], ids=["in-the-cd", "after-the-cd-end"])
def test_records_past_the_count_are_capped_never_an_error(scan_path, tmp_path, monkeypatch, grow):
    """Review 77 F1: more records past the count than a reader may hold ended the read with
    ZIP_TOO_MANY_ENTRIES (or ZIP_CD_TOO_LARGE after the CD's end): a verified banned app became a
    bare error with no package and no verdict. Now the read stops at the cap, the app stays whole
    and the records not read are a reading of unknown value: review."""
    signed = _signed_notes(tmp_path)
    monkeypatch.setattr(zip_trailing, "MAX_TRAILING", 3)
    path = tmp_path / "many.apk"
    path.write_bytes(_past_count(signed, [b"a", b"b", b"c", b"d", _wechat_manifest()], grow=grow))
    archive = ZipArchive.open(BytesSource(path.read_bytes()))
    assert len(archive.trailing) == 3 and archive.trailing_capped
    assert [e.name for e in archive.entries] == [e.name for e in ZipArchive.open(BytesSource(signed)).entries]
    app = _app(scan_path(path))
    assert app["identity"]["package"] == NOTES and app["identity"]["verified"]
    assert "?" in {r["value"] for r in app["identity"]["package_readings"]}
    assert app["verdict"] == "review"
    assert any(f["rule"] == "apkscan.manifest-ambiguity" for f in app["findings"])
    where = "TAMPER_CD_TRAILING_DATA" if grow else "TAMPER_DATA_BEFORE_EOCD"
    assert "more past the first 3, not read" in _message(app, where)


def test_200001_records_past_the_count_keep_a_banned_app_prohibited(scan_path, tmp_path):
    """The reviewer's file: 200,001 one-byte-name records appended in the central directory of a
    WeChat impostor (apksigner verifies it: the count is unchanged)."""
    src = (APKS / "wechat-impostor.apk").read_bytes()
    eocd = src.rfind(b"PK\x05\x06")
    head = struct.unpack_from("<IHHHH", src, eocd)
    cd_size, cd_offset = struct.unpack_from("<II", src, eocd + 12)
    record = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"a"
    cd = src[cd_offset : cd_offset + cd_size] + record * 200_001
    path = tmp_path / "many.apk"
    path.write_bytes(src[:cd_offset] + cd + struct.pack("<IHHHHIIH", *head, len(cd), cd_offset, 0))
    doc = scan_path(path)
    assert doc["errors"] == [], doc["errors"]
    app = _app(doc)
    assert app["package"] == WECHAT and app["verdict"] == "prohibited"


def test_an_extra_record_that_cannot_be_read_is_no_input_error(scan_path, tmp_path):
    """Review 77 F2: one uncounted AndroidManifest.xml record whose local header is nowhere made a
    clean app's scan exit 3 (ZIP_LOCAL_HEADER_BAD_SIGNATURE); Android and apksig read the app whole."""
    signed = _signed_notes(tmp_path)
    broken = bytearray(_past_count(signed, [_wechat_manifest()]))
    eocd = bytes(broken).rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", broken, eocd + 12)
    last = bytes(broken).rfind(b"PK\x01\x02", cd_offset, cd_offset + cd_size)
    struct.pack_into("<I", broken, last + 42, 7)  # its local header offset: into the first entry's header
    path = tmp_path / "broken.apk"
    path.write_bytes(bytes(broken))
    doc = scan_path(path)
    # no input error; the uncounted record's local entry is one a streaming reader (ZipInputStream) reads
    # and no counted record lists: said as such since review 81 F3 (zip_cover), never an error of the app
    assert {i["code"] for e in doc["errors"] for i in e["errors"]} <= {"TAMPER_CONTAINER_LOCAL_ONLY_ENTRY"}, doc["errors"]
    app = _app(doc)
    assert app["identity"]["package"] == NOTES and app["verdict"] == "review"
    unread = [r for r in app["identity"]["package_readings"] if r["value"] == "?"]
    assert unread and "cannot be read here" in unread[0]["how"], app["identity"]["package_readings"]
