"""v2/v3 signer certificate lists and keys as apksig reads them (review 28 F4-F8).

Each file is ``fixtures/apks/v2-only.apk`` with its signer's certificate list (and key record)
rewritten and re-signed with the fixture key (``tests/v2_resign.py``): the vendor as adversary.
Where apksigner is installed, each verdict is checked against it too.
"""

from __future__ import annotations

import datetime
import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apksigner_helper import apksigner_available, apksigner_verify  # noqa: E402
from v2_resign import SIGNER, fixture_certificate, v2_with  # noqa: E402

from apkscan.apk.identify import identify  # noqa: E402
from apkscan.apk.signing.v2v3 import signer as v2signer  # noqa: E402
from apkscan.scan import incomplete  # noqa: E402


def _extra(i: int) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.derive_private_key(1000 + i, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"extra {i}")])
    when = datetime.datetime(2024, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(i + 1).not_valid_before(when).not_valid_after(when + datetime.timedelta(days=9000))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


from v2_resign import apksigner_agrees as _agrees, scheme_signers, write as _write  # noqa: E402


def _v2(path: Path):
    return scheme_signers(path, "v2")


def test_a_signer_with_33_certificates_verifies(tmp_path):
    """F5: apksig has no cap; 32 extra certificates after the signer's own hid its key."""
    path = _write(tmp_path, "33.apk", v2_with([fixture_certificate()] + [_extra(i) for i in range(32)]))
    ident, verified, signers = _v2(path)
    assert verified and signers == [SIGNER] and ident.verified
    _agrees(path, True)


def test_past_the_certificate_cap_is_an_input_limit(tmp_path):
    """Past the cap (memory bound): an input error with the signatures not read, never a plain
    "does not verify" with complete coverage (the verdict must not read "allowed")."""
    extra = _extra(0)
    path = _write(tmp_path, "cap.apk", v2_with([fixture_certificate()] + [extra] * v2signer.MAX_CERTIFICATES_PER_SIGNER))
    ident, verified, _ = _v2(path)
    code = "INPUT_TOO_MANY_CERTIFICATES"
    assert not verified and not ident.verified
    assert code in {e.code for e in ident.errors} and code in {e.code for e in incomplete(ident)}
    assert not ident.completeness.has("signatures") and ident.completeness.why["signatures"] == code


def test_scan_exits_3_at_the_certificate_cap(tmp_path):
    from cli_helpers import run

    path = _write(tmp_path, "cap.apk", v2_with([fixture_certificate()] + [_extra(0)] * v2signer.MAX_CERTIFICATES_PER_SIGNER))
    done = run("inspect", path)
    assert done.returncode == 3, done.stderr
    assert "signatures: not read (INPUT_TOO_MANY_CERTIFICATES)" in done.stdout


# --- keys (F7, F8, F9) ---------------------------------------------------------------------------

from v2_resign import cert_with_spki, fixture_spki, v1_with_bag_certificate  # noqa: E402



def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    head = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + body


def _rsa_spki(pad: bytes = b"", params: bytes | None = b"\x05\x00", algorithm: str = "2a864886f70d010101") -> bytes:
    """test-rsa's key; ``pad`` zero bytes before the modulus's own (non-minimal INTEGER)."""
    from cryptography.hazmat.primitives import serialization

    numbers = serialization.load_der_public_key(fixture_spki()).public_numbers()
    n = b"\x00" + numbers.n.to_bytes(256, "big")
    key = _tlv(0x30, _tlv(0x02, pad + n) + _tlv(0x02, numbers.e.to_bytes(3, "big")))
    alg = _tlv(0x30, _tlv(0x06, bytes.fromhex(algorithm)) + (params or b""))
    return _tlv(0x30, alg + _tlv(0x03, b"\x00" + key))


def _codes(ident) -> set[str]:
    return {i.code for s in ident.verification.schemes["v2"].signers for i in s.errors}


def test_zero_padded_modulus_in_certificate_and_record_verifies(tmp_path):
    """F8: Java keeps the key bytes and reads n unsigned; OpenSSL refused the padded INTEGER."""
    spki = _rsa_spki(pad=b"\x00\x00")
    cert = cert_with_spki(fixture_certificate(), spki)
    path = _write(tmp_path, "pad-same.apk", v2_with([cert], public_key=spki))
    ident, verified, signers = _v2(path)
    assert verified and signers == [hashlib.sha256(cert).hexdigest()]
    _agrees(path, True)


def test_zero_padded_modulus_against_a_canonical_record_is_a_mismatch(tmp_path):
    """F7: apksig compares getEncoded() bytes; only a negative modulus is re-encoded."""
    cert = cert_with_spki(fixture_certificate(), _rsa_spki(pad=b"\x00\x00"))
    path = _write(tmp_path, "pad-canonical.apk", v2_with([cert], public_key=_rsa_spki()))
    ident, verified, _ = _v2(path)
    assert not verified
    assert "V2_SIG_PUBLIC_KEY_MISMATCH_BETWEEN_CERTIFICATE_AND_SIGNATURES_RECORD" in _codes(ident)
    _agrees(path, False)


# SEC 2 P-256 domain parameters, for an explicit-parameters key (JDK 17 refuses those).
_P256 = {k: int(v, 16) for k, v in {
    "p": "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
    "a": "ffffffff00000001000000000000000000000000fffffffffffffffffffffffc",
    "b": "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
    "gx": "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
    "gy": "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    "n": "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"}.items()}


def _ec_spki(form: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_der_public_key(fixture_spki("test-ec"))
    fmt = serialization.PublicFormat.CompressedPoint if form == "compressed" else serialization.PublicFormat.UncompressedPoint
    point = key.public_bytes(serialization.Encoding.X962, fmt)
    if form == "explicit":
        i = lambda v: _tlv(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big"))  # noqa: E731
        field = _tlv(0x30, _tlv(0x06, bytes.fromhex("2a8648ce3d0101")) + i(_P256["p"]))
        curve = _tlv(0x30, _tlv(0x04, _P256["a"].to_bytes(32, "big")) + _tlv(0x04, _P256["b"].to_bytes(32, "big")))
        base = _tlv(0x04, b"\x04" + _P256["gx"].to_bytes(32, "big") + _P256["gy"].to_bytes(32, "big"))
        params = _tlv(0x30, i(1) + field + curve + base + i(_P256["n"]) + i(1))
    else:
        params = _tlv(0x06, bytes.fromhex("2a8648ce3d030107"))
    return _tlv(0x30, _tlv(0x30, _tlv(0x06, bytes.fromhex("2a8648ce3d0201")) + params) + _tlv(0x03, b"\x00" + point))


def test_named_uncompressed_ec_key_verifies(tmp_path):
    spki = _ec_spki("named")
    assert spki == fixture_spki("test-ec")
    path = _write(tmp_path, "ec.apk", v2_with([fixture_certificate("test-ec")], public_key=spki, key_name="test-ec"))
    assert _v2(path)[1]


@pytest.mark.parametrize("form", ["explicit", "compressed"])
def test_ec_keys_jdk17_refuses_are_refused(tmp_path, form):
    """F7: OpenSSL takes explicit parameters and compressed points; OpenJDK 17's KeyFactory
    does not ("Malformed public key"), whatever the certificate says."""
    spki = _ec_spki(form)
    cert = cert_with_spki(fixture_certificate("test-ec"), spki)
    path = _write(tmp_path, f"ec-{form}.apk", v2_with([cert], public_key=spki, key_name="test-ec"))
    ident, verified, _ = _v2(path)
    assert not verified and "V2_SIG_MALFORMED_PUBLIC_KEY" in _codes(ident)
    _agrees(path, False)


def test_v1_certificate_with_the_pss_key_oid_verifies_sha256withrsa(tmp_path):
    """F8: OpenJDK's SHA256withRSA takes an RSASSA-PSS key; the v1 signer was refused."""
    cert = cert_with_spki(fixture_certificate(), _rsa_spki(params=None, algorithm="2a864886f70d01010a"))
    path = _write(tmp_path, "v1-pss-oid.apk", v1_with_bag_certificate(cert))
    v1 = identify(str(path), idsig=False).verification.schemes["v1"]
    assert v1.verified and [s.certificate.sha256 for s in v1.signers] == [hashlib.sha256(cert).hexdigest()]
    _agrees(path, True)


@pytest.mark.parametrize("scheme", ["v1", "v2"])
def test_public_key_digest_is_over_javas_encoding(tmp_path, scheme):
    """F9: an RSA key without NULL parameters: apksigner hashes getEncoded() (NULL added)."""
    cert = cert_with_spki(fixture_certificate(), _rsa_spki(params=None))
    data = v1_with_bag_certificate(cert) if scheme == "v1" else v2_with([cert], public_key=_rsa_spki())
    path = _write(tmp_path, f"{scheme}-no-null.apk", data)
    result = identify(str(path), idsig=False).verification.schemes[scheme]
    assert result.verified
    assert result.signers[0].certificate.public_key_sha256 == hashlib.sha256(_rsa_spki()).hexdigest()
    if apksigner_available():
        out = apksigner_verify(path)["output"]
        assert f"public key SHA-256 digest: {hashlib.sha256(_rsa_spki()).hexdigest()}" in out


# --- which certificates are certificates (F3, F4, F6) ---------------------------------------------

import der_build as d  # noqa: E402
from cert_variants import C  # noqa: E402
from v2_resign import replace_nested  # noqa: E402


def _v1_with_extra(tmp_path: Path, extra: bytes, name: str) -> Path:
    """v1-only.apk with one more certificate in its bag (the bag is not signed: anyone can)."""
    import io
    import zipfile

    src = Path(__file__).resolve().parent.parent / "fixtures" / "apks" / "v1-only.apk"
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".RSA"):
                data = replace_nested(data, fixture_certificate(), fixture_certificate() + extra)
            zout.writestr(info, data)
    return _write(tmp_path, name, out.getvalue())


def _v1(path: Path):
    v1 = identify(str(path), idsig=False).verification.schemes["v1"]
    return v1.verified, [s.certificate.sha256 for s in v1.signers if s.verified], {i.code for s in v1.signers for i in s.errors}


def test_v1_extra_certificate_with_a_malformed_noncritical_extension_still_verifies(tmp_path):
    """F3: OpenJDK keeps an unparseable non-critical extension aside; the bag parses."""
    path = _v1_with_extra(tmp_path, C["ku-noncrit-malformed"].der(), "ku.apk")
    assert _v1(path)[:2] == (True, [SIGNER])
    _agrees(path, True)


@pytest.mark.parametrize("case", ["dup-ku", "alg-mismatch-int", "v2-ext", "empty-issuer", "rsa-trailing",
                                  "ku-crit-malformed", "validity-garbage-utc"])
def test_v1_extra_certificate_openjdk_refuses_fails_the_block(tmp_path, case):
    """F4: apksig parses every bag certificate; one it cannot parse fails the block, so the
    signer is not verified here either (it was reported confirmed)."""
    if case == "rsa-trailing":
        extra = d.Cert(spki=d.seq(d.alg(d.RSA), d.bitstring(d.seq(d.integer(d.RSA_N), d.integer(65537)) + b"\0\0"))).der()
    else:
        extra = C[case].der()
    path = _v1_with_extra(tmp_path, extra, f"{case}.apk")
    verified, signers, codes = _v1(path)
    assert not verified and not signers and "JAR_SIG_PARSE_EXCEPTION" in codes
    _agrees(path, False)


def _own(**kw) -> bytes:
    """A certificate for test-rsa's key, with the given der_build fields."""
    return d.Cert(spki=fixture_spki(), **kw).der()


@pytest.mark.parametrize("case, cert", [
    ("dup-ext", lambda: _own(tail=C["dup-ku"].tail)),
    ("alg-mismatch", lambda: _own(outer_alg=d.alg("1.2.840.113549.1.1.5"))),
    ("v1-with-ext", lambda: _own(version=b"", tail=C["v3-ku"].tail)),
    ("empty-issuer", lambda: _own(issuer=d.seq())),
    ("empty-rdn-issuer", lambda: _own(issuer=d.seq(d.set_()))),
])
def test_v2_signer_certificate_openjdk_refuses_is_malformed(tmp_path, case, cert):
    path = _write(tmp_path, f"v2-{case}.apk", v2_with([cert()]))
    ident, verified, _ = _v2(path)
    assert not verified and "V2_SIG_MALFORMED_CERTIFICATE" in _codes(ident)
    _agrees(path, False)


@pytest.mark.parametrize("where", ["extra", "own"])
@pytest.mark.parametrize("value", ["integer", "deep-sequence"])
def test_v2_any_name_value_is_accepted(tmp_path, where, value):
    """F6: an INTEGER or a 300-deep SEQUENCE as a CN value: OpenJDK takes any DER value."""
    odd = d.integer(5)
    if value == "deep-sequence":
        for _ in range(300):
            odd = d.seq(odd)
    subject = d.name(d.seq(d.oid(d.CN), odd))
    certs = [fixture_certificate(), d.Cert(subject=subject).der()] if where == "extra" else [_own(subject=subject)]
    path = _write(tmp_path, f"v2-{where}-{value}.apk", v2_with(certs))
    ident, verified, signers = _v2(path)
    assert verified and signers == [hashlib.sha256(certs[0]).hexdigest()]
    if where == "own":
        assert ident.verification.schemes["v2"].signers[0].certificate.subject.startswith("CN=#")
    _agrees(path, True)


# --- the other per-signer caps apksig lacks ---------------------------------------------------

from v2_resign import v2_with_unknown_algorithms  # noqa: E402


def test_records_of_unknown_algorithms_do_not_unverify_the_signer(tmp_path):
    """The vendor as adversary: digest and signature records of an unknown algorithm are skipped
    by apksig, which verifies; 64 of them made the signer "not verified" here."""
    path = _write(tmp_path, "many-sigs.apk", v2_with_unknown_algorithms(200))  # the old cap was 64
    ident, verified, _ = _v2(path)
    assert verified and ident.verified and not ident.errors, ident.errors
    if apksigner_available():
        assert apksigner_verify(path)["verified"]


def test_past_the_signature_record_cap_is_an_input_limit(tmp_path):
    from cli_helpers import run

    path = _write(tmp_path, "cap-sigs.apk", v2_with_unknown_algorithms(v2signer.MAX_SIGNATURES_PER_SIGNER))
    ident, verified, _ = _v2(path)
    code = "INPUT_TOO_MANY_SIGNATURES"
    assert not ident.verified and code in {e.code for e in incomplete(ident)}
    assert not ident.completeness.has("signatures") and ident.completeness.why["signatures"] == code
    done = run("inspect", path)
    assert done.returncode == 3 and f"signatures: not read ({code})" in done.stdout, done.stdout


# --- v3 signers: apksig has no cap (review 36 N1) ------------------------------------------------

from v2_resign import v3_with_signers  # noqa: E402
from apkscan.apk.signing.v2v3 import verifier as v2v3verifier  # noqa: E402


def test_a_valid_v3_block_of_65_signers_verifies_as_in_apksigner(tmp_path):
    path = _write(tmp_path, "v3-65.apk", v3_with_signers(65))  # one SDK level each, 28..92, then the rest
    ident, verified, signers = scheme_signers(path, "v3")
    assert verified and ident.verified and set(signers) == {SIGNER}  # before: INPUT_TOO_MANY_SIGNERS, exit 3
    _agrees(path, True)


def test_past_the_signer_cap_a_v3_block_is_an_input_limit_not_a_verdict(tmp_path):
    path = _write(tmp_path, "v3-cap.apk", v3_with_signers(v2v3verifier.MAX_PARSED_SIGNERS + 1))
    ident, verified, _ = scheme_signers(path, "v3")
    code = "INPUT_TOO_MANY_SIGNERS"
    assert not verified and not ident.verified
    assert ident.completeness.why["signatures"] == code and code in {e.code for e in incomplete(ident)}
