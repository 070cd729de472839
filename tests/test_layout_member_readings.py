"""A backup layout's ZIP gets the readings any container ZIP gets (review 81 F2, carried over).

A stored member whose central record gives two sizes: Android and apksig read its uncompressed size,
``java.util.zip.ZipFile``, Python's ``zipfile``, unzip and 7z extract its compressed size. A plain
container's member was read both ways; a layout (AndroidQF, Neo Backup, Titanium, Swift) read each name
once, by its uncompressed size: TikTok, what every extractor gives under the name, was never scanned.
Every ZIP is built here from the shipped fixture APKs; Python's ``zipfile`` is the oracle on the bytes.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from zip_helpers import Unseekable

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
BACKUPS = REPO / "fixtures" / "backups"
TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
V1 = (APKS / "v1-only.apk").read_bytes()
TIKTOK_PKG, V1_PKG = "com.zhiliaoapp.musically", "com.example.v1only"
STORED, CSIZE = "TAMPER_STORED_SIZES_DIFFER", " [compressed size java.util.zip reads]"
INST = f"{V1_PKG}/2024-05-01-10-00-00-000-user_0"
ACQ = json.dumps({"uuid": "11111111-2222-3333-4444-555555555555", "androidqf_version": "1.7.0"}).encode()
NEO = json.dumps({"packageName": V1_PKG, "packageLabel": "V1", "versionCode": 1}).encode()
SWIFT = (BACKUPS / "swift" / "com.tencent.mm.xml").read_bytes().replace(b"com.tencent.mm", V1_PKG.encode())
TITANIUM = (BACKUPS / "titanium" / "com.example.notes-20240501-100000.properties").read_bytes().replace(
    b"com.example.notes", V1_PKG.encode())

# Each layout: its metadata records and the name its reader reads the APK by.
LAYOUTS = {
    "androidqf": ([("acquisition.json", ACQ), ("packages.json", b"[]"), ("getprop.txt", b"[ro.x]: [y]\n")],
                  f"apks/{V1_PKG}.apk"),
    "neo": ([(f"{INST}.properties", NEO)], f"{INST}/base.apk"),
    "titanium": ([(f"{V1_PKG}-20240501-100000.properties", TITANIUM)], f"{V1_PKG}-0123456789abcdef0123456789abcdef.apk"),
    "swift": ([(f"{V1_PKG}.xml", SWIFT)], f"{V1_PKG}.app"),
}


def two_sized() -> bytes:
    """TikTok, then a v1 APK whose offsets count TikTok as a prefix: read whole, the v1 app; its first
    ``len(TIKTOK)`` bytes, TikTok."""
    apk, shift = bytearray(V1), len(TIKTOK)
    end = apk.rfind(b"PK\x05\x06")
    count, _size, cd = struct.unpack_from("<HII", apk, end + 10)
    pos = cd
    for _ in range(count):
        nlen, xlen, clen = struct.unpack_from("<HHH", apk, pos + 28)
        struct.pack_into("<I", apk, pos + 42, struct.unpack_from("<I", apk, pos + 42)[0] + shift)
        pos += 46 + nlen + xlen + clen
    struct.pack_into("<I", apk, end + 16, cd + shift)
    return TIKTOK + bytes(apk)


def stored_zip(members: list[tuple[str, bytes]], two: set[int]) -> bytes:
    """A stored ZIP of ``members``; those at the indexes ``two`` have TikTok's size and CRC as their
    compressed size (local and central records), their data left whole."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            with pytest.warns(UserWarning) if name in z.NameToInfo else _Quiet():
                z.writestr(name, data)
        infos = z.infolist()
    data = bytearray(buf.getvalue())
    end = data.rindex(b"PK\x05\x06")
    pos = struct.unpack_from("<I", data, end + 16)[0]
    for i, info in enumerate(infos):
        nlen, xlen, clen = struct.unpack_from("<HHH", data, pos + 28)
        if i in two:
            struct.pack_into("<II", data, info.header_offset + 14, zlib.crc32(TIKTOK), len(TIKTOK))
            struct.pack_into("<II", data, pos + 16, zlib.crc32(TIKTOK), len(TIKTOK))
        pos += 46 + nlen + xlen + clen
    return bytes(data)


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def apps(doc: dict) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """(package, chain below the input) -> (verdict, tamper codes)."""
    return {(a["package"], "/".join(e.rstrip("/") for e in a["source"]["chain"][1:])):
            (a["verdict"], {t["code"] for t in a["identity"]["tamper"]}) for a in doc["apps"]}


