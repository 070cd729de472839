"""The warm fast lane (apkscan.batch.known) on real APKs and real SQLite stores: an unchanged
plain top-level APK is answered with its stored JSONL line without being opened, and every
case built to fool it (a file replaced by a container of the same size and mtime, the same
path naming another file, a dropper, a changed policy or rule pack, a damaged row) is read
again and gives what a run without a store gives."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import apkscan.apk.identify as identify_mod
from conftest import aged_copies, without_hashed
from apkscan.cli import main
from apkscan.sources.walker import Walker

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
OLD = 1_600_000_000 * 10**9  # an mtime well past the racy window
NAMES = ("wechat-tencent-subject.apk", "tiktok-bytedance-subject.apk", "clean-v1v2v3.apk", "v1-only.apk")


@pytest.fixture(autouse=True)
def no_racy_wait(monkeypatch, request):
    """The racy window (2 s since the last change of mtime *or ctime*) is waited out only by the
    tests about it: files copied here have a fresh ctime, which no utime can set back."""
    if "racy" not in request.node.name:
        monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)


@pytest.fixture
def corpus(tmp_path):
    return aged_copies(tmp_path / "in", NAMES, OLD)


@pytest.fixture
def opened(monkeypatch):
    """Every top-level file the walker opens, and every real parse."""
    walked, parsed = [], []
    real_local, real_identify = Walker.local_file, identify_mod.identify

    def local_file(self, path, *a, **kw):
        walked.append(path)
        return real_local(self, path, *a, **kw)

    def identify(path, **kw):
        parsed.append(kw.get("display_path") or path)  # the store reads through /proc/self/fd
        return real_identify(path, **kw)

    monkeypatch.setattr(Walker, "local_file", local_file)
    monkeypatch.setattr(identify_mod, "identify", identify)
    return walked, parsed


def _scan(paths, out: Path, *extra: str) -> list[str]:
    """The JSONL app and error records (the run and end lines, which carry ids and times, and the
    custody lines, tested in test_jsonl_custody.py, left out)."""
    res = CliRunner().invoke(main, ["scan", *map(str, paths), "--jsonl", str(out), "--force", "-q", *extra])
    assert res.exit_code in (0, 1, 3), res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith('{"type": "run"') and lines[-1].startswith('{"type": "end"')
    return [x for x in lines[1:-1] if x.startswith(('{"type": "app"', '{"type": "error"'))]


def _rows(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM known_lines").fetchone()[0]


def test_warm_run_opens_nothing_and_streams_the_cold_runs_lines(corpus, tmp_path, opened):
    walked, parsed = opened
    db = tmp_path / "s.sqlite"
    reference = _scan([corpus], tmp_path / "ref.jsonl", "--no-store", "--jobs", "1")
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", "1")
    assert _rows(db) == len(NAMES)
    walked.clear(), parsed.clear()
    warm = _scan([corpus], tmp_path / "warm.jsonl", "--store", str(db), "--jobs", "2")
    assert walked == [] and parsed == []  # answered before being opened
    assert warm == cold == reference
    end = (tmp_path / "warm.jsonl").read_text().splitlines()[-1]
    assert '"prohibited": 2' in end and '"total": 4' in end


def test_a_report_run_is_never_answered_by_lines_but_skips_the_classification(corpus, tmp_path, opened):
    """With a report the document needs every app: known plain APKs are not opened to be classified,
    but scanned (from the store) as usual; the documents equal a run without a store."""
    walked, parsed = opened
    db = tmp_path / "s.sqlite"

    def doc(name: str, *store: str) -> dict:
        res = CliRunner().invoke(main, ["scan", str(corpus), *store, "--jsonl", str(tmp_path / f"{name}.jsonl"),
                                        "--json", str(tmp_path / f"{name}.json"), "-q", "--force"])
        assert res.exit_code == 1, res.output
        d = json.loads((tmp_path / f"{name}.json").read_text())
        for k in ("started_at", "finished_at", "options"):
            d.pop(k)
        return without_hashed(d)

    reference = doc("ref", "--no-store")
    assert doc("cold", "--store", str(db)) == reference and _rows(db) == len(NAMES)
    walked.clear(), parsed.clear()
    assert doc("warm", "--store", str(db)) == reference
    assert walked == [] and parsed == []


def test_file_replaced_by_a_container_of_the_same_size_and_mtime_is_read_as_a_container(tmp_path, opened):
    """Same path, size and mtime (restored), same inode: a ZIP holding an APK. ctime moved, so even
    without --rehash the file is read again; with --rehash it always is."""
    d = tmp_path / "in"
    d.mkdir()
    target = d / "app.apk"
    shutil.copy(APKS / "clean-v1v2v3.apk", target)
    os.utime(target, ns=(OLD, OLD))
    container = tmp_path / "c.zip"
    with zipfile.ZipFile(container, "w", zipfile.ZIP_STORED) as z:
        z.write(APKS / "v1-only.apk", "inner.apk")
    pad = target.stat().st_size - container.stat().st_size
    with zipfile.ZipFile(container, "a") as z:
        z.comment = b"x" * pad
    assert container.stat().st_size == target.stat().st_size
    db = tmp_path / "s.sqlite"
    _scan([d], tmp_path / "cold.jsonl", "--store", str(db))
    inode = target.stat().st_ino
    with open(target, "r+b") as fh:
        fh.write(container.read_bytes())
    os.utime(target, ns=(OLD, OLD))
    assert (target.stat().st_ino, target.stat().st_size, target.stat().st_mtime_ns) == (inode, 8663, OLD)
    for extra in ((), ("--rehash",)):
        lines = _scan([d], tmp_path / "after.jsonl", "--store", str(db), *extra)
        assert len(lines) == 1 and '"chain": [' + f'"{target}", "inner.apk"]' in lines[0], extra
    assert lines == _scan([d], tmp_path / "ref.jsonl", "--no-store")


def test_the_same_path_naming_another_file_is_not_answered(tmp_path, monkeypatch):
    """``in/app.apk`` relative to two working folders: the line is keyed by the path as named,
    the row also by the real file and its stat."""
    for side, name in (("a", "wechat-tencent-subject.apk"), ("b", "clean-v1v2v3.apk")):
        (tmp_path / side / "in").mkdir(parents=True)
        shutil.copy(APKS / name, tmp_path / side / "in" / "app.apk")
        os.utime(tmp_path / side / "in" / "app.apk", ns=(OLD, OLD))
    db = tmp_path / "s.sqlite"
    monkeypatch.chdir(tmp_path / "a")
    first = _scan(["in"], tmp_path / "a.jsonl", "--store", str(db))
    monkeypatch.chdir(tmp_path / "b")
    second = _scan(["in"], tmp_path / "b.jsonl", "--store", str(db))
    assert second == _scan(["in"], tmp_path / "ref.jsonl", "--no-store") != first
    assert '"package": "com.tencent.mm"' in first[0] and '"package": "com.tencent.mm"' not in second[0]


def test_a_dropper_is_never_answered_by_a_line(tmp_path, opened):
    """An APK carrying an APK is walked every time (its nested app is a record of its own)."""
    walked, _ = opened
    d = tmp_path / "in"
    d.mkdir()
    dropper = d / "dropper.apk"
    shutil.copy(APKS / "clean-v1v2v3.apk", dropper)
    with zipfile.ZipFile(dropper, "a", zipfile.ZIP_DEFLATED) as z:
        z.write(APKS / "wechat-tencent-subject.apk", "assets/update.bin")
    os.utime(dropper, ns=(OLD, OLD))
    db = tmp_path / "s.sqlite"
    cold = _scan([d], tmp_path / "cold.jsonl", "--store", str(db))
    assert _rows(db) == 0
    walked.clear()
    warm = _scan([d], tmp_path / "warm.jsonl", "--store", str(db))
    assert walked == [str(dropper)] and warm == cold and len(warm) == 2


@pytest.mark.parametrize("change", [("--policy", "vendor-watch"),
                                    ("--no-builtin-rules", "--rules", str(REPO / "signatures" / "tencent.yaml"))])
def test_a_changed_policy_or_rule_pack_never_gets_old_lines(corpus, tmp_path, change, opened):
    walked, parsed = opened
    db = tmp_path / "s.sqlite"
    _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    walked.clear(), parsed.clear()
    changed = _scan([corpus], tmp_path / "changed.jsonl", "--store", str(db), *change)
    assert walked == [] and parsed == []  # known plain APKs, stored identities: matched or decided again only
    assert changed == _scan([corpus], tmp_path / "ref.jsonl", "--no-store", *change)
    assert changed != _scan([corpus], tmp_path / "old.jsonl", "--store", str(db))


@pytest.mark.parametrize("damage", ["verdicts='[\"allowed\", []]'", "line=x'789c00'", "line='not zlib'"])
def test_a_damaged_row_is_scanned_again_and_rewritten(corpus, tmp_path, damage):
    db = tmp_path / "s.sqlite"
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    with sqlite3.connect(db) as c:
        good = sorted(c.execute("SELECT chain, verdicts, line FROM known_lines"))
        c.execute(f"UPDATE known_lines SET {damage}")
    assert _scan([corpus], tmp_path / "warm.jsonl", "--store", str(db)) == cold
    with sqlite3.connect(db) as c:
        assert sorted(c.execute("SELECT chain, verdicts, line FROM known_lines")) == good


def test_rehash_turns_the_lane_off(corpus, tmp_path, opened):
    walked, _ = opened
    db = tmp_path / "s.sqlite"
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    walked.clear()
    assert _scan([corpus], tmp_path / "re.jsonl", "--store", str(db), "--rehash") == cold
    assert len(walked) == len(NAMES)


def test_pool_workers_send_apps_as_their_lines_when_no_report_keeps_them(rules, policy):
    """Stream-only: a worker returns one string per app, the very line the parent would have
    encoded; a split bundle's APKs stay apps (the parent assembles them)."""
    from apkscan.batch.jsonl import app_line
    from apkscan.batch.known import KnownApp
    from apkscan.batch.pool import Pool
    from apkscan.result import AppResult
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource

    inputs = [str(APKS), str(REPO / "fixtures" / "containers")]
    kept: list = []
    scan([FileSource(inputs)], rules, policy, on_records=kept.extend)
    sent: list = []
    slim = scan([FileSource(inputs)], rules, policy, on_records=sent.extend, keep=False, runner=Pool(2))
    apps = [r for r in sent if isinstance(r, (AppResult, KnownApp))]
    assert any(isinstance(r, KnownApp) for r in apps) and all(isinstance(r, KnownApp) or r.splits for r in apps)
    assert [r.line if isinstance(r, KnownApp) else app_line(r) for r in apps] == \
        [app_line(r) for r in kept if isinstance(r, AppResult)]
    assert slim.counts()["total"] == len(apps) + len([r for r in kept if type(r).__name__ == "InputError"])


