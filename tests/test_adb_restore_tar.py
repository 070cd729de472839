"""An adb backup's tar read as Android's restore reads it (review 78 F2).

AOSP ``TarBackupReader`` checks no checksum and no magic, ends a number at its first NUL or space,
keeps a pax ``x`` header's own size and path, and stops at any type but ``0``, ``5``, ``x`` (NUL:
the end). Every backup here is real ``.ab`` bytes (plain, zlib, AES-256 + zlib, through the fixture
writer's streams) whose tar restore and a standard tar read differently; the APK restore installs
is scanned and the report says where the readings part.
"""

from __future__ import annotations

import io
import random
import tarfile
import zlib

import pytest
from backup_helpers import BACKUPS, PASSWORD
from backup_helpers import pad
from conftest import APKS

from adb_writer import _Sink, header as ab_header
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
PKG = "com.zhiliaoapp.musically"
BLOCK = 512
TWO_WAYS, STOPS = "TAMPER_BACKUP_TAR_READ_TWO_WAYS", "TAMPER_BACKUP_RESTORE_STOPS"


def raw_header(name: bytes, size_field: bytes, kind: bytes = b"0", checksum: str = "good",
               magic: bool = True) -> bytes:
    """One ustar header block written field by field (``checksum``: good, zero or bad)."""
    h = bytearray(BLOCK)
    h[0:len(name)] = name
    h[100:108], h[108:116], h[116:124] = b"0000644\0", b"0000000\0", b"0000000\0"
    h[124:136] = size_field
    h[136:148] = b"14600000000\0"
    h[156:157] = kind
    if magic:
        h[257:265] = b"ustar\x0000"
    if checksum != "zero":
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % (sum(h) + (1 if checksum == "bad" else 0))
    return bytes(h)


def member(name: str, data: bytes, **kw) -> bytes:
    return raw_header(name.encode(), b"%011o\0" % len(data), **kw) + pad(data)


def manifest(package: str) -> bytes:
    return "\n".join(["1", package, "1", "33", "com.android.vending", "1", "0", ""]).encode()


def ab(payload: bytes, compressed: bool = False, password: str | None = None) -> bytes:
    """A v5 adb backup around ``payload``, through the fixture writer's zlib and AES streams."""
    head, cipher = ab_header(5, compressed, password, random.Random(7))
    out = io.BytesIO()
    out.write(head)
    sink = _Sink(out, compressed, cipher)
    sink.write(payload)
    sink.finish()
    return out.getvalue()


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(data: bytes):
        path = tmp_path / "device.ab"
        path.write_bytes(data)
        opts = WalkOptions(tmp_dir=str(tmp_path / "spool"), password=lambda: PASSWORD)
        return scan([FileSource([str(path)], opts)], rules, policy).to_dict()
    return go


def apps(doc) -> dict[str, dict]:
    return {a["source"]["chain"][-1]: a for a in doc["apps"]}


def facts(doc, code: str) -> list[str]:
    """Messages of ``code``, in errors and on apps."""
    out = [i["message"] for e in doc["errors"] for i in e["errors"] if i["code"] == code]
    return out + [t["message"] for a in doc["apps"] for t in a["identity"]["tamper"] if t["code"] == code]


def space_size_payload() -> bytes:
    """The reviewer's backup: a data file whose size field starts with a space. Tar strips it and
    reads the octal number (81,408 bytes of content here); restore stops the number there (0) and reads that content as a
    _manifest and TikTok's base.apk (headers with no checksum, no magic), then a type NUL end."""
    hidden = pad(member(f"apps/{PKG}/_manifest", manifest(PKG), checksum="zero", magic=False)
                 + member(f"apps/{PKG}/a/base.apk", TIKTOK, checksum="zero", magic=False)
                 + b"\0" * 1024 + b"\0" * 70000)
    outer = raw_header(b"apps/com.example.notes/f/cache.bin", b" %010o\0" % len(hidden))
    return outer + hidden + b"\0" * 1024


@pytest.mark.parametrize("compressed,password", [(False, None), (True, None), (True, PASSWORD)],
                         ids=["plain", "zlib", "aes+zlib"])
