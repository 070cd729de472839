"""Tar streams (plain, and inside adb backups) read as GNU tar and ``tar -i`` read them (review 54
F2, F3, F8, F9): nothing an extractor gets is lost without a word.

Every archive is built here as real bytes (``tarfile``, ``gzip``, ``zlib``, and an old-GNU sparse
header patched at its documented offsets, which ``tarfile`` cannot write), and scanned end to end
under the shipped rules: a banned app hidden by the trick is ``prohibited``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile
import zlib

import pytest
from conftest import APKS

from apkscan.scan import scan
from apkscan.sources import walkclock
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()
TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
BLOCK = tarfile.BLOCKSIZE


def tar_of(members, fmt=tarfile.GNU_FORMAT) -> bytes:
    """A tar of (name, data[, type flag]) members, with tarfile's end-of-archive marker and padding."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data, *kind in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            if kind:
                info.type = kind[0]
            if info.type == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def body(tar: bytes) -> bytes:
    """A tar without its end-of-archive marker and padding (its last member's data block-padded)."""
    end = len(tar.rstrip(b"\0"))
    return tar[:end + (-end) % BLOCK]


def gnu_sparse(name: str, extents: list[tuple[int, int]], realsize: int, stored: bytes) -> bytes:
    """An old-GNU sparse member (``tar -S``'s default): type ``S``, up to four extents in the header."""
    info = tarfile.TarInfo(name)
    info.size, info.type = len(stored), tarfile.GNUTYPE_SPARSE
    head = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    for i, (offset, size) in enumerate(extents):
        at = 386 + 24 * i
        head[at:at + 24] = tarfile.itn(offset, 12, tarfile.GNU_FORMAT) + tarfile.itn(size, 12, tarfile.GNU_FORMAT)
    head[483:495] = tarfile.itn(realsize, 12, tarfile.GNU_FORMAT)
    head[148:156] = b" " * 8
    head[148:155] = b"%06o\0" % sum(head[:BLOCK])
    return bytes(head) + stored + b"\0" * ((-len(stored)) % BLOCK)


def adb(payload: bytes, compressed: bool = True) -> bytes:
    """An unencrypted adb backup (v5) around a tar stream."""
    return b"ANDROID BACKUP\n5\n%d\nnone\n" % compressed + (zlib.compress(payload) if compressed else payload)


def manifest(package: str) -> bytes:
    """An adb ``_manifest`` (v1) without certificates: the package is what a record names."""
    return "\n".join(["1", package, "1", "33", "com.android.vending", "0", "0", ""]).encode()


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(name: str, data: bytes, **opts):
        path = tmp_path / name
        path.write_bytes(data)
        opts.setdefault("tmp_dir", str(tmp_path / "spool"))
        return scan([FileSource([str(path)], WalkOptions(**opts))], rules, policy).to_dict()
    return go


def apps(doc) -> dict[str, dict]:
    return {a["source"]["chain"][-1]: a for a in doc["apps"]}


def tampers(app) -> list[str]:
    return [t["code"] for t in app["identity"]["tamper"]]


def codes(doc) -> list[str]:
    return [i["code"] for e in doc["errors"] for i in e["errors"]]


# ---------------------------------------------------------------- F2: unknown type flags

@pytest.mark.parametrize("flag", [b"Z", b"8", b"V"])
def test_a_member_of_an_unknown_type_is_read_as_a_regular_file(run, flag):
    """GNU tar extracts it as a normal file and 7-Zip lists it as one: the APK is classified by its
    bytes, with a tamper fact naming the type flag; a real link is still skipped, not followed."""
    doc = run("pull.tar", tar_of([("clean.apk", CLEAN), ("wechat.apk", WECHAT, flag),
                                  ("link.apk", b"", tarfile.SYMTYPE)]))
    got = apps(doc)
    assert got["wechat.apk"]["verdict"] == "prohibited"
    assert tampers(got["wechat.apk"]) == ["TAMPER_TAR_MEMBER_TYPE"] and tampers(got["clean.apk"]) == []
    assert [s["reason"] for s in doc["skipped"]] == ["tar link or special file (symlink, hardlink, device, FIFO): "
                                                     "not followed"]
    assert doc["errors"] == []


def test_adb_backup_member_of_an_unknown_type_is_read(run):
    """In an adb backup too (Android's restore stops there, but the evidence holds the APK)."""
    tar = tar_of([("apps/com.tencent.mm/a/base.apk", WECHAT, b"Z")])
    got = apps(run("device.ab", adb(tar)))
    assert got["apps/com.tencent.mm/a/base.apk"]["verdict"] == "prohibited"
    assert tampers(got["apps/com.tencent.mm/a/base.apk"]) == ["TAMPER_TAR_MEMBER_TYPE"]


