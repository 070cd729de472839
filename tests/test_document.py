"""``ScanDocument``: real scan outputs go through ``from_dict`` and come back byte for byte.

Every fixture family is scanned for real (signed APKs, the adversarial and hostile corpora,
containers, device backups, several policies, ``--quick``), and for each document
``to_dict(from_dict(d))`` dumps to exactly the bytes ``--json`` wrote. Every key the scan
writes is a declared field (nothing lands in a record's unknown-key store), so the typed
model is a full description of the document, not a partial one that happens to round-trip.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest
from cli_helpers import FIXTURES, invoke
from conftest import as_schema_1_1

from apkscan.document import DocumentError, ScanDocument
from apkscan.document.codec import Record
from apkscan.report import csv_report, html, sarif, terminal

SCANS = {  # name -> scan arguments: fixture paths (relative to fixtures/) and options
    "apks": ["apks"],
    "adversarial": ["adversarial"],
    "hostile": ["hostile/cases"],
    "containers": ["containers"],
    "backups": ["backups"],
    "multi-policy": ["apks", "containers/wechat-sai.apks", "--policy", "canada-tbs-2023",
                     "--policy", "us-dhs-bod-17-01"],
    "quick": ["apks", "--quick", "--hashes", "sha1,md5"],
}
OPTION_VALUES = {"canada-tbs-2023", "us-dhs-bod-17-01", "sha1,md5"}


@pytest.fixture(scope="module", params=sorted(SCANS))
def scanned(request, tmp_path_factory) -> tuple[str, str]:
    """(name, the exact text ``apkscan scan --json`` wrote)."""
    from click.testing import CliRunner

    from apkscan.cli import main

    args = [a if a.startswith("-") or a in OPTION_VALUES else str(FIXTURES / a) for a in SCANS[request.param]]
    if not (FIXTURES / SCANS[request.param][0]).exists():
        pytest.skip("fixtures not generated")
    out = tmp_path_factory.mktemp("doc") / f"{request.param}.json"
    res = CliRunner().invoke(main, ["scan", *args, "--json", str(out), "--quiet"],
                             env={"APKSCAN_BACKUP_PASSWORD": "apkscan-test"})  # the backup fixtures' password
    assert res.exit_code in (0, 1, 3), res.output
    return request.param, out.read_text(encoding="utf-8")


def _dump(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"  # as the json format writes


def _unknown_keys(record, path="") -> list[str]:
    """Keys of the document no record declares (a later minor version's, or a typo'd model)."""
    out = []
    if isinstance(record, Record):
        out += [f"{path}/{k}" for k in record._extra]
        for f in dataclasses.fields(record):
            if not f.name.startswith("_"):
                out += _unknown_keys(getattr(record, f.name), f"{path}/{f.name}")
    elif isinstance(record, tuple):
        for i, x in enumerate(record):
            out += _unknown_keys(x, f"{path}/{i}")
    elif hasattr(record, "items") and not isinstance(record, dict):  # a typed object (read-only mapping)
        for k, x in record.items():
            out += _unknown_keys(x, f"{path}/{k}")
    return out


def test_real_scan_documents_round_trip_byte_for_byte(scanned):
    name, text = scanned
    raw = json.loads(text)
    doc = ScanDocument.from_dict(raw)
    assert _dump(doc.to_dict()) == text
    assert doc.to_dict() == raw
    streamed = io.StringIO()
    doc.write_json(streamed)  # what the json format writes, one app at a time
    assert streamed.getvalue() == text
    assert _unknown_keys(doc) == []
    assert len(doc.apps) + len(doc.errors) > 0, name


def test_real_documents_render_the_same_typed_or_as_json(scanned):
    """The renderers take the typed document or its JSON (checked first): the same bytes."""
    _, text = scanned
    raw = json.loads(text)
    doc = ScanDocument.from_dict(raw)
    for render in (html.render, sarif.render, csv_report.render, terminal.render):
        typed, loaded = _render(render, doc), _render(render, raw)
        assert typed == loaded and typed


def _render(render, doc) -> str:
    out = io.StringIO()
    render(doc, out)
    return out.getvalue()


def test_typed_fields_carry_what_the_scan_found(scanned):
    """Attribute access reads the same values the JSON holds (spot checks on every app)."""
    _, text = scanned
    raw = json.loads(text)
    doc = ScanDocument.from_dict(raw)
    for a, r in zip(doc.apps, raw["apps"], strict=True):
        assert a.verdict == r["verdict"] and a.package == r["package"]
        assert [c.sha256 for c in a.identity.signers] == [c["sha256"] for c in r["identity"]["signers"]]
        assert {n: d.verdict for n, d in a.verdicts.items()} == {n: d["verdict"] for n, d in r["verdicts"].items()}
        assert a.where.chain == tuple(r["source"]["chain"])
    assert [e.code for e in doc.errors] == [e["code"] for e in raw["errors"]]


def test_older_minor_versions_still_load_and_round_trip():
    """1.0 (string sources, policy text, evidence as an object) and 1.1 (no policies/verdicts)."""
    from test_report_doc import pipeline_document, sample_document

    old = sample_document()
    old["apps"][0]["findings"][0]["evidence"] = {"package": "com.tencent.mm"}  # 1.0 evidence form
    doc = ScanDocument.from_dict(old)
    assert doc.to_dict() == old and doc.apps[0].where.path == "apps/com.tencent.mm/base.apk"
    assert doc.policy_names() == ["corporate-ban"]
    v11 = as_schema_1_1(pipeline_document())
    doc = ScanDocument.from_dict(v11)
    assert doc.to_dict() == v11 and doc.policies == () and doc.apps[0].verdicts == {}
    assert doc.apps[0].verdict_names(doc.first_policy()) == {"canada-tbs-2023": doc.apps[0].verdict}


def test_a_later_minor_version_keeps_unknown_fields_in_place():
    """1.x readers ignore fields they do not know, and writing the document back keeps them."""
    from test_report_doc import pipeline_document

    later = pipeline_document()
    later["schema_version"] = "1.9"
    later = {"new_top": {"x": [1]}, **later}
    later["apps"][0] = {**later["apps"][0], "risk_score": 7}
    doc = ScanDocument.from_dict(later)
    assert _dump(doc.to_dict()) == _dump(later)
    assert _unknown_keys(doc) == ["/new_top", "/apps/0/risk_score"]


def test_the_future_major_version_is_refused():
    from test_report_doc import pipeline_document

    doc = pipeline_document()
    doc["schema_version"] = "2.0"
    with pytest.raises(DocumentError) as err:
        ScanDocument.from_dict(doc)
    assert err.value.code == "DOCUMENT_VERSION_UNSUPPORTED" and "2.0" in str(err.value)


def test_records_are_frozen():
    from test_report_doc import pipeline_document

    doc = ScanDocument.from_dict(pipeline_document())
    with pytest.raises(dataclasses.FrozenInstanceError):
        doc.apps[0].verdict = "allowed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        doc.apps[0].verdicts["x"] = None  # type: ignore[index]


def test_report_json_rewrites_the_document_unchanged(scanned, tmp_path):
    """``apkscan report DOC --json OUT`` goes through the typed document: OUT is DOC, byte for byte."""
    _, text = scanned
    src = tmp_path / "in.json"
    src.write_text(text, encoding="utf-8")
    res = invoke("report", src, "--json", tmp_path / "out.json", "--quiet")
    assert res.exit_code == (3 if json.loads(text)["errors"] else 0), res.output  # as the scan exited (--fail-on never)
    assert (tmp_path / "out.json").read_text(encoding="utf-8") == text
    assert Path(src).read_text(encoding="utf-8") == text


def test_the_typed_model_and_the_json_schema_agree():
    """Two descriptions of one document must not drift: for every record with a schema
    definition, the same required fields, and every property the schema names is a declared field."""
    from apkscan.document import identity as ident
    from apkscan.document import scan_document as sd

    schema = json.loads((Path(__file__).resolve().parents[1] / "apkscan" / "report" / "schema"
                         / "scan-result.schema.json").read_text(encoding="utf-8"))
    defs = schema["$defs"]
    top = schema["properties"]
    pairs = {ident.Issue: defs["issue"], ident.Certificate: defs["certificate"], ident.Signer: defs["signer"],
             ident.LineageNode: defs["lineage_node"], ident.Scheme: defs["scheme"], ident.Identity: defs["identity"],
             sd.Finding: defs["finding"], sd.Split: defs["split"], sd.App: defs["app"],
             sd.InputError: defs["input_error"], sd.VerdictEntry: defs["policy_verdict"], sd.ScanDocument: schema,
             sd.InputFile: top["input_files"]["items"], sd.Skipped: top["skipped"]["items"]}
    for cls, spec in pairs.items():
        declared = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
        required = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")
                    and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        assert required == set(spec.get("required", ())), cls.__name__
        assert set(spec.get("properties", {})) <= declared, (cls.__name__, set(spec["properties"]) - declared)
