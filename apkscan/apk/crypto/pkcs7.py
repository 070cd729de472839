"""PKCS #7 / CMS SignedData as found in JAR signature blocks (.RSA/.DSA/.EC).

Android accepts BER here (long-form lengths with redundant bytes, indefinite lengths)
and identifies signers by the exact encoded bytes of their certificates, so this module
walks the ASN.1 itself and keeps every element's original byte range instead of
re-encoding through a strict DER library. It also holds Android's table of which
(digest OID, signature OID) pairs each SDK level accepts in a SignerInfo, taken from
apksig's ``OidConstants``. Verifying a SignerInfo against a .SF file is Android JAR
policy and lives in ``v1``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

MAX_CERTIFICATES = 1000
MAX_SIGNER_INFOS = 100

from apkscan.apk.crypto import jdk_cert, x500
from apkscan.apk.crypto.asn1 import Asn1Error, Tlv, children, read_tlv

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"


class Pkcs7Error(ValueError):
    """Well-formed BER with PKCS #7 semantics Android refuses (apksig: Pkcs7DecodingException)."""


class Pkcs7LimitError(Pkcs7Error):
    """One of apkscan's own count bounds (apksig has none): an input-level limit with its code,
    never a plain "the block does not parse" (anyone can add elements to the unsigned bag)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _expect(tlv: Tlv, cls: int, number: int, what: str) -> Tlv:
    if not tlv.is_(cls, number):
        raise Asn1Error(f"expected {what}")
    return tlv


def decode_oid(buf: bytes, tlv: Tlv) -> str:
    """Dotted OID text. Any arc is accepted, as apksig's BigInteger decoding does, in linear
    time: padding (leading 0x80 groups, value 0) is skipped, and an arc past 63 bits is written
    in hex (no OID apkscan compares with is that big; shifting an ever longer integer and
    printing it in decimal was quadratic: a 400 KB arc took 10 s, and past 4,300 digits str() raised)."""
    _expect(tlv, 0, 6, "OBJECT IDENTIFIER")
    raw = bytes(buf[tlv.content_start:tlv.content_end])
    if not raw or raw[-1] & 0x80:
        raise Asn1Error("malformed OBJECT IDENTIFIER")
    raw = x500.unpad_oid(raw)  # leading 0x80 groups of each arc: value 0, dropped at C speed
    if len(raw) > LONG_OID:  # no OID apkscan compares with is this long once unpadded
        return f"long-oid:{len(raw)}:{hashlib.sha256(raw).hexdigest()[:16]}"
    arcs: list[int | str] = []
    start = 0
    for end, b in enumerate(raw, 1):
        if not b & 0x80:
            arcs.append(_arc(raw[start:end]))
            start = end
    head = arcs[0]
    if isinstance(head, str):
        first: list[int | str] = [2, head]  # 2.(head - 80), in hex like any huge arc
    else:
        first = [min(head // 40, 2), head - 40 * min(head // 40, 2)]
    return ".".join(str(a) for a in first + arcs[1:])


LONG_OID = 256  # bytes, padding removed: longer ones are named by length and digest (reports stay small)


def _arc(group: bytes) -> int | str:
    digits = group.lstrip(b"\x80")
    if len(digits) <= 9:
        value = 0
        for b in digits:
            value = (value << 7) | (b & 0x7F)
        return value
    return hex(int("".join(format(b & 0x7F, "07b") for b in digits), 2))


def decode_int(buf: bytes, tlv: Tlv) -> int:
    _expect(tlv, 0, 2, "INTEGER")
    raw = buf[tlv.content_start:tlv.content_end]
    if not raw:
        raise Asn1Error("empty INTEGER")
    return int.from_bytes(raw, "big", signed=True)


def decode_octets(buf: bytes, tlv: Tlv, depth: int = 0) -> bytes:
    """OCTET STRING content, joining the chunks of a constructed (BER) one."""
    _expect(tlv, 0, 4, "OCTET STRING")
    if not tlv.constructed:
        return bytes(buf[tlv.content_start:tlv.content_end])
    return b"".join(decode_octets(buf, c, depth + 1) for c in children(buf, tlv, depth))


# --------------------------------------------------------------------------- structures
@dataclass(slots=True)
class SignerInfo:
    """One PKCS #7 SignerInfo: who signed, which algorithms, the signed attributes and signature."""

    issuer: bytes | None  # Name as encoded; None when identified by subjectKeyIdentifier
    serial: int | None
    digest_oid: str
    signature_oid: str
    signed_attrs: bytes | None  # whole [0] IMPLICIT element, original encoding
    signature: bytes


@dataclass(slots=True)
class SignedData:
    """A PKCS #7 SignedData: its content type, certificates and signers."""

    content_type: str  # encapContentInfo.eContentType
    certificates: list[bytes]  # each exactly as encoded in the block
    signer_infos: list[SignerInfo] = field(default_factory=list)


