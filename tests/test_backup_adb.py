"""adb backup reader on the generated fixtures and on hostile backups built here."""

from __future__ import annotations

import io
import tarfile
import zlib

import pytest

from apkscan.sources.adb_backup import AdbBackupReader, looks_like_adb_backup
from apkscan.sources.adb_header import java_quirk_bytes
from backup_helpers import (BACKUPS, PASSWORD, AbWriter, Collected, apk_sha256, build_ab, cert_sha256s,
                            manifest, pem_der, pem_sha256)

WECHAT = "apps/com.tencent.mm/a/base.apk"
FIXTURES = [("adb-v5-compressed.ab", None), ("adb-v5-aes.ab", PASSWORD),
            ("adb-v1-aes-uncompressed.ab", PASSWORD)]


def read(data: bytes, password: str | None = None, **kw) -> Collected:
    return Collected(AdbBackupReader(io.BytesIO(data), ("t.ab",), password, **kw).entries())


def nth_line_end(data: bytes, n: int) -> int:
    pos = -1
    for _ in range(n):
        pos = data.index(b"\n", pos + 1)
    return pos + 1


def apk_bytes(name: str = "wechat-tencent-subject.apk") -> bytes:
    return (BACKUPS.parent / "apks" / name).read_bytes()


@pytest.mark.parametrize("name,password", FIXTURES)
def test_fixture_members_records_and_skips(name, password):
    with (BACKUPS / name).open("rb") as f:
        got = Collected(AdbBackupReader(f, (name,), password).entries())
    assert got.members == {WECHAT: apk_sha256("wechat-tencent-subject.apk")}
    assert got.problems == []
    app = got.app("com.zhiliaoapp.musically")  # _manifest only: no APK in the backup
    assert app.recorded_by == "adb backup _manifest"
    assert app.version_code == 310501
    assert cert_sha256s(app) == [pem_sha256("bytedance-like")]
    assert app.chain == (name, "apps/com.zhiliaoapp.musically/_manifest")
    # every _manifest is yielded; the scan drops WeChat's because an APK of that package is scanned
    assert [a.package for a in got.recorded] == ["com.tencent.mm", "com.zhiliaoapp.musically"]
    assert got.skip_counts == {"app data (not scanned)": 3, "OBB expansion files (not scanned)": 1,
                               "key-value backup data (not scanned)": 1, "shared storage (not scanned)": 1}


def test_record_of_an_app_whose_apk_is_present_stays_reachable():
    reader = AdbBackupReader((BACKUPS / "adb-v5-compressed.ab").open("rb"), ("x.ab",), None)
    Collected(reader.entries())
    wechat = reader.recorded["com.tencent.mm"]
    assert cert_sha256s(wechat) == [pem_sha256("tencent-like")]
    assert "APK was backed up in its folder" in wechat.note


@pytest.mark.parametrize("name", ["adb-v5-aes.ab", "adb-v1-aes-uncompressed.ab"])
def test_password_missing_and_wrong(name):
    data = (BACKUPS / name).read_bytes()
    assert read(data).codes == ["BACKUP_PASSWORD_REQUIRED"]
    wrong = read(data, "apkscan-tesT")
    assert wrong.codes == ["BACKUP_PASSWORD_WRONG"] and not wrong.members and not wrong.recorded


def test_java_quirk_matches_the_spec_bytes():
    # backup-formats.md: each byte >= 0x80 becomes EF BE xx or EF BF xx; ASCII stays
    assert java_quirk_bytes(b"\x41\x80\xbf\xc0\xff") == b"\x41\xef\xbe\x80\xef\xbe\xbf\xef\xbf\x80\xef\xbf\xbf"


@pytest.mark.parametrize("version,quirk", [(1, False), (1, True), (2, True), (5, True), (5, False)])
def test_both_checksum_variants_open(version, quirk):
    data = build_ab([("apps/a.b/a/base.apk", apk_bytes())], version=version, password="pw",
                    quirk_checksum=quirk, seed=version * 10 + quirk)
    assert read(data, "pw").members == {"apps/a.b/a/base.apk": apk_sha256("wechat-tencent-subject.apk")}


