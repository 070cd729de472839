"""The data-ZIP look decides "data" only from what the walker itself reads (review 70 F1, F5, F6).

A ZIP under a data name (an adb backup's ``f/`` file, AndroidQF's ``bugreport.zip``) is walked when it
holds an APK. The look that decides followed the local headers where the walker (as Android and
``unzip``) reads the central directory, skipped entries by a declared size under 22 bytes or by a
folder's name, and took only ``PK\\3\\4`` for a ZIP's head: a local size swallowing the next entry, an
end record (or a directory record) between two entries, a ZIP64 field read at the wrong place, a ZIP
after the end record or inside its comment, a size of 10 declared for a deflated APK, a folder-named
entry with data, an APK behind an empty archive's end record: each hid TikTok, exit 0. Now the
directory must name just the entries the look followed, with their names, methods and sizes, and the
end record that directory and nothing after its comment; a declared size or a name is a claim; the
walker's ``detect.is_zip`` is the look's. Real bytes: the fixture APKs in ZIPs built here.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from test_data_zip_by_content import TIKTOK, tiktoks, zip_of
from test_data_zip_unfollowed import (AQF_DATA, APP_DATA, F_FILE, NOTES, TEXT, acquisition, backup, codes, look,
                                      reasons, run, shaped, tar_then_zip)

from apkscan.sources import data_stream, detect

BASE = "FS/data/app/x/base"
EMPTY_END = b"PK\x05\x06" + bytes(18)  # an empty archive: its end record alone


def three(blob: bytes) -> tuple[bytes, list[zipfile.ZipInfo]]:
    """[``notes.txt`` stored, ``blob`` deflated as :data:`BASE`, ``version.txt`` stored] and its records."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("notes.txt", NOTES)
        z.writestr(BASE, blob, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("version.txt", b"2.0\n")
    return out.getvalue(), zipfile.ZipFile(out).infolist()


def swallowing(blob: bytes) -> bytes:
    """F1: ``notes.txt``'s local sizes reach ``version.txt``'s local header; the directory is true."""
    data, (notes, _, version) = three(blob)
    data = bytearray(data)
    reach = version.header_offset - (notes.header_offset + 30 + len("notes.txt"))
    struct.pack_into("<II", data, notes.header_offset + 18, reach, reach)
    return bytes(data)


def between(record: bytes):
    """F1c: ``record`` (an empty end record, a blank directory record) between ``notes.txt`` and the
    deflated ``blob``, every offset true (the walker reads the real directory at the end)."""
    def shape(blob: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("notes.txt", NOTES)
            out.write(record)
            z.start_dir = out.tell()
            z.writestr(BASE, blob, compress_type=zipfile.ZIP_DEFLATED)
        return out.getvalue()
    return shape


def zip64_two_fields(blob: bytes) -> bytes:
    """F1d: ``notes.txt``'s local compressed size 0xFFFFFFFF (only it) and a ZIP64 extra of two fields:
    the true compressed size first (where APPNOTE 4.5.3 puts it), then one reaching past ``blob``."""
    packed = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = packed.compress(blob) + packed.flush()
    entries = [(b"notes.txt", NOTES, NOTES, 0), (BASE.encode(), blob, body, 8), (b"version.txt", b"2.0\n", b"2.0\n", 0)]
    out, central = bytearray(), bytearray()
    for i, (name, data, stored, method) in enumerate(entries):
        extra, packed_size = b"", len(stored)
        if i == 0:
            extra, packed_size = struct.pack("<HHQQ", 1, 16, len(stored), len(stored) + 30 + len(BASE) + len(body)), 0xFFFFFFFF
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, zlib.crc32(data),
                               len(stored), len(data), len(name), 0, 0, 0, 0, 0, len(out)) + name
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0x21, zlib.crc32(data), packed_size,
                           len(data), len(name), len(extra)) + name + extra + stored
    return bytes(out + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 3, 3, len(central), len(out), 0))


