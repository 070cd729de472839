"""Public keys as OpenJDK 17 reads them: the key apksig verifies with and compares.

apksig gets every key from the JCA: a certificate's through ``CertificateFactory`` (``X509Key``
and the algorithm's ``KeyFactory``), a v2/v3/v4 record's through ``KeyFactory.generatePublic``.
So a key is usable exactly when OpenJDK's rules accept it, and two keys are equal when their
``getEncoded()`` bytes are. Those rules, for the algorithms it knows:

- SubjectPublicKeyInfo ``SEQUENCE {AlgorithmIdentifier, BIT STRING}``, nothing after either;
  ``AlgorithmIdentifier`` parameters NULL count as absent (``AlgorithmId.parse``).
- RSA (rsaEncryption, RSASSA-PSS): ``RSAPublicKey ::= SEQUENCE {n, e}`` filling the BIT STRING
  (no bytes after it), both read as *unsigned* (``getPositiveBigInteger``: a negative or
  zero-padded modulus is its magnitude), 512 <= bits(n) (rounded up to bytes) <= 16384,
  3 <= e < n, e at most 64 bits when n has more than 3072.
- EC: parameters a named curve OpenJDK's ``CurveDB`` knows (explicit parameters, NULL or an
  unknown OID are refused), point uncompressed (``04``) and of the field's size.
- Ed25519/Ed448/X25519/X448: the key of its fixed size.
- Any other algorithm (DSA, DH, unknown OIDs): a generic or lenient key, accepted as given.
- Unused bits in the BIT STRING are cleared (``getUnalignedBitString``), not refused; the key
  parser then sees the masked bytes.
- In a certificate, apksig's BER-to-DER re-encoding (``X509CertificateUtils``) drops elements
  after an AlgorithmIdentifier's parameters and after the SPKI's BIT STRING (never read), and
  writes the algorithm OID minimally (a 0x80-padded one is gone from ``getEncoded()``; the
  parameters, an EC curve OID too, stay as written). A v2/v3/v4 key record gets no such second
  chance; its outer length must be minimal, and it is read by ``KeyFactory.getInstance("RSA"|"EC"|
  "DSA")``, which refuses an RSASSA-PSS key (a certificate's PSS key verifies SHA256withRSA).
  Bytes after a key record's SubjectPublicKeyInfo are never read (``X509Key.decode`` reads one
  DER value from a stream): the key verifies, and the record then differs from the certificate's
  key (apksig's ``PUBLIC_KEY_MISMATCH_BETWEEN_CERTIFICATE_AND_SIGNATURES_RECORD``).

``getEncoded()`` re-encodes the SPKI in DER: the AlgorithmIdentifier with its parameters as
given, or NULL when absent except after the OIDs that must have none (RSASSA-PSS, EdDSA/XDH,
ECDSA-with-SHA2: ``AlgorithmId.derEncode``), and the key bits as given (a zero-padded modulus
stays padded). apksig compares that, with one fix of its own
(``ApkSigningBlockUtils.encodePublicKey``): an rsaEncryption key whose modulus is negative as
a signed INTEGER is re-encoded with a leading zero byte. Every function here is linear in the
key's size and never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from apkscan.apk.crypto.asn1 import Asn1Error, Tlv, algorithm_parts, children, der_length, first_children, read_tlv
from apkscan.apk.crypto.x500 import oid_text, unpad_oid

RSA_OID, PSS_OID, EC_OID, DSA_OID = ("1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10",
                                     "1.2.840.10045.2.1", "1.2.840.10040.4.1")
_RSA_ALGID = bytes.fromhex("300d06092a864886f70d0101010500")
MIN_RSA_BITS, MAX_RSA_BITS = 512, 16384
# OpenJDK 17's CurveDB: named curve OID -> field size in bits (sun.security.util.CurveDB.oidMap).
EC_FIELD_BITS = {
    "1.2.840.10045.3.0.5": 191, "1.2.840.10045.3.0.6": 191, "1.2.840.10045.3.0.7": 191,
    "1.2.840.10045.3.0.11": 239, "1.2.840.10045.3.0.12": 239, "1.2.840.10045.3.0.13": 239,
    "1.2.840.10045.3.0.18": 359, "1.2.840.10045.3.0.20": 431,
    "1.2.840.10045.3.1.1": 192, "1.2.840.10045.3.1.2": 192, "1.2.840.10045.3.1.3": 192,
    "1.2.840.10045.3.1.4": 239, "1.2.840.10045.3.1.5": 239, "1.2.840.10045.3.1.6": 239,
    "1.2.840.10045.3.1.7": 256,
    "1.3.132.0.1": 163, "1.3.132.0.2": 163, "1.3.132.0.3": 239, "1.3.132.0.4": 113, "1.3.132.0.5": 113,
    "1.3.132.0.6": 112, "1.3.132.0.7": 112, "1.3.132.0.8": 160, "1.3.132.0.9": 160, "1.3.132.0.10": 256,
    "1.3.132.0.15": 163, "1.3.132.0.16": 283, "1.3.132.0.17": 283, "1.3.132.0.22": 131, "1.3.132.0.23": 131,
    "1.3.132.0.24": 193, "1.3.132.0.25": 193, "1.3.132.0.26": 233, "1.3.132.0.27": 233, "1.3.132.0.28": 128,
    "1.3.132.0.29": 128, "1.3.132.0.30": 160, "1.3.132.0.31": 192, "1.3.132.0.32": 224, "1.3.132.0.33": 224,
    "1.3.132.0.34": 384, "1.3.132.0.35": 521, "1.3.132.0.36": 409, "1.3.132.0.37": 409, "1.3.132.0.38": 571,
    "1.3.132.0.39": 571,
    "1.3.36.3.3.2.8.1.1.1": 160, "1.3.36.3.3.2.8.1.1.3": 192, "1.3.36.3.3.2.8.1.1.5": 224,
    "1.3.36.3.3.2.8.1.1.7": 256, "1.3.36.3.3.2.8.1.1.9": 320, "1.3.36.3.3.2.8.1.1.11": 384,
    "1.3.36.3.3.2.8.1.1.13": 512,
}
_FIXED = {"1.3.101.110": 32, "1.3.101.111": 56, "1.3.101.112": 32, "1.3.101.113": 57}
# AlgorithmId.derEncode (JDK 17) writes NULL for absent parameters except after these OIDs.
_NO_NULL = {PSS_OID, *_FIXED, *(f"1.2.840.10045.4.3.{n}" for n in (1, 2, 3, 4))}


class KeyRefused(ValueError):
    """OpenJDK's KeyFactory / X509Key refuses this SubjectPublicKeyInfo."""


