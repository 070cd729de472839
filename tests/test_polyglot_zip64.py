"""Where the polyglot look and the ZIP64 second reading meet (final review 3 of 30 Nov).

F1: an APK in the usual ZIP64 form (classic end-record fields only placeholders, the directory
named by a ZIP64 end record) behind a tar head or other bytes was found by the walker only when
the file began with ``PK``: every look from the end did the classic reading alone, so WeChat in
that form was lost behind a tar head (given, in a folder, or as a streamed member). Now such bytes
are read both ways as any ZIP64-only file is.
F2: the look at a streamed member's tail took ZIP64 placeholders or an empty end record as a
possible ZIP, and each such member cost its container read again up to it: 2,400 decoys in a 72 KB
``.tar.gz`` ran past the walk's time budget and the APK after them was never read. Placeholders now
need a ZIP64 locator naming a record inside the bytes, an empty end record is none, and at most
``MAX_READ_AGAIN`` members of an input are read again (the rest ``CONTAINER_POLYGLOT_UNREAD``).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import zip64_build as Z
from test_polyglots import tar_of

from apkscan.scan import scan
from apkscan.sources import polyglot
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
WECHAT = APKS / "wechat-impostor.apk"  # com.tencent.mm


def zip64_only_after(prefix: bytes) -> bytes:
    """WeChat's records after ``prefix``, closed in the usual ZIP64 form."""
    out = bytearray(prefix)
    cds = b"".join(Z._records(WECHAT, out, False))
    cd_off, n = len(out), cds.count(b"PK\x01\x02")
    out += cds
    z64 = len(out)
    out += Z._zip64(n, len(cds), cd_off) + Z._locator(z64)
    out += Z._EOCD.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


def run(rules, policy, tmp_path, path: Path) -> dict:
    opts = WalkOptions(tmp_dir=str(tmp_path / "spool"))
    return scan([FileSource([str(path)], opts)], rules, policy).to_dict()


def packages(doc: dict) -> list[str]:
    return [a["package"] for a in doc["apps"]]


def codes(doc: dict) -> list[str]:
    return [e.get("code") for e in doc["errors"]]


HEAD = tar_of([("readme.txt", b"nothing to see\n")])


def test_a_zip64_only_apk_behind_a_tar_head_is_read_both_ways(rules, policy, tmp_path):
    path = tmp_path / "pull.tar"
    path.write_bytes(zip64_only_after(HEAD))
    doc = run(rules, policy, tmp_path, path)
    assert packages(doc) == ["com.tencent.mm"] and doc["apps"][0]["verdict"] != "allowed"
    assert "ZIP_CD_OUT_OF_RANGE" in codes(doc)  # the classic reading, refused as apksigner refuses it


def test_a_zip64_only_apk_behind_unknown_bytes_in_a_folder_is_not_skipped(rules, policy, tmp_path):
    folder = tmp_path / "pulls"
    folder.mkdir()
    (folder / "x.bin").write_bytes(zip64_only_after(b"\x7fSFX" + b"\0" * 508))
    doc = run(rules, policy, tmp_path, folder)
    assert packages(doc) == ["com.tencent.mm"]


def test_a_zip64_only_polyglot_streamed_in_a_tar_gz_is_read_both_ways(rules, policy, tmp_path):
    path = tmp_path / "pull.tar.gz"
    path.write_bytes(gzip.compress(tar_of([("app.tar", zip64_only_after(HEAD))]), mtime=0))
    doc = run(rules, policy, tmp_path, path)
    assert packages(doc) == ["com.tencent.mm"]


def decoys(n: int, end: bytes) -> bytes:
    """A .tar.gz of ``n`` members, each a small tar followed by ``end``, then WeChat."""
    decoy = tar_of([("n.txt", b"n")]) + end
    members = [(f"d/{i:05d}.tar", decoy) for i in range(n)] + [("z/wechat.apk", WECHAT.read_bytes())]
    return gzip.compress(tar_of(members), mtime=0)


PLACEHOLDERS = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
EMPTY = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0, 0, 0, 0, 0)


def test_placeholders_and_empty_end_records_cost_no_second_reading(rules, policy, tmp_path, monkeypatch):
    again = []
    real = polyglot.from_end

    def counted(walker, b, depth, tail, label):
        items = list(real(walker, b, depth, tail, label))
        again.append(walker.ctx.read_again)
        return iter(items)

    monkeypatch.setattr(polyglot, "from_end", counted)
    for end in (PLACEHOLDERS, EMPTY):
        path = tmp_path / "decoys.tar.gz"
        path.write_bytes(decoys(40, end))
        doc = run(rules, policy, tmp_path, path)
        assert packages(doc) == ["com.tencent.mm"]
        assert "CONTAINER_POLYGLOT_UNREAD" not in codes(doc)
    assert again and max(again) == 0


def test_past_the_cap_members_are_said_unread_and_the_apk_after_them_is_still_read(rules, policy, tmp_path):
    """Decoys whose end record names a directory before the kept tail pass the tail's test and must
    be read again to be judged: the first MAX_READ_AGAIN are, the rest are coded errors."""
    filler = b"\0" * (polyglot.KEEP + 1024)
    decoy = tar_of([("n.txt", b"n")]) + filler
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, 46, 0, 0)  # a directory at 0: before the tail
    n = polyglot.MAX_READ_AGAIN + 4
    members = [(f"d/{i:05d}.tar", decoy + end) for i in range(n)] + [("z/wechat.apk", WECHAT.read_bytes())]
    path = tmp_path / "decoys.tar.gz"
    path.write_bytes(gzip.compress(tar_of(members), mtime=0))
    doc = run(rules, policy, tmp_path, path)
    assert packages(doc) == ["com.tencent.mm"]
    assert codes(doc).count("CONTAINER_POLYGLOT_UNREAD") == 4
