"""v1: the SignerInfo's issuerAndSerialNumber names its bag certificate as apksig finds it
(``X500Principal.equals``), at any length (review 28 F1/F2).

The issuer is not signed: anyone can rewrite it in a vendor's v1-only APK. Each case changes
only that field of ``fixtures/apks/v1-only.apk`` (the bag and every signed byte unchanged):
a name Java calls equal must still find the signer (the vendor's key stays *verified*); one
Java calls different (a BMP/T61/IA5 re-encoding, compared as bytes) must not.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apksigner_helper import apksigner_available, apksigner_verify

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "apks"
SIGNER = "3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81"  # test-rsa


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    head = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + body


def _issuer(cn: bytes, cn_tag: int = 0x13) -> bytes:
    """CN=<cn>,O=Example Corp,C=US encoded as test-rsa's issuer is, CN value re-tagged."""
    def rdn(oid: str, tag: int, value: bytes) -> bytes:
        return _tlv(0x31, _tlv(0x30, _tlv(0x06, bytes.fromhex(oid)) + _tlv(tag, value)))
    return _tlv(0x30, rdn("550406", 0x13, b"US") + rdn("55040a", 0x13, b"Example Corp") + rdn("550403", cn_tag, cn))


def patched_apk(tmp_path: Path, issuer: bytes, name: str) -> Path:
    from asn1crypto import cms, x509

    out = io.BytesIO()
    with zipfile.ZipFile(FIXTURES / "v1-only.apk") as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".RSA"):
                ci = cms.ContentInfo.load(data)
                si = ci["content"]["signer_infos"][0]
                serial = si["sid"].chosen["serial_number"].native
                si["sid"] = cms.SignerIdentifier({"issuer_and_serial_number": {
                    "issuer": x509.Name.load(issuer), "serial_number": serial}})
                data = ci.dump(force=True)
            dst.writestr(info, data)
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return path


def _verdict(path: Path) -> tuple[bool, list[str]]:
    v1 = identify(str(path)).verification.schemes["v1"]
    return v1.verified, [s.certificate.sha256 for s in v1.signers if s.verified]


def test_the_unpatched_issuer_matches(tmp_path):
    assert _verdict(patched_apk(tmp_path, _issuer(b"apkscan test"), "same.apk")) == (True, [SIGNER])


@pytest.mark.parametrize("cn, tag, verified", [
    (b"apkscan test" + b" " * 70_000, 0x13, True),   # trailing spaces, past the old 64 KiB fallback
    (b" " * 66_000 + b"apkscan test", 0x13, True),   # leading spaces
    ("apk\u017fcan te\u017ft".encode(), 0x0C, True),  # long s: toUpperCase().toLowerCase() (as dotless i)
    (b"APKSCAN   TEST", 0x0C, True),                  # case and inner runs of spaces
    ("apkscan test".encode("utf-16-be"), 0x1E, False),  # BMPString: compared as #hex in Java
    (b"apkscan test", 0x14, False),                  # TeletexString
    (b"apkscan test", 0x16, False),                  # IA5String
])
def test_signer_issuer_matches_as_x500principal(tmp_path, cn, tag, verified):
    path = patched_apk(tmp_path, _issuer(cn, tag), f"issuer-{tag}-{len(cn)}.apk")
    ok, signers = _verdict(path)
    assert ok is verified
    assert signers == ([SIGNER] if verified else [])
    if apksigner_available():
        assert apksigner_verify(path)["verified"] is verified
