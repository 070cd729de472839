"""Review 81 F5-F7: an adb backup read as Android's restore reads it, in three more places.

F5: the header's numbers are read as AOSP ``PerformAdbRestoreTask`` reads them (``Integer.parseInt``:
version ``<= 5``, compressed when the flag is not 0): ``2``, ``01``, ``0``, ``-1``, ``+5`` restore,
and were refused. F6: a member tar reads inside what restore reads as a data file's content is
scanned as tar extracts it, flagged. F7: a ``_manifest`` over 65,536 bytes ends AOSP's restore
(``Restore manifest too big``): what follows is read as tar reads it, flagged. Every backup is built
here from the shipped fixtures (``adb-v5-compressed.ab``, the TikTok and WeChat subject APKs).
"""

from __future__ import annotations

import io
import tarfile

import pytest
from backup_helpers import BACKUPS, AbWriter, manifest, pad, ustar
from conftest import APKS

from apkscan.scan import scan
from apkscan.sources.adb_header import HeaderError, parse_header
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()
HEAD = b"ANDROID BACKUP\n5\n1\nnone\n"
BLOCK = 512
TWO_WAYS, STOPS = "TAMPER_BACKUP_TAR_READ_TWO_WAYS", "TAMPER_BACKUP_RESTORE_STOPS"


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(data: bytes):
        path = tmp_path / "device.ab"
        path.write_bytes(data)
        opts = WalkOptions(tmp_dir=str(tmp_path / "spool"))
        return scan([FileSource([str(path)], opts)], rules, policy).to_dict()
    return go


def apps(doc) -> dict[str, dict]:
    return {a["source"]["chain"][-1]: a for a in doc["apps"]}


def codes(doc) -> list[str]:
    return [i["code"] for e in doc["errors"] for i in e["errors"]]


# F5 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version,flag", [(b"0", b"1"), (b"+5", b"1"), (b"-1", b"1"), (b"5", b"2"),
                                          (b"5", b"01"), (b"0005", b"-7")])
def test_header_numbers_are_read_as_integer_parseint(run, version, flag):
    """The fixture's header rewritten: AOSP restores each (the zlib body inflated, WeChat installed)."""
    src = (BACKUPS / "adb-v5-compressed.ab").read_bytes()
    assert src.startswith(HEAD)
    doc = run(b"ANDROID BACKUP\n" + version + b"\n" + flag + b"\nnone\n" + src[len(HEAD):])
    assert apps(doc)["apps/com.tencent.mm/a/base.apk"]["verdict"] == "prohibited"
    assert codes(doc) == ["BACKUP_HEADER_UNUSUAL"]
    assert "read as Android's restore reads it" in doc["errors"][0]["message"]


def test_the_shipped_header_form_says_nothing(run):
    doc = run((BACKUPS / "adb-v5-compressed.ab").read_bytes())
    assert "BACKUP_HEADER_UNUSUAL" not in codes(doc)


@pytest.mark.parametrize("version,flag,code", [
    (b"6", b"1", "BACKUP_VERSION_UNSUPPORTED"),  # AOSP: "Wrong header version"
    (b"2147483648", b"1", "BACKUP_HEADER_INVALID"),  # past Java's int: NumberFormatException
    (b"5", b"-2147483649", "BACKUP_HEADER_INVALID"),
    (b"+-5", b"1", "BACKUP_HEADER_INVALID"), (b"+", b"1", "BACKUP_HEADER_INVALID"),
    (b"5", b"", "BACKUP_HEADER_INVALID"), (b"5 ", b"1", "BACKUP_HEADER_INVALID"),
    (b"\xd9\xa5", b"1", "BACKUP_HEADER_INVALID"),  # bytes read one char each: no Unicode digit
])
def test_header_numbers_parseint_refuses(version, flag, code):
    with pytest.raises(HeaderError) as exc:
        parse_header(b"ANDROID BACKUP\n" + version + b"\n" + flag + b"\nnone\n")
    assert exc.value.code == code


def test_header_flag_zero_in_any_form_is_uncompressed():
    header, _ = parse_header(b"ANDROID BACKUP\n-0\n+000\nnone\n")
    assert (header.version, header.compressed) == (0, False)
    assert header.unusual == ("version '-0'", "compression flag '+000'")


# F6 ---------------------------------------------------------------------------------------------

def tar_only_member_payload(hidden_name: str) -> bytes:
    """The reviewer's backup: a pax ``x`` header with no ``size`` record. Restore keeps the x header's
    own size for data.bin (P bytes: junk, a ustar header, TikTok, zeros); tar takes the next
    header's 512 and then reads a member ``hidden_name`` holding TikTok."""
    content = b"J" * BLOCK + ustar(hidden_name, len(TIKTOK)) + pad(TIKTOK) + b"\0" * BLOCK
    size = len(content)
    path = b"path=apps/com.example.clean/f/data.bin\n"
    path = b"%d " % (len(path) + 3) + path
    n = size - len(path)
    comment = b"%d comment=" % n
    comment += b"x" * (n - len(comment) - 1) + b"\n"
    assert len(path + comment) == size
    return (ustar("PaxHeaders/data.bin", size, tarfile.XHDTYPE) + pad(path + comment)
            + ustar("data.bin", BLOCK) + content + b"\0" * 2 * BLOCK)


