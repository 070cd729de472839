"""The scan store on real SQLite files: parse once, re-match after a rule change, stat keys,
corrupt and newer stores, migrations, a planted pickle, two runs at once, --resume."""

from __future__ import annotations

import json
from contextlib import closing
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import apkscan.apk.identify as identify_mod
from conftest import without_hashed
from apkscan.batch import store as st
from apkscan.batch.results import row_seal
from apkscan.cli import main
from apkscan.policy.loader import load_policy
from apkscan.scan import scan
from apkscan.sources.files import FileSource

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"


@pytest.fixture
def corpus(tmp_path):
    """A few fixture APKs copied with old mtimes (so stat keys are recorded)."""
    d = tmp_path / "in"
    d.mkdir()
    for name in ("wechat-tencent-subject.apk", "tiktok-bytedance-subject.apk", "clean-v1v2v3.apk", "v1-only.apk"):
        shutil.copy(APKS / name, d / name)
        os.utime(d / name, ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
    return d


@pytest.fixture
def parses(monkeypatch):
    """Counts real parses: every call of identify."""
    calls = []
    real = identify_mod.identify

    def counting(path, **kw):
        calls.append(kw.get("display_path"))
        return real(path, **kw)

    monkeypatch.setattr(identify_mod, "identify", counting)
    return calls


@pytest.fixture(autouse=True)
def no_racy_wait(monkeypatch, request):
    """Stat keys wait out 2 s since the last change of mtime *or ctime*; files copied by a test have
    a fresh ctime no utime can set back, so only the tests about that window keep it."""
    if "racy" not in request.node.name:
        monkeypatch.setattr(st, "RACY_NS", 0)


def _run(paths, rules, policy, store, **kw):
    r = scan([FileSource([str(p) for p in paths])], rules, policy, store=str(store), **kw)
    d = r.to_dict()
    d.pop("started_at"), d.pop("finished_at")
    return without_hashed(d)


def test_warm_store_parses_nothing_and_gives_the_same_document(corpus, rules, tmp_path, parses):
    db = tmp_path / "s.sqlite"
    st.open_checked(str(db))[0].close()
    cold = _run([corpus], rules, load_policy(), db)
    assert len(parses) == 4
    warm = _run([corpus], rules, load_policy(), db)
    assert len(parses) == 4 and warm == cold
    no_store = scan([FileSource([str(corpus)])], rules, load_policy()).to_dict()
    assert [a["identity"] for a in no_store["apps"]] == [a["identity"] for a in cold["apps"]]


def test_rule_or_policy_change_rematches_stored_identities(corpus, rules, tmp_path, parses):
    db = tmp_path / "s.sqlite"
    strict = _run([corpus], rules, load_policy("canada-tbs-2023"), db)
    watch = _run([corpus], rules, load_policy("vendor-watch"), db)
    assert len(parses) == 4  # second run: matched again, parsed never
    assert [a["verdict"] for a in strict["apps"]] != [a["verdict"] for a in watch["apps"]]


def test_identical_bytes_at_two_places_are_parsed_once(corpus, rules, tmp_path, parses):
    other = tmp_path / "backup2"
    other.mkdir()
    shutil.copy(corpus / "wechat-tencent-subject.apk", other / "renamed.apk")
    doc = _run([corpus, other], rules, load_policy(), tmp_path / "s.sqlite")
    assert len(parses) == 4 and len(doc["apps"]) == 5
    copy = doc["apps"][-1]
    assert copy["source"]["path"].endswith("renamed.apk") and copy["identity"]["path"].endswith("renamed.apk")


def test_unchanged_file_is_not_read_changed_file_is(corpus, rules, tmp_path, monkeypatch, parses):
    db = tmp_path / "s.sqlite"
    _run([corpus], rules, load_policy(), db)
    hashed = []
    real = st._sha256
    monkeypatch.setattr(st, "_sha256", lambda item, *a: hashed.append(item.path) or real(item, *a))
    _run([corpus], rules, load_policy(), db)
    assert hashed == []  # every file known by its stat key
    _run([corpus], rules, load_policy(), db, rehash=True)
    assert len(hashed) == 4 and len(parses) == 4  # --rehash reads, but the bytes are known
    # same size, same mtime, other bytes, and (ext4) the same inode number reused: must not pass for the old file
    target = corpus / "clean-v1v2v3.apk"
    data = (APKS / "v1v2.apk").read_bytes()
    target.unlink()
    target.write_bytes(data)
    os.utime(target, ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
    doc = _run([corpus], rules, load_policy(), db)
    app = next(a for a in doc["apps"] if a["source"]["path"].endswith("clean-v1v2v3.apk"))
    import hashlib
    assert app["sha256"] == hashlib.sha256(data).hexdigest()


def test_another_hard_link_to_a_known_file_is_not_read_again(corpus, rules, tmp_path, monkeypatch, parses):
    """Backup snapshots made with ``rsync --link-dest`` hold each unchanged APK as one more hard
    link: known by its inode and stat, it is neither hashed nor parsed again, and its own path is
    remembered. A copy (another inode) is hashed, and a link whose file changed is read again."""
    db = tmp_path / "s.sqlite"
    snap = tmp_path / "snapshot-2"
    snap.mkdir()
    for name in ("wechat-tencent-subject.apk", "clean-v1v2v3.apk"):
        os.link(corpus / name, snap / name)  # the inode's ctime moves now: the first run sees it so
    shutil.copy(corpus / "v1-only.apk", snap / "v1-only.apk")
    _run([corpus], rules, load_policy(), db)
    hashed = []
    real = st._sha256
    monkeypatch.setattr(st, "_sha256", lambda item, *a: hashed.append(os.path.basename(item.path)) or real(item, *a))
    doc = _run([snap], rules, load_policy(), db)
    assert hashed == ["v1-only.apk"] and len(parses) == 4
    assert {a["source"]["path"]: a["verdict"] for a in doc["apps"]} == {
        str(snap / "clean-v1v2v3.apk"): "allowed", str(snap / "v1-only.apk"): "allowed",
        str(snap / "wechat-tencent-subject.apk"): "prohibited"}
    with sqlite3.connect(db) as c:  # the link's own place now has its stat key
        assert c.execute("SELECT COUNT(*) FROM stat_keys WHERE path=?", (str(snap / "clean-v1v2v3.apk"),)).fetchone()[0] == 1
    with open(snap / "clean-v1v2v3.apk", "r+b") as f:  # one write through a link changes the file for both
        f.seek(100)
        f.write(b"\x00")
    os.utime(snap / "clean-v1v2v3.apk", ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))  # mtime set back; ctime moved
    hashed.clear()
    _run([corpus], rules, load_policy(), db)
    assert hashed == ["clean-v1v2v3.apk"]


def test_a_row_found_by_inode_counts_only_while_its_path_names_that_file(corpus, rules, tmp_path, monkeypatch):
    """Review 14: device and inode numbers come back with the next mounted image, whose ctimes its
    maker set: a row recorded for /mnt/a/x.apk (TikTok) matched /mnt/b/y.apk (another app, same
    device, inode, size and times) and served TikTok's identity for it. A row found by inode now
    counts only while its own path names, now, that very file with that stat."""
    db = tmp_path / "s.sqlite"
    _run([corpus / "tiktok-bytedance-subject.apk"], rules, load_policy(), db)
    target = corpus / "clean-v1v2v3.apk"
    place, stat = st.stat_key(st.ScanInput(str(target), (str(target),)))
    with sqlite3.connect(db) as c:  # the remounted image's row: another file's path, this file's numbers
        sha = c.execute("SELECT sha256 FROM stat_keys").fetchone()[0]
        c.execute("INSERT INTO stat_keys VALUES (?,?,?,?,?,?,?,?,?)",
                  (str(corpus / "wechat-tencent-subject.apk"), place[1], place[2], *stat, sha))
    doc = _run([target], rules, load_policy(), db)
    assert [(a["package"], a["verdict"]) for a in doc["apps"]] == [("com.example.clean", "allowed")]


def test_a_racy_recently_modified_file_gets_no_stat_key(tmp_path, rules):
    d = tmp_path / "fresh"
    d.mkdir()
    shutil.copy(APKS / "v2-only.apk", d / "a.apk")  # mtime: now
    db = tmp_path / "s.sqlite"
    _run([d], rules, load_policy(), db)
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM stat_keys").fetchone()[0] == 0
        assert c.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 1


def _shell_pickle(command: str) -> bytes:
    """A pickle that runs ``command`` when a plain unpickler loads it."""

    class Evil:
        def __reduce__(self):
            return (os.system, (command,))

    return pickle.dumps(Evil())


def test_planted_pickle_is_refused_and_the_apk_parsed(corpus, rules, tmp_path, parses):
    db = tmp_path / "s.sqlite"
    _run([corpus], rules, load_policy(), db)
    marker = tmp_path / "pwned"
    evil = _shell_pickle(f"touch {marker}")
    with sqlite3.connect(db) as c:
        c.execute("UPDATE identities SET identity=?", (evil,))
    doc = _run([corpus], rules, load_policy(), db)
    assert not marker.exists()
    assert len(parses) == 8 and all(a["identity"]["package"] for a in doc["apps"])


def _short(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw  # SHORT_BINUNICODE


@pytest.mark.parametrize("module, name", [
    ("apkscan.batch.store", "os.system"),      # a dotted name walks from an allowed module to anything
    ("apkscan.batch.store", "os"),             # a module object, not a record type
    ("apkscan.apk.identify", "identify"),      # an apkscan function (reads files): not a record
    ("apkscan.batch.store", "stat_key"),       # imported into the module, defined elsewhere (reads files)
    ("posix", "system"),
])
def test_store_rows_cannot_name_callables(tmp_path, module, name):
    """A planted row built by hand (STACK_GLOBAL + REDUCE) must not run anything."""
    marker = tmp_path / "pwned"
    blob = (b"\x80\x04" + _short(module) + _short(name) + b"\x93"
            + _short(f"touch {marker}") + b"\x85R.")
    with pytest.raises(pickle.UnpicklingError):
        st.loads(blob)
    assert not marker.exists()


def test_store_still_loads_its_own_records(corpus, rules, tmp_path):
    db = tmp_path / "s.sqlite"
    _run([corpus], rules, load_policy(), db)
    with sqlite3.connect(db) as c:
        blobs = [r[0] for r in c.execute("SELECT identity FROM identities")]
    assert blobs and all(st.loads(b).manifest.package for b in blobs)


def test_corrupt_store_is_set_aside_and_replaced(tmp_path):
    db = tmp_path / "s.sqlite"
    conn, issues = st.open_checked(str(db))
    conn.execute("INSERT INTO stat_keys VALUES ('x',0,-1,1,1,1,1,1,'y')")
    conn.close()
    raw = bytearray(db.read_bytes())
    raw[100:4096] = os.urandom(3996)  # header and first page destroyed
    db.write_bytes(raw)
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"]
    assert conn.execute("SELECT COUNT(*) FROM stat_keys").fetchone()[0] == 0
    assert list(tmp_path.glob("s.sqlite.corrupt-*"))


def test_a_damaged_byte_in_the_schema_text_sets_the_store_aside(tmp_path):
    """Review 74 F6: SQLite hands the schema's text to Python, whose UTF-8 decoder raised past the
    store's checks: every later scan ended in a traceback (exit 1) and the store was never set aside."""
    db = tmp_path / "s.sqlite"
    conn, _issues = st.open_checked(str(db))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = bytearray(db.read_bytes())
    raw[raw.index(b"CREATE TABLE runs") + 7] = 0x9D  # one byte of the schema text, not UTF-8
    db.write_bytes(raw)
    for _ in range(2):  # the damaged file, then the new store beside it
        res = CliRunner().invoke(main, ["scan", str(APKS / "v2-only.apk"), "--store", str(db), "-q"])
        assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("s.sqlite.corrupt-*"))) == 1


