"""Public keys accepted, refused and re-encoded as OpenJDK 17 does (apkscan/apk/crypto/jdk_key.py).

The table: SubjectPublicKeyInfos built here, and for each what OpenJDK 17.0.15 answered,
recorded: (in a certificate: CertificateFactory through apksig's X509CertificateUtils, as a
v2/v3/v4 key record: KeyFactory RSA/EC/DSA), each the first 16 hex digits of the SHA-256 of
``getEncoded()``, or None when it refused. Review 28 F7/F8/F9.
"""

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apkscan.apk.crypto import jdk_key, signatures  # noqa: E402

import der_build as d  # noqa: E402
t = d.tlv
N = d.RSA_N  # 1024-bit
RSA, PSS, EC, DSA = "1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10", "1.2.840.10045.2.1", "1.2.840.10040.4.1"
def rsa(n=N, e=65537, params=d.NULL, alg=RSA, tail=b"", nraw=None, unused=0):
    nb = t(2, nraw) if nraw is not None else d.integer(n)
    return d.seq(d.seq(d.oid(alg), params or b""), d.bitstring(d.seq(nb, d.integer(e)) + tail, unused))
def ec(curve="1.2.840.10045.3.1.7", point=b"\x04" + b"\x01" * 64, params=None):
    return d.seq(d.seq(d.oid(EC), params if params is not None else d.oid(curve)), d.bitstring(point))
def longlen(tag, body, n):
    return bytes([tag, 0x80 | n]) + len(body).to_bytes(n, "big") + body
KEYS = {
    "rsa": rsa(), "rsa-no-null": rsa(params=None), "rsa-e1": rsa(e=1), "rsa-e3": rsa(e=3), "rsa-e-even": rsa(e=65538),
    "rsa-e-ge-n": rsa(e=N), "rsa-504": rsa(n=N >> 520 | 1), "rsa-512": rsa(n=(1 << 511) | 1),
    "rsa-zero-pad": rsa(nraw=b"\x00\x00\x00" + N.to_bytes(128, "big")), "rsa-negative": rsa(nraw=N.to_bytes(128, "big")),
    "rsa-trailing": rsa(tail=b"\x00\x00"), "rsa-unused-bits": rsa(tail=b"\x00", unused=1),
    "rsa-null-with-content": rsa(params=b"\x05\x01\x00"), "rsa-int-params": rsa(params=d.integer(0)),
    "rsa-16385": rsa(n=(1 << 16384) | 1), "rsa-4096-e65bits": rsa(n=(1 << 4095) | 1, e=(1 << 64) | 1),
    "pss": rsa(alg=PSS, params=None), "pss-params": rsa(alg=PSS, params=d.seq()),
    "algid-extra": d.seq(d.seq(d.oid(RSA), d.NULL, d.NULL), d.bitstring(d.seq(d.integer(N), d.integer(65537)))),
    "outer-long-len": longlen(0x30, d.seq(d.oid(RSA), d.NULL) + d.bitstring(d.seq(d.integer(N), d.integer(65537))), 3),
    "ec-p256": ec(), "ec-k1": ec("1.3.132.0.10"), "ec-unknown-curve": ec("1.3.132.0.99"), "ec-null": ec(params=d.NULL),
    "ec-explicit": ec(params=d.seq(d.integer(1))), "ec-compressed": ec(point=b"\x02" + b"\x01" * 32),
    "ec-short-point": ec(point=b"\x04" + b"\x01" * 63), "ec-p384-size": ec("1.3.132.0.34", b"\x04" + b"\x01" * 96),
    "ed25519": d.seq(d.seq(d.oid("1.3.101.112")), d.bitstring(b"\x01" * 32)),
    "ed25519-31": d.seq(d.seq(d.oid("1.3.101.112")), d.bitstring(b"\x01" * 31)),
    "dsa-no-params": d.seq(d.seq(d.oid(DSA)), d.bitstring(d.integer(12345))),
    "unknown": d.seq(d.seq(d.oid("1.2.3.4")), d.bitstring(b"key")),
    "unknown-unused": d.seq(d.seq(d.oid("1.2.3.4")), d.bitstring(b"key", 3)),
}

