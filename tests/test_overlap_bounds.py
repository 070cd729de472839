"""Members whose data overlap, in the containers layout readers read (reviews 5 and 6).

Extra central-directory records that point at another member's local header are the cheap way
to make one run of bytes many members. Whatever bound the walker puts on reading them, such a
member must never hide an APK read on its own bytes (no silent skip as a known file, no
whole-container error), and a member whose size lies is blamed alone. (Two bounds on reading
overlapping members whole were tried and withdrawn, see docs/inputs.md "Bounds": only the look for
nested APKs inside an APK is bounded, tests/test_member_heads.py.) What is bounded without
any byte count: records whose data key is equal (same data offset, method and declared
uncompressed size: the very same bytes) are read once per archive; the other names are counted
as skipped.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import pytest

from apkscan.scan import scan
from conftest import prefixed_apk
from apkscan.sources import zip_archive
from apkscan.sources.files import FileSource
from apkscan.sources.walker import SAME_DATA, WalkOptions

ROOT = Path(__file__).resolve().parents[1]
APKS = ROOT / "fixtures" / "apks"
BACKUPS = ROOT / "fixtures" / "backups"
TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
KASPERSKY = (APKS / "kaspersky-subject-notes.apk").read_bytes()
AQF_ROOT = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d/"


def zip_of(files: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, method in files:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def folder_files(folder: Path, method: int = zipfile.ZIP_DEFLATED) -> list[tuple[str, bytes, int]]:
    return sorted((p.relative_to(folder).as_posix(), p.read_bytes(), method) for p in folder.rglob("*") if p.is_file())


def with_aliases(data: bytes, aliases: list[tuple[str, str]]) -> bytes:
    """The ZIP with more central-directory records: (new name, name whose local header it reuses)."""
    eocd = data.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack_from("<II", data, eocd + 12)
    cd, records, i = data[cd_off:cd_off + cd_size], {}, 0
    while i < len(cd):
        nlen, xlen, clen = struct.unpack_from("<HHH", cd, i + 28)
        end = i + 46 + nlen + xlen + clen
        records[cd[i + 46:i + 46 + nlen].decode()] = cd[i:end]
        i = end
    extra = b""
    for new, old in aliases:
        rec = bytearray(records[old][:46])
        struct.pack_into("<HHH", rec, 28, len(new.encode()), 0, 0)
        extra += bytes(rec) + new.encode()
    tail = bytearray(data[eocd:])
    count = len(records) + len(aliases)
    struct.pack_into("<HHII", tail, 8, count, count, cd_size + len(extra), cd_off)
    return data[:cd_off] + cd + extra + bytes(tail)


def scanned(path: Path, rules, policy, tmp_path, **options) -> dict:
    result = scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool"), **options))], rules, policy)
    return result.to_dict()


def verdicts(doc: dict) -> dict[str, str]:
    """File name (the member path's last part) -> verdict."""
    return {a["source"]["chain"][-1].rsplit("/", 1)[-1]: a["verdict"] for a in doc["apps"]}


def error_codes(doc: dict) -> list[tuple[str, str]]:
    return sorted((e["source"]["chain"][-1].rsplit("/", 1)[-1], e["code"]) for e in doc["errors"])


def test_names_a_layout_knows_over_shared_data_hide_no_apk(rules, policy, tmp_path):
    """An AndroidQF zip: a 1.5 MiB blob as dumpsys.txt, three more known names over its bytes,
    and a banned APK stored as sms.txt (also a name AndroidQF writes). Reading the aliases ran
    the read bound out, and the layout skipped sms.txt as 'acquisition file': exit 0."""
    files = folder_files(BACKUPS / "androidqf")
    files += [(AQF_ROOT + "dumpsys.txt", os.urandom(3 << 19), zipfile.ZIP_STORED),
              (AQF_ROOT + "sms.txt", KASPERSKY, zipfile.ZIP_STORED)]
    path = tmp_path / "acquisition.zip"
    path.write_bytes(with_aliases(zip_of(files), [(AQF_ROOT + n, AQF_ROOT + "dumpsys.txt")
                                                  for n in ("env.txt", "mounts.txt", "processes.txt")]))
    doc = scanned(path, rules, policy, tmp_path)
    assert verdicts(doc).get("sms.txt") == "prohibited"


def test_a_member_whose_size_lies_is_blamed_alone(rules, policy, tmp_path):
    """a.bin's central directory claims 2 GiB of compressed data; TikTok after it is read on its
    own bytes and still prohibited, a.bin alone is the error (as before the read bound, which
    once charged declared sizes and refused every member after a lying one)."""
    data = bytearray(zip_of([("a.bin", os.urandom(2000), zipfile.ZIP_DEFLATED),
                             ("tiktok.apk", TIKTOK, zipfile.ZIP_STORED)]))
    cd = struct.unpack_from("<I", data, data.rfind(b"PK\x05\x06") + 16)[0]  # the outer central directory
    assert data[cd + 46:cd + 51] == b"a.bin"
    struct.pack_into("<I", data, cd + 20, 0x7FFFFFFF)
    path = tmp_path / "lie.zip"
    path.write_bytes(bytes(data))
    doc = scanned(path, rules, policy, tmp_path)
    assert verdicts(doc) == {"tiktok.apk": "prohibited"}
    # a.bin's local header (its true sizes) is what a streaming installer reads: read as its own member,
    # said for the ZIP (review 78 F1)
    assert error_codes(doc) == [("a.bin", "ZIP_ENTRY_OUT_OF_RANGE"), ("lie.zip", "TAMPER_CONTAINER_LOCAL_ONLY_ENTRY")]
    assert "CONTAINER_OVERLAP_LIMIT" not in [c for _, c in error_codes(doc)]


def test_an_aliased_member_of_a_backup_folder_costs_that_member_only(rules, policy, tmp_path):
    """Neo Backup: a0.apk (1.5 MiB) named three times; the banned base.apk of the same backup is
    still scanned, and only aliases are errors (it used to end the whole layout)."""
    inst = "com.zhiliaoapp.musically/2024-05-02-11-00-00-user_0/"
    files = folder_files(BACKUPS / "neo")
    files += [(inst + "a0.apk", os.urandom(3 << 19), zipfile.ZIP_STORED), (inst + "base.apk", TIKTOK, zipfile.ZIP_STORED)]
    path = tmp_path / "neo.zip"
    path.write_bytes(with_aliases(zip_of(sorted(files)), [(inst + "a1.apk", inst + "a0.apk"),
                                                          (inst + "a2.apk", inst + "a0.apk")]))
    doc = scanned(path, rules, policy, tmp_path)
    assert verdicts(doc)["base.apk"] == "prohibited"
    assert {n for n, c in error_codes(doc) if c == "CONTAINER_OVERLAP_LIMIT"} <= {"a0.apk", "a1.apk", "a2.apk"}
    assert "neo.zip" not in {n for n, _ in error_codes(doc)}


def test_a_bundle_name_over_a_metadata_members_header_is_read(rules, policy, tmp_path):
    """Review 7: icon.png is a plain ZIP holding WeChat, and base.apk's record points at the same
    local header. Skipping base.apk as 'another name for a member already read' (icon.png,
    skipped by its name) hid WeChat with exit 0; both names are read by what they are."""
    wechat = (APKS / "wechat-tencent-subject.apk").read_bytes()
    files = [("manifest.json", b'{"package_name": "com.tencent.mm"}', zipfile.ZIP_DEFLATED),
             ("icon.png", zip_of([("wechat.apk", wechat, zipfile.ZIP_STORED)]), zipfile.ZIP_STORED)]
    path = tmp_path / "hide.xapk"
    path.write_bytes(with_aliases(zip_of(files), [("base.apk", "icon.png")]))
    doc = scanned(path, rules, policy, tmp_path)
    assert verdicts(doc).get("wechat.apk") == "prohibited"


# ---------------------------------------------------------------- one data key, read once

def same_data_skips(doc: dict) -> list[dict]:
    return [s for s in doc["skipped"] if s["reason"] == SAME_DATA]


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_one_apk_named_many_times_is_scanned_once(rules, policy, tmp_path, method):
    """One banned APK and 300 more records pointing at its local header: each was a scan of its
    own (65,535 over a 2 MB APK, an 11 MB file: about 25 minutes). Now one app, prohibited, and
    the 300 other names counted as skipped, each saying whose data it is."""
    path = tmp_path / "many-names.zip"
    path.write_bytes(with_aliases(zip_of([("tiktok.apk", TIKTOK, method)]),
                                  [(f"copy{i:03d}.apk", "tiktok.apk") for i in range(300)]))
    doc = scanned(path, rules, policy, tmp_path)
    assert verdicts(doc) == {"tiktok.apk": "prohibited"} and not doc["errors"]
    [skip] = same_data_skips(doc)
    assert skip["count"] == 300 and skip["examples"][0] == "copy000.apk (= tiktok.apk)"


def test_names_over_one_deflated_apk_are_not_charged_to_the_inflation_budget(rules, policy, tmp_path):
    """The budget allows the APK's bytes twice: each name is charged when its record is read and
    given back when the walker does not inflate it. 50 more names used to be charged each, and
    every one after the second was a CONTAINER_INFLATE_LIMIT error."""
    path = tmp_path / "deflated.zip"
    path.write_bytes(with_aliases(zip_of([("tiktok.apk", TIKTOK, zipfile.ZIP_DEFLATED)]),
                                  [(f"copy{i:02d}.apk", "tiktok.apk") for i in range(50)]))
    doc = scanned(path, rules, policy, tmp_path, max_inflate=2 * len(TIKTOK) + 4096)
    assert verdicts(doc) == {"tiktok.apk": "prohibited"} and not doc["errors"]
    assert same_data_skips(doc)[0]["count"] == 50


def test_a_record_that_reads_the_same_offset_differently_is_read_on_its_own(rules, policy, tmp_path):
    """Equal data offsets are not enough: a stored record that declares another size is another
    window of bytes, so it is no copy. Here it declares TikTok's data 100 bytes short: its own
    error, and TikTok is still prohibited."""
    data = bytearray(with_aliases(zip_of([("tiktok.apk", TIKTOK, zipfile.ZIP_STORED)]), [("short.apk", "tiktok.apk")]))
    cd = struct.unpack_from("<I", data, data.rfind(b"PK\x05\x06") + 16)[0]
    short = data.index(b"short.apk", cd) - 46
    for field in (20, 24):  # compressed and uncompressed size of the alias's record
        struct.pack_into("<I", data, short + field, len(TIKTOK) - 100)
    path = tmp_path / "short.zip"
    path.write_bytes(bytes(data))
    doc = scanned(path, rules, policy, tmp_path)
    assert verdicts(doc) == {"tiktok.apk": "prohibited"}
    assert [n for n, _ in error_codes(doc)] == ["short.apk"] and not same_data_skips(doc)


def test_names_in_an_apk_over_one_nested_apk_are_walked_once(rules, policy, tmp_path):
    """The nested look: an APK carrying TikTok, with 200 more records in the carrier's central
    directory pointing at it. The carrier and TikTok are scanned once each."""
    path = tmp_path / "carrier.apk"
    path.write_bytes((APKS / "clean-v1v2v3.apk").read_bytes())
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(zipfile.ZipInfo("assets/payload.apk"), TIKTOK)
    path.write_bytes(with_aliases(path.read_bytes(), [(f"assets/p{i:03d}.apk", "assets/payload.apk") for i in range(200)]))
    doc = scanned(path, rules, policy, tmp_path)
    assert [a["source"]["chain"][1:] for a in doc["apps"]] == [[], ["assets/payload.apk"]]
    assert verdicts(doc)["payload.apk"] == "prohibited"
    assert same_data_skips(doc)[0]["count"] == 200


def test_a_copy_of_data_a_bundle_skipped_by_name_is_still_read(rules, policy, tmp_path):
    """main.obb's bytes (a plain ZIP holding WeChat under a data name: no manifest, no APK named in
    it) hold an APK by content, so they are walked as main.obb (closing notes 15/16: an entry's bytes
    are looked at, not only its name), and apps.zip, a second record over them, is the copy, read
    once. (Before, main.obb was skipped by its name and apps.zip read: WeChat was found either way.)"""
    wechat = (APKS / "wechat-tencent-subject.apk").read_bytes()
    files = [("manifest.json", b'{"package_name": "com.example"}', zipfile.ZIP_DEFLATED),
             ("base.apk", (APKS / "clean-v1v2v3.apk").read_bytes(), zipfile.ZIP_STORED),
             ("main.obb", zip_of([("payload.bin", wechat, zipfile.ZIP_STORED)]), zipfile.ZIP_STORED)]
    path = tmp_path / "obb.xapk"
    path.write_bytes(with_aliases(zip_of(files), [("apps.zip", "main.obb")]))
    doc = scanned(path, rules, policy, tmp_path)
    assert verdicts(doc).get("payload.bin") == "prohibited"
    assert [a["source"]["chain"][1:] for a in doc["apps"] if a["package"] == "com.tencent.mm"] == \
        [["main.obb", "payload.bin"]]
    assert [s["count"] for s in same_data_skips(doc)] == [1]


def test_data_keys_belong_to_one_archive(tmp_path):
    """Two readers never share keys (a spooled archive's file name may come back after it is
    deleted): equal offsets in two archives are two members."""
    from apkscan.apk.io.bytesource import ByteSource
    from apkscan.apk.io.zipreader import ZipArchive
    from apkscan.sources.streams import InflateBudget

    path = tmp_path / "a.zip"
    path.write_bytes(zip_of([("a.apk", TIKTOK, zipfile.ZIP_STORED)]))
    keys = []
    for _ in range(2):
        archive = ZipArchive.open(ByteSource(str(path), 0, path.stat().st_size))
        reader = zip_archive.ZipReader(archive, (str(path), 0), (str(path),), InflateBudget(1 << 30, 200))
        keys.append(reader.member(archive.entries[0]).data_key)
    assert keys[0][1:] == keys[1][1:] and keys[0] != keys[1]


def test_obb_names_over_one_deflated_zip_are_looked_into_once(rules, policy, tmp_path, monkeypatch):
    """Whether a member skipped by its name is an APK after all depends on its bytes: 100 OBB
    names over one deflated ZIP inflated it 100 times to ask. Now asked once; all still skipped,
    and the charge of each name answered without inflating is given back (a budget of four
    times the OBB holds all 101 names)."""
    from apkscan.sources import detect

    calls = []
    real = detect.member_holds_apk
    monkeypatch.setattr(detect, "member_holds_apk", lambda m: calls.append(m.name) or real(m))
    files = [("manifest.json", b'{"package_name": "com.example"}', zipfile.ZIP_DEFLATED),
             ("base.apk", (APKS / "clean-v1v2v3.apk").read_bytes(), zipfile.ZIP_STORED),
             ("main.obb", zip_of([(f"d/{i}", os.urandom(64), zipfile.ZIP_STORED) for i in range(50)]), zipfile.ZIP_DEFLATED)]
    path = tmp_path / "obbs.xapk"
    path.write_bytes(with_aliases(zip_of(files), [(f"p{i:03d}.obb", "main.obb") for i in range(100)]))
    doc = scanned(path, rules, policy, tmp_path, max_inflate=len(files[2][1]) * 4)
    assert calls == ["main.obb"]
    assert [a["source"]["chain"][-1] for a in doc["apps"]] == ["base.apk"] and not doc["errors"]
    assert sum(s["count"] for s in doc["skipped"] if "OBB" in s["reason"]) == 101


def test_a_name_the_walker_treats_otherwise_is_no_copy(rules, policy, tmp_path):
    """Review 13: bytes treated otherwise by name were skipped as a copy of another name's: silently
    nothing. What a name changes is in the key, so ``tiktok.apk`` is read and reported. Here TikTok
    is merely appended to 16 bytes of junk, offsets not moved: since review 78 F3 both names are
    read as java.util.zip.ZipFile reads such bytes (before, ``a.dat`` was skipped as no input and
    ``tiktok.apk`` was identify's error), each said."""
    path = tmp_path / "appended.zip"
    path.write_bytes(with_aliases(zip_of([("a.dat", b"JUNK" * 4 + TIKTOK, zipfile.ZIP_STORED)]),
                                  [("tiktok.apk", "a.dat")]))
    doc = scanned(path, rules, policy, tmp_path)
    assert error_codes(doc) == [("a.dat", "TAMPER_ZIP_OFFSETS_SHIFTED"), ("tiktok.apk", "TAMPER_ZIP_OFFSETS_SHIFTED")]
    assert not same_data_skips(doc) and doc["skipped"] == []
    assert verdicts(doc) == {"a.dat": "prohibited", "tiktok.apk": "prohibited"}


def test_declared_compressed_sizes_do_not_make_copies_of_one_deflated_apk_new(rules, policy, tmp_path):
    """Review 13: a deflate stream ends by itself, so records declaring 1 to 30 more compressed
    bytes than TikTok's read the very same APK: they were 30 more scans. One scan now."""
    data = bytearray(with_aliases(zip_of([("tiktok.apk", TIKTOK, zipfile.ZIP_DEFLATED)]),
                                  [(f"copy{i:02d}.apk", "tiktok.apk") for i in range(1, 31)]))
    cd = struct.unpack_from("<I", data, data.rfind(b"PK\x05\x06") + 16)[0]
    for i in range(1, 31):
        rec = data.index(f"copy{i:02d}.apk".encode(), cd) - 46
        struct.pack_into("<I", data, rec + 20, struct.unpack_from("<I", data, rec + 20)[0] + i)
    path = tmp_path / "csizes.zip"
    path.write_bytes(bytes(data))
    doc = scanned(path, rules, policy, tmp_path)
    assert verdicts(doc) == {"tiktok.apk": "prohibited"} and not doc["errors"]
    assert same_data_skips(doc)[0]["count"] == 30


def test_a_copy_whose_read_failed_spares_no_other_name(rules, policy, tmp_path):
    """The first record over TikTok's deflated data declares it 100 compressed bytes short: it is
    cut off, an error. The second record reads the whole stream and must still be scanned: only
    a copy read without an error spares the others."""
    z = zip_of([("tiktok.apk", TIKTOK, zipfile.ZIP_DEFLATED)])
    data = bytearray(with_aliases(z, [("cut.apk", "tiktok.apk")]))
    eocd = data.rfind(b"PK\x05\x06")
    cd_size, cd = struct.unpack_from("<II", data, eocd + 12)
    first = bytes(data[cd:cd + 46 + len("tiktok.apk")])
    cut = bytearray(data[cd + len(first):cd + cd_size])
    struct.pack_into("<I", cut, 20, struct.unpack_from("<I", cut, 20)[0] - 100)
    path = tmp_path / "cut-first.zip"
    path.write_bytes(bytes(data[:cd]) + bytes(cut) + first + bytes(data[cd + cd_size:]))
    doc = scanned(path, rules, policy, tmp_path)
    assert verdicts(doc) == {"tiktok.apk": "prohibited"}
    assert [n for n, _ in error_codes(doc)] == ["cut.apk"] and not same_data_skips(doc)


def test_what_the_walker_keeps_of_an_archive_goes_when_its_walk_ends(tmp_path):
    """Review 13: the keys of every archive walked were kept to the end of the input (2.3 GB for a
    crafted 773 KB file). Kept per archive, dropped when its walk ends."""
    from apkscan.sources.walker import WalkContext, Walker

    inner = zip_of([(f"d/{i}.txt", b"text %d" % i, zipfile.ZIP_STORED) for i in range(20)])
    path = tmp_path / "outer.zip"
    path.write_bytes(zip_of([(f"inner{i}.zip", inner, zipfile.ZIP_STORED) for i in range(5)]))
    ctx = WalkContext(WalkOptions(tmp_dir=str(tmp_path / "spool")))
    seen = []
    for _ in Walker(ctx).local_file(str(path), (str(path),), (str(tmp_path),)):
        seen.append(len(ctx.walked))
    assert max(seen) == 2 and ctx.walked == {}  # the outer archive and the inner one being walked


def test_names_a_layout_inflates_to_look_at_stay_charged(rules, policy, tmp_path, monkeypatch):
    """Review 14: an AndroidQF log whose bytes are an APK (TikTok padded to 1 MiB) is inflated
    whole to ask "an APK after all?"; the walker then skipped each of 200 more names over it as a
    copy and gave back its charge, so 8 MiB of --max-inflate let 201 MiB through. What was
    inflated stays charged: the names past the limit are errors, as before copies were skipped."""
    from apkscan.apk.io import inflate

    produced = []
    real = inflate.EntryInflater._count
    monkeypatch.setattr(inflate.EntryInflater, "_count", lambda self, n: produced.append(n) or real(self, n))
    with zipfile.ZipFile(io.BytesIO(TIKTOK)) as src:
        blob = zip_of([(i.filename, src.read(i), zipfile.ZIP_STORED) for i in src.infolist()]
                      + [("assets/pad.bin", os.urandom(1 << 20), zipfile.ZIP_STORED)])
    files = folder_files(BACKUPS / "androidqf") + [(AQF_ROOT + "logs/0.txt", blob, zipfile.ZIP_DEFLATED)]
    path = tmp_path / "logs.zip"
    path.write_bytes(with_aliases(zip_of(files), [(f"{AQF_ROOT}logs/{k}.txt", AQF_ROOT + "logs/0.txt")
                                                  for k in range(1, 200)]))
    doc = scanned(path, rules, policy, tmp_path, max_inflate=8 << 20)
    assert sum(produced) <= (8 << 20) + 2 * len(blob)  # the limit, and the first log read twice (look, walk)
    assert {c for _, c in error_codes(doc)} == {"CONTAINER_INFLATE_LIMIT"}
    assert verdicts(doc)["0.txt"] == "prohibited"