def test_foreign_files_and_folders_given_as_store_are_left_alone(tmp_path):
    notes, folder = tmp_path / "notes.txt", tmp_path / "cases"
    notes.write_text("my notes")
    folder.mkdir()
    res = CliRunner().invoke(main, ["scan", str(APKS / "v2-only.apk"), "--store", str(notes), "-q"])
    assert res.exit_code == 0 and "STORE_UNAVAILABLE" in res.stderr, res.output
    res = CliRunner().invoke(main, ["scan", str(APKS / "v2-only.apk"), "--store", str(folder), "-q"])
    assert res.exit_code == 2  # a folder: a usage error before anything is read
    conn, issues = st.open_checked(str(folder))  # and the library leaves it alone too
    assert conn is None and [i.code for i in issues] == ["STORE_UNAVAILABLE"]
    assert notes.read_text() == "my notes" and folder.is_dir() and not list(tmp_path.glob("*.corrupt-*"))


def test_garbage_store_via_cli_is_not_fatal(tmp_path):
    db = tmp_path / "s.sqlite"
    db.write_bytes(b"SQLite format 3\x00" + b"this is not a database" * 100)  # a store, damaged
    res = CliRunner().invoke(main, ["scan", str(APKS / "v2-only.apk"), "--store", str(db), "-q",
                                    "--json", str(tmp_path / "o.json")])
    assert res.exit_code == 0, res.output
    assert "STORE_CORRUPT" in res.stderr
    assert json.loads((tmp_path / "o.json").read_text())["apps"][0]["verified"] is True


