"""apksig's verdict rules that review 18 found apkscan deciding otherwise: which lineage the v1/v2
signer must root (v3.1's first), that a v4 signer's own errors never fail the APK, and an SDK
range that is empty. Real certificates and APKs signed by apksigner for the test."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from cli_helpers import run
from conftest import FIXTURES

from apkscan.apk.crypto.certificates import certificate_from_der
from apkscan.apk.model import LineageNode, SchemeResult, SignerResult
from apkscan.apk.signing.verifier import _cross_scheme_checks

sys.path.insert(0, str(FIXTURES))
import generate  # noqa: E402

A, X, Y, Z = (certificate_from_der(generate.cert_der(k)) for k in ("test-rsa", "test-rsa-old", "test-rsa-new", "test-ec"))


def _scheme(name: str, signer, lineage=()) -> SchemeResult:
    return SchemeResult(name, present=True, verified=True, signers=[SignerResult("signer #1", signer, verified=True)],
                        lineage=[LineageNode(c, 0, verified=True) for c in lineage])


def _check(v2, v3, v31=None) -> list[str]:
    schemes = {"v1": SchemeResult("v1"), "v2": v2, "v3": v3, "v31": v31 or SchemeResult("v31")}
    used = ["v31"] * (v31 is not None) + ["v3", "v2"]
    errors: list = []
    _cross_scheme_checks(schemes, used, errors)
    return [e.code for e in errors]


def test_the_v31_lineage_is_the_one_the_old_signer_must_root():
    """Result.mergeFrom keeps v3.1's lineage; v3's counts only when v3.1 has none (review 18, F1)."""
    # v2 and v3 by A, no v3 lineage; v3.1 transplanted with lineage X -> Y: A roots nothing
    assert _check(_scheme("v2", A), _scheme("v3", A), _scheme("v31", Y, [X, Y])) == ["V3_SIG_PAST_SIGNERS_MISMATCH"]
    # the reverse: v3.1's lineage X -> Y roots at the v2 signer X, v3's Z -> X does not: apksig verifies
    assert _check(_scheme("v2", X), _scheme("v3", X, [Z, X]), _scheme("v31", Y, [X, Y])) == []
    # v3.1 without a lineage: v3's decides
    assert _check(_scheme("v2", X), _scheme("v3", X, [Z, X]), _scheme("v31", Y)) == ["V3_SIG_PAST_SIGNERS_MISMATCH"]
    assert _check(_scheme("v2", X), _scheme("v3", Y, [X, Y])) == []
    assert _check(_scheme("v2", A), _scheme("v3", Y, [X, Y])) == ["V3_SIG_PAST_SIGNERS_MISMATCH"]


def _signed_with_v4(tmp_path, package: str):
    """An APK signed v1+v2+v3+v4 by apksigner, and its .idsig."""
    work = tmp_path / package
    work.mkdir()
    src, out = work / "in.apk", work / "app.apk"
    src.write_bytes(generate.build_unsigned(generate.App(package, "App")))
    pk8, pem = generate.ensure_key("test-rsa")
    generate.apksigner("sign", "--in", str(src), "--out", str(out), "--v4-signing-enabled", "true",
                       "--key", str(pk8), "--cert", str(pem))
    return out, work / "app.apk.idsig"


def _apksigner_verifies(apk, idsig) -> bool:
    proc = subprocess.run(["apksigner", "verify", "-v", "--v4-signature-file", str(idsig), str(apk)],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode == 0 and "Verified using v4 scheme (APK Signature Scheme v4): false" in proc.stdout


@pytest.mark.skipif(shutil.which("apksigner") is None, reason="apksigner not installed")
def test_an_idsig_that_does_not_match_leaves_the_apk_verified(tmp_path):
    """apksig's Result.containsErrors skips v4 signers: a foreign or altered .idsig beside a genuine
    APK makes v4 unverified, never the APK (review 18, F5: anyone who could drop a file beside
    it made apkscan call the vendor's APK unverified)."""
    from apkscan.apk.identify import identify

    apk, beside = _signed_with_v4(tmp_path, "com.example.one")
    _, foreign = _signed_with_v4(tmp_path, "com.example.two")
    own = beside.read_bytes()
    altered = bytearray(own)
    altered[-100] ^= 1  # a byte of the stored hash tree
    for idsig, code in ((foreign.read_bytes(), "V4_SIG_APK_ROOT_DID_NOT_VERIFY"),
                        (bytes(altered), "V4_SIG_APK_TREE_DID_NOT_VERIFY")):
        beside.write_bytes(idsig)
        identity = identify(str(apk))
        v4 = identity.verification.schemes["v4"]
        assert identity.verified and "v4" not in identity.verification.verified_using
        assert v4.present and not v4.verified and code in {i.code for i in v4.all_errors()}
        assert _apksigner_verifies(apk, beside)
    beside.write_bytes(own)
    assert "v4" in identify(str(apk)).verification.verified_using


def test_an_empty_sdk_range_verifies_nothing(tmp_path):
    """apksigner refuses --min-sdk-version above --max-sdk-version, and an APK whose minSdkVersion is
    above --max-sdk-version (review 18, F4: apkscan verified over the range [30, 29])."""
    from apkscan.apk.identify import identify

    apk = FIXTURES / "apks" / "clean-v1v2v3.apk"
    done = run("inspect", apk, "--min-sdk-version", "30", "--max-sdk-version", "28")
    assert done.returncode == 2 and "--min-sdk-version 30 is above --max-sdk-version 28" in done.stderr
    done = run("scan", apk, "--no-store", "--min-sdk-version", "30", "--max-sdk-version", "28")
    assert done.returncode == 2
    identity = identify(str(apk), max_sdk=20)  # its minSdkVersion is 21
    assert not identity.verified
    assert "INPUT_BAD_SDK_RANGE" in {i.code for i in identity.verification.errors}
    assert identify(str(apk), max_sdk=21).verified
