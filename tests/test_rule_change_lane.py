"""A rescan after a rule change (issue 12): the store's lane matches the stored identity again
itself and puts the new decided part into the row's line (:meth:`apkscan.batch.known.KnownFiles._decided`),
without opening, parsing or serialising anything. Whatever it serves must be what a cold scan
under the new rules writes, byte for byte, with the same counts and exit code; a damaged or
planted stored identity is refused (the file is read the usual way), never trusted, never a crash."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from conftest import APKS

from apkscan.batch import store
from apkscan.batch.results import row_seal
from apkscan.batch.safe_pickle import loads

from test_known_fast_paths import _clear, _scan, work  # noqa: F401 - the counting fixture, the same runner

FIXTURES = APKS.parent
OLD = 1_600_000_000 * 10**9

EXTRA = Path(__file__).with_name("extra_pack.yaml")  # one more pack, as bench/compare_scans.py uses it


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
    """The rule changes a rescan is asked after (``tmp_path``: kept for the callers' signature)."""
    return {"fewer packs": ("--no-builtin-rules", "--rules", str(FIXTURES.parent / "signatures" / "tencent.yaml")),
            "one more pack": ("--rules", str(EXTRA)),
            "one more pack and a policy": ("--rules", str(EXTRA), "--policy", "vendor-watch")}


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
            planted = pickle.dumps({"planted": True})  # sealed: only the shape check is left to refuse it
            c.execute("INSERT INTO matches VALUES (?,?,?,?,?,?)", (sha, parser, options, keys[0][0],
                                                                   planted, row_seal(planted, "matches", sha, parser,
                                                                                     options, keys[0][0])))
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


# --- match facts (schema 7, apkscan.batch.store_facts): an app that can match nothing, known unpickled ---


def _could(db: Path, rules) -> list[bool]:
    from apkscan.rules.prefilter import prefilter_of

    with closing(sqlite3.connect(db)) as c:
        return [prefilter_of(rules).could_match(json.loads(f)) for (f,) in c.execute("SELECT facts FROM match_facts")]


def test_a_rule_change_unpickles_only_the_identities_whose_facts_could_match(every_fixture, tmp_path, monkeypatch):
    """The lane reads the stored facts; an identity is unpickled (and matched) only when they say a
    rule of the new set could match. The lines are still a cold run's under the new rules."""
    from apkscan.batch import store
    from apkscan.rules.loader import load_ruleset

    new = _changes(tmp_path)["fewer packs"]
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    could = _could(db, load_ruleset([new[2]], builtin=False))
    assert len(could) == len(_rows(db)) and 0 < sum(could) < len(could)
    unpickled: list[str] = []
    real = store.stored_identity
    monkeypatch.setattr(store, "stored_identity",
                        lambda path, sha, *a, **kw: unpickled.append(sha) or real(path, sha, *a, **kw))
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), "--jobs", "1", *new)
    assert 0 < len(unpickled) <= sum(could)  # before: one per app the lane answered
    assert rescan == _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)


def _facts_plant(db: Path, how: str) -> None:
    """Every match_facts row changed the way ``how`` says; ``resealed``: with a seal that binds it to
    its identity's digest again (only the shape, format and SHA-256 checks are left to refuse it)."""
    from apkscan.batch.store_facts import facts_seal

    with closing(sqlite3.connect(db)) as c, c:
        rows = c.execute("SELECT f.rowid, f.sha256, f.facts, i.digest FROM match_facts f JOIN identities i "
                         "USING (sha256, parser, options) ORDER BY f.sha256").fetchall()
        for n, (rowid, _sha, text, digest) in enumerate(rows):
            facts = json.loads(text)
            nothing = {**facts, "packages": [], "labels": [], "certificates": [], "ambiguous": False}
            seal = None  # the row's own
            if how == "says nothing":
                text = json.dumps(nothing)
            elif how == "another identity's":
                text = rows[(n + 1) % len(rows)][2]
            elif how == "resealed to another identity":
                text, seal = json.dumps(nothing), facts_seal(json.dumps(nothing), rows[(n + 1) % len(rows)][3])
            elif how == "resealed, other bytes":
                text = json.dumps({**nothing, "sha256": rows[(n + 1) % len(rows)][1]})
                seal = facts_seal(text, digest)
            elif how == "resealed, another format":
                text = json.dumps({**nothing, "format": 0})
                seal = facts_seal(text, digest)
            elif how == "resealed, out of shape":  # names as one text: iterated, it would match nothing
                text = json.dumps({**facts, "packages": "".join(facts["packages"]), "certificates": [
                    [*c[:3], {k: " ".join(v) for k, v in c[3].items()}, c[4]] for c in facts["certificates"]]})
                seal = facts_seal(text, digest)
            elif how == "garbage":
                text, seal = "{", facts_seal("{", digest)
            c.execute("UPDATE match_facts SET facts=?" + (", seal=?" if seal else "") + " WHERE rowid=?",
                      (text, seal, rowid) if seal else (text, rowid))