def test_an_idsig_put_beside_a_known_apk_makes_it_read_again(corpus, tmp_path, opened):
    """v4 depends on the .idsig file: an APK with one beside it is never answered (nor stored)."""
    walked, _ = opened
    db = tmp_path / "s.sqlite"
    _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    (corpus / "clean-v1v2v3.apk.idsig").write_bytes(b"not a v4 signature")
    walked.clear()
    warm = _scan([corpus], tmp_path / "warm.jsonl", "--store", str(db))
    assert str(corpus / "clean-v1v2v3.apk") in walked
    assert warm == _scan([corpus], tmp_path / "ref.jsonl", "--no-store")


def test_rows_made_in_the_parent_after_a_policy_change_are_written(corpus, tmp_path, opened):
    """The pool's parent decides stored findings again itself (no worker): its buffered store
    writes are committed, so the next run under that policy decides nothing and reads no file.
    What it writes is each file's row for the new policy; not the decisions (that row answers
    this run's rules and policies for the file: the usual path decides them again, once)."""
    walked, parsed = opened
    db = tmp_path / "s.sqlite"

    def count(table: str) -> int:
        with sqlite3.connect(db) as c:
            return c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", "2")
    before = {t: count(t) for t in ("known_lines", "decisions", "matches")}
    parsed.clear()
    first = _scan([corpus], tmp_path / "p1.jsonl", "--store", str(db), "--jobs", "2", "--policy", "vendor-watch")
    assert count("known_lines") == before["known_lines"] + len(NAMES) and parsed == []
    assert (count("decisions"), count("matches")) == (before["decisions"], before["matches"])
    walked.clear()
    again = _scan([corpus], tmp_path / "p2.jsonl", "--store", str(db), "--jobs", "2", "--policy", "vendor-watch")
    assert again == first and walked == [] and count("known_lines") == before["known_lines"] + len(NAMES)


