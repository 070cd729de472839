"""Completeness is a field: identify states what it read, the scan matches whatever was read,
and tamper facts survive the error they explain (issue 11, item 2)."""

from __future__ import annotations

import pytest
from conftest import APKS, TEST_VENDOR_RULES, codes, fixture_tools

from apkscan.apk.identify import identify
from apkscan.apk.io.bytesource import BytesSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import error
from apkscan.policy.loader import load_policy
from apkscan.rules.loader import load_ruleset
from apkscan.scan import evaluate, incomplete, unscannable

tamper_tools = fixture_tools()


def test_a_full_read_says_every_part_was_read():
    identity = identify(APKS / "clean-v1v2v3.apk")
    assert identity.completeness.complete
    assert identity.to_dict()["completeness"] == {
        "complete": True, "manifest": "read", "resources": "read", "signatures": "read", "content_digests": "read",
        "file_hashes": "read", "why": {}}


def test_an_input_out_of_time_says_what_was_not_read():
    identity = identify(APKS / "clean-v1v2v3.apk", timeout=-1)
    c = identity.completeness
    assert not c.complete and not c.has("manifest") and not c.has("signatures")
    assert c.why["manifest"] == "INPUT_TIMEOUT"
    assert c.has("file_hashes") and "file_hashes" not in c.why  # owed even after the budget ran out
    assert unscannable(identity)


def test_timed_out_after_the_manifest_is_still_matched_and_reported_partial():
    """The defect: INPUT_TIMEOUT made a readable WeChat package 'unscannable', so it was never matched."""
    identity = identify(APKS / "wechat-impostor.apk")
    # the state identify leaves when the budget runs out during the digest pass
    identity.verification = None
    identity.completeness.state.update(signatures="not read", content_digests="not read")
    identity.errors.append(error("INPUT_TIMEOUT", "time budget for this input exhausted"))
    identity.completeness.stopped("INPUT_TIMEOUT")
    assert not unscannable(identity)
    app = evaluate(identity, load_ruleset(), load_policy(), source="wechat-impostor.apk")
    assert app.identity.manifest.package == "com.tencent.mm"
    assert any(f.rule.startswith("tencent.") for f in app.findings)
    assert app.verdict != "allowed"
    assert codes(incomplete(identity)) == {"INPUT_TIMEOUT"}
    assert identity.to_dict()["completeness"]["why"]["signatures"] == "INPUT_TIMEOUT"


def _lying_corrupt_manifest() -> bytes:
    """Local header says STORED, central directory DEFLATE, and the deflate data is garbage."""
    data = (APKS / "clean-v1v2v3.apk").read_bytes()
    rec = tamper_tools.record(data, "AndroidManifest.xml")
    assert rec.method == 8
    data = tamper_tools.set_local_method(data, "AndroidManifest.xml", 0)
    start = tamper_tools.local_data_offset(data, rec)
    return data[:start] + b"\xff\xff" + data[start + 2:]  # BTYPE=11: invalid deflate block


def test_tamper_fact_survives_the_inflate_error_it_explains(tmp_path):
    apk = tmp_path / "lying.apk"
    apk.write_bytes(_lying_corrupt_manifest())
    identity = identify(apk)
    assert "ZIP_ENTRY_INFLATE_FAILED" in codes(identity.errors)
    assert "TAMPER_LOCAL_METHOD_MISMATCH" in codes(identity.tamper)
    assert identity.completeness.why["manifest"] == "ZIP_ENTRY_INFLATE_FAILED"


def test_local_header_facts_are_not_a_side_effect_of_a_copy():
    archive = ZipArchive.open(BytesSource(_lying_corrupt_manifest()))
    before = archive.tamper
    with pytest.raises(Exception):
        archive.read(archive.entry("AndroidManifest.xml"), 1 << 20)
    assert "TAMPER_LOCAL_METHOD_MISMATCH" not in codes(before)  # a snapshot stays what it was
    assert "TAMPER_LOCAL_METHOD_MISMATCH" in codes(archive.tamper)  # the archive's facts do not lose it
    assert codes(archive.central_tamper) == codes(before)


def test_a_genuine_vendor_app_out_of_time_is_not_called_an_impersonation(tmp_path):
    """Built to fool the partial scan: the vendor key signs the app, but the budget ran out
    before the signatures were read. The package still matches; no key claim is made."""
    from apkscan.rules.loader import load_ruleset as load

    rules = tmp_path / "testvendor.yaml"
    rules.write_text(TEST_VENDOR_RULES)
    ruleset = load([rules], builtin=False)
    full = evaluate(identify(APKS / "clean-v1v2v3.apk"), ruleset, load_policy("vendor-watch"), source="x")
    assert [(f.kind, f.strength) for f in full.findings] == [("app", "confirmed")]
    identity = identify(APKS / "clean-v1v2v3.apk")
    identity.verification = None
    identity.completeness.state.update(signatures="not read", content_digests="not read")
    identity.errors.append(error("INPUT_TIMEOUT", "time budget for this input exhausted"))
    identity.completeness.stopped("INPUT_TIMEOUT")
    partial = evaluate(identity, ruleset, load_policy("vendor-watch"), source="x")
    assert {f.kind for f in partial.findings} == {"app"}


class _TickingClock:
    """A clock that advances one unit per reading: the budget runs out after exactly ``k``
    deadline checks, so every place a read can be cut short is reached, deterministically."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


@pytest.mark.parametrize("name", ["clean-v1v2v3.apk", "kaspersky-subject-notes.apk"])
def test_a_budget_running_out_anywhere_is_an_input_error_never_a_quiet_failed_scheme(name, monkeypatch):
    """Review finding: v1's own reads, resources.arsc and the stamp caught INPUT_TIMEOUT as "does
    not verify", so a cut-short reading looked whole (stored, served later as 'review')."""
    import apkscan.apk.identify as identify_mod
    import apkscan.apk.io.bytesource as bytesource_mod

    clock = _TickingClock()
    monkeypatch.setattr(bytesource_mod, "time", clock)
    monkeypatch.setattr(identify_mod, "time", clock)
    full = identify(APKS / name, timeout=10**9)
    checks = int(clock.now)
    assert full.completeness.complete and "INPUT_TIMEOUT" not in str(full.to_dict())
    cut_in_v1 = 0
    for k in range(checks + 2):
        identity = identify(APKS / name, timeout=k)
        text = str(identity.to_dict())
        if "INPUT_TIMEOUT" not in text:
            assert identity.completeness.complete
            continue
        assert "INPUT_TIMEOUT" in codes(identity.errors), k
        assert not identity.completeness.complete, k
        v1 = identity.verification.schemes.get("v1") if identity.verification else None
        cut_in_v1 += bool(v1 and "INPUT_TIMEOUT" in str(v1))
    assert cut_in_v1, "no budget ran out inside v1's own reads: the test no longer reaches the case"