def packages(found: dict, package: str) -> dict[str, tuple[str, set[str]]]:
    return {chain: v for (p, chain), v in found.items() if p == package}


@pytest.mark.parametrize("root", ["", "evidence/phone/"], ids=["at-root", "below-root"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_layouts_apk_is_read_at_both_sizes(scan_path, tmp_path, layout, root):
    """At an archive's root the layout's reader reads the whole ZIP (or its flat folder), below it
    the layout's sub-tree: either way the name's compressed-size reading is scanned, flagged."""
    meta, name = LAYOUTS[layout]
    members = [(root + n, d) for n, d in meta] + [(root + name, two_sized())]
    path = tmp_path / "backup.zip"
    path.write_bytes(stored_zip(members, {len(members) - 1}))
    assert zipfile.ZipFile(path).read(root + name) == TIKTOK  # the oracle: what extractors give under the name
    found = apps(scan_path(path))
    assert packages(found, TIKTOK_PKG) == {root + name + CSIZE: ("prohibited", {STORED})}
    assert STORED in found[(V1_PKG, root + name)][1]  # Android's reading: still the layout's, flagged


@pytest.mark.parametrize("layout", ["androidqf", "neo"])
def test_an_earlier_record_of_a_layouts_name_is_read_at_both_sizes(scan_path, tmp_path, layout):
    """A name listed twice: its earlier record (walked after the layout) is read both ways too."""
    meta, name = LAYOUTS[layout]
    members = [*meta, (name, two_sized()), (name, CLEAN)]
    path = tmp_path / "backup.zip"
    path.write_bytes(stored_zip(members, {len(members) - 2}))
    z = zipfile.ZipFile(path)
    assert z.read(z.infolist()[-2]) == TIKTOK and z.read(name) == CLEAN  # the oracle, record by record
    found = apps(scan_path(path))
    [(chain, (verdict, codes))] = packages(found, TIKTOK_PKG).items()
    assert (verdict, chain) == ("prohibited", name + CSIZE) and {STORED, "TAMPER_DUPLICATE_ENTRY"} <= codes
    assert "TAMPER_DUPLICATE_ENTRY" in found[("com.example.clean", name)][1]


def test_a_layouts_metadata_with_two_sizes_says_so(scan_path, tmp_path):
    """A metadata file the layout reads itself (never walked as an app) says its fact; Android's reading
    (the uncompressed size: the JSON) is the layout's record, the other is walked by content."""
    meta, name = LAYOUTS["neo"]
    data = bytearray(stored_zip([(meta[0][0], NEO + TIKTOK), (name, CLEAN)], set()))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    cd = struct.unpack_from("<I", data, data.rindex(b"PK\x05\x06") + 16)[0]
    for at in (info.header_offset + 14, cd + 16):  # CRC, then the uncompressed size cut to the JSON's
        struct.pack_into("<I", data, at, zlib.crc32(NEO))
        struct.pack_into("<I", data, at + 8, len(NEO))
    path = tmp_path / "neo.zip"
    path.write_bytes(bytes(data))
    doc = scan_path(path)
    said = {i["code"] for e in doc["errors"] for i in e["errors"]}
    assert STORED in said
    assert {a["package"] for a in doc["apps"]} >= {V1_PKG, "com.example.clean"}  # the record still read
    assert ("com.example.clean", name) in apps(doc)


# ---------------------------------------------------------------- the end record, the local headers
def zipped(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def local_entry(name: str, data: bytes) -> bytes:
    raw = name.encode()
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data),
                       len(raw), 0) + raw + data


def other_ways(kind: str, meta: list[tuple[str, bytes]], name: str) -> bytes:
    """The layout with the v1 app; TikTok under ``name`` only for another end record or the local headers."""
    clean, bad = zipped([*meta, (name, V1)]), zipped([*meta, (name, TIKTOK)])
    if kind == "comment":  # a second layout ZIP in the end record's comment, then junk
        outer = bytearray(clean)
        comment = bad + b"\x00junk\x01"
        struct.pack_into("<H", outer, len(outer) - 2, len(comment))
        return bytes(outer) + comment
    if kind == "after":  # no end record ends the file: only ZipFile and zipfile open it
        return clean + zipped([*meta, (name, TIKTOK), ("pad.bin", bytes(range(256)) * 300)]) + bytes(200)
    end = clean.rindex(b"PK\x05\x06")  # "local": TikTok's entry before the directory, which names it not
    cd = struct.unpack_from("<I", clean, end + 16)[0]
    extra = local_entry(name.replace(V1_PKG, TIKTOK_PKG).replace("app.apk", TIKTOK_PKG + ".apk"), TIKTOK)
    out = bytearray(clean[:cd] + extra + clean[cd:])
    struct.pack_into("<I", out, len(out) - 22 + 16, cd + len(extra))
    return bytes(out)


ELEMENT = "[end record java.util.zip and Python's zipfile read]"
FACTS = {"comment": "TAMPER_ZIP_OTHER_END_RECORD", "after": "TAMPER_ZIP_OTHER_END_RECORD",
         "local": "TAMPER_CONTAINER_LOCAL_ONLY_ENTRY"}


@pytest.mark.parametrize("kind", sorted(FACTS))
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_layouts_zip_is_read_as_other_readers_read_it(scan_path, tmp_path, layout, kind):
    """Review 81's other end record and review 78's local-only entries, for each layout's ZIP: TikTok
    is scanned under its own chain element (another end record) or after the layout (local headers)."""
    meta, name = LAYOUTS[layout]
    path = tmp_path / "backup.zip"
    path.write_bytes(other_ways(kind, meta, name))
    if kind != "local":
        assert zipfile.ZipFile(path).read(name) == TIKTOK  # the oracle
    doc = scan_path(path)
    found = packages(apps(doc), TIKTOK_PKG)
    want = f"{ELEMENT}/{name}" if kind != "local" else name.replace(V1_PKG, TIKTOK_PKG)
    assert found.keys() == {want} and found[want][0] == "prohibited"
    said = {i["code"] for e in doc["errors"] for i in e["errors"]} | found[want][1]
    assert FACTS[kind] in said


def data_zip(kind: str, method: int = zipfile.ZIP_STORED) -> bytes:
    """A ZIP of data (no APK by its central directory) holding TikTok only another reader's way."""
    notes = [("notes.txt", b"device notes " * 40)]
    clean = zipped(notes, method)
    if kind == "comment":
        outer = bytearray(clean)
        comment = zipped([*notes, ("app.apk", TIKTOK)], method) + b"\x00junk\x01"
        struct.pack_into("<H", outer, len(outer) - 2, len(comment))
        return bytes(outer) + comment
    if kind == "after":
        return clean + zipped([*notes, ("app.apk", TIKTOK), ("pad.bin", bytes(range(256)) * 300)], method) + bytes(200)
    if kind == "sizes":  # a stored blob: ZipFile reads junk then TikTok, Android junk, TikTok and more junk
        blob = b"\x01junk\x02" * 50 + TIKTOK
        data = bytearray(stored_zip([*notes, ("blob.bin", blob + b"\x03tail\x04" * 50)], set()))
        info = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[1]
        cd = struct.unpack_from("<I", data, data.rindex(b"PK\x05\x06") + 16)[0]
        record = data.index(b"PK\x01\x02" + data[cd + 4:cd + 8], cd + 1)  # the second central record
        for at in (info.header_offset + 14, record + 16):
            struct.pack_into("<II", data, at, zlib.crc32(blob), len(blob))
        return bytes(data)
    if kind == "directory":  # ZipFile's directory, right before the end record, names TikTok as notes.txt
        return two_directories(b"device notes " * 40, TIKTOK)
    end = clean.rindex(b"PK\x05\x06")
    cd = struct.unpack_from("<I", clean, end + 16)[0]
    extra = local_entry("app.apk", TIKTOK)
    out = bytearray(clean[:cd] + extra + clean[cd:])
    struct.pack_into("<I", out, len(out) - 22 + 16, cd + len(extra))
    return bytes(out)


def two_directories(shown: bytes, hidden: bytes) -> bytes:
    """``notes.txt`` = ``shown`` in the directory the end record names, ``hidden`` in the one right before
    the end record, which ZipFile and zipfile read with every offset moved by the first one's size."""
    def stored(data: bytes, at: int) -> tuple[bytes, bytes]:
        crc, name = zlib.crc32(data), b"notes.txt"
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
        central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data), len(data),
                              len(name), 0, 0, 0, 0, 0, at)
        return local + name + data, central + name

    local_a, cd_a = stored(shown, 0)
    local_b, _ = stored(hidden, len(local_a))
    _, cd_b = stored(hidden, len(local_a) - len(cd_a))  # ZipFile adds len(cd_a) back
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd_b), len(local_a) + len(local_b), 0)
    return local_a + local_b + cd_a + cd_b + end