def test_miui_junk_lines_and_crlf_header():
    entries = [("apps/a.b/a/base.apk", apk_bytes())]
    junk = build_ab(entries, prefix=b"MIUI backup v2\nDevice: x\n")
    assert looks_like_adb_backup(junk[:4096])
    assert list(read(junk).members) == ["apps/a.b/a/base.apk"]
    plain = build_ab(entries, password="pw")
    end = nth_line_end(plain, 9)
    crlf = plain[:end].replace(b"\n", b"\r\n") + plain[end:]
    assert read(crlf, "pw").members == {"apps/a.b/a/base.apk": apk_sha256("wechat-tencent-subject.apk")}


def test_not_a_backup_and_huge_lines():
    assert not looks_like_adb_backup(b"PK\x03\x04" + bytes(100))
    assert not looks_like_adb_backup(b"x" * 100_000 + b"\nANDROID BACKUP\n")
    assert read(b"x" * 100_000 + b"\nANDROID BACKUP\n5\n1\nnone\n").codes == ["BACKUP_HEADER_INVALID"]
    huge_blob = b"ANDROID BACKUP\n5\n1\nAES-256\n" + b"A" * 5000 + b"\n"
    assert read(huge_blob, "pw").codes == ["BACKUP_HEADER_INVALID"]
    assert read(b"ANDROID BACKUP\n5\n1\nAES-256\n00\n00\n10000\n00\n00\n", "pw").codes == ["BACKUP_HEADER_INVALID"]


@pytest.mark.parametrize("header,code", [
    (b"ANDROID BACKUP\n6\n1\nnone\n", "BACKUP_VERSION_UNSUPPORTED"),
    (b"ANDROID BACKUP\nfive\n1\nnone\n", "BACKUP_HEADER_INVALID"),  # 0 and -1 restore (review 81 F5)
    (b"ANDROID BACKUP\n5\n1\nAES-128\n", "BACKUP_ENCRYPTION_UNSUPPORTED"),
    (b"ANDROID BACKUP\n5\nyes\nnone\n", "BACKUP_HEADER_INVALID"),  # 2 is compressed to restore
    (b"ANDROID BACKUP\n5\n", "BACKUP_HEADER_INVALID"),
])
def test_bad_headers(header, code):
    assert read(header + bytes(64)).codes == [code]


def test_header_only_files_are_empty_backups():
    assert read(b"ANDROID BACKUP\n5\n1\nnone\n").codes == ["BACKUP_EMPTY"]
    encrypted = build_ab([], password="pw")
    head = encrypted[: nth_line_end(encrypted, 9)]  # the 9 header lines, as adb 1.0.32 writes
    assert len(head) < 600 and head.endswith(b"\n")
    assert read(head, "pw").codes == ["BACKUP_EMPTY"]
    assert read(build_ab([])).codes == ["BACKUP_EMPTY"]  # a valid stream holding no files


def test_truncated_inside_cipher_zlib_and_tar():
    entries = [("apps/a.b/a/base.apk", apk_bytes()), ("apps/c.d/a/base.apk", apk_bytes("clean-v1v2v3.apk"))]
    enc = build_ab(entries, password="pw")
    got = read(enc[:-5], "pw")
    assert got.codes == ["BACKUP_TRUNCATED"] and "encrypted body" in got.problems[0].issues[0].message
    comp = build_ab(entries)
    got = read(comp[: len(comp) - 200])
    assert got.codes == ["BACKUP_TRUNCATED"] and "zlib" in got.problems[0].issues[0].message
    raw = build_ab(entries, compress=False)
    cut = raw.index(b"ANDROID BACKUP") + 24 + 512 + 3000  # inside the first APK's data
    got = read(raw[:cut])
    assert got.codes == ["BACKUP_TRUNCATED"] and "tar" in got.problems[0].issues[0].message
    assert got.member_errors == {"apps/a.b/a/base.apk": "BACKUP_TRUNCATED"}
    between = 24 + 512 + 8704 + 100  # inside the second member's header
    got = read(raw[:between])
    assert got.codes == ["BACKUP_TRUNCATED"] and list(got.members) == ["apps/a.b/a/base.apk"]


