"""The one ASN.1 (BER) walker: exact byte ranges of elements, which re-encoding parsers lose.

Used by PKCS #7 (v1 signature blocks) and by certificates (the SubjectPublicKeyInfo as
stored). Definite lengths in any long form and indefinite lengths (constructed only), tag
numbers up to four bytes, nesting bounded by ``MAX_DEPTH``; every overrun is ``Asn1Error``.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_DEPTH = 32


class Asn1Error(ValueError):
    """The bytes are not the BER structure expected (apksig: Asn1DecodingException)."""



@dataclass(frozen=True, slots=True)
class Tlv:
    """One DER element's tag and where its header and content sit in the buffer."""

    cls: int  # 0 universal, 1 application, 2 context, 3 private
    constructed: bool
    number: int
    start: int
    content_start: int
    content_end: int
    end: int

    def is_(self, cls: int, number: int) -> bool:
        return self.cls == cls and self.number == number


def der_length(n: int) -> bytes:
    """A DER length: short form below 128, else the minimal long form (what apksig's re-encoding
    and Java's ``DerValue.toByteArray`` write)."""
    if n < 0x80:
        return bytes([n])
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(size)]) + size


def read_tlv(buf: bytes, pos: int, end: int, depth: int = 0) -> Tlv:
    """The element at ``pos``; definite (any long form) and indefinite lengths."""
    if depth > MAX_DEPTH:
        raise Asn1Error("ASN.1 nesting too deep")
    if pos + 2 > end:
        raise Asn1Error("truncated ASN.1 element")
    first = buf[pos]
    cls, constructed, number = first >> 6, bool(first & 0x20), first & 0x1F
    p = pos + 1
    if number == 0x1F:
        number = 0
        for _ in range(4):
            if p >= end:
                raise Asn1Error("truncated ASN.1 tag")
            b = buf[p]
            p += 1
            number = (number << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        else:
            raise Asn1Error("ASN.1 tag number too large")
    if p >= end:
        raise Asn1Error("truncated ASN.1 length")
    lb = buf[p]
    p += 1
    if lb == 0x80:
        if not constructed:
            raise Asn1Error("indefinite length on a primitive element")
        q = p
        while True:
            if q + 2 > end:
                raise Asn1Error("indefinite-length element has no end-of-contents")
            if buf[q] == 0 and buf[q + 1] == 0:
                return Tlv(cls, constructed, number, pos, p, q, q + 2)
            q = read_tlv(buf, q, end, depth + 1).end
    if lb < 0x80:
        length = lb
    else:
        n = lb & 0x7F
        if n == 0x7F or p + n > end:
            raise Asn1Error("bad ASN.1 length")
        length = int.from_bytes(buf[p:p + n], "big")
        p += n
    if p + length > end:
        raise Asn1Error("ASN.1 element runs past its container")
    return Tlv(cls, constructed, number, pos, p, p + length, p + length)


def children(buf: bytes, tlv: Tlv, depth: int = 0) -> list[Tlv]:
    if not tlv.constructed:
        raise Asn1Error("expected a constructed element")
    out, pos = [], tlv.content_start
    while pos < tlv.content_end:
        child = read_tlv(buf, pos, tlv.content_end, depth + 1)
        out.append(child)
        pos = child.end
    return out


def first_children(buf: bytes, tlv: Tlv, count: int, depth: int = 0) -> list[Tlv]:
    """The first ``count`` children only, the rest not read: apksig's asn1 classes read the fields
    they declare and ignore whatever follows (its BER-to-DER retry drops it)."""
    if not tlv.constructed:
        raise Asn1Error("expected a constructed element")
    out, pos = [], tlv.content_start
    while pos < tlv.content_end and len(out) < count:
        child = read_tlv(buf, pos, tlv.content_end, depth + 1)
        out.append(child)
        pos = child.end
    return out


def algorithm_parts(buf: bytes, tlv: Tlv) -> list[Tlv]:
    """[OID] or [OID, parameters] of a certificate's AlgorithmIdentifier as apksig reads it. Two
    elements: as written (OpenJDK's strict reading takes any parameters). More: only the retry
    reads it, and its parameters field (optional ANY, universal class) takes the first universal
    element after the OID, skipping the others; what follows is never read."""
    kids = first_children(buf, tlv, 3)
    if len(kids) < 3:
        return kids
    pos = kids[0].end
    while pos < tlv.content_end:
        el = read_tlv(buf, pos, tlv.content_end, 1)
        if el.cls == 0:
            return [kids[0], el]
        pos = el.end
    return kids[:1]
