"""Review 86 F1: with several ``--policy`` the JSON ``counts`` and the CSV ``verdict`` column were
the first policy's, so a pipeline gating on ``.counts.prohibited`` or on the CSV's first column
passed a Kaspersky app the Canada TBS policy prohibits while the exit code was 1.

Real bytes through the real CLI (``fixtures/apks``). The oracles are independent of the new
code: the exit code, and scans with each policy alone (an app's most severe verdict is the most
severe of what each policy, run alone, decides).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from cli_helpers import APKS, fixture, invoke, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apkscan.cli.report_cmd import schema_problems
from apkscan.document import DocumentError, ScanDocument
from apkscan.policy.multi import FailOn
from apkscan.report import csv_report

EU, TBS = "eu-commission-tiktok-2023", "canada-tbs-2023"  # EU allows the Kaspersky app, TBS prohibits it
KASPERSKY = "kaspersky-subject-notes.apk"
RANK = {"allowed": 1, "review": 2, "prohibited": 3}


def _scan(out: Path, *paths, policies=(EU, TBS), extra=()):
    """``apkscan scan`` as a process, every format written; (exit code, stdout, JSON document)."""
    pol = [x for p in policies for x in ("--policy", p)]
    res = run("scan", *paths, "--no-store", "--jobs", "1", "--no-color", *pol, *extra, "--json", out / "r.json",
              "--csv", out / "r.csv", "--sarif", out / "r.sarif", "--html", out / "r.html")
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, res.stdout, json.loads((out / "r.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    out = tmp_path_factory.mktemp("two")
    rc, text, doc = _scan(out, fixture(KASPERSKY))
    return {"rc": rc, "text": text, "doc": doc, "dir": out}


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))


def test_json_counts_and_verdict_worst_agree_with_the_exit_code(two):
    doc, (app,) = two["doc"], two["doc"]["apps"]
    assert two["rc"] == 1  # canada-tbs-2023 prohibits it: --fail-on prohibited (any policy) fails the run
    assert {p: e["verdict"] for p, e in app["verdicts"].items()} == {EU: "allowed", TBS: "prohibited"}
    assert app["verdict"] == "allowed"  # the first policy's, as documented (and its `policy` decision)
    assert app["verdict_worst"] == "prohibited"
    assert {k: doc["counts"][k] for k in RANK} == {"prohibited": 1, "review": 0, "allowed": 0}  # was 0/0/1
    assert doc["counts_by_policy"] == {EU: {"prohibited": 0, "review": 0, "allowed": 1},
                                       TBS: {"prohibited": 1, "review": 0, "allowed": 0}}
    assert doc["schema_version"] == "1.3" and schema_problems(doc) == []


def test_csv_verdict_is_the_most_severe_with_the_decision_that_gave_it(two):
    (row,) = [r for r in _rows(two["dir"] / "r.csv") if r["verdict"] not in ("input", "skipped")]
    assert row["verdict"] == "prohibited"  # the first column a sheet or `csvgrep` filters on (was "allowed")
    assert (row[f"verdict:{EU}"], row[f"verdict:{TBS}"]) == ("allowed", "prohibited")
    assert row["policy_decision"].startswith(f"{TBS} / ") and row["policy_url"].startswith("https://")
    header = next(csv.reader(io.StringIO((two["dir"] / "r.csv").read_text("utf-8-sig"))))
    assert header[:len(csv_report.COLUMNS)] == csv_report.COLUMNS  # no column moved


def test_sarif_html_and_terminal_count_the_app_as_prohibited(two):
    results = json.loads((two["dir"] / "r.sarif").read_text("utf-8"))["runs"][0]["results"]
    assert results and {(r["level"], r["properties"]["verdict"], r["properties"]["verdictWorst"])
                        for r in results} == {("error", "allowed", "prohibited")}
    page = (two["dir"] / "r.html").read_text("utf-8")
    assert "<title>apkscan report: 1 prohibited, 0 to review</title>" in page
    tile = re.search(r'data-filter="prohibited"><span class="n">(\d+)</span> prohibited', page)
    assert tile and tile.group(1) == "1"  # the tile read the first policy's 0
    assert "most severe verdict over the 2 policies" in page
    text = two["text"]
    assert f"  {EU}: 0 prohibited, 0 to review, 1 allowed" in text
    assert f"  {TBS}: 1 prohibited, 0 to review, 0 allowed" in text
    assert "  most severe of each app: 1 prohibited, 0 to review, 0 allowed" in text


def test_over_every_fixture_the_counts_are_the_single_policy_scans_most_severe(tmp_path):
    """The oracle: each policy alone. Per app, ``verdict_worst`` and the CSV verdict are the most
    severe of the two lone verdicts, ``counts`` their tally, ``counts_by_policy`` each lone run's counts."""
    runs = {}
    for name, policies in (("both", (EU, TBS)), ("eu", (EU,)), ("tbs", (TBS,))):
        (tmp_path / name).mkdir()
        runs[name] = _scan(tmp_path / name, APKS, policies=policies, extra=("--fail-on", "never"))[2]
    both = runs["both"]
    alone = {p: {a["source"]["path"]: a["verdict"] for a in runs[k]["apps"]} for p, k in ((EU, "eu"), (TBS, "tbs"))}
    worst = {path: max((alone[EU][path], alone[TBS][path]), key=RANK.get) for path in alone[EU]}
    assert {a["source"]["path"]: a["verdict_worst"] for a in both["apps"]} == worst
    assert sum(v == "prohibited" for v in worst.values()) > sum(v == "prohibited" for v in alone[EU].values())
    assert {k: both["counts"][k] for k in RANK} == {v: list(worst.values()).count(v) for v in RANK}
    for p, k in ((EU, "eu"), (TBS, "tbs")):
        assert both["counts_by_policy"][p] == {v: runs[k]["counts"][v] for v in ("prohibited", "review", "allowed")}
        assert runs[k]["counts_by_policy"] == {p: both["counts_by_policy"][p]}  # one policy: one entry
        assert all(a["verdict_worst"] == a["verdict"] for a in runs[k]["apps"])
    rows = {r["source"]: r["verdict"] for r in _rows(tmp_path / "both" / "r.csv") if r["source"] in worst}
    assert rows == worst


