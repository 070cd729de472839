"""MVT indicator files as an adversary or a careless feed writes them (review 38).

An indicator certificate that sits in an APK without being its verified signer must leave a
trace (forged or planted, weak), as the shipped packs' certificates do; a STIX property of
the wrong JSON type must never crash the scan; a malformed digest is one indicator left out,
not the whole feed refused.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.apk.identify import identify
from apkscan.cli import main
from apkscan.rules.certview import CertView

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
TEST_RSA = json.loads((APKS / "index.json").read_text())["keys"]["test-rsa"]["cert_sha256"]


def _bundle(*indicators: tuple, malware: dict | None = None, relationship: dict | None = None) -> dict:
    """``indicators``: (id, pattern) pairs, each tied to one malware object."""
    mal = {"type": "malware", "id": "malware--1", "name": "spy", **(malware or {})}
    objects: list[dict] = [mal]
    for i, (ind_id, pattern) in enumerate(indicators):
        objects.append({"type": "indicator", "id": ind_id, "pattern": pattern})
        objects.append({"type": "relationship", "id": f"relationship--{i}", "relationship_type": "indicates",
                        "source_ref": ind_id, "target_ref": "malware--1", **(relationship or {})})
    return {"type": "bundle", "id": "bundle--1", "objects": objects}


def _scan(tmp_path: Path, bundle: dict, apk: Path, *extra: str) -> tuple[int, str, dict | None]:
    feed = tmp_path / "feed.stix2"
    feed.write_text(json.dumps(bundle), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="apkscan-out-") as folder:
        out = Path(folder) / "out.json"
        res = CliRunner().invoke(main, ["scan", "--no-store", "-q", "--no-builtin-rules", "--iocs", str(feed),
                                        "--json", str(out), *extra, str(apk)])
        doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return res.exit_code, res.stderr + (repr(res.exception) if res.exception and res.exit_code not in (0, 1, 2, 3)
                                        else ""), doc


def _present(apk: Path) -> list[str]:
    return [s.certificate.sha256 for s in CertView.of(identify(apk)).present]


@pytest.mark.parametrize("apk, kind", [
    (APKS / "tampered-entry.apk", "forged-certificate"),  # its signer's signature does not verify
    (REPO / "fixtures" / "adversarial" / "wechat-cert-planted.apk", "planted-certificate"),  # rides along
])
def test_an_indicator_certificate_present_but_not_verified_is_a_weak_finding(tmp_path, apk, kind):
    present = _present(apk)
    assert present, "the fixture must carry a certificate that is no verified signer"
    if kind == "forged-certificate":
        assert TEST_RSA in present
    digest = present[0]
    code, err, doc = _scan(tmp_path, _bundle(("indicator--1", f"[app:cert.sha256 = '{digest}']")), apk)
    assert code in (0, 1), err
    (app,) = doc["apps"]
    (finding,) = app["findings"]  # before: none at all (allowed), where --quick said weak
    assert finding["rule"] == f"ioc.feed.{kind}" and finding["kind"] == kind
    assert finding["strength"] == "weak"
    assert [e["basis"] for e in finding["evidence"]] == ["certificate-present"]
    assert app["verdict"] != "allowed"


def test_quick_and_full_scans_agree_that_the_certificate_is_there(tmp_path):
    apk = APKS / "tampered-entry.apk"
    bundle = _bundle(("indicator--1", f"[app:cert.sha256 = '{TEST_RSA}']"))
    strengths = []
    for extra in ((), ("--quick",)):
        code, err, doc = _scan(tmp_path, bundle, apk, *extra)
        assert code in (0, 1), err
        strengths.append([f["strength"] for f in doc["apps"][0]["findings"]])
    assert strengths == [["weak"], ["weak"]]


def test_a_verified_indicator_signer_is_still_confirmed(tmp_path):
    apk = APKS / "clean-v1v2v3.apk"  # signed by test-rsa, verifies
    code, err, doc = _scan(tmp_path, _bundle(("indicator--1", f"[app:cert.sha256 = '{TEST_RSA.upper()}']")), apk)
    assert code in (0, 1), err
    assert [(f["kind"], f["strength"]) for f in doc["apps"][0]["findings"]] == [("app", "confirmed")]


HOSTILE = [
    pytest.param({"malware": {"id": ["malware--1"]}}, id="malware-id-list"),
    pytest.param({"relationship": {"target_ref": ["malware--1"]}}, id="target-ref-list"),
    pytest.param({"relationship": {"source_ref": {"x": 1}}}, id="source-ref-object"),
    pytest.param({"malware": {"name": {"en": "spy"}}}, id="name-object"),
    pytest.param({"malware": {"description": ["a", "b"]}}, id="description-list"),
    pytest.param({"malware": {"name": 7}}, id="name-number"),
]


@pytest.mark.parametrize("shape", HOSTILE)
def test_stix_values_of_the_wrong_type_never_crash_the_scan(tmp_path, shape):
    apk = APKS / "clean-v1v2v3.apk"
    bundle = _bundle(("indicator--1", "[app:id = 'com.example.clean']"), **shape)
    code, err, doc = _scan(tmp_path, bundle, apk)
    assert code in (0, 1) and "Traceback" not in err and doc is not None, err  # before: TypeError, exit 1
    (app,) = doc["apps"]
    assert [f["kind"] for f in app["findings"]] == ["app"]  # the indicator itself still counts


def test_an_indicator_id_of_the_wrong_type_is_an_ungrouped_indicator(tmp_path):
    apk = APKS / "clean-v1v2v3.apk"
    code, err, doc = _scan(tmp_path, _bundle((["indicator--1"], "[app:id = 'com.example.clean']")), apk)
    assert code in (0, 1), err
    assert [f["rule"] for f in doc["apps"][0]["findings"]] == ["ioc.feed.indicators"]


def test_a_malformed_digest_is_one_indicator_left_out_not_the_feed(tmp_path):
    apk = APKS / "clean-v1v2v3.apk"
    dashed = "-".join(TEST_RSA[i:i + 2] for i in range(0, 64, 2))
    bundle = _bundle(("indicator--1", "[app:cert.sha256 = 'abcd']"),
                     ("indicator--2", "[app:cert.sha1 = '" + "g" * 40 + "']"),
                     ("indicator--3", f"[app:cert.sha256 = '{dashed}']"))
    code, err, doc = _scan(tmp_path, bundle, apk)
    assert code in (0, 1), err  # before: exit 2, nothing scanned
    assert "RULES_IOC_SKIPPED" in err and "2 indicators left out" in err and "'abcd'" in err
    assert [(f["kind"], f["strength"]) for f in doc["apps"][0]["findings"]] == [("app", "confirmed")]


def test_a_feed_of_malformed_digests_only_is_still_refused(tmp_path):
    code, err, _doc = _scan(tmp_path, _bundle(("indicator--1", "[app:cert.md5 = 'xyz']")), APKS / "clean-v1v2v3.apk")
    assert code == 2 and "no indicator apkscan can match" in err and "1 indicator left out" in err


# --- how MVT reads a feed: packages case-insensitively and stripped, its pattern spellings -----

@pytest.fixture(scope="module")
def mixed_case(tmp_path_factory) -> dict[str, Path]:
    from test_policy_resolution import signed_apk

    d = tmp_path_factory.mktemp("mixed")
    return {"upper": signed_apk(d / "upper.apk", "com.wSpyEra", "Spy", "test-rsa"),
            "lower": signed_apk(d / "lower.apk", "com.wspyera", "Spy", "test-rsa")}


def _bases(doc: dict) -> list[tuple[str, list[str]]]:
    return [(f["rule"], [e["basis"] for e in f["evidence"]]) for f in doc["apps"][0]["findings"]]


@pytest.mark.parametrize("indicator, apk, basis", [
    ("com.wSpyEra", "upper", "package"),  # as written: the package itself
    ("com.wSpyEra", "lower", "package-lookalike"),  # before: allowed (MVT flags it: it folds case)
    ("com.wspyera", "upper", "package-lookalike"),
    (" com.wSpyEra ", "upper", "package"),  # MVT strips the value
    ("COM.WSPYERA", "lower", "package-lookalike"),
])
def test_an_indicator_package_matches_its_case_variants_as_lookalikes(tmp_path, mixed_case, indicator, apk, basis):
    code, err, doc = _scan(tmp_path, _bundle(("indicator--1", f"[app:id = '{indicator}']")), mixed_case[apk])
    assert code in (0, 1), err
    assert _bases(doc) == [("ioc.feed.spy", [basis])]
    assert doc["apps"][0]["verdict"] != "allowed"


@pytest.mark.parametrize("pattern", [
    "[app:cert.'SHA-256' = '{d}']",  # the STIX 2.1 spelling
    "[app:cert.sha-256 = '{d}']",
    "[app:cert.SHA256='{d}']",
    "[app:cert.sha256 = {d}]",  # unquoted
    "app:cert.sha256 = '{d}'",  # no brackets
])
def test_pattern_spellings_mvt_reads_are_read(tmp_path, pattern):
    bundle = _bundle(("indicator--1", pattern.format(d=TEST_RSA)), ("indicator--2", "[app:id = 'com.example.other']"))
    code, err, doc = _scan(tmp_path, bundle, APKS / "clean-v1v2v3.apk")
    assert code in (0, 1) and "RULES_IOC_SKIPPED" not in err, err  # before: skipped, the APK allowed
    assert [(f["kind"], f["strength"]) for f in doc["apps"][0]["findings"]] == [("app", "confirmed")]


@pytest.mark.parametrize("pattern", [
    "[app:id = 'a' OR app:id = 'com.example.clean']", "[app:id = a OR app:id = com.example.clean]",
    '[app:id = "com.example.clean"]', "[app:id = '  ']",
])
def test_patterns_that_are_not_one_comparison_stay_left_out(tmp_path, pattern):
    bundle = _bundle(("indicator--1", pattern), ("indicator--2", "[app:id = 'com.example.other']"))
    code, err, doc = _scan(tmp_path, bundle, APKS / "clean-v1v2v3.apk")
    assert code in (0, 1) and "1 indicator left out" in err, err
    assert doc["apps"][0]["findings"] == []


def test_malware_objects_whose_names_slug_alike_stay_apart(tmp_path):
    apk = APKS / "clean-v1v2v3.apk"
    objects = [{"type": "malware", "id": "malware--a", "name": "WeChat", "description": "list A"},
               {"type": "malware", "id": "malware--b", "name": "wechat!", "description": "list B"},
               {"type": "malware", "id": "malware--c", "name": "微信", "description": "list C"},
               {"type": "malware", "id": "malware--d", "name": "抖音", "description": "list D"}]
    pairs = [("indicator--a", "com.example.other", "malware--a"), ("indicator--b", "com.example.clean", "malware--b"),
             ("indicator--c", "com.example.other2", "malware--c"), ("indicator--d", "com.example.clean", "malware--d")]
    for ind, pkg, mal in pairs:
        objects += [{"type": "indicator", "id": ind, "pattern": f"[app:id = '{pkg}']"},
                    {"type": "relationship", "id": f"rel-{ind}", "relationship_type": "indicates",
                     "source_ref": ind, "target_ref": mal}]
    code, err, doc = _scan(tmp_path, {"type": "bundle", "id": "bundle--1", "objects": objects}, apk)
    assert code in (0, 1), err
    found = sorted((f["rule"], f["app"]) for f in doc["apps"][0]["findings"])
    # before: one rule 'ioc.feed.wechat' named "WeChat" (list A), and 抖音 reported as 微信
    assert found == [("ioc.feed.malware-d", "抖音"), ("ioc.feed.wechat-2", "wechat!")]


def test_indicators_left_out_are_said_in_every_report_not_only_on_stderr(tmp_path):
    feed = tmp_path / "feed.stix2"
    feed.write_text(json.dumps(_bundle(("indicator--1", "[app:id = 'com.example.clean']"),
                                       ("indicator--2", "[domain-name:value = 'evil.example']"))), encoding="utf-8")
    out = tmp_path / "out"  # beside the feed, not inside an input
    res = CliRunner().invoke(main, ["scan", "--no-store", "-q", "--no-builtin-rules", "--iocs", str(feed),
                                    "--json", str(out / "s.json"), "--html", str(out / "s.html"),
                                    "--sarif", str(out / "s.sarif"), str(APKS / "clean-v1v2v3.apk")])
    assert res.exit_code in (0, 1), res.stderr
    doc = json.loads((out / "s.json").read_text(encoding="utf-8"))
    (pack,) = doc["rules"]["packs"]
    assert len(pack["notices"]) == 1 and pack["notices"][0].startswith("RULES_IOC_SKIPPED: 1 indicator left out")
    assert "RULES_IOC_SKIPPED: 1 indicator left out" in (out / "s.html").read_text(encoding="utf-8")
    sarif = json.loads((out / "s.sarif").read_text(encoding="utf-8"))
    assert sarif["runs"][0]["properties"]["ruleNotices"][0].startswith("ioc.feed: RULES_IOC_SKIPPED")
    again = out / "again.html"  # re-rendered from the document: the notice is part of it
    res = CliRunner().invoke(main, ["report", str(out / "s.json"), "--html", str(again)])
    assert res.exit_code == 0, res.stderr
    assert "RULES_IOC_SKIPPED" in again.read_text(encoding="utf-8")


# --- review 39 ------------------------------------------------------------------------------------

def _two_objects(first: tuple[str, str], second: tuple[str, str]) -> dict:
    objects = [{"type": "malware", "id": "malware--a", "name": "Alpha stalkerware"},
               {"type": "malware", "id": "malware--b", "name": "Bravo spyware"}]
    for ind, (mal, pattern) in enumerate((first, second)):
        objects += [{"type": "indicator", "id": f"indicator--{ind}", "pattern": pattern},
                    {"type": "relationship", "id": f"r-{ind}", "relationship_type": "indicates",
                     "source_ref": f"indicator--{ind}", "target_ref": mal}]
    return {"type": "bundle", "id": "bundle--1", "objects": objects}


def test_one_objects_certificate_never_raises_another_objects_finding(tmp_path):
    bundle = _two_objects(("malware--a", "[app:id = 'com.example.clean']"),
                          ("malware--b", f"[app:cert.sha256 = '{TEST_RSA}']"))
    code, err, doc = _scan(tmp_path, bundle, APKS / "clean-v1v2v3.apk")
    assert code in (0, 1), err
    found = {f["rule"]: (f["strength"], [e["basis"] for e in f["evidence"]]) for f in doc["apps"][0]["findings"]}
    # before: Alpha 'confirmed' on Bravo's key
    assert found == {"ioc.feed.alpha-stalkerware": ("weak", ["package"]),
                     "ioc.feed.bravo-spyware": ("confirmed", ["certificate"])}


def test_many_objects_whose_names_read_alike_get_distinct_ids():
    from apkscan.rules.stix import _pack_from_objects

    names = ["x"] * 50 + ["x-2", "X", "x!", "x-51"]
    objects = []
    for i, name in enumerate(names):
        objects += [{"type": "malware", "id": f"malware--{i}", "name": name},
                    {"type": "indicator", "id": f"indicator--{i}", "pattern": f"[app:id = 'p.q{i}']"},
                    {"type": "relationship", "id": f"r-{i}", "relationship_type": "indicates",
                     "source_ref": f"indicator--{i}", "target_ref": f"malware--{i}"}]
    pack, skipped, _ = _pack_from_objects(objects, "feed", "feed.stix2")
    ids = [r.id for r in pack.rules]
    assert not skipped and len(ids) == len(names) == len(set(ids))
    assert [r.packages for r in pack.rules] == [[f"p.q{i}"] for i in range(len(names))]


def test_a_changed_feed_is_another_pack_version_so_diff_says_the_rules_differ(tmp_path):
    apk = APKS / "clean-v1v2v3.apk"
    docs = []
    for i, pkg in enumerate(("com.example.other", "com.example.clean")):
        (tmp_path / str(i)).mkdir()
        code, err, doc = _scan(tmp_path / str(i), _bundle(("indicator--1", f"[app:id = '{pkg}']")), apk)
        assert code in (0, 1), err
        path = tmp_path / f"doc{i}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        docs.append(path)
    versions = [json.loads(p.read_text())["rules"]["packs"][0]["version"] for p in docs]
    assert versions[0] != versions[1] and all(v.startswith("stix2 ") for v in versions)
    res = CliRunner().invoke(main, ["diff", str(docs[0]), str(docs[1])])
    assert "DIFF_RULES_DIFFER" in res.output + res.stderr  # before: every feed was version 'stix2'


def test_a_feed_file_name_with_a_bidi_override_gives_no_invisible_pack_or_rule_id(tmp_path):
    """Review 46 #9: ``evil\\u202e.stix2`` put U+202E into the pack name and every rule id."""
    from apkscan.rules.stix import load_stix

    bundle = {"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "malware", "id": "malware--1", "name": "Spy"},
        {"type": "indicator", "id": "indicator--1", "pattern": "[app:id = 'com.example.spy']"},
        {"type": "relationship", "id": "relationship--1", "relationship_type": "indicates",
         "source_ref": "indicator--1", "target_ref": "malware--1"}]}
    path = tmp_path / "evil\u202e feed\u200b.stix2"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    pack = load_stix(path)
    assert pack.name == "ioc.evil__feed_" and all(r.id.startswith("ioc.evil__feed_.") for r in pack.rules)