# --- review of the fast lane (second round): cases built to fool it ------------------------------


def _zip_with_payload(base: Path, out: Path, name: str, payload: bytes) -> None:
    shutil.copy(base, out)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_STORED) as z:
        z.writestr(name, payload)


def test_a_file_renamed_over_the_path_while_it_is_classified_is_never_stored(tmp_path, monkeypatch):
    """The walker classified the file it opened (plain), an attacker renamed a same-size APK that
    carries a banned APK over the path meanwhile: the row used to take the path's stat (the new
    file's) and serve 'allowed' for it on every later run."""
    from apkscan.sources import detect

    wechat = (APKS / "wechat-tencent-subject.apk").read_bytes()
    d = tmp_path / "in"
    d.mkdir()
    plain, carrier = d / "app.apk", tmp_path / "y.apk"
    _zip_with_payload(APKS / "clean-v1v2v3.apk", plain, "assets/payload.bin", os.urandom(len(wechat)))
    _zip_with_payload(APKS / "clean-v1v2v3.apk", carrier, "assets/payload.apk", wechat)
    assert plain.stat().st_size == carrier.stat().st_size
    for f in (plain, carrier):
        os.utime(f, ns=(OLD, OLD))
    real_nested = detect.nested_members

    def swap_during_classification(archive):
        found = real_nested(archive)  # read through the descriptor of the old file: nothing nested
        if carrier.exists():
            os.rename(carrier, plain)
        return found

    monkeypatch.setattr(detect, "nested_members", swap_during_classification)
    db = tmp_path / "s.sqlite"
    _scan([d], tmp_path / "cold.jsonl", "--store", str(db))
    assert _rows(db) == 0
    monkeypatch.setattr(detect, "nested_members", real_nested)
    warm = _scan([d], tmp_path / "warm.jsonl", "--store", str(db))
    assert any('"package": "com.tencent.mm"' in line for line in warm)
    assert warm == _scan([d], tmp_path / "ref.jsonl", "--no-store")


