"""Certificates accepted or refused as OpenJDK 17's CertificateFactory does, after apksig's
BER-to-DER retry (apkscan/apk/crypto/jdk_cert.py; review 28 F3, F4, F6).

The table: certificates built here (tests/der_build.py), and whether apksig's
``X509CertificateUtils.generateCertificate`` on OpenJDK 17.0.15 accepted each, recorded.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import der_build as d  # noqa: E402

from apkscan.apk.crypto import jdk_cert, pkcs7  # noqa: E402
from apkscan.apk.crypto.certificates import certificate_from_der  # noqa: E402

from cert_variants import C  # noqa: E402

JAVA = {
    'base': True,
    'v3-ku': True,
    'ku-crit-malformed': False,  # java.lang.ArrayIndexOutOfBoundsException: Index 0 out of bounds for length 0
    'ku-noncrit-malformed': True,
    'ku-noncrit-octet': True,
    'ku-crit-octet': False,  # java.io.IOException: Too short
    'ku-trailing-crit': False,  # java.io.IOException: extra data at the end
    'dup-ku': False,  # java.io.IOException: Duplicate extensions not allowed
    'dup-ku-one-malformed': True,
    'dup-unknown': False,  # java.io.IOException: Duplicate extensions not allowed
    'unknown-crit': True,
    'crit-false-explicit': True,
    'bool-len2': False,  # com.android.apksig.internal.asn1.Asn1DecodingException: Incorrect encoded si
    'ext-value-not-octet': False,  # com.android.apksig.internal.asn1.Asn1BerParser$Asn1UnexpectedTagException: T
    'ext-extra-field': True,
    'bc-crit-ok': True,
    'bc-crit-int-only': True,
    'bc-crit-bool-then-null': False,  # java.io.IOException: Invalid encoding of BasicConstraints
    'bc-crit-not-seq': False,  # java.io.IOException: Invalid encoding of BasicConstraints
    'bc-crit-empty': True,
    'ski-crit-not-octet': False,  # java.io.IOException: DerValue.getOctetString, not an Octet String: 5
    'aki-crit-bad-tag': False,  # java.io.IOException: Invalid encoding of AuthorityKeyIdentifierExtension.
    'aki-crit-ok': True,
    'eku-crit-non-oid': False,  # java.io.IOException: DerValue.getOID, not an OID 5
    'eku-crit-empty': True,
    'san-crit-empty': False,  # java.io.IOException: No data available in passed DER encoded value.
    'san-crit-bad-dns': True,
    'san-crit-ip-5': False,  # java.io.IOException: Invalid IPAddressName
    'empty-subject-san-crit': True,
    'empty-subject-san-noncrit': False,  # java.security.cert.CertificateParsingException: X.509 Certificate is incompl
    'empty-subject-noext': True,
    'empty-subject-v1': False,  # com.android.apksig.internal.asn1.Asn1BerParser$Asn1UnexpectedTagException: T
    'empty-issuer': False,  # java.security.cert.CertificateParsingException: Empty issuer DN not allowed 
    'empty-rdn-subject': True,
    'v1-uid': False,  # com.android.apksig.internal.asn1.Asn1BerParser$Asn1UnexpectedTagException: T
    'v2-uid': True,
    'v2-ext': False,  # java.security.cert.CertificateParsingException: Extensions not allowed in v2
    'v3-uids-ext': True,
    'v3-uid-constructed': True,
    'v3-not-ext': True,
    'v3-after-ext': True,
    'version-5': True,
    'version-5-ext': False,  # java.security.cert.CertificateParsingException: Extensions not allowed in v2
    'version-neg': True,
    'serial-empty': True,
    'serial-not-int': False,  # com.android.apksig.internal.asn1.Asn1BerParser$Asn1UnexpectedTagException: T
    'validity-1': False,  # com.android.apksig.internal.asn1.Asn1EncodingException: Required field not s
    'validity-bad-tag': False,  # com.android.apksig.internal.asn1.Asn1DecodingException: No options of CHOICE
    'validity-garbage-utc': False,  # java.io.IOException: Parse UTC time, invalid format
    'validity-empty-utc': False,  # java.io.IOException: DER UTC Time length error
    'cn-integer': True,
    'cn-deep-seq': True,
    'ava-trailing': True,
    'ava-no-value': False,  # com.android.apksig.internal.asn1.Asn1EncodingException: Required field not s
    'rdn-not-set': False,  # com.android.apksig.internal.asn1.Asn1BerParser$Asn1UnexpectedTagException: T
    'alg-mismatch-params': True,
    'alg-mismatch-int': False,  # java.security.cert.CertificateException: Signature algorithm mismatch
    'alg-params-both-int': True,
    'sig-unused': True,
    'sig-not-bitstring': False,  # com.android.apksig.internal.asn1.Asn1BerParser$Asn1UnexpectedTagException: T
    'tbs-extra-after': True,
    'alg-oid-padded': True,
    'netscape-crit-bad': False,  # java.io.IOException: Too short
    'policies-crit-null': False,  # java.io.IOException: Invalid encoding for CertificatePoliciesExtension.
    'crldp-crit-int': False,  # java.io.IOException: Invalid encoding for CRLDistributionPoints extension.
}


@pytest.mark.parametrize("name", list(C))
def test_accepted_as_openjdk_accepts(name):
    assert (jdk_cert.refusal(C[name].der()) is None) is JAVA[name]


def test_bag_certificate_keyusage_only_when_parseable():
    """A malformed non-critical keyUsage is kept aside by OpenJDK: no keyUsage to check (F3)."""
    assert pkcs7.parse_certificate(C["v3-ku"].der()).key_usage == b"\x07\x80"
    assert pkcs7.parse_certificate(C["ku-noncrit-malformed"].der()).key_usage is None
    assert pkcs7.parse_certificate(C["ku-noncrit-octet"].der()).key_usage is None


def test_any_name_value_is_shown_as_hex():
    """F6: an INTEGER or nested SEQUENCE value: no library reads it, OpenJDK accepts it."""
    cert = certificate_from_der(C["cn-integer"].der())
    assert cert.subject == "CN=#020105" and cert.serial
    deep = certificate_from_der(C["cn-deep-seq"].der())
    assert deep.subject.startswith("CN=#3082") or deep.subject.startswith("CN=#30")


def test_no_bytes_raise():
    der = C["v3-ku"].der()
    for cut in range(len(der)):
        jdk_cert.refusal(der[:cut])
        jdk_cert.refusal(der[:cut] + b"\x00" + der[cut + 1:])