def _write(tmp_path: Path, doc: dict, name: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("stated", ["allowed", "review", None])
def test_report_and_diff_refuse_a_verdict_worst_its_verdicts_contradict(two, tmp_path, stated):
    doc = json.loads(json.dumps(two["doc"]))
    doc["apps"][0]["verdict_worst"] = stated
    edited = _write(tmp_path, doc, "edited.json")
    res = run("report", edited, "--fail-on", "prohibited", "--csv", tmp_path / "r.csv")
    assert res.returncode == 2 and "DOCUMENT_MALFORMED: apps/0/verdict_worst:" in res.stderr, res.stderr
    assert not (tmp_path / "r.csv").exists()
    res = run("diff", two["dir"] / "r.json", edited)
    assert res.returncode == 2 and "DOCUMENT_MALFORMED" in res.stderr, res.stderr


def test_forged_counts_by_policy_and_counts_are_recomputed(two, tmp_path):
    doc = json.loads(json.dumps(two["doc"]))
    doc["counts"].update(prohibited=0, allowed=1)
    doc["counts_by_policy"] = {EU: {"prohibited": 0, "review": 0, "allowed": 1}, "other": {"prohibited": 5, "review": 0, "allowed": 0}}
    res = run("report", _write(tmp_path, doc, "forged.json"), "--fail-on", "prohibited", "--json", tmp_path / "r.json")
    assert res.returncode == 1, res.stderr
    written = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert written["counts"] == two["doc"]["counts"] and written["counts_by_policy"] == two["doc"]["counts_by_policy"]


def test_a_document_from_before_1_3_is_counted_by_the_most_severe_verdict(two, tmp_path):
    """A 1.2 document (first-policy counts, no verdict_worst, no counts_by_policy): read, it counts
    and gates as the scan of today does; written back, it is the 1.3 document those counts mean,
    with the 1.3 fields computed from its verdicts (review 89: it said 1.2 over 1.3's counts)."""
    doc = json.loads(json.dumps(two["doc"]))
    doc["schema_version"] = "1.2"
    del doc["counts_by_policy"], doc["apps"][0]["verdict_worst"]
    doc["counts"].update(prohibited=0, allowed=1)  # what 1.2 wrote
    old = _write(tmp_path, doc, "old.json")
    res = run("report", old, "--fail-on", "prohibited", "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv")
    assert res.returncode == 1 and "most severe of each app: 1 prohibited" in res.stdout, res.stdout + res.stderr
    written = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert written["counts"]["prohibited"] == 1 and written["schema_version"] == "1.3"
    assert written["counts_by_policy"] == two["doc"]["counts_by_policy"]
    assert written["apps"][0]["verdict_worst"] == "prohibited"
    assert [r["verdict"] for r in _rows(tmp_path / "r.csv") if r["verdict"] not in ("input", "skipped")] == ["prohibited"]


VERDICT = st.sampled_from(list(RANK))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(eu=VERDICT, tbs=VERDICT, worst=st.none() | VERDICT, keep_worst=st.booleans(),
       forged=st.dictionaries(st.sampled_from(list(RANK)), st.integers(0, 9)))
def test_an_edited_document_never_shows_counts_its_exit_code_contradicts(two, eu, tbs, worst, keep_worst, forged):
    """Any verdicts, any stated ``verdict_worst`` (or none), any forged counts: the document is
    refused naming the app, or every count and the CSV verdict agree with what ``--fail-on`` reads."""
    doc = json.loads(json.dumps(two["doc"]))
    app = doc["apps"][0]
    app["verdicts"][EU]["verdict"], app["verdicts"][TBS]["verdict"] = eu, tbs
    app["verdict"] = eu
    if app["policy"]:
        app["policy"]["verdict"] = eu
    if keep_worst:
        app["verdict_worst"] = worst
    else:
        del app["verdict_worst"]
    doc["counts"].update(forged)
    try:
        typed = ScanDocument.from_dict(doc)
    except DocumentError as exc:
        assert exc.code == "DOCUMENT_MALFORMED" and list(exc.path[:2]) == ["apps", "0"], exc
        return
    verdicts = typed.apps[0].verdict_names(typed.first_policy())
    for level in ("prohibited", "review"):  # report's --fail-on, as report_cmd reads it
        fails = FailOn(level).flags(verdicts)
        counted = sum(typed.counts[v] for v in RANK if RANK[v] >= RANK[level])
        assert fails == (counted > 0), (level, verdicts, typed.counts)
        for name in (EU, TBS):
            by = typed.counts_by_policy[name]
            assert FailOn(level, name).flags(verdicts) == (sum(by[v] for v in RANK if RANK[v] >= RANK[level]) > 0)
    out = io.StringIO()
    csv_report.render(typed, out)
    (row,) = [r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["verdict"] not in ("input", "skipped")]
    assert row["verdict"] == max(verdicts.values(), key=RANK.get)


def test_report_of_the_document_exits_as_its_counts_say(two, tmp_path):
    """The gate on the saved document and the counts in it agree (``report --fail-on``)."""
    saved = two["dir"] / "r.json"
    assert invoke("report", saved, "-q", "--fail-on", "prohibited").exit_code == 1
    assert invoke("report", saved, "-q", "--fail-on", f"{EU}:prohibited").exit_code == 0
    assert two["doc"]["counts_by_policy"][EU]["prohibited"] == 0
