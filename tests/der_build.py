"""Hand-built X.509 certificates for the certificate-reader tests.

Why: the edge cases (every string type, odd times, negative serials, BER lengths, unsorted
multi-valued RDNs...) cannot be produced by ``cryptography``'s builder, which writes only
clean DER. The signature bytes are never checked by the readers under test, so a fixed
placeholder is enough, and so is a made-up RSA modulus.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

SHA256_RSA = "1.2.840.113549.1.1.11"
RSA = "1.2.840.113549.1.1.1"
EC = "1.2.840.10045.2.1"
P256 = "1.2.840.10045.3.1.7"
CN, O, C, OU = "2.5.4.3", "2.5.4.10", "2.5.4.6", "2.5.4.11"


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + length(len(content)) + content


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def set_(*parts: bytes) -> bytes:
    return tlv(0x31, b"".join(parts))


def integer(value: int) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8) if value >= 0 else (((-value - 1).bit_length() + 8) // 8)
    return tlv(0x02, value.to_bytes(size, "big", signed=True))


def oid_body(dotted: str) -> bytes:
    arcs = [int(x) for x in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1]] + arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def oid(dotted: str) -> bytes:
    return tlv(0x06, oid_body(dotted))


NULL = b"\x05\x00"


def alg(dotted: str, params: bytes | None = NULL) -> bytes:
    return seq(oid(dotted), params or b"")


def atv(attr: str, value: bytes | str, tag: int = 0x0C) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return seq(oid(attr), tlv(tag, raw))


def name(*rdns: list[bytes] | bytes) -> bytes:
    """``name([atv, atv], atv)``: a list is one multi-valued RDN (kept in the given order)."""
    return seq(*(set_(*r) if isinstance(r, list) else set_(r) for r in rdns))


def utc(text: str) -> bytes:
    return tlv(0x17, text.encode())


def gen(text: str) -> bytes:
    return tlv(0x18, text.encode())


def bitstring(data: bytes, unused: int = 0) -> bytes:
    return tlv(0x03, bytes([unused]) + data)


# A 1024-bit odd modulus with the top bit set (a made-up number: nothing here checks RSA
# arithmetic, only sizes and encodings).
RSA_N = (1 << 1023) | int.from_bytes(hashlib.sha512(b"apkscan test modulus").digest() * 2, "big") | 1


def rsa_spki(n: int = RSA_N, e: int = 65537, params: bytes | None = NULL) -> bytes:
    return seq(alg(RSA, params), bitstring(seq(integer(n), integer(e))))


def ec_spki(point_len: int = 65, curve: bytes | None = None) -> bytes:
    point = b"\x04" + bytes(range(1, point_len))
    return seq(alg(EC, curve if curve is not None else oid(P256)), bitstring(point))


@dataclass
class Cert:
    """The parts of a certificate, each already encoded; ``der()`` joins them."""

    version: bytes = tlv(0xA0, integer(2))
    serial: bytes = integer(0x1234)
    inner_alg: bytes = alg(SHA256_RSA)
    issuer: bytes = name(atv(C, "US", 0x13), atv(O, "Example"), atv(CN, "Example CA"))
    validity: bytes = seq(utc("200101000000Z"), utc("300101000000Z"))
    subject: bytes = name(atv(C, "US", 0x13), atv(O, "Example"), atv(CN, "Example App"))
    spki: bytes = field(default_factory=rsa_spki)
    tail: bytes = b""  # unique ids and [3] extensions, as encoded
    outer_alg: bytes = alg(SHA256_RSA)
    signature: bytes = bitstring(b"\x5a" * 16)

    def tbs(self) -> bytes:
        return seq(self.version, self.serial, self.inner_alg, self.issuer, self.validity, self.subject,
                   self.spki, self.tail)

    def der(self) -> bytes:
        return seq(self.tbs(), self.outer_alg, self.signature)

    def with_(self, **kw) -> "Cert":
        return replace(self, **kw)