WANT = {"comment": f"bugreport.zip/{ELEMENT}/app.apk", "after": f"bugreport.zip/{ELEMENT}/app.apk",
        "local": "bugreport.zip/app.apk", "sizes": "bugreport.zip/blob.bin" + CSIZE, "directory": "bugreport.zip/[central directory java.util.zip reads]/notes.txt"}


@pytest.mark.parametrize("kind", sorted(WANT))
@pytest.mark.parametrize("placed", ["stored-member", "deflated-member", "folder-file"])
def test_a_zip_under_a_data_name_is_read_as_other_readers_read_it(scan_path, tmp_path, kind, placed):
    """AndroidQF's ``bugreport.zip`` (a data name) holding TikTok only another reader's way is walked, so
    TikTok is scanned: in place (a stored member, a file of the folder) the look read its central
    directory alone, and it was data."""
    meta, name = LAYOUTS["androidqf"]
    inner = data_zip(kind)
    files = [*meta, (name, V1), ("bugreport.zip", inner)]
    if placed == "folder-file":
        path = tmp_path / "acq"
        for n, d in files:
            (path / n).parent.mkdir(parents=True, exist_ok=True)
            (path / n).write_bytes(d)
    else:
        path = tmp_path / "acq.zip"
        path.write_bytes(zipped(files, zipfile.ZIP_STORED if placed == "stored-member" else zipfile.ZIP_DEFLATED))
    if kind != "local":
        z = zipfile.ZipFile(io.BytesIO(inner))
        assert any(z.read(n).endswith(TIKTOK) for n in ("app.apk", "notes.txt", "blob.bin") if n in z.namelist())
    doc = scan_path(path)
    found = packages(apps(doc), TIKTOK_PKG)
    assert WANT[kind] in found and found[WANT[kind]][0] == "prohibited"