def moved(data: bytes, by: int) -> bytes:
    """A ZIP's offsets moved by ``by`` bytes, as ``zip -A`` moves them for a prefix of that length."""
    out = bytearray(data)
    end = out.rindex(b"PK\x05\x06")
    count, _, start = struct.unpack_from("<HII", out, end + 10)
    struct.pack_into("<I", out, end + 16, start + by)
    at = start
    for _ in range(count):
        struct.pack_into("<I", out, at + 42, struct.unpack_from("<I", out, at + 42)[0] + by)
        at += 46 + sum(struct.unpack_from("<HHH", out, at + 28))
    return bytes(out)


def after_end(blob: bytes) -> bytes:
    """A ZIP of text, then a ZIP holding ``blob`` whose offsets count from the start: the walker reads
    the last end record, the look stopped at the first."""
    first = zip_of([("notes.txt", NOTES)], zipfile.ZIP_STORED)
    return first + moved(zip_of([(BASE, blob)]), len(first))


def in_comment(blob: bytes) -> bytes:
    """A ZIP of text whose comment is a ZIP holding ``blob``: the walker takes the last end record
    whose comment ends the bytes, the one in the comment."""
    first = bytearray(zip_of([("notes.txt", NOTES)], zipfile.ZIP_STORED))
    inner = moved(zip_of([(BASE, blob)]), len(first))
    struct.pack_into("<H", first, len(first) - 2, len(inner))
    return bytes(first) + inner


def ended_head(blob: bytes) -> bytes:
    """F6: [``version.txt``, ``blob`` behind an empty archive's end record (its offsets moved), deflated]."""
    inner = moved(blob, len(EMPTY_END)) if detect.is_zip(blob) else blob
    return zip_of([("version.txt", b"2.0\n"), (BASE, EMPTY_END + inner)])


SHAPES = {"local size swallows the next entry": swallowing, "end record between entries": between(EMPTY_END),
          "directory record between entries": between(b"PK\x01\x02" + bytes(42)),
          "ZIP64 extra of two fields": zip64_two_fields, "a ZIP after the end record": after_end,
          "a ZIP in the end record's comment": in_comment, "an APK behind an end record": ended_head}


def place(tmp_path, where: str, data: bytes):
    """The data ZIP as an adb backup's ``f/`` file (streamed), as an AndroidQF folder's ``bugreport.zip``
    (in place), one ZIP down in it (in place, then streamed), or as ``bugreport.zip`` in a deflated
    acquisition ZIP (streamed)."""
    if where == "adb f/":
        return backup(tmp_path, data)
    if where == "folder":
        return acquisition(tmp_path, data, "folder")
    if where == "folder, one down":
        return acquisition(tmp_path, zip_of([("version.txt", b"2.0\n"), ("FS/data/x/blob", data)]), "folder")
    return acquisition(tmp_path, data, "deflated zip")