def parse_signed_data(block: bytes) -> SignedData:
    """ContentInfo -> SignedData; raises Asn1Error / Pkcs7Error."""
    top = read_tlv(block, 0, len(block))
    ci = children(block, _expect(top, 0, 16, "ContentInfo SEQUENCE"))
    if len(ci) < 2:
        raise Asn1Error("ContentInfo has no content")
    content_type = decode_oid(block, ci[0])
    if content_type != OID_SIGNED_DATA:
        raise Asn1Error(f"unsupported ContentInfo.contentType: {content_type}")
    wrapped = children(block, _expect(ci[1], 2, 0, "[0] EXPLICIT content"))
    if len(wrapped) != 1:
        raise Asn1Error("[0] EXPLICIT content must hold one element")
    fields = children(block, _expect(wrapped[0], 0, 16, "SignedData SEQUENCE"))
    it = iter(fields)
    try:
        decode_int(block, next(it))
        _expect(next(it), 0, 17, "digestAlgorithms SET")
        encap = children(block, _expect(next(it), 0, 16, "encapContentInfo SEQUENCE"))
        if not encap:
            raise Asn1Error("empty encapContentInfo")
        encap_type = decode_oid(block, encap[0])
        el = next(it)
        certs: list[bytes] = []
        if el.is_(2, 0):
            bag = _at_most(block, el, MAX_CERTIFICATES, "certificates in SignedData", "INPUT_TOO_MANY_CERTIFICATES")
            certs = [bytes(block[c.start:c.end]) for c in bag]
            el = next(it)
        if el.is_(2, 1):  # crls
            el = next(it)
        infos = _at_most(block, _expect(el, 0, 17, "signerInfos SET"), MAX_SIGNER_INFOS, "SignerInfos",
                         "INPUT_TOO_MANY_SIGNER_INFOS")
    except StopIteration:
        raise Asn1Error("SignedData is missing fields") from None
    return SignedData(encap_type, certs, [_parse_signer_info(block, si) for si in infos])


def _at_most(buf: bytes, tlv: Tlv, limit: int, what: str, code: str) -> list[Tlv]:
    """The children of ``tlv``, refused as soon as there are more than ``limit`` (listing them
    all first turned a 16 MiB bag of two-byte elements into millions of objects): an input-level
    limit (``code``), since apksig reads any number."""
    if not tlv.constructed:
        raise Asn1Error("expected a constructed element")
    out, pos = [], tlv.content_start
    while pos < tlv.content_end:
        if len(out) == limit:
            raise Pkcs7LimitError(code, f"more than {limit} {what} (the limit)")
        child = read_tlv(buf, pos, tlv.content_end, 1)
        out.append(child)
        pos = child.end
    return out


def _parse_signer_info(buf: bytes, tlv: Tlv) -> SignerInfo:
    f = children(buf, _expect(tlv, 0, 16, "SignerInfo SEQUENCE"))
    if len(f) < 5:
        raise Asn1Error("SignerInfo is missing fields")
    decode_int(buf, f[0])
    issuer = serial = None
    if f[1].is_(0, 16):
        ias = children(buf, f[1])
        if len(ias) != 2:
            raise Asn1Error("malformed IssuerAndSerialNumber")
        issuer, serial = bytes(buf[ias[0].start:ias[0].end]), decode_int(buf, ias[1])
    elif not f[1].is_(2, 0):
        raise Asn1Error("malformed SignerIdentifier")
    digest_oid = _algorithm_oid(buf, f[2])
    i = 3
    signed_attrs = None
    if f[i].is_(2, 0):
        signed_attrs = bytes(buf[f[i].start:f[i].end])
        i += 1
    if i + 1 >= len(f):
        raise Asn1Error("SignerInfo is missing fields")
    signature_oid = _algorithm_oid(buf, f[i])
    signature = decode_octets(buf, f[i + 1])
    return SignerInfo(issuer, serial, digest_oid, signature_oid, signed_attrs, signature)


def _algorithm_oid(buf: bytes, tlv: Tlv) -> str:
    parts = children(buf, _expect(tlv, 0, 16, "AlgorithmIdentifier SEQUENCE"))
    if not parts:
        raise Asn1Error("empty AlgorithmIdentifier")
    return decode_oid(buf, parts[0])


def parse_signed_attributes(encoded: bytes) -> dict[str, list[tuple[bytes, Tlv]]]:
    """[0] IMPLICIT SET OF Attribute -> {type OID: [(buffer, value element), ...]}.

    Raises Asn1Error for malformed BER and Pkcs7Error for a repeated attribute type.
    """
    outer = read_tlv(encoded, 0, len(encoded))
    attrs: dict[str, list[tuple[bytes, Tlv]]] = {}
    for attr in children(encoded, outer):
        parts = children(encoded, _expect(attr, 0, 16, "Attribute SEQUENCE"))
        if len(parts) != 2:
            raise Asn1Error("malformed Attribute")
        oid = decode_oid(encoded, parts[0])
        values = [(encoded, v) for v in children(encoded, _expect(parts[1], 0, 17, "attrValues SET"))]
        if oid in attrs:
            raise Pkcs7Error(f"duplicate signed attribute: {oid}")
        attrs[oid] = values
    return attrs


