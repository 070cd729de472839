"""diff: sources matched by name never merge two devices, a skipped place is no removal, and
finding a place costs O(depth), not O(inputs) (review 55 F2, F3, F6)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main
from apkscan.diff import SKIPPED_NOW, diff_documents
from apkscan.diff_places import Roots, SourceKeys
from apkscan.document import Source

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
WECHAT = APKS / "wechat-impostor.apk"
CLEAN = APKS / "clean-v1v2v3.apk"


def _scan(out: Path, *inputs: Path) -> dict:
    res = CliRunner().invoke(main, ["scan", *map(str, inputs), "--json", str(out), "--quiet", "-j1", "--no-store"])
    assert res.exit_code in (0, 1, 3), res.output
    return json.loads(out.read_text())


def _pull(path: Path, *apks: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for apk in apks:
            z.write(apk, f"data/app/{apk.stem}/base.apk")
    return path


def _diff(tmp_path: Path, old: dict, new: dict, *args: str):
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    return CliRunner().invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), *args])


def test_by_name_two_devices_with_one_file_name_are_not_merged(tmp_path):
    """A banned app moved from dev1 to dev2 (both ``pull.zip`` in dated folders) is a new
    prohibited app on dev2, not "nothing got worse"; dev2 missing from the older month too."""
    jan, feb = tmp_path / "2026-01", tmp_path / "2026-02"
    old = _scan(tmp_path / "jan.json", _pull(jan / "dev1" / "pull.zip", CLEAN, WECHAT), _pull(jan / "dev2" / "pull.zip", CLEAN))
    new = _scan(tmp_path / "feb.json", _pull(feb / "dev1" / "pull.zip", CLEAN), _pull(feb / "dev2" / "pull.zip", CLEAN, WECHAT))
    result = diff_documents(old, new, by_name=True)
    changes = {(c.source, c.package, c.change, c.worse) for c in result.changes()}
    assert changes == {("dev1/pull.zip", "com.tencent.mm", "removed", False),
                       ("dev2/pull.zip", "com.tencent.mm", "added", True)}
    assert "DIFF_SOURCE_NAME_AMBIGUOUS" in {n.code for n in result.notes}
    res = _diff(tmp_path, old, new, "--source-by-name")
    assert res.exit_code == 1 and "nothing got worse" not in res.output, res.output
    # an older month with dev1 alone still matches dev1 of the newer one by its longer name
    only_dev1 = _scan(tmp_path / "jan1.json", jan / "dev1" / "pull.zip")
    result = diff_documents(only_dev1, new, by_name=True)
    assert {(c.source, c.package, c.change) for c in result.changes()} == {
        ("dev1/pull.zip", "com.tencent.mm", "removed"), ("dev2/pull.zip", "com.example.clean", "added"),
        ("dev2/pull.zip", "com.tencent.mm", "added")}


def test_by_name_a_unique_name_still_matches_across_dated_folders(tmp_path):
    old = _scan(tmp_path / "a.json", _pull(tmp_path / "2026-01" / "pull.zip", CLEAN))
    new = _scan(tmp_path / "b.json", _pull(tmp_path / "2026-02" / "pull.zip", CLEAN))
    result = diff_documents(old, new, by_name=True)
    assert result.changes() == [] and [s.source for s in result.sources] == ["pull.zip"] and {n.code for n in result.notes} <= {"DIFF_POLICY_UNCERTAIN"}


def test_a_banned_apk_skipped_at_the_same_place_is_not_a_removal(tmp_path):
    jan, feb, store = tmp_path / "jan" / "dev", tmp_path / "feb" / "dev", tmp_path / "store"
    for d in (jan, feb, store):
        d.mkdir(parents=True)
    for d in (jan, feb):
        (d / "clean.apk").write_bytes(CLEAN.read_bytes())
    (jan / "wechat.apk").write_bytes(WECHAT.read_bytes())
    (store / "wechat.apk").write_bytes(WECHAT.read_bytes())
    os.symlink(store / "wechat.apk", feb / "wechat.apk")  # the same bytes, a link now: not followed
    old, new = _scan(tmp_path / "o.json", jan), _scan(tmp_path / "n.json", feb)
    assert new["skipped"] and not any(a["package"] == "com.tencent.mm" for a in new["apps"])
    result = diff_documents(old, new)
    assert [c for c in result.changes() if c.change == "removed"] == []
    [failure] = [f for s in result.sources for f in s.new_failures]
    assert (failure.name, failure.status, failure.worse) == ("wechat.apk", SKIPPED_NOW, True)
    assert result.counts()["skipped_now"] == 1 and result.exit_code() == 1 and result.new.skipped == 1
    res = _diff(tmp_path, old, new)
    assert res.exit_code == 1 and "wechat.apk  not scanned now (skipped" in res.output, res.output
    page = tmp_path / "d.html"
    assert CliRunner().invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"),
                                     "--html", str(page)]).exit_code == 1
    assert "wechat.apk" in page.read_text("utf-8") and "No app was added" not in page.read_text("utf-8")


class _LookedUp(frozenset):
    """A root set that counts look-ups and refuses to be walked (a walk is O(inputs) per path)."""

    calls = 0

    def __contains__(self, item):
        type(self).calls += 1
        return super().__contains__(item)

    def __iter__(self):
        raise AssertionError("the roots were walked")


def test_a_place_costs_a_look_up_per_ancestor_not_a_walk_over_the_inputs():
    n = 5000
    doc_roots = Roots.__new__(Roots)
    doc_roots.roots = _LookedUp(f"/evidence/device-{i:05d}" for i in range(n))
    places = [doc_roots.place(Source(path=f"/evidence/device-{i:05d}/data/app/base.apk",
                                     chain=(f"/evidence/device-{i:05d}/data/app/base.apk",))) for i in range(n)]
    assert places == ["data/app/base.apk"] * n
    assert _LookedUp.calls <= n * 5  # the path itself and each of its 4 ancestors, at most
    assert doc_roots.place(Source(path="/evidence/device-00007", chain=("/evidence/device-00007",))) == "device-00007"
    assert doc_roots.place(Source(path="/other/x.apk", chain=("/other/x.apk",))) == "/other/x.apk"


def test_thousands_of_inputs_and_errors_compare_correctly(tmp_path):
    """The review's builder: N inputs and N errors per side (minutes on the quadratic code)."""
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "x.apk").write_bytes(CLEAN.read_bytes()[:2000])
    base = _scan(tmp_path / "s.json", cut)
    assert base["errors"]

    def many(tag: str, n: int = 3000) -> dict:
        d = json.loads(json.dumps(base))
        d["inputs"] = [f"/evidence/{tag}/device-{i:05d}" for i in range(n)]
        d["errors"] = []
        for i in range(n):
            e = json.loads(json.dumps(base["errors"][0]))
            p = f"/evidence/{tag}/device-{i:05d}/x-{i % 7}.apk"
            e["source"] = {"path": p, "container": None, "chain": [p], "outermost": p}
            e.pop("sha256", None)
            d["errors"].append(e)
        d.pop("counts", None)
        return d
    result = diff_documents(many("old"), many("new"))
    # each error is at x-<i%7>.apk below its device folder: seven places, all failing in both scans
    assert result.counts()["new_failures"] == 0 and result.counts()["still_failing_unknown"] == 3000


