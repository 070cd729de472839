"""What a warm file costs the parent (issue 12's warm target), cut without changing a byte written:
a row's seal covers its line as stored (deflated), so a row changed alone is refused before
anything is inflated; a JSONL line with nothing to escape is written without a regex scan of its
~12 KB; the signal mask held around each record added is set back as it was. Real APKs and
stores, the lines compared with a run without a store."""

from __future__ import annotations

import json
import signal
import sqlite3
import zlib
from types import SimpleNamespace

import pytest

from apkscan.batch import known_seal
from apkscan.report import escape
from apkscan.result import ScanResult
from apkscan.scan import _Sink

from test_batch_known import NAMES, _scan, corpus  # noqa: F401 - the same four APKs (a fixture)


@pytest.fixture(autouse=True)
def no_racy_wait(monkeypatch):
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)  # files copied here have a fresh ctime


@pytest.fixture
def inflated(monkeypatch):
    """Every line the lane's seal check inflates."""
    seen: list[bytes] = []

    class Inflater:  # the attributes sealed_row reads after decompress, forwarded to the real object
        def __init__(self, *a, **kw):
            self.real = zlib.decompressobj(*a, **kw)

        def decompress(self, data, n):
            seen.append(data)
            return self.real.decompress(data, n)

        @property
        def unconsumed_tail(self):
            return self.real.unconsumed_tail

        @property
        def eof(self):
            return self.real.eof

        @property
        def unused_data(self):
            return self.real.unused_data

    monkeypatch.setattr(known_seal, "zlib", SimpleNamespace(decompressobj=Inflater, error=zlib.error, compress=zlib.compress))
    return seen


def test_a_warm_run_inflates_each_sealed_line_once(corpus, tmp_path, inflated):
    db = tmp_path / "s.sqlite"
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    inflated.clear()
    assert _scan([corpus], tmp_path / "warm.jsonl", "--store", str(db)) == cold
    with sqlite3.connect(db) as c:
        stored = sorted(blob for (blob,) in c.execute("SELECT line FROM known_lines"))
    rows = sorted(data for data in inflated if data in stored)  # each row's rest; its decided part's stream after
    assert rows == stored and len(stored) == len(NAMES) and len(inflated) == 2 * len(stored)


@pytest.mark.parametrize("column", ["verdicts", "line"])
def test_a_row_changed_alone_is_refused_before_its_line_is_inflated(corpus, tmp_path, inflated, column):
    """The seal covers the deflated bytes: a verdicts column changed without its line, or the same
    line deflated again (other bytes, the same text) without a new seal, is refused unread, and
    the file is scanned the usual way (its row written again, sealed)."""
    db = tmp_path / "s.sqlite"
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    with sqlite3.connect(db) as c:
        for rowid, verdicts, blob in c.execute("SELECT rowid, verdicts, line FROM known_lines").fetchall():
            if column == "verdicts":
                verdict, pairs, span, seal = json.loads(verdicts)
                new = (json.dumps([verdict, pairs, [span[0], span[1] + 1], seal]), blob)
            else:
                d = zlib.decompressobj()  # the rest deflated again, the decided part's stream after it as it was
                new = (verdicts, zlib.compress(d.decompress(blob), 9) + d.unused_data)
            assert new[1] != blob or column == "verdicts"
            c.execute("UPDATE known_lines SET verdicts=?, line=? WHERE rowid=?", (*new, rowid))
    inflated.clear()
    assert _scan([corpus], tmp_path / "warm.jsonl", "--store", str(db)) == cold
    assert inflated == []  # every row refused by its seal, none inflated
    assert _scan([corpus], tmp_path / "again.jsonl", "--store", str(db)) == cold
    assert len(inflated) == 2 * len(NAMES)  # rewritten, sealed, served: each row's two streams


def test_a_row_is_sealed_over_its_line_as_stored(corpus, tmp_path):
    db = tmp_path / "s.sqlite"
    _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT sha256, package, verdicts, line, chain, parser, options, rules, policies, fmt, real, size, mtime_ns, ctime_ns, inode, dev "
                         "FROM known_lines").fetchall()
    assert len(rows) == len(NAMES)
    for sha, package, verdicts, blob, *key in rows:
        verdict, pairs, span, seal = json.loads(verdicts)
        assert seal == known_seal.seal_of(tuple(key), sha, package, verdict, pairs, span, blob)


