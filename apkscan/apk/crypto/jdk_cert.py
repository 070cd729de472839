"""Which certificates OpenJDK 17's CertificateFactory accepts: apksig's one acceptance rule.

apksig parses every certificate it meets (v1 bag, v2/v3 list, lineage, source stamp, v4) with
``X509CertificateUtils.generateCertificate``: the JCA, and on failure the same again after its
own BER-to-DER re-encoding. A certificate it cannot parse fails the whole JAR signature block
("Failed to parse certificate") or the signer ("Malformed certificate"), even when it is not
the signer's. This module mirrors OpenJDK's ``X509CertImpl``/``X509CertInfo`` rules:

- ``Certificate ::= SEQUENCE {tbs SEQUENCE, AlgorithmIdentifier, BIT STRING}`` (bytes after
  it are not read; in a PKCS #7 bag they would be another element);
- where OpenJDK's strict reading refuses and apksig's retry (its asn1 classes: each declared
  field in order, matched by tag class and number, what follows never read) would read and
  re-encode: a 4th Certificate element, a 3rd Validity time, a 3rd SPKI or AlgorithmIdentifier
  element, a 2nd element in the ``[0]`` version and a 3rd in an AVA are ignored (first
  ``first_children`` only); a constructed INTEGER (version, serial) or AVA type OID is its
  content bytes as written; OIDs count unpadded, and the key's OID is re-encoded minimally
  (``getEncoded()``);
  the TBS and outer signature algorithms equal (OID and parameters; NULL counts as absent);
- TBS: ``[0] {INTEGER}`` version (default v1), INTEGER serial, AlgorithmIdentifier, issuer
  Name (not empty: no AVA at all), Validity ``SEQUENCE {UTCTime|GeneralizedTime x2}``,
  subject Name (empty only in v3, and then with a critical, non-empty subjectAltName), the key
  (:mod:`jdk_key`, certificate rules); a v1 certificate ends there; then ``[1]``/``[2]`` unique
  ids (BIT STRINGs), and anything further only in v3, where ``[3]`` holds the extensions;
- Names: ``SEQUENCE OF SET OF SEQUENCE {OID, any value}`` (:mod:`x500`; any DER value);
- extensions ``SEQUENCE {OID, [BOOLEAN], OCTET STRING}``: an OID twice is refused; one OpenJDK
  knows (``OIDMap``) is parsed: if that fails, a critical one refuses the certificate and a
  non-critical one is kept unparsed (``UnparseableExtension``: no keyUsage then). KeyUsage,
  BasicConstraints, Subject/AuthorityKeyIdentifier, ExtendedKeyUsage and Subject/Issuer
  AlternativeName are parsed field by field; the other known ones only as one DER element.

BER lengths are accepted throughout (apksig's re-encoding makes them DER). Not mirrored (so
accepted here): OpenJDK's checks of time strings, of DNS/URI/IP syntax inside GeneralNames,
and of the fields of the rarer known extensions (read only as one DER element each).
"""

from __future__ import annotations

from dataclasses import dataclass

from apkscan.apk.crypto import jdk_key, x500
from apkscan.apk.crypto.asn1 import Asn1Error, Tlv, algorithm_parts, children, first_children, read_tlv

KEY_USAGE, BASIC_CONSTRAINTS, SAN = "2.5.29.15", "2.5.29.19", "2.5.29.17"
# OpenJDK 17 sun.security.x509.OIDMap: extensions it parses into classes.
_KNOWN = {
    "2.5.29.14", "2.5.29.15", "2.5.29.16", "2.5.29.17", "2.5.29.18", "2.5.29.19", "2.5.29.20",
    "2.5.29.21", "2.5.29.23", "2.5.29.24", "2.5.29.27", "2.5.29.28", "2.5.29.29", "2.5.29.30",
    "2.5.29.31", "2.5.29.32", "2.5.29.33", "2.5.29.35", "2.5.29.36", "2.5.29.37", "2.5.29.46",
    "2.5.29.54", "1.3.6.1.5.5.7.1.1", "1.3.6.1.5.5.7.1.11", "1.3.6.1.5.5.7.48.1.5",
    "2.16.840.1.113730.1.1",
}


class CertificateRefused(Asn1Error):
    """OpenJDK's CertificateFactory (and apksig's retry) refuses these bytes."""


