"""Review 90: CSV and SARIF name a recorded app's certificate; the HTML says which schema it read.

1. A recorded app (an AndroidQF record, no APK bytes) was shown in HTML and JSON with the
   certificate the record names, never as verified; the CSV left ``publisher`` and every
   certificate column empty and SARIF said "signer unverified", so neither told which key the
   verdict rests on nor whose word it is. Now the CSV's last two columns and SARIF's
   ``properties.recordedCertificate`` and message name it. Inputs: AndroidQF folders built as
   tests/test_androidqf_unverified_88.py builds them (TikTok's key in the reference, AndroidQF's
   own packages.json form), scanned by the CLI; one with hostile text in the record.
2. ``report --html`` of a 1.2 document said "result schema 1.2" over counts it recomputed as 1.3
   means them (``report --json`` writes it as 1.3): it now says "(read as 1.3)". The document is
   the scan's own 1.3 document of a real APK (fixtures/apks) cut back to 1.2 as 1.2 wrote it.
"""

from __future__ import annotations

import csv
import hashlib
import html as html_lib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
import test_match_strength
from cli_helpers import fixture, invoke, run
from test_androidqf_unverified_88 import ERROR, MISSING, _acquisition
from test_report_schema_89 import _as_1_2
from test_verdict_worst_86 import EU, KASPERSKY, TBS, _write
from test_verdict_worst_86 import _scan as _scan_apk

from apkscan.report import csv_report

gen = test_match_strength.gen  # the APK builder with the test keys in tmp_path (a fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PACKAGE = "com.example.clips"
BY = "AndroidQF packages.json"
SIGNER = f"recorded by the device ({BY}), not verified by apkscan: musical.ly Inc."
NOT_VERIFIED = (f"recorded by {BY}, NOT verified: AndroidQF could not verify it ({ERROR}); "
                "merely present, not a signer: musical.ly Inc.")


def _scan(gen, tmp_path: Path, verified: object, edit=None) -> tuple[dict, dict, str]:
    """(the app's CSV row, its SARIF result, the key's SHA-256) of a scan of one AndroidQF record;
    ``edit`` changes the record's packages.json entry first (hostile text)."""
    der = gen.vendor_der("BYTEDANCE_MUSICALLY")
    root = _acquisition(tmp_path / "qf", der, verified, PACKAGE)
    if edit is not None:
        packages = root / "acq" / "packages.json"
        records = json.loads(packages.read_text())
        edit(records[0]["files"][0])
        packages.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    res = invoke("scan", "--no-store", "--no-color", "--csv", out / "r.csv", "--sarif", out / "r.sarif",
                 "--json", out / "r.json", root, "--policy", TBS)
    assert res.exit_code in (0, 1), res.output
    text = (out / "r.csv").read_text("utf-8-sig")
    header = next(csv.reader(io.StringIO(text)))
    assert header == csv_report.COLUMNS + [f"verdict:{TBS}", f"decision:{TBS}"] + [
        "recorded_cert_sha256", "recorded_cert"]  # added last: no column of an earlier CSV moved
    (row,) = [r for r in csv.DictReader(io.StringIO(text)) if r["package"] == PACKAGE]
    (result,) = json.loads((out / "r.sarif").read_text("utf-8"))["runs"][0]["results"]
    app = json.loads((out / "r.json").read_text("utf-8"))["apps"][0]
    assert app["identity"]["origin"] == "recorded" and app["identity"]["recorded_by"] == BY
    return row, result, hashlib.sha256(der).hexdigest()


def _never_verified(row: dict, result: dict) -> None:
    assert (row["signer_verified"], row["publisher"], row["signer_cert_sha256"]) == ("no", "", "")
    props = result["properties"]
    assert props["signerVerified"] is False and "publisher" not in props and "signerSha256" not in props
    assert props["recordedCertificate"]["verifiedByApkscan"] is False