JAVA = {
    'rsa': ('c5887b0888fdfcdb', 'c5887b0888fdfcdb'),  #  | 
    'rsa-no-null': ('c5887b0888fdfcdb', 'c5887b0888fdfcdb'),  #  | 
    'rsa-e1': (None, None),  # java.security.InvalidKeyException: exponent is smaller than 3 | java.security.InvalidKeyException: exponent is smaller than 3
    'rsa-e3': ('a3f2a286a905cb0d', 'a3f2a286a905cb0d'),  #  | 
    'rsa-e-even': ('72baeea7b5157c23', '72baeea7b5157c23'),  #  | 
    'rsa-e-ge-n': (None, None),  # java.security.InvalidKeyException: exponent is larger than modulus | java.security.InvalidKeyException: exponent is larger than modulus
    'rsa-504': (None, None),  # java.security.InvalidKeyException: RSA keys must be at least 512 b | java.security.InvalidKeyException: RSA keys must be at least 512 b
    'rsa-512': ('0c6a6eade647d5b9', '0c6a6eade647d5b9'),  #  | 
    'rsa-zero-pad': ('e36db21adf988bba', 'e36db21adf988bba'),  #  | 
    'rsa-negative': ('27bdd8d694d7f965', '27bdd8d694d7f965'),  #  | 
    'rsa-trailing': (None, None),  # java.io.IOException: extra data at the end | java.io.IOException: extra data at the end
    'rsa-unused-bits': (None, None),  # java.io.IOException: extra data at the end | java.io.IOException: extra data at the end
    'rsa-null-with-content': (None, None),  # java.io.IOException: invalid NULL | java.security.InvalidKeyException: IOException: invalid NULL
    'rsa-int-params': ('b4f0106a419d9bc8', 'b4f0106a419d9bc8'),  #  | 
    'rsa-16385': (None, None),  # java.security.InvalidKeyException: RSA keys must be no longer than | java.security.InvalidKeyException: RSA keys must be no longer than
    'rsa-4096-e65bits': (None, None),  # java.security.InvalidKeyException: RSA exponents can be no longer  | java.security.InvalidKeyException: RSA exponents can be no longer 
    'pss': ('660387bd730edf0e', None),  #  | java.security.InvalidKeyException: Expected a RSA key, but got RSA
    'pss-params': ('47bacda08c83f1e8', None),  #  | java.security.InvalidKeyException: Expected a RSA key, but got RSA
    'algid-extra': ('c5887b0888fdfcdb', None),  #  | java.security.InvalidKeyException: IOException: Invalid AlgorithmI
    'outer-long-len': ('c5887b0888fdfcdb', None),  #  | java.security.InvalidKeyException: IOException: DerInputStream.get
    'ec-p256': ('de21ecf23d12154c', 'de21ecf23d12154c'),  #  | 
    'ec-k1': ('3217e3ad242413ab', '3217e3ad242413ab'),  #  | 
    'ec-unknown-curve': (None, None),  # java.io.IOException: Unknown named curve: 1.3.132.0.99 | java.security.InvalidKeyException: IOException: Unknown named curv
    'ec-null': (None, None),  # java.security.InvalidKeyException: EC domain parameters must be en | java.security.InvalidKeyException: EC domain parameters must be en
    'ec-explicit': (None, None),  # java.io.IOException: Only named ECParameters supported | java.security.InvalidKeyException: IOException: Only named ECParam
    'ec-compressed': (None, None),  # java.io.IOException: Only uncompressed point format supported | java.io.IOException: Only uncompressed point format supported
    'ec-short-point': (None, None),  # java.io.IOException: Point does not match field size | java.io.IOException: Point does not match field size
    'ec-p384-size': ('0de232e6290e162c', '0de232e6290e162c'),  #  | 
    'ed25519': ('182ff9da701fd144', None),  #  | java.io.IOException: extra data at the end
    'ed25519-31': (None, None),  # java.security.InvalidKeyException: key length must be 32 | java.io.IOException: extra data at the end
    'dsa-no-params': ('bc60fe8b5d800dad', 'bc60fe8b5d800dad'),  #  | 
    'unknown': ('d1633b006e951a17', None),  #  | java.io.EOFException: not enough content
    'unknown-unused': ('3a95c17679e01471', None),  #  | java.io.EOFException: not enough content
}
NOT_A_FACTORY_KEY = {"ed25519", "ed25519-31", "unknown", "unknown-unused"}  # apksig asks RSA/EC/DSA only


def _digest(spki: bytes, in_certificate: bool):
    key = jdk_key.java_key(spki, in_certificate=in_certificate)
    return None if key is None else hashlib.sha256(key.encoded).hexdigest()[:16]


@pytest.mark.parametrize("name", list(KEYS))
def test_key_read_as_openjdk_reads_it(name):
    in_cert, as_record = JAVA[name]
    assert _digest(KEYS[name], True) == in_cert
    if name not in NOT_A_FACTORY_KEY:
        assert _digest(KEYS[name], False) == as_record


def test_rsa_numbers_are_read_unsigned_and_padded_keys_load():
    """A zero-padded or negative modulus is its magnitude, as Java's getPositiveBigInteger."""
    for name in ("rsa-zero-pad", "rsa-negative"):
        key = signatures.load_public_key(KEYS[name])
        assert key is not None and key.public_numbers().n in (N, int.from_bytes(N.to_bytes(128, "big"), "big"))


def test_apksig_re_encodes_only_a_negative_modulus():
    assert jdk_key.apksig_encoded(KEYS["rsa-zero-pad"]) == jdk_key.java_key(KEYS["rsa-zero-pad"]).encoded
    fixed = jdk_key.apksig_encoded(KEYS["rsa-negative"])
    assert fixed != jdk_key.java_key(KEYS["rsa-negative"]).encoded and b"\x02\x81\x81\x00" in fixed


def test_no_bytes_raise():
    for spki in KEYS.values():
        for cut in range(0, len(spki), 7):
            jdk_key.java_key(spki[:cut])
            jdk_key.java_key(spki[:cut], in_certificate=True)
