"""Review 56: a stat key is stored only for the bytes that were read.

F1: folders renamed under the reader (``renameat2(RENAME_EXCHANGE)``: no file's ctime moves)
made the store map the banned file's stat to the clean file's SHA-256, so every warm run called
the untouched banned file clean. F2: the racy test was made when the key was written, after the
read, so a write in the stat's own tick (coarse timestamps) left a key for the old bytes. Each
test swaps or writes at one point of the read, then checks that a warm run reports the file
as it is (TikTok, hashed this run), not the clean app.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import sqlite3
import time
import types
from pathlib import Path

import pytest

import apkscan.apk.identify as identify_mod
from apkscan.batch import store as st
from apkscan.policy.loader import load_policy
from apkscan.scan import scan
from apkscan.sources.files import FileSource

try:
    from apkscan.batch import stat_read
except ImportError:  # the code before review 56: this test must fail there on its assertions
    stat_read = None  # type: ignore[assignment]

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
BANNED, CLEAN = "tiktok-bytedance-subject.apk", "clean-v1v2v3.apk"  # the same size (8663 bytes)
OLD = 1_600_000_000 * 10**9
_libc = ctypes.CDLL(None, use_errno=True)


def exchange(a: Path, b: Path) -> None:
    """Swap two folders in one step, as an attacker would (no file's ctime moves)."""
    if _libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2) != 0:  # AT_FDCWD, RENAME_EXCHANGE
        raise OSError(ctypes.get_errno(), "renameat2")


@pytest.fixture
def ev(tmp_path, monkeypatch):
    """``ev/d/app.apk`` the banned APK, ``ev/e/app.apk`` the clean one; old mtimes, and ctimes
    older than ``RACY_NS`` (set to 0: the racy window is another test's)."""
    monkeypatch.setattr(st, "RACY_NS", 0)
    for sub, name in (("d", BANNED), ("e", CLEAN)):
        (tmp_path / "ev" / sub).mkdir(parents=True)
        shutil.copy(APKS / name, tmp_path / "ev" / sub / "app.apk")
        os.utime(tmp_path / "ev" / sub / "app.apk", ns=(OLD, OLD))
    return tmp_path / "ev"


def _apps(target: Path, db: Path, rules, errors: list | None = None) -> list[tuple[str, str, str, str | None]]:
    doc = scan([FileSource([str(target)])], rules, load_policy(), store=str(db)).to_dict()
    if errors is not None:
        errors.extend(i["code"] for e in doc["errors"] for i in e["errors"])
    hashed = {f["path"]: f.get("hashed") for f in doc["input_files"]}
    return [(a["package"], a["verdict"], a["sha256"], hashed.get(a["source"]["path"])) for a in doc["apps"]]


def _seed(ev: Path, db: Path, rules) -> None:
    """The store knows the clean APK's identity (by its SHA-256)."""
    assert _apps(ev / "e" / "app.apk", db, rules)[0][0] == "com.example.clean"


def _banned_every_warm_run(ev: Path, db: Path, rules) -> None:
    sha = hashlib.sha256((ev / "d" / "app.apk").read_bytes()).hexdigest()
    assert sha == hashlib.sha256((APKS / BANNED).read_bytes()).hexdigest()  # the folders are back
    for _ in range(2):
        (package, verdict, got, _hashed), = _apps(ev / "d" / "app.apk", db, rules)
        assert (package, verdict, got) == ("com.zhiliaoapp.musically", "prohibited", sha)
    with sqlite3.connect(db) as c:  # whatever key the banned file has names its own bytes
        inode = os.stat(ev / "d" / "app.apk").st_ino
        assert {s for (s,) in c.execute("SELECT sha256 FROM stat_keys WHERE inode=?", (inode,))} <= {sha}