@pytest.mark.parametrize("how", ["says nothing", "another identity's", "resealed to another identity",
                                 "resealed, other bytes", "resealed, another format", "resealed, out of shape",
                                 "garbage"])
def test_planted_or_damaged_match_facts_never_make_an_app_look_clean(every_fixture, tmp_path, how):
    """Facts changed without their identity (or in a shape, format or for bytes not theirs) are a
    miss: the identity is matched as before, and every banned app is still reported."""
    new = _changes(tmp_path)["fewer packs"]
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    _facts_plant(db, how)
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *new)
    reference = _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)
    assert rescan == reference and reference[1]["prohibited"] + reference[1]["review"] > 0


def test_a_store_of_schema_6_is_migrated_and_its_identities_matched_as_before(every_fixture, tmp_path):
    """A store written before match facts existed: migrated (an empty ``match_facts``), each identity
    unpickled and matched as before, its facts kept then; the next rule change reads them."""
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    _as_schema(db, 6)
    changes = _changes(tmp_path)
    for change in ("one more pack", "fewer packs", "one more pack"):
        assert _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *changes[change]) == \
            _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *changes[change])
        with closing(sqlite3.connect(db)) as c:
            assert c.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
            facts = c.execute("SELECT COUNT(*) FROM match_facts").fetchone()[0]
    # the migration also dropped the stat keys and lane rows (schema 9): the first rescan hashes
    # every file and answers by SHA-256, the lane's rows come back, and the lane keeps the facts
    assert facts > 0


def _as_schema(db: Path, version: int) -> None:
    """The store made what schema ``version`` (6 or 7) wrote: no digest column nor trigger (8);
    at 7, facts sealed to the identity's whole pickle as 7 sealed them; at 6, no facts."""
    import hashlib

    with closing(sqlite3.connect(db)) as c, c:
        c.execute("DROP TRIGGER identity_rewritten")
        for rowid, text, blob in c.execute("SELECT f.rowid, f.facts, i.identity FROM match_facts f JOIN identities i "
                                           "USING (sha256, parser, options)").fetchall():
            seal = hashlib.sha256(text.encode("utf-8") + b"\n" + blob).hexdigest()[:32]
            c.execute("UPDATE match_facts SET seal=? WHERE rowid=?", (seal, rowid))
        c.execute("ALTER TABLE identities DROP COLUMN digest")
        c.execute("ALTER TABLE matches DROP COLUMN seal")  # sealed since schema 10
        c.execute("ALTER TABLE decisions DROP COLUMN seal")
        c.execute("DROP TABLE used_keys")  # since schema 11
        if version == 6:
            c.execute("DROP TABLE match_facts")
        c.execute(f"PRAGMA user_version={version}")


def test_a_store_of_schema_7_is_migrated_its_facts_kept_again_sealed_to_a_digest(every_fixture, tmp_path,
                                                                                 monkeypatch):
    """Schema 8: facts sealed to a digest of the identity's pickle kept in its row, not to the pickle
    itself (read and hashed on every lookup). A schema-7 store loses its facts (sealed the old way)
    and gains an empty digest column; the first rule change matches every identity as before and
    (the lane's) keeps its digest and facts; the next reads them, unpickling only identities that
    could match."""
    from apkscan.batch.store_facts import blob_digest
    from apkscan.rules.loader import load_ruleset

    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    _as_schema(db, 7)
    _scan([every_fixture], tmp_path / "migrated.jsonl", "--store", str(db))  # 9 dropped the stat keys: proven again
    changes = _changes(tmp_path)
    assert _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *changes["one more pack"]) == \
        _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *changes["one more pack"])
    with closing(sqlite3.connect(db)) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION == 13
        rows = c.execute("SELECT identity, digest FROM identities").fetchall()  # (those the lane matched)
        kept = [digest for blob, digest in rows if digest is not None and digest == blob_digest(blob)]
        assert 0 < len(kept) == len([d for _, d in rows if d is not None])
        assert c.execute("SELECT COUNT(*) FROM match_facts").fetchone()[0] == len(kept)
    new = changes["fewer packs"]
    could = _could(db, load_ruleset([new[2]], builtin=False))
    unpickled: list[str] = []
    real = store.stored_identity
    monkeypatch.setattr(store, "stored_identity",
                        lambda path, sha, *a, **kw: unpickled.append(sha) or real(path, sha, *a, **kw))
    rescan = _scan([every_fixture], tmp_path / "r2.jsonl", "--store", str(db), "--jobs", "1", *new)
    assert 0 < len(unpickled) <= sum(could) < len(could)
    assert rescan == _scan([every_fixture], tmp_path / "ref2.jsonl", "--no-store", *new)