@pytest.mark.parametrize("placed", ["stored-member", "folder-file"])
def test_a_data_zip_every_reader_reads_alike_stays_data(scan_path, tmp_path, placed):
    """A data ZIP written with data descriptors (as Java writes them) and none of the above: still data."""
    buf = Unseekable()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"FS/proc/{i}.txt", b"state %d " % i * 500)
    inner = buf.buf.getvalue()
    assert inner[6] & 8  # a descriptor: the local walk inflates it to find its end
    meta, name = LAYOUTS["androidqf"]
    files = [*meta, (name, V1), ("bugreport.zip", inner)]
    if placed == "folder-file":
        path = tmp_path / "acq"
        for n, d in files:
            (path / n).parent.mkdir(parents=True, exist_ok=True)
            (path / n).write_bytes(d)
    else:
        path = tmp_path / "acq.zip"
        path.write_bytes(zipped(files))
    doc = scan_path(path)
    assert not [e for e in doc["errors"] if "bugreport.zip" in json.dumps(e)]
    assert any("bugreport.zip" in s["examples"] for s in doc["skipped"])
    assert {a["package"] for a in doc["apps"]} == {V1_PKG}


def straddled() -> bytes:
    """A data ZIP (``readme.txt``) whose end record's comment length reads ``PK`` and whose comment starts
    ``\\x05\\x06``: an end-record signature straddling the two, which Python's ``zipfile`` and ``ZipFile``
    take (the last one, its directory and first local header signed where it says). Its directory is a
    record inside ``readme.txt``'s data, naming TikTok deflated there as ``evil.bin``; the record's
    comment runs over the real directory and the first 20 bytes of the real end record (``ZipFile``, JDK 21,
    takes the record and then refuses that comment as malformed UTF-8; ``zipfile`` and unzip read TikTok)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = deflate.compress(TIKTOK) + deflate.flush()
    evil = b"evil.bin"
    prefix = b"device notes\n" * 20
    at_evil = 30 + len(b"readme.txt") + len(prefix)
    loc_evil = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, zlib.crc32(TIKTOK), len(packed),
                           len(TIKTOK), len(evil), 0) + evil + packed
    fake_at = at_evil + len(loc_evil)
    real_cd_at = fake_at + 46 + len(evil)  # the fake record ends the readme's data
    end_at = real_cd_at + 46 + len(b"readme.txt")
    fake_cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, zlib.crc32(TIKTOK), len(packed),
                          len(TIKTOK), len(evil), 0, end_at + 20 - real_cd_at, 0, 0, 0, at_evil) + evil
    readme = prefix + loc_evil + fake_cd
    body = local_entry("readme.txt", readme)
    real_cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, zlib.crc32(readme), len(readme),
                          len(readme), len(b"readme.txt"), 0, 0, 0, 0, 0, 0) + b"readme.txt"
    assert len(body) == real_cd_at and len(body) + len(real_cd) == end_at
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(real_cd), real_cd_at, 0x4B50)
    theirs = b"\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, end_at + 20 - fake_at, fake_at, 0)
    comment = theirs + bytes((i * 7 + 1) % 250 + 1 for i in range(0x4B50 - len(theirs)))
    return body + real_cd + end + comment


@pytest.mark.parametrize("placed", ["stored-member", "deflated-member"])
def test_an_end_record_straddling_the_comment_is_another_readers(scan_path, tmp_path, placed):
    """The streamed look held the comment alone against another end record: this one, partly in the real
    end record, was data; in place, the tail's picks (:mod:`zip_ends_other`) see it."""
    inner = straddled()
    z = zipfile.ZipFile(io.BytesIO(inner))
    assert z.namelist() == ["evil.bin"] and z.read("evil.bin") == TIKTOK  # the oracle
    meta, name = LAYOUTS["androidqf"]
    path = tmp_path / "acq.zip"
    path.write_bytes(zipped([*meta, (name, V1), ("bugreport.zip", inner)],
                            zipfile.ZIP_STORED if placed == "stored-member" else zipfile.ZIP_DEFLATED))
    found = packages(apps(scan_path(path)), TIKTOK_PKG)
    want = "bugreport.zip/[end record java.util.zip and Python's zipfile read]/evil.bin"
    assert found.keys() == {want} and found[want][0] == "prohibited"
