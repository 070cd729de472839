"""``--jsonl`` and ``--store`` never write through a hard link, nor into another program's database
(review 22 #2). Only inputs given directly are compared by file id; a link to a file inside an
input folder has another path and another folder, and must be refused by its link count."""

from __future__ import annotations

import hashlib
import os
import sqlite3

from cli_helpers import copy, run


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evidence_db(path):
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE t (name TEXT)")
        c.execute("INSERT INTO t VALUES ('a contact')")
    c.close()
    return path


def test_jsonl_hard_linked_to_a_file_inside_an_input_folder_is_refused_even_with_force(tmp_path):
    ev = tmp_path / "ev"
    apk = copy("clean-v1v2v3.apk", ev / "a.apk")
    (tmp_path / "o").mkdir()
    link = tmp_path / "o" / "hard.apk"
    os.link(apk, link)
    before = _sha(apk)
    res = run("scan", ev, "--jsonl", link, "--force", "--no-store", "-q")
    assert res.returncode == 2 and "hard links" in res.stderr, res.stderr
    assert _sha(apk) == before


def test_store_hard_linked_to_an_evidence_database_is_refused(tmp_path):
    ev, o = tmp_path / "ev", tmp_path / "o"
    copy("clean-v1v2v3.apk", ev / "a.apk")
    db = _evidence_db(ev / "contacts.db")
    o.mkdir()
    os.link(db, o / "store.sqlite")
    before = _sha(db)
    res = run("scan", ev, "--store", o / "store.sqlite", "-q", "--json", o / "r.json")
    assert res.returncode == 2 and "hard links" in res.stderr, res.stderr
    assert _sha(db) == before and not (o / "r.json").exists()


def test_a_hard_linked_wal_beside_the_store_is_refused(tmp_path):
    apk = copy("clean-v1v2v3.apk", tmp_path / "ev" / "a.apk")
    keep = tmp_path / "keep.bin"
    keep.write_bytes(b"evidence")
    os.link(keep, tmp_path / "st.sqlite-wal")
    res = run("scan", apk, "--store", tmp_path / "st.sqlite", "-q")
    assert res.returncode == 2 and "st.sqlite-wal" in res.stderr, res.stderr
    assert keep.read_bytes() == b"evidence"


def test_another_programs_database_given_as_store_is_left_alone(tmp_path):
    apk = copy("clean-v1v2v3.apk", tmp_path / "ev" / "a.apk")
    db = _evidence_db(tmp_path / "contacts.db")
    before = _sha(db)
    res = run("scan", apk, "--store", db, "-q", "--json", tmp_path / "r.json")
    assert res.returncode == 0 and "STORE_UNAVAILABLE" in res.stderr and "not an apkscan" in res.stderr, res.stderr
    assert _sha(db) == before and (tmp_path / "r.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.db", "ev", "r.json"]  # no -wal, -shm, .corrupt-*


def test_an_apkscan_store_is_still_opened_and_reused(tmp_path):
    apk = copy("clean-v1v2v3.apk", tmp_path / "ev" / "a.apk")
    for _ in range(2):
        res = run("scan", apk, "--store", tmp_path / "st.sqlite", "-q")
        assert res.returncode == 0 and "STORE_" not in res.stderr, res.stderr
    with sqlite3.connect(tmp_path / "st.sqlite") as c:
        assert c.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 1


def test_jsonl_is_a_new_file_never_the_old_one_written_in_place(tmp_path):
    """The writer itself (below the CLI's link check): the old name's other link keeps its bytes."""
    from apkscan.batch.jsonl import JsonlWriter

    old, other = tmp_path / "run.jsonl", tmp_path / "elsewhere.bin"
    old.write_text('{"type": "run", "run_id": "x"}\n')
    os.link(old, other)
    os.chmod(old, 0o640)
    writer = JsonlWriter(str(old), {"run_id": "y", "inputs": []})
    writer._fh.close()
    assert other.read_text() == '{"type": "run", "run_id": "x"}\n'
    assert old.read_text().startswith('{"type": "run", "run_id": "y"') and old.stat().st_nlink == 1
    assert old.stat().st_mode & 0o777 == 0o640  # the replaced file's mode, as for a report


def test_every_report_path_hard_linked_into_an_input_folder_is_refused_even_with_force(tmp_path):
    """Review 68 F5: a report is renamed over its path, so an existing name of an evidence file
    kept its bytes but the evidence inode lost a link and its ctime moved (the very stat custody
    and the store key on). Every output of every command is refused as ``--jsonl`` was."""
    ev, o = tmp_path / "ev", tmp_path / "o"
    copy("clean-v1v2v3.apk", ev / "a.apk")
    notes = ev / "notes.txt"
    notes.write_text("evidence")
    o.mkdir()
    doc = o / "scan.json"
    assert run("scan", ev, "--no-store", "-q", "--json", doc).returncode == 0
    for i, args in enumerate((["scan", ev, "--no-store", "-q", "--json"], ["scan", ev, "--no-store", "-q", "--html"],
                              ["scan", ev, "--no-store", "-q", "--csv"], ["inspect", ev / "a.apk", "--json"],
                              ["report", doc, "--sarif"], ["diff", doc, doc, "--html"])):
        link = o / f"out{i}"
        os.link(notes, link)
        st = os.stat(notes)
        res = run(*args, link, "--force")
        assert res.returncode == 2 and "hard links" in res.stderr, (args, res.stderr)
        assert "Error: USAGE_OUTPUT_REFUSED: " in res.stderr, (args, res.stderr)  # every command's code (review 70 F9)
        after = os.stat(notes)
        assert (after.st_nlink, after.st_ctime_ns) == (st.st_nlink, st.st_ctime_ns), args
        assert notes.read_text() == "evidence"
