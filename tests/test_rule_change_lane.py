"""A rescan after a rule change (issue 12): the store's lane matches the stored identity again
itself and puts the new decided part into the row's line (:meth:`apkscan.batch.known.KnownFiles._decided`),
without opening, parsing or serialising anything. Whatever it serves must be what a cold scan
under the new rules writes, byte for byte, with the same counts and exit code; a damaged or
planted stored identity is refused (the file is read the usual way), never trusted, never a crash."""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from conftest import APKS

from apkscan.batch.safe_pickle import loads

from test_known_fast_paths import _clear, _scan, work  # noqa: F401 - the counting fixture, the same runner

FIXTURES = APKS.parent
OLD = 1_600_000_000 * 10**9

EXTRA = """\
schema: apkscan-rules/1
pack: extra
vendor: Example
version: "1"
reviewed: "2026-01-01"
rules:
  - id: extra.example
    app: Example apps
    match: {package_glob: ["com.example.*"]}
    references: [test]
  - id: extra.notes
    app: Notes
    match: {label: ["(?i)notes|clean"]}
    references: [test]
sources:
  test: a test pack
"""


@pytest.fixture(autouse=True)
def no_racy_wait(monkeypatch):
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)  # files copied here have a fresh ctime


@pytest.fixture
def every_fixture(tmp_path) -> Path:
    """The APK fixtures, the adversarial ones and the containers (read the usual way: never a lane
    answer), in one folder."""
    d = tmp_path / "in"
    d.mkdir()
    for folder in ("apks", "adversarial", "containers"):
        for p in sorted((FIXTURES / folder).iterdir()):
            if p.is_file() and p.suffix != ".py" and p.suffix != ".json":
                shutil.copy(p, d / f"{folder}-{p.name}")
                os.utime(d / f"{folder}-{p.name}", ns=(OLD, OLD))
    return d


def _changes(tmp_path: Path) -> dict[str, tuple[str, ...]]:
    extra = tmp_path / "extra.yaml"
    extra.write_text(EXTRA, encoding="utf-8")
    return {"fewer packs": ("--no-builtin-rules", "--rules", str(FIXTURES.parent / "signatures" / "tencent.yaml")),
            "one more pack": ("--rules", str(extra)),
            "one more pack and a policy": ("--rules", str(extra), "--policy", "vendor-watch")}


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("change", ["fewer packs", "one more pack", "one more pack and a policy"])
def test_a_rule_change_rescan_writes_what_a_cold_scan_under_the_new_rules_writes(every_fixture, tmp_path, work,
                                                                                 jobs, change):
    """Lines, counts and exit code equal a cold run under the new rules (with a store and
    without); the plain APKs are answered by the lane (nothing parsed, no identity serialised
    for them); the rows it writes make the next run under the new rules a warm one."""
    new = _changes(tmp_path)[change]
    db = tmp_path / "s.sqlite"
    old = _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", jobs)
    _clear(work)
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), "--jobs", jobs, *new)
    assert work["parsed"] == []
    assert len(work["to_dict"]) < len(rescan[0]) // 2  # most apps: the lane, never serialised again
    cold = _scan([every_fixture], tmp_path / "ref.jsonl", "--store", str(tmp_path / "fresh.sqlite"), "--jobs", jobs,
                 *new)
    assert rescan == cold == _scan([every_fixture], tmp_path / "ref2.jsonl", "--no-store", *new)
    assert rescan[0] != old[0]  # the change changed findings: the lane did not serve old ones
    _clear(work)
    assert _scan([every_fixture], tmp_path / "w.jsonl", "--store", str(db), "--jobs", jobs, *new) == cold
    assert work["parsed"] == []


def test_a_rule_change_then_the_old_rules_again_is_warm_and_unchanged(every_fixture, tmp_path, work):
    db = tmp_path / "s.sqlite"
    new = _changes(tmp_path)["one more pack"]
    old = _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *new)
    _clear(work)
    assert _scan([every_fixture], tmp_path / "back.jsonl", "--store", str(db)) == old
    assert work["parsed"] == []