# ---------------------------------------------------------------- F3: past the end-of-archive marker

@pytest.mark.parametrize("shape", ["concatenated", "lone zero block", "gzip of both", "leading zeros"])
def test_members_after_an_end_of_archive_marker_are_read_as_tar_i_reads_them(run, shape):
    first, second = tar_of([("clean.apk", CLEAN)]), tar_of([("tiktok.apk", TIKTOK)])
    data = {"concatenated": first + second,
            "lone zero block": body(first) + b"\0" * BLOCK + second,
            "gzip of both": gzip.compress(first + second),
            "leading zeros": b"\0" * BLOCK * 3 + second}[shape]
    if shape == "leading zeros":  # no ustar magic at 257 then: only inside a stream read as a tar
        data = adb(data)
    doc = run("pull.ab" if shape == "leading zeros" else "pull.tar", data)
    got = apps(doc)
    assert got["tiktok.apk"]["verdict"] == "prohibited"
    assert tampers(got["tiktok.apk"]) == ["TAMPER_TAR_PAST_END"]
    assert all(tampers(a) == [] for n, a in got.items() if n != "tiktok.apk")
    assert doc["errors"] == []


def test_an_honest_tar_and_its_zero_padding_say_nothing(run):
    """A tar padded to its record (or far beyond, as on a tape) with zeros is a clean end."""
    doc = run("pull.tar", tar_of([("clean.apk", CLEAN)]) + b"\0" * 40 * BLOCK + b"\0" * 100)
    assert [tampers(a) for a in doc["apps"]] == [[]] and doc["errors"] == []


def test_junk_after_the_marker_is_said_and_a_member_behind_it_still_read(run):
    """Blocks past the marker that are no header are skipped as tar -i skips them, and said."""
    junk = bytes(range(256)) * 4
    doc = run("pull.tar", tar_of([("clean.apk", CLEAN)]) + junk + tar_of([("wechat.apk", WECHAT)]))
    assert apps(doc)["wechat.apk"]["verdict"] == "prohibited"
    assert codes(doc) == ["CONTAINER_TAR_TRAILING_DATA"]
    assert "1024 bytes after a tar end-of-archive marker" in doc["errors"][0]["errors"][0]["message"]


def test_a_garbled_header_between_members_is_still_corrupt(run):
    """Without an end-of-archive marker before it, a bad header is damage, as before."""
    tar = body(tar_of([("clean.apk", CLEAN)])) + b"\x01" * BLOCK + tar_of([("wechat.apk", WECHAT)])
    doc = run("pull.tar", tar)
    assert list(apps(doc)) == ["clean.apk"] and codes(doc) == ["CONTAINER_TAR_CORRUPT"]


def test_adb_backup_of_two_tars_reads_the_second_and_notes_its_records(run):
    """Android's restore stops at the first zero block; the evidence holds the rest: read, marked."""
    first = tar_of([("apps/com.example.clean/a/base.apk", CLEAN)])
    second = tar_of([("apps/com.zhiliaoapp.musically/_manifest", manifest("com.zhiliaoapp.musically")),
                     ("apps/com.tencent.mm/a/base.apk", WECHAT)])
    doc = run("device.ab", adb(first + second))
    got = apps(doc)
    assert got["apps/com.tencent.mm/a/base.apk"]["verdict"] == "prohibited"
    assert tampers(got["apps/com.tencent.mm/a/base.apk"]) == ["TAMPER_TAR_PAST_END"]
    record = got["apps/com.zhiliaoapp.musically/_manifest"]
    assert record["verdict"] == "prohibited" and "end-of-archive marker" in record["identity"]["record_note"]
    assert doc["errors"] == []


# ---------------------------------------------------------------- F8: a walk cut by its budget keeps the records

def slow_at_slow_apk(monkeypatch) -> None:
    """The walk's clock moves 1,000 s when the walker meets a member named ``...slow.apk``."""
    class Clock:
        now = 0.0

        def monotonic(self):
            return self.now

    clock = Clock()
    monkeypatch.setattr(walkclock, "time", clock)
    from apkscan.sources.walker import Walker
    real = Walker.member

    def member(self, m, container, depth, custody=False):
        if m.name.endswith("slow.apk"):
            clock.now += 1000
        return real(self, m, container, depth, custody)

    monkeypatch.setattr(Walker, "member", member)


