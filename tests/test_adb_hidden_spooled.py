"""Review 91: a member only tar reads in an adb backup, past the bytes kept in memory, is spooled.

A member tar reads inside what Android's restore reads as another file's content is scanned as tar
extracts it (review 81 F6). Its bytes were kept in memory up to ``MAX_KEPT`` (24 MiB); a larger one
was ``BACKUP_TAR_MEMBER_UNSCANNED``, so padding a hidden banned APK past 24 MiB turned a verdict into
an error. Now it is appended to the walk's private temporary space as it passes (``--tmp-dir``,
``--tmp-limit``), read there in place and deleted once scanned; only what the temporary space has no
room for is an error, ``CONTAINER_TMP_LIMIT``, as for any spooled member. Every backup is built
here: a pax layout (review 80 F4's, the other way round) around the TikTok subject APK, and a 60 MiB
TikTok signed by apksigner with the fixture's key.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import zipfile

import pytest
from backup_helpers import pad, ustar
from conftest import APKS, KEYS

from apkscan.issues import ApkScanError
from apkscan.scan import scan
from apkscan.sources import adb_tar_shadow
from apkscan.sources.adb_backup import AdbBackupReader
from apkscan.sources.files import FileSource
from apkscan.sources.interface import InputProblem, Member, ScanInput
from apkscan.sources.tempspace import TempSpace
from apkscan.sources.walker import WalkOptions

TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
HEAD = b"ANDROID BACKUP\n5\n0\nnone\n"
BLOCK = 512
TWO_WAYS = "TAMPER_BACKUP_TAR_READ_TWO_WAYS"
FIRST, SECOND = "apps/com.example.clean/f/cache.bin", "apps/com.example.clean/f/cache2.bin"
COVER = "apps/com.example.clean/f/data.bin"


def backup(*hidden: tuple[str, bytes]) -> bytes:
    """Review 80 F4's pax record length past 2^32 the other way round: restore reads it cut to an int
    and then the ``size`` record after it, so data.bin's content is junk, each hidden member's header
    and bytes, and a zero block; tar takes the length to the end of the pax data, swallowing that
    record, reads the next header's own 512 bytes, then each ``hidden`` member there."""
    content = b"J" * BLOCK + b"".join(ustar(n, len(d)) + pad(d) for n, d in hidden) + b"\0" * BLOCK
    body = f" path={COVER}\n".encode()
    size = b" size=%d\n" % len(content)
    size = b"%d" % (len(size) + len(str(len(size) + 2))) + size
    pax = str(2**32 + 10 + len(body)).encode() + body + size
    assert int(size.split()[0]) == len(size)
    return HEAD + (ustar("PaxHeaders/x", len(pax), tarfile.XHDTYPE) + pad(pax) + ustar("h", BLOCK) + content
                   + b"\0" * 2 * BLOCK)


def tar_reads(data: bytes) -> dict[str, bytes]:
    """The oracle: what Python's tarfile extracts from the payload."""
    with tarfile.open(fileobj=io.BytesIO(data[len(HEAD):])) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isreg()}


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(data: bytes, tmp_limit: int = 4 << 30):
        path = tmp_path / "device.ab"
        path.write_bytes(data)
        opts = WalkOptions(tmp_dir=str(tmp_path / "spool"), tmp_limit=tmp_limit)
        return scan([FileSource([str(path)], opts)], rules, policy).to_dict()
    return go


def apps(doc) -> dict[str, dict]:
    return {a["source"]["chain"][-1]: a for a in doc["apps"]}


def problems(doc) -> dict[str, list[str]]:
    return {e["source"]["chain"][-1]: [i["code"] for i in e["errors"]] for e in doc["errors"]}


@pytest.fixture(scope="module")
def big_tiktok(tmp_path_factory) -> bytes:
    """The TikTok subject APK with a 60 MiB stored asset, signed again with its fixture key."""
    if not shutil.which("apksigner"):
        pytest.skip("apksigner not installed")
    folder = tmp_path_factory.mktemp("big")
    unsigned, signed = folder / "u.apk", folder / "s.apk"
    with zipfile.ZipFile(io.BytesIO(TIKTOK)) as src, zipfile.ZipFile(unsigned, "w") as dst:
        for info in src.infolist():
            if not info.filename.startswith("META-INF/"):
                dst.writestr(info, src.read(info))
        dst.writestr(zipfile.ZipInfo("assets/padding.bin"), hashlib.shake_128(b"pad").digest(60 << 20))
    subprocess.run(["apksigner", "sign", "--key", str(KEYS / "bytedance-like.pk8"), "--cert",
                    str(KEYS / "bytedance-like.pem"), "--min-sdk-version", "21", "--out", str(signed), str(unsigned)],
                   check=True, capture_output=True, timeout=300)
    return signed.read_bytes()


