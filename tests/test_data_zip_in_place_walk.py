"""A data ZIP in place: when its local headers are followed, and what a bound met on the way answers (review 91 of 7d935a8).

The in-place look follows a data ZIP's local headers as a streaming installer does only where the
stream may leave the listed entries (:func:`apkscan.sources.zip_cover.uncovered`): following them
inflates every deflated entry behind a data descriptor, 3.8 times the look's cost on a bugreport.zip
of 20,000 such entries that holds nothing. These guard that a local-only entry is still found behind
descriptors, and that an inflate bound met on an entry the central directory lists is no "yes" (a
bugreport of one 80 MiB log of zeros was walked and got a false CONTAINER_BOMB), while one met where
a local header no record lists may follow still is. Every ZIP is built here; Python's ``zipfile``
reads each as the oracle.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from zip_helpers import Unseekable

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
V1 = (APKS / "v1-only.apk").read_bytes()
TIKTOK_PKG, V1_PKG = "com.zhiliaoapp.musically", "com.example.v1only"
ACQ = json.dumps({"uuid": "11111111-2222-3333-4444-555555555555", "androidqf_version": "1.7.0"}).encode()
META = [("acquisition.json", ACQ), ("packages.json", b"[]"), ("getprop.txt", b"[ro.x]: [y]\n"),
        (f"apks/{V1_PKG}.apk", V1)]
BIG = 80 << 20  # past the look's 64 MiB bound (the ZIP is far under 64 MiB / 200)


def described(entries: list[tuple[str, bytes, int]], big: bool = False) -> bytes:
    """A ZIP whose every entry has a data descriptor, as Java and an unseekable zipfile write them:
    (name, data, compresslevel) deflated each; ``big``: then ``FS/data/log/big.txt``, BIG zeros."""
    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, level in entries:
            z.writestr(name, data, compresslevel=level)
        if big:
            with z.open("FS/data/log/big.txt", "w") as w:
                for _ in range(BIG >> 20):
                    w.write(bytes(1 << 20))
    return sink.buf.getvalue()


def local_entry(name: str, data: bytes) -> bytes:
    raw = name.encode()
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data),
                       len(raw), 0) + raw + data


def before_directory(zipped: bytes, extra: bytes) -> bytes:
    """``extra`` put between the last entry and the central directory, its offset moved on."""
    end = zipped.rindex(b"PK\x05\x06")
    cd = struct.unpack_from("<I", zipped, end + 16)[0]
    out = bytearray(zipped[:cd] + extra + zipped[cd:])
    struct.pack_into("<I", out, len(out) - 22 + 16, cd + len(extra))
    return bytes(out)


def acquisition(tmp_path: Path, report: bytes) -> Path:
    path = tmp_path / "acq"
    for name, data in [*META, ("bugreport.zip", report)]:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def tiktok_chains(doc: dict) -> dict[str, str]:
    return {"/".join(e.rstrip("/") for e in a["source"]["chain"][1:]): a["verdict"]
            for a in doc["apps"] if a["package"] == TIKTOK_PKG}


NOTES = [(f"FS/proc/{i}.txt", b"state %d " % i * 500, 6) for i in range(3)]


def test_a_local_entry_behind_descriptors_is_found(scan_path, tmp_path):
    """Entries behind descriptors, TikTok's local entry before the directory, which names it not:
    the cover check sends the look to the walk, which finds it."""
    report = before_directory(described(NOTES), local_entry("app.apk", TIKTOK))
    assert report[6] & 8 and "app.apk" not in zipfile.ZipFile(io.BytesIO(report)).namelist()  # the oracle
    found = tiktok_chains(scan_path(acquisition(tmp_path, report)))
    assert found == {"bugreport.zip/app.apk": "prohibited"}


def test_a_deflate_stream_ending_early_is_followed(scan_path, tmp_path):
    """An entry whose deflate stream ends early: its descriptor, then TikTok's local header, inside
    the bytes its central record's compressed size covers (the cover check takes that size; the
    stray local header it searches for sends the look to the walk, which inflates and finds it)."""
    notes = b"device notes " * 40
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = deflate.compress(notes) + deflate.flush()
    desc = struct.pack("<IIII", 0x08074B50, zlib.crc32(notes), len(packed), len(notes))
    hidden = local_entry("app.apk", TIKTOK)
    data = packed + desc + hidden  # what the central record calls notes.txt's compressed bytes
    name = b"notes.txt"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 8, 8, 0, 0x21, 0, 0, 0, len(name), 0) + name
    tail = struct.pack("<IIII", 0x08074B50, zlib.crc32(notes), len(data), len(notes))
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 8, 8, 0, 0x21, zlib.crc32(notes), len(data),
                          len(notes), len(name), 0, 0, 0, 0, 0, 0) + name
    body = local + data + tail
    report = body + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(body), 0)
    assert zipfile.ZipFile(io.BytesIO(report)).namelist() == ["notes.txt"]  # the oracle: the directory's one entry
    found = tiktok_chains(scan_path(acquisition(tmp_path, report)))
    assert found == {"bugreport.zip/app.apk": "prohibited"}


def stray_then_big() -> bytes:
    """A note whose deflate stream is stored blocks holding a local header signature (the cover check
    cannot vouch for the stream: the look walks), then a log of BIG zeros, all behind descriptors."""
    note = b"a dumped buffer: PK\x03\x04 and more " * 20
    report = described([("FS/proc/note.txt", note, 0)], big=True)
    assert report.index(b"PK\x03\x04", 4) > 30  # the signature in the note's stored blocks
    return report


def test_a_bound_met_in_a_listed_entry_is_no_yes(scan_path, tmp_path):
    """The walk inflates the listed log to find its end and meets the bound (64 MiB): the entry is the
    directory's (name, method, sizes agree so far) and no local header lies past where it stopped, so
    the ZIP stays data; it was walked, and its log a CONTAINER_BOMB error (review 91 F2)."""
    report = stray_then_big()
    z = zipfile.ZipFile(io.BytesIO(report))
    assert z.namelist() == ["FS/proc/note.txt", "FS/data/log/big.txt"]  # the oracle
    assert z.getinfo("FS/data/log/big.txt").file_size == BIG and len(report) * 200 < 64 << 20
    doc = scan_path(acquisition(tmp_path, report))
    assert not [e for e in doc["errors"] if "bugreport.zip" in json.dumps(e)]
    assert any("bugreport.zip" in s["examples"] for s in doc["skipped"])
    assert {a["package"] for a in doc["apps"]} == {V1_PKG}


def test_a_bound_met_in_a_listed_entry_before_a_local_one_is_yes(scan_path, tmp_path):
    """The same bound, with TikTok's local entry after the log, before the directory (which names it
    not): a local header lies past where the walk stopped, so the look answers yes and TikTok is scanned."""
    report = before_directory(stray_then_big(), local_entry("app.apk", TIKTOK))
    assert "app.apk" not in zipfile.ZipFile(io.BytesIO(report)).namelist()  # the oracle
    found = tiktok_chains(scan_path(acquisition(tmp_path, report)))
    assert found == {"bugreport.zip/app.apk": "prohibited"}


def test_a_bound_met_past_a_listed_entrys_size_is_yes(scan_path, tmp_path):
    """The same bound met in a log whose central record declares 1 MiB: its sizes do not agree (the
    stream read on past them), so the bound answers yes and the walker reads the ZIP and says why."""
    report = bytearray(stray_then_big())
    record = report.index(b"PK\x01\x02", report.index(b"PK\x01\x02") + 4)  # the second central record
    assert report[record + 46:record + 46 + 19] == b"FS/data/log/big.txt"
    struct.pack_into("<I", report, record + 24, 1 << 20)  # the directory's uncompressed size
    assert zipfile.ZipFile(io.BytesIO(bytes(report))).getinfo("FS/data/log/big.txt").file_size == 1 << 20
    doc = scan_path(acquisition(tmp_path, bytes(report)))
    assert not any("bugreport.zip" in s["examples"] for s in doc["skipped"])
    assert [e for e in doc["errors"] if "bugreport.zip" in json.dumps(e)]


def method_told_two_ways() -> bytes:
    """``blob.bin``: TikTok deflated, its local header says so; its central record says stored (CRC
    and sizes of the raw deflate bytes), so the directory's readers read those bytes as data and a
    streaming installer inflates TikTok."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", b"device notes " * 40)
        z.writestr("blob.bin", TIKTOK, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    out = bytearray(buf.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(out))).getinfo("blob.bin")
    start = info.header_offset + 30 + len(b"blob.bin") + len(info.extra)
    raw = bytes(out[start:start + info.compress_size])
    record = out.index(b"PK\x01\x02", out.index(b"PK\x01\x02") + 4)  # the second central record
    struct.pack_into("<H", out, record + 10, 0)  # stored
    struct.pack_into("<III", out, record + 16, zlib.crc32(raw), len(raw), len(raw))
    return bytes(out)


