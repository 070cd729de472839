"""Issue 10 item 6: certificate fields that join with apksigner, AndroidQF and MVT output."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apkscan.apk.crypto.certificates import certificate_from_der
from apkscan.apk.crypto.interop import androidqf_name, serial_decimal

from cli_helpers import APKS


def _cert(subject: list[x509.NameAttribute], serial: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(subject)
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_androidqf_subject_form_order_multivalue_and_hostile_values():
    """apkverifier's CertInfo: C, ST, L, O, OU, CN in that order whatever the DER order,
    several values joined with ';', the last CN, nothing else; values are not escaped."""
    der = _cert([x509.NameAttribute(NameOID.COMMON_NAME, "first"),
                 x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@b.c"),
                 x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Eng"),
                 x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Sec"),
                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tencent, Inc. CN=fake"),
                 x509.NameAttribute(NameOID.LOCALITY_NAME, "Shenzhen"),
                 x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                 x509.NameAttribute(NameOID.COMMON_NAME, "second")], serial=2**70 + 5)
    cert = certificate_from_der(der)
    assert cert.subject_androidqf == "C=CN, L=Shenzhen, O=Tencent, Inc. CN=fake, OU=Eng;Sec, CN=second"
    assert cert.issuer_androidqf == cert.subject_androidqf
    assert cert.serial == format(2**70 + 5, "x") and cert.serial_decimal == str(2**70 + 5)
    d = cert.to_dict()
    assert d["serial_decimal"] == "1180591620717411303429" and isinstance(d["serial_decimal"], str)
    assert androidqf_name({}) == "" and serial_decimal("") == "" and serial_decimal("zz") == ""


def test_androidqf_form_of_the_mvt_test_artifact_layout():
    """MVT's androidqf test data: 'C=US, ST=California, L=Santa Clara, O=WhatsApp Inc., OU=Engineering, CN=Brian Acton'."""
    der = _cert([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                 x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
                 x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "WhatsApp Inc."),
                 x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
                 x509.NameAttribute(NameOID.COMMON_NAME, "Brian Acton")], serial=1277507236)
    cert = certificate_from_der(der)
    assert cert.subject_androidqf == ("C=US, ST=California, L=Santa Clara, O=WhatsApp Inc., "
                                      "OU=Engineering, CN=Brian Acton")
    assert cert.serial_decimal == "1277507236"


@pytest.mark.skipif(shutil.which("apksigner") is None, reason="apksigner not installed")
@pytest.mark.parametrize("name", ["clean-v1v2v3.apk", "ec-v2v3.apk", "debug-signed.apk", "wechat-impostor.apk"])
def test_public_key_and_certificate_digests_equal_apksigner_print_certs(name):
    from apkscan.apk.identify import identify

    apk = APKS / name
    if not apk.is_file():
        pytest.skip("fixture not generated")
    out = subprocess.run(["apksigner", "verify", "-v", "--print-certs", str(apk)], capture_output=True,
                         text=True, timeout=120).stdout
    printed = dict(re.findall(r"^Signer #1 (.+?): ([0-9a-f]+)$", out, re.M))
    signer = identify(apk).verification.signers[0]
    assert printed["public key SHA-256 digest"] == signer.public_key_sha256
    assert printed["public key SHA-1 digest"] == signer.public_key_sha1
    assert printed["public key MD5 digest"] == signer.public_key_md5
    assert printed["certificate SHA-256 digest"] == signer.sha256
    assert printed["certificate MD5 digest"] == signer.md5
