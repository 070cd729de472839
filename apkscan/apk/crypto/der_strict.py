"""Strict DER primitives: accept only what ``cryptography``'s Rust reader (rust-asn1) accepts.

Why: the certificate fast path (:mod:`apkscan.apk.crypto.x509_fast`) must read a field
exactly as ``cryptography`` would, or not at all. So each reader here takes the DER subset
both agree on and raises :class:`Decline` for anything else, and the caller falls back to
the full parsers. Declining too often costs only time; accepting something the fallback
reads differently would change an identity. Elements are found with the one BER walker
(:func:`apkscan.apk.crypto.asn1.read_tlv`) and then checked for DER minimality.
"""

from __future__ import annotations

from datetime import datetime, timezone

from apkscan.apk.crypto.asn1 import Asn1Error, Tlv, read_tlv

MAX_OID_BYTES = 63  # rust-asn1's limit: longer OIDs do not parse there
MAX_ARC_BYTES = 8  # arcs up to 56 bits: far inside every reader's integer range

# PrintableString's alphabet (X.680), as rust-asn1 checks it.
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


class Decline(Exception):
    """Outside the strict subset: let the full parser decide."""


def element(buf: bytes, pos: int, end: int) -> Tlv:
    """The element at ``pos``: one-byte tag, definite minimal length of at most 4 bytes."""
    try:
        el = read_tlv(buf, pos, end)
    except Asn1Error:
        raise Decline("not BER") from None
    if el.end != el.content_end or buf[pos] & 0x1F == 0x1F:
        raise Decline("indefinite length or long tag")
    length = el.content_end - el.content_start
    need = 1 if length < 0x80 else 2 + (length.bit_length() - 1) // 8
    if el.content_start - el.start != 1 + need or need > 5:
        raise Decline("length not minimal")
    return el


def expect(buf: bytes, pos: int, end: int, tag: int) -> Tlv:
    """The element at ``pos``, which must carry the identifier octet ``tag``."""
    if pos >= end or buf[pos] != tag:
        raise Decline(f"expected tag {tag:#x}")
    return element(buf, pos, end)


def items(buf: bytes, el: Tlv) -> list[Tlv]:
    """The elements inside a constructed ``el``, which must fill it exactly."""
    out, pos = [], el.content_start
    while pos < el.content_end:
        child = element(buf, pos, el.content_end)
        out.append(child)
        pos = child.end
    return out


def content(buf: bytes, el: Tlv) -> bytes:
    return bytes(buf[el.content_start:el.content_end])


def integer(buf: bytes, el: Tlv, *, unsigned: bool = False) -> int:
    """A minimally encoded INTEGER (two's complement); ``unsigned`` refuses negatives."""
    data = content(buf, el)
    if buf[el.start] != 0x02 or not data:
        raise Decline("not an INTEGER")
    if len(data) > 1 and ((data[0] == 0 and data[1] < 0x80) or (data[0] == 0xFF and data[1] >= 0x80)):
        raise Decline("INTEGER not minimal")
    if unsigned and data[0] >= 0x80:
        raise Decline("negative")
    return int.from_bytes(data, "big", signed=True)


def oid(buf: bytes, el: Tlv) -> str:
    """Dotted OBJECT IDENTIFIER, minimal arcs only (first arc split as X.690 says)."""
    data = content(buf, el)
    if buf[el.start] != 0x06 or not data or len(data) > MAX_OID_BYTES or data[-1] & 0x80:
        raise Decline("bad OBJECT IDENTIFIER")
    arcs, value, size = [], 0, 0
    for b in data:
        if size == 0 and b == 0x80:
            raise Decline("arc not minimal")
        value, size = (value << 7) | (b & 0x7F), size + 1
        if size > MAX_ARC_BYTES:
            raise Decline("arc too large")
        if not b & 0x80:
            arcs.append(value)
            value, size = 0, 0
    first = arcs[0]
    head = [first // 40, first % 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def bit_string(buf: bytes, el: Tlv, tag: int = 0x03) -> bytes:
    """Contents (unused-bits octet first) of a BIT STRING whose padding bits are zero."""
    data = content(buf, el)
    if buf[el.start] != tag or not data or data[0] > 7:
        raise Decline("bad BIT STRING")
    if len(data) == 1 and data[0]:
        raise Decline("padding on an empty BIT STRING")
    if len(data) > 1 and data[-1] & ((1 << data[0]) - 1):
        raise Decline("padding bits set")
    return data


def time(buf: bytes, el: Tlv) -> datetime:
    """UTCTime ``YYMMDDHHMMSSZ`` (50-99 -> 19xx) or GeneralizedTime ``YYYYMMDDHHMMSSZ``."""
    tag, data = buf[el.start], content(buf, el)
    width = {0x17: 13, 0x18: 15}.get(tag)
    if width is None or len(data) != width or data[-1:] != b"Z" or not data[:-1].isdigit():
        raise Decline("time outside the X.509 forms")
    text = data[:-1].decode("ascii")
    if tag == 0x17:
        yy = int(text[:2])
        text = str(1900 + yy if yy >= 50 else 2000 + yy) + text[2:]
    try:
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]),
                        int(text[10:12]), int(text[12:14]), tzinfo=timezone.utc)
    except ValueError:
        raise Decline("no such date") from None


def directory_string(buf: bytes, el: Tlv) -> str:
    """A name attribute's text, for the string types whose decoding is unambiguous.

    UTF8String as UTF-8; PrintableString in its alphabet; IA5String and TeletexString as
    ASCII only; VisibleString as printable ASCII; NumericString as digits and space;
    BMPString as UTF-16BE and UniversalString as UTF-32BE, both strict. Any other type,
    or bytes outside these, decline (T61 with Latin-1 bytes, OCTET STRING, BIT STRING...).
    """
    tag, data = buf[el.start], content(buf, el)
    try:
        if tag == 0x0C:
            return data.decode("utf-8")
        if tag == 0x13 and _PRINTABLE.issuperset(data):
            return data.decode("ascii")
        if tag in (0x16, 0x14) and data.isascii():
            return data.decode("ascii")
        if tag == 0x1A and all(0x20 <= b < 0x7F for b in data):
            return data.decode("ascii")
        if tag == 0x12 and all(b == 0x20 or 0x30 <= b <= 0x39 for b in data):
            return data.decode("ascii")
        if tag == 0x1E and len(data) % 2 == 0:
            return data.decode("utf-16-be")
        if tag == 0x1C and len(data) % 4 == 0:
            return data.decode("utf-32-be")
    except UnicodeDecodeError:
        raise Decline("undecodable string") from None
    raise Decline(f"string type {tag:#x} or its bytes outside the subset")