@dataclass(slots=True)
class JdkCertificate:
    """The fields of a certificate the JDK's parser reads, as apksig sees them."""

    serial: int
    issuer: bytes  # Name as encoded
    subject: bytes
    spki: bytes
    key_usage: bytes | None  # BIT STRING content of a parseable keyUsage, else None
    critical: list[str]  # OIDs of the critical extensions
    signature_oid: str = ""


def refusal(der: bytes) -> str | None:
    """Why OpenJDK refuses the certificate, or None when it accepts it. Never raises."""
    try:
        parse(der)
    except (Asn1Error, ValueError, RecursionError) as exc:
        return str(exc) or type(exc).__name__
    return None


def parse(der: bytes) -> JdkCertificate:
    """The certificate's fields; raises CertificateRefused / Asn1Error as OpenJDK refuses it."""
    top = read_tlv(der, 0, len(der))  # bytes after it are not read (CertificateFactory reads one)
    if not top.is_(0, 16):
        raise CertificateRefused("not a Certificate SEQUENCE")
    parts = first_children(der, top, 3)  # apksig's retry drops a 4th element onwards
    if len(parts) != 3 or not parts[0].is_(0, 16) or not parts[2].is_(0, 3):
        raise CertificateRefused("Certificate is not {TBSCertificate, AlgorithmIdentifier, BIT STRING}")
    outer_alg = _algorithm_id(der, parts[1])
    tbs = children(der, parts[0])
    version = 0
    if tbs and tbs[0].is_(2, 0):
        version = _version(der, tbs[0])
        tbs = tbs[1:]
    if len(tbs) < 6:
        raise CertificateRefused("TBSCertificate is missing fields")
    serial = _integer(der, tbs[0], "serial number")
    if _algorithm_id(der, tbs[1]) != outer_alg:
        raise CertificateRefused("Signature algorithm mismatch")
    issuer, subject = (bytes(der[t.start:t.end]) for t in (tbs[2], tbs[4]))
    if _empty_name(issuer):
        raise CertificateRefused("Empty issuer DN not allowed in X509Certificates")
    _validity(der, tbs[3])
    if _empty_name(subject) and version == 0:
        raise CertificateRefused("Empty subject DN not allowed in v1 certificate")
    spki = bytes(der[tbs[5].start:tbs[5].end])
    if jdk_key.java_key(spki, in_certificate=True) is None:
        raise CertificateRefused("public key refused")
    extensions = _tail(der, tbs[6:], version)
    if extensions is not None and _empty_name(subject):
        _check_empty_subject(extensions)
    extensions = extensions or {}
    ku = extensions.get(KEY_USAGE)
    return JdkCertificate(serial, issuer, subject, spki, ku[1] if ku and ku[1] is not None else None,
                          [oid for oid, (critical, _) in extensions.items() if critical], outer_alg[0])


def _version(der: bytes, el: Tlv) -> int:
    inner = first_children(der, el, 1)  # EXPLICIT [0]: apksig's retry reads its first element
    if not inner:
        raise CertificateRefused("X.509 version, bad format")
    # EXPLICIT: apksig's parser checks the [0] tag only, not the inner element's (then re-encodes
    # its content as an INTEGER)
    version = int.from_bytes(der[inner[0].content_start:inner[0].content_end], "big", signed=True)
    if not -(1 << 31) <= version < 1 << 31:  # an int: DerValue.getInteger and apksig's integerToInt
        raise CertificateRefused("X.509 version does not fit an int")
    return version


def _integer(buf: bytes, el: Tlv, what: str) -> int:
    """An INTEGER as apksig's retry reads it: by tag number only, so a constructed one's
    content bytes as written are the two's-complement value (then re-encoded in DER)."""
    if not el.is_(0, 2):
        raise CertificateRefused(f"{what} is not an INTEGER")
    return int.from_bytes(buf[el.content_start:el.content_end], "big", signed=True)