def test_a_method_the_local_header_tells_otherwise_is_followed(scan_path, tmp_path):
    """The cover check reads each listed entry's local header: one whose method is not its central
    record's makes the stream read another entry there, and the walk follows it."""
    report = method_told_two_ways()
    z = zipfile.ZipFile(io.BytesIO(report))
    assert z.getinfo("blob.bin").compress_type == zipfile.ZIP_STORED and z.read("blob.bin") != TIKTOK  # the oracle
    assert zlib.decompressobj(-15).decompress(z.read("blob.bin")) == TIKTOK
    found = tiktok_chains(scan_path(acquisition(tmp_path, report)))
    assert found and set(found.values()) == {"prohibited"}, found


def test_a_bound_met_before_a_method_told_otherwise_is_yes(scan_path, tmp_path):
    """The bound met in the listed log, then ``blob.bin``: a local header that says deflated (TikTok)
    and no descriptor, a central record that says stored. No stray signature follows the log, but the
    entries past it are checked as the cover check checks them: the look answers yes."""
    packed = zlib.compress(TIKTOK, 9)[2:-4]
    name = b"blob.bin"
    report = bytearray(stray_then_big())
    end = len(report) - 22
    count, cd_size, cd = struct.unpack_from("<HII", report, end + 10)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, zlib.crc32(TIKTOK), len(packed), len(TIKTOK),
                        len(name), 0) + name + packed
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, zlib.crc32(packed), len(packed),
                          len(packed), len(name), 0, 0, 0, 0, 0, cd) + name
    report = report[:cd] + local + report[cd:end] + central + report[end:]
    struct.pack_into("<HHII", report, len(report) - 22 + 8, count + 1, count + 1, cd_size + len(central),
                     cd + len(local))
    z = zipfile.ZipFile(io.BytesIO(bytes(report)))
    assert z.getinfo("blob.bin").compress_type == zipfile.ZIP_STORED  # the oracle: the directory's reading
    assert zlib.decompressobj(-15).decompress(z.read("blob.bin")) == TIKTOK
    found = tiktok_chains(scan_path(acquisition(tmp_path, bytes(report))))
    assert found and set(found.values()) == {"prohibited"}, found
