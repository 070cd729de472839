"""Rule files: shipped packs are complete and cited; bad files fail with file, line, reason;
STIX2 indicators load and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apkscan.rules.loader import RulesInvalid, builtin_files, lint_file, load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.selftest import build_identity, example_certificate, run_examples
from apkscan.rules.stix import export_stix, load_stix

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"


def _reference() -> dict:
    ref = SHARED / "reference" / "vendor-identities.json"
    if not ref.exists():
        pytest.skip("../shared/reference absent")
    return json.loads(ref.read_text())


def test_shipped_packs_load_and_have_review_dates():
    names = {p.name for p in builtin_files()}
    assert {"tencent.yaml", "bytedance.yaml", "kaspersky.yaml"} <= names
    rules = load_ruleset()
    assert {p.vendor for p in rules.packs} == {"Tencent", "ByteDance", "Kaspersky"}
    for pack in rules.packs:
        assert len(pack.reviewed) == 10 and pack.version


def test_every_reference_fact_is_in_the_packs():
    ref = _reference()
    rules = load_ruleset()
    packages = {p for r in rules.rules for p in r.packages}
    assert {p["package"] for p in ref["packages"]} <= packages
    certs = {c.md5: c for p in rules.packs for c in p.certificates.values()}
    for c in list(ref["certificates"].values()) + list(ref["md5_only_certificates"].values()):
        assert c["md5"] in certs, c["id"]
        assert certs[c["md5"]].confidence == c["confidence"]
        if "sha256" in c:
            assert certs[c["md5"]].sha256 == c["sha256"]


def test_every_reference_key_is_cited_in_sources():
    for f in builtin_files():
        pack, errors = lint_file(f)
        assert not errors
        cited = {ref for r in pack.rules for ref in r.references}
        cited |= {ref for c in pack.certificates.values() for ref in c.references}
        cited |= {ref for p in pack.publishers for ref in p.references}
        assert cited <= set(pack.sources), cited - set(pack.sources)
        assert all(r.references for r in pack.rules)


def test_kaspresso_trap_is_excluded():
    rule = load_ruleset().rule("kaspersky.sdk.components")
    assert rule and "com.kaspersky.components.kautomator." in rule.dex_exclude


def test_shipped_examples_pass():
    results = run_examples(load_ruleset())
    assert len(results) >= 10
    assert all(r.passed for r in results), [r for r in results if not r.passed]


def _lint(tmp_path: Path, text: str):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    return lint_file(f)


GOOD_HEAD = 'schema: apkscan-rules/1\npack: t\nvendor: T\nversion: "1"\nreviewed: "2026-01-01"\n'


@pytest.mark.parametrize("body, line, words", [
    ("rules:\n  - id: a\n    app: A\n    match: {package: [x]}\n    references: [r]\n    bogus: 1\n", 11, "bogus"),
    ("rules:\n  - id: a\n    app: A\n    match:\n      certificates: [{sha256: 'zz'}]\n    references: [r]\n", 10, "sha256"),
    ("rules:\n  - id: a\n    app: A\n    match: {package_regex: ['(unclosed']}\n    references: [r]\n", 9, "regular expression"),
    ("rules:\n  - id: a\n    app: A\n    match: {certificates: [NOPE]}\n    references: [r]\n", 9, "unknown certificate"),
    ("rules:\n  - id: a\n    app: A\n    match: {package: [x]}\n", 7, "references"),
    ("rules:\n  - id: a\n    app: [unclosed\n", 9, "YAML syntax"),
])
def test_bad_file_reports_file_line_reason(tmp_path, body, line, words):
    pack, errors = _lint(tmp_path, GOOD_HEAD + body)
    assert pack is None and errors
    err = errors[0]
    assert err.file.endswith("bad.yaml")
    assert err.line == line, err.message
    assert words in err.message
    assert f"bad.yaml:{line}:" in err.message


def test_duplicate_rule_ids_across_files_rejected(tmp_path):
    body = GOOD_HEAD + "rules:\n  - id: tencent.wechat\n    app: X\n    match: {package: [x]}\n    references: [r]\n"
    (tmp_path / "dup.yaml").write_text(body)
    with pytest.raises(RulesInvalid) as exc:
        load_ruleset([tmp_path])
    assert "tencent.wechat" in str(exc.value) and "dup.yaml:7" in str(exc.value)


MVT_STIX = {
    "type": "bundle", "id": "bundle--1", "objects": [
        {"type": "malware", "id": "malware--a", "name": "Bad Spy", "is_family": False},
        {"type": "indicator", "id": "indicator--1", "pattern": "[app:id='com.bad.spy']", "pattern_type": "stix"},
        {"type": "indicator", "id": "indicator--2", "pattern_type": "stix",
         "pattern": "[app:cert.sha256 = '%s']"},
        {"type": "indicator", "id": "indicator--3", "pattern": "[domain-name:value='evil.example']", "pattern_type": "stix"},
        {"type": "relationship", "id": "relationship--1", "relationship_type": "indicates",
         "source_ref": "indicator--1", "target_ref": "malware--a"},
        {"type": "relationship", "id": "relationship--2", "relationship_type": "indicates",
         "source_ref": "indicator--2", "target_ref": "malware--a"},
    ]}


def test_stix_indicators_become_rules(tmp_path):
    digest = "ab" * 32
    bundle = json.loads(json.dumps(MVT_STIX).replace("%s", digest))
    f = tmp_path / "spy.stix2"
    f.write_text(json.dumps(bundle))
    rules = load_ruleset(builtin=False, iocs=[f])
    (rule,) = rules.rules
    assert rule.app == "Bad Spy" and rule.packages == ["com.bad.spy"]
    signer = example_certificate({"sha256": digest})
    findings = match_identity(build_identity("com.renamed", signers=[signer]), rules)
    assert [(f.kind, f.strength, f.vendor) for f in findings] == [("app", "confirmed", "IOC spy")]


def test_stix_indicator_of_two_malware_objects_is_filed_under_the_first_as_mvt_does(tmp_path):
    """MVT's ``parse_stix2`` stops at an indicator's first ``indicates`` relationship (review 82 F4:
    the last one won here, so a Pegasus indicator read as "Harmless Tracker")."""
    bundle = {"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "malware", "id": "malware--a", "name": "Pegasus", "is_family": False},
        {"type": "malware", "id": "malware--b", "name": "Harmless Tracker", "is_family": False},
        {"type": "indicator", "id": "indicator--1", "pattern": "[app:id = 'com.bad.spy']", "pattern_type": "stix"},
        *({"type": "relationship", "id": f"relationship--{n}", "relationship_type": "indicates",
           "source_ref": "indicator--1", "target_ref": f"malware--{m}"} for n, m in ((1, "a"), (2, "b")))]}
    f = tmp_path / "multi.stix2"
    f.write_text(json.dumps(bundle))
    (rule,) = load_ruleset(builtin=False, iocs=[f]).rules
    assert rule.app == "Pegasus" and rule.packages == ["com.bad.spy"]


def test_stix_bad_file(tmp_path):
    f = tmp_path / "bad.stix2"
    f.write_text("{not json")
    with pytest.raises(RulesInvalid):
        load_ruleset(builtin=False, iocs=[f])


def test_stix_export_roundtrip(tmp_path):
    rules = load_ruleset()
    bundle = export_stix(rules)
    patterns = {o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert "[app:id = 'com.tencent.mm']" in patterns
    assert "[app:cert.sha256 = '0fe4ff85c215918396dadc7cd8ce6963339af33d37751a56e54c7206b63a3c7c']" in patterns
    f = tmp_path / "out.json"
    f.write_text(json.dumps(bundle))
    back = load_stix(f)
    wechat = next(r for r in back.rules if r.packages == ["com.tencent.mm"])
    assert wechat.certificates[0].cert.sha256.startswith("0fe4ff85")


def test_schema_is_published_json():
    schema = json.loads((REPO / "apkscan" / "rules" / "schema.json").read_text())
    assert schema["properties"]["schema"]["const"] == "apkscan-rules/1"


def test_every_package_is_in_the_wheel_list():
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "apkscan").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject [tool.setuptools] packages: {sorted(found - listed)}"
    assert "apkscan.signatures" in listed


def test_dex_type_table_reader():
    from apkscan.rules.dex import dex_class_names, parse_types

    with pytest.raises(ValueError):
        parse_types(b"not a dex file at all" * 8)
    apk = SHARED / "corpus" / "androguard" / "APK" / "a2dp.Vol_137.apk"
    if not apk.exists():
        pytest.skip("corpus APK absent")
    names, issues = dex_class_names(str(apk))
    assert "a2dp.Vol.ALauncher" in names and "android.app.Activity" in names and issues == []
    names, issues = dex_class_names(str(REPO / "pyproject.toml"))  # not a ZIP: a warning, no exception
    assert names == set() and issues and issues[0].code.startswith("ZIP_")