@dataclass(frozen=True, slots=True)
class JavaKey:
    """A public key as the JDK decodes it (its ``getEncoded()`` bytes and numbers)."""

    algorithm: str  # key algorithm OID
    encoded: bytes  # what getEncoded() returns
    rsa: tuple[int, int] | None = None  # (n, e) as unsigned integers
    ec: tuple[str, bytes] | None = None  # (curve OID, uncompressed point)
    negative_modulus: bool = False


def java_key(spki: bytes, *, in_certificate: bool = False) -> JavaKey | None:
    """The key as OpenJDK reads it, or None when it refuses the key. An APK's few keys are read
    several times each (acceptance, verification, digests): small ones are remembered."""
    if type(spki) is bytes and len(spki) <= CACHED_KEY_BYTES:
        return _java_key_cached(spki, in_certificate)
    return _java_key(spki, in_certificate)


CACHED_KEY_BYTES = 2048  # an RSA-8192 key is ~1.1 KB; a hostile multi-megabyte one is never kept


@lru_cache(maxsize=256)
def _java_key_cached(spki: bytes, in_certificate: bool) -> JavaKey | None:
    return _java_key(spki, in_certificate)  # JavaKey is frozen: sharing one is safe


def _java_key(spki, in_certificate: bool) -> JavaKey | None:
    try:
        return read(spki, in_certificate=in_certificate)
    except (KeyRefused, Asn1Error, ValueError):
        return None


