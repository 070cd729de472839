"""A saved document whose app ``verdict`` contradicts its first policy's ``verdicts`` entry is
refused (review 19 #4): the views count ``verdict``, ``--fail-on`` reads ``verdicts``, so an
edited document could show "14 prohibited" and exit 0, or "0 prohibited" and exit 1."""

from __future__ import annotations

import json

import pytest

from cli_helpers import fixture, run, scanned_document


@pytest.fixture
def scanned(tmp_path):
    return scanned_document(tmp_path, "s.json")[1]


def _contradict(scanned: dict, app: dict, first: str, edit: str, tmp_path) -> object:
    """The document with ``app``'s verdict or its first policy's verdicts entry set to allowed:
    edit "verdicts" and the exit code would say allowed, the counts prohibited; "verdict" the reverse."""
    if edit == "verdicts":
        app["verdicts"][first]["verdict"] = "allowed"
    else:
        app["verdict"] = "allowed"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(scanned), encoding="utf-8")
    return edited


@pytest.mark.parametrize("edit", ["verdicts", "verdict"])
def test_report_and_diff_refuse_a_verdict_that_contradicts_the_first_policys(scanned, tmp_path, edit):
    original = tmp_path / "orig.json"
    original.write_text(json.dumps(scanned), encoding="utf-8")
    i, app = next((i, a) for i, a in enumerate(scanned["apps"]) if a["verdict"] == "prohibited")
    first = scanned["policies"][0]["name"]
    edited = _contradict(scanned, app, first, edit, tmp_path)
    res = run("report", edited, "--fail-on", "prohibited", "--html", tmp_path / "r.html")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"DOCUMENT_MALFORMED: apps/{i}/verdicts/{first}/verdict:" in res.stderr
    assert not (tmp_path / "r.html").exists() and "prohibited" not in res.stdout
    res = run("diff", original, edited)
    assert res.returncode == 2 and "DOCUMENT_MALFORMED" in res.stderr, res.stderr


def test_an_app_without_its_first_policys_verdict_is_refused(scanned, tmp_path):
    app = next(a for a in scanned["apps"] if a["verdict"] == "prohibited")
    app["verdicts"] = {"another-policy": app["verdicts"].popitem()[1]}
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(scanned), encoding="utf-8")
    res = run("report", edited, "--fail-on", "prohibited")
    assert res.returncode == 2 and "no verdict for the first policy" in res.stderr, res.stderr


def test_a_consistent_document_still_renders_and_flags(scanned, tmp_path):
    doc = tmp_path / "s.json"
    doc.write_text(json.dumps(scanned), encoding="utf-8")
    res = run("report", doc, "--fail-on", "prohibited")
    assert res.returncode == 1 and "1 prohibited" in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize("unnamed", ["no-policies-null-policy", "policy-as-a-string", "empty-names"])
@pytest.mark.parametrize("edit", ["verdicts", "verdict"])
def test_the_check_holds_when_the_document_names_no_first_policy(scanned, tmp_path, unnamed, edit):
    """``policies: []`` with ``policy`` null or a string (1.0), or nameless policies, used to skip
    the check: "1 prohibited" on screen and exit 0 (review 22 #5)."""
    first = scanned["policies"][0]["name"]
    if unnamed == "empty-names":
        scanned["policies"][0]["name"] = scanned["policy"]["name"] = ""
        for a in scanned["apps"]:  # every verdicts object keyed by the policy's name, as a scan writes it (review 87 F4)
            a["verdicts"] = {"": a["verdicts"][first]}
            for f in a["findings"]:
                f["verdicts"] = {"": f["verdicts"][first]}
        first = ""
    else:
        scanned["policies"] = []
        scanned["policy"] = None if unnamed == "no-policies-null-policy" else first
    i, app = next((i, a) for i, a in enumerate(scanned["apps"]) if a["verdict"] == "prohibited")
    consistent = tmp_path / "consistent.json"
    consistent.write_text(json.dumps(scanned), encoding="utf-8")  # 1.3 names its policies (review 88 F1)
    res = run("report", consistent, "--fail-on", "prohibited")
    assert res.returncode == 2 and "DOCUMENT_MALFORMED: policies" in res.stderr, res.stdout + res.stderr
    scanned["schema_version"] = "1.1"  # only a 1.0/1.1 document may name no first policy
    consistent.write_text(json.dumps(scanned), encoding="utf-8")
    res = run("report", consistent, "--fail-on", "prohibited")
    assert res.returncode == 1 and "1 prohibited" in res.stdout, res.stdout + res.stderr
    edited = _contradict(scanned, app, first, edit, tmp_path)
    res = run("report", edited, "--fail-on", "prohibited", "--csv", tmp_path / "r.csv")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"DOCUMENT_MALFORMED: apps/{i}/verdicts/{first}/verdict:" in res.stderr
    assert not (tmp_path / "r.csv").exists()