def test_a_fresh_ctime_is_racy_whatever_the_mtime_says(corpus, tmp_path):
    """mtime can be set back by anyone (touch -d); ctime cannot: a file changed within the racy
    window is neither stored nor answered, however old its mtime looks."""
    db = tmp_path / "s.sqlite"
    assert all(f.stat().st_mtime_ns == OLD for f in corpus.iterdir())
    _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    assert _rows(db) == 0  # copied just now: ctime is fresh


_PLANTS = {
    "a verdict no policy gives": "verdicts='[\"bogus\", [[\"canada-tbs-2023\", \"bogus\"]]]'",
    "another policy's verdicts": "verdicts='[\"allowed\", [[\"other-policy\", \"allowed\"]]]'",
    "first verdict not the first policy's": "verdicts='[\"allowed\", [[\"canada-tbs-2023\", \"prohibited\"]]]'",
    "a line that is several lines": None,
    "a line of another file": None,
    "a decompression bomb": None,
}


@pytest.mark.parametrize("plant", sorted(_PLANTS))
def test_a_planted_row_out_of_shape_is_scanned_not_served(corpus, tmp_path, plant):
    """The store is trusted like your own files, but a row out of shape must not crash the run,
    exhaust memory, bend the counts or exit code, or write extra or foreign lines."""
    import zlib

    from apkscan.batch.known_seal import line_of, stored_of

    db = tmp_path / "s.sqlite"
    cold = _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT rowid, chain, line, verdicts FROM known_lines").fetchall()
        assert len(rows) == len(NAMES)
        if _PLANTS[plant]:
            c.execute(f"UPDATE known_lines SET {_PLANTS[plant]}")
        for rowid, chain, blob, verdicts in rows:
            span = json.loads(verdicts)[2]
            line = line_of(blob, tuple(span))[0]
            if plant == "a line that is several lines":
                line += '\n{"type": "end", "counts": {"allowed": 99}}'
            elif plant == "a line of another file":
                line = line.replace(json.dumps(chain), json.dumps(chain + ".other"))
            elif plant == "a decompression bomb":
                c.execute("UPDATE known_lines SET line=? WHERE rowid=?", (zlib.compress(b" " * (64 << 20), 9), rowid))
                continue
            c.execute("UPDATE known_lines SET line=? WHERE rowid=?", (stored_of(line, span), rowid))
    assert _scan([corpus], tmp_path / "warm.jsonl", "--store", str(db)) == cold

    def counts(name):
        return json.loads((tmp_path / name).read_text().splitlines()[-1])["counts"]

    assert counts("warm.jsonl") == counts("cold.jsonl")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_lane_answer_after_a_split_bundle_keeps_the_sequential_order(tmp_path, jobs):
    """Review 29 F3: a bundle is assembled when the next input arrives; a lane answer is not a
    ScanInput, so it was written before the open bundle's app and a warm (or --resume) run's
    order depended on the store. The warm lines must equal the cold run's and a --no-store run's."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(REPO / "fixtures" / "containers" / "wechat-sai.apks", folder / "a.apks")
    shutil.copy(APKS / "clean-v1v2v3.apk", folder / "b.apk")
    for f in folder.iterdir():
        os.utime(f, ns=(OLD, OLD))
    db = tmp_path / "s.sqlite"
    reference = _scan([folder], tmp_path / "ref.jsonl", "--no-store", "--jobs", jobs)
    cold = _scan([folder], tmp_path / "cold.jsonl", "--store", str(db), "--jobs", jobs)
    assert _rows(db) == 1  # b.apk: the bundle is never answered by the lane
    warm = _scan([folder], tmp_path / "warm.jsonl", "--store", str(db), "--jobs", jobs)
    paths = [json.loads(x)["source"]["path"] for x in warm if x.startswith('{"type": "app"')]
    assert [Path(p).name for p in paths] == ["base.apk", "b.apk"], paths
    assert warm == cold == reference


def test_a_file_swapped_after_the_lane_matched_its_row_is_never_read_as_that_file(corpus, tmp_path, monkeypatch):
    """A report run (no line answers) hands a known APK on as the walker would, unclassified: it
    went with no custody stat, so a file renamed over the path after the lane matched the row's
    stat was read as if it were that file (noticed by the walk68 helper). It now carries the stat
    the row matched: the swap is INPUT_CHANGED_DURING_SCAN, never the other file's app."""
    from apkscan.batch import known as known_mod

    db = tmp_path / "s.sqlite"
    banned = corpus / "tiktok-bytedance-subject.apk"
    decoy = tmp_path / "decoy.apk"
    shutil.copy(APKS / "clean-v1v2v3.apk", decoy)
    assert decoy.stat().st_size == banned.stat().st_size
    _scan([corpus], tmp_path / "cold.jsonl", "--store", str(db))
    real_known = known_mod.KnownFiles.known

    def known(self, path):
        found = real_known(self, path)
        if path == str(banned) and found is not None:
            os.replace(decoy, banned)  # after the row's stat matched, before identify opens it
        return found

    monkeypatch.setattr(known_mod.KnownFiles, "known", known)
    res = CliRunner().invoke(main, ["scan", str(corpus), "--store", str(db), "--jobs", "1", "-q", "--force",
                                    "--jsonl", str(tmp_path / "r.jsonl"), "--json", str(tmp_path / "r.json")])
    doc = json.loads((tmp_path / "r.json").read_text())
    at = [a["package"] for a in doc["apps"] if a["source"]["path"] == str(banned)]
    assert at == [] and not decoy.exists(), at
    assert [e["code"] for e in doc["errors"] if e["source"]["path"] == str(banned)] == ["INPUT_CHANGED_DURING_SCAN"]
    assert res.exit_code in (1, 3), res.output
