"""Review 88 F1: deleting fields, no value changed, hid a prohibited app from ``report --fail-on``.
In a document from ``--policy canada-house-of-commons-2023 --policy us-commerce-kaspersky-2024`` for
the Kaspersky fixture (allowed under the first, prohibited under the second), deleting ``policies``,
``counts_by_policy`` and every ``verdicts``/``verdict_worst`` (schema_version kept at 1.3) was read
as one policy's document: ``report --fail-on prohibited`` exited 0, ``diff`` said nothing got worse.

Real bytes through the real CLI (``fixtures/apks``). The oracle is independent of the new check: the
scan's own exit code (1) and its untouched document. Relabelling the version to 1.1 as well makes a
legitimate 1.1 document (``conftest.as_schema_1_1``): that is read, and ``report`` says what it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import fixture, run
from conftest import as_schema_1_1

HOC, DOC = "canada-house-of-commons-2023", "us-commerce-kaspersky-2024"  # HoC allows Kaspersky, DOC prohibits
NOTE = "DOCUMENT_ONE_POLICY"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("doc88") / "scan.json"
    res = run("scan", fixture("kaspersky-subject-notes.apk"), "--no-store", "--jobs", "1", "-q",
              "--policy", HOC, "--policy", DOC, "--json", out)
    assert res.returncode == 1, res.stderr  # the oracle: the scan itself fails the run (DOC prohibits)
    doc = json.loads(out.read_text("utf-8"))
    (app,) = doc["apps"]
    assert {p: e["verdict"] for p, e in app["verdicts"].items()} == {HOC: "allowed", DOC: "prohibited"}
    assert app["verdict"] == "allowed" and doc["schema_version"] == "1.3"
    return out, doc


def _stripped(doc: dict) -> dict:
    """The review's edit: every policy-keyed field deleted, ``schema_version`` kept."""
    doc = json.loads(json.dumps(doc))
    del doc["policies"], doc["counts_by_policy"]
    for app in doc["apps"]:
        del app["verdicts"], app["verdict_worst"]
        for f in app["findings"]:
            del f["verdicts"]
        for s in app["splits"]:
            del s["verdicts"]
    return doc


def _refused(tmp_path: Path, original: Path, doc: dict, where: str) -> None:
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    for gate in ("prohibited", "review", f"{HOC}:prohibited"):
        res = run("report", edited, "--fail-on", gate, "--csv", tmp_path / "r.csv")
        assert res.returncode == 2, (gate, res.stdout, res.stderr)
        assert f"DOCUMENT_MALFORMED: {where}" in res.stderr, res.stderr
        assert not (tmp_path / "r.csv").exists()
    said = run("diff", original, edited)
    assert said.returncode == 2 and f"edited.json: {where}" in said.stderr and "DOCUMENT_MALFORMED" in said.stderr, said.stderr


def test_the_saved_document_gates_and_says_no_note(saved):
    res = run("report", saved[0], "--fail-on", "prohibited")
    assert res.returncode == 1, res.stderr
    assert NOTE not in res.stderr and "schema 1.3 document" not in res.stdout


def test_policies_deleted_with_every_verdicts_is_refused(saved, tmp_path):
    _refused(tmp_path, saved[0], _stripped(saved[1]), "policies: no policies in a schema 1.3 document")


@pytest.mark.parametrize("version", ["1.2", "1.3", "1.9", "1.10"])
def test_policies_emptied_is_refused_at_any_version_since_1_2(saved, tmp_path, version):
    doc = _stripped(saved[1])
    doc["policies"], doc["schema_version"] = [], version
    _refused(tmp_path, saved[0], doc, f"policies: no policies in a schema {version} document")


def test_policy_names_deleted_with_every_verdicts_is_refused(saved, tmp_path):
    doc = _stripped(saved[1])
    doc["policies"] = [dict(p, name=None) for p in saved[1]["policies"]]
    _refused(tmp_path, saved[0], doc, "policies/0/name: a policy without a name")


def test_policies_kept_and_one_apps_verdicts_dropped_is_refused(saved, tmp_path):
    doc = json.loads(json.dumps(saved[1]))
    del doc["apps"][0]["verdicts"], doc["apps"][0]["verdict_worst"], doc["counts_by_policy"]
    _refused(tmp_path, saved[0], doc, f"apps/0/verdicts: no verdict under {HOC!r}")


def test_no_scan_writes_a_document_without_a_policy(tmp_path):
    """The premise of the check: ``--policy`` has a default and takes no empty value, and a run
    that scanned no app still names its policy."""
    for given in ("", " "):
        res = run("scan", fixture("kaspersky-subject-notes.apk"), "--no-store", "-q", "--policy", given,
                  "--json", tmp_path / "none.json")
        assert res.returncode == 2 and "POLICY_NOT_FOUND" in res.stderr, res.stderr
        assert not (tmp_path / "none.json").exists()
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not an apk")
    res = run("scan", junk, "--no-store", "-q", "--json", tmp_path / "default.json")
    doc = json.loads((tmp_path / "default.json").read_text("utf-8"))
    assert res.returncode == 3 and doc["apps"] == [] and [p["name"] for p in doc["policies"]] == ["canada-tbs-2023"]


def test_a_1_1_document_is_read_and_report_says_it_holds_one_policy(saved, tmp_path):
    """The limit of the check: the same edit relabelled 1.1 is a legitimate 1.1 document (one
    policy's verdicts, the first's). It is read, and ``report`` says so, once per stream."""
    doc = as_schema_1_1(json.loads(json.dumps(saved[1])))
    older = tmp_path / "old.json"
    older.write_text(json.dumps(doc), encoding="utf-8")
    res = run("report", older, "--fail-on", "prohibited")
    assert res.returncode == 0, res.stderr  # HoC allows it: all a 1.1 document can say
    said = "schema 1.1 document: it carries one policy's verdicts only"
    assert f"warning: {NOTE}: {said}" in res.stderr and "not signed" in res.stderr
    assert res.stdout.count(said) == 1 and res.stderr.count(said) == 1  # the summary's line too
    quiet = run("report", older, "-q", "--csv", tmp_path / "r.csv")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr.count(said) == 1, quiet.stderr
    piped = run("report", older, "--csv", "-")  # the summary goes to stderr: said there once
    assert piped.returncode == 0 and piped.stderr.count(said) == 1 and said not in piped.stdout, piped.stderr
