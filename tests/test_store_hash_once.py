"""A store miss hashes the file once (issue 11): the look-up's SHA-256, computed through the
descriptor ``identify`` then reads, is the identity's file SHA-256 when that descriptor's stat
proves both read the same bytes; a file rewritten in between is reported (and stored) with the
digest of the bytes ``identify`` parsed, under no stat key.

Counted on real bytes: every SHA-256 object made through ``hashlib`` is wrapped, and each time
one gives the whole file's digest is a whole-file hash (the old code gave it twice: recall's
``sha256_file`` and the pass's ``WholeFile``). Pool workers are forked with the wrapper, and
write what they count to a file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest

import apkscan.apk.identify as identify_mod
from apkscan.batch import pool as pool_mod
from apkscan.batch import store as st
from apkscan.policy.loader import load_policy
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
CLEAN, BANNED = "clean-v1v2v3.apk", "tiktok-bytedance-subject.apk"  # the same size (8663 bytes)
OLD = 1_600_000_000 * 10**9
_SHA256 = hashlib.sha256  # the tests' own hashing, never counted


def sha256_hex(data: bytes) -> str:
    return _SHA256(data).hexdigest()


class _Counted:
    """A SHA-256 object that notes its digest in ``log`` (a file: forked workers write too)."""

    def __init__(self, inner, log: Path):
        self._inner, self._log = inner, log

    def update(self, data) -> None:
        self._inner.update(data)

    def _note(self, hexed: str) -> None:
        fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, hexed.encode() + b"\n")
        finally:
            os.close(fd)

    def hexdigest(self) -> str:
        out = self._inner.hexdigest()
        self._note(out)
        return out

    def digest(self) -> bytes:
        out = self._inner.digest()
        self._note(out.hex())
        return out

    def copy(self):
        return _Counted(self._inner.copy(), self._log)

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def sha256_log(tmp_path, monkeypatch):
    """Every SHA-256 digest computed from now on, one per line of the returned file."""
    log = tmp_path / "sha256.log"
    real_new, real_sha256 = hashlib.new, hashlib.sha256

    def new(name, *args, **kw):
        made = real_new(name, *args, **kw)
        return _Counted(made, log) if str(name).lower() == "sha256" else made

    monkeypatch.setattr(hashlib, "new", new)
    monkeypatch.setattr(hashlib, "sha256", lambda *a, **kw: _Counted(real_sha256(*a, **kw), log))
    return log


def whole_file_hashes(log: Path, data: bytes) -> int:
    """How many SHA-256 objects gave the digest of ``data``."""
    want = sha256_hex(data)
    lines = log.read_text().split() if log.exists() else []
    return lines.count(want)


@pytest.fixture
def apk(tmp_path, monkeypatch):
    """A clean APK with an old mtime, and a racy window of 0 (its fresh ctime would be racy)."""
    monkeypatch.setattr(st, "RACY_NS", 0)
    (tmp_path / "in").mkdir()
    target = tmp_path / "in" / "app.apk"
    shutil.copy(APKS / CLEAN, target)
    os.utime(target, ns=(OLD, OLD))
    return target


def _doc(paths, rules, db: Path, runner=None, **kw) -> dict:
    walk = WalkOptions(tmp_dir=str(db.parent / "spool"))
    return scan([FileSource([str(p) for p in paths], walk)], rules, load_policy(), store=str(db), runner=runner,
                **kw).to_dict()


def _rows(db: Path) -> tuple[set[str], set[str]]:
    """The SHA-256s of the stored identities and those named by stat keys."""
    with sqlite3.connect(db) as c:
        return ({s for (s,) in c.execute("SELECT sha256 FROM identities")},
                {s for (s,) in c.execute("SELECT sha256 FROM stat_keys")})


def test_a_store_miss_hashes_the_file_once(apk, tmp_path, rules, sha256_log):
    data = apk.read_bytes()
    sha = sha256_hex(data)
    doc = _doc([apk], rules, tmp_path / "s.sqlite")
    assert whole_file_hashes(sha256_log, data) == 1  # the look-up's hash only (two before)
    (app,) = doc["apps"]
    assert app["sha256"] == app["identity"]["sha256"] == sha
    assert app["identity"]["completeness"]["file_hashes"] == "read"
    assert _rows(tmp_path / "s.sqlite") == ({sha}, {sha})  # stored, with its stat key
    sha256_log.unlink()
    warm = _doc([apk], rules, tmp_path / "s.sqlite")  # by stat key: not read at all
    assert whole_file_hashes(sha256_log, data) == 0 and warm["apps"][0]["sha256"] == sha


def test_hashes_sha1_md5_still_come_from_the_pass(apk, tmp_path, rules, sha256_log):
    data = apk.read_bytes()
    doc = _doc([apk], rules, tmp_path / "s.sqlite", identify_options={"hashes": ("sha256", "sha1", "md5")})
    assert whole_file_hashes(sha256_log, data) == 1
    ident = doc["apps"][0]["identity"]
    assert (ident["sha256"], ident["sha1"], ident["md5"]) == (
        sha256_hex(data), hashlib.sha1(data).hexdigest(), hashlib.md5(data).hexdigest())


def test_pool_workers_hash_a_miss_once(apk, tmp_path, rules, sha256_log):
    second = apk.parent / "other.apk"
    shutil.copy(APKS / BANNED, second)
    os.utime(second, ns=(OLD, OLD))
    doc = _doc([apk.parent], rules, tmp_path / "s.sqlite", runner=pool_mod.Pool(2, tmp_dir=str(tmp_path / "pool")))
    for path in (apk, second):
        data = path.read_bytes()
        assert whole_file_hashes(sha256_log, data) == 1
        assert sha256_hex(data) in {a["sha256"] for a in doc["apps"]}


def test_a_stored_member_read_by_window_is_hashed_once(tmp_path, rules, sha256_log, monkeypatch):
    """An APK stored in a ZIP is read in place (offset, length): the look-up hashes that window."""
    monkeypatch.setattr(st, "RACY_NS", 0)
    data = (APKS / CLEAN).read_bytes()
    outer = tmp_path / "in" / "pull.zip"
    outer.parent.mkdir()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("notes.txt", b"x" * 100)
        z.writestr("apps/app.apk", data)
    os.utime(outer, ns=(OLD, OLD))
    doc = _doc([outer], rules, tmp_path / "s.sqlite")
    (app,) = doc["apps"]
    assert app["sha256"] == sha256_hex(data)
    assert whole_file_hashes(sha256_log, data) == 1
    assert _rows(tmp_path / "s.sqlite")[1] == {app["sha256"]}  # a stat key for the window


def _rewrite(path: Path, name: str) -> None:
    """Other bytes in place, same size: the descriptor's fstat (mtime, ctime) moves."""
    with open(path, "r+b") as f:
        f.write((APKS / name).read_bytes())


