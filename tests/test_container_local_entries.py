"""A container's entries as a streaming installer reads them (review 78 F1).

SAI (``ZipApkSource``) and ackpine install a split bundle through ``java.util.zip.ZipInputStream``:
local headers from offset 0, every ``*.apk`` installed. An entry no central record describes is
a member too (``TAMPER_CONTAINER_LOCAL_ONLY_ENTRY``); the hostile bytes are built here, as the
reviewer's scripts build them (/work/reviews/r78/repro/lfh_*.py).
"""

from __future__ import annotations

import io
import json
import re
import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from zip_helpers import Unseekable

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
CONTAINERS = REPO / "fixtures" / "containers"
TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
WECHAT = (APKS / "wechat-impostor.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
LOCAL_ONLY = "TAMPER_CONTAINER_LOCAL_ONLY_ENTRY"


def local(name: bytes, data: bytes, *, sizes: tuple[int, int] | None = None) -> bytes:
    """A stored entry's local header and data (``sizes``: what the header claims instead)."""
    csize, size = sizes or (len(data), len(data))
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, zlib.crc32(data), csize, size,
                       len(name), 0) + name + data


def deflated_with_descriptor(name: bytes, data: bytes) -> bytes:
    """A deflated entry with its sizes only in the data descriptor after it (bit 3), as Java writes them."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = c.compress(data) + c.flush()
    return (struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 8, 8, 0, 0x21, 0, 0, 0, len(name), 0) + name + comp
            + struct.pack("<IIII", 0x08074B50, zlib.crc32(data), len(comp), len(data)))


def central(name: bytes, data: bytes, offset: int) -> bytes:
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data),
                       len(data), len(name), 0, 0, 0, 0, 0o644 << 16, offset) + name


def end(count: int, cd: bytes, cd_offset: int) -> bytes:
    return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(cd), cd_offset, 0)


def local_only(*records: bytes) -> bytes:
    """Local entries and an empty central directory."""
    body = b"".join(records)
    return body + end(0, b"", len(body))


def scan_file(scan_path, tmp_path, name: str, data: bytes) -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_path(path)


def by_package(doc: dict) -> dict:
    return {a["package"]: a for a in doc["apps"]}


def codes_in(obj) -> set[str]:
    return set(re.findall(r'"((?:TAMPER|ZIP|CONTAINER)_[A-Z0-9_]+)"', json.dumps(obj)))


def container_codes(doc: dict) -> set[str]:
    return {i["code"] for e in doc["errors"] for i in e["errors"]}


def test_swapped_base_the_stream_reads_is_found_prohibited(scan_path, tmp_path):
    """The reviewer's lfh-swap.apks: the stream gives TikTok as base.apk (then stops at four zero
    bytes), the central directory a clean base.apk. Both are scanned; TikTok is prohibited and
    carries the fact; the clean base is no silent "allowed" (a second base of the install set)."""
    out = bytearray(local(b"base.apk", TIKTOK))
    out += b"\0\0\0\0"
    offset = len(out)
    out += local(b"base.apk", CLEAN)
    cd_offset = len(out)
    cd = central(b"base.apk", CLEAN, offset)
    doc = scan_file(scan_path, tmp_path, "swap.apks", bytes(out + cd + end(1, cd, cd_offset)))
    apps = by_package(doc)
    assert set(apps) == {"com.zhiliaoapp.musically", "com.example.clean"}
    tiktok = apps["com.zhiliaoapp.musically"]
    assert tiktok["verdict"] == "prohibited"
    assert LOCAL_ONLY in codes_in(tiktok["identity"])
    assert apps["com.example.clean"]["verdict"] != "allowed"
    assert {LOCAL_ONLY, "TAMPER_DATA_BEFORE_FIRST_ENTRY"} <= container_codes(doc)


@pytest.mark.parametrize("name", ["only.apks", "only.xapk", "only.apkm"])
def test_empty_directory_is_no_empty_container(scan_path, tmp_path, name):
    doc = scan_file(scan_path, tmp_path, name, local_only(local(b"base.apk", TIKTOK)))
    assert [s["reason"] for s in doc["skipped"] if "empty container" in s["reason"]] == []
    app = by_package(doc)["com.zhiliaoapp.musically"]
    assert app["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(app["identity"])
    assert LOCAL_ONLY in container_codes(doc)


def test_decoy_directory_listing_metadata_only(scan_path, tmp_path):
    head = local(b"base.apk", TIKTOK)
    meta = b'{"package":"com.example.notes"}'
    body = head + local(b"meta.sai_v2.json", meta)
    cd = central(b"meta.sai_v2.json", meta, len(head))
    doc = scan_file(scan_path, tmp_path, "decoy.apks", body + cd + end(1, cd, len(body)))
    assert by_package(doc)["com.zhiliaoapp.musically"]["verdict"] == "prohibited"


def test_deflated_local_entry_behind_a_data_descriptor(scan_path, tmp_path):
    doc = scan_file(scan_path, tmp_path, "dd.apks", local_only(deflated_with_descriptor(b"base.apk", WECHAT)))
    app = by_package(doc)["com.tencent.mm"]
    assert app["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(app["identity"])


def test_local_only_bundle_inside_a_plain_zip(scan_path, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("downloads/wechat.apks", local_only(local(b"base.apk", WECHAT)))
    doc = scan_file(scan_path, tmp_path, "nested.zip", buf.getvalue())
    app = by_package(doc)["com.tencent.mm"]
    assert app["verdict"] == "prohibited"
    assert app["source"]["chain"][1:] == ["downloads/wechat.apks", "base.apk"]


def test_local_only_split_set_is_one_bundle(scan_path, tmp_path):
    """Local-only names make the plain-by-its-directory ZIP a bundle: its APKs are one install."""
    split = (CONTAINERS / "splits" / "clean-config.en.apk").read_bytes()
    doc = scan_file(scan_path, tmp_path, "set.zip", local_only(local(b"base.apk", CLEAN),
                                                               local(b"split_config.en.apk", split)))
    assert [a["package"] for a in doc["apps"]] == ["com.example.clean"]
    assert [s["split"] for s in doc["apps"][0]["splits"]] == ["config.en"]


@pytest.mark.parametrize("fixture", ["bundletool.apks", "clean.apkm", "legacy.apkm", "clean.xapk",
                                     "wechat-sai.apks", "deep.zip", "pull.tar.gz"])
def test_real_bundles_gain_no_fact(scan_path, fixture):
    doc = scan_path(CONTAINERS / fixture)
    assert LOCAL_ONLY not in codes_in(doc)
    assert "TAMPER_DATA_BEFORE_FIRST_ENTRY" not in codes_in(doc)


def test_streamed_zipfile_bundle_gains_no_fact(scan_path, tmp_path):
    """Deflated entries behind data descriptors (zipfile writing to a stream, as Java always does):
    the walk inflates each to its end and finds the directory describing every one."""
    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("base.apk", CLEAN)
        z.writestr("meta.sai_v2.json", b"{}")
    data = out.buf.getvalue()
    assert struct.unpack_from("<H", data, 6)[0] & 8  # a data descriptor, really
    doc = scan_file(scan_path, tmp_path, "streamed.apks", data)
    assert [a["package"] for a in doc["apps"]] == ["com.example.clean"]
    assert LOCAL_ONLY not in codes_in(doc) and doc["errors"] == []


def test_many_tiny_local_entries_stay_bounded(scan_path, tmp_path):
    data = local_only(*(local(b"x%d" % i, b"") for i in range(100_000)))
    started = time.monotonic()
    doc = scan_file(scan_path, tmp_path, "many.zip", data)
    assert time.monotonic() - started < 120
    local_facts = [i for e in doc["errors"] for i in e["errors"] if i["code"] == LOCAL_ONLY]
    assert len(local_facts) == 1 and "100000 members" in local_facts[0]["message"]  # one line, not 100,000


def test_entry_claiming_4_gib_and_a_bomb_stay_bounded(scan_path, tmp_path):
    claim = local(b"base.apk", b"PK\x03\x04" + bytes(100), sizes=(0xFFFFFFF0, 0xFFFFFFF0))
    doc = scan_file(scan_path, tmp_path, "claim.apks", local_only(claim))
    assert doc["apps"] == []  # the stream ends early: no entry a streaming installer could read
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = b"".join(c.compress(bytes(1 << 24)) for _ in range(64)) + c.flush()  # 1 GiB of zeros
    bomb = (struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 8, 8, 0, 0x21, 0, 0, 0, 8, 0) + b"base.apk" + comp
            + struct.pack("<IIII", 0x08074B50, 0, len(comp), 1 << 30))
    doc = scan_file(scan_path, tmp_path, "bomb.apks", local_only(bomb))
    assert "CONTAINER_BOMB" in container_codes(doc)


def test_a_container_read_only_through_its_zip64_end_record_is_walked_too(scan_path, tmp_path):
    """Its classic end record holds ZIP64 placeholders (as ``zip -fz`` writes it): the walker reads
    the directory the ZIP64 record names; the local headers are followed in that reading then."""
    head = local(b"base.apk", TIKTOK)
    meta = b'{"package":"com.example.notes"}'
    body = head + local(b"meta.sai_v2.json", meta)
    cd = central(b"meta.sai_v2.json", meta, len(head))
    z64_at = len(body) + len(cd)
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(cd), len(body))
    locator = struct.pack("<IIQI", 0x07064B50, 0, z64_at, 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    doc = scan_file(scan_path, tmp_path, "z64.apks", body + cd + z64 + locator + eocd)
    app = by_package(doc)["com.zhiliaoapp.musically"]
    assert app["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(app["identity"])


def test_a_listed_compressible_obb_behind_a_descriptor_is_no_bomb(scan_path, tmp_path):
    """An XAPK streamed out (data descriptors) with 100 MiB of zeros as its OBB: the walk inflates it
    to find where it ends, but a member the directory lists is judged as that member (skipped by
    name, never a bomb of the container's)."""
    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", b"{}")
        z.writestr("base.apk", CLEAN)
        with z.open("Android/obb/com.example.clean/main.1.com.example.clean.obb", "w") as obb:
            for _ in range(100):
                obb.write(bytes(1 << 20))
    doc = scan_file(scan_path, tmp_path, "zeros.xapk", out.buf.getvalue())
    assert [a["package"] for a in doc["apps"]] == ["com.example.clean"] and doc["errors"] == []


def zip64_sized(name: bytes, data: bytes, extra: bytes) -> bytes:
    """A stored entry whose local sizes are 0xFFFFFFFF, its real ones in ``extra`` (ZIP64 fields)."""
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, zlib.crc32(data), 0xFFFFFFFF, 0xFFFFFFFF,
                       len(name), len(extra)) + name + extra + data


