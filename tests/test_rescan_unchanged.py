"""A rescan after a rule change whose new findings and verdicts leave an app's line as it was (most
apps of a routine pack update): the warm lane writes that app's row for the new rules from the
stored, sealed columns it read (:meth:`apkscan.batch.known.KnownFiles._row`'s ``same``), without
deflating or sealing the line again; what it serves and what the next run serves from those rows
must be what a cold scan under the new rules writes, byte for byte, counts and exit code too."""

from __future__ import annotations

import sqlite3
import zlib
from contextlib import closing
from pathlib import Path

import pytest

from test_known_fast_paths import _clear, _scan, work  # noqa: F401 - the counting fixture, the same runner
from test_rule_change_lane import EXTRA, every_fixture, no_racy_wait  # noqa: F401 - fixtures

NOTHING = """\
schema: apkscan-rules/1
pack: update
vendor: Nobody
version: "2"
reviewed: "2026-11-30"
rules:
  - id: update.never
    app: An app of no fixture
    match: {package_glob: ["org.never.*"]}
    references: [test]
sources:
  test: a pack update that finds nothing new
"""


@pytest.fixture
def deflated(monkeypatch) -> list[int]:
    """The size of every line the warm lane deflates for a row (its rest: :func:`known_seal.stored_of`)."""
    import types
    import zlib

    import apkscan.batch.known_seal as known_seal

    seen: list[int] = []

    def compress(data, *a):
        seen.append(len(data))
        return zlib.compress(data, *a)

    monkeypatch.setattr(known_seal, "zlib", types.SimpleNamespace(compress=compress, decompressobj=zlib.decompressobj,
                                                                 error=zlib.error))
    return seen


def _rest(stored: bytes) -> bytes:
    """The deflated rest of a stored line (the decided part's own stream follows the end of it)."""
    d = zlib.decompressobj()
    d.decompress(stored)
    return stored[:len(stored) - len(d.unused_data)]


def _rows(db: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as c:
        return dict(c.execute("SELECT rules, COUNT(*) FROM known_lines GROUP BY rules").fetchall())


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_rule_change_that_changes_no_line_rewrites_no_line(every_fixture, tmp_path, work, deflated, jobs):
    update = tmp_path / "update.yaml"
    update.write_text(NOTHING, encoding="utf-8")
    db = tmp_path / "s.sqlite"
    old = _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", jobs)
    assert deflated  # the cold run's rows
    _clear(work)
    deflated.clear()
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), "--jobs", jobs, "--rules", str(update))
    assert work["parsed"] == [] and deflated == []  # nothing parsed, no line deflated again
    cold = _scan([every_fixture], tmp_path / "ref.jsonl", "--store", str(tmp_path / "fresh.sqlite"), "--jobs", jobs,
                 "--rules", str(update))
    assert rescan == cold == _scan([every_fixture], tmp_path / "ref2.jsonl", "--no-store", "--rules", str(update))
    assert rescan[0] == old[0]  # the same lines: the update finds nothing new
    counts = _rows(db)
    assert len(counts) == 2 and len(set(counts.values())) == 1  # a row for each app under the new rules too
    _clear(work)
    deflated.clear()
    assert _scan([every_fixture], tmp_path / "w.jsonl", "--store", str(db), "--jobs", jobs, "--rules", str(update)) == cold
    assert work["parsed"] == [] and deflated == []  # warm: the rows served, none written again


def test_a_rule_change_that_changes_lines_deflates_only_their_decided_parts(every_fixture, tmp_path, work, deflated):
    """A changed line's row keeps the old row's deflated rest and deflates only its new decided part after it."""
    db = tmp_path / "s.sqlite"
    old = _scan([every_fixture], tmp_path / "cold.jsonl", "--store", str(db))
    with closing(sqlite3.connect(db)) as c:
        cold_rows = dict(c.execute("SELECT chain, line FROM known_lines").fetchall())
        [cold_rules] = {r for (r,) in c.execute("SELECT rules FROM known_lines")}
    deflated.clear()
    rescan = _scan([every_fixture], tmp_path / "r.jsonl", "--store", str(db), "--rules", str(EXTRA))
    changed = [a for a, b in zip(old[0], rescan[0]) if a != b]
    assert len(old[0]) == len(rescan[0]) and changed  # the extra pack finds something
    with closing(sqlite3.connect(db)) as c:  # the rows of the new rule set (which row a LIMIT 1 finds is SQLite's choice)
        new_rows = c.execute("SELECT chain, line FROM known_lines WHERE rules<>?", (cold_rules,)).fetchall()
    assert new_rows and any(line != cold_rows[chain] for chain, line in new_rows)  # rows of changed lines among them
    assert all(_rest(line) == _rest(cold_rows[chain]) for chain, line in new_rows)
    rests = {len(zlib.decompress(_rest(line))) for _, line in new_rows}
    assert 0 < len(deflated) <= len(changed) and not rests & set(deflated)  # decided parts only
    assert rescan == _scan([every_fixture], tmp_path / "ref.jsonl", "--no-store", "--rules", str(EXTRA))
    _clear(work)
    deflated.clear()
    assert _scan([every_fixture], tmp_path / "w.jsonl", "--store", str(db), "--rules", str(EXTRA)) == rescan
    assert work["parsed"] == [] and deflated == []