def test_forged_counts_are_never_written_back(scanned, tmp_path):
    """``counts`` all 0 over a prohibited app: report --json used to copy it (review 22 #6)."""
    honest = tmp_path / "honest.json"
    honest.write_text(json.dumps(scanned, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    true_counts = dict(scanned["counts"])
    scanned["counts"] = {**{k: 0 for k in scanned["counts"]}, "later_key": 7}
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(scanned), encoding="utf-8")
    res = run("report", forged, "--fail-on", "prohibited", "--json", tmp_path / "r.json")
    assert res.returncode == 1 and "1 prohibited" in res.stdout, res.stdout + res.stderr
    written = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["counts"]
    assert written == {**true_counts, "later_key": 7}  # recomputed; a key this apkscan does not know is kept
    assert run("report", honest, "--json", tmp_path / "h.json").returncode == 0
    assert (tmp_path / "h.json").read_bytes() == honest.read_bytes()  # an honest document: byte for byte


def test_a_document_without_counts_stays_without(scanned, tmp_path):
    del scanned["counts"]
    doc = tmp_path / "nocounts.json"
    doc.write_text(json.dumps(scanned), encoding="utf-8")
    assert run("report", doc, "--json", tmp_path / "r.json").returncode == 0
    assert "counts" not in json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))


def _forged_cert_app(scanned: dict) -> tuple[int, dict]:
    return next((i, a) for i, a in enumerate(scanned["apps"])
                if not a["identity"]["verified"] and a["identity"]["certificates_present"] and a["findings"])


@pytest.mark.parametrize("edit,where", [
    ("signers", "identity/signers"),  # a present certificate moved under the verified signers
    ("verified", "verified"),  # the app's flag against its identity's
    ("confirmed", "findings/0/strength"),  # confirmed needs a verified key
])
def test_a_present_certificate_is_never_shown_as_a_verified_signer(tmp_path, edit, where):
    """Review 46 #3: with a forged WeChat's present certificate copied into ``identity.signers``,
    every format showed it as the verified signer (HTML "Verified signer" under "Signature: not
    verified") and ``diff`` counted it as a new WeChat signer."""
    original = tmp_path / "orig.json"
    res = run("scan", fixture("wechat-forged-cert.apk"), "--no-store", "-q", "--json", original)
    scanned = json.loads(original.read_text(encoding="utf-8"))
    original.write_text(json.dumps(scanned), encoding="utf-8")
    i, app = _forged_cert_app(scanned)
    if edit == "signers":
        app["identity"]["signers"] = list(app["identity"]["certificates_present"])
    elif edit == "verified":
        app["verified"] = True
    else:
        app["findings"][0]["strength"] = "confirmed"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(scanned), encoding="utf-8")
    for cmd in (["report", edited, "--html", tmp_path / "r.html"], ["diff", original, edited]):
        res = run(*cmd)
        assert res.returncode == 2, res.stdout + res.stderr
        assert f"DOCUMENT_MALFORMED: apps/{i}/{where}:" in res.stderr or \
            f"DOCUMENT_MALFORMED: {edited}: apps/{i}/{where}:" in res.stderr, res.stderr
    assert not (tmp_path / "r.html").exists()
