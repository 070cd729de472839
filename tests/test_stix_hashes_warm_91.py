"""An MD5 or SHA-1 ``file:hashes`` indicator asks only the apps whose digest it is (review 91 A).

The prefilter's facts held the whole file's SHA-256 alone, so one MD5 indicator made every app
a candidate: after a feed change the warm lane unpickled and matched every stored identity.
The facts now hold the SHA-1 and MD5 the run computed (``--hashes``); a rescan under a new feed
reads the stored identity of the one app the indicator names. Real APKs, a real SQLite store,
the identities read counted (not timed), the lines compared with a run without a store.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import APKS, aged_copies

from apkscan.batch import store
from apkscan.cli import main
from apkscan.rules.loader import load_ruleset
from apkscan.rules.prefilter import facts_of, prefilter_of

NAMES = ("clean-v1v2v3.apk", "v2-only.apk", "ec-v2v3.apk", "v1-only.apk")
OLD = 1_600_000_000_000_000_000


@pytest.fixture(autouse=True)
def no_racy_wait(monkeypatch):
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)  # files copied here have a fresh ctime


@pytest.fixture
def corpus(tmp_path):
    return aged_copies(tmp_path / "in", NAMES, OLD)


@pytest.fixture
def identities_read(monkeypatch):
    """Every stored identity the warm lane unpickles to match it again."""
    seen: list[str] = []
    real = store.stored_identity

    def counted(path, sha, *a, **kw):
        seen.append(sha)
        return real(path, sha, *a, **kw)

    monkeypatch.setattr(store, "stored_identity", counted)
    return seen


def _feed(tmp_path: Path, name: str, algo: str, apk: Path) -> Path:
    digest = hashlib.new(algo, apk.read_bytes()).hexdigest()
    bundle = {"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "id": "indicator--1", "pattern_type": "stix",
         "pattern": f"[file:hashes.{algo.upper().replace('SHA1', 'SHA-1')} = '{digest}']"}]}
    path = tmp_path / name
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def _scan(corpus: Path, out: Path, feed: Path, *extra: str) -> list[str]:
    res = CliRunner().invoke(main, ["scan", str(corpus), "--no-builtin-rules", "--iocs", str(feed),
                                    "--hashes", "sha256,sha1,md5", "--jobs", "1", "--jsonl", str(out),
                                    "--force", "-q", *extra])
    assert res.exit_code in (0, 1), res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    return [x for x in lines if x.startswith('{"type": "app"')]


def _matched(lines: list[str]) -> list[str]:
    return [json.loads(x)["source"]["path"].rsplit("/", 1)[-1] for x in lines if json.loads(x)["findings"]]


@pytest.mark.parametrize("algo", ["md5", "sha1"])
def test_a_feed_change_reads_only_the_identity_the_new_digest_names(corpus, tmp_path, identities_read, algo):
    db = str(tmp_path / "s.sqlite")
    first = _feed(tmp_path, "a.stix2", algo, corpus / "clean-v1v2v3.apk")
    cold = _scan(corpus, tmp_path / "a.jsonl", first, "--store", db)
    assert _matched(cold) == ["clean-v1v2v3.apk"] and identities_read == []
    second = _feed(tmp_path, "b.stix2", algo, corpus / "ec-v2v3.apk")  # another feed: another rule set
    warm = _scan(corpus, tmp_path / "b.jsonl", second, "--store", db)
    reference = _scan(corpus, tmp_path / "ref.jsonl", second, "--no-store")
    assert warm == reference and _matched(warm) == ["ec-v2v3.apk"]
    ec = hashlib.sha256((corpus / "ec-v2v3.apk").read_bytes()).hexdigest()
    assert identities_read == [ec]  # the other three answered from their sealed facts


def test_facts_hold_the_digests_the_run_computed_and_the_prefilter_asks_them(tmp_path):
    from apkscan.apk.identify import identify

    apk = APKS / "clean-v1v2v3.apk"
    feed = _feed(tmp_path, "f.stix2", "md5", apk)
    rules = load_ruleset([], builtin=False, iocs=(str(feed),))
    with_md5 = facts_of(identify(str(apk), hashes=("sha256", "md5")))
    assert with_md5["md5"] == hashlib.md5(apk.read_bytes()).hexdigest() and with_md5["sha1"] is None
    assert prefilter_of(rules).could_match(with_md5)
    other = facts_of(identify(str(APKS / "v2-only.apk"), hashes=("sha256", "md5")))
    assert not prefilter_of(rules).could_match(other)  # it was a candidate for any MD5 indicator


@pytest.fixture
def reads(monkeypatch):
    """Every real parse and every look-up that hashes a file's bytes (a file read again)."""
    import apkscan.apk.identify as identify_mod

    seen: list[str] = []
    real_identify, real_sha = identify_mod.identify, store._sha256

    def counted_identify(path, **kw):
        seen.append(f"parse {kw.get('display_path') or path}")
        return real_identify(path, **kw)

    def counted_sha(item, reading):
        seen.append(f"hash {item.display}")
        return real_sha(item, reading)

    monkeypatch.setattr(identify_mod, "identify", counted_identify)
    monkeypatch.setattr(store, "_sha256", counted_sha)
    return seen


def _run(corpus: Path, out: Path, feed: Path, hashes: str, *extra: str) -> list[str]:
    res = CliRunner().invoke(main, ["scan", str(corpus), "--no-builtin-rules", "--iocs", str(feed),
                                    "--hashes", hashes, "--jobs", "1", "--jsonl", str(out), "--force", "-q", *extra])
    assert res.exit_code in (0, 1), res.output
    return [x for x in out.read_text(encoding="utf-8").splitlines() if x.startswith('{"type": "app"')]


def test_a_row_holding_more_digests_answers_a_run_asking_fewer_without_reading_a_file(corpus, tmp_path, reads):
    """Stored with SHA-1 and MD5, asked for MD5 alone (or SHA-256 alone): the stored identity with
    the digests not asked set back to None, the very lines a run without a store writes."""
    db = str(tmp_path / "s.sqlite")
    feed = _feed(tmp_path, "a.stix2", "md5", corpus / "clean-v1v2v3.apk")
    _run(corpus, tmp_path / "wide.jsonl", feed, "sha256,sha1,md5", "--store", db)
    assert len([r for r in reads if r.startswith("parse")]) == len(NAMES)
    for hashes in ("sha256,md5", "sha256"):
        reads.clear()
        warm = _run(corpus, tmp_path / "warm.jsonl", feed, hashes, "--store", db)
        assert reads == [], hashes  # no file parsed or hashed again
        assert warm == _run(corpus, tmp_path / "ref.jsonl", feed, hashes, "--no-store")
        assert _matched(warm) == (["clean-v1v2v3.apk"] if "md5" in hashes else [])
    narrow = str(tmp_path / "n.sqlite")
    _run(corpus, tmp_path / "n1.jsonl", feed, "sha256", "--store", narrow)
    reads.clear()
    _run(corpus, tmp_path / "n2.jsonl", feed, "sha256,md5", "--store", narrow)
    assert len([r for r in reads if r.startswith("parse")]) == len(NAMES)  # fewer digests stored: read again