@pytest.mark.parametrize("verified", [True, MISSING], ids=["verified", "field-absent"])
def test_csv_and_sarif_name_a_recorded_signer_as_the_devices_word(gen, tmp_path, verified):
    """Before: the CSV had no such columns (and no certificate anywhere in the row), SARIF's
    message said "signer unverified" and its properties named no certificate."""
    row, result, sha = _scan(gen, tmp_path, verified)
    _never_verified(row, result)
    assert (row["recorded_cert_sha256"], row["recorded_cert"]) == (sha, SIGNER)
    assert result["properties"]["recordedCertificate"] == {
        "sha256": sha, "recordedBy": BY, "name": "musical.ly Inc.", "verifiedByApkscan": False,
        "recorderCouldNotVerify": False}
    assert result["message"]["text"].endswith(f"signer unverified ({SIGNER} (certificate SHA-256 {sha}))")


def test_csv_and_sarif_say_androidqf_could_not_verify_it(gen, tmp_path):
    """``verified_certificate: false``: merely present, with AndroidQF's reason; never the device's signer."""
    row, result, sha = _scan(gen, tmp_path, False)
    _never_verified(row, result)
    assert (row["recorded_cert_sha256"], row["recorded_cert"]) == (sha, NOT_VERIFIED)
    assert "recorded by the device" not in row["recorded_cert"]
    assert result["properties"]["recordedCertificate"] == {
        "sha256": sha, "recordedBy": BY, "name": "musical.ly Inc.", "verifiedByApkscan": False,
        "recorderCouldNotVerify": True, "why": f"AndroidQF could not verify it ({ERROR})"}
    assert f"({NOT_VERIFIED} (certificate SHA-256 {sha}))" in result["message"]["text"]


def _hostile(entry: dict) -> None:
    """A Cyrillic Т in the recorded O, and AndroidQF's error text a formula, a link and a placeholder."""
    entry["certificate"]["Subject"] = "C=86, O=TikТok Inc., CN=musical.ly"
    entry["certificate_error"] = "bad;=HYPERLINK(\"http://evil.example\") [click](http://evil.example) {0}"


def test_hostile_record_text_is_escaped_and_a_look_alike_marked(gen, tmp_path):
    """The CSV cell gets no formula start after ``;`` and the name its look-alike note; SARIF's
    message escapes ``[``/``]`` (no link) and doubles ``{``/``}`` (no placeholder); its
    properties keep the stored text, as the JSON does."""
    row, result, sha = _scan(gen, tmp_path, False, _hostile)
    cell = row["recorded_cert"]
    assert row["recorded_cert_sha256"] == sha
    assert "bad;'=HYPERLINK(" in cell and ";=" not in cell
    assert cell.endswith("not a signer: TikТok Inc. [look-alike: Т=U+0422]")
    text = result["message"]["text"]
    assert "\\[click\\](http://evil.example) {{0}}" in text and "[click](" not in text
    assert "TikТok Inc. \\[look-alike: Т=U+0422\\]" in text
    props = result["properties"]["recordedCertificate"]
    assert props["name"] == "TikТok Inc." and "[click](http://evil.example) {0}" in props["why"]