def test_newer_store_is_left_alone(tmp_path):
    db = tmp_path / "s.sqlite"
    st.connect(str(db)).close()
    with sqlite3.connect(db) as c:  # a newer apkscan's store: this one's tables and more
        c.execute("CREATE TABLE later (x)")
        c.execute("PRAGMA user_version=99")
    conn, issues = st.open_checked(str(db))
    assert conn is None and [i.code for i in issues] == ["STORE_NEWER"]
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 99


def test_a_database_with_a_high_user_version_and_other_tables_is_foreign_and_untouched(tmp_path):
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (x)")
        c.execute("PRAGMA user_version=99")
    c.close()
    before = db.read_bytes()
    conn, issues = st.open_checked(str(db))
    assert conn is None and [i.code for i in issues] == ["STORE_UNAVAILABLE"]
    assert db.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_migration_from_schema_1_keeps_identities(tmp_path):
    db = tmp_path / "s.sqlite"
    with sqlite3.connect(db) as c:
        c.executescript(st._MIGRATIONS[0])
        c.execute("INSERT INTO identities VALUES ('ab', 'p', 'o', x'00', 0)")
        c.execute("PRAGMA user_version=1")
    conn = st.connect(str(db))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == st.SCHEMA_VERSION == 13
    assert conn.execute("SELECT COUNT(*) FROM match_facts").fetchone()[0] == 0
    assert conn.execute("SELECT digest FROM identities").fetchall() == [(None,)]  # a miss when next read: parsed again
    assert conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall() == [("identity_rewritten",)]
    assert conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND name='stat_keys_by_file'").fetchone()
    assert conn.execute("SELECT sha256 FROM identities").fetchall() == [("ab",)]
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


UNSEAL = "ALTER TABLE matches DROP COLUMN seal; ALTER TABLE decisions DROP COLUMN seal;"


def test_migration_to_10_drops_unsealed_findings_and_decisions(corpus, tmp_path):
    """Rows written before findings and decisions were sealed (review 74 F1) go; the next run
    matches and decides again and writes them sealed."""
    db = tmp_path / "s.sqlite"
    args = ["scan", str(corpus), "--store", str(db), "-q", "--json", str(tmp_path / "a.json")]
    CliRunner().invoke(main, args)
    st.close_connections()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] > 0
        c.executescript(UNSEAL)
        c.execute("PRAGMA user_version=9")
    conn = st.connect(str(db))
    assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM matches").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM identities").fetchone()[0] > 0
    conn.close()
    CliRunner().invoke(main, args)
    st.close_connections()
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT decided, seal, sha256, parser, options, rules, policies FROM decisions").fetchall()
    assert rows and all(seal == row_seal(blob, "decisions", *key) for blob, seal, *key in rows)


