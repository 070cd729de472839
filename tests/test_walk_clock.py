"""The walk's time budget per outermost input (``--walk-timeout``), and the reuse of "does this
stored window hold an APK?" across the many names an adversary can put over one window.

Time is made deterministic: ``walkclock``'s clock is replaced by one that moves only when a test
says (a member named ``slow…`` costs 100 s of walking), so nothing here depends on this
machine's speed. The budget must end only the input that ran past it, keep what that input
yielded before, count no time the consumer spends, and never be taken by a reader for one
member's error (it is a ``BaseException`` for that).
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import APKS, REPO

from apkscan.cli import main
from apkscan.scan import scan
from apkscan.sources import detect, walkclock
from apkscan.sources.files import FileSource
from apkscan.sources.interface import InputProblem, ScanInput
from apkscan.sources.walker import WalkOptions, Walker
from test_overlap_bounds import with_aliases, zip_of

TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()
KASPERSKY = (APKS / "kaspersky-subject-notes.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
AQF = REPO / "fixtures" / "backups" / "androidqf"
AQF_ROOT = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d/"


class FakeTime:
    """``time`` for walkclock: ``monotonic()`` returns what the test has advanced it to."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """The fake clock; every member whose last name part starts with ``slow`` costs 100 s."""
    fake = FakeTime()
    monkeypatch.setattr(walkclock, "time", fake)
    real = Walker.member

    def member(self, m, container, depth, custody=False):
        if m.name.rsplit("/", 1)[-1].startswith("slow"):
            fake.now += 100
        return real(self, m, container, depth, custody)

    monkeypatch.setattr(Walker, "member", member)
    return fake


def items(paths, **options) -> list:
    return list(FileSource([str(p) for p in paths], WalkOptions(**options)).inputs())


def found(records) -> list[str]:
    return [r.chain[-1] for r in records if isinstance(r, ScanInput)]


def problems(records) -> list[tuple[tuple[str, ...], str]]:
    return [(r.chain, i.code) for r in records if isinstance(r, InputProblem) for i in r.issues]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_past_its_budget_an_input_ends_with_one_error_and_keeps_what_it_found(clock, tmp_path):
    """a.apk and slow1.apk are walked (100 s of 120); slow2.apk takes it to 200 s: the zip ends
    there, one error on the zip itself; the next input has a budget of its own."""
    box = write(tmp_path / "box.zip", zip_of([("a.apk", TIKTOK, STORED), ("slow1.apk", CLEAN, STORED),
                                              ("slow2.apk", KASPERSKY, STORED), ("z.apk", WECHAT, STORED)]))
    after = write(tmp_path / "after.apk", WECHAT)
    records = items([box, after], walk_timeout=120)
    assert found(records) == ["a.apk", "slow1.apk", str(after)]
    assert problems(records) == [((str(box),), walkclock.WALK_TIMEOUT)]


def test_time_the_consumer_spends_is_not_the_walks(clock, tmp_path):
    """Scanning what the walk yielded (here: a day per item) is not walking time."""
    box = write(tmp_path / "box.zip", zip_of([(f"{n}.apk", CLEAN, STORED) for n in "abcd"]))
    out = []
    for record in FileSource([str(box)], WalkOptions(walk_timeout=1)).inputs():
        out.append(record)
        clock.now += 86400
    assert found(out) == ["a.apk", "b.apk", "c.apk", "d.apk"] and not problems(out)


def test_a_bigger_input_gets_more_time(clock, tmp_path):
    """1 s per MiB: 2 MiB of padding buys slow1.apk's 100 s over a 99 s base."""
    small = write(tmp_path / "small.zip", zip_of([("slow1.apk", CLEAN, STORED)]))
    big = write(tmp_path / "big.zip", zip_of([("pad.bin", bytes(2 << 20), STORED), ("slow1.apk", CLEAN, STORED)]))
    assert problems(items([small], walk_timeout=99)) == [((str(small),), walkclock.WALK_TIMEOUT)]
    assert found(items([big], walk_timeout=99)) == ["slow1.apk"]