def test_walk_timeout_in_an_adb_backup_keeps_the_records_parsed_before(rules, policy, tmp_path, monkeypatch):
    """The backup ends at ``slow.apk`` with CONTAINER_WALK_TIMEOUT, and the _manifest records read
    before it are still listed."""
    slow_at_slow_apk(monkeypatch)
    tar = tar_of([("apps/com.tencent.mm/_manifest", manifest("com.tencent.mm")),
                  ("apps/com.zhiliaoapp.musically/_manifest", manifest("com.zhiliaoapp.musically")),
                  ("apps/com.example.x/a/slow.apk", CLEAN), ("apps/com.example.y/a/late.apk", CLEAN)])
    path = tmp_path / "device.ab"
    path.write_bytes(adb(tar))
    doc = scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool"), walk_timeout=10))],
               rules, policy).to_dict()
    got = apps(doc)
    assert codes(doc) == [walkclock.WALK_TIMEOUT]
    assert sorted(got) == ["apps/com.tencent.mm/_manifest", "apps/com.zhiliaoapp.musically/_manifest"]
    assert all(a["verdict"] == "prohibited" and "read only in part" in a["identity"]["record_note"] for a in got.values())


def test_walk_timeout_in_an_androidqf_acquisition_keeps_its_packages_json_records(rules, policy, tmp_path,
                                                                                 monkeypatch):
    """packages.json is parsed before apks/ is walked: a walk cut at ``apks/slow.apk`` still lists
    its records (the apps AndroidQF recorded but did not pull), said to come from a part read."""
    slow_at_slow_apk(monkeypatch)
    acq = tmp_path / "acq"
    (acq / "apks").mkdir(parents=True)
    (acq / "acquisition.json").write_text('{"uuid": "1", "androidqf_version": "1.7.0"}')
    (acq / "packages.json").write_text('[{"name": "com.tencent.mm", "files": []}, '
                                       '{"name": "com.zhiliaoapp.musically", "files": []}]')
    (acq / "apks" / "a-slow.apk").write_bytes((APKS / "clean-v1v2v3.apk").read_bytes())
    doc = scan([FileSource([str(acq)], WalkOptions(tmp_dir=str(tmp_path / "spool"), walk_timeout=10))],
               rules, policy).to_dict()
    assert codes(doc) == [walkclock.WALK_TIMEOUT]
    got = {a["package"]: a for a in doc["apps"]}
    assert sorted(got) == ["com.tencent.mm", "com.zhiliaoapp.musically"]
    assert all(a["verdict"] == "prohibited" and "read only in part" in a["identity"]["record_note"]
               for a in got.values())


# ---------------------------------------------------------------- F9: GNU sparse members

def test_an_old_gnu_sparse_member_is_read_with_its_holes_and_the_next_member_too(run):
    """A sparse image first (4 KiB of data at 5 MB of a 10 MiB file), then WeChat; and an APK
    stored as a sparse member is read back byte for byte."""
    image = gnu_sparse("disk.img", [(5_000_000, 512), (10 << 20, 0)], 10 << 20, b"data".ljust(512, b"\0"))
    apk = gnu_sparse("tiktok.apk", [(0, len(TIKTOK))], len(TIKTOK), TIKTOK)
    doc = run("pull.tar", image + apk + tar_of([("wechat.apk", WECHAT)]))
    got = apps(doc)
    assert got["wechat.apk"]["verdict"] == "prohibited" and got["tiktok.apk"]["verdict"] == "prohibited"
    assert got["tiktok.apk"]["sha256"] == hashlib.sha256(TIKTOK).hexdigest()
    assert doc["errors"] == [] and [s["examples"] for s in doc["skipped"]] == [["disk.img"]]


def test_a_sparse_map_that_cannot_be_read_is_that_members_error_only(run):
    bad = gnu_sparse("bad.img", [(100, 512), (50, 512)], 4096, b"x" * 1024)  # out of order
    doc = run("pull.tar", bad + tar_of([("wechat.apk", WECHAT)]))
    assert apps(doc)["wechat.apk"]["verdict"] == "prohibited"
    assert codes(doc) == ["CONTAINER_TAR_SPARSE_INVALID"]
    assert doc["errors"][0]["source"]["chain"][-1] == "bad.img"


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar not installed")
@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_gnu_tar_sparse_pulls_are_read(run, tmp_path, fmt):
    """What ``tar -S`` writes (old GNU, and pax sparse 1.0 with --format=posix)."""
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "a-sparse.img", "wb") as f:
        f.truncate(10 << 20)
        f.seek(5_000_000)
        f.write(b"data")
    (src / "wechat.apk").write_bytes(WECHAT)
    out = tmp_path / "pull.tar"
    done = subprocess.run(["tar", "-C", str(src), "-S", f"--format={fmt}", "-cf", str(out), "a-sparse.img",
                           "wechat.apk"], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"tar -S failed: {done.stderr!r}")
    doc = run("pull.tar", out.read_bytes())
    assert apps(doc)["wechat.apk"]["verdict"] == "prohibited" and doc["errors"] == []