def test_a_file_rewritten_after_the_lookups_hash_is_refused(apk, tmp_path, rules, monkeypatch):
    """The look-up hashed the clean APK, then the file became the banned one before identify read
    it: the descriptor no longer proves the bytes, and the file is no longer the one the walk
    classified (custody's stat, review 66 F1): an input error, no app, nothing stored."""
    real, given = st._sha256, []

    def hashed_then_rewritten(item, *rest):
        sha = real(item, *rest)
        _rewrite(apk, BANNED)
        return sha

    real_identify = identify_mod.identify

    def noting(path, **kw):
        given.append(kw.get("known_sha256"))
        return real_identify(path, **kw)

    monkeypatch.setattr(st, "_sha256", hashed_then_rewritten)
    monkeypatch.setattr(identify_mod, "identify", noting)
    doc = _doc([apk], rules, tmp_path / "s.sqlite")
    assert doc["apps"] == [] and [e["code"] for e in doc["errors"][0]["errors"]] == ["INPUT_CHANGED_DURING_SCAN"]
    assert given == [None]  # not proven before the parse: not handed over
    assert _rows(tmp_path / "s.sqlite") == (set(), set())  # nothing stored from other bytes than custody's


def test_a_file_rewritten_during_identify_is_refused(apk, tmp_path, rules, monkeypatch):
    """Proven when identify starts, rewritten while it reads: its result (the look-up's digest
    with whatever it parsed) is dropped and the file read again, which finds it is not the file
    custody names any more (review 66 F1): an input error, nothing stored, no stat key."""
    real_identify, given = identify_mod.identify, []
    clean = sha256_hex(apk.read_bytes())

    def rewritten_while_read(path, **kw):
        given.append(kw.get("known_sha256"))
        if len(given) == 1:
            _rewrite(apk, BANNED)
        return real_identify(path, **kw)

    monkeypatch.setattr(identify_mod, "identify", rewritten_while_read)
    doc = _doc([apk], rules, tmp_path / "s.sqlite")
    assert given == [clean, None]  # handed over when proven, then read again without it
    assert doc["apps"] == [] and [e["code"] for e in doc["errors"][0]["errors"]] == ["INPUT_CHANGED_DURING_SCAN"]
    assert _rows(tmp_path / "s.sqlite") == (set(), set())


def test_a_racy_file_is_hashed_by_the_pass(apk, tmp_path, rules, monkeypatch):
    """Changed within the racy window of its stat: the look-up's digest is not proven to be the
    bytes identify reads (a write in the same tick moves no timestamp), so it is not handed over."""
    monkeypatch.setattr(st, "RACY_NS", 2_000_000_000)
    os.utime(apk)  # now
    real_identify, given = identify_mod.identify, []

    def noting(path, **kw):
        given.append(kw.get("known_sha256"))
        return real_identify(path, **kw)

    monkeypatch.setattr(identify_mod, "identify", noting)
    (app,) = _doc([apk], rules, tmp_path / "s.sqlite")["apps"]
    assert given == [None] and app["sha256"] == sha256_hex(apk.read_bytes())


def test_identify_reports_a_known_digest_without_hashing_again(apk, sha256_log):
    data = apk.read_bytes()
    sha = sha256_hex(data)
    got = identify_mod.identify(apk, known_sha256=sha, hashes=("sha256", "sha1"))
    assert whole_file_hashes(sha256_log, data) == 0
    assert (got.file.sha256, got.file.sha1, got.file.size) == (sha, hashlib.sha1(data).hexdigest(), len(data))
    assert got.verification.verified


def test_a_timed_out_identify_owes_file_facts_and_does_not_hash_a_known_digest(apk, sha256_log):
    data = apk.read_bytes()
    sha = sha256_hex(data)
    got = identify_mod.identify(apk, known_sha256=sha, timeout=-1.0, hashes=("sha256", "md5"))
    assert "INPUT_TIMEOUT" in {i.code for i in got.errors}
    assert (got.file.sha256, got.file.md5) == (sha, hashlib.md5(data).hexdigest())
    assert whole_file_hashes(sha256_log, data) == 0


@pytest.mark.parametrize("bad", ["", "0" * 63, "A" * 64, "g" * 64, b"0" * 64, 7])
def test_a_malformed_known_digest_is_ignored(apk, bad):
    got = identify_mod.identify(apk, known_sha256=bad)
    assert got.file.sha256 == sha256_hex(apk.read_bytes())