def tar_gz(files: list[tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_of(files: list[tuple[str, bytes]]) -> bytes:
    return tar_gz(files, mode="w")


def containers() -> dict[str, tuple[str, bytes]]:
    """Containers whose readers catch their members' errors; each has slow1, slow2 then TikTok."""
    slow = [("slow1.apk", CLEAN), ("slow2.apk", KASPERSKY), ("tiktok.apk", TIKTOK)]
    aqf = sorted((p.relative_to(AQF).as_posix(), p.read_bytes(), DEFLATED) for p in AQF.rglob("*") if p.is_file())
    return {
        "zip of deflated apks": ("box.zip", zip_of([(n, d, DEFLATED) for n, d in slow])),
        "tar.gz": ("pull.tar.gz", tar_gz(slow)),
        "xapk": ("b.xapk", zip_of([("manifest.json", b'{"package_name": "com.example"}', DEFLATED)]
                                  + [(n, d, STORED) for n, d in slow])),
        "apk carrying apks": ("dropper.apk", zip_of([("AndroidManifest.xml", b"\0" * 64, DEFLATED)]
                                                    + [(f"assets/{n}", d, STORED) for n, d in slow])),
        "androidqf": ("acq.zip", zip_of(aqf + [(AQF_ROOT + "apks/" + n, d, STORED) for n, d in slow])),
        "zip in zip": ("middle.zip", zip_of([("inner.zip", zip_of([(n, d, DEFLATED) for n, d in slow]), STORED)])),
    }


@pytest.mark.parametrize("kind", list(containers()))
def test_no_reader_takes_the_timeout_for_a_members_error(clock, tmp_path, kind):
    """Whatever catches a member's errors (bundles, layouts, nested looks, streams) lets the
    timeout through to the outermost input: one CONTAINER_WALK_TIMEOUT on it, nothing else; not
    TikTok after the slow members, nor WeChat after the container in the outer ZIP (a reader
    that took the timeout for its member's error would walk on to them)."""
    name, data = containers()[kind]
    path = write(tmp_path / "outer.zip", zip_of([(name, data, STORED), ("wechat.apk", WECHAT, STORED)]))
    records = items([path], walk_timeout=150, tmp_dir=str(tmp_path / "spool"))
    assert problems(records) == [((str(path),), walkclock.WALK_TIMEOUT)]
    names = [n.rsplit("/", 1)[-1] for n in found(records)]
    assert names[-1] == "slow1.apk" and not {"slow2.apk", "tiktok.apk", "wechat.apk"} & set(names)


def test_a_backup_folder_is_one_input_timed_by_its_files(clock, tmp_path):
    """A Neo Backup folder is one outermost input: its files' sizes add to its budget, and a
    slow member ends it with the error on the folder."""
    neo = tmp_path / "neo"
    shutil.copytree(REPO / "fixtures" / "backups" / "neo", neo)
    inst = neo / "com.tencent.mm" / "2024-05-01-10-00-00-000-user_0"
    records = items([tmp_path / "neo"], walk_timeout=1000)
    assert "base.apk" in [n.rsplit("/", 1)[-1] for n in found(records)] and not problems(records)
    (inst / "slow1.apk").write_bytes(CLEAN)
    (inst / "slow2.apk").write_bytes(CLEAN)
    records = items([tmp_path / "neo"], walk_timeout=150)
    assert [c for _, c in problems(records)] == [walkclock.WALK_TIMEOUT]


def test_a_password_prompt_is_not_walking_time(clock):
    """The encrypted backup's password is typed in an hour; the walk itself took no time."""
    def typed_slowly():
        clock.now += 3600
        return "apkscan-test"

    records = items([REPO / "fixtures" / "backups" / "adb-v5-aes.ab"], walk_timeout=1, password=typed_slowly)
    assert found(records) and not problems(records)


def test_scan_walk_timeout_option_reaches_the_walk(clock, tmp_path):
    box = write(tmp_path / "box.zip", zip_of([("slow1.apk", CLEAN, STORED), ("slow2.apk", CLEAN, STORED),
                                              ("tiktok.apk", TIKTOK, STORED)]))
    out = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["scan", "-q", "--no-store", "--walk-timeout", "150", "--json", str(out), str(box)])
    assert res.exit_code == 3, res.output
    doc = json.loads(out.read_text())
    assert [e["code"] for e in doc["errors"]] == [walkclock.WALK_TIMEOUT]
    assert [a["source"]["chain"][-1] for a in doc["apps"]] == ["slow1.apk"]
    res = CliRunner().invoke(main, ["scan", "-q", "--no-store", "--walk-timeout", "250", "--json", str(out), str(box)])
    assert res.exit_code == 1, res.output  # TikTok reached: prohibited


# ---------------------------------------------------------------- one parse per stored window

def obb_zip(entries: int) -> bytes:
    """A ZIP shaped like an OBB: many small members, no AndroidManifest.xml."""
    return zip_of([(f"res/{i:05d}.bin", b"x", STORED) for i in range(entries)])


def test_many_obb_names_over_one_stored_zip_cost_one_parse(rules, policy, tmp_path):
    """Review 6's stall: 400 OBB names over one stored ZIP of 3,000 entries were parsed once per
    name. The answer depends on the window's bytes only: parsed once, every name still skipped."""
    files = [("manifest.json", b'{"package_name": "com.example"}', DEFLATED), ("base.apk", CLEAN, STORED),
             ("main.obb", obb_zip(3000), STORED)]
    path = write(tmp_path / "many.xapk", with_aliases(zip_of(files), [(f"p{i}.obb", "main.obb") for i in range(400)]))
    detect._window_holds_apk.cache_clear()
    result = scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()
    info = detect._window_holds_apk.cache_info()
    assert info.misses == 1  # the 400 aliases share main.obb's data key: the bundle asks once (bundles._holds_apk)
    assert [a["source"]["chain"][-1] for a in result["apps"]] == ["base.apk"] and not result["errors"]
    assert sum(s["count"] for s in result["skipped"] if "OBB" in s["reason"]) == 401


def after_a_prefix(prefix: bytes, apk: bytes) -> bytes:
    """``prefix`` followed by ``apk``'s members, offsets counted from the prefix's first byte (as
    ``zip -A`` leaves a self-extractor): a ZIP reader reads an APK, and the prefix alone is a ZIP."""
    buf = io.BytesIO()
    buf.write(prefix)
    with zipfile.ZipFile(io.BytesIO(apk)) as src, zipfile.ZipFile(buf, "w") as out:
        out._start_disk = 0  # absolute offsets
        for info in src.infolist():
            out.writestr(info, src.read(info))
    return buf.getvalue()


def test_a_longer_window_at_the_same_offset_is_its_own_answer(rules, policy, tmp_path):
    """Built to fool a cache keyed on where a window starts: short.obb is a plain ZIP, long.obb
    starts at the same header and runs on over TikTok (a prefixed APK, read as one)."""
    plain = obb_zip(3)
    files = [("manifest.json", b'{"package_name": "com.example"}', DEFLATED), ("base.apk", CLEAN, STORED),
             ("long.obb", after_a_prefix(plain, TIKTOK), STORED)]
    data = bytearray(with_aliases(zip_of(files), [("short.obb", "long.obb")]))
    # the alias record is the last one of the central directory: give it the plain ZIP's sizes
    cd = data.rfind(b"short.obb") - 46
    for off in (20, 24):
        data[cd + off:cd + off + 4] = len(plain).to_bytes(4, "little")
    path = write(tmp_path / "fool.xapk", bytes(data))
    detect._window_holds_apk.cache_clear()
    doc = scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()
    verdicts = {a["source"]["chain"][-1]: a["verdict"] for a in doc["apps"]}
    assert verdicts.get("long.obb") == "prohibited"
    assert detect._window_holds_apk.cache_info().misses == 2


def test_what_a_compressed_layer_yields_buys_no_time(clock, tmp_path):
    """Review 10: 1 s per 8 MiB of decompressed output let a few KiB of gzip (16 MiB of zeros
    here, 63 MiB per bzip2 member of 148 bytes) buy time for slower work. Only the bytes of the
    input count: the tar.gz has no room for slow1.apk's 100 s over a 99.5 s base."""
    gz = write(tmp_path / "pull.tar.gz", tar_gz([("pad.bin", bytes(16 << 20)), ("slow1.apk", CLEAN)]))
    assert gz.stat().st_size < 1 << 19
    assert problems(items([gz], walk_timeout=99.5)) == [((str(gz),), walkclock.WALK_TIMEOUT)]
    plain = write(tmp_path / "pull.tar", tar_of([("pad.bin", bytes(16 << 20)), ("slow1.apk", CLEAN)]))
    assert found(items([plain], walk_timeout=99.5)) == ["slow1.apk"]  # 16 MiB supplied: 16 s


def test_a_window_rewritten_in_place_is_asked_again(tmp_path):
    """Review 9: same path, size and mtime (set back), new bytes: icon.png was a plain ZIP and is
    now WeChat. The answer kept from the first walk must not skip it in the second."""
    import os

    def xapk(icon: bytes) -> bytes:
        return zip_of([("manifest.json", b'{"package_name": "com.example"}', DEFLATED), ("base.apk", CLEAN, STORED),
                       ("icon.png", icon, STORED)])

    overhead = len(zip_of([("a.bin", b"", STORED)]))
    plain = zip_of([("a.bin", b"\0" * (len(WECHAT) - overhead), STORED)])  # a ZIP as long as WeChat
    assert len(plain) == len(WECHAT)
    path = write(tmp_path / "host.xapk", xapk(plain))
    before = path.stat()
    assert [n for n in found(items([path]))] == ["base.apk"]
    with open(path, "r+b") as fh:
        fh.write(xapk(WECHAT))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert found(items([path])) == ["base.apk", "icon.png"]


class Ticking(FakeTime):
    """A clock that moves 1 s each time it is read: every checkpoint costs a second."""

    def monotonic(self) -> float:
        self.now += 1
        return self.now


def test_every_tar_header_is_a_checkpoint(monkeypatch, tmp_path):
    """Review 8: a plain tar of headers that yield no member (directories here; crafted pax
    bodies cost seconds each on Python before 3.11.10) reached no checkpoint until its last
    member. With a clock that ticks at each checkpoint, 300 headers end the walk."""
    monkeypatch.setattr(walkclock, "time", Ticking())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for i in range(300):
            info = tarfile.TarInfo(f"d{i:03d}")
            info.type = tarfile.DIRTYPE
            t.addfile(info)
        info = tarfile.TarInfo("tiktok.apk")
        info.size = len(TIKTOK)
        t.addfile(info, io.BytesIO(TIKTOK))
    path = write(tmp_path / "dirs.tar", buf.getvalue())
    records = items([path], walk_timeout=100)
    assert problems(records) == [((str(path),), walkclock.WALK_TIMEOUT)] and not found(records)
    assert found(items([path], walk_timeout=1000)) == ["tiktok.apk"]


def test_bytes_nobody_supplied_earn_no_time(clock, tmp_path):
    """Review 11: a tar whose 64 MiB pad is a hole (sparse: it takes no disk), and a backup folder
    of 40 hard links to one 2 MiB file, earned time by their apparent sizes."""
    import os

    header = tar_of([("pad.bin", bytes(64 << 20)), ("slow1.apk", CLEAN)])
    sparse = tmp_path / "sparse.tar"
    with open(sparse, "wb") as fh:  # the same bytes, with the pad's 64 MiB of zeros left as a hole
        fh.write(header[:512])
        fh.seek(512 + (64 << 20))
        fh.write(header[512 + (64 << 20):])
    assert sparse.read_bytes() == header
    if sparse.stat().st_blocks * 512 >= 1 << 20:
        pytest.skip("this file system does not keep holes")
    assert problems(items([sparse], walk_timeout=99)) == [((str(sparse),), walkclock.WALK_TIMEOUT)]
    assert found(items([write(tmp_path / "dense.tar", header)], walk_timeout=99)) == ["slow1.apk"]

    neo = tmp_path / "neo"
    shutil.copytree(REPO / "fixtures" / "backups" / "neo", neo)
    inst = neo / "com.tencent.mm" / "2024-05-01-10-00-00-000-user_0"
    (inst / "pad.bin").write_bytes(os.urandom(2 << 20))
    for i in range(40):
        os.link(inst / "pad.bin", inst / f"pad{i:02d}.bin")
    (inst / "slow1.apk").write_bytes(CLEAN)
    size = sum(p.stat().st_size for p in inst.iterdir() if p.name.startswith("pad"))
    assert size > 80 << 20  # 82 s by apparent size: enough for slow1.apk's 100 s over 30 s
    assert [c for _, c in problems(items([neo], walk_timeout=30))] == [walkclock.WALK_TIMEOUT]


def test_hashing_a_container_for_custody_is_walking_it(monkeypatch, tmp_path):
    """Review 11: a tar with a 100 GiB hole spent 80 s in its custody hash, which had no
    checkpoint (found after the fix for holes). Each MiB hashed is one now: the walk can end
    inside the hash, before the file's record."""
    from apkscan.sources.interface import InputFile

    monkeypatch.setattr(walkclock, "time", Ticking())
    data = tar_of([("pad.bin", bytes(40 << 20)), ("tiktok.apk", TIKTOK)])
    path = write(tmp_path / "big.tar", data)
    records = items([path], walk_timeout=1)  # 41 s for its 40 MiB: spent by the 41 MiB of the hash
    assert problems(records) == [((str(path),), walkclock.WALK_TIMEOUT)]
    assert not [r for r in records if isinstance(r, InputFile)]
    records = items([path], walk_timeout=5000)  # every read of the tar is a checkpoint too (review 61 F2)
    assert [r.kind for r in records if isinstance(r, InputFile)] == ["tar"] and found(records) == ["tiktok.apk"]


def test_skipping_through_an_adb_backup_is_walking_it(monkeypatch, tmp_path):
    """A compressed adb backup: 40 MiB of app data (a few KiB compressed), then an APK. tarfile
    skips the data by reading the backup's body, chunk by chunk, with no checkpoint but its
    headers'; each chunk is one now, so the walk's time runs out inside the skip."""
    from backup_helpers import build_ab

    monkeypatch.setattr(walkclock, "time", Ticking())
    data = build_ab([("apps/com.example/f/data.bin", bytes(40 << 20)), ("apps/com.example/a/base.apk", TIKTOK)])
    path = write(tmp_path / "device.ab", data)
    assert path.stat().st_size < 1 << 20
    assert problems(items([path], walk_timeout=100)) == [((str(path),), walkclock.WALK_TIMEOUT)]
    assert found(items([path], walk_timeout=5000)) == ["apps/com.example/a/base.apk"]


def test_skipping_through_a_deflated_tar_in_a_zip_is_walking_it(monkeypatch, tmp_path):
    """The same skip through a ZIP member being inflated: each inflated chunk is a checkpoint."""
    monkeypatch.setattr(walkclock, "time", Ticking())
    import os

    tar = tar_of([("data.bin", os.urandom(8 << 20)), ("tiktok.apk", TIKTOK)])  # no bomb: it does not deflate
    path = write(tmp_path / "pull.zip", zip_of([("pull.tar", tar, DEFLATED)]))
    assert problems(items([path], walk_timeout=35)) == [((str(path),), walkclock.WALK_TIMEOUT)]  # ~30 others
    assert found(items([path], walk_timeout=5000)) == ["tiktok.apk"]


def test_a_bundles_skipped_names_over_one_empty_run_pass_checkpoints(monkeypatch, tmp_path):
    """Review 12: an XAPK's .obb names all over one run of empty deflate blocks (which inflate to
    nothing) each read the whole run to see their first bytes, with no checkpoint: 5,000 names
    held the walk 64 s past a 20 s budget. Each step of that read is a checkpoint now."""
    import struct

    monkeypatch.setattr(walkclock, "time", Ticking())
    run = b"\x00\x00\x00\xff\xff" * (2 << 20) + b"\x03\x00"  # 10 MiB of empty stored blocks, then an end
    data = bytearray(zip_of([("manifest.json", b'{"package_name": "com.example"}', DEFLATED),
                             ("base.apk", CLEAN, STORED), ("main.obb", run, STORED)]))
    local = data.rfind(b"PK\x03\x04", 0, data.find(b"main.obb"))
    cd = data.rfind(b"PK\x01\x02", 0, data.rfind(b"main.obb"))
    for at, off in ((local, 8), (cd, 10)):  # method: deflated; sizes: the run, inflating to nothing
        struct.pack_into("<H", data, at + off, 8)
    for at, off in ((local, 14), (cd, 16)):
        struct.pack_into("<III", data, at + off, 0, len(run), 0)
    path = write(tmp_path / "empty.xapk", with_aliases(bytes(data), [(f"p{i}.obb", "main.obb") for i in range(10)]))
    records = items([path], walk_timeout=20)  # 10 MiB on disk: 30 s, less than 11 reads of the run
    assert problems(records) == [((str(path),), walkclock.WALK_TIMEOUT)]
    assert found(items([path], walk_timeout=1000)) == ["base.apk"]
