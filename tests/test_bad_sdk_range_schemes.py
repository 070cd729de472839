"""An SDK range apksigner refuses verifies no scheme, not only v1 (review 71 F2).

With ``--max-sdk-version`` below minSdkVersion apksigner throws before verifying anything, and the
APK said so (``INPUT_BAD_SDK_RANGE``, ``signatures: not checked``), yet its v3 scheme still read
"present, verified", its key "verified as v3 signer", its sightings and lineage ``verified: true``,
and the range's error was filed under v1 on an APK without v1. Each scheme is now present and not
verified, the error is the APK's, and a document claiming otherwise is refused.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from apksigner_helper import apksigner_available
from cli_helpers import evidence_unchanged  # noqa: F401

from apkscan.apk.identify import identify
from conftest import APKS, REPO

pytestmark = pytest.mark.usefixtures("evidence_unchanged")
V3_ONLY, ROTATED = APKS / "v3-only.apk", APKS / "rotated-lineage.apk"  # minSdkVersion 28 and 21


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=180)


def _places(v) -> list:
    """Every scheme, signer, lineage node and sighting of a verification: each says if it verified."""
    schemes = list(v.schemes.values())
    return [*schemes, *(s for sc in schemes for s in sc.signers), *(n for sc in schemes for n in sc.lineage),
            *v.lineage, *v.sightings]


@pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed")
@pytest.mark.parametrize("apk", [V3_ONLY, ROTATED], ids=lambda p: p.stem)
def test_apksigner_refuses_the_range(apk):
    proc = subprocess.run(["apksigner", "verify", "--max-sdk-version", "19", str(apk)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode != 0 and "maxSdkVersion (19)" in proc.stdout + proc.stderr


@pytest.mark.parametrize("apk", [V3_ONLY, ROTATED], ids=lambda p: p.stem)
def test_no_scheme_signer_lineage_node_or_sighting_verifies_over_a_refused_range(apk):
    whole = identify(apk).verification  # the control: over its own range every place verifies
    assert whole.verified and all(p.verified for p in _places(whole) if getattr(p, "present", True))
    v = identify(apk, max_sdk=19).verification
    assert not v.verified and [i.code for i in v.errors] == ["INPUT_BAD_SDK_RANGE"]
    assert {n for n, s in v.schemes.items() if s.present} == {n for n, s in whole.schemes.items() if s.present}
    assert not any(p.verified for p in _places(v)) and not any(p.signature_only for p in _places(v))
    assert {c.sha256 for c in v.certificates_present} == {c.sha256 for c in whole.certificates_present}
    assert v.signers == [] and v.verified_using == []
    # the range is the APK's error, not a scheme's (v3-only.apk has no v1 to file it under)
    assert not any(i.code == "INPUT_BAD_SDK_RANGE" for s in v.schemes.values() for i in s.all_errors())


def test_inspect_and_scan_outputs_say_nothing_verified(tmp_path):
    text = run("inspect", str(V3_ONLY), "--max-sdk-version", "19", "--fail-on", "never")
    assert "signatures: not checked (INPUT_BAD_SDK_RANGE)" in text.stdout, text.stderr
    assert "Scheme v3: present, NOT verified" in text.stdout and "verified as" not in text.stdout
    assert "Certificate present (NOT verified)" in text.stdout
    assert "  ERROR INPUT_BAD_SDK_RANGE" in text.stdout and "ERROR (v1)" not in text.stdout
    [ident] = json.loads(run("inspect", str(V3_ONLY), "--max-sdk-version", "19", "--json").stdout)
    assert (ident["schemes"]["v3"]["present"], ident["schemes"]["v3"]["verified"]) == (True, False)
    assert not ident["schemes"]["v1"]["present"] and ident["schemes"]["v1"]["errors"] == []
    assert [s["verified"] for s in ident["certificate_sightings"]] == [False]
    page = tmp_path / "r.html"
    done = run("scan", str(V3_ONLY), "--max-sdk-version", "19", "--no-store", "--fail-on", "never", "--html", str(page))
    assert done.returncode == 0, done.stderr
    row = re.search(r"<tr><td>v3</td><td>(\w+)</td>\s*<td>(.*?)</td>", page.read_text("utf-8"))
    assert row and row.group(1) == "yes" and '<span class="bad">no</span>' == row.group(2)


def test_report_refuses_a_scheme_verified_beside_signatures_not_checked(tmp_path):
    doc = tmp_path / "s.json"
    done = run("scan", str(V3_ONLY), "--max-sdk-version", "19", "--no-store", "--fail-on", "never", "--json", str(doc))
    assert done.returncode == 0, done.stderr
    assert run("report", str(doc), "--csv", str(tmp_path / "ok.csv")).returncode == 0
    data = json.loads(doc.read_text())
    assert data["apps"][0]["identity"]["completeness"]["signatures"] == "not checked"
    data["apps"][0]["identity"]["schemes"]["v3"]["verified"] = True
    (tmp_path / "edited.json").write_text(json.dumps(data))
    bad = run("report", str(tmp_path / "edited.json"), "--csv", str(tmp_path / "bad.csv"))
    assert bad.returncode == 2 and "DOCUMENT_MALFORMED" in bad.stderr, bad.stderr
    assert "scheme v3 verified beside completeness.signatures: not checked" in bad.stderr