def _algorithm_id(buf: bytes, el: Tlv) -> tuple[str, bytes | None]:
    """(OID, parameters as encoded or None): AlgorithmId.equals compares these."""
    if not el.is_(0, 16):
        raise CertificateRefused("AlgorithmIdentifier is not a SEQUENCE")
    kids = algorithm_parts(buf, el)  # apksig's re-encoding keeps {algorithm, parameters}
    if not kids or not kids[0].is_(0, 6):  # a constructed OID: its content bytes (the retry)
        raise CertificateRefused("AlgorithmIdentifier has no OID")
    oid = x500.oid_text(bytes(buf[kids[0].content_start:kids[0].content_end]), strict=False)
    if len(kids) == 1:
        return oid, None
    params = kids[1]
    if params.is_(0, 5) and not params.constructed:
        if params.content_end != params.content_start:
            raise CertificateRefused("invalid NULL")
        return oid, None
    return oid, bytes(buf[params.content_start:params.content_end]) + bytes([buf[params.start]])


def _empty_name(name: bytes) -> bool:
    """X500Name.isEmpty (no AVA); a Name OpenJDK cannot parse is refused here."""
    count = x500.ava_count(name, in_certificate=True)
    if count is None:
        raise CertificateRefused("malformed Name")
    return count == 0


def _validity(buf: bytes, el: Tlv) -> None:
    times = first_children(buf, el, 2) if el.is_(0, 16) else []  # a 3rd time: dropped by the retry
    if len(times) != 2 or not all((t.is_(0, 23) or t.is_(0, 24)) and not t.constructed for t in times):
        raise CertificateRefused("Invalid encoding for CertificateValidity")
    for t in times:
        _time(bytes(buf[t.content_start:t.content_end]), t.number == 24)


def _time(raw: bytes, generalized: bool) -> None:
    """DerInputBuffer.getTime's format checks: digits, field ranges, seconds optional, a
    fraction (GeneralizedTime), then Z or an offset (the day is not checked against the month)."""
    text = raw.decode("latin-1")
    year = 4 if generalized else 2
    if len(text) < year + 9 or not text[:year + 8].isdigit() or not text[:year + 8].isascii():
        raise CertificateRefused("Parse time, invalid format")
    month, day, hour, minute = (int(text[i:i + 2]) for i in range(year, year + 8, 2))
    rest, second = text[year + 8:], 0
    if 2 < len(rest) < 12:
        if not rest[:2].isdigit() or not rest[:2].isascii():
            raise CertificateRefused("Parse time, invalid format")
        second, rest = int(rest[:2]), rest[2:]
        if generalized and rest[:1] in (".", ","):
            rest = rest[1:].lstrip("0123456789")
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        raise CertificateRefused("Parse time, invalid format")
    if rest[:1] not in ("Z", "+", "-"):
        raise CertificateRefused("Parse time, garbage offset")
    if len(rest) != (1 if rest[0] == "Z" else 5):  # nothing after Z; an offset is +hhmm
        raise CertificateRefused("Parse time, invalid format")


def _tail(buf: bytes, rest: list[Tlv], version: int) -> dict[str, tuple[bool, bytes | None]] | None:
    """Unique ids and extensions after the key, as X509CertInfo.parse reads them (None: no [3])."""
    if rest and version == 0:
        raise CertificateRefused("no more data allowed for version 1 certificate")
    for number in (1, 2):
        if rest and rest[0].is_(2, number):
            rest = rest[1:]
    if not rest:
        return None
    if version != 2:
        raise CertificateRefused("Extensions not allowed in v2 certificate")
    if not (rest[0].is_(2, 3) and rest[0].constructed):
        return None
    inner = children(buf, rest[0])
    if not inner or not inner[0].is_(0, 16):
        raise CertificateRefused("extensions are not a SEQUENCE")
    return _extensions(buf, children(buf, inner[0]))


def _extensions(buf: bytes, exts: list[Tlv]) -> dict[str, tuple[bool, bytes | None]]:
    """{OID: (critical, keyUsage bits or None)} of the parseable and unknown extensions."""
    out: dict[str, tuple[bool, bytes | None]] = {}
    for ext in exts:
        kids = children(buf, ext) if ext.is_(0, 16) else []
        if len(kids) < 2 or not kids[0].is_(0, 6):
            raise CertificateRefused("malformed Extension")
        oid = x500.oid_text(bytes(buf[kids[0].content_start:kids[0].content_end]), strict=False)
        critical, value = False, kids[1]
        if value.is_(0, 1):
            if value.content_end - value.content_start != 1 or len(kids) < 3:
                raise CertificateRefused("malformed Extension criticality")
            critical, value = buf[value.content_start] != 0, kids[2]
        if not value.is_(0, 4):
            raise CertificateRefused("Extension value is not an OCTET STRING")
        body = _octets(buf, value)
        parsed: bytes | None = None
        if oid in _KNOWN:
            try:
                parsed = _known(oid, body)
            except (Asn1Error, ValueError):
                if critical:
                    raise CertificateRefused(f"critical extension {oid} does not parse") from None
                continue  # UnparseableExtension: kept aside, not in the map
        if oid in out:
            raise CertificateRefused("Duplicate extensions not allowed")
        out[oid] = (critical, parsed)
    return out