def test_corrupt_zlib():
    data = bytearray(build_ab([("apps/a.b/a/base.apk", apk_bytes())]))
    body = data.index(b"none\n") + 5
    data[body + 2: body + 40] = b"\xff" * 38  # an invalid deflate block right after the zlib header
    got = read(bytes(data))
    assert got.codes == ["BACKUP_CORRUPT"] and not got.members


def test_hostile_tar_names_and_types():
    apk = apk_bytes()
    got = read(build_ab([
        ("../../etc/evil.apk", apk),
        ("/abs/evil.apk", apk),
        ("apps/x.y/a/../../../escape.apk", apk),
        ("apps/x.y/a/base.apk", b"", tarfile.SYMTYPE, "/system/app/Real.apk"),
        ("apps/x.y/a/hard.apk", b"", tarfile.LNKTYPE, "apps/x.y/a/base.apk"),
        ("apps/x.y/f/dev", b"", tarfile.CHRTYPE),
        ("apps/x.y/f/fifo", b"", tarfile.FIFOTYPE),
    ]))
    # odd names are members under their raw names (display only): an odd name cannot hide an APK
    assert set(got.members) == {"../../etc/evil.apk", "/abs/evil.apk", "apps/x.y/a/../../../escape.apk"}
    assert got.skip_counts == {"symbolic link (not followed)": 1, "hard link (not followed)": 1,
                               "device or FIFO (not followed)": 2}
    # Android's restore stops at the symbolic link (type '2' is no type it knows: review 78 F2)
    assert got.codes == ["TAMPER_BACKUP_RESTORE_STOPS"] and "type '2'" in got.problems[0].issues[0].message


def raw_tar_backup(tar_bytes: bytes) -> bytes:
    return b"ANDROID BACKUP\n5\n0\nnone\n" + tar_bytes


def test_huge_pax_header_is_refused_without_reading_it():
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 8**11 - 1  # 8 GiB claimed
    got = read(raw_tar_backup(info.tobuf(tarfile.USTAR_FORMAT) + bytes(4096)))
    assert got.codes in (["BACKUP_TAR_INVALID"],)
    first = tarfile.TarInfo("apps/a.b/a/base.apk")
    first.size = 0
    got = read(raw_tar_backup(first.tobuf() + info.tobuf(tarfile.USTAR_FORMAT) + bytes(4096)))
    assert got.codes == ["BACKUP_TAR_INVALID"] and "extended header" in got.problems[0].issues[0].message


def test_chain_of_extended_headers_is_bounded():
    block = b""
    for _ in range(50):
        body = b"20 comment=xxxxxxxx\n"
        info = tarfile.TarInfo("././@PaxHeader")
        info.type, info.size = tarfile.XHDTYPE, len(body)
        block += info.tobuf(tarfile.USTAR_FORMAT) + body + bytes(512 - len(body))
    first = tarfile.TarInfo("apps/a.b/f/x")
    got = read(raw_tar_backup(first.tobuf() + block + bytes(2048)))
    assert got.codes == ["BACKUP_TAR_INVALID"]


def test_manifest_hostile_cases():
    der = pem_der("tencent-like")
    got = read(build_ab([
        ("apps/com.innocent/_manifest", manifest("com.tencent.mm", 1, [der], False)),
        ("apps/a.b/_manifest", b"1\na.b\n1\n30\n\n0\n1000\n"),
        ("apps/c.d/_manifest", b"1\nc.d\n1\n30\n\n0\n1\nzz\n"),
        ("apps/e.f/_manifest", manifest("e.f", 7, [der], True)),
    ]))
    assert sorted(got.codes) == ["BACKUP_MANIFEST_INVALID", "BACKUP_MANIFEST_INVALID", "BACKUP_MANIFEST_MISMATCH"]
    claimed = got.app("e.f")
    assert "not in this file" in claimed.note and cert_sha256s(claimed) == [pem_sha256("tencent-like")]
    moved = got.app("com.tencent.mm")  # the record's own claim, with the folder it sat in
    assert "apps/com.innocent/" in moved.note


def test_member_opens_once_and_only_while_current():
    reader = AdbBackupReader(io.BytesIO(build_ab([("apps/a.b/a/base.apk", apk_bytes()),
                                                  ("apps/c.d/a/base.apk", apk_bytes())])), ("t",), None)
    items = reader.entries()
    first = next(items)
    first.open().read(10)
    with pytest.raises(OSError):
        first.open()
    second = next(items)
    with pytest.raises(OSError):
        first.open()
    assert second.open().read(2) == b"PK"