def test_source_keys_fall_back_to_the_path_when_no_suffix_tells_two_apart():
    keys = SourceKeys(({"a//b.ab", "a/b.ab", "c/d.ab"}, {"x/d.ab"}), by_name=True)
    assert keys.key("c/d.ab") == "d.ab" == keys.key("x/d.ab")
    assert keys.key("a//b.ab") == "a//b.ab" and keys.key("a/b.ab") == "a/b.ab"


def test_apks_of_several_input_folders_form_one_group_and_the_diff_says_so(tmp_path):
    for month, (a, b) in (("jan", (WECHAT, CLEAN)), ("feb", (CLEAN, WECHAT))):
        for dev, apk in (("dev1", a), ("dev2", b)):
            (tmp_path / month / dev).mkdir(parents=True)
            (tmp_path / month / dev / apk.name).write_bytes(apk.read_bytes())
    old = _scan(tmp_path / "o.json", tmp_path / "jan" / "dev1", tmp_path / "jan" / "dev2")
    new = _scan(tmp_path / "n.json", tmp_path / "feb" / "dev1", tmp_path / "feb" / "dev2")
    result = diff_documents(old, new)
    assert "DIFF_DIRECT_INPUTS_GROUPED" in {n.code for n in result.notes}
    one = _scan(tmp_path / "one.json", tmp_path / "jan" / "dev1")
    assert "DIFF_DIRECT_INPUTS_GROUPED" not in {n.code for n in diff_documents(one, one).notes}