def test_a_hidden_apk_of_60_mib_is_spooled_and_scanned(run, big_tiktok):
    """The reviewer's attack at its real size: not an error, TikTok's verdict, the fact on it."""
    assert len(big_tiktok) > 60 << 20 > adb_tar_shadow.MAX_KEPT
    data = backup((FIRST, big_tiktok))
    assert tar_reads(data)[FIRST] == big_tiktok
    doc = run(data)
    app = apps(doc)[FIRST]
    assert app["verdict"] == "prohibited"
    said = [t["message"] for t in app["identity"]["tamper"] if t["code"] == TWO_WAYS]
    assert said and f"inside what restore reads as the content of {COVER!r}" in said[0]
    assert "scanned as tar extracts it" in said[0]
    assert not [c for codes in problems(doc).values() for c in codes if c != TWO_WAYS]


def test_past_the_memory_bound_it_is_read_in_place_from_temporary_space_then_deleted(tmp_path, monkeypatch):
    """The copy lies in the walk's --tmp-dir folder while it is scanned, and is gone when the walk moves on."""
    monkeypatch.setattr(adb_tar_shadow, "MAX_KEPT", len(TIKTOK) - 1)
    path = tmp_path / "device.ab"
    path.write_bytes(backup((FIRST, TIKTOK), (SECOND, TIKTOK)))
    spool = tmp_path / "spool"
    seen: list[str] = []
    for item in FileSource([str(path)], WalkOptions(tmp_dir=str(spool))).inputs():
        if isinstance(item, ScanInput) and item.chain[-1] in (FIRST, SECOND):
            assert item.path.startswith(str(spool)) and not item.cleanup
            with open(item.path, "rb") as f:
                f.seek(item.offset)
                assert f.read(item.length or len(TIKTOK)) == TIKTOK
            seen.append(item.path)
        elif seen:  # the walk moved on past them
            assert not os.path.exists(seen[-1]), item
    assert len(seen) == 2


def test_more_than_the_temporary_space_holds_is_container_tmp_limit(run, monkeypatch):
    monkeypatch.setattr(adb_tar_shadow, "MAX_KEPT", 0)
    doc = run(backup((FIRST, TIKTOK)), tmp_limit=len(TIKTOK) - 1)
    assert not doc["apps"]
    assert problems(doc)[FIRST] == [TWO_WAYS, "CONTAINER_TMP_LIMIT"]
    assert "BACKUP_TAR_MEMBER_UNSCANNED" not in str(doc)


@pytest.mark.parametrize("kept", [0, len(TIKTOK)])  # both spooled; the first in memory, the second spooled
def test_several_hidden_members_are_all_scanned_within_the_bound(run, monkeypatch, kept):
    monkeypatch.setattr(adb_tar_shadow, "MAX_KEPT", kept)
    data = backup((FIRST, TIKTOK), (SECOND, TIKTOK))
    read = tar_reads(data)
    assert (read[FIRST], read[SECOND]) == (TIKTOK, TIKTOK)
    got = apps(run(data, tmp_limit=2 * len(TIKTOK)))
    assert got[FIRST]["verdict"] == got[SECOND]["verdict"] == "prohibited"


def test_several_hidden_members_held_at_once_share_one_bound(run, monkeypatch):
    """Both pass inside one file's content, so both are held before either is scanned: the bound is
    their total, and the one past it is the error."""
    monkeypatch.setattr(adb_tar_shadow, "MAX_KEPT", 0)
    doc = run(backup((FIRST, TIKTOK), (SECOND, TIKTOK)), tmp_limit=2 * len(TIKTOK) - 1)
    assert apps(doc)[FIRST]["verdict"] == "prohibited"
    assert SECOND not in apps(doc)
    assert problems(doc)[SECOND] == [TWO_WAYS, "CONTAINER_TMP_LIMIT"]


def reader_items(data: bytes, temp: TempSpace, stop_after: int | None = None) -> list:
    entries = AdbBackupReader(io.BytesIO(data), ("t.ab",), None, temp=temp).entries()
    out = []
    for item in entries:
        out.append(item)
        if isinstance(item, Member) and item.window is not None:
            assert temp.used() >= len(TIKTOK)  # read in place from its spooled copy
        if stop_after is not None and len(out) >= stop_after:
            entries.close()  # the walk cut short (a time budget, an interrupt)
            break
    return out


@pytest.mark.parametrize("stop_after", [None, 1])
def test_the_spooled_copy_is_deleted_when_the_walk_ends_or_is_cut(tmp_path, monkeypatch, stop_after):
    monkeypatch.setattr(adb_tar_shadow, "MAX_KEPT", 0)
    temp = TempSpace(str(tmp_path / "spool"))
    data = backup((FIRST, TIKTOK), (SECOND, TIKTOK))
    items = reader_items(data, temp, stop_after)
    if stop_after is None:
        assert [i.name for i in items if isinstance(i, Member)][-2:] == [FIRST, SECOND]
    assert temp.used() == 0 and temp.promised == 0
    temp.close()


