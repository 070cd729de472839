"""Review 87 F4: an edited saved document hid a prohibited verdict. In a document from
``--policy eu-commission-tiktok-2023 --policy canada-tbs-2023`` for the Kaspersky fixture, deleting
the app's ``verdicts["canada-tbs-2023"]`` (and ``verdict_worst``), or renaming the key to
``'canada-tbs-2023 '``, was read: ``report --fail-on prohibited`` exited 0 and the counts and the
CSV said allowed, while the app's finding still said prohibited under canada-tbs-2023.

Real bytes through the real CLI (``fixtures/apks``, ``fixtures/containers``). The oracle is
independent of the new check: the scan's own exit code (1) and what the untouched document says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import FIXTURES, fixture, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apkscan.document import DocumentError, ScanDocument
from apkscan.policy.multi import FailOn

EU, TBS = "eu-commission-tiktok-2023", "canada-tbs-2023"  # EU allows the Kaspersky app, TBS prohibits it


def _scan(out: Path, *paths) -> dict:
    res = run("scan", *paths, "--no-store", "--jobs", "1", "-q", "--policy", EU, "--policy", TBS, "--json", out)
    assert res.returncode == 1, res.stderr  # the oracle: the scan itself fails the run (TBS prohibits)
    return json.loads(out.read_text("utf-8"))


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("doc87") / "scan.json"
    doc = _scan(out, fixture("kaspersky-subject-notes.apk"))
    (app,) = doc["apps"]
    assert {p: e["verdict"] for p, e in app["verdicts"].items()} == {EU: "allowed", TBS: "prohibited"}
    assert app["findings"] and all(f["verdicts"][TBS]["verdict"] == "prohibited" for f in app["findings"])
    return out, doc


def _copy(doc: dict) -> dict:
    return json.loads(json.dumps(doc))


def _refused(tmp_path: Path, original: Path, doc: dict, where: str) -> str:
    """``report`` (any policy, and the policy edited out) and ``diff`` refuse ``doc``, naming ``where``."""
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    for gate in ("prohibited", f"{TBS}:prohibited"):
        res = run("report", edited, "--fail-on", gate, "--csv", tmp_path / "r.csv")
        assert res.returncode == 2, (gate, res.stdout, res.stderr)
        assert f"DOCUMENT_MALFORMED: {where}" in res.stderr, res.stderr
        assert not (tmp_path / "r.csv").exists()
    said = run("diff", original, edited)
    assert said.returncode == 2 and "DOCUMENT_MALFORMED" in said.stderr and where in said.stderr, said.stderr
    return res.stderr + said.stderr


def test_the_saved_document_itself_still_gates(saved, tmp_path):
    res = run("report", saved[0], "-q", "--fail-on", "prohibited")
    assert res.returncode == 1, res.stderr
    assert run("report", saved[0], "-q", "--fail-on", f"{EU}:prohibited").returncode == 0


def test_a_deleted_policy_entry_is_refused(saved, tmp_path):
    doc = _copy(saved[1])
    del doc["apps"][0]["verdicts"][TBS], doc["apps"][0]["verdict_worst"]  # the edit of the review
    err = _refused(tmp_path, saved[0], doc, "apps/0/verdicts: no verdict under 'canada-tbs-2023'")
    assert "one of the document's policies" in err


@pytest.mark.parametrize("renamed", [TBS + " ", TBS.upper(), "canada-tbs-2023\x1b[2J\u202e"])
def test_a_renamed_policy_key_is_refused_and_named_inert(saved, tmp_path, renamed):
    doc = _copy(saved[1])
    verdicts = doc["apps"][0]["verdicts"]
    verdicts[renamed] = verdicts.pop(TBS)
    err = _refused(tmp_path, saved[0], doc, "apps/0/verdicts/")
    assert "\x1b" not in err and "\u202e" not in err  # escaped, as every refusal quoting the document
    if renamed.isprintable():
        assert f"{renamed!r} is not one of the document's policies" in err
    else:
        assert "apps/0/verdicts/canada-tbs-2023\\u001b[2J\\u202e: " in err


def test_verdicts_dropped_whole_or_the_version_relabelled_is_refused(saved, tmp_path):
    doc = _copy(saved[1])
    del doc["apps"][0]["verdicts"], doc["apps"][0]["verdict_worst"]  # read as a 1.1 app: the first policy's verdict
    _refused(tmp_path, saved[0], doc, "apps/0/verdicts: no verdict under")
    doc["schema_version"] = "1.1"
    _refused(tmp_path, saved[0], doc, "apps/0/verdicts: no verdict under")


def test_without_policies_a_finding_may_not_name_a_policy_its_app_lacks(saved, tmp_path):
    doc = _copy(saved[1])
    del doc["policies"], doc["counts_by_policy"], doc["apps"][0]["verdicts"][TBS], doc["apps"][0]["verdict_worst"]
    doc["schema_version"] = "1.1"  # a 1.3 document without policies is refused there first (review 88 F1)
    _refused(tmp_path, saved[0], doc, f"apps/0/findings/0/verdicts/{TBS}: ")


def test_a_findings_entry_deleted_or_added_is_refused(saved, tmp_path):
    doc = _copy(saved[1])
    del doc["apps"][0]["findings"][0]["verdicts"][TBS]
    _refused(tmp_path, saved[0], doc, "apps/0/findings/0/verdicts: no verdict under 'canada-tbs-2023'")
    doc = _copy(saved[1])
    doc["apps"][0]["findings"][0]["verdicts"]["other"] = {"verdict": "allowed", "decision": None}
    _refused(tmp_path, saved[0], doc, "apps/0/findings/0/verdicts/other: 'other' is not one of")


def test_a_split_bundle_loads_and_its_splits_keys_are_held_too(tmp_path):
    out = tmp_path / "bundle.json"
    doc = _scan(out, FIXTURES / "containers" / "wechat-sai.apks")
    i, app = next((i, a) for i, a in enumerate(doc["apps"]) if a["splits"])
    assert ScanDocument.from_dict(_copy(doc)).to_dict() == doc  # a real bundle document is read as written
    edited = _copy(doc)
    del edited["apps"][i]["splits"][0]["verdicts"][TBS]
    _refused(tmp_path, out, edited, f"apps/{i}/splits/0/verdicts: no verdict under")
    if app["splits"][0]["findings"]:
        edited = _copy(doc)
        del edited["apps"][i]["splits"][0]["findings"][0]["verdicts"][EU]
        with pytest.raises(DocumentError) as err:
            ScanDocument.from_dict(edited)
        assert err.value.path == ("apps", str(i), "splits", "0", "findings", "0", "verdicts")


KEY_EDIT = st.sampled_from(["keep", "delete", "rename", "add", "drop-all"])


def _edit_keys(verdicts: dict, how: str, suffix: str, allowed: bool) -> dict | None:
    """``verdicts`` with its TBS key edited (None: the object deleted); ``allowed``: a renamed
    entry says allowed too."""
    out = dict(verdicts)
    if how == "delete":
        del out[TBS]
    elif how == "rename":
        entry = out.pop(TBS)
        out[TBS + suffix] = dict(entry, verdict="allowed") if allowed else entry
    elif how == "add":
        out[TBS + suffix] = dict(out[TBS], verdict="allowed")
    return None if how == "drop-all" else out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(app_edit=KEY_EDIT, finding_edit=KEY_EDIT, suffix=st.text(min_size=1, max_size=3),
       worst=st.sampled_from(["keep", "delete", "allowed"]), allow_tbs=st.booleans())
def test_no_edit_of_the_policy_keys_passes_the_gate(saved, app_edit, finding_edit, suffix, worst, allow_tbs):
    """Any edit of the TBS keys of the app's and the finding's ``verdicts`` (deleted, renamed, one
    added, the object dropped), with ``verdict_worst`` kept, deleted or set to allowed: the document
    is refused naming the app, or ``--fail-on prohibited`` still fails it as the scan did. (An edit
    that rewrites every mention of the policy, ``policies`` too, is a document of another scan.)"""
    doc = _copy(saved[1])
    app, finding = doc["apps"][0], doc["apps"][0]["findings"][0]
    for obj, how in ((app, app_edit), (finding, finding_edit)):
        edited = _edit_keys(obj["verdicts"], how, suffix, allow_tbs)
        if edited is None:
            del obj["verdicts"]
        else:
            obj["verdicts"] = edited
    if worst == "delete":
        del app["verdict_worst"]
    elif worst == "allowed":
        app["verdict_worst"] = "allowed"
    try:
        typed = ScanDocument.from_dict(doc)
    except DocumentError as exc:
        assert exc.code == "DOCUMENT_MALFORMED" and list(exc.path[:2]) == ["apps", "0"], exc
        assert str(exc).isprintable()
        return
    names = typed.apps[0].verdict_names(typed.first_policy())
    assert app_edit == finding_edit == "keep", (app_edit, finding_edit, names)
    assert FailOn("prohibited").flags(names) and typed.counts["prohibited"] == 1