def test_a_size_field_with_a_leading_space_hides_no_apk(run, compressed, password):
    outer = tarfile.open(fileobj=io.BytesIO(space_size_payload()))
    assert [(m.name, m.size) for m in outer.getmembers()] == [("apps/com.example.notes/f/cache.bin", 81408)]
    doc = run(ab(space_size_payload(), compressed, password))
    got = apps(doc)
    assert got[f"apps/{PKG}/a/base.apk"]["verdict"] == "prohibited"
    said = facts(doc, TWO_WAYS)
    assert any("restore reads 0 bytes, tar reads 81408" in m for m in said), said
    assert any(f"'apps/{PKG}/a/base.apk'" in m and "inside what tar reads as the content of" in m for m in said)


def test_a_pax_header_keeps_its_own_name_and_size_for_restore(run):
    """No ``path``/``size`` record: restore takes the x header's own name (TikTok's base.apk) and
    size (its pax data's length, here the APK's), tar the next header's (a 0-byte note)."""
    n = len(TIKTOK)
    filler = n - len(str(n)) - len(" comment=\n")
    records = b"%d comment=%s\n" % (n, b"x" * filler)
    assert len(records) == n
    x = raw_header(f"apps/{PKG}/a/base.apk".encode(), b"%011o\0" % n, kind=b"x")
    decoy = raw_header(b"apps/com.example.notes/f/note.txt", b"%011o\0" % 0)
    payload = x + pad(records) + decoy + pad(TIKTOK) + b"\0" * 1024
    doc = run(ab(payload, compressed=True))
    assert apps(doc)[f"apps/{PKG}/a/base.apk"]["verdict"] == "prohibited"
    said = facts(doc, TWO_WAYS)
    assert any(f"name: restore reads 'apps/{PKG}/a/base.apk', tar reads 'apps/com.example.notes/f/note.txt'" in m
               for m in said), said
    assert any(f"restore reads {n} bytes, tar reads 0" in m for m in said), said


def test_a_header_with_a_bad_checksum_is_read_as_restore_reads_it(run):
    payload = (member("apps/com.example.notes/_manifest", manifest("com.example.notes"))
               + member(f"apps/{PKG}/a/base.apk", TIKTOK, checksum="bad") + b"\0" * 1024)
    doc = run(ab(payload))
    assert apps(doc)[f"apps/{PKG}/a/base.apk"]["verdict"] == "prohibited"
    said = facts(doc, TWO_WAYS)
    assert any("tar reads no header there (bad checksum)" in m for m in said), said


def base256_member(name: str, data: bytes) -> bytes:
    """A GNU base-256 size field (GNU tar's form past 8 GiB): tar reads it, restore stops at it."""
    head = bytearray(raw_header(name.encode(), b"\0" * 12))
    head[124:136] = b"\x80" + len(data).to_bytes(11, "big")
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\0 " % sum(head)
    return bytes(head) + pad(data)


def test_a_base256_size_stops_restore_and_tar_members_are_still_scanned(run):
    payload = (member("apps/com.example.clean/a/base.apk", CLEAN) + base256_member(f"apps/{PKG}/a/base.apk", TIKTOK)
               + member("apps/com.example.more/a/base.apk", CLEAN) + b"\0" * 1024)
    doc = run(ab(payload, compressed=True))
    got = apps(doc)
    assert got[f"apps/{PKG}/a/base.apk"]["verdict"] == "prohibited"
    assert [t["code"] for t in got[f"apps/{PKG}/a/base.apk"]["identity"]["tamper"]] == [STOPS]
    assert [t["code"] for t in got["apps/com.example.more/a/base.apk"]["identity"]["tamper"]] == [STOPS]
    assert got["apps/com.example.clean/a/base.apk"]["identity"]["tamper"] == []
    assert "invalid number in header" in facts(doc, STOPS)[0]


def test_a_type_nul_header_ends_restore_and_what_follows_is_read_as_tar_reads_it(run):
    stop = raw_header(b"apps/com.example.notes/f/end", b"%011o\0" % 0, kind=b"\0")
    payload = member("apps/com.example.clean/a/base.apk", CLEAN) + stop + member(f"apps/{PKG}/a/base.apk", TIKTOK)
    doc = run(ab(payload + b"\0" * 1024))
    got = apps(doc)
    assert got[f"apps/{PKG}/a/base.apk"]["verdict"] == "prohibited"
    assert [t["code"] for t in got[f"apps/{PKG}/a/base.apk"]["identity"]["tamper"]] == [STOPS]
    assert "type NUL" in facts(doc, STOPS)[0]