def test_decompression_is_bounded():
    bomb = build_ab([("apps/a.b/f/zeros", bytes(8 << 20))])
    assert len(bomb) < 100_000
    assert read(bomb, max_expanded=1 << 20).codes == ["BACKUP_LIMIT_EXCEEDED"]


def test_data_after_the_zlib_stream_is_reported():
    data = build_ab([("apps/a.b/a/base.apk", apk_bytes())]) + zlib.compress(b"hidden")
    got = read(data)
    assert got.codes == ["BACKUP_TRAILING_DATA"] and list(got.members) == ["apps/a.b/a/base.apk"]


class RecordingStream(io.RawIOBase):
    """Wraps a file and records every read size, so unbounded reads show up."""

    def __init__(self, inner):
        self.inner, self.sizes = inner, []

    def readable(self):
        return True

    def read(self, size=-1):
        self.sizes.append(size)
        return self.inner.read(size if size is not None and size >= 0 else -1)

    def readinto(self, b):
        self.sizes.append(len(b))
        return self.inner.readinto(b)


@pytest.mark.parametrize("password", [None, "pw"])
def test_reads_are_bounded(tmp_path, password):
    import os
    path = tmp_path / "big.ab"
    with path.open("wb") as out, AbWriter(out, password=password) as w:
        w.add("apps/a.b/f/noise", os.urandom(3 << 20))
        w.add("apps/a.b/a/base.apk", apk_bytes())
    with path.open("rb") as f:
        stream = RecordingStream(f)
        got = Collected(AdbBackupReader(stream, ("big.ab",), password).entries())
    assert list(got.members) == ["apps/a.b/a/base.apk"] and got.problems == []
    assert all(s is not None and 0 <= s <= 64 * 1024 for s in stream.sizes), max(stream.sizes)
    assert len(stream.sizes) > 40  # streamed in many bounded reads, not one


@pytest.mark.parametrize("compress,password", [(False, None), (True, None), (True, "pw")])
def test_mutated_backups_never_raise(compress, password):
    """A smoke fuzz: random byte flips and cuts give problems, never an exception."""
    import random
    der = pem_der("tencent-like")
    base = build_ab([("apps/a.b/_manifest", manifest("a.b", 1, [der], True)), ("apps/a.b/a/base.apk", apk_bytes()),
                     ("apps/a.b/f/" + "x" * 120, b"y" * 3000)], compress=compress, password=password)
    rng = random.Random(7)
    for _ in range(150 if password is None else 40):  # each encrypted try runs PBKDF2
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        got = read(bytes(data), password)  # must not raise
        assert all(i.code for p in got.problems for i in p.issues)


def test_member_expires_at_the_end_of_the_stream():
    reader = AdbBackupReader(io.BytesIO(build_ab([("apps/a.b/a/base.apk", apk_bytes())])), ("t",), None)
    items = list(reader.entries())
    assert [type(i).__name__ for i in items] == ["Member"]
    with pytest.raises(OSError, match="opened once"):
        items[0].open()


def test_non_utf8_names_become_printable_display_strings():
    info = tarfile.TarInfo("x")
    info.name = "apps/a.b/a/\udcff.apk"  # raw byte 0xFF in the header
    raw = info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape") + bytes(1024)
    got = read(b"ANDROID BACKUP\n5\n0\nnone\n" + raw)
    (name,) = got.members
    name.encode("utf-8")  # no lone surrogates reach the reports
    assert name == "apps/a.b/a/\ufffd.apk"


def test_manifest_record_becomes_a_recorded_identity_never_a_verified_one():
    from apkscan.sources.records import recorded_identity
    with (BACKUPS / "adb-v5-compressed.ab").open("rb") as f:
        app = Collected(AdbBackupReader(f, ("x.ab",), None).entries()).app("com.zhiliaoapp.musically")
    identity = recorded_identity(app)
    assert identity.origin == "recorded" and identity.recorded_by == "adb backup _manifest"
    assert [c.sha256 for c in identity.recorded_certificates] == [pem_sha256("bytedance-like")]
    assert "musical.ly" in identity.recorded_certificates[0].subject
