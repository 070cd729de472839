"""Bytes after a v2/v3/v4 key record's SubjectPublicKeyInfo (review 73 F6).

OpenJDK's ``KeyFactory.generatePublic(X509EncodedKeySpec)`` reads one DER value from a stream
(``X509Key.decode``) and never looks past it, so apksig verifies the signature with such a key
and then fails the signer because the record differs from the certificate's key
(``V2_SIG_PUBLIC_KEY_MISMATCH_BETWEEN_CERTIFICATE_AND_SIGNATURES_RECORD``), not as a malformed
key. Bytes *inside* the SEQUENCE after the BIT STRING are refused ("excess key data"). Each file
is ``fixtures/apks/v2-only.apk`` with its key record rewritten and re-signed (tests/v2_resign.py).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import der_build as d  # noqa: E402
from apksigner_helper import apksigner_available, apksigner_verify  # noqa: E402
from v2_resign import fixture_spki, v2_with, write  # noqa: E402

from apkscan.apk.crypto import jdk_key  # noqa: E402
from apkscan.apk.identify import identify  # noqa: E402

RSA_KEY = d.seq(d.seq(d.oid("1.2.840.113549.1.1.1"), d.NULL), d.bitstring(d.seq(d.integer(d.RSA_N), d.integer(65537))))
EC_KEY = d.seq(d.seq(d.oid("1.2.840.10045.2.1"), d.oid("1.2.840.10045.3.1.7")), d.bitstring(b"\x04" + b"\x01" * 64))
# OpenJDK 17.0.15, KeyFactory.getInstance(alg).generatePublic(new X509EncodedKeySpec(bytes)):
# the first 16 hex digits of SHA-256(getEncoded()), whatever follows the SEQUENCE
JAVA = {"RSA": "c5887b0888fdfcdb", "EC": "de21ecf23d12154c"}


@pytest.mark.parametrize("alg,spki", [("RSA", RSA_KEY), ("EC", EC_KEY)], ids=["rsa", "ec"])
@pytest.mark.parametrize("tail", [b"\x00", b"\x30\x00", RSA_KEY], ids=["byte", "empty-sequence", "another-key"])
def test_a_key_record_is_read_up_to_its_sequence(alg, spki, tail):
    key = jdk_key.java_key(spki + tail)
    assert key is not None and hashlib.sha256(key.encoded).hexdigest()[:16] == JAVA[alg]
    assert jdk_key.java_key(spki + tail, in_certificate=True) is None  # a certificate's SPKI is one element


def test_bytes_after_the_record_are_a_key_mismatch_as_in_apksig(tmp_path):
    tail = write(tmp_path, "tail.apk", v2_with([_cert()], public_key=fixture_spki() + b"\x00"))
    ident = identify(str(tail), idsig=False)
    v2 = ident.verification.schemes["v2"]
    assert not ident.verified
    assert [e.code for e in v2.all_errors()] == ["V2_SIG_PUBLIC_KEY_MISMATCH_BETWEEN_CERTIFICATE_AND_SIGNATURES_RECORD"]
    assert v2.signers[0].certificate is not None  # the signed data was read past the key, as apksig does
    inside = write(tmp_path, "inside.apk", v2_with([_cert()], public_key=_with_null_inside(fixture_spki())))
    assert [e.code for e in identify(str(inside), idsig=False).verification.schemes["v2"].all_errors()] == [
        "V2_SIG_MALFORMED_PUBLIC_KEY"]
    if apksigner_available():
        said = apksigner_verify(tail, min_sdk=24)
        assert not said["verified"] and any("Public key mismatch between certificate and signature record" in e
                                            for e in said["errors"]), said
        said = apksigner_verify(inside, min_sdk=24)
        assert not said["verified"] and any("Malformed public key" in e for e in said["errors"]), said


def _cert() -> bytes:
    from v2_resign import fixture_certificate

    return fixture_certificate()


def _with_null_inside(spki: bytes) -> bytes:
    """The SubjectPublicKeyInfo with a NULL after its BIT STRING, inside the SEQUENCE."""
    from apkscan.apk.crypto.asn1 import children, read_tlv

    parts = children(spki, read_tlv(spki, 0, len(spki)))
    return d.seq(*(spki[p.start:p.end] for p in parts), d.NULL)