def test_folders_swapped_between_the_stat_and_the_open_store_no_key(ev, tmp_path, rules, monkeypatch):
    """The lstat names the banned file, the open finds the clean one: not the file the walk
    classified (custody, review 66 F1), so an input error and no app; no key is stored (the
    descriptor's fstat is not the lstat)."""
    db = tmp_path / "s.sqlite"
    _seed(ev, db, rules)
    real = st.stat_key

    def swapped_after_stat(item):
        key = real(item)
        exchange(ev / "d", ev / "e")
        return key

    monkeypatch.setattr(st, "stat_key", swapped_after_stat)
    try:
        raced = _apps(ev / "d" / "app.apk", db, rules, codes := [])
    finally:
        exchange(ev / "d", ev / "e")
    monkeypatch.setattr(st, "stat_key", real)
    assert raced == [] and codes == ["INPUT_CHANGED_DURING_SCAN"]  # not another file's app
    _banned_every_warm_run(ev, db, rules)


def test_folders_swapped_before_the_hash_do_not_change_what_is_hashed(ev, tmp_path, rules, monkeypatch):
    """The look-up by SHA-256 hashes the descriptor whose stat is the key's, whatever the path
    names by then (the old code hashed the path: the clean SHA-256, found, stored as the key)."""
    db = tmp_path / "s.sqlite"
    _seed(ev, db, rules)
    real = st._sha256

    def swapped(item, *rest):
        exchange(ev / "d", ev / "e")
        try:
            return real(item, *rest)
        finally:
            exchange(ev / "d", ev / "e")

    monkeypatch.setattr(st, "_sha256", swapped)
    assert [a[0] for a in _apps(ev / "d" / "app.apk", db, rules)] == ["com.zhiliaoapp.musically"]
    monkeypatch.setattr(st, "_sha256", real)
    _banned_every_warm_run(ev, db, rules)


def _parsed_swapped(ev: Path, real):
    """``identify`` that parses with the folders swapped (and puts them back)."""
    def swapped(path, **kw):
        exchange(ev / "d", ev / "e")
        try:
            return real(path, **kw)
        finally:
            exchange(ev / "d", ev / "e")
    return swapped


def test_folders_swapped_before_the_parse_do_not_change_what_is_parsed(ev, tmp_path, rules, monkeypatch):
    """A miss is parsed through the same descriptor (the old code parsed the path again and
    stored the clean identity under the banned file's stat key)."""
    db = tmp_path / "s.sqlite"
    real = identify_mod.identify

    swapped = _parsed_swapped(ev, real)

    monkeypatch.setattr(identify_mod, "identify", swapped)
    assert [a[0] for a in _apps(ev / "d" / "app.apk", db, rules)] == ["com.zhiliaoapp.musically"]
    monkeypatch.setattr(identify_mod, "identify", real)
    _banned_every_warm_run(ev, db, rules)