def _rows(db: Path) -> list[tuple[str, bytes]]:
    with closing(sqlite3.connect(db)) as c:
        return c.execute("SELECT sha256, identity FROM identities ORDER BY sha256").fetchall()


def _damage(db: Path, how: str) -> None:
    """Every stored identity damaged or planted the way ``how`` says."""
    rows = _rows(db)
    with closing(sqlite3.connect(db)) as c, c:
        for i, (sha, blob) in enumerate(rows):
            if how == "garbage":
                new = b"\x80\x04\x95\x00"
            elif how == "other bytes":  # a well-formed identity of another APK
                new = rows[(i + 1) % len(rows)][1]
            elif how == "inside":  # the right type and bytes, a manifest that is no manifest
                identity = loads(blob)
                identity.manifest = 5
                new = pickle.dumps(identity)
            elif how == "shape":  # a list made a tuple (review 50 F4: the usual path refused it, the lane matched it)
                identity = loads(blob)
                identity.tamper = tuple(identity.tamper)
                if identity.manifest is not None:  # what would show if it were used: another app's name
                    identity.manifest.package, identity.manifest.label = "com.example.planted", "Planted"
                new = pickle.dumps(identity)
            elif how == "not whole":  # cut by a time budget: never matched from the store
                identity = loads(blob)
                identity.errors.append(_timeout())
                new = pickle.dumps(identity)
            else:  # a stored value that is no identity at all
                new = pickle.dumps(["not", "an", "identity"])
            c.execute("UPDATE identities SET identity=? WHERE sha256=?", (new, sha))


def _timeout():
    from apkscan.issues import Issue

    return Issue("INPUT_TIMEOUT", "planted")


@pytest.mark.parametrize("how", ["garbage", "other bytes", "inside", "shape", "not whole", "no identity"])
def test_a_damaged_or_planted_stored_identity_is_refused_after_a_rule_change(every_fixture, tmp_path, how,
                                                                             monkeypatch):
    """Never matched in the lane: the input goes the usual way (the same store, the lane's
    re-match off gives the same lines), which reads the file again: a cold run's lines. That holds
    for a well-formed identity of these bytes planted with a transient error too (the usual path
    served it as stored until ``store._load`` checked ``storable``)."""
    new = _changes(tmp_path)["one more pack"]
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    _damage(db, how)
    with sqlite3.connect(db) as src, sqlite3.connect(tmp_path / "usual.sqlite") as dst:
        src.backup(dst)  # the damage may still be in the -wal file
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *new)
    monkeypatch.setattr("apkscan.batch.known.KnownFiles._decided", lambda *a: None)
    assert rescan == _scan([every_fixture], tmp_path / "u.jsonl", "--store", str(tmp_path / "usual.sqlite"), *new)
    assert rescan == _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)


def test_planted_findings_of_the_new_rules_are_refused_and_matched_again(every_fixture, tmp_path):
    """A ``matches`` row for the new rule set that is no list of findings: matched again."""
    new = _changes(tmp_path)["one more pack"]
    db, other = tmp_path / "s.sqlite", tmp_path / "o.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    _scan([every_fixture], tmp_path / "o.jsonl", "--store", str(other), *new)
    with sqlite3.connect(other) as c:
        keys = c.execute("SELECT DISTINCT rules FROM matches").fetchall()
    assert len(keys) == 1
    with sqlite3.connect(db) as c:
        for sha, parser, options in c.execute("SELECT sha256, parser, options FROM identities").fetchall():
            c.execute("INSERT INTO matches VALUES (?,?,?,?,?)", (sha, parser, options, keys[0][0],
                                                                 pickle.dumps({"planted": True})))
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *new)
    assert rescan == _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)


@pytest.mark.parametrize("how", ["span", "line", "seal"])
def test_a_row_changed_without_its_seal_is_not_matched_again_after_a_rule_change(every_fixture, tmp_path, how):
    """The line of such a row is never put together with new findings: the usual path reads the
    file, and the lines, counts and exit code are a cold run's under the new rules."""
    from test_known_fast_paths import _plant

    new = _changes(tmp_path)["one more pack"]
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    _plant(db, how)
    assert _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *new) == \
        _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)
