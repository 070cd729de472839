"""adb backup data, OBB and shared-storage files that are ZIPs (review 33 #3).

A benign ZIP under a data name (an OBB of assets, a photo archive, a ZIP bomb in an app's
cache) is counted under its skip reason, never spooled or walked, so it is no input error;
an APK under such a name is still scanned, and its failures stay errors. Every backup is
built here in tmp_path from the shipped APK fixtures.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from apkscan.scan import scan
from apkscan.sources import data_stream, detect
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions
from backup_helpers import build_ab, manifest
from cli_helpers import issue_codes as codes

REPO = Path(__file__).resolve().parents[1]
WECHAT = (REPO / "fixtures" / "apks" / "wechat-impostor.apk").read_bytes()
CLEAN = (REPO / "fixtures" / "apks" / "clean-v1v2v3.apk").read_bytes()
OBB = "apps/com.example.clean/obb/main.1.com.example.clean.obb"


def zip_of(entries, method=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in entries:
            z.writestr(name, data)
    return out.getvalue()




@pytest.fixture()
def go(rules, policy, tmp_path):
    def _go(members, **opts):
        ab = tmp_path / "phone.ab"
        ab.write_bytes(build_ab([("apps/com.example.clean/_manifest", manifest("com.example.clean", 1, [], True)),
                                 ("apps/com.example.clean/a/base.apk", CLEAN)] + members))
        options = WalkOptions(tmp_dir=str(tmp_path / "spool"), **opts)
        return scan([FileSource([str(ab)], options)], rules, policy).to_dict()
    return _go


def skips(doc) -> dict[str, int]:
    return {s["reason"]: s["count"] for s in doc["skipped"] if not s["reason"].startswith("package record")}


def test_benign_data_zips_are_counted_skips_not_errors(go):
    bomb = zip_of([(f"z{i}.bin", b"\0" * (64 << 20)) for i in range(2)], zipfile.ZIP_DEFLATED)
    photos = [(f"shared/0/DCIM/photos_{i}.zip", zip_of([(f"p{i}.jpg", os.urandom(64))])) for i in range(20)]
    doc = go([(OBB, zip_of([("assets/level.bin", os.urandom(3 << 20))])),  # bigger than the spool allows
              ("apps/com.example.clean/f/cache.bin", bomb)] + photos, tmp_limit=1 << 20)
    assert doc["errors"] == []
    assert skips(doc) == {"OBB expansion files (not scanned)": 1, "app data (not scanned)": 1,
                          "shared storage (not scanned)": 20}  # one record per reason, none per ZIP
    assert [a["package"] for a in doc["apps"]] == ["com.example.clean"]


def test_apk_under_data_names_is_scanned_and_its_failure_stays_an_error(go):
    doc = go([(OBB, WECHAT), ("shared/0/Download/x.zip", WECHAT)])
    got = {a["source"]["chain"][-1]: (a["package"], a["verdict"]) for a in doc["apps"]}
    assert got[OBB] == got["shared/0/Download/x.zip"] == ("com.tencent.mm", "prohibited")
    # an APK there is an APK: over the temporary-space limit it is an input error, not a skip
    doc = go([(OBB, WECHAT + b"\0" * (2 << 20))], tmp_limit=1 << 20)
    assert codes(doc) == ["CONTAINER_TMP_LIMIT"]
    assert "OBB expansion files (not scanned)" not in skips(doc)


@pytest.mark.parametrize("name,inner", [("shared/0/Download/wechat.xapk", "com.tencent.mm.apk"),
                                        ("apps/com.example.clean/f/update.zip", "WeChat.APK")])
def test_an_apk_deflated_inside_a_data_named_zip_is_scanned(go, name, inner):
    """Review 34: an XAPK or a ZIP of APKs names no AndroidManifest.xml itself (its APK is
    compressed inside it), so the streamed look counted it as a skip: WeChat passed, exit 0.
    An entry named like an APK or a bundle makes it walked."""
    doc = go([(name, zip_of([("manifest.json", b"{}"), (inner, WECHAT)], zipfile.ZIP_DEFLATED))])
    got = {a["source"]["chain"][-2:][0]: (a["package"], a["verdict"]) for a in doc["apps"] if a["package"] != "com.example.clean"}
    assert got == {name: ("com.tencent.mm", "prohibited")}, doc["apps"]
    assert doc["errors"] == []


def test_apk_whose_manifest_is_named_past_the_look_is_an_error(go):
    with zipfile.ZipFile(io.BytesIO(WECHAT)) as src:
        late = zip_of([("assets/pad.bin", os.urandom(6 << 20))] + [(i.filename, src.read(i)) for i in src.infolist()])
    doc = go([(OBB, late)])
    assert codes(doc) == ["BACKUP_DATA_APK_UNSCANNED"]
    assert doc["errors"][0]["source"]["chain"][-1] == OBB
    assert [a["package"] for a in doc["apps"]] == ["com.example.clean"]  # the batch went on


def test_directory_naming_the_manifest_counts_when_local_headers_lie():
    """Android reads the central directory: a local header renamed does not hide the APK."""
    data = bytearray(zip_of([("AndroidManifest.xml", b"x" * 100)]))
    data[30:49] = b"AndroidManifest.xmX"  # the local header's name only
    assert data_stream.streamed_zip_look(io.BytesIO(bytes(data)), 1 << 20) == (data_stream.STREAM_APK, bytes(data))
    assert data_stream.streamed_zip_look(io.BytesIO(zip_of([("a.bin", b"y")])), 1 << 20)[0] == data_stream.STREAM_DATA


def test_a_long_apk_name_across_a_read_is_seen():
    """Review 35: a name of 2,000 bytes ending `.apk` that straddled a 1 MiB read was never judged
    (only 1 KiB was kept across reads): its local header and its directory record both placed so."""
    name = "d/" + "x" * 1994 + ".apk"
    first = (1 << 20) - 1500 - 30 - 7  # the APK's local header starts 1,500 bytes before the first read's end

    def build(second: int) -> tuple[bytes, int]:
        """The ZIP and its APK entry's directory record offset (the pad's record comes first)."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("pad.bin", bytes(first))
            z.writestr(name, WECHAT, compress_type=zipfile.ZIP_DEFLATED)  # its own manifest name hidden
            z.writestr("pad2.bin", bytes(second))
        blob = out.getvalue()
        return blob, zipfile.ZipFile(io.BytesIO(blob)).start_dir + 46 + len("pad.bin")

    _, record = build(0)
    blob, record = build((2 << 20) - 1500 - record)  # that record 1,500 bytes before the second read's end
    local = first + 30 + len("pad.bin")
    assert blob[local:local + 4] == blob[record:record + 4][:2] + b"\x03\x04" and blob[record:record + 4] == b"PK\x01\x02"
    assert local < (1 << 20) < local + 30 + len(name) and record < (2 << 20) < record + 46 + len(name)
    found, _ = data_stream.streamed_zip_look(io.BytesIO(blob), 4 << 20)
    assert found == data_stream.STREAM_APK


def test_a_flood_of_headers_naming_long_names_is_data():
    """Review 35: every header's whole name was copied and lower-cased; a flood of records naming
    0xFFFF-byte names took 70 s for 128 MiB. Only a name's last bytes are compared now. (The flood is
    a stored entry's bytes in a well-formed ZIP: the look follows its entries and its directory, and
    what it cannot follow is walked, reviews 67 F1 and 70 F1, so a flood right after ``PK\\3\\4``, or
    standing for a directory, would answer yes before its names are read.)"""
    records = (b"PK\x01\x02" + bytes(24) + b"\xff\xff" + bytes(16)) * 20_000
    flood = zip_of([("a", records)])
    assert detect._names_an_apk(flood) is False
    assert data_stream.streamed_zip_look(io.BytesIO(flood), 4 << 20)[0] == data_stream.STREAM_DATA
    assert data_stream.streamed_zip_look(io.BytesIO(b"PK\x03\x04" + records), 4 << 20)[0] == data_stream.STREAM_APK
