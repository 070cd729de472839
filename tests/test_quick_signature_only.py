"""Review 62 M1: under ``--quick`` nothing is called verified, in any output.

``fixtures/apks/tampered-entry.apk`` had an entry changed after signing: its schemes fail in full,
yet their signatures over the signed data check out. Under ``--quick`` every scheme, signer,
lineage node and sighting said ``verified: true``, ``inspect`` printed "verified as v1 signer",
the HTML scheme table "yes" and the CSV listed the schemes as verified. Now each says
``verified: false`` with ``signature_only: true``; the matcher still sees the key as present only.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest
from cli_helpers import evidence_unchanged  # noqa: F401

from conftest import APKS, REPO, TEST_VENDOR_RULES

pytestmark = pytest.mark.usefixtures("evidence_unchanged")
TAMPERED = APKS / "tampered-entry.apk"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=180)


def _places(ident: dict) -> list[dict]:
    """Every object of an identity that carries a ``verified`` flag below the top level."""
    out = []
    for s in ident["schemes"].values():
        out.append(s)
        out.extend(s["signers"])
        out.extend(s["lineage"])
    return out + list(ident["lineage"]) + list(ident["certificate_sightings"])


def _inspect_json(*extra: str) -> dict:
    proc = run("inspect", *extra, "--fail-on", "never", "--json", "-", str(TAMPERED))
    assert proc.returncode == 0, proc.stderr
    (ident,) = json.loads(proc.stdout)
    return ident


def test_quick_json_calls_nothing_verified_and_says_signature_only():
    ident = _inspect_json("--quick")
    present = {k: s for k, s in ident["schemes"].items() if s["present"]}
    assert set(present) == {"v1", "v2", "v3"}
    assert ident["verified"] is False and ident["signers"] == []
    for s in present.values():
        assert (s["verified"], s["signature_only"]) == (False, True)
        assert [(x["verified"], x["signature_only"]) for x in s["signers"]] == [(False, True)]
    assert not any(p["verified"] for p in _places(ident))


def test_full_verification_of_the_same_apk_is_not_signature_only():
    """Control: without --quick the content is checked and fails; nothing says signature_only."""
    ident = _inspect_json()
    assert all(not s["verified"] for s in ident["schemes"].values())
    assert not any(p["signature_only"] for p in _places(ident))


def test_quick_inspect_text_never_says_verified_as():
    proc = run("inspect", "--quick", "--fail-on", "never", str(TAMPERED))
    assert proc.returncode == 0, proc.stderr
    assert "verified as" not in proc.stdout
    for name in ("v1", "v2", "v3"):
        assert f"Scheme {name}: present, NOT verified (signatures checked out, content not checked)" in proc.stdout
    assert "Certificate present (NOT verified; signature checked as v1 signer, v2 signer, v3 signer" in proc.stdout


def test_quick_html_and_csv_call_no_scheme_verified(tmp_path):
    html, table = tmp_path / "r.html", tmp_path / "r.csv"
    proc = run("scan", "--no-store", "--quick", "-q", "--fail-on", "never", "--html", str(html), "--csv", str(table),
               str(TAMPERED))
    assert proc.returncode == 0, proc.stderr
    page = html.read_text(encoding="utf-8")
    schemes = page[page.index("<h4>Signature schemes</h4>"):]
    schemes = schemes[:schemes.index("</table>")]
    assert '<span class="ok">yes</span>' not in schemes
    assert len(re.findall(r"no: signature only, content not checked \(--quick\)", schemes)) == 3
    (row,) = [r for r in csv.DictReader(table.open(encoding="utf-8-sig")) if r["verdict"] != "input"]
    assert row["schemes_verified"] == "none verified; signatures only, content_digests: not checked (v1 v2 v3)"


def test_the_matcher_still_sees_the_quick_key_as_present_only(tmp_path):
    """The rule's key signs tampered-entry.apk: under --quick it is a certificate present, never a
    verified signer, so the finding is weak; in full the APK fails, and the key is present too."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "testvendor.yaml").write_text(TEST_VENDOR_RULES)
    for extra in (("--quick",), ()):
        proc = run("scan", "--no-store", *extra, "--no-builtin-rules", "--rules", str(rules), "--policy",
                   "vendor-watch", "-q", "--fail-on", "never", "--json", "-", str(TAMPERED))
        (app,) = json.loads(proc.stdout)["apps"]
        assert app["findings"], proc.stderr
        for f in app["findings"]:
            assert f["strength"] != "confirmed"
            assert all(e.get("verified") is not True for e in f["evidence"])


def test_report_refuses_a_quick_document_edited_to_call_a_scheme_verified(tmp_path):
    doc = tmp_path / "q.json"
    proc = run("scan", "--no-store", "--quick", "-q", "--fail-on", "never", "--json", str(doc), str(TAMPERED))
    assert proc.returncode == 0, proc.stderr
    assert run("report", str(doc), "--csv", str(tmp_path / "ok.csv")).returncode == 0
    data = json.loads(doc.read_text())
    data["apps"][0]["identity"]["schemes"]["v2"]["verified"] = True
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    bad = run("report", str(edited), "--csv", str(tmp_path / "bad.csv"))
    assert bad.returncode == 2 and "DOCUMENT_MALFORMED" in bad.stderr and "schemes" in bad.stderr
