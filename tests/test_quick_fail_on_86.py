"""Review 86 F3: ``scan --quick`` verifies nothing, so an app only a verified signer identifies (a
vendor's key, a Kaspersky publisher name) comes out as ``review``; with the default ``--fail-on
prohibited`` the run exited 0 for it, and the terminal never said the run was --quick.

Now the default under ``--quick`` is ``review`` (a ``--fail-on`` given is used as given) and the
summary says what --quick left out. Real bytes through the real CLI; the oracle for each app is
the full scan of the same bytes (prohibited, exit 1).
"""

from __future__ import annotations

import json

import pytest
from cli_helpers import fixture, run

QUICK_NOTE = "quick scan (--quick): content digests not checked and no APK verified"  # the summary's line
TEST_RSA_SHA256 = "3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81"  # fixtures/keys/test-rsa.pem
KEY_PACK = f"""schema: apkscan-rules/1
pack: keyonly
vendor: Tencent
version: "2026.12.03"
reviewed: "2026-12-03"
sources:
  K: "fixtures/keys/test-rsa.pem, listed as a Tencent key for this test"
certificates:
  - id: K_TEST_RSA
    sha256: {TEST_RSA_SHA256}
    confidence: high
    references: [K]
rules:
  - id: keyonly.wechat
    app: WeChat (by key only)
    tags: [wechat]
    match:
      package: [com.example.not-this-one]
      certificates: [K_TEST_RSA]
    references: [K]
"""


def _app_line(text: str, package: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if package in line)


@pytest.fixture
def key_pack(tmp_path):
    path = tmp_path / "keyonly.yaml"
    path.write_text(KEY_PACK, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", ["kaspersky-subject", "vendor-key"])
def test_quick_fails_on_review_by_default_where_the_full_scan_prohibits(case, key_pack):
    apk, extra, package = ((fixture("kaspersky-subject-notes.apk"), (), "com.example.notes") if case == "kaspersky-subject"
                           else (fixture("clean-v1v2v3.apk"), ("--rules", key_pack), "com.example.clean"))
    full = run("scan", apk, "--no-store", "--no-color", *extra)
    assert full.returncode == 1 and _app_line(full.stdout, package)[0] == "prohibited", full.stdout + full.stderr
    assert "--quick" not in full.stdout
    quick = run("scan", apk, "--no-store", "--no-color", "--quick", *extra)
    assert _app_line(quick.stdout, package)[0] == "review"  # a certificate present: review under the policy
    assert quick.returncode == 1, quick.stdout + quick.stderr  # was 0: a pass for a banned app
    assert QUICK_NOTE in quick.stdout
    for given, code in (("prohibited", 0), ("review", 1), ("never", 0)):  # a --fail-on given is used as given
        res = run("scan", apk, "--no-store", "-q", "--quick", "--fail-on", given, *extra)
        assert res.returncode == code, (given, res.stderr)


def test_a_quick_run_of_a_clean_app_still_exits_0_and_says_it_was_quick():
    res = run("scan", fixture("clean-v1v2v3.apk"), "--no-store", "--no-color", "--quick")
    assert res.returncode == 0 and QUICK_NOTE in res.stdout, res.stdout


def test_report_of_a_quick_document_says_so_and_gates_as_asked(tmp_path):
    """``report`` has no gate unless asked (``never``); asked, it reads the document as scan did:
    ``report --fail-on review`` is what ``scan --quick`` applies by default."""
    doc = tmp_path / "q.json"
    res = run("scan", fixture("kaspersky-subject-notes.apk"), "--no-store", "-q", "--quick", "--json", doc,
              "--html", tmp_path / "q.html")
    assert res.returncode == 1, res.stderr
    assert json.loads(doc.read_text("utf-8"))["options"]["quick"] is True
    again = run("report", doc, "--no-color")
    assert again.returncode == 0 and QUICK_NOTE in again.stdout, again.stdout
    assert run("report", doc, "-q", "--fail-on", "review").returncode == 1
    assert run("report", doc, "-q", "--fail-on", "prohibited").returncode == 0
    assert 'id="quick-banner"' in (tmp_path / "q.html").read_text("utf-8")
    full = tmp_path / "full.json"
    assert run("scan", fixture("kaspersky-subject-notes.apk"), "--no-store", "-q", "--json", full).returncode == 1
    assert "--quick" not in run("report", full, "--no-color").stdout


def test_scan_help_says_what_quick_does_to_the_default_gate():
    text = " ".join(run("scan", "--help").stdout.split())
    assert "so --fail-on defaults to review" in text and "Default: prohibited, or review with --quick" in text
