"""--iocs against MVT's reading of indicator feeds (review 90).

F1: a confirmed indicator match is never below ``review`` unless a decision names its pack or
rule; F3: a certificate digest under the wrong algorithm's key is matched by its length; F4: the
threat is named as MVT names it (a report listing the indicator, then any relationship to a
malware object); F6: a feed with nothing apkscan matches beside others that have is a warning.
Every feed is a real STIX2 file and every APK a signed fixture.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
CLEAN = APKS / "clean-v1v2v3.apk"  # com.example.clean, signed by test-rsa (v1, v2, v3)
KEY = json.loads((APKS / "index.json").read_text())["keys"]["test-rsa"]
VENDOR_ONLY = """schema: apkscan-policy/1
policy: vendor-only
version: "1"
default: allowed
decisions:
  - id: no-bytedance
    verdict: prohibited
    when: {vendors: [ByteDance]}
"""


def _bundle(*patterns: str, extra: tuple = (), rel: str = "indicates") -> dict:
    objects: list[dict] = [{"type": "malware", "id": "malware--1", "name": "Spy", "is_family": False}]
    for i, p in enumerate(patterns):
        objects.append({"type": "indicator", "id": f"indicator--{i}", "pattern": p, "pattern_type": "stix"})
        objects.append({"type": "relationship", "id": f"relationship--{i}", "relationship_type": rel,
                        "source_ref": f"indicator--{i}", "target_ref": "malware--1"})
    return {"type": "bundle", "id": "bundle--1", "objects": objects + list(extra)}


def _scan(tmp_path: Path, feeds: dict[str, dict], *extra: str, apk: Path = CLEAN):
    args = []
    for name, bundle in feeds.items():
        (tmp_path / name).write_text(json.dumps(bundle), encoding="utf-8")
        args += ["--iocs", str(tmp_path / name)]
    with tempfile.TemporaryDirectory(prefix="apkscan-out-") as folder:
        out = Path(folder) / "out.json"
        res = CliRunner().invoke(main, ["scan", "--no-store", "-q", "--no-builtin-rules", *args,
                                        "--json", str(out), *extra, str(apk)])
        doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    return res, doc


def _policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pol.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _with(decision_rules: str, verdict: str = "allowed") -> str:
    return VENDOR_ONLY + f"""  - id: iocs-ok
    verdict: {verdict}
    when: {{rules: [{decision_rules!r}]}}
"""


def test_f1_a_policy_with_no_ioc_decision_keeps_a_confirmed_indicator_match_review(tmp_path):
    res, doc = _scan(tmp_path, {"feed.stix2": _bundle(f"[app:cert.sha256 = '{KEY['cert_sha256']}']")},
                     "--policy", _policy(tmp_path, VENDOR_ONLY), "--fail-on", "review")
    app = doc["apps"][0]
    assert [f["strength"] for f in app["findings"]] == ["confirmed"]
    assert app["verdict"] == "review" and res.exit_code != 0
    pol = app["findings"][0]["policy"]
    assert pol["decision"] == "indicator-floor" and "indicator floor" in pol["text"]
    assert "POLICY_NO_IOC_DECISION" in res.stderr and "ioc.feed" in res.stderr
    assert any("POLICY_NO_IOC_DECISION" in n for n in doc["policy"]["notices"])


def test_f1_the_allow_list_does_not_pass_an_indicator_match(tmp_path):
    res, doc = _scan(tmp_path, {"feed.stix2": _bundle(f"[app:cert.sha256 = '{KEY['cert_sha256']}']")},
                     "--policy", _policy(tmp_path, VENDOR_ONLY), "--allow", f"com.example.clean:{KEY['cert_sha256']}")
    assert doc["apps"][0]["verdict"] == "review"
    assert "allow-list" in doc["apps"][0]["findings"][0]["policy"]["text"]


def test_f1_only_a_decision_naming_the_pack_allows_an_indicator_match(tmp_path):
    feed = {"feed.stix2": _bundle(f"[app:cert.sha256 = '{KEY['cert_sha256']}']")}
    res, doc = _scan(tmp_path, feed, "--policy", _policy(tmp_path, _with("ioc.feed.*")), "--fail-on", "review")
    assert doc["apps"][0]["verdict"] == "allowed" and res.exit_code == 0
    assert doc["apps"][0]["findings"][0]["policy"]["decision"] == "iocs-ok"
    assert "POLICY_NO_IOC_DECISION" not in res.stderr
    res, doc = _scan(tmp_path, feed, "--policy", _policy(tmp_path, _with("ioc.*")))
    assert doc["apps"][0]["verdict"] == "review"  # every feed, not this one: no waiver
    assert doc["apps"][0]["findings"][0]["policy"]["decision"] == "indicator-floor"
    assert "POLICY_NO_IOC_DECISION" not in res.stderr  # a decision does select them


def _digests() -> dict[str, str]:
    """The test-rsa certificate's SHA-1 and MD5, from its DER (fixtures/keys)."""
    import hashlib

    from fixtures.generate import cert_der

    der = cert_der("test-rsa")
    assert hashlib.sha256(der).hexdigest() == KEY["cert_sha256"]
    return {"sha1": hashlib.sha1(der).hexdigest(), "md5": hashlib.md5(der).hexdigest()}