def test_a_type_nul_header_at_the_end_is_said_once(run):
    """Restore stops at a named type NUL header tar reads as a file: said once, on the backup."""
    stop = raw_header(b"apps/com.example.notes/f/end", b"%011o\0" % 0, kind=b"\0")
    doc = run(ab(member("apps/com.example.clean/a/base.apk", CLEAN) + stop + b"\0" * 1024))
    assert [e["errors"][0]["code"] for e in doc["errors"]] == [STOPS]


@pytest.mark.parametrize("path", sorted(BACKUPS.glob("*.ab")), ids=lambda p: p.name)
def test_honest_backups_read_the_same_both_ways(run, path):
    """The shipped backups: restore and tar read every header alike (a guard: no new fact)."""
    doc = run(path.read_bytes())
    assert not facts(doc, TWO_WAYS) and not facts(doc, STOPS)
    assert doc["apps"]


def test_a_compressed_stream_is_inflated_once(run):
    """The repro compressed as adb writes it: one zlib stream, read forward once."""
    data = b"ANDROID BACKUP\n5\n1\nnone\n" + zlib.compress(space_size_payload())
    assert apps(run(data))[f"apps/{PKG}/a/base.apk"]["verdict"] == "prohibited"


def test_a_member_tar_reads_inside_restore_content_is_said(run):
    """The other way round: the x header's own size (its pax data's length) is longer than the next
    header's, so restore reads tar's next member (TikTok's base.apk) as a data file's content."""
    inner = member(f"apps/{PKG}/a/base.apk", TIKTOK)
    n = len(inner)
    records = b"%d comment=%s\n" % (n, b"x" * (n - len(str(n)) - len(" comment=\n")))
    x = raw_header(b"apps/com.example.notes/f/blob", b"%011o\0" % n, kind=b"x")
    real = raw_header(b"apps/com.example.notes/f/small", b"%011o\0" % 0)
    doc = run(ab(x + records + real + inner + b"\0" * 1024))
    said = facts(doc, TWO_WAYS)
    assert any(f"tar reads a member 'apps/{PKG}/a/base.apk' ({len(TIKTOK)} bytes)" in m
               and "inside what restore reads as the content of 'apps/com.example.notes/f/blob'" in m
               for m in said), said
    assert any(a["verdict"] == "prohibited" for a in doc["apps"])  # the blob is a tar by its head: walked


def test_a_pax_record_length_past_2_to_the_32_is_cut_as_restores_int_cast(run):
    """Review 80 F4: AOSP's ``readPaxExtendedHeader`` reads a record's length as
    ``(int) extractRadix(...)``: 2^32 + L is L to restore, which then reads the ``size`` record
    after it; tar takes the overflowing length to the end of the pax data, swallows that record
    and reads the next header's own size. TikTok's manifest and base.apk, which restore reads as
    members, lay inside what tar called one data file's content: apkscan stopped restore's reading
    at the x header ("invalid pax declaration") and never scanned them."""
    body = b" path=apps/com.example.other/f/junk\n"
    length = 10 + len(body)
    pax = str(2**32 + length).encode() + body + b"12 size=512\n"
    x = raw_header(b"PaxHeaders/x", b"%011o\0" % len(pax), kind=b"x") + pad(pax)
    inner = member(f"apps/{PKG}/_manifest", manifest(PKG)) + member(f"apps/{PKG}/a/base.apk", TIKTOK)
    tail = b"\0" * 70_000  # keeps any end record of the APK out of the data file's last bytes
    outer = raw_header(b"h", b"%011o\0" % (512 + len(inner) + len(tail)))
    payload = x + outer + b"J" * 512 + inner + pad(tail) + b"\0" * 1024
    doc = run(ab(payload))
    assert apps(doc)[f"apps/{PKG}/a/base.apk"]["verdict"] == "prohibited"
    assert facts(doc, TWO_WAYS)
