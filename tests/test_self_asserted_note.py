"""The self-asserted publisher note says "no signing key is known" only when none is: a finding a
known vendor key confirms, whose signer also carries the vendor's O=, was told the opposite."""

from pathlib import Path

import pytest

from apkscan.cli import main
from apkscan.rules.loader import load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.selftest import example_identity

MICRO_CAO = "d7811ec4166fea6cc720ba66699dc84b584ac9e6986613a76d4e43d8cbe32b27"
SUBJECT = {"CN": "Micro Cao", "OU": "ByteDance", "O": "ByteDance", "L": "Beijing", "ST": "Beijing", "C": "CN"}
APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"


@pytest.fixture(scope="module")
def rules():
    return load_ruleset([])


def test_a_known_key_with_the_vendor_name_is_not_told_no_key_is_known(rules):
    ex = {"package": "com.ss.android.article.news", "signers": [{"sha256": MICRO_CAO, "subject": SUBJECT}]}
    [f] = [f for f in match_identity(example_identity(ex), rules, None) if f.rule.startswith("bytedance.")]
    assert f.strength == "confirmed" and {"certificate", "subject"} <= {e.basis for e in f.evidence}
    assert "no ByteDance signing key is known" not in f.message and "never confirmed" not in f.message


def test_a_recorded_known_key_with_the_vendor_name_is_not_told_no_key_is_known(rules):
    ex = {"package": "com.ss.android.article.news", "recorded": [{"sha256": MICRO_CAO, "subject": SUBJECT}]}
    found = [f for f in match_identity(example_identity(ex), rules, None) if f.rule.startswith("bytedance.")]
    assert found and all("signing key is known" not in f.message for f in found)


def test_a_vendor_with_no_known_key_still_says_so(tmp_path):
    """A real APK whose verified signer's O= is Kaspersky's listed legal name: the note stays."""
    out = tmp_path / "k.json"
    with pytest.raises(SystemExit) as done:
        main(["scan", str(APKS / "kaspersky-subject-notes.apk"), "--no-store", "-q", "--json", str(out)])
    assert done.value.code == 1
    text = out.read_text()
    assert "no Kaspersky signing key is known, so the name stands in" in text
