"""Members whose data overlap, in every container the walker reads (a second review's cases).

Extra central-directory records that point at another member's local header are the cheap way
to make one run of bytes many members. The walker must (1) never let such a member hide an APK
that is read on its own (no silent skip, no whole-container error), (2) read the input's bytes
again only within a bound, nested ZIPs included, and (3) blame the member that re-reads, never
the one whose own bytes another member's lying size claims.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import pytest

from apkscan.apk.io import bytesource
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

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


def scanned(path: Path, rules, policy, tmp_path) -> dict:
    result = scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy)
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
    assert [n for n, _ in error_codes(doc)] == ["a.bin"]
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


def _walk_reads(path: Path) -> tuple[list, int]:
    read = [0]
    real_read = bytesource.ByteSource.read

    def counting(self, offset, length):
        read[0] += length
        return real_read(self, offset, length)

    bytesource.ByteSource.read = counting
    try:
        return list(FileSource([str(path)]).inputs()), read[0]
    finally:
        bytesource.ByteSource.read = real_read


@pytest.mark.parametrize("duplicate", [True, False])
def test_one_stored_zip_named_many_times_is_walked_within_the_bound(tmp_path, duplicate):
    """A stored ZIP of 4,000 members, named 50 times (the same name 50 times, or 50 names): the
    walker walked it 50 times (200,000 members, 12.7 s). Now it reads the input again only up
    to its size and 1 MiB; the copies past that are errors."""
    inner = zip_of([(f"f{i}.txt", b"hello" * 20, zipfile.ZIP_STORED) for i in range(4000)])
    data = zip_of([("c.zip", inner, zipfile.ZIP_STORED)])
    path = tmp_path / "many.zip"
    path.write_bytes(with_aliases(data, [("c.zip" if duplicate else f"c{k}.zip", "c.zip") for k in range(49)]))
    items, read = _walk_reads(path)
    assert read < 4 * path.stat().st_size + (4 << 20)
    assert len(items) < 8 * 4000  # a few walks (the bound), not 50
    assert any(type(i).__name__ == "InputProblem" and i.issues[0].code == "CONTAINER_OVERLAP_LIMIT" for i in items)


def test_nested_zips_named_many_times_share_one_bound(tmp_path):
    """Each level names its child 8 times: every level used to have its own bound, so the
    work still multiplied by level (l5: 36 s, 1 GB). The input's re-reads share one bound."""
    level = zip_of([(f"f{i}.txt", b"hello" * 20, zipfile.ZIP_STORED) for i in range(2000)])
    for depth in range(3):
        level = with_aliases(zip_of([("m0.zip", level, zipfile.ZIP_STORED)]),
                             [(f"m{k}.zip", "m0.zip") for k in range(1, 8)])
    path = tmp_path / "levels.zip"
    path.write_bytes(level)
    items, read = _walk_reads(path)
    assert read < 4 * path.stat().st_size + (4 << 20)
    assert len(items) < 8 * 2000  # a few walks, not 8 x 8 x 8


def test_the_ledger_counts_exactly_the_bytes_read_again():
    """Against a set of every byte read, over random ranges: the spans stay sorted and apart,
    and only bytes read before count (the bound must not fire on first reads)."""
    import random

    from apkscan.sources.streams import ReadLedger

    rng = random.Random(1129)
    for _ in range(300):
        ledger, seen = ReadLedger(), set()
        for _ in range(40):
            a = rng.randrange(0, 400)
            b = a + rng.randrange(0, 60)
            before = ledger.again
            ledger.read("f", a, b)
            assert ledger.again - before == len(seen & set(range(a, b)))
            seen |= set(range(a, b))
        starts, ends = ledger._files["f"]
        assert all(ends[k] < starts[k + 1] for k in range(len(starts) - 1))