def single_value(attrs: dict[str, list[tuple[bytes, Tlv]]], oid: str) -> tuple[bytes, Tlv] | None:
    values = attrs.get(oid)
    if not values:
        return None
    if len(values) > 1:
        raise Pkcs7Error(f"attribute {oid} has multiple values")
    return values[0]


# --------------------------------------------------------------------------- certificates
@dataclass(slots=True)
class BagCertificate:
    """The fields of a certificate that SignerInfo matching and Android's checks need."""

    der: bytes  # exactly as in the block
    serial: int
    issuer: bytes
    subject: bytes
    spki: bytes
    unsupported_critical: list[str]
    key_usage: bytes | None  # KeyUsage BIT STRING content (unused-bits byte first)


# Critical extensions OpenJDK's X509Certificate understands (hasUnsupportedCriticalExtension).
_KNOWN_EXTENSIONS = {
    "2.5.29.9", "2.5.29.14", "2.5.29.15", "2.5.29.16", "2.5.29.17", "2.5.29.18", "2.5.29.19",
    "2.5.29.30", "2.5.29.31", "2.5.29.32", "2.5.29.33", "2.5.29.35", "2.5.29.36", "2.5.29.37",
    "2.5.29.46", "2.5.29.54", "1.3.6.1.5.5.7.1.1", "1.3.6.1.5.5.7.1.11",
    "1.3.6.1.5.5.7.48.1.5", "2.16.840.1.113730.1.1",
}


def parse_certificate(der: bytes) -> BagCertificate:
    """One bag certificate, accepted or refused as OpenJDK's CertificateFactory does
    (:mod:`apkscan.apk.crypto.jdk_cert`: apksig parses every certificate of the bag, and one it
    cannot parse fails the block); raises Asn1Error. ``key_usage`` is None when the keyUsage
    extension is absent or unparseable (non-critical: OpenJDK keeps it aside, getKeyUsage null)."""
    cert = jdk_cert.parse(der)
    unsupported = [oid for oid in cert.critical if oid not in _KNOWN_EXTENSIONS]
    return BagCertificate(der, cert.serial, cert.issuer, cert.subject, cert.spki, unsupported, cert.key_usage)


class Names:
    """``X500Principal.equals`` over one block's names (:mod:`apkscan.apk.crypto.x500`), each
    name made canonical once. Linear in a name's size, so every name is compared at any length:
    an unsigned SignerInfo issuer padded with 70,000 spaces still names its certificate, as in
    apksig. A name Java cannot parse equals only its own bytes. A certificate's name is read as
    apksig's BER-to-DER retry leaves it (``in_certificate``: OIDs unpadded, an AVA's extra
    elements dropped); a SignerInfo's issuer goes to ``new X500Principal`` as written."""

    def __init__(self) -> None:
        self._canonical: dict[tuple[bytes, bool], object] = {}

    def key(self, der: bytes, *, in_certificate: bool = True):
        """Equal names have equal keys (the canonical form), so names can be grouped by it."""
        slot = (der, in_certificate)
        if slot not in self._canonical:
            self._canonical[slot] = x500.canonical(der, in_certificate=in_certificate) or ("bytes", der)
        return self._canonical[slot]

    def equal(self, a: bytes, b: bytes) -> bool:
        """Two certificate names (each as apksig's retry reads it)."""
        return a == b or self.key(a) == self.key(b)

    def names(self, signer_issuer: bytes, cert_issuer: bytes) -> bool:
        """A SignerInfo's issuer (strict) names a certificate's issuer (as in a certificate)."""
        return self.key(signer_issuer, in_certificate=False) == self.key(cert_issuer)


def find_certificate(certs: list[BagCertificate], si: SignerInfo) -> BagCertificate | None:
    """The bag certificate named by the SignerInfo's issuer and serial number (as Android)."""
    if si.issuer is None:
        return None  # Android does not support subjectKeyIdentifier
    names = Names()
    for cert in certs:
        if cert.serial == si.serial and names.names(si.issuer, cert.issuer):
            return cert
    return None


def spki_algorithm(spki: bytes) -> str | None:
    """The key algorithm OID of a SubjectPublicKeyInfo, or None if unreadable."""
    try:
        top = read_tlv(spki, 0, len(spki))
        return decode_oid(spki, children(spki, children(spki, top)[0])[0])
    except (Asn1Error, IndexError):
        return None


def certificate_chain(certs: list[BagCertificate], leaf: BagCertificate) -> list[BagCertificate]:
    """Leaf first, then issuers found in the bag by DN, as apksig's getCertificateChain: the
    first unused certificate (in bag order) whose subject equals the issuer. Certificates are
    grouped by their subject's normalised form, so each step looks in one group, not the bag."""
    names = Names()
    by_subject: dict[object, list[BagCertificate]] = {}
    for c in certs:
        if c is not leaf:
            by_subject.setdefault(names.key(c.subject), []).append(c)
    chain, root = [leaf], leaf
    while not names.equal(root.subject, root.issuer):
        group = by_subject.get(names.key(root.issuer), [])
        nxt = next((c for c in group if names.equal(root.issuer, c.subject)), None)
        if nxt is None:
            break
        group.remove(nxt)
        chain.append(nxt)
        root = nxt
    return chain