def apksig_encoded(spki: bytes, *, in_certificate: bool = True) -> bytes | None:
    """What apksig compares a v2/v3/v4 key record with (a certificate's key, by default):
    getEncoded(), a negative rsaEncryption modulus re-encoded with a leading zero byte (both
    integers then minimal DER)."""
    key = java_key(spki, in_certificate=in_certificate)
    if key is None:
        return None
    if key.negative_modulus and key.algorithm == RSA_OID and key.rsa is not None:
        n, e = key.rsa
        return der(0x30, _RSA_ALGID + der(0x03, b"\x00" + der(0x30, _int(n) + _int(e))))
    return key.encoded


def read(spki: bytes, *, in_certificate: bool = False) -> JavaKey:
    """:class:`JavaKey`; raises KeyRefused / Asn1Error for what OpenJDK refuses."""
    top = read_tlv(spki, 0, len(spki))
    # a key record is read by X509Key.decode from a stream: one DER value, the bytes after it unread
    if (in_certificate and top.end != len(spki)) or not top.is_(0, 16):
        raise KeyRefused("not one SubjectPublicKeyInfo SEQUENCE")
    if not in_certificate and top.end == top.content_end and _redundant_length(spki):
        raise KeyRefused("SubjectPublicKeyInfo length not minimal (DerInputStream.getLength)")
    # apksig's retry re-encodes SubjectPublicKeyInfo {algorithm, key} only (the rest unread)
    parts = first_children(spki, top, 2) if in_certificate else children(spki, top)
    if len(parts) != 2 or not parts[0].is_(0, 16) or not parts[1].is_(0, 3) or parts[1].constructed:
        raise KeyRefused("SubjectPublicKeyInfo is not {AlgorithmIdentifier, BIT STRING}")
    algorithm, params = _algorithm(spki, parts[0], in_certificate)
    bit_string = _bits(spki[parts[1].content_start:parts[1].content_end])
    key = bit_string[1:]
    encoded = der(0x30, _algid(algorithm, spki, parts[0], params, in_certificate) + der(0x03, bit_string))
    if algorithm == PSS_OID and not in_certificate:
        raise KeyRefused("an RSASSA-PSS key given to KeyFactory RSA (a key record)")
    if algorithm in (RSA_OID, PSS_OID):
        n, e, negative = _rsa(key)
        return JavaKey(algorithm, encoded, rsa=(n, e), negative_modulus=negative)
    if algorithm == EC_OID:
        return JavaKey(algorithm, encoded, ec=_ec(spki, params, key, in_certificate))
    if algorithm in _FIXED and (params is not None or len(key) != _FIXED[algorithm]):
        raise KeyRefused("EdDSA/XDH key with parameters or of the wrong size")
    return JavaKey(algorithm, encoded)


def _redundant_length(spki: bytes) -> bool:
    """A long-form length OpenJDK's DER reader refuses: a leading zero byte, or under 128."""
    if not spki[1] & 0x80:
        return False
    count = spki[1] & 0x7F
    return count > 4 or spki[2] == 0 or int.from_bytes(spki[2:2 + count], "big") < 0x80


def _bits(content: bytes) -> bytes:
    """getUnalignedBitString: the BIT STRING with the unused low bits of its last byte cleared."""
    if not content or content[0] > 7 or (content[0] and len(content) == 1):
        raise KeyRefused("malformed BIT STRING")
    out = bytearray(content)
    if content[0]:
        out[-1] &= 0xFF << content[0] & 0xFF
    return bytes(out)