def _octets(buf: bytes, el: Tlv, depth: int = 0) -> bytes:
    """OCTET STRING content, a constructed (BER) one's chunks joined (nesting bounded by
    asn1.MAX_DEPTH through ``children``)."""
    if not el.constructed:
        return bytes(buf[el.content_start:el.content_end])
    return b"".join(_octets(buf, c, depth + 1) for c in children(buf, el, depth) if c.is_(0, 4))


def _one(value: bytes) -> Tlv:
    el = read_tlv(value, 0, len(value))
    if el.end != len(value):
        raise ValueError("extra data at the end")
    return el


# The outer type of each known extension's value, where OpenJDK's class checks it first.
_OUTER = {
    "2.5.29.14": 0x04, "2.5.29.15": 0x03, "2.16.840.1.113730.1.1": 0x03, "2.5.29.20": 0x02, "2.5.29.27": 0x02,
    "2.5.29.54": 0x02, "2.5.29.21": 0x0A, "2.5.29.23": 0x06, "2.5.29.24": 0x18,
    **{oid: 0x30 for oid in ("2.5.29.16", "2.5.29.17", "2.5.29.18", "2.5.29.19", "2.5.29.28", "2.5.29.29",
                             "2.5.29.30", "2.5.29.31", "2.5.29.32", "2.5.29.33", "2.5.29.35", "2.5.29.36",
                             "2.5.29.37", "2.5.29.46", "1.3.6.1.5.5.7.1.1", "1.3.6.1.5.5.7.1.11")},
}
_GENERAL_NAMES = {SAN, "2.5.29.18", "2.5.29.29"}


def _known(oid: str, value: bytes) -> bytes | None:
    """Parse an extension OpenJDK knows; KeyUsage returns its BIT STRING content."""
    el = _one(value)
    tag = _OUTER.get(oid)
    if tag is not None and value[0] != tag:
        raise ValueError(f"extension {oid}: value of the wrong type")
    if oid == KEY_USAGE:
        if el.content_end == el.content_start or value[el.content_start] > 7:
            raise ValueError("KeyUsage is not a BIT STRING")
        return bytes(value[el.content_start:el.content_end])
    kids = children(value, el) if el.constructed else []
    if oid == BASIC_CONSTRAINTS and kids and kids[0].is_(0, 1):
        if kids[0].content_end - kids[0].content_start != 1 or (len(kids) > 1 and not kids[1].is_(0, 2)):
            raise ValueError("Invalid encoding of BasicConstraints")
    elif oid == "2.5.29.35" and any(k.cls != 2 or k.number > 2 for k in kids):
        raise ValueError("Invalid encoding of AuthorityKeyIdentifierExtension")
    elif oid == "2.5.29.37" and not all(k.is_(0, 6) for k in kids):
        raise ValueError("ExtendedKeyUsage holds a non-OID")
    elif oid in _GENERAL_NAMES:
        _general_names(value, kids)
    return None


def _general_names(value: bytes, names: list[Tlv]) -> None:
    """GeneralNames: not empty, each a context tag [0]..[8]; an IP address of 4 or 16 bytes."""
    if not names or any(k.cls != 2 or k.number > 8 for k in names):
        raise ValueError("Invalid encoding for GeneralNames")
    if any(k.number == 7 and k.content_end - k.content_start not in (4, 16) for k in names):
        raise ValueError("Invalid IPAddressName")


def _check_empty_subject(extensions: dict[str, tuple[bool, bytes | None]]) -> None:
    """X509CertInfo.verifyCert: an empty subject needs a critical subjectAltName."""
    san = extensions.get(SAN)
    if san is None or not san[0]:
        raise CertificateRefused("subject field is empty, and no critical SubjectAlternativeName extension")
