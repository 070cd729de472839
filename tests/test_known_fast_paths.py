"""The warm store's per-file cost (issue 12) without weakening the lane: a policy change decides
the stored findings again inside the lane (the line of another policy with its decided part
made again, never the identity serialised again), rows sealed instead of their line parsed
again, one ``lstat`` per file of a folder, a folder's real path resolved once. Each case on real
APKs and real stores: the lines must be the very lines a run without a store writes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import APKS, without_hashed

from apkscan.batch.known_seal import line_of, stored_of
from apkscan.cli import main

from test_batch_known import NAMES, OLD, corpus  # noqa: F401 - the same four APKs, an old mtime (a fixture)


@pytest.fixture(autouse=True)
def no_racy_wait(monkeypatch):
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)  # files copied here have a fresh ctime


@pytest.fixture
def work(monkeypatch):
    """Every identity serialised (to_dict), every file the walker opens, every real parse."""
    import apkscan.apk.identify as identify_mod
    from apkscan.apk.model import ApkIdentity
    from apkscan.sources.walker import Walker

    seen: dict[str, list] = {"to_dict": [], "walked": [], "parsed": []}
    to_dict, local, identify = ApkIdentity.to_dict, Walker.local_file, identify_mod.identify

    def counted_to_dict(self, *a, **kw):
        seen["to_dict"].append(self.path)
        return to_dict(self, *a, **kw)

    def counted_local(self, path, *a, **kw):
        seen["walked"].append(path)
        return local(self, path, *a, **kw)

    def counted_identify(path, **kw):
        seen["parsed"].append(kw.get("display_path") or path)  # the store reads through /proc/self/fd
        return identify(path, **kw)

    monkeypatch.setattr(ApkIdentity, "to_dict", counted_to_dict)
    monkeypatch.setattr(Walker, "local_file", counted_local)
    monkeypatch.setattr(identify_mod, "identify", counted_identify)
    return seen


def _scan(paths, out: Path, *extra: str) -> tuple[list[str], dict, int]:
    """The JSONL records (without the run and end lines), the end line's counts, the exit code."""
    res = CliRunner().invoke(main, ["scan", *map(str, paths), "--jsonl", str(out), "--force", "-q", *extra])
    assert res.exit_code in (0, 1, 3), res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith('{"type": "run"') and lines[-1].startswith('{"type": "end"')
    return [without_hashed(x) for x in lines[1:-1]], json.loads(lines[-1])["counts"], res.exit_code


def _clear(seen: dict) -> None:
    for v in seen.values():
        v.clear()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_policy_change_decides_stored_findings_in_the_lane_without_serialising_identities(
        corpus, tmp_path, work, jobs):
    """The banned apps are still reported under the new policy, with the very lines, counts and
    exit code of a run without a store; no file is opened or parsed and no identity serialised
    (each cost ~0.15 ms per file); the rows written make the next run under it a warm one."""
    db = tmp_path / "s.sqlite"
    _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", jobs)
    _clear(work)
    changed = _scan([corpus], tmp_path / "p.jsonl", "--store", str(db), "--jobs", jobs, "--policy", "vendor-watch")
    assert work == {"to_dict": [], "walked": [], "parsed": []}
    reference = _scan([corpus], tmp_path / "ref.jsonl", "--no-store", "--policy", "vendor-watch")
    assert changed == reference
    verdicts = {d["package"]: d["verdict"] for d in map(json.loads, changed[0]) if d["type"] == "app"}
    assert verdicts["com.tencent.mm"] != "allowed" and verdicts["com.zhiliaoapp.musically"] != "allowed"
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(DISTINCT policies) FROM known_lines").fetchone()[0] == 2
    _clear(work)
    assert _scan([corpus], tmp_path / "p2.jsonl", "--store", str(db), "--jobs", jobs,
                 "--policy", "vendor-watch") == reference
    assert work == {"to_dict": [], "walked": [], "parsed": []}


def test_two_policies_after_one_decide_the_same_lines_as_a_run_without_a_store(corpus, tmp_path):
    db = tmp_path / "s.sqlite"
    _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    two = ("--policy", "vendor-watch", "--policy", "canada-tbs-2023")
    assert _scan([corpus], tmp_path / "p.jsonl", "--store", str(db), *two) == \
        _scan([corpus], tmp_path / "ref.jsonl", "--no-store", *two)