def test_migration_to_9_forgets_stat_keys_stored_before_they_were_proven(corpus, tmp_path):
    """Stat keys of a store written before review 56 may name another file's bytes (a folder
    swapped during that scan): migrating drops every stat key and fast-lane row, so the next run
    reads each file again instead of trusting them."""
    db = tmp_path / "s.sqlite"
    runner = CliRunner()
    args = ["scan", str(corpus), "--store", str(db), "-q", "--jsonl", str(tmp_path / "a.jsonl")]
    runner.invoke(main, args)
    st.close_connections()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM stat_keys").fetchone()[0] == 4
        c.execute("UPDATE stat_keys SET sha256 = (SELECT sha256 FROM identities LIMIT 1)")  # poisoned
        c.executescript(UNSEAL)  # as schema 8 wrote them (10 sealed findings and decisions)
        c.execute("PRAGMA user_version=8")
    runner.invoke(main, [*args[:-1], str(tmp_path / "b.jsonl")])
    st.close_connections()
    lines = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    custody = [f for x in lines if x.get("type") == "input_file" for f in [x]]
    assert custody and all(f.get("hashed") == "this run" for f in custody), custody
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == st.SCHEMA_VERSION == 13
        keys = dict(c.execute("SELECT path, sha256 FROM stat_keys"))
    assert len(keys) == 4 and len(set(keys.values())) == 4  # proven again, each its own file's


@pytest.mark.parametrize("round_", range(3))  # the race is at creation: a few fresh stores
def test_two_concurrent_runs_on_one_store(tmp_path, round_):
    """Two runs started together on a new store: before, one could read the other's switch to WAL
    as "database is locked", call the store corrupt and move it aside under the other run."""
    db = tmp_path / "shared.sqlite"
    cmd = [sys.executable, "-c", "from apkscan.cli import main; main()", "scan", str(APKS), "--store", str(db), "-q", "--jobs", "2"]
    procs = [subprocess.Popen([*cmd, "--json", str(tmp_path / f"r{i}.json")], stderr=subprocess.PIPE)
             for i in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [1, 1], errs  # prohibited fixtures found, nothing else
    assert not any(b"STORE_" in e for e in errs), errs
    assert not list(tmp_path.glob("*.corrupt-*"))
    docs = [json.loads((tmp_path / f"r{i}.json").read_text()) for i in range(2)]
    assert [a["identity"] for a in docs[0]["apps"]] == [a["identity"] for a in docs[1]["apps"]]
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("SELECT COUNT(DISTINCT run_id), COUNT(*) FROM runs WHERE status='finished'").fetchone() == (1, 2)


def test_resume_finds_the_interrupted_run(tmp_path):
    conn = st.connect(str(tmp_path / "s.sqlite"))
    rid = st.run_id(["a.apk"], {"deep": False})
    assert st.run_id(["a.apk"], {"deep": True}) != rid  # other options: another run
    first, prior = st.begin_run(conn, rid, resume=True)
    assert prior is None
    st.end_run(conn, rid, first, interrupted=True)
    second, prior = st.begin_run(conn, rid, resume=True)
    assert prior == first
    st.end_run(conn, rid, second, interrupted=False)
    assert conn.execute("SELECT status FROM runs ORDER BY started_at").fetchall() == [("interrupted",), ("finished",)]
    res = CliRunner().invoke(main, ["scan", str(APKS / "v2-only.apk"), "--resume", "-q",
                                    "--store", str(tmp_path / "t.sqlite")])
    assert "no interrupted run" in res.stderr
    res = CliRunner().invoke(main, ["scan", str(APKS / "v2-only.apk"), "--resume", "--no-store"])
    assert res.exit_code == 2


def test_resume_finds_a_run_killed_before_it_recorded_its_end(tmp_path):
    """Review 74 F4: a run SIGKILLed (or out of memory) stays ``running``; --resume found none."""
    db = tmp_path / "s.sqlite"
    cmd = [sys.executable, "-c", "from apkscan.cli import main; main()", "scan", str(APKS), "--store", str(db),
           "-q", "--jobs", "1", "--json", str(tmp_path / "r.json")]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # killed once its run is recorded
        try:
            with closing(sqlite3.connect(db)) as c:
                if c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.02)
    proc.kill()
    proc.communicate(timeout=60)
    with closing(sqlite3.connect(db)) as c:
        assert c.execute("SELECT status FROM runs").fetchall() == [("running",)]
    res = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert "resuming the run that did not finish" in res.stderr, res.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["options"]["resumed_from"]
    # that run finished: the killed one is no longer there to resume (review 75 F6)
    res = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert "no interrupted run" in res.stderr, res.stderr


def test_quick_and_hashes_make_another_run(tmp_path):
    """Review 74 F2: a --quick run and a full one over the same inputs shared their run id (and
    --resume of one continued the other)."""
    ids = []
    for extra in ([], ["--quick"], ["--hashes", "sha256,md5"]):
        out = tmp_path / f"r{len(ids)}.jsonl"
        CliRunner().invoke(main, ["scan", str(APKS / "v2-only.apk"), "-q", "--no-store", "--jsonl", str(out), *extra])
        ids.append(json.loads(out.read_text().splitlines()[0])["run_id"])
    assert len(set(ids)) == 3, ids


def test_an_apk_spooled_from_two_backups_is_parsed_once(rules, tmp_path, parses):
    """Members of compressed containers have no stat key: found by SHA-256 after reading."""
    src = REPO / "fixtures" / "containers" / "pull.tar.gz"
    a, b = tmp_path / "device-1.tar.gz", tmp_path / "device-2.tar.gz"
    shutil.copy(src, a)
    shutil.copy(src, b)
    doc = _run([a, b], rules, load_policy(), tmp_path / "s.sqlite")
    per_backup = len(doc["apps"]) // 2
    assert per_backup >= 2 and len(parses) == per_backup
    first = [x["identity"] for x in doc["apps"][:per_backup]]
    second = [x["identity"] for x in doc["apps"][per_backup:]]
    assert [x["sha256"] for x in first] == [x["sha256"] for x in second]
    assert all(x["path"].startswith(str(b)) for x in second)  # each app names where it was found


