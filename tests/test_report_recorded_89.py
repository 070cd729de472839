"""Review 89 (1, 4): a recorded certificate is shown in the HTML and terminal identity, and one
its recorder could not verify never reads like a recorded signer, let alone a verified one.

Review 88 F2 kept AndroidQF's ``verified_certificate: false`` certificate in the JSON identity
(``recorded_unverified``) and the evidence (``certificate-present``), but the HTML details said
"No certificate found" and the terminal's SIGNER said "unverified" alike for every recorded app,
so the terminal and the page told nothing of the key the device named, nor that AndroidQF could
not verify it. The inputs: AndroidQF folders as tests/test_androidqf_unverified_88.py builds them
(TikTok's key DER in the reference, in AndroidQF's own ``packages.json`` form), scanned by the CLI.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import shutil
from pathlib import Path

import pytest
import test_match_strength
from cli_helpers import invoke
from test_androidqf_unverified_88 import ERROR, MISSING, _acquisition

gen = test_match_strength.gen  # the APK builder with the test keys in tmp_path (a fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RECORDED = "recorded by the device, not verified here: musical.ly Inc."
UNVERIFIED = "unverified (recorded; its recorder could not verify it): musical.ly Inc."


def _scan(gen, tmp_path: Path, verified: object) -> tuple[str, Path, str]:
    """(terminal text, HTML path, the key's SHA-256) of a scan of one AndroidQF record."""
    der = gen.vendor_der("BYTEDANCE_MUSICALLY")
    root = _acquisition(tmp_path / "qf", der, verified, "com.example.clips")
    page = tmp_path / "scan.html"
    res = invoke("scan", "--no-store", "--no-color", "--html", page, root, "--policy", "canada-tbs-2023")
    assert res.exit_code in (0, 1), res.output
    return res.output, page, hashlib.sha256(der).hexdigest()


def _signer_cell(terminal: str) -> str:
    (row,) = [line for line in terminal.splitlines() if "com.example.clips" in line]
    return row


def _certificates(page: Path) -> str:
    """The details' Certificates section, as text (tags dropped, entities read)."""
    text = page.read_text(encoding="utf-8")
    start = text.index("<h4>Certificates</h4>")
    section = text[start:text.index("</section>", start)]
    return html_lib.unescape(" ".join(section.replace("<", " <").split()))


def test_a_certificate_androidqf_could_not_verify_is_shown_as_not_verified(gen, tmp_path):
    """verified_certificate false: the terminal's SIGNER and the HTML's Certificates name the key
    as recorded and not verified, with AndroidQF's reason; never as the device's signer nor as a
    verified one. Before: SIGNER "unverified", the details "No certificate found"."""
    terminal, page, sha = _scan(gen, tmp_path, False)
    row = _signer_cell(terminal)
    assert UNVERIFIED in row and RECORDED not in row
    certs = _certificates(page)
    assert sha in certs and "No certificate found" not in certs
    assert f"Recorded, NOT verified: AndroidQF packages.json names it but AndroidQF could not verify it ({ERROR})" in certs
    assert "merely present, not a signer" in certs
    assert "Verified signer" not in certs and "Recorded by the device" not in certs
    assert UNVERIFIED in html_lib.unescape(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("verified", [True, MISSING], ids=["verified", "field-absent"])
def test_a_recorded_signer_is_shown_as_the_devices_word(gen, tmp_path, verified):
    """A certificate AndroidQF verified (or older AndroidQF, which does not say) is the device's
    recorded signer: shown as recorded, not verified by apkscan, never as a verified signer."""
    terminal, page, sha = _scan(gen, tmp_path, verified)
    row = _signer_cell(terminal)
    assert RECORDED in row and UNVERIFIED not in row
    certs = _certificates(page)
    assert sha in certs and "Recorded by the device (AndroidQF packages.json), not verified by apkscan" in certs
    assert "Verified signer" not in certs and "NOT verified" not in certs


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_in_chromium_the_unverified_record_reads_apart_from_a_signer(gen, tmp_path):
    """In the browser: the publisher cell and the certificate heading say the record was not
    verified; the page loads cleanly."""
    pytest.importorskip("websocket", reason="websocket-client not installed")
    from test_report_html import Browser

    _, page, sha = _scan(gen, tmp_path, False)
    b = Browser(str(tmp_path / "profile"))
    try:
        b.open(page.as_uri())
        assert b.problems() == []
        cell, sha_cell, heads = b.eval(
            "var r = document.querySelector('tbody.app tr.row'); [r.children[3].textContent.trim(), "
            "r.children[4].querySelector('code').dataset.full, "
            "Array.from(document.querySelectorAll('.cert h5')).map(h => [h.textContent, h.className])]")
        assert cell == UNVERIFIED and sha_cell == sha
        assert heads == [[f"Recorded, NOT verified: AndroidQF packages.json names it but AndroidQF could not verify "
                          f"it ({ERROR}); merely present, not a signer", "unverified"]]
    finally:
        b.close()


@pytest.mark.parametrize("verified", [False, True], ids=["not-verified", "verified"])
def test_inspect_says_which_recorded_certificate_its_recorder_could_not_verify(gen, tmp_path, verified):
    """``apkscan inspect``'s note named every recorded certificate "recorded by the device", so the
    one AndroidQF could not verify read as the device's signer; now it carries AndroidQF's reason."""
    root = _acquisition(tmp_path / "qf", gen.vendor_der("BYTEDANCE_MUSICALLY"), verified, "com.example.clips")
    res = invoke("inspect", root)
    (note,) = [line for line in res.output.splitlines() if "recorded app com.example.clips" in line]
    assert "certificate recorded by the device, NOT verified: sha256 " in note
    said = f"[AndroidQF could not verify it ({ERROR}): merely present, not the device's signer]"
    assert (said in note) is not verified
