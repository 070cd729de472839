"""ECDSA/DSA signature values read as the JDK reads them (review 59 F2).

An INTEGER written without its 0x00 pad (negative in DER) is read by the JDK as the positive
value, and apksigner verifies the APK; OpenSSL refused it, so the vendor's verified key became a
"pasted in" certificate. Now the values are decoded as the JDK decodes them and re-encoded
before OpenSSL checks them, with the warning ``SIG_NOT_DER_MINIMAL``; every other odd shape
stays refused, as the JDK refuses it. Where apksigner is installed each verdict is checked
against it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apksigner_helper import apksigner_available, apksigner_verify  # noqa: E402
from dss_resign import SHAPES, dsa_key_and_certificate, v1_ec_signed, v2_signed  # noqa: E402
from v2_resign import fixture_certificate  # noqa: E402

from apkscan.apk.crypto import dss_der  # noqa: E402
from apkscan.apk.identify import identify  # noqa: E402

REFUSED = [s for s in SHAPES if s not in ("minimal", "r-unpadded")]


def _v(path: Path, scheme: str, min_sdk: int | None = None):
    ident = identify(str(path), idsig=False, min_sdk=min_sdk)
    result = ident.verification.schemes[scheme]
    codes = [w.code for s in result.signers for w in s.warnings] + [w.code for w in result.warnings]
    return ident, result.verified, codes


def _agrees(path: Path, verified: bool, min_sdk: int | None = None) -> None:
    if apksigner_available():
        assert apksigner_verify(path, min_sdk)["verified"] is verified


def _ec_sha256() -> str:
    import hashlib

    return hashlib.sha256(fixture_certificate("test-ec")).hexdigest()


@pytest.mark.parametrize("shape", ["minimal", "r-unpadded"])
def test_v2_ec_unpadded_integer_verifies_as_apksig(tmp_path, shape):
    path = tmp_path / f"ec-{shape}.apk"
    path.write_bytes(v2_signed(shape))
    ident, verified, codes = _v(path, "v2")
    assert verified and ident.verification.verified
    assert [s.certificate.sha256 for s in ident.verification.schemes["v2"].signers if s.verified] == [_ec_sha256()]
    assert ("SIG_NOT_DER_MINIMAL" in codes) is (shape == "r-unpadded")
    _agrees(path, True)


@pytest.mark.parametrize("shape", REFUSED)
def test_v2_ec_other_odd_encodings_stay_refused(tmp_path, shape):
    path = tmp_path / f"ec-{shape}.apk"
    path.write_bytes(v2_signed(shape))
    ident, verified, _ = _v(path, "v2")
    assert not verified
    assert "V2_SIG_DID_NOT_VERIFY" in [e.code for s in ident.verification.schemes["v2"].signers for e in s.errors]
    _agrees(path, False)


def test_v2_dsa_unpadded_integer_verifies_as_apksig(tmp_path):
    key, cert = dsa_key_and_certificate()
    for shape, ok in (("r-unpadded", True), ("r-extra-zero", False)):
        path = tmp_path / f"dsa-{shape}.apk"
        path.write_bytes(v2_signed(shape, key, cert))
        _ident, verified, codes = _v(path, "v2")
        assert verified is ok
        assert ("SIG_NOT_DER_MINIMAL" in codes) is ok
        _agrees(path, ok)


@pytest.mark.parametrize("shape", ["minimal", "r-unpadded", "r-extra-zero", "trailing-byte"])
def test_v1_ec_signer_info(tmp_path, shape):
    path = tmp_path / f"v1-ec-{shape}.apk"
    path.write_bytes(v1_ec_signed(shape))
    ok = shape in ("minimal", "r-unpadded")
    _ident, verified, codes = _v(path, "v1")
    assert verified is ok
    assert ("SIG_NOT_DER_MINIMAL" in codes) is (shape == "r-unpadded")
    _agrees(path, ok)


def test_jdk_reading_of_integers():
    """The JDK's two readings: ECDSA takes the bytes as a magnitude; DSA takes a negative value
    as the magnitude of its minimal two's complement (a redundant 0xFF is dropped)."""
    seq = lambda a, b: bytes([0x30, len(a) + len(b) + 4, 2, len(a)]) + a + bytes([2, len(b)]) + b  # noqa: E731
    assert dss_der.jdk_values(seq(b"\x85\x01", b"\x01"), "ECDSA") == (0x8501, 1)
    assert dss_der.jdk_values(seq(b"\x85\x01", b"\x01"), "DSA") == (0x8501, 1)
    assert dss_der.jdk_values(seq(b"\xff\x85", b"\x01"), "ECDSA") == (0xFF85, 1)
    assert dss_der.jdk_values(seq(b"\xff\x85", b"\x01"), "DSA") == (0x85, 1)
    assert dss_der.jdk_values(seq(b"\x00\x05", b"\x01"), "ECDSA") is None  # redundant 0x00
    assert dss_der.jdk_values(seq(b"\x00\x85", b"\x01"), "ECDSA") == (0x85, 1)  # the pad itself
    assert dss_der.jdk_values(seq(b"", b"\x01"), "ECDSA") is None  # empty INTEGER
    assert dss_der.jdk_values(b"\x30\x84\x00\x00\x00\x06" + seq(b"\x01", b"\x01")[2:], "ECDSA") is None
    assert dss_der.not_minimal(seq(b"\x85", b"\x01"), "ECDSA")
    assert not dss_der.not_minimal(seq(b"\x00\x85", b"\x01"), "ECDSA")
    assert not dss_der.not_minimal(b"\x30\x00", "RSA")