def test_a_document_without_chains_diffs_as_the_whole_one(tmp_path):
    """Records that name only their container (``chain``/``outermost`` dropped: an older writer,
    or edited) have the places the whole document gives them: an error four containers deep in
    deep.zip is the same failure, an APK in pull.tar.gz ▸ store/apps.zip the same app, in both
    directions (the member name alone was a place of its own: a new failure, worse)."""
    CONTAINERS = APKS.parent / "containers"
    whole = _scan(tmp_path / "whole.json", CONTAINERS / "pull.tar.gz", CONTAINERS / "deep.zip")
    trimmed = json.loads(json.dumps(whole))
    for rec in trimmed["apps"] + trimmed["errors"]:
        del rec["source"]["chain"], rec["source"]["outermost"]
    assert any(" ▸ " in (e["source"]["container"] or "") for e in trimmed["errors"])
    for old, new in ((whole, trimmed), (trimmed, whole)):
        result = diff_documents(old, new)
        assert result.changes() == [] and not result.worse, result.to_dict()
        failures = [f for s in result.sources for f in s.new_failures + s.still_failing]
        assert [(f.name, f.code) for f in failures] == [
            ("level2.zip ▸ level3.zip ▸ level4.zip ▸ level5.zip", "CONTAINER_TOO_DEEP")]
        assert result.counts()["unchanged"] == len(whole["apps"])


def test_a_place_both_listed_and_skipped_is_not_skipped_now(tmp_path):
    """A Swift Backup ``.dat`` without its ``.app`` is the record of an installed app and, as an
    app data archive, skipped too: a scan diffed with itself (or with its warm rescan) said the
    app was "not scanned now" and worse although the new scan lists it at the same place."""
    swift = Path(__file__).resolve().parents[1] / "fixtures" / "backups" / "swift"
    doc = _scan(tmp_path / "a.json", swift)
    listed = {a["source"]["path"] for a in doc["apps"]}
    skipped = {e for s in doc["skipped"] for e in s["examples"]}
    assert "com.zhiliaoapp.musically.dat" in listed & skipped
    result = diff_documents(doc, doc)
    assert result.changes() == [] and not [f for s in result.sources for f in s.new_failures]
    assert result.counts()["skipped_now"] == 0 and result.exit_code() == 0
    res = _diff(tmp_path, doc, doc)
    assert res.exit_code == 0 and "nothing got worse" in res.output, res.output


def test_apks_of_device_folders_below_one_input_are_one_group_and_the_diff_says_so(tmp_path):
    """Review 69 F1: ``scan fleet/`` (a folder per device): a banned app that moved from Alice's
    folder to Bob's read "unchanged", and the note only counted folders given on the command line."""
    for month, (a, b) in (("jan", (WECHAT, CLEAN)), ("feb", (CLEAN, WECHAT))):
        for dev, apk in (("alice", a), ("bob", b)):
            (tmp_path / month / "fleet" / dev).mkdir(parents=True)
            (tmp_path / month / "fleet" / dev / "base.apk").write_bytes(apk.read_bytes())
    old = _scan(tmp_path / "o.json", tmp_path / "jan" / "fleet")
    new = _scan(tmp_path / "n.json", tmp_path / "feb" / "fleet")
    [note] = [n for n in diff_documents(old, new).notes if n.code == "DIFF_DIRECT_INPUTS_GROUPED"]
    assert "APKs found in 2 folders form one group" in note.message
