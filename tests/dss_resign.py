"""ECDSA/DSA signatures in odd DER shapes, on real APKs (review 59 F2).

Only the key holder can make these: the v2 signer of ``fixtures/apks/v2-only.apk`` is re-signed
with an EC or DSA key, and the v1 signature block of ``fixtures/apks/v1-only.apk`` is replaced
by one whose SignerInfo is signed with test-ec; the signature's (r, s) is then written in the
shape asked for. The JDK (apksig) reads an INTEGER without its 0x00 pad as the positive value
and refuses every other shape here.
"""

from __future__ import annotations

import io
import struct
import zipfile

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from v2_resign import KEY, V2, V2_ONLY, _block, _with_block, fixture_certificate, lp, split_lp

V1_ONLY = V2_ONLY.parent / "v1-only.apk"


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    head = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + body


def _unsigned(v: int) -> bytes:
    return v.to_bytes((v.bit_length() + 7) // 8 or 1, "big")


def _minimal(v: int) -> bytes:
    return v.to_bytes(v.bit_length() // 8 + 1, "big")


SHAPES = {
    "minimal": lambda r, s: _tlv(0x30, _tlv(2, _minimal(r)) + _tlv(2, _minimal(s))),
    "r-unpadded": lambda r, s: _tlv(0x30, _tlv(2, _unsigned(r)) + _tlv(2, _minimal(s))),
    # refused by the JDK too (the controls)
    "r-extra-zero": lambda r, s: _tlv(0x30, _tlv(2, b"\0" + _minimal(r)) + _tlv(2, _minimal(s))),
    "long-length": lambda r, s: (lambda body: b"\x30\x81" + bytes([len(body)]) + body)(_tlv(2, _minimal(r)) + _tlv(2, _minimal(s))),
    "indefinite": lambda r, s: b"\x30\x80" + _tlv(2, _minimal(r)) + _tlv(2, _minimal(s)) + b"\0\0",
    "trailing-byte": lambda r, s: _tlv(0x30, _tlv(2, _minimal(r)) + _tlv(2, _minimal(s))) + b"\0",
    "third-element": lambda r, s: _tlv(0x30, _tlv(2, _minimal(r)) + _tlv(2, _minimal(s)) + _tlv(2, b"\1")),
}


def _sign(key, data: bytes) -> tuple[int, int]:
    """(r, s) over ``data``, signed again until r's top bit is set (so unpadded it reads negative)."""
    while True:
        sig = key.sign(data, ec.ECDSA(hashes.SHA256())) if isinstance(key, ec.EllipticCurvePrivateKey) \
            else key.sign(data, hashes.SHA256())
        r, s = decode_dss_signature(sig)
        if r.bit_length() % 8 == 0:
            return r, s


def dsa_key_and_certificate() -> tuple[dsa.DSAPrivateKey, bytes]:
    """A fresh DSA-2048 key and a self-signed certificate for it (no DSA key among the fixtures)."""
    import datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = dsa.generate_private_key(2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apkscan test DSA")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.DER)


def v2_signed(shape: str, key=None, cert: bytes | None = None) -> bytes:
    """v2-only.apk re-signed by ``key`` (default test-ec: ECDSA-SHA256 0x0201; DSA: 0x0301), the
    signature written in ``shape``."""
    if key is None:
        key = serialization.load_der_private_key((KEY.parent / "test-ec.pk8").read_bytes(), None)
        cert = fixture_certificate("test-ec")
    alg = 0x0201 if isinstance(key, ec.EllipticCurvePrivateKey) else 0x0301
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    data = V2_ONLY.read_bytes()
    eocd, cdo, start, pairs = _block(data)
    for pair in pairs:
        if pair[0] != V2:
            continue
        digests, _certs, *rest = split_lp(split_lp(split_lp(split_lp(pair[1])[0])[0])[0])
        digests = b"".join(lp(struct.pack("<I", alg) + r[4:]) for r in split_lp(digests))
        signed = lp(digests) + lp(lp(cert)) + b"".join(lp(r) for r in rest)
        sig = SHAPES[shape](*_sign(key, signed))
        pair[1] = lp(lp(lp(signed) + lp(lp(struct.pack("<I", alg) + lp(sig))) + lp(spki)))
    return _with_block(data, eocd, cdo, start, pairs)


def v1_ec_signed(shape: str) -> bytes:
    """v1-only.apk whose signature block is ``TEST-RSA.EC``: the same .SF signed with test-ec
    (SHA256withECDSA, no signed attributes: API 21 and later for SHA-256 with ECDSA; the APK says minSdk 21), the signature in ``shape``."""
    from asn1crypto import cms, x509

    key = serialization.load_der_private_key((KEY.parent / "test-ec.pk8").read_bytes(), None)
    cert = x509.Certificate.load(fixture_certificate("test-ec"))
    out = io.BytesIO()
    with zipfile.ZipFile(V1_ONLY) as src, zipfile.ZipFile(out, "w") as dst:
        sf = src.read("META-INF/TEST-RSA.SF")
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".RSA"):
                ci = cms.ContentInfo.load(data)
                sd = ci["content"]
                sd["digest_algorithms"] = [{"algorithm": "sha256"}]
                sd["certificates"] = [cms.CertificateChoices({"certificate": cert})]
                si = sd["signer_infos"][0]
                si["sid"] = cms.SignerIdentifier({"issuer_and_serial_number": {
                    "issuer": cert.issuer, "serial_number": cert.serial_number}})
                si["digest_algorithm"] = {"algorithm": "sha256"}
                si["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}
                si["signature"] = SHAPES[shape](*_sign(key, sf))
                data = ci.dump(force=True)
                info = zipfile.ZipInfo("META-INF/TEST-RSA.EC", info.date_time)
                info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)
    return out.getvalue()