def test_scan_of_a_folder_holding_the_default_store_runs_without_one(tmp_path, monkeypatch):
    """Review 71 F3: ``scan ~`` refused itself over a ``--store`` the user never typed (the
    default store lies in ~/.cache). The default store inside an input is left unused, with a
    warning: nothing is written into the evidence, and the evidence is scanned. A store the user
    names inside an input is still refused (below), and so is --resume, which needs one."""
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    shutil.copy(APKS / "wechat-impostor.apk", home / "a.apk")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    from apkscan.rules import cache

    monkeypatch.setattr(cache, "_writable", cache._writable)  # the run makes the rule cache read-only: undone after
    before = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    res = CliRunner().invoke(main, ["scan", str(home), "-q", "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 1, res.output
    assert "warning: STORE_INSIDE_INPUT: the default store" in res.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["options"]["store"] is False and [a["package"] for a in doc["apps"]] == ["com.tencent.mm"]
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == before  # no store, no rule cache written
    res = CliRunner().invoke(main, ["scan", str(home), "-q", "--resume"])
    assert res.exit_code == 2 and "inside the input" in res.output


def test_store_inside_an_input_folder_is_refused_before_any_work(tmp_path):
    cli = main
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    shutil.copy(APKS / "v2-only.apk", evidence / "a.apk")
    before = sorted(p.name for p in evidence.iterdir())
    res = CliRunner().invoke(cli, ["scan", str(evidence), "-q", "--store", str(evidence / "store.sqlite")])
    assert res.exit_code == 2 and "inside the input" in res.output
    assert sorted(p.name for p in evidence.iterdir()) == before  # no store, no -wal/-shm beside the evidence
    res = CliRunner().invoke(cli, ["scan", str(evidence / "a.apk"), "-q", "--store", str(evidence / "a.apk")])
    assert res.exit_code == 2 and "is the input" in res.output


# ------------------------------------------------------------ stored findings and decisions
@pytest.fixture
def matches(monkeypatch):
    """Counts real matching: every call of match_identity made by the scan."""
    import apkscan.evaluate as evaluate_mod
    import apkscan.rules.matcher as matcher_mod

    calls = []
    real = matcher_mod.match_identity

    def counting(identity, rules, *a, **kw):
        calls.append(identity.path)
        return real(identity, rules, *a, **kw)

    monkeypatch.setattr(evaluate_mod, "match_identity", counting)  # evaluate()
    monkeypatch.setattr(matcher_mod, "match_identity", counting)  # apkscan.batch.results
    return calls


def _apps(doc):
    return [(a["source"]["path"], a["verdict"], a["verdicts"], a["findings"]) for a in doc["apps"]]


def test_warm_store_matches_nothing_and_equals_a_run_without_store(corpus, rules, tmp_path, parses, matches):
    db = tmp_path / "s.sqlite"
    cold = _run([corpus], rules, load_policy(), db)
    assert len(matches) == 4
    warm = _run([corpus], rules, load_policy(), db)
    assert len(parses) == 4 and len(matches) == 4 and warm == cold  # neither parsed nor matched again
    plain = scan([FileSource([str(corpus)])], rules, load_policy()).to_dict()
    assert _apps(warm) == _apps(plain) and any(a[1] == "prohibited" for a in _apps(plain))


def test_policy_change_decides_again_without_matching(corpus, rules, tmp_path, parses, matches):
    db = tmp_path / "s.sqlite"
    _run([corpus], rules, load_policy("canada-tbs-2023"), db)
    watch = _run([corpus], rules, load_policy("vendor-watch"), db)
    assert len(parses) == 4 and len(matches) == 4
    plain = scan([FileSource([str(corpus)])], rules, load_policy("vendor-watch")).to_dict()
    assert _apps(watch) == _apps(plain)


def test_rule_change_matches_again(corpus, rules, tmp_path, parses, matches):
    """One regex of one rule edited: another key, the stored findings are not reused."""
    import copy
    import re

    db = tmp_path / "s.sqlite"
    _run([corpus], rules, load_policy(), db)
    edited = copy.deepcopy(rules)
    rule = next(r for p in edited.packs for r in p.rules if r.package_regexes or r.labels)
    target = rule.package_regexes if rule.package_regexes else rule.labels
    target[0] = re.compile(target[0].pattern + "|^never-an-app$", target[0].flags)
    assert st_keys(edited) != st_keys(rules)
    _run([corpus], edited, load_policy(), db)
    assert len(parses) == 4 and len(matches) == 8


def st_keys(rules):
    from apkscan.batch.results import result_keys

    return result_keys(rules, [load_policy()])


def test_result_keys_are_the_same_in_another_process(rules):
    """Sets of strings iterate in a per-process order: the key must not depend on it."""
    code = ("from apkscan.rules.loader import load_ruleset; from apkscan.policy.loader import load_policy; "
            "from apkscan.batch.results import result_keys; print(result_keys(load_ruleset(), [load_policy()]))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert outs == {str(st_keys(rules)) + "\n"}


def test_planted_decision_is_refused_and_the_apk_matched(corpus, rules, tmp_path, parses, matches):
    db = tmp_path / "s.sqlite"
    _run([corpus], rules, load_policy(), db)
    marker = tmp_path / "pwned"
    evil = _shell_pickle(f"touch {marker}")
    nothing = pickle.dumps([])
    with sqlite3.connect(db) as c:  # sealed as apkscan seals rows: only the shape checks are left to refuse them
        c.create_function("row_seal", -1, row_seal)
        c.execute("UPDATE decisions SET decided=?, seal=row_seal(?, 'decisions', sha256, parser, options, rules, policies)",
                  (evil, evil))
        c.execute("UPDATE matches SET findings=?, seal=row_seal(?, 'matches', sha256, parser, options, rules)",
                  (nothing, nothing))  # a list, but of nothing: wrong but well-formed
        c.execute("UPDATE matches SET findings=?, seal=row_seal(?, 'matches', sha256, parser, options, rules) "
                  "WHERE rowid=1", (evil, evil))
    _run([corpus], rules, load_policy(), db)
    assert not marker.exists() and len(parses) == 4
    assert len(matches) == 5  # the refused row is matched again; the others were taken from the store


def test_container_flags_are_never_answered_from_stored_results(rules, tmp_path, matches):
    """The same bytes carried with tamper flags by a container: decided on the flags too, so matched."""
    from apkscan.issues import warning
    from apkscan.scan import ScanSettings, scan_item
    from apkscan.sources.interface import ScanInput

    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(APKS / "wechat-tencent-subject.apk", d / "a.apk")
    os.utime(d / "a.apk", ns=(1_600_000_000 * 10**9,) * 2)
    settings = ScanSettings(rules, load_policy(), store=str(tmp_path / "s.sqlite"))
    from apkscan.batch.results import result_keys

    settings.result_keys = result_keys(rules, settings.policies)
    scan_item(ScanInput(str(d / "a.apk"), (str(d / "a.apk"),)), settings)
    flagged = ScanInput(str(d / "a.apk"), (str(d / "a.apk"),), flags=[warning("TAMPER_MEMBER_NAME", "a member name with .. (planted by a test)")])
    scan_item(flagged, settings)
    assert len(matches) == 2


def test_no_store_connection_crosses_a_workers_fork(tmp_path, rules, monkeypatch):
    """The pool's parent answers known inputs from the store; it must close that connection
    before each fork (SQLite's lock bookkeeping must not be copied into a child)."""
    from apkscan.batch import pool as pool_mod

    d = tmp_path / "in"
    d.mkdir()
    for name in ("wechat-tencent-subject.apk", "v1-only.apk", "v2-only.apk"):
        shutil.copy(APKS / name, d / name)
        os.utime(d / name, ns=(1_600_000_000 * 10**9,) * 2)
    db = str(tmp_path / "s.sqlite")
    _run([d], rules, load_policy(), db)  # known now, by stat key
    for name in ("v3-only.apk", "v1v2.apk"):  # new files: workers are needed
        shutil.copy(APKS / name, d / name)
    monkeypatch.setattr(pool_mod, "TAIL_BYTES", 0)  # two small new files would be scanned in the parent
    open_at_fork = []
    real_fork = os.fork

    def fork():
        open_at_fork.append([k for k, c in st._CONNS.items() if k[0] == os.getpid() and c is not None])
        return real_fork()

    monkeypatch.setattr(os, "fork", fork)
    r = scan([FileSource([str(d)])], rules, load_policy(), store=db, runner=pool_mod.Pool(2))
    assert len(r.apps) == 5 and open_at_fork and all(not o for o in open_at_fork)


def test_an_identity_cut_short_is_never_given_stored_findings(rules, tmp_path, matches, monkeypatch):
    """The same bytes read whole before, cut by the time budget now (a real reading with the
    budget's error added): matched on what was read, never given the whole reading's findings."""
    from apkscan.batch.results import result_keys
    from apkscan.issues import error
    from apkscan.scan import ScanSettings, scan_item
    from apkscan.sources.interface import ScanInput

    apk = tmp_path / "a.apk"
    shutil.copy(APKS / "wechat-tencent-subject.apk", apk)
    settings = ScanSettings(rules, load_policy(), store=str(tmp_path / "s.sqlite"))
    settings.result_keys = result_keys(rules, settings.policies)
    scan_item(ScanInput(str(apk), (str(apk),)), settings)
    with sqlite3.connect(tmp_path / "s.sqlite") as c:
        assert c.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 1
        c.execute("DELETE FROM identities")  # so it is parsed again
    real = identify_mod.identify

    def cut(path, **kw):
        identity = real(path, **kw)
        identity.errors.append(error("INPUT_TIMEOUT", "time budget for this input exhausted"))
        return identity

    monkeypatch.setattr(identify_mod, "identify", cut)
    records = scan_item(ScanInput(str(apk), (str(apk),)), settings)
    assert len(matches) == 2  # matched again, not answered from the stored decisions
    assert [i.code for r in records if hasattr(r, "errors") for i in r.errors] == ["INPUT_TIMEOUT"]


def test_an_idsig_beside_one_copy_never_decides_for_another_copy(tmp_path):
    """Review finding F1: garbage ``k.apk.idsig`` beside one copy made v4 fail, the app 'review';
    that decision was stored under the APK's SHA-256 and served to a clean copy elsewhere
    (banned Kaspersky key, exit 0 instead of 1). The reverse way round too. Since review 61 such a
    file decides nothing but v4 (both copies prohibited), and what it leaves, the warning
    V4_BESIDE_NOT_VERIFIED, must still be served to its own copy only."""
    apk = Path(__file__).resolve().parents[1] / "fixtures" / "apks" / "kaspersky-subject-notes.apk"
    e1, e2 = tmp_path / "e1", tmp_path / "e2"
    for d in (e1, e2):
        d.mkdir()
        shutil.copy(apk, d / "k.apk")
    (e1 / "k.apk.idsig").write_bytes(b"garbage")
    db = tmp_path / "s.sqlite"

    def verdict(folder, *store):
        out = tmp_path / f"{folder.name}-{len(store)}-{len(list(tmp_path.glob('*.json')))}.json"
        res = CliRunner().invoke(main, ["scan", str(folder), "-q", "--json", str(out), *store])
        app, = json.loads(out.read_text())["apps"]
        return (res.exit_code, app["verdict"], app["verified"], [f["strength"] for f in app["findings"]],
                [w["code"] for w in app["identity"]["warnings"]])

    truth = {d.name: verdict(d, "--no-store") for d in (e1, e2)}
    assert truth["e2"][:2] == (1, "prohibited") and truth["e1"][:4] == truth["e2"][:4]
    assert "V4_BESIDE_NOT_VERIFIED" in truth["e1"][4] and "V4_BESIDE_NOT_VERIFIED" not in truth["e2"][4]
    for order in ((e1, e2), (e2, e1)):
        db.unlink(missing_ok=True)
        for d in order:
            assert verdict(d, "--store", str(db)) == truth[d.name], (order, d)
        for d in order:  # warm, both ways
            assert verdict(d, "--store", str(db)) == truth[d.name], (order, d)


@pytest.mark.parametrize("planted", [([], {}), ([], {"canada-tbs-2023": "allowed"}), (["a finding?"], None),
                                     ([], {"someone-else": None}), ({}, [])])
def test_a_well_formed_row_of_the_wrong_shape_is_a_miss_not_a_crash(corpus, rules, tmp_path, planted):
    """Review finding F3: ``([], {})`` in ``decisions`` passed the type check and crashed the run in
    ``set_outcomes`` (StopIteration -> RuntimeError, exit 1, no report)."""
    db = tmp_path / "s.sqlite"
    cold = _run([corpus], rules, load_policy(), db)
    with sqlite3.connect(db) as c:
        c.execute("UPDATE decisions SET decided=?", (pickle.dumps(planted),))
        if planted[0] != []:  # an empty list of findings is well formed: the store is trusted (docs/batch.md)
            c.execute("UPDATE matches SET findings=?", (pickle.dumps(planted[0]),))
    assert _run([corpus], rules, load_policy(), db) == cold


def test_a_stored_finding_damaged_inside_is_matched_again_not_a_crash(corpus, rules, tmp_path):
    """Review (second round): a real Finding whose evidence is no longer a list passed the type
    check and crashed deciding (TypeError, exit 1, no report); now the identity is matched again."""
    db = tmp_path / "s.sqlite"
    cold = _run([corpus], rules, load_policy(), db)
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM decisions")
        for rowid, blob in c.execute("SELECT rowid, findings FROM matches").fetchall():
            findings = pickle.loads(blob)
            if findings:
                findings[0].evidence = None
                c.execute("UPDATE matches SET findings=? WHERE rowid=?", (pickle.dumps(findings), rowid))
    assert _run([corpus], rules, load_policy(), db) == cold
    res = CliRunner().invoke(main, ["scan", str(corpus), "--store", str(db), "-q", "--jobs", "2"])
    assert res.exit_code == 1, res.output  # the banned fixtures found; no traceback (exit 1 would hide one: checked below)
    assert "Traceback" not in res.output


def _big_store_damaged_deep(db: Path) -> None:
    """A store whose identities fill most of the file, then damage in the second half of it:
    the pages of that table's rows, not the schema or the small tables opening reads."""
    conn, _ = st.open_checked(str(db))
    conn.executemany("INSERT INTO identities VALUES (?, 'p', 'o', ?, 0, NULL)",
                     [(f"{i:064x}", os.urandom(900)) for i in range(3000)])
    conn.close()
    raw = bytearray(db.read_bytes())
    half = len(raw) // 2 // 4096 * 4096
    raw[half:half + 16 * 4096] = os.urandom(16 * 4096)
    db.write_bytes(raw)


def test_big_store_recently_checked_is_not_read_whole_on_open(tmp_path, monkeypatch):
    db = tmp_path / "s.sqlite"
    _big_store_damaged_deep(db)
    monkeypatch.setattr("apkscan.batch.store_judge.CHECK_ALWAYS_BYTES", 0)  # every store counts as big
    conn, issues = st.open_checked(str(db))  # checked on creation, minutes ago: no full read
    assert conn is not None and issues == []
    with pytest.raises(sqlite3.DatabaseError):  # the damage is there, found by the pages a lookup reads
        conn.execute("SELECT COUNT(*), SUM(LENGTH(identity)) FROM identities").fetchone()
    conn.execute("UPDATE checks SET checked_at = ?", (time.time() - st.CHECK_EVERY - 1,))
    conn.close()
    conn, issues = st.open_checked(str(db))  # a day later: checked, found, set aside
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"]
    assert list(tmp_path.glob("s.sqlite.corrupt-*"))


def test_big_store_is_checked_after_a_run_that_did_not_end(tmp_path, monkeypatch):
    db = tmp_path / "s.sqlite"
    _big_store_damaged_deep(db)
    monkeypatch.setattr("apkscan.batch.store_judge.CHECK_ALWAYS_BYTES", 0)
    with sqlite3.connect(db) as c:  # a run began after the last check and never finished (killed)
        c.execute("INSERT INTO runs VALUES ('r', ?, NULL, 'running')", (time.time(),))
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"]


def test_small_store_is_checked_on_every_open(tmp_path):
    db = tmp_path / "s.sqlite"
    _big_store_damaged_deep(db)  # ~3 MB: under CHECK_ALWAYS_BYTES, checked although just checked
    conn, issues = st.open_checked(str(db))
    assert conn is not None and [i.code for i in issues] == ["STORE_CORRUPT"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_program_leaves_the_store_whole_in_its_file(corpus, tmp_path, jobs):
    """``apkscan`` closes the store when the run ends, so its WAL is folded back into the
    file: a copy of the .sqlite file alone holds the run and every identity. (With the
    collector frozen at exit, the connection used to be left to the process's end: a review
    found -wal and -shm files left and a lone copy missing rows and saying 'running'.)"""
    db = tmp_path / "s.sqlite"
    proc = subprocess.run([sys.executable, "-m", "apkscan", "scan", str(corpus), "--store", str(db), "-q",
                           "--jobs", jobs], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("s.sqlite")) == ["s.sqlite"]
    lone = tmp_path / "copy" / "s.sqlite"
    lone.parent.mkdir()
    shutil.copy(db, lone)
    with sqlite3.connect(lone) as c:
        assert [r[0] for r in c.execute("SELECT status FROM runs")] == ["finished"]
        assert c.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == len(list(corpus.glob("*.apk")))


def test_a_full_disk_is_said_as_such_and_the_scan_goes_on(tmp_path):
    """Review 74 F5: a store on a full file system was reported as "cannot rollback - no transaction
    is active" (the failed COMMIT had rolled back; the second ROLLBACK's error hid the first's).
    A real full file system: a 64 KiB tmpfs (root only), too small for a new store and its WAL."""
    point = _small_tmpfs(tmp_path / "full", "64k")
    try:
        res = CliRunner().invoke(main, ["scan", str(APKS), "--store", str(point / "s.sqlite"), "-q",
                                        "--json", str(tmp_path / "b.json")])
        st.close_connections()
        assert res.exit_code == 1, res.output  # the fixtures' banned apps, scanned without the store
        assert "STORE_UNAVAILABLE" in res.stderr and "cannot rollback" not in res.stderr, res.stderr
        assert "full" in res.stderr, res.stderr
        assert json.loads((tmp_path / "b.json").read_text())["counts"]["prohibited"] > 0
    finally:
        st.close_connections()
        subprocess.run(["umount", str(point)], capture_output=True)


def test_a_disk_that_fills_during_the_run_never_costs_the_reports(tmp_path, monkeypatch):
    """Review 75 F4: the run's end recorded on a full disk raised out of the scan: exit 1 (read as
    a banned app) and no report. The disk is really filled (a small tmpfs, root only) just before
    the run's end is recorded."""
    point = _small_tmpfs(tmp_path / "disk", "4m")
    from apkscan.batch import runs

    real_end = runs.end_run

    def fill_then_end(conn, *a, **kw):
        free = os.statvfs(point)
        with open(point / "filler", "wb") as f:
            f.write(b"\0" * (free.f_bavail * free.f_frsize))
        return real_end(conn, *a, **kw)

    try:
        db = point / "s.sqlite"
        clean = tmp_path / "in"
        clean.mkdir()
        for name in ("clean-v1v2v3.apk", "v2-only.apk"):
            shutil.copy(APKS / name, clean / name)
        monkeypatch.setattr(runs, "end_run", fill_then_end)
        res = CliRunner().invoke(main, ["scan", str(clean), "--store", str(db), "-q", "--jobs", "1",
                                        "--json", str(tmp_path / "r.json"), "--jsonl", str(tmp_path / "r.jsonl")])
        st.close_connections()
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exc_info
        assert res.exit_code == 0, res.output
        assert "STORE_UNAVAILABLE" in res.stderr and "full" in res.stderr, res.stderr
        assert json.loads((tmp_path / "r.json").read_text())["counts"]["allowed"] == 2
    finally:
        st.close_connections()
        subprocess.run(["umount", str(point)], capture_output=True)


def test_a_store_on_a_file_system_with_no_byte_left_says_it_is_full(tmp_path):
    """An existing store on a file system filled since: SQLite says "disk I/O error" (its shared
    memory cannot grow); the warning says the file system is full (review 75 F4)."""
    point = _small_tmpfs(tmp_path / "disk", "4m")
    try:
        args = ["scan", str(APKS / "v2-only.apk"), "--store", str(point / "s.sqlite"), "-q", "--force",
                "--json", str(tmp_path / "b.json")]
        assert CliRunner().invoke(main, args).exit_code == 0
        st.close_connections()
        os.unlink(point / "s.sqlite-shm") if (point / "s.sqlite-shm").exists() else None
        free = os.statvfs(point)
        with open(point / "filler", "wb") as f:
            f.write(b"\0" * (free.f_bavail * free.f_frsize))
        res = CliRunner().invoke(main, args)
        st.close_connections()
        assert res.exit_code == 0 and "STORE_UNAVAILABLE" in res.stderr, res.stderr
        assert "file system is full" in res.stderr or "disk is full" in res.stderr, res.stderr
    finally:
        st.close_connections()
        subprocess.run(["umount", str(point)], capture_output=True)


def _small_tmpfs(point: Path, size: str) -> Path:
    """A tmpfs of ``size`` mounted at ``point`` (root only: the test skips otherwise); the caller unmounts.
    Mode 0700: a tmpfs root is 1777 by default, a folder the store is not used in (review 89 F1)."""
    point.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "none", str(point)],
                                           capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    return point