def _plant(db: Path, how: str) -> None:
    """Change each row of the cold run's policy the way ``how`` says, without its seal."""
    with sqlite3.connect(db) as c:
        for rowid, verdicts, blob in c.execute("SELECT rowid, verdicts, line FROM known_lines").fetchall():
            verdict, pairs, span, seal = json.loads(verdicts)
            line = line_of(blob, tuple(span))[0]
            stored = stored_of(line, span)
            if how == "span":
                span = [span[0] + 1, span[1]]
            elif how == "line":  # a line whose verdict says another thing than the row's columns
                line = line.replace('"verdict": "prohibited"', '"verdict": "allowed"')
                line = line.replace('"verdict": "allowed", "policy"', '"verdict": "review", "policy"')
            elif how == "seal":
                seal = "0" * 32
            c.execute("UPDATE known_lines SET verdicts=?, line=? WHERE rowid=?",
                      (json.dumps([verdict, pairs, span, seal]), stored if how == "span" else stored_of(line, span), rowid))


@pytest.mark.parametrize("how", ["span", "line", "seal"])
def test_a_row_changed_without_its_seal_is_neither_served_nor_decided_again(corpus, tmp_path, how):
    """Its line is never written: a warm run and a policy change both read the file the usual
    way and give the lines, counts and exit code of a run without a store."""
    db = tmp_path / "s.sqlite"
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    _plant(db, how)
    assert _scan([corpus], tmp_path / "warm.jsonl", "--store", str(db)) == cold
    _plant(db, how)
    assert _scan([corpus], tmp_path / "p.jsonl", "--store", str(db), "--policy", "vendor-watch") == \
        _scan([corpus], tmp_path / "ref.jsonl", "--no-store", "--policy", "vendor-watch")


def _signer(lines: list[str], package: str) -> str:
    app = next(d for d in map(json.loads, lines) if d["type"] == "app" and d["package"] == package)
    schemes = app["identity"]["schemes"]
    return next(s["signers"][0]["certificate"]["sha256"] for s in schemes.values() if s.get("verified"))


def test_the_identity_is_unpickled_only_for_an_allow_list_and_a_damaged_one_is_read_again(corpus, tmp_path, work):
    """Deciding reads the identity only for an allow-list entry (package + verified signer):
    without one a damaged stored identity is never touched and the lines are right; with one it
    is read, found damaged, and the file read again: never a crash, never a wrong verdict."""
    db = tmp_path / "s.sqlite"
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    with sqlite3.connect(db) as c:
        c.execute("UPDATE identities SET identity=x'80049500'")
    _clear(work)
    watch = _scan([corpus], tmp_path / "p.jsonl", "--store", str(db), "--policy", "vendor-watch")
    assert work["parsed"] == [] and work["to_dict"] == []
    assert watch == _scan([corpus], tmp_path / "ref.jsonl", "--no-store", "--policy", "vendor-watch")
    allow = ("--allow", f"com.tencent.mm:{_signer(cold[0], 'com.tencent.mm')}")
    _clear(work)
    allowed = _scan([corpus], tmp_path / "a.jsonl", "--store", str(db), *allow)
    assert sorted(Path(p).name for p in work["parsed"]) == sorted(NAMES)
    assert allowed == _scan([corpus], tmp_path / "ref-a.jsonl", "--no-store", *allow)
    assert next(json.loads(x)["verdict"] for x in allowed[0] if '"com.tencent.mm"' in x) == "allowed"


def test_an_allow_list_after_a_policy_change_is_decided_with_the_stored_identity(corpus, tmp_path, work):
    db = tmp_path / "s.sqlite"
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    assert next(json.loads(x)["verdict"] for x in cold[0] if '"com.tencent.mm"' in x) == "prohibited"
    allow = ("--allow", f"com.tencent.mm:{_signer(cold[0], 'com.tencent.mm')}")
    _clear(work)
    allowed = _scan([corpus], tmp_path / "a.jsonl", "--store", str(db), *allow)
    assert work == {"to_dict": [], "walked": [], "parsed": []}
    assert allowed == _scan([corpus], tmp_path / "ref-a.jsonl", "--no-store", *allow)
    assert next(json.loads(x)["verdict"] for x in allowed[0] if '"com.tencent.mm"' in x) == "allowed"


def test_the_decided_span_of_a_line_is_where_another_policy_puts_its_decided_text(rules):
    """What the lane relies on: a line is its head, its decided text, its tail; the head and tail
    are the same under any policy, and the span recorded is checked against the line itself."""
    from apkscan.batch.jsonl import app_line, app_line_span, decided_text
    from apkscan.policy.loader import load_policy
    from apkscan.result import AppResult
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource

    def apps(name: str) -> list[AppResult]:
        got: list = []
        scan([FileSource([str(APKS)])], rules, load_policy(name), on_records=got.extend)
        return [r for r in got if isinstance(r, AppResult)]

    one, other = apps("canada-tbs-2023"), apps("vendor-watch")
    assert len(one) == len(other) > 3
    for a, b in zip(one, other):
        line, span = app_line_span(a)
        assert line == app_line(a) and span is not None and line[span[0]:span[1]] == decided_text(a)
        assert line[:span[0]] + decided_text(b) + line[span[1]:] == app_line(b)
    assert any(app_line(a) != app_line(b) for a, b in zip(one, other))