def test_a_spooled_member_cut_short_is_said_and_its_copy_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr(adb_tar_shadow, "MAX_KEPT", 0)
    temp = TempSpace(str(tmp_path / "spool"))
    data = backup((FIRST, TIKTOK))
    items = reader_items(data[:len(data) - 3 * BLOCK - 4096], temp)  # the end of TikTok never arrives
    said = [i.message for p in items if isinstance(p, InputProblem) for i in p.issues if i.code == TWO_WAYS]
    assert any("were read: not scanned" in m for m in said), said
    assert not [i for i in items if isinstance(i, Member) and i.name == FIRST]
    assert temp.used() == 0 and temp.promised == 0
    temp.close()


def test_a_reader_given_no_temporary_space_says_what_it_could_not_keep(monkeypatch):
    """Used as a library without the walk's temporary space: the member past memory is an error, named."""
    monkeypatch.setattr(adb_tar_shadow, "MAX_KEPT", 0)
    items = list(AdbBackupReader(io.BytesIO(backup((FIRST, TIKTOK))), ("t.ab",), None).entries())
    codes = {i.code for p in items if isinstance(p, InputProblem) and p.chain[-1] == FIRST for i in p.issues}
    assert codes == {TWO_WAYS, "BACKUP_TAR_MEMBER_UNSCANNED"}


def test_a_spool_file_swapped_between_writes_is_refused(tmp_path):
    """A member still passing when others are handed on: its file is opened again by name for the
    rest, and must be the copy written (review 66 F2's rule for every spooled copy)."""
    temp = TempSpace(str(tmp_path / "spool"))
    fill = temp.fill()
    fill.reserve(8, "'m'")
    fill.write(b"abcd", 0)
    path = fill.ready()
    os.unlink(path)
    with open(path, "wb") as f:  # another file under the copy's name
        f.write(b"abcd")
    with pytest.raises(ApkScanError) as exc:
        fill.write(b"efgh", 4)
    assert exc.value.code == "CONTAINER_TMP_CHANGED"
    fill.drop()
    assert temp.promised == 0
    temp.close()


def test_a_spool_file_written_again_after_a_reading_is_the_same_file(tmp_path):
    temp = TempSpace(str(tmp_path / "spool"), limit=8)
    fill = temp.fill()
    assert fill.reserve(4, "'a'") == 0 and fill.reserve(4, "'b'") == 4
    with pytest.raises(ApkScanError) as exc:
        fill.reserve(1, "'c'")  # the bound counts what is reserved, not yet written
    assert exc.value.code == "CONTAINER_TMP_LIMIT"
    fill.write(b"abcd", 0)
    path = fill.ready()
    fill.write(b"efgh", 4)
    assert fill.ready() == path and open(path, "rb").read() == b"abcdefgh"
    fill.drop()
    assert not os.path.exists(path) and temp.used() == 0
    temp.close()


def test_members_past_the_held_cap_are_counted_in_one_error(run, monkeypatch):
    """Millions of 1-byte hidden members each cost a list entry held until restore's next header (and
    a pass of every chunk over each): past MAX_HELD they are counted, one coded error on the file whose
    content held them; TikTok among the first is still scanned, nothing else is dropped silently."""
    monkeypatch.setattr(adb_tar_shadow, "MAX_HELD", 6)
    names = [f"apps/com.example.clean/f/n{i}.bin" for i in range(10)]
    data = backup((FIRST, TIKTOK), *[(n, b"x") for n in names])
    assert set(tar_reads(data)) >= {FIRST, *names}
    doc = run(data)
    assert apps(doc)[FIRST]["verdict"] == "prohibited"
    (said,) = [i for e in doc["errors"] if e["source"]["chain"][-1] == COVER for i in e["errors"]
               if i["code"] == "BACKUP_TAR_HIDDEN_TOO_MANY"]
    assert said["message"].startswith("5 more members only tar reads")  # 11 found, 6 held
    assert f"({', '.join(repr(n) for n in names[5:])})" in said["message"]  # the dropped ones named
    held = [n for n in names if any(e["source"]["chain"][-1] == n for e in doc["errors"])]
    assert held == names[:5]  # the 5 tiny ones held beside TikTok, each said with its fact


def test_whole_members_waiting_are_not_passed_over_for_every_chunk(monkeypatch):
    """_keep looks only at the member still passing: feeding a chunk after 3,000 whole members wait
    touches none of them (it looked at each: quadratic in a backup of many tiny hidden members)."""
    shadow = adb_tar_shadow.TarShadow()
    shadow.content_of = COVER  # as on_header sets it: what restore reads these bytes as
    content = b"".join(ustar(f"m{i}", 1) + pad(b"x") for i in range(3000))
    shadow.feed(0, content)
    assert len(shadow._hidden) == 3000 and shadow._passing == []
    looked = []

    class Spy(list):
        def __iter__(self):
            looked.append(len(self))
            return super().__iter__()
    shadow._passing = Spy(shadow._passing)
    shadow.feed(len(content), b"\0" * 65536)
    assert looked == [0]  # the one pass saw no member: every one waiting is whole
