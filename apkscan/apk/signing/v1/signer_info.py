"""One PKCS #7 SignerInfo against its .SF file, with the SDK-dependent rules of apksig's
``V1SchemeVerifier.verifySignerInfoAgainstSigFile`` (digest/signature algorithms per API
level, signed attributes from KitKat on, content type from N on)."""

from __future__ import annotations

import hashlib

from apkscan.apk.crypto import pkcs7
from apkscan.apk.crypto import pkcs7_algorithms as algorithms
from apkscan.apk.crypto.asn1 import Asn1Error
from apkscan.apk.crypto import dss_der
from apkscan.apk.crypto import signatures as crypto
from apkscan.apk.signing.common import Sdk
from apkscan.issues import ApkScanError

class SignerInfoError(Exception):
    """Verification of a signature block must stop: apksig adds ``code`` and gives up."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def verify_signer_info(sd: pkcs7.SignedData, certs: list[pkcs7.BagCertificate], si: pkcs7.SignerInfo, sf_bytes: bytes,
                       min_sdk: int, max_sdk: int, block_name: str, sf_name: str) -> pkcs7.BagCertificate | None:
    """The signing certificate if ``si`` verifies ``sf_bytes``; None if it just does not.

    Mirrors apksig's ``verifySignerInfoAgainstSigFile``: an unsupported algorithm, a
    missing certificate, an unusable key or broken signed attributes stop verification of
    the whole block (SignerInfoError); a wrong digest, content type or signature only
    fails this SignerInfo, so another SignerInfo may still verify.
    """
    def fail(code: str, why: str) -> SignerInfoError:
        return SignerInfoError(code, f"{block_name} against {sf_name}: {why}")

    missing = algorithms.unsupported_levels(min_sdk, max_sdk, algorithms.supported_ranges(si.digest_oid, si.signature_oid))
    if missing:
        raise fail("JAR_SIG_UNSUPPORTED_SIG_ALG", f"digest algorithm {si.digest_oid} with signature algorithm {si.signature_oid} is not supported on API Levels {algorithms.levels_text(missing)}")
    cert = pkcs7.find_certificate(certs, si)
    if cert is None:
        raise fail("JAR_SIG_VERIFY_EXCEPTION", "signing certificate referenced in SignerInfo not found in SignedData")
    if cert.unsupported_critical:
        raise fail("JAR_SIG_VERIFY_EXCEPTION", f"signing certificate has unsupported critical extensions {cert.unsupported_critical}")
    if cert.key_usage is not None:  # Android checks keyUsage itself
        bits = cert.key_usage[1] if len(cert.key_usage) > 1 else 0
        if not bits & 0xC0:
            raise fail("JAR_SIG_VERIFY_EXCEPTION", "signing certificate keyUsage lacks digitalSignature and nonRepudiation")
    jca = algorithms.jca_signature_algorithm(si.digest_oid, si.signature_oid)
    if jca is None:
        raise fail("JAR_SIG_VERIFY_EXCEPTION", f"no signature algorithm for {si.digest_oid} with {si.signature_oid}")
    digest_name, key_kind, pss = crypto.parse_jca(jca)
    key = crypto.load_public_key(cert.spki, in_certificate=True)  # a negative modulus is read unsigned, as in Java
    if key is None or algorithms.KEY_OIDS.get(pkcs7.spki_algorithm(cert.spki)) != key_kind:
        raise fail("JAR_SIG_VERIFY_EXCEPTION", f"certificate public key cannot be used with {jca}")
    data = sf_bytes
    if si.signed_attrs is not None:
        if min_sdk < Sdk.KITKAT:  # older platforms never checked the digest: unsafe, refused
            raise fail("JAR_SIG_VERIFY_EXCEPTION", f"APKs with signed attributes are broken on API Levels < {Sdk.KITKAT}")
        if not _signed_attrs_match(sd, si, sf_bytes, max_sdk, fail):
            return None
        data = b"\x31" + si.signed_attrs[1:]  # Android re-tags [0] IMPLICIT as SET, no re-encoding
    return cert if crypto.verify_with_key(key, digest_name, key_kind, pss, data, si.signature) else None


def _signed_attrs_match(sd: pkcs7.SignedData, si: pkcs7.SignerInfo, sf_bytes: bytes, max_sdk: int, fail) -> bool:
    try:
        attrs = pkcs7.parse_signed_attributes(si.signed_attrs)
    except pkcs7.Pkcs7Error as exc:
        raise fail("JAR_SIG_PARSE_EXCEPTION", str(exc)) from None
    except Asn1Error as exc:
        raise fail("JAR_SIG_VERIFY_EXCEPTION", f"failed to parse signed attributes: {exc}") from None
    try:
        if max_sdk >= Sdk.N:  # content type is checked from Android N on
            value = pkcs7.single_value(attrs, pkcs7.OID_CONTENT_TYPE)
            if value is None:
                raise fail("JAR_SIG_VERIFY_EXCEPTION", "no content type in signed attributes")
            if pkcs7.decode_oid(*value) != sd.content_type:
                return False
        value = pkcs7.single_value(attrs, pkcs7.OID_MESSAGE_DIGEST)
        if value is None:
            raise fail("JAR_SIG_VERIFY_EXCEPTION", "no content digest in signed attributes")
        expected = pkcs7.decode_octets(*value)
    except (pkcs7.Pkcs7Error, Asn1Error) as exc:
        raise fail("JAR_SIG_PARSE_EXCEPTION", f"bad signed attribute: {exc}") from None
    return hashlib.new(algorithms.DIGEST_OIDS[si.digest_oid][1], sf_bytes).digest() == expected


def not_der_minimal(si: pkcs7.SignerInfo) -> bool:
    """An ECDSA/DSA SignerInfo signature the JDK reads though it is not minimal DER (an INTEGER
    without its 0x00 pad): verified as apksig verifies it, and said."""
    jca = algorithms.jca_signature_algorithm(si.digest_oid, si.signature_oid)
    try:
        return jca is not None and dss_der.not_minimal(si.signature, crypto.parse_jca(jca)[1])
    except ApkScanError:
        return False