def _tool_line(page: Path) -> str:
    text = page.read_text("utf-8")
    (dd,) = re.findall(r"<dt>Tool</dt>\s*<dd>(.*?)</dd>", text, re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", dd))


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """The scan's own 1.3 document of the Kaspersky fixture under two policies, and it as 1.2."""
    out = tmp_path_factory.mktemp("schema")
    rc, _, doc = _scan_apk(out, fixture(KASPERSKY), policies=(EU, TBS))
    assert rc == 1 and doc["schema_version"] == "1.3"
    return out, doc


def test_the_html_of_a_1_2_document_says_it_was_read_as_1_3(documents, tmp_path):
    """Before: "result schema 1.2" above tiles counting the app as prohibited (1.3's counts)."""
    _, doc = documents
    res = run("report", _write(tmp_path, _as_1_2(doc), "old.json"), "--html", tmp_path / "old.html",
              "--fail-on", "prohibited")
    assert res.returncode == 1, res.stderr
    line = _tool_line(tmp_path / "old.html")
    assert line.endswith(", result schema 1.2 (read as 1.3)"), line
    page = (tmp_path / "old.html").read_text("utf-8")
    assert re.search(r'<li class="tile prohibited">.*?<span class="n">1</span>', page)  # 1.3's counts


def test_the_html_of_a_1_3_document_says_1_3_alone(documents, tmp_path):
    out, doc = documents
    assert _tool_line(out / "r.html").endswith(", result schema 1.3")
    res = run("report", _write(tmp_path, doc, "new.json"), "--html", tmp_path / "new.html",
              "--fail-on", "prohibited")
    assert res.returncode == 1 and _tool_line(tmp_path / "new.html").endswith(", result schema 1.3"), res.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_in_chromium_the_tool_line_of_a_1_2_document(documents, tmp_path):
    pytest.importorskip("websocket", reason="websocket-client not installed")
    from test_report_html import Browser

    _, doc = documents
    res = run("report", _write(tmp_path, _as_1_2(doc), "old.json"), "--html", tmp_path / "old.html")
    assert res.returncode == 0, res.stderr
    b = Browser(str(tmp_path / "profile"))
    try:
        b.open((tmp_path / "old.html").as_uri())
        assert b.problems() == []
        line = b.eval("Array.from(document.querySelectorAll('dt')).find(d => d.textContent === 'Tool')"
                      ".nextElementSibling.textContent")
        assert line.endswith(", result schema 1.2 (read as 1.3)"), line
    finally:
        b.close()


ALLOWLIST = """schema: apkscan-policy/1
policy: allowlist-only
version: "1"
default: prohibited
decisions: []
allow: []
"""


def test_a_recorded_app_no_finding_prohibits_is_named_in_its_default_result(gen, tmp_path):
    """An allow-list prohibits a recorded app no rule finds (a test key, not a vendor's): its one
    SARIF result (``apkscan.policy-default``) names the recorded certificate too. Before: none."""
    der = gen.cert_der("test-rsa")
    root = _acquisition(tmp_path / "qf", der, True, PACKAGE)
    (tmp_path / "allow.yaml").write_text(ALLOWLIST)
    out = tmp_path / "r.sarif"
    res = invoke("scan", "--no-store", "--no-color", "--sarif", out, root, "--policy", tmp_path / "allow.yaml")
    assert res.exit_code == 1, res.output
    (result,) = json.loads(out.read_text("utf-8"))["runs"][0]["results"]
    sha = hashlib.sha256(der).hexdigest()
    assert result["ruleId"] == "apkscan.policy-default" and result["level"] == "error"
    assert result["properties"]["recordedCertificate"]["sha256"] == sha
    assert result["properties"]["signerVerified"] is False and "publisher" not in result["properties"]
    said = f"recorded by the device ({BY}), not verified by apkscan: Example Corp (certificate SHA-256 {sha})"
    assert result["message"]["text"].endswith(f"(no finding); {said}"), result["message"]["text"]


def test_sarif_of_a_1_2_document_says_it_was_read_as_1_3(documents, tmp_path):
    """SARIF named the input's 1.2 alone over results computed as 1.3 means them; a 1.3 document
    gets no read-as property."""
    out, doc = documents
    for version, source, want in (("1.2", _as_1_2(doc), "1.3"), ("1.3", doc, None)):
        res = run("report", _write(tmp_path, source, f"{version}.json"), "--sarif", tmp_path / f"{version}.sarif",
                  "--fail-on", "prohibited")
        assert res.returncode == 1, res.stderr
        props = json.loads((tmp_path / f"{version}.sarif").read_text("utf-8"))["runs"][0]["properties"]
        assert props["resultSchemaVersion"] == version
        assert props.get("resultSchemaReadAs") == want
