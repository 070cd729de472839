"""apksig's verdict rules that review 18 found apkscan deciding otherwise: which lineage the v1/v2
signer must root (v3.1's first), that a v4 signer's own errors never fail the APK, and an SDK
range that is empty. Real certificates and APKs signed by apksigner for the test."""

from __future__ import annotations

import os
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


def _resigned_idsig(idsig: bytes, key: str) -> bytes:
    """The .idsig with its signing info re-signed by another key: the same root hash and APK
    digest, a signature that verifies, a certificate that is not the APK's v2/v3 signer's (what
    anyone can make for any APK, with their own key)."""
    import struct

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    from apkscan.apk.signing.v4.idsig import _parse_hashing_info, _parse_signing_infos
    from apkscan.apk.signing.v4.verifier import signed_data

    def field(at: int) -> tuple[bytes, int]:
        (n,) = struct.unpack_from("<i", idsig, at)
        return idsig[at + 4:at + 4 + n], at + 4 + n

    hashing_raw, at = field(4)
    _, rest = field(at)
    info = _parse_signing_infos(field(at)[0])[0]
    pk8, pem = generate.ensure_key(key)
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    info.certificate = cert.public_bytes(serialization.Encoding.DER)
    info.public_key = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    info.signature_algorithm_id = 0x0103  # RSASSA-PKCS1-v1_5 with SHA2-256
    private = serialization.load_der_private_key(pk8.read_bytes(), None)

    def lp(b: bytes) -> bytes:
        return struct.pack("<I", len(b)) + b

    def signing(size: int) -> bytes:
        signature = private.sign(signed_data(size, _parse_hashing_info(hashing_raw), info), padding.PKCS1v15(), hashes.SHA256())
        return (lp(info.apk_digest) + lp(info.certificate) + lp(info.additional_data) + lp(info.public_key)
                + struct.pack("<i", info.signature_algorithm_id) + lp(signature))

    return lambda size: idsig[:4] + lp(hashing_raw) + lp(signing(size)) + idsig[rest:]  # the APK's size is signed too