def test_a_seal_binds_the_stored_bytes_the_columns_and_the_key():
    raw = b'{"type": "app", "x": 1}'
    stored = zlib.compress(raw, 1)
    key = ("/ev/a.apk", "parser", "options", "rules", "policies", "fmt")

    def sealed(*columns, key=key):
        return known_seal.seal_of(key, "ab" * 32, *columns)

    seal = sealed("p", "allowed", [["p1", "allowed"]], None, stored)
    assert seal == sealed("p", "allowed", [["p1", "allowed"]], None, stored)
    others = [sealed("p", "allowed", [["p1", "allowed"]], None, zlib.compress(raw, 9)),
              sealed("q", "allowed", [["p1", "allowed"]], None, stored),
              sealed("p", "allowed", [["p1", "allowed"]], [1, 2], stored),
              sealed(None, "allowed", [["p1", "allowed"]], None, stored)]
    others += [sealed("p", "allowed", [["p1", "allowed"]], None, stored, key=(*key[:i], "other", *key[i + 1:]))
               for i in range(len(key))]  # each part of the key (review 90)
    others.append(sealed("p", "allowed", [["p1", "allowed"]], None, stored, key=(b"/ev/a.apk", *key[1:])))
    assert len({seal, *others}) == len(others) + 1 and all(len(s) == 32 for s in others)


PIECES = ["plain ascii", "\u00e9t\u00e9", "\u4e2d\u6587", "\U0001f600", "\ud800", "\udcff", "\udfff", "\u2028",
          "\u2029", "\x85", "\x84\xff", "\u2027\u202a", '"\\']


def _texts():
    for a in PIECES:
        for b in PIECES:
            yield f'{{"label": "{a}", "path": "x{b}y"}}'


def test_visible_surrogates_without_a_scan_writes_what_the_scan_writes():
    """Every mix of Latin-1, other scripts, astral characters, lone surrogates (a file name's bytes
    and others) and line separators: the same text as the one regex scan of each line."""
    for text in _texts():
        assert escape.visible_surrogates(text, in_json=True) == escape._JSON_ESCAPED.sub(escape._json_form, text)
        assert escape.visible_surrogates(text) == escape._SURROGATES.sub(escape._text_form, text)


@pytest.mark.parametrize("text", ["caf\u00e9 " * 3000, "\u5fae\u4fe1 label " * 3000, "\U0001f600 " * 3000])
def test_a_line_with_nothing_to_escape_is_not_scanned(monkeypatch, text):
    class NoScan:
        def sub(self, *_a):
            raise AssertionError("scanned")

    monkeypatch.setattr(escape, "_JSON_ESCAPED", NoScan())
    monkeypatch.setattr(escape, "_SURROGATES", NoScan())
    assert escape.visible_surrogates(text, in_json=True) is text and escape.visible_surrogates(text) is text


def _mask() -> set[int]:
    return set(map(int, signal.pthread_sigmask(signal.SIG_BLOCK, [])))


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal masks here")
def test_a_record_is_added_with_sigint_and_sigterm_held_and_the_mask_set_back():
    seen: list[set[int]] = []
    before = _mask()
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])  # a mask the caller holds stays held
    try:
        sink = _Sink(ScanResult(), on_records=lambda _r: seen.append(_mask()))
        sink.add([object()])
        sink.add([object()])
        after = _mask()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    held = {int(signal.SIGINT), int(signal.SIGTERM), int(signal.SIGUSR1)}
    assert len(seen) == 2 and all(held <= m for m in seen)
    assert after == before | {int(signal.SIGUSR1)}


def test_a_long_text_is_scanned_not_copied(monkeypatch):
    """A report written in one piece may be tens of MB: its encoded copies would double the memory
    the scan needs, so texts over the quick look's bound are scanned as before (same result)."""
    monkeypatch.setattr(escape, "_QUICK_LOOK", 64)
    for text in ("caf\u00e9 " * 20, "\u5fae\u4fe1\ud800 " * 20, "x\u2028" * 40):
        assert len(text) > 64
        assert escape.visible_surrogates(text, in_json=True) == escape._JSON_ESCAPED.sub(escape._json_form, text)
        assert escape.visible_surrogates(text) == escape._SURROGATES.sub(escape._text_form, text)