@pytest.mark.parametrize("hidden", ["apps/com.example.clean/f/cache.bin", "apps/com.zhiliaoapp.musically/a/base.apk"])
def test_a_member_only_tar_reads_inside_restore_content_is_scanned(run, hidden):
    payload = tar_only_member_payload(hidden)
    listed = tarfile.open(fileobj=io.BytesIO(payload))  # the oracle: tar's reading
    assert [(m.name, m.size) for m in listed.getmembers()][-1] == (hidden, len(TIKTOK))
    assert listed.extractfile(hidden).read() == TIKTOK
    doc = run(HEAD.replace(b"\n1\n", b"\n0\n") + payload)
    app = apps(doc)[hidden]
    assert app["verdict"] == "prohibited"
    said = [t["message"] for t in app["identity"]["tamper"] if t["code"] == TWO_WAYS]
    assert said and "inside what restore reads as the content of 'apps/com.example.clean/f/data.bin'" in said[0]
    assert "scanned as tar extracts it" in said[0]


def test_a_member_only_tar_reads_cut_short_is_said_not_scanned(run):
    payload = tar_only_member_payload("apps/com.example.clean/f/cache.bin")
    cut = payload[:len(payload) - 3 * BLOCK - 4096]  # the end of TikTok never arrives
    doc = run(HEAD.replace(b"\n1\n", b"\n0\n") + cut)
    assert not doc["apps"]
    msgs = [i["message"] for e in doc["errors"] for i in e["errors"] if i["code"] == TWO_WAYS]
    assert any("were read: not scanned" in m for m in msgs), msgs
    assert "BACKUP_TRUNCATED" in codes(doc)


# F7 ---------------------------------------------------------------------------------------------

def big_manifest_backup(size: int, name: str = "apps/com.example.clean/_manifest") -> bytes:
    first = manifest("com.example.clean", 1, [], False)
    big = first + b"#" * (size - len(first) - 1) + b"\n"
    out = io.BytesIO()
    with AbWriter(out, compress=False) as w:
        w.add(name, big)
        w.add("apps/com.tencent.mm/_manifest", manifest("com.tencent.mm", 1, [], True))
        w.add("apps/com.tencent.mm/a/base.apk", WECHAT)
    return out.getvalue()


def test_a_manifest_over_64_kib_ends_restore(run):
    doc = run(big_manifest_backup(70_000))
    got = apps(doc)
    wechat = got["apps/com.tencent.mm/a/base.apk"]
    assert wechat["verdict"] == "prohibited"
    stops = [t["message"] for t in wechat["identity"]["tamper"] if t["code"] == STOPS]
    assert stops and "of 70000 bytes: restore refuses a _manifest or _meta over 65536 bytes" in stops[0]
    assert "restore never does" in got["apps/com.example.clean/_manifest"]["identity"]["record_note"]


@pytest.mark.parametrize("name", ["apps/com.example.clean/_meta", "shared/_manifest"])
def test_other_files_restore_reads_as_manifest_or_metadata_end_it_too(run, name):
    """AOSP ``readMetadata`` has the same 64 KiB limit; ``shared/_manifest`` is ``_manifest`` to
    ``restoreOneFile`` (``readTarHeaders`` drops ``shared/``)."""
    wechat = apps(run(big_manifest_backup(70_000, name)))["apps/com.tencent.mm/a/base.apk"]
    assert wechat["verdict"] == "prohibited"
    assert [t["code"] for t in wechat["identity"]["tamper"]] == [STOPS]


def test_a_manifest_of_exactly_64_kib_is_read_by_restore(run):
    doc = run(big_manifest_backup(65_536))
    wechat = apps(doc)["apps/com.tencent.mm/a/base.apk"]
    assert wechat["verdict"] == "prohibited" and wechat["identity"]["tamper"] == []
    assert STOPS not in codes(doc)


def test_a_member_only_tar_reads_past_the_memory_bound_is_spooled_and_scanned(run, monkeypatch):
    """Its bytes are kept in memory as they pass, up to MAX_KEPT: past it they are spooled to the
    walk's temporary space and scanned the same (review 91; the bound lowered here to TikTok's size
    less one). What that space has no room for: ``tests/test_adb_hidden_spooled.py``."""
    from apkscan.sources import adb_tar_shadow

    monkeypatch.setattr(adb_tar_shadow, "MAX_KEPT", len(TIKTOK) - 1)
    doc = run(HEAD.replace(b"\n1\n", b"\n0\n") + tar_only_member_payload("apps/com.example.clean/f/cache.bin"))
    app = apps(doc)["apps/com.example.clean/f/cache.bin"]
    assert app["verdict"] == "prohibited"
    said = [t["message"] for t in app["identity"]["tamper"] if t["code"] == TWO_WAYS]
    assert said and "scanned as tar extracts it" in said[0]
    assert "BACKUP_TAR_MEMBER_UNSCANNED" not in codes(doc)