def test_f3_a_digest_under_another_algorithms_key_is_matched_by_its_length(tmp_path):
    d = _digests()
    for algo, key in (("sha1", "sha256"), ("md5", "sha256"), ("sha1", "md5")):
        res, doc = _scan(tmp_path, {"feed.stix2": _bundle(f"[app:cert.{key} = '{d[algo]}']")})
        assert res.exit_code in (0, 1), res.stderr
        found = doc["apps"][0]["findings"]
        assert [f["strength"] for f in found] == ["confirmed"], (algo, key, found)
        assert "RULES_IOC_MISLABELLED" in res.stderr and "RULES_IOC_SKIPPED" not in res.stderr
        notices = doc["rules"]["packs"][0]["notices"]
        assert any(n.startswith("RULES_IOC_MISLABELLED") and f"cert.{key}" in n for n in notices)


def test_f4_any_relationship_to_a_malware_object_names_the_threat(tmp_path):
    res, doc = _scan(tmp_path, {"feed.stix2": _bundle("[app:id = 'com.example.clean']", rel="related-to")})
    (found,) = doc["apps"][0]["findings"]
    assert (found["rule"], found["app"]) == ("ioc.feed.spy", "Spy")


def test_f4_a_report_listing_the_indicator_names_it_before_any_relationship(tmp_path):
    reports = ({"type": "report", "id": "report--1", "name": "Other op", "object_refs": ["indicator--9"]},
               {"type": "report", "id": "report--2", "name": "Operation Clean", "object_refs": ["indicator--0"]})
    res, doc = _scan(tmp_path, {"feed.stix2": _bundle("[app:id = 'com.example.clean']", extra=reports)})
    (found,) = doc["apps"][0]["findings"]
    assert (found["rule"], found["app"]) == ("ioc.feed.operation-clean", "Operation Clean")
    assert any("report--2" in r for r in found["references"])


def test_f6_a_feed_with_nothing_to_match_beside_a_useful_one_is_a_warning(tmp_path):
    domains = {"type": "bundle", "id": "bundle--2", "objects": [
        {"type": "indicator", "id": "indicator--d", "pattern": "[domain-name:value = 'evil.example']"}]}
    res, doc = _scan(tmp_path, {"feed.stix2": _bundle("[app:id = 'com.example.clean']"), "net.stix2": domains})
    assert res.exit_code in (0, 1) and doc is not None, res.stderr
    assert [f["rule"] for f in doc["apps"][0]["findings"]] == ["ioc.feed.spy"]
    assert "RULES_IOC_FILE_EMPTY" in res.stderr and "net.stix2" in res.stderr
    res, doc = _scan(tmp_path, {"net.stix2": domains})  # alone it is still refused: nothing would be matched
    assert res.exit_code == 2 and "RULES_IOC_EMPTY" in res.stderr and doc is None


def _file_digest(algo: str, path: Path = CLEAN) -> str:
    import hashlib

    return hashlib.new(algo, path.read_bytes()).hexdigest()


def _file_hits(doc: dict) -> list[tuple[str, str, list[str]]]:
    return [(a.get("source"), f["strength"], sorted({e["basis"] for e in f["evidence"]}))
            for a in doc["apps"] for f in a["findings"]]


def test_f2_a_file_sha256_indicator_matches_the_apk_bare_and_inside_a_zip(tmp_path):
    import zipfile

    pull = tmp_path / "pull.zip"
    with zipfile.ZipFile(pull, "w") as z:
        z.write(CLEAN, "data/app/base.apk")
        z.write(APKS / "v2-only.apk", "data/app/other.apk")  # another APK: its bytes are no indicator's
    feed = {"feed.stix2": _bundle(f"[file:hashes.'SHA-256' = '{_file_digest('sha256').upper()}']")}
    for target in (CLEAN, pull):
        res, doc = _scan(tmp_path, feed, apk=target)
        assert res.exit_code in (0, 1) and "RULES_IOC_SKIPPED" not in res.stderr, res.stderr
        hits = _file_hits(doc)
        assert [(s, b) for _n, s, b in hits] == [("confirmed", ["file-hash"])], hits
        assert [a["verdict"] for a in doc["apps"] if a["findings"]] == ["review"]


def test_f2_a_sha1_or_md5_file_indicator_asks_for_hashes_then_matches(tmp_path):
    feed = {"feed.stix2": _bundle(f"[file:hashes.sha1 = '{_file_digest('sha1')}']",
                                  f"[file:hashes.md5 = '{_file_digest('md5')}']")}
    res, doc = _scan(tmp_path, feed)
    assert _file_hits(doc) == [] and "RULES_IOC_NEEDS_HASHES" in res.stderr and "--hashes md5,sha1" in res.stderr
    assert any(n.startswith("RULES_IOC_NEEDS_HASHES") for n in doc["rules"]["packs"][0]["notices"])
    res, doc = _scan(tmp_path, feed, "--hashes", "sha1,md5")
    assert "RULES_IOC_NEEDS_HASHES" not in res.stderr
    assert [(s, b) for _n, s, b in _file_hits(doc)] == [("confirmed", ["file-hash"])]
    assert sorted(e["field"] for e in doc["apps"][0]["findings"][0]["evidence"]) == ["file.md5", "file.sha1"]


def test_f2_file_indicators_survive_an_export_round_trip(tmp_path):
    from apkscan.rules.loader import load_ruleset
    from apkscan.rules.stix import export_stix

    digest = _file_digest("sha256")
    (tmp_path / "feed.stix2").write_text(json.dumps(_bundle(f"[file:hashes.sha256 = '{digest}']")), encoding="utf-8")
    exported = export_stix(load_ruleset(builtin=False, iocs=[tmp_path / "feed.stix2"]))
    assert [o["pattern"] for o in exported["objects"] if o["type"] == "indicator"] == [
        f"[file:hashes.sha256 = '{digest}']"]