@pytest.mark.parametrize("where", ["adb f/", "folder", "folder, one down", "deflated zip"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_banned_apk_the_walker_reads_in_a_data_zip_is_scanned(rules, policy, tmp_path, shape, where):
    doc = run(rules, policy, tmp_path, place(tmp_path, where, SHAPES[shape](TIKTOK)))
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited" and app["source"]["chain"][-1] == BASE
    assert where != "adb f/" or APP_DATA not in reasons(doc)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_same_shapes_holding_text_are_walked_not_passed(shape):
    """What the directory does not confirm is walked even with no APK in it: the walker says what it
    cannot read (never a silent skip); the well-formed ZIP of the same text stays data."""
    assert look(SHAPES[shape](TEXT)) == data_stream.STREAM_APK
    assert look(zip_of([("notes.txt", NOTES), (BASE, TEXT), ("version.txt", b"2.0\n")])) == data_stream.STREAM_DATA


def declared_ten(zipped: bytes) -> bytes:
    """F5: a ZIP's last entry, :data:`BASE` deflated, its uncompressed size declared as 10 (local header
    and directory)."""
    data = bytearray(zipped)
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(BASE)
    struct.pack_into("<I", data, info.header_offset + 22, 10)
    struct.pack_into("<I", data, data.rindex(b"PK\x01\x02") + 24, 10)
    return bytes(data)


def folder_named(blob: bytes) -> bytes:
    """F5b: ``blob`` deflated under a folder's name (``FS/data/app/x/``)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("version.txt", b"2.0\n")
        z.writestr(zipfile.ZipInfo(BASE.rsplit("/", 1)[0] + "/"), blob, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_a_declared_size_under_a_zips_is_a_claim_in_place(rules, policy, tmp_path):
    """F5: ``bugreport.zip`` in a folder, TikTok deflated declaring 10 bytes: the look inflates it,
    finds it outgrows its claim and walks it; the walker reads it to its deflate stream's end, as
    ``ZipFile`` and unzip do, and says so (review 81 F4: before, only ``ZIP_ENTRY_SIZE_MISMATCH``)."""
    report = declared_ten(zip_of([("version.txt", b"2.0\n"), (BASE, TIKTOK)]))
    doc = run(rules, policy, tmp_path, acquisition(tmp_path, report, "folder"))
    assert codes(doc) == set()
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited"
    assert "TAMPER_INFLATED_SIZE_DIFFERS" in {t["code"] for t in app["identity"]["tamper"]}
    assert not any("bugreport.zip" in str(s.get("examples")) for s in doc["skipped"] if s["reason"] == AQF_DATA)


def test_a_declared_size_is_a_claim_in_a_tail_zip_too(rules, policy, tmp_path):
    """F5, read from the end: an ``f/`` file that is a tar then a ZIP whose one entry, TikTok deflated,
    declares 10 bytes (``data_in_place.tail_may_hold_apk`` passed it over by that size): walked, read to
    its stream's end (review 81 F4), and said."""
    doc = run(rules, policy, tmp_path, backup(tmp_path, declared_ten(tar_then_zip([(BASE, TIKTOK)]))))
    said = {(tuple(e["source"]["chain"][1:]), i["code"]) for e in doc["errors"] for i in e["errors"]}
    assert ((F_FILE,), "CONTAINER_POLYGLOT") in said
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited" and tuple(app["source"]["chain"][-2:]) == (F_FILE, BASE)
    assert "TAMPER_INFLATED_SIZE_DIFFERS" in {t["code"] for t in app["identity"]["tamper"]}


def test_a_folder_named_entry_with_data_is_read(rules, policy, tmp_path):
    """F5b: the walker reads a folder-named record carrying data by content: so does the look."""
    doc = run(rules, policy, tmp_path, acquisition(tmp_path, folder_named(TIKTOK), "folder"))
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited" and app["source"]["chain"][-1] == BASE.rsplit("/", 1)[0] + "/"


@pytest.mark.parametrize("where", ["folder", "deflated zip"])
def test_well_formed_data_zips_stay_data(rules, policy, tmp_path, where):
    """Data ZIPs the directory confirms are not walked: tiny deflated entries, an empty folder
    record, a ZIP64 entry, entries behind descriptors, an archive comment, an empty ZIP inside."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("FS/data/misc/", b"")
        for i in range(5):
            z.writestr(f"FS/data/misc/tiny{i}", b"x" * i, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("version.txt", b"2.0\n")
        z.writestr("go.zip", shaped("go", TEXT))
        z.writestr("zip64.zip", shaped("zip64", TEXT))
        z.comment = b"bugreport of a test device"
    report = out.getvalue()
    assert look(report) == data_stream.STREAM_DATA and look(b"PK\x05\x06" + bytes(18)) == data_stream.STREAM_DATA
    doc = run(rules, policy, tmp_path, acquisition(tmp_path, report, where))
    assert AQF_DATA in reasons(doc) and doc["errors"] == [] and tiktoks(doc) == []
    assert any("bugreport.zip" in str(s.get("examples")) for s in doc["skipped"] if s["reason"] == AQF_DATA)


def test_an_adb_f_file_the_directory_confirms_stays_data(rules, policy, tmp_path):
    doc = run(rules, policy, tmp_path, backup(tmp_path, zip_of([("notes.txt", NOTES), ("cache/a", TEXT)])))
    assert APP_DATA in reasons(doc) and doc["errors"] == []
    assert [s["examples"] for s in doc["skipped"] if s["reason"] == APP_DATA] == [[F_FILE]]