@pytest.mark.skipif(shutil.which("apksigner") is None, reason="apksigner not installed")
def test_an_idsig_found_beside_the_apk_never_unverifies_it(tmp_path):
    """Review 61: a .idsig beside a genuine APK that cannot be parsed (empty, 16 bytes of junk) or
    whose signer is another key (its signature verifies over this APK's root hash, but it is not
    the v2/v3 signer: apksig's cross-check fails) made the whole APK unverified, so a vendor key
    verified by v1/v2/v3 became a certificate merely present (prohibited became review). Found
    beside the APK, such a file now leaves v4 unverified with a warning, nothing else; named by
    the caller (``idsig=path``), it still fails the APK, as ``apksigner --v4-signature-file``."""
    from apkscan.apk.identify import identify

    apk, beside = _signed_with_v4(tmp_path, "com.example.one")
    own = beside.read_bytes()
    assert "v4" in identify(str(apk)).verification.verified_using
    foreign_key = _resigned_idsig(own, "android-debug")(apk.stat().st_size)
    for idsig, code in ((b"", "V4_SIG_NO_SIGNATURES"), (b"\x02\0\0\0" + bytes(12), "V4_SIG_MALFORMED_HASHING_INFO"),
                        (b"junk" * 4, "V4_SIG_VERSION_NOT_CURRENT"), (foreign_key, "V4_SIG_V2_V3_SIGNERS_MISMATCH")):
        beside.write_bytes(idsig)
        found = identify(str(apk))
        v4 = found.verification.schemes["v4"]
        assert found.verified and found.verification.verified_using and "v4" not in found.verification.verified_using, code
        assert v4.present and not v4.verified and code in {i.code for i in v4.all_errors()}, (code, v4.all_errors())
        assert [w.code for w in found.verification.warnings] == ["V4_BESIDE_NOT_VERIFIED"], code
        assert {c.sha256 for c in found.verification.signers} == {c.sha256 for c in identify(str(apk), idsig=False).verification.signers}
        named = identify(str(apk), idsig=str(beside))
        assert not named.verified, code  # as apksigner verify --v4-signature-file
        if idsig:
            proc = subprocess.run(["apksigner", "verify", "--v4-signature-file", str(beside), str(apk)],
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode != 0, code
        assert subprocess.run(["apksigner", "verify", str(apk)], capture_output=True, timeout=120).returncode == 0


@pytest.mark.skipif(shutil.which("apksigner") is None, reason="apksigner not installed")
def test_a_junk_idsig_beside_a_vendor_apk_leaves_it_prohibited(tmp_path):
    """Review 61 end to end: the vendor key (here the test key, named a Kaspersky key by a pack)
    verified by v1/v2/v3 stays a `confirmed` app finding, `prohibited`, exit 1, with 16 bytes of
    junk as its .idsig; the warning is in the JSON."""
    import json

    evidence = tmp_path / "ev"
    evidence.mkdir()
    apk = evidence / "app.apk"
    apk.write_bytes((FIXTURES / "apks" / "clean-v1v2v3.apk").read_bytes())
    (evidence / "app.apk.idsig").write_bytes(b"junk" * 4)
    pack = tmp_path / "pack.yaml"
    pack.write_text("""schema: apkscan-rules/1
pack: t61
vendor: Kaspersky
version: "2026.11.30"
reviewed: "2026-11-30"
sources:
  S: "a stand-in for a Kaspersky signing key (the fixtures' test-rsa key)"
certificates:
  - id: KEY
    sha256: 3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81
    confidence: high
    references: [S]
rules:
  - id: t61.kaspersky-key
    app: Kaspersky app signed by its key
    tags: [kaspersky]
    match:
      certificates: [KEY]
    references: [S]
""", encoding="utf-8")
    out = tmp_path / "scan.json"
    res = run("scan", "--no-store", "-q", "--rules", pack, "--json", out, apk)
    assert res.returncode == 1, res.stdout + res.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    app, = doc["apps"]
    assert app["verdict"] == "prohibited" and app["verified"] is True
    assert doc["skipped"] == []  # given by name, only the APK is an input (its .idsig is read with it)
    res = run("scan", "--no-store", "-q", "--rules", pack, "--json", out, evidence)  # the folder: the .idsig is met
    assert res.returncode == 1, res.stdout + res.stderr
    skipped, = json.loads(out.read_text(encoding="utf-8"))["skipped"]
    assert skipped["reason"].startswith("v4 signature (.idsig) of the APK beside it") and skipped["count"] == 1
    assert [f["strength"] for f in app["findings"]] == ["confirmed"]
    assert "V4_BESIDE_NOT_VERIFIED" in {w["code"] for w in app["identity"]["warnings"]}


def test_the_store_hands_a_found_idsig_over_as_found_not_named(tmp_path):
    """Final review 4 M1: the scan store reads an APK through its descriptor and handed identify
    the .idsig beside the path as a path, i.e. as a file the user named, which decides: one that
    appeared after the store's look-up unverified a vendor's APK again (review 61's downgrade)."""
    from apkscan.apk.identify import FoundBeside, identify
    from apkscan.batch.stat_read import Reading

    apk = tmp_path / "app.apk"
    apk.write_bytes((FIXTURES / "apks" / "clean-v1v2v3.apk").read_bytes())
    (tmp_path / "app.apk.idsig").write_bytes(b"junk" * 4)
    reading = Reading(key=(("x", 0, None), ()), at=0, fd=os.open(apk, os.O_RDONLY))
    try:
        handed = reading.idsig(str(apk), True)
        assert handed == {"idsig": FoundBeside(str(apk) + ".idsig")}
        found = identify(reading.path(str(apk)), **handed)
    finally:
        os.close(reading.fd)
    assert found.verified and [w.code for w in found.verification.warnings] == ["V4_BESIDE_NOT_VERIFIED"]
    assert not identify(str(apk), idsig=str(apk) + ".idsig").verified  # named: decides, as apksigner