# --- the walk and the stat key -------------------------------------------------------------------


def test_one_lstat_per_file_still_skips_symlinks_and_special_files_and_applies_globs(tmp_path, monkeypatch):
    from apkscan.sources import files
    from apkscan.sources.files import EXCLUDED, IN_INPUTS, OUTSIDE, SPECIAL, SYMLINK, FileSource
    from apkscan.sources.interface import ScanInput, Skipped
    from apkscan.sources.walker import WalkOptions

    d = tmp_path / "pull"
    (d / "sub").mkdir(parents=True)
    shutil.copy(APKS / "wechat-tencent-subject.apk", d / "wechat.apk")
    shutil.copy(APKS / "clean-v1v2v3.apk", d / "sub" / "clean.apk")
    os.symlink(APKS / "tiktok-bytedance-subject.apk", d / "linked.apk")  # outside the input: never followed
    os.symlink("../wechat.apk", d / "sub" / "inside.apk")
    os.symlink(tmp_path / "nowhere.apk", d / "dangling.apk")
    os.mkfifo(d / "fifo.apk")
    relpaths: list = []
    real_relpath = os.path.relpath

    def counted(*a):
        relpaths.append(a)
        return real_relpath(*a)

    monkeypatch.setattr(files.os.path, "relpath", counted)

    def walk(**options) -> tuple[list[str], dict[str, list[str]]]:
        items = list(FileSource([str(d)], WalkOptions(**options)).inputs())
        read = sorted(real_relpath(i.path, d) for i in items if isinstance(i, ScanInput))
        skipped: dict[str, list[str]] = {}
        for i in items:
            if isinstance(i, Skipped):
                skipped.setdefault(i.reason, []).extend(i.examples)
        return read, {k: sorted(v) for k, v in skipped.items()}

    assert walk() == (["sub/clean.apk", "wechat.apk"], {SYMLINK: ["dangling.apk", "inside.apk", "linked.apk"],
                                                        SPECIAL: ["fifo.apk"]})
    assert relpaths == []  # no --include/--exclude: no relative path made per file
    assert walk(follow_symlinks=True) == (["sub/clean.apk", "wechat.apk"],  # inside.apk: wechat.apk again
                                          {SPECIAL: ["dangling.apk", "fifo.apk"], OUTSIDE: ["linked.apk"],
                                           IN_INPUTS: ["inside.apk"]})
    read, skipped = walk(include=("sub/*",))
    assert read == ["sub/clean.apk"] and skipped[EXCLUDED] == ["dangling.apk", "fifo.apk", "linked.apk", "wechat.apk"]
    read, skipped = walk(exclude=("*.apk",))
    assert read == [] and len(skipped[EXCLUDED]) == 6 and relpaths


def test_located_is_realpath_and_stat_for_files_links_folders_and_relative_names(tmp_path, monkeypatch):
    """The folder's real path kept from the last call never stands for another folder: every
    answer equals ``realpath`` + ``stat`` of the path, whatever came before it."""
    from apkscan.batch import store

    real = tmp_path / "real"
    (real / "a").mkdir(parents=True)
    (real / "b").mkdir()
    for name in ("a/x.apk", "b/x.apk"):
        shutil.copy(APKS / "clean-v1v2v3.apk", real / name)
    os.symlink(real / "a", tmp_path / "via")  # a folder reached through a link
    os.symlink(real / "b" / "x.apk", real / "a" / "link.apk")  # a file that is a link

    def expected(p: str):
        return store.path_key(os.path.realpath(p)), store.stat_of(os.stat(p))

    paths = [str(real / "a" / "x.apk"), str(tmp_path / "via" / "x.apk"), str(real / "a" / "link.apk"),
             str(tmp_path / "via" / "link.apk"), str(real / "b" / "x.apk"), str(real / "a" / "x.apk")]
    for p in paths:
        assert store.located(p) == expected(p)
    monkeypatch.chdir(real / "a")
    assert store.located("x.apk") == expected("x.apk") and store.located("x.apk")[0] == str(real / "a" / "x.apk")
    monkeypatch.chdir(real / "b")  # the same relative name in another folder
    assert store.located("x.apk")[0] == str(real / "b" / "x.apk")
    os.unlink(tmp_path / "via")  # the link now names the other folder: the next file there is resolved again
    os.symlink(real / "b", tmp_path / "via")
    assert store.located(str(tmp_path / "via" / "x.apk")) == expected(str(tmp_path / "via" / "x.apk"))