def _algorithm(buf: bytes, el: Tlv, in_certificate: bool) -> tuple[str, Tlv | None]:
    kids = algorithm_parts(buf, el) if in_certificate else children(buf, el)
    # in a certificate the retry matches the OID by tag number: a constructed one's content is its arcs
    if not kids or len(kids) > 2 or not kids[0].is_(0, 6) or (kids[0].constructed and not in_certificate):
        raise KeyRefused("malformed AlgorithmIdentifier")
    params = kids[1] if len(kids) == 2 else None
    if params is not None and params.is_(0, 5) and not params.constructed:  # (a constructed one: kept)
        if params.content_end != params.content_start:
            raise KeyRefused("NULL parameters with content")
        params = None
    return oid_text(bytes(buf[kids[0].content_start:kids[0].content_end]), strict=not in_certificate), params


def _algid(algorithm: str, buf: bytes, el: Tlv, params: Tlv | None, in_certificate: bool) -> bytes:
    """AlgorithmId.derEncode: the OID, then the parameters, or NULL (unless in ``_NO_NULL``).
    In a certificate the OID is written minimally: apksig's retry re-encodes it from its dotted
    form, so a 0x80-padded arc is gone from getEncoded() (a key record keeps its bytes)."""
    oid_el = read_tlv(buf, el.content_start, el.content_end, 1)
    raw = bytes(buf[oid_el.content_start:oid_el.content_end])
    out = der(0x06, unpad_oid(raw) if in_certificate else raw)
    if params is not None:
        out += der(buf[params.start], bytes(buf[params.content_start:params.content_end])) if (
            params.end == params.content_end and buf[params.start] & 0x1F != 0x1F) else bytes(buf[params.start:params.end])
    elif algorithm not in _NO_NULL:
        out += b"\x05\x00"
    return der(0x30, out)


def _rsa(key: bytes) -> tuple[int, int, bool]:
    top = read_tlv(key, 0, len(key))
    if top.end != len(key) or not top.is_(0, 16):
        raise KeyRefused("RSAPublicKey is not one SEQUENCE filling the BIT STRING")
    kids = children(key, top)
    if len(kids) != 2 or not all(k.is_(0, 2) and not k.constructed and k.content_end > k.content_start for k in kids):
        raise KeyRefused("RSAPublicKey is not {INTEGER n, INTEGER e}")
    raw_n = key[kids[0].content_start:kids[0].content_end]
    raw_e = key[kids[1].content_start:kids[1].content_end]
    n_bits = len(raw_n.lstrip(b"\x00")) * 8  # bounded before any integer is built
    if n_bits > MAX_RSA_BITS + 8 or len(raw_e.lstrip(b"\x00")) > MAX_RSA_BITS // 8 + 1:
        raise KeyRefused("RSA key longer than 16384 bits")
    n, e = int.from_bytes(raw_n, "big"), int.from_bytes(raw_e, "big")
    rounded = (n.bit_length() + 7) & ~7
    if rounded < MIN_RSA_BITS or rounded > MAX_RSA_BITS:
        raise KeyRefused(f"RSA modulus of {n.bit_length()} bits")
    if rounded > 3072 and e.bit_length() > 64:
        raise KeyRefused("RSA exponent over 64 bits with a modulus over 3072 bits")
    if not 3 <= e < n:
        raise KeyRefused("RSA exponent out of range")
    return n, e, bool(raw_n[0] & 0x80)


def _ec(spki: bytes, params: Tlv | None, point: bytes, in_certificate: bool) -> tuple[str, bytes]:
    if params is None or not params.is_(0, 6) or params.constructed:
        raise KeyRefused("EC key without a named curve")
    # strict even in a certificate: the retry keeps the parameters (ANY) as written
    curve = oid_text(bytes(spki[params.content_start:params.content_end]), strict=True)
    if curve not in EC_FIELD_BITS:
        raise KeyRefused(f"unknown named curve {curve}")
    size = (EC_FIELD_BITS[curve] + 7) // 8
    if point[:1] != b"\x04" or len(point) != 1 + 2 * size:
        raise KeyRefused("EC point not uncompressed or not of the field's size")
    return curve, point


def _int(value: int) -> bytes:
    return der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + der_length(len(body)) + body
