"""Review 89 (3): ``report --json`` of a schema 1.2 document wrote "1.2" over 1.3's counts.

Since review 86 F1 a document's ``counts`` are recomputed when it is read, by each app's most
severe verdict: 1.3's meaning. A 1.2 document (several policies) written back by ``report --json``
still said ``"schema_version": "1.2"``, whose ``counts`` are the first policy's, so a reader
trusting the version read the counts wrong. Now it is written as the 1.3 document it reads as:
with each app's ``verdict_worst`` and ``counts_by_policy``. The oracle is the scan's own 1.3
document of the same APK (real bytes, fixtures/apks): a 1.2 document made from it (as 1.2 wrote
it: no ``verdict_worst``, no ``counts_by_policy``, the first policy's counts) comes back as it.
"""

from __future__ import annotations

import json

from cli_helpers import fixture, run
from test_verdict_worst_86 import EU, KASPERSKY, TBS, _scan, _write

from apkscan.cli.report_cmd import schema_problems


def _as_1_2(doc: dict) -> dict:
    old = json.loads(json.dumps(doc))
    old["schema_version"] = "1.2"
    del old["counts_by_policy"]
    for app in old["apps"]:
        del app["verdict_worst"]
    old["counts"].update(prohibited=0, allowed=1)  # what 1.2 wrote: the first policy (EU) allows it
    return old


def test_a_1_2_document_is_written_back_as_the_1_3_document_its_counts_mean(tmp_path):
    rc, _, doc = _scan(tmp_path, fixture(KASPERSKY), policies=(EU, TBS))
    assert rc == 1 and doc["schema_version"] == "1.3"
    assert {p: e["verdict"] for p, e in doc["apps"][0]["verdicts"].items()} == {EU: "allowed", TBS: "prohibited"}
    old = _write(tmp_path, _as_1_2(doc), "old.json")
    res = run("report", old, "--fail-on", "prohibited", "--json", tmp_path / "back.json")
    assert res.returncode == 1, res.stderr
    text = (tmp_path / "back.json").read_text("utf-8")
    back = json.loads(text)
    assert back["schema_version"] == "1.3" and back["counts"]["prohibited"] == 1
    assert back == doc and list(back) == list(doc)  # the scan's own 1.3 document, key order too
    assert list(back["apps"][0]) == list(doc["apps"][0])
    assert schema_problems(back) == []
    again = run("report", tmp_path / "back.json", "--json", tmp_path / "again.json")  # read back as 1.3
    assert again.returncode == 0 and (tmp_path / "again.json").read_text("utf-8") == text, again.stderr


def test_a_1_3_and_a_one_policy_1_1_document_keep_their_version(tmp_path):
    """1.3 already means these counts (written back byte for byte); a 1.1 document holds one
    policy's verdicts, whose most severe is that policy's, so its counts keep 1.1's meaning."""
    rc, _, doc = _scan(tmp_path, fixture(KASPERSKY), policies=(TBS,))
    path = _write(tmp_path, doc, "new.json")
    res = run("report", path, "--json", tmp_path / "same.json")
    assert res.returncode == 0 and json.loads((tmp_path / "same.json").read_text("utf-8")) == doc, res.stderr
    old = json.loads(json.dumps(doc))
    old["schema_version"] = "1.1"
    for key in ("counts_by_policy", "policies"):
        del old[key]
    for app in old["apps"]:
        for key in ("verdict_worst", "verdicts"):
            del app[key]
        for f in app["findings"]:
            f.pop("verdicts", None)
    res = run("report", _write(tmp_path, old, "old.json"), "--json", tmp_path / "old-back.json")
    assert res.returncode == 0, res.stderr
    back = json.loads((tmp_path / "old-back.json").read_text("utf-8"))
    assert back["schema_version"] == "1.1" and "counts_by_policy" not in back
    assert "verdict_worst" not in back["apps"][0] and back["counts"] == doc["counts"]