def test_a_file_of_a_folder_replaced_by_a_symlink_is_not_answered_as_the_old_file(corpus, tmp_path, work):
    """The lane's stat is the path's own (lstat): a symlink put in place of a known APK, to
    another copy of the same bytes, is walked (and skipped as a symlink), never answered."""
    db = tmp_path / "s.sqlite"
    _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    target = corpus / "wechat-tencent-subject.apk"
    keep = tmp_path / "elsewhere.apk"
    shutil.move(target, keep)
    os.symlink(keep, target)
    _clear(work)
    warm, counts, _ = _scan([corpus], tmp_path / "warm.jsonl", "--store", str(db))
    assert not any('"package": "com.tencent.mm"' in x for x in warm)
    assert (warm, counts) == _scan([corpus], tmp_path / "ref.jsonl", "--no-store")[:2]


def test_a_span_must_start_at_the_decided_members():
    """Review 48 F3: a hand-moved span onto the "label" member passed (", " on both sides): the
    rebuilt line held two verdicts, the last one contradicting the counts."""
    from apkscan.batch.known_seal import span_of as _span_of

    line = '{"type": "app", "source": "a.apk", "label": "x", "verdict": "review", "policy": null, "verdicts": {}, ' \
           '"findings": [], "warnings": []}'
    start = line.index('"verdict"')
    end = line.index(', "warnings"')
    assert _span_of((start, end), line)
    label = line.index('"label"')
    assert not _span_of((label, line.index(', "verdict"')), line)


def test_the_parser_key_changes_with_the_issue_codes(tmp_path):
    """Review 48 F2: the apk layer files codes from issue_codes.py; a code renamed there kept old
    identities (with the old code) answering from the store."""
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[1] / "apkscan"
    copy = tmp_path / "tree"
    shutil.copytree(src, copy / "apkscan", ignore=shutil.ignore_patterns("__pycache__"))
    probe = "from apkscan.batch.store import parser_version; print(parser_version())"

    def key() -> str:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                              cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)}).stdout
    before = key()
    with open(copy / "apkscan" / "issue_codes.py", "a", encoding="utf-8") as fh:
        fh.write("\n# a code renamed\n")
    assert key() != before


_OUT_OF_SHAPE = ("span one short of the decided part", "a decided part without a span", "over MAX_LINE together")


def _reseal(db: Path, how: str) -> None:
    """Each row rewritten out of shape in the stored layout (:func:`known_seal.stored_of`: the rest
    deflated, the decided part deflated after it) and sealed again, as whoever can write the store could."""
    from apkscan.batch.known_seal import MAX_LINE, restored, seal_of

    with sqlite3.connect(db) as c:
        for rowid, sha, package, verdicts, blob, *key in c.execute(
                "SELECT rowid, sha256, package, verdicts, line, chain, parser, options, rules, policies, fmt, "
                "real, size, mtime_ns, ctime_ns, inode, dev FROM known_lines").fetchall():
            verdict, pairs, span, _seal = json.loads(verdicts)
            assert line_of(blob, tuple(span)) is not None  # in shape as written
            if how == _OUT_OF_SHAPE[0]:
                span = [span[0], span[1] - 1]
            elif how == _OUT_OF_SHAPE[1]:
                span = None
            else:  # a decided part its span covers, the whole line one byte over the bound
                line, kept = line_of(blob, tuple(span))
                extra = MAX_LINE + 1 - len(line)
                blob, span = restored(kept, line[span[0]:span[1]] + " " * extra), [span[0], span[1] + extra]
            c.execute("UPDATE known_lines SET verdicts=?, line=? WHERE rowid=?",
                      (json.dumps([verdict, pairs, span, seal_of(tuple(key), sha, package, verdict, pairs, span, blob)]),
                       blob, rowid))


@pytest.mark.parametrize("how", _OUT_OF_SHAPE)
def test_a_resealed_row_whose_decided_part_is_out_of_shape_is_neither_served_nor_decided_again(
        corpus, tmp_path, work, how):
    """A stored line is put back together only when its decided part is exactly where and as long as
    the row's span says, and the whole line within the bound: otherwise the file is read the usual
    way, for a warm run and after a policy change, with the lines of a run without a store."""
    db = tmp_path / "s.sqlite"
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    _reseal(db, how)
    _clear(work)
    assert _scan([corpus], tmp_path / "warm.jsonl", "--store", str(db), "--jobs", "1") == cold
    assert len(set(work["to_dict"])) == len(NAMES)  # every app serialised again: none answered by its row
    _reseal(db, how)
    assert _scan([corpus], tmp_path / "p.jsonl", "--store", str(db), "--policy", "vendor-watch") == \
        _scan([corpus], tmp_path / "ref.jsonl", "--no-store", "--policy", "vendor-watch")
