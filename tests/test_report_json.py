"""The ``--json`` document against our published schema, and ``apkscan report``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_report_doc import pipeline_document, sample_document, synthetic_document

from apkscan.cli import main
from apkscan.report import formats

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = Path(__file__).resolve().parents[1] / "apkscan" / "report" / "schema" / "scan-result.schema.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_json_output_matches_schema(validator, tmp_path):
    path = tmp_path / "r.json"
    formats.write(sample_document(), "json", str(path))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert list(validator.iter_errors(doc)) == []
    assert doc["schema_version"].startswith("1.")
    assert list(validator.iter_errors(synthetic_document(60))) == []


def test_schema_rejects_what_it_must(validator):
    doc = sample_document()
    bad = copy.deepcopy(doc)
    bad["apps"][0]["verdict"] = "banned"
    assert not validator.is_valid(bad)
    bad = copy.deepcopy(doc)
    del bad["apps"][0]["identity"]["certificates_present"]
    assert not validator.is_valid(bad)
    bad = copy.deepcopy(doc)
    bad["apps"][0]["identity"]["signers"][0]["sha256"] = "not-hex"
    assert not validator.is_valid(bad)
    bad = copy.deepcopy(doc)
    del bad["schema_version"]
    assert not validator.is_valid(bad)


def test_real_identity_matches_schema_when_identify_works(validator):
    """The identity part is ApkIdentity.to_dict(); check it on a real corpus APK."""
    apk = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "apksig" / \
        "golden-aligned-v1v2v3-lineage-out.apk"
    if not apk.is_file():
        pytest.skip("shared corpus absent")
    try:
        from apkscan.apk.identify import identify
    except ImportError as exc:
        pytest.skip(f"apk layer incomplete: {exc}")
    ident = identify(apk).to_dict()
    doc = {"schema_version": "1.0", "errors": [],
           "apps": [{"source": str(apk), "verdict": "allowed", "findings": [], "identity": ident}]}
    assert [e.message for e in validator.iter_errors(doc)] == []


def test_report_command_rerenders_every_format(tmp_path):
    result = tmp_path / "scan.json"
    result.write_text(json.dumps(sample_document(), ensure_ascii=False), encoding="utf-8")
    out = {f: tmp_path / f"out.{f}" for f in ("html", "sarif", "csv", "json")}
    r = CliRunner().invoke(main, ["report", str(result), "--html", str(out["html"]),
                                  "--sarif", str(out["sarif"]), "--csv", str(out["csv"]),
                                  "--json", str(out["json"]), "--no-color"])
    assert r.exit_code == 3, r.output  # its 2 errors: inputs the scan could not read (scan exited 3)
    assert "2 prohibited, 2 to review, 2 allowed, 2 errors" in r.output
    assert "\x1b[" not in r.output
    assert out["html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert json.loads(out["sarif"].read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert json.loads(out["json"].read_text(encoding="utf-8")) == sample_document()
    assert out["csv"].read_bytes().startswith(b"\xef\xbb\xbfverdict,")


def test_report_command_stdout_and_errors(tmp_path):
    result = tmp_path / "scan.json"
    result.write_text(json.dumps(sample_document()), encoding="utf-8")
    r = CliRunner().invoke(main, ["report", str(result), "--sarif", "-", "--quiet"])
    assert r.exit_code == 3  # the document's errors
    assert json.loads(r.stdout)["runs"][0]["results"]
    r = CliRunner().invoke(main, ["report", str(result), "--sarif", "-", "--csv", "-"])
    assert r.exit_code == 2 and "only one format" in r.output
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    r = CliRunner().invoke(main, ["report", str(tmp_path / "bad.json"), "--quiet"])
    assert r.exit_code == 2 and "not a JSON scan result" in r.output
    doc = sample_document()
    doc["schema_version"] = "2.0"
    (tmp_path / "future.json").write_text(json.dumps(doc), encoding="utf-8")
    r = CliRunner().invoke(main, ["report", str(tmp_path / "future.json"), "-q"])
    assert r.exit_code == 2 and "not supported" in r.output


def test_pipeline_document_matches_schema_and_renders(validator):
    """The real ``ScanResult.to_dict()`` (rules, policy, findings) against our schema."""
    doc = pipeline_document()
    assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)] == []
    verdicts = {a["identity"]["label"]: a["verdict"] for a in doc["apps"]}
    assert verdicts["WeChat"] == "prohibited" and verdicts["Firefox"] == "allowed"
    import io

    from apkscan.report import csv_report, html, sarif, terminal
    for render in (html.render, sarif.render, csv_report.render):
        out = io.StringIO()
        render(doc, out)
        assert "WeChat" in out.getvalue()
    out = io.StringIO()
    terminal.render(doc, out)
    assert out.getvalue().splitlines()[-1].endswith(", 1 error")  # not "1 errors"


def test_inputs_lists_each_path_given(tmp_path):
    """Review 19 (info): several paths were one string joined with ", ", ambiguous once a name
    holds ", "; each is now its own entry of the (already array-typed) ``inputs``."""
    import shutil

    from cli_helpers import fixture, invoke

    a, b = tmp_path / "a, b", tmp_path / "c"
    a.mkdir()
    b.mkdir()
    shutil.copyfile(fixture("clean-v1v2v3.apk"), a / "x.apk")
    res = invoke("scan", a, b, "--no-store", "-q", "--json", tmp_path / "r.json")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["inputs"] == [str(a), str(b)]


@pytest.mark.parametrize("errors, interrupted, fail_on, code", [
    (False, False, "never", 0), (True, False, "never", 3), (False, True, "never", 130), (True, True, "never", 130),
    (True, False, "prohibited", 1), (True, True, "prohibited", 130), (False, False, "prohibited", 1),
])
def test_report_exits_as_the_scan_of_its_document_did(tmp_path, errors, interrupted, fail_on, code):
    """A pipeline gating on ``report --fail-on`` must not read 0 ("every input scanned") from a
    document whose scan failed inputs (3) or was interrupted (130) (review 82 F2); precedence as scan's."""
    doc = sample_document()
    doc["interrupted"] = interrupted
    if not errors:
        doc["errors"] = []
    doc.pop("counts", None)
    (tmp_path / "scan.json").write_text(json.dumps(doc), encoding="utf-8")
    r = CliRunner().invoke(main, ["report", str(tmp_path / "scan.json"), "--quiet", "--fail-on", fail_on])
    assert r.exit_code == code, r.output