@pytest.mark.parametrize("first", [struct.pack("<HHQ", 1, 8, 0), struct.pack("<HHQQ", 1, 16, 0, 0)],
                         ids=["short-first", "decoy-first"])
def test_the_last_full_zip64_extra_gives_the_local_sizes(scan_path, tmp_path, first):
    """Review 80 F3: ``ZipEntry.setExtra0`` walks every extra field of a local header; a ZIP64 one of
    16 bytes or more sets both sizes (the last wins, a shorter one is skipped). Java reads ``a.bin``
    (5,000 bytes) then TikTok's ``base.apk`` here; taking the first field lost the stream's place."""
    pad = bytes(range(1, 201)) * 25
    extra = first + struct.pack("<HHQQ", 1, 16, len(pad), len(pad))
    doc = scan_file(scan_path, tmp_path, "z64extra.apks", local_only(zip64_sized(b"a.bin", pad, extra),
                                                                     local(b"base.apk", TIKTOK)))
    app = by_package(doc)["com.zhiliaoapp.musically"]
    assert app["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(app["identity"])


@pytest.mark.parametrize("stored", [False, True], ids=["deflated", "stored"])
def test_local_entries_before_a_shifted_bundle_are_read(scan_path, tmp_path, stored):
    """Review 80 F1: TikTok's ``base.apk`` (deflated, a data descriptor) put before an honest bundle
    whose offsets are not moved. ZipFile reads the bundle (offsets moved); ZipInputStream starts at
    byte 0 and reads TikTok first, then the bundle's entries (each described: no fact of its own)."""
    head = local(b"base.apk", TIKTOK) if stored else deflated_with_descriptor(b"base.apk", TIKTOK)
    data = head + (CONTAINERS / "bundletool.apks").read_bytes()
    doc = scan_file(scan_path, tmp_path, "shifted.apks", data)
    app = by_package(doc)["com.zhiliaoapp.musically"]
    assert app["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(app["identity"])
    assert "com.example.clean" in by_package(doc)
    assert {LOCAL_ONLY, "TAMPER_ZIP_OFFSETS_SHIFTED"} <= container_codes(doc)
    facts = [i["message"] for e in doc["errors"] for i in e["errors"] if i["code"] == LOCAL_ONLY]
    assert facts == [facts[0]] and "1 members ('base.apk')" in facts[0]


def moved_past(prefix: bytes, apk: bytes) -> bytes:
    """``apk`` after ``prefix``, its central offsets moved past it: a ZIP that opens as written."""
    d = bytearray(apk)
    e = d.rfind(b"PK\x05\x06")
    n, _size, cd_offset = struct.unpack_from("<HII", d, e + 10)
    p = cd_offset
    for _ in range(n):
        struct.pack_into("<I", d, p + 42, struct.unpack_from("<I", d, p + 42)[0] + len(prefix))
        nlen, xlen, clen = struct.unpack_from("<HHH", d, p + 28)
        p += 46 + nlen + xlen + clen
    struct.pack_into("<I", d, e + 16, cd_offset + len(prefix))
    return prefix + bytes(d)


@pytest.mark.parametrize("name", ["decoy.apks", "decoy.XAPK", "decoy.apkm", "decoy.zip"])
def test_an_apk_directory_named_as_a_bundle_is_streamed_too(scan_path, tmp_path, name):
    """Review 80 F2: the central directory is a clean APK's, offsets moved past a local-only TikTok
    ``base.apk``. SAI opens the name as an archive and installs every ``*.apk`` ZipInputStream reads."""
    doc = scan_file(scan_path, tmp_path, name, moved_past(deflated_with_descriptor(b"base.apk", TIKTOK), CLEAN))
    apps = by_package(doc)
    assert apps["com.zhiliaoapp.musically"]["verdict"] == "prohibited"
    assert LOCAL_ONLY in codes_in(apps["com.zhiliaoapp.musically"]["identity"])
    assert apps["com.example.clean"]["source"]["chain"] == [str(tmp_path / name)]  # the APK itself, as before
    assert LOCAL_ONLY in container_codes(doc)


def test_an_apk_named_as_one_is_read_both_ways_too(scan_path, tmp_path):
    """The same bytes named ``.apk``: the APK Android installs by its central directory, and
    TikTok's ``base.apk`` beside it, which ZipInputStream reads from byte 0 once the file is
    renamed (review 81 F3: the bytes before the first listed entry start with a local header)."""
    doc = scan_file(scan_path, tmp_path, "decoy.apk", moved_past(deflated_with_descriptor(b"base.apk", TIKTOK), CLEAN))
    apps = by_package(doc)
    assert apps["com.example.clean"]["source"]["chain"] == [str(tmp_path / "decoy.apk")]
    assert apps["com.zhiliaoapp.musically"]["verdict"] == "prohibited"
    assert LOCAL_ONLY in codes_in(apps["com.zhiliaoapp.musically"]["identity"]) and LOCAL_ONLY in container_codes(doc)


def test_an_apk_named_as_one_is_read_as_android_installs_it(scan_path, tmp_path):
    """An ordinary APK named ``.apk`` (or not): its directory explains every byte a streaming
    reader reaches, so its local headers are not followed and it gains no fact."""
    for name in ("clean.apk", "clean.bin"):
        doc = scan_file(scan_path, tmp_path, name, CLEAN)
        assert set(by_package(doc)) == {"com.example.clean"} and LOCAL_ONLY not in codes_in(doc) and doc["errors"] == []


def _no_directory(kind: str) -> bytes:
    base = deflated_with_descriptor(b"base.apk", TIKTOK)
    if kind == "no end record":
        return base + local(b"x.bin", bytes(range(1, 251)) * 400)
    if kind == "corrupt directory":
        return base + b"PK\x01\x02" + bytes(40) + end(1, bytes(44), len(base))
    return base + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0, 0, 0, len(base) + 5, 0)  # offset past the end


@pytest.mark.parametrize("kind", ["no end record", "corrupt directory", "directory out of range"])
def test_local_entries_without_a_usable_directory_are_read(scan_path, tmp_path, kind):
    """Review 80 F6: no ZipFile reader opens these bytes, but ZipInputStream reads TikTok's base.apk:
    a member, flagged, beside the error that says the directory is unusable."""
    doc = scan_file(scan_path, tmp_path, "broken.apks", _no_directory(kind))
    app = by_package(doc)["com.zhiliaoapp.musically"]
    assert app["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(app["identity"])
    assert container_codes(doc) & {"ZIP_EOCD_NOT_FOUND", "ZIP_CD_TRUNCATED", "ZIP_CD_OUT_OF_RANGE"}
