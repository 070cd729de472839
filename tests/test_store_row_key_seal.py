"""Review 89 F2: the seal of a ``matches`` or ``decisions`` row covers its key (table, SHA-256,
parser, options, rules, policies), not only its pickle. A clean APK's row copied, seal and all,
onto the banned APK's key by one SQL UPDATE was served: TikTok ``allowed``, exit 0, no warning.
Now such a row is a miss (``STORE_ROW_IGNORED``) and the APK is matched or decided again, as cold.
Real stores from real scans of the fixture APKs."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from store_journal_helpers import BANNED, CLEAN, banned_and_clean, scan_apps

from apkscan.batch import store as st
from apkscan.batch.results import row_seal

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
KEYS = {"matches": "sha256, parser, options, rules", "decisions": "sha256, parser, options, rules, policies"}
BLOB = {"matches": "findings", "decisions": "decided"}


def _sha(name: str) -> str:
    return hashlib.sha256((APKS / name).read_bytes()).hexdigest()


@pytest.fixture
def warm(tmp_path, monkeypatch):
    """A store a real scan of the banned and the clean APK wrote, and what a run without one says."""
    ev, db = banned_and_clean(tmp_path, monkeypatch)
    cold = scan_apps(ev, "--no-store")
    assert cold[0] == 1 and cold[1][BANNED] == "com.zhiliaoapp.musically prohibited", cold
    assert scan_apps(ev, "--store", str(db))[:2] == cold[:2]
    return ev, db, cold


def _transplant(db: Path, table: str) -> None:
    """The clean APK's row (pickle and seal) written over the banned APK's, its key kept."""
    blob = BLOB[table]
    with closing(sqlite3.connect(db)) as c, c:
        c.execute(f"UPDATE {table} SET ({blob}, seal) = (SELECT {blob}, seal FROM {table} WHERE sha256=?) "
                  "WHERE sha256=?", (_sha(CLEAN), _sha(BANNED)))
        assert c.total_changes == 1


@pytest.mark.parametrize("tables", [("decisions",), ("matches", "decisions"), ("matches",)])
def test_a_row_copied_onto_another_apks_key_is_a_miss(warm, tables):
    """``("matches",)``: the banned APK's decision gone (as after a policy change), its findings
    replaced by the clean APK's (none): decided from them it was allowed."""
    ev, db, cold = warm
    for table in tables:
        _transplant(db, table)
    if tables == ("matches",):
        with closing(sqlite3.connect(db)) as c, c:
            c.execute("DELETE FROM decisions WHERE sha256=?", (_sha(BANNED),))
    code, apps, err = scan_apps(ev, "--store", str(db))
    assert (code, apps) == cold[:2], apps  # TikTok prohibited, exit 1, as without a store
    said = [t for t in tables if f"a {t} row for {_sha(BANNED)} does not hold what its seal" in err]
    assert "STORE_ROW_IGNORED" in err and said, err  # once per process: the first row refused


def test_rows_are_written_sealed_to_their_keys(warm):
    _ev, db, _cold = warm
    with closing(sqlite3.connect(db)) as c:
        for table, key in KEYS.items():
            rows = c.execute(f"SELECT {BLOB[table]}, seal, {key} FROM {table}").fetchall()
            assert len(rows) == 2 and all(seal == row_seal(blob, table, *k) for blob, seal, *k in rows), table


def test_a_store_sealed_the_old_way_opens_and_its_rows_are_matched_again(warm):
    """A schema-11 store (seals of the pickle alone) migrates to 12: its findings and decisions go,
    identities and stat keys stay; the next run answers as cold and writes rows sealed to their keys."""
    ev, db, cold = warm
    with closing(sqlite3.connect(db)) as c, c:
        c.create_function("old_seal", 1, lambda blob: hashlib.sha256(blob).hexdigest()[:32])
        for table in KEYS:
            c.execute(f"UPDATE {table} SET seal = old_seal({BLOB[table]})")
        c.execute("PRAGMA user_version=11")
    _transplant(db, "decisions")  # moved under the old seal: must not be served either
    code, apps, err = scan_apps(ev, "--store", str(db))
    assert (code, apps) == cold[:2] and "STORE_" not in err, err
    test_rows_are_written_sealed_to_their_keys(warm)
    with closing(sqlite3.connect(db)) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == st.SCHEMA_VERSION == 13
        assert c.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 2