def test_a_write_in_the_racy_tick_of_the_stat_leaves_no_key(ev, tmp_path, rules, monkeypatch):
    """Coarse timestamps, made deterministic: every stat reads mtime and ctime as one whole second
    T, and the clock says T + 0.5 s when the stat is taken. The file (clean) is hashed, then
    rewritten in place (banned, same size): its stat does not move. The read took 3 s, so the
    old test, made when the key was written, found the file settled and stored the clean
    SHA-256 under a stat the banned file keeps; tested when the stat was taken, it is racy."""
    monkeypatch.setattr(st, "RACY_NS", 2_000_000_000)
    db = tmp_path / "s.sqlite"
    _seed(ev, db, rules)
    target = ev / "d" / "app.apk"
    shutil.copy(APKS / CLEAN, target)
    tick = (time.time_ns() // 10**9) * 10**9
    clock = [tick + 500_000_000]

    def coarse(s: os.stat_result) -> tuple[int, int, int, int, int]:
        return s.st_size, tick, tick, s.st_ino, s.st_dev

    monkeypatch.setattr(st, "stat_of", coarse)
    if stat_read is not None:
        monkeypatch.setattr(stat_read, "stat_of", coarse)
        monkeypatch.setattr(stat_read, "now", lambda: clock[0])
    monkeypatch.setattr(st, "time", types.SimpleNamespace(time_ns=lambda: clock[0], time=time.time))
    real = st._sha256

    def slow_then_written(item, *rest):
        sha = real(item, *rest)
        with open(target, "r+b") as f:  # same size: only mtime and ctime, in the same tick, move
            f.write((APKS / BANNED).read_bytes())
        clock[0] += 3 * 10**9
        return sha

    monkeypatch.setattr(st, "_sha256", slow_then_written)
    assert [a[0] for a in _apps(target, db, rules)] == ["com.example.clean"]  # what was read
    monkeypatch.setattr(st, "_sha256", real)
    (package, verdict, sha, hashed), = _apps(target, db, rules)
    assert (package, verdict, hashed) == ("com.zhiliaoapp.musically", "prohibited", "this run")
    assert sha == hashlib.sha256(target.read_bytes()).hexdigest()


def test_the_fast_lane_never_learns_a_raced_read(ev, tmp_path, monkeypatch):
    """Through ``--jsonl -q`` (the lane writes its rows on the second run, answers on the third):
    the raced parse of F1 leaves neither a stat key nor a ``known_lines`` row naming the clean app."""
    from click.testing import CliRunner

    from apkscan.cli import main

    db, real = tmp_path / "s.sqlite", identify_mod.identify

    swapped = _parsed_swapped(ev, real)

    def packages(run: int) -> list[str]:
        out = tmp_path / f"{run}.jsonl"
        res = CliRunner().invoke(main, ["scan", str(ev / "d"), "--store", str(db), "--jsonl", str(out), "-q",
                                        "--jobs", "1", "--force"])
        assert res.exit_code in (0, 1), res.output
        return [line.split('"package": "')[1].split('"')[0] for line in out.read_text().splitlines()
                if line.startswith('{"type": "app"')]

    monkeypatch.setattr(identify_mod, "identify", swapped)
    assert packages(1) == ["com.zhiliaoapp.musically"]
    monkeypatch.setattr(identify_mod, "identify", real)
    assert packages(2) == packages(3) == ["com.zhiliaoapp.musically"]
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT package FROM known_lines").fetchall() == [("com.zhiliaoapp.musically",)]


def test_the_fast_lane_never_learns_a_file_classified_by_another_files_head(tmp_path, monkeypatch):
    """Final review 2, F1: the walker reads a file's head and then the file through two opens. A
    folder swapped between them had a tar holding WeChat (that also opens from its end as a clean
    APK, signed so) classified by another file's ``PK`` head as one plain APK: the lane kept a row
    for it, and every later ``--jsonl -q`` run answered "clean" without reading it again."""
    import subprocess

    from click.testing import CliRunner
    from conftest import prefixed_apk
    from test_polyglots import KEYS, tar_of

    from apkscan.cli import main
    from apkscan.sources import walker

    monkeypatch.setattr(st, "RACY_NS", 0)
    unsigned = tmp_path / "unsigned.apk"
    unsigned.write_bytes(prefixed_apk((APKS / CLEAN).read_bytes(),
                                      tar_of([("wechat.apk", (APKS / "wechat-tencent-subject.apk").read_bytes())])))
    (tmp_path / "ev" / "a").mkdir(parents=True)
    (tmp_path / "ev" / "b").mkdir()
    polyglot, target = tmp_path / "ev" / "b" / "pull.apk", tmp_path / "ev" / "a" / "pull.apk"
    subprocess.run(["apksigner", "sign", "--key", str(KEYS / "test-rsa.pk8"), "--cert", str(KEYS / "test-rsa.pem"),
                    "--v4-signing-enabled", "false", "--out", str(polyglot), str(unsigned)], check=True, capture_output=True)
    target.write_bytes(b"PK\x03\x04" + bytes(polyglot.stat().st_size - 4))  # only its head is ever read
    for f in (polyglot, target):
        os.utime(f, ns=(OLD, OLD))
    real, db = walker.ByteSource, tmp_path / "s.sqlite"

    def swapped(path, *a, **kw):
        if path == str(target) and not swapped.done:
            swapped.done = True
            exchange(tmp_path / "ev" / "a", tmp_path / "ev" / "b")  # the path now names the polyglot, for good
        return real(path, *a, **kw)
    swapped.done = False

    def packages(run: int) -> list[str]:
        out = tmp_path / f"{run}.jsonl"
        res = CliRunner().invoke(main, ["scan", str(target), "--store", str(db), "--jsonl", str(out), "-q",
                                        "--jobs", "1", "--force"])
        assert res.exit_code in (0, 1, 3), res.output
        return sorted(line.split('"package": "')[1].split('"')[0] for line in out.read_text().splitlines()
                      if line.startswith('{"type": "app"'))

    monkeypatch.setattr(walker, "ByteSource", swapped)
    assert packages(1) == []  # the raced run refuses the file it was handed: not the one classified (review 66 F1)
    monkeypatch.setattr(walker, "ByteSource", real)
    assert packages(2) == packages(3) == ["com.example.clean", "com.tencent.mm"]


class _RewritesOnFirstChunk:
    """A SHA-256 object that, when handed its first chunk, rewrites ``target`` from ``at`` with
    ``tail`` (an ordinary write, same size): the adversary of review 68 F3, made deterministic."""

    def __init__(self, inner, target: Path, at: int, tail: bytes, done: list):
        self._inner, self._target, self._at, self._tail, self._done = inner, target, at, tail, done

    def update(self, data) -> None:
        self._inner.update(data)
        if not self._done:
            self._done.append(True)
            fd = os.open(self._target, os.O_WRONLY)
            try:
                os.pwrite(fd, self._tail, self._at)
            finally:
                os.close(fd)

    def hexdigest(self) -> str:
        return self._inner.hexdigest()


def test_a_write_during_the_lookups_hash_is_never_a_hit_on_other_bytes(tmp_path, rules, monkeypatch):
    """Review 68 F3: on a stat-key miss the look-up hashed the file with a plain read and answered
    a hit with the stored identity at once. Both APKs here open after the same 1 MiB (the hash's
    first chunk); once that chunk is read, the banned file's tail is rewritten with the clean one's.
    The old look-up hashed the clean bytes, found the clean app the store knew and reported it
    under the clean SHA-256, "this run", exit 0. Held to custody's stat, the read sees the write:
    an input error, no app, nothing stored; the next run reads the file as it is again."""
    from conftest import prefixed_apk

    from apkscan.sources import custody

    monkeypatch.setattr(st, "RACY_NS", 0)
    prefix = bytes(1 << 20)
    clean, banned = (prefixed_apk((APKS / name).read_bytes(), prefix) for name in (CLEAN, BANNED))
    assert len(clean) == len(banned) and clean[: len(prefix)] == banned[: len(prefix)]
    for sub, data in (("ref", clean), ("ev", banned)):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "app.apk").write_bytes(data)
    target, db = tmp_path / "ev" / "app.apk", tmp_path / "s.sqlite"
    os.utime(target, ns=(OLD, OLD))  # the write moves its mtime (ctime alone could share a coarse tick)
    assert [a[0] for a in _apps(tmp_path / "ref" / "app.apk", db, rules)] == ["com.example.clean"]
    done: list = []
    monkeypatch.setattr(custody, "hashlib", types.SimpleNamespace(
        sha256=lambda: _RewritesOnFirstChunk(hashlib.sha256(), target, len(prefix), clean[len(prefix):], done)))
    try:
        raced = _apps(target, db, rules, codes := [])
    finally:
        monkeypatch.setattr(custody, "hashlib", hashlib)
        target.write_bytes(banned)  # the evidence back as it was
    assert done, "the look-up hashed nothing: the race was not run"
    assert raced == [] and codes == ["INPUT_CHANGED_DURING_SCAN"]  # never the clean app, never its SHA-256
    (package, verdict, sha, hashed), = _apps(target, db, rules)
    assert (package, verdict, hashed) == ("com.zhiliaoapp.musically", "prohibited", "this run")
    assert sha == hashlib.sha256(banned).hexdigest()
