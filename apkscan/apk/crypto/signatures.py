"""One place that turns (public key, Java algorithm name, data, signature) into yes/no.

Signature schemes name algorithms the way Java's JCA does ("SHA256withRSA/PSS"); this
module maps those names onto ``cryptography`` primitives so the per-scheme verifiers
stay free of crypto-library details.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

from apkscan.apk.crypto import dss_der, jdk_key
from apkscan.issues import ApkScanError

# Named curves loaded through the numbers API (others go through the DER loader).
_CURVES = {"1.2.840.10045.3.1.7": ec.SECP256R1, "1.3.132.0.34": ec.SECP384R1, "1.3.132.0.35": ec.SECP521R1}

_HASHES = {
    "MD5": hashes.MD5,
    "SHA1": hashes.SHA1,
    "SHA224": hashes.SHA224,
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


def parse_jca(jca_algorithm: str) -> tuple[str, str, bool]:
    """Split "SHA256withRSA/PSS" into ("SHA256", "RSA", pss=True)."""
    name = jca_algorithm.upper().replace("-", "")
    pss = name.endswith("/PSS")
    if pss:
        name = name[: -len("/PSS")]
    digest, sep, key = name.partition("WITH")
    if not sep or digest not in _HASHES or key not in ("RSA", "ECDSA", "DSA"):
        raise ApkScanError("UNSUPPORTED_ALGORITHM", f"unsupported signature algorithm {jca_algorithm}")
    return digest, key, pss


def load_public_key(spki_der: bytes, *, in_certificate: bool = False):
    """The key OpenJDK would use (:mod:`apkscan.apk.crypto.jdk_key`), for ``cryptography``;
    None when OpenJDK refuses it or it cannot be used.

    ``in_certificate``: the key of a certificate (CertificateFactory's rules), else a key record
    (KeyFactory's). RSA keys and named-curve EC keys are built from their numbers, so a
    zero-padded or negative modulus (read unsigned, as Java does) verifies as in apksig;
    anything else goes to ``load_der_public_key`` on the key's DER re-encoding, whose package
    imports the SSH and cipher modules (~5-10 ms of start-up), so it is imported only then.
    """
    java = jdk_key.java_key(spki_der, in_certificate=in_certificate)
    if java is None:
        return None
    key = _from_numbers(java)
    if key is not None or java.rsa is not None:
        return key
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_public_key(java.encoded)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        return None


def _from_numbers(java: jdk_key.JavaKey):
    try:
        if java.rsa is not None:
            n, e = java.rsa
            return rsa.RSAPublicNumbers(e, n).public_key()
        if java.ec is not None and java.ec[0] in _CURVES:
            return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[java.ec[0]](), java.ec[1])
    except (ValueError, UnsupportedAlgorithm, TypeError):
        pass  # e.g. an even exponent (Java takes it; no signature verifies) or a point off the curve
    return None


def verify_signature(spki_der: bytes, jca_algorithm: str, data: bytes, signature: bytes, *,
                     in_certificate: bool = False) -> bool:
    """True only when ``signature`` over ``data`` verifies under the key and algorithm."""
    digest_name, key_kind, pss = parse_jca(jca_algorithm)
    key = load_public_key(spki_der, in_certificate=in_certificate)
    if key is None:
        return False
    return verify_with_key(key, digest_name, key_kind, pss, data, signature)


def verify_with_key(key, digest_name: str, key_kind: str, pss: bool, data: bytes, signature: bytes) -> bool:
    """Every scheme's check. An ECDSA or DSA signature is first decoded as the JDK decodes it and
    re-encoded in DER (:mod:`apkscan.apk.crypto.dss_der`): an INTEGER without its 0x00 pad
    verifies, as in apksig; callers say so (``dss_der.not_minimal``)."""
    algorithm = _HASHES[digest_name]()
    if key_kind in ("ECDSA", "DSA"):
        signature = dss_der.canonical(signature, key_kind)
        if signature is None:
            return False
    try:
        if key_kind == "RSA" and isinstance(key, rsa.RSAPublicKey):
            pad = (
                padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
                if pss
                else padding.PKCS1v15()
            )
            key.verify(signature, data, pad, algorithm)
        elif key_kind == "ECDSA" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif key_kind == "DSA" and isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, data, algorithm)
        else:
            return False
    except (InvalidSignature, ValueError, UnsupportedAlgorithm, TypeError):
        return False
    return True


def key_type(key) -> str:
    """"RSA", "EC" or "DSA" for a loaded public key (the key type an algorithm requires)."""
    kinds = ((rsa.RSAPublicKey, "RSA"), (ec.EllipticCurvePublicKey, "EC"), (dsa.DSAPublicKey, "DSA"))
    return next((name for cls, name in kinds if isinstance(key, cls)), type(key).__name__)
