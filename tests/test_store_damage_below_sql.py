"""Rows damaged below SQL are not served (review 74 F1).

A byte flipped on disk in a stored identity's pickle, or in a ``decisions`` row, can leave a value
that still unpickles with the right types: another package name, another verdict. The identities
row kept a digest of its pickle but nobody compared it on load, and ``matches``/``decisions`` rows
had no checksum at all, so after a rule change WeChat read as another app, and a copied folder
read a banned app as allowed. Here the damage is made as the disk would make it: the row's bytes
change, its digest or seal does not (the trigger that clears a digest on an SQL UPDATE is
dropped for the write and put back).
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from test_rule_change_lane import _changes, every_fixture, no_racy_wait  # noqa: F401 - fixtures
from test_known_fast_paths import _scan, work  # noqa: F401 - the counting fixture

WECHAT = b"com.tencent.mm"


def _below_sql(db: Path, table: str, column: str, old: bytes, new: bytes) -> int:
    """Replace ``old`` by ``new`` inside every ``table.column`` blob holding it, digest untouched."""
    with closing(sqlite3.connect(db)) as c, c:
        trigger = c.execute("SELECT sql FROM sqlite_master WHERE name='identity_rewritten'").fetchone()[0]
        c.execute("DROP TRIGGER identity_rewritten")
        rows = c.execute(f"SELECT rowid, {column} FROM {table}").fetchall()
        hit = [(blob.replace(old, new), rowid) for rowid, blob in rows if old in blob]
        c.executemany(f"UPDATE {table} SET {column}=? WHERE rowid=?", hit)
        c.execute(trigger)
    return len(hit)


def test_a_damaged_identity_with_its_digest_intact_is_parsed_again(every_fixture, tmp_path):
    new = _changes(tmp_path)["fewer packs"]  # Tencent's pack only: WeChat must still be found
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    assert _below_sql(db, "identities", "identity", WECHAT, b"com.tencent.mX") > 0
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), *new)
    reference = _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", *new)
    assert rescan == reference and reference[1]["prohibited"] > 0
    with closing(sqlite3.connect(db)) as c:  # the damaged rows were replaced whole by the rescan
        assert not any(WECHAT.replace(b"mm", b"mX") in blob for (blob,) in c.execute("SELECT identity FROM identities"))


def test_a_damaged_decision_is_decided_again(every_fixture, tmp_path):
    """The same rules and policy from another folder (the lane's rows are by path): the decisions
    rows answer; one flipped from prohibited to review must not."""
    db = tmp_path / "s.sqlite"
    cold = _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    assert cold[1]["prohibited"] > 0
    # the same length (a pickle's frames are counted): "review" and two no-op pairs (push None, pop)
    assert _below_sql(db, "decisions", "decided", b"\x8c\nprohibited", b"\x8c\x06reviewN0N0") > 0
    moved = tmp_path / "moved"
    shutil.copytree(every_fixture, moved)
    rescan = _scan([moved], tmp_path / "r.jsonl", "--store", str(db))
    assert rescan[1] == cold[1] and rescan[2] == cold[2]


def test_damaged_findings_are_matched_again(every_fixture, tmp_path):
    """A ``matches`` row (findings before deciding) flipped the same way: under another policy the
    stored findings are decided again; a damaged row must be matched again, not decided as it reads."""
    db = tmp_path / "s.sqlite"
    _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db), "--policy", "vendor-watch")
    assert _below_sql(db, "matches", "findings", b"\x8c\x07Tencent", b"\x8c\x07Tencenu") > 0  # another vendor
    moved = tmp_path / "moved"
    shutil.copytree(every_fixture, moved)
    rescan = _scan([moved], tmp_path / "r.jsonl", "--store", str(db))
    reference = _scan([moved], tmp_path / "ref.jsonl", "--no-store")
    assert rescan[1:] == reference[1:] and reference[1]["prohibited"] > 0