def test_a_pickle_rewritten_in_place_loses_its_digest_and_its_facts_are_not_read(every_fixture, tmp_path):
    """An identity's pickle changed by an UPDATE (never by apkscan, which replaces a row whole) must
    not keep facts that stand for what it held before: the trigger clears its digest, so its facts
    no longer pass their seal (read and hashed, the pickle would have shown it; it is no longer
    read for them). Rewritten with the very same pickle: read, matched and its digest and facts kept
    again; with one that is no identity: refused, the file read again and stored anew."""
    from apkscan.batch.store_facts import blob_digest, stored_facts

    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    sdk = {"hashes": ("sha256",), "min_sdk": None, "quick": False}  # the run's identify options
    with closing(sqlite3.connect(db)) as c:
        options = c.execute("SELECT DISTINCT options FROM identities").fetchall()
    assert len(options) == 1 and options[0][0] == store.options_key(sdk), options
    shas = [sha for sha, _ in _rows(db)]
    assert all(stored_facts(str(db), sha, sdk) is not None for sha in shas)
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("UPDATE identities SET identity=x'80049500' WHERE sha256=?", (shas[0],))
        c.execute("UPDATE identities SET identity=identity WHERE sha256=?", (shas[1],))
        left = c.execute("SELECT sha256 FROM identities WHERE digest IS NULL").fetchall()
    store.close_connections()
    assert sorted(left) == sorted([(shas[0],), (shas[1],)])
    assert [sha for sha in shas if stored_facts(str(db), sha, sdk) is None] == shas[:2]
    new = _changes(tmp_path)["one more pack"]
    assert _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *new) == \
        _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)
    store.close_connections()
    with closing(sqlite3.connect(db)) as c:
        rows = c.execute("SELECT sha256, identity, digest FROM identities").fetchall()
    assert all(digest == blob_digest(blob) for _, blob, digest in rows) and len(rows) == len(shas)
    assert b"\x80\x04\x95\x00" not in [blob for _, blob, _ in rows]  # refused: the file read again, stored anew
    assert all(stored_facts(str(db), sha, sdk) is not None for sha in shas)


def test_each_identity_facts_are_made_once_and_a_rule_change_rewrites_none(every_fixture, tmp_path, monkeypatch):
    """A cold scan makes each new identity's match facts once (kept with it, then given to the
    matcher: before, ``facts_of`` ran again in ``match_identity``); a rule change whose stored facts
    are all readable rewrites none and hashes no pickle (before: every app that could match had its
    facts made, its pickle hashed and its row written again). Lines as a run without a store."""
    from apkscan.batch import store_facts
    from apkscan.rules import matcher, prefilter

    made: list[tuple[str, str]] = []  # (input, SHA-256) of each facts_of
    real = prefilter.facts_of

    def counted(identity):
        made.append((identity.path, identity.file.sha256))
        return real(identity)

    monkeypatch.setattr(prefilter, "facts_of", counted)
    monkeypatch.setattr(matcher, "facts_of", counted)
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", "1")
    assert len(made) == len(set(made)), "facts_of once per input: kept with a new identity, given to the matcher"
    assert {sha for sha, _ in _rows(db)} <= {sha for _, sha in made}
    written, hashed, unpickled = [], [], []
    monkeypatch.setattr(store_facts, "put_facts", lambda *a: written.append(a))
    digest = store_facts.blob_digest
    monkeypatch.setattr(store_facts, "blob_digest", lambda blob: hashed.append(blob) or digest(blob))
    real_load = store.loads_or_none
    monkeypatch.setattr(store, "loads_or_none", lambda blob: unpickled.append(blob) or real_load(blob))
    made.clear()
    new = _changes(tmp_path)["fewer packs"]
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), "--jobs", "1", *new)
    # no facts rewritten; a pickle is hashed only when it is unpickled, checked against its digest
    # (review 74 F1), and only those whose facts say they could match are
    stored = {blob for _, blob in _rows(db)}
    assert written == [] and 0 < len(hashed) < len(stored)
    assert sorted(hashed) == sorted(b for b in unpickled if b in stored)
    assert len(made) == len(set(made))  # the lane matches with the facts it read (the usual path: once)
    assert rescan == _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)


def test_an_allow_list_entry_for_an_app_without_findings_is_decided_with_its_identity(every_fixture, tmp_path):
    """Apps without findings share one decided part in the lane only when no policy has an
    allow-list: an entry for such an app (package + verified signer) makes it ``allowed`` with the
    entry as its decision, which only its identity can tell (the shared part is decided with no
    identity at all: one read would fail, and the app go the usual way)."""
    from test_known_fast_paths import _signer

    new = _changes(tmp_path)["fewer packs"]
    db = tmp_path / "s.sqlite"
    cold = _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    allow = ("--allow", f"com.example.ec:{_signer(cold[0], 'com.example.ec')}")
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *new, *allow)
    assert rescan == _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new, *allow)
    app = next(json.loads(x) for x in rescan[0] if '"package": "com.example.ec"' in x)
    assert app["verdict"] == "allowed" and app["findings"] == [], app
    assert app["policy"]["decision"] == "allow-list", app["policy"]
