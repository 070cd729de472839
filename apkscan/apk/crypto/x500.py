"""X.500 names compared as Java's ``X500Principal.equals`` compares them (apksig's rule).

apksig finds a v1 signer's certificate with ``Certificate.isMatchingCerticicate``: same serial
and ``new X500Principal(issuer).equals(cert.getIssuerX500Principal())``. OpenJDK's
``X500Name.equals`` first requires the same number of RDNs and of AVAs in each, then equal
RFC 2253 *canonical* strings (``X500Name.getRFC2253CanonicalName``), built thus:

- RDNs last first, joined with ``,``; a multi-valued RDN's AVAs sorted (``AVAComparator``:
  AVAs with an RFC 2253 keyword first, each group by its canonical string, UTF-16 order) and
  joined with ``+``;
- an AVA is ``keyword=value`` (``AVA.toRFC2253CanonicalString``): the keyword for CN C L ST O OU
  STREET DC UID, else the dotted OID; the value is ``#`` + hex of its DER when the type is an OID
  or the value is not a PrintableString or UTF8String (BMP, T61, IA5, INTEGER, SEQUENCE...:
  compared by bytes); otherwise the decoded text (PrintableString as US-ASCII, as JDK 17 does, UTF8String as
  UTF-8, malformed bytes as U+FFFD), with ``,+<>;"\\`` and a leading ``#`` backslash-escaped,
  runs of spaces collapsed to one, and characters <= U+0020 trimmed from both ends
  (``String.trim``);
- the whole ``keyword=value`` text is mapped with ``toUpperCase(Locale.US)`` then
  ``toLowerCase(Locale.US)`` (so dotless ``ı`` matches ``i``) and NFKD-normalised.

Every step is a regular expression or a built-in string method over the value: time and memory
are linear in the name's size at any length (no size above which names fall back to bytes).
A name that is not ``SEQUENCE OF SET OF SEQUENCE {OID, value}`` has no canonical form (None):
``new X500Principal`` throws for it, so it names no certificate.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from apkscan.apk.crypto.asn1 import Asn1Error, Tlv, children, der_length, read_tlv

# AVAKeyword entries OpenJDK marks RFC 2253 compliant (the others print as dotted OIDs).
_KEYWORDS = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
_PRINTABLE, _UTF8 = 0x13, 0x0C
_ESCAPE = re.compile(r'([,+<>;"\\])')
_SPACES = re.compile(" {2,}")
_TRIM = "".join(map(chr, range(0x21)))  # Java's String.trim(): every char <= U+0020 at both ends


def _java_replace(exc: UnicodeDecodeError) -> tuple[str, int]:
    """Java's UTF-8 decoder: one U+FFFD for an encoded surrogate (ED A0..BF 80..BF), else as Python."""
    data, start = exc.object, exc.start
    if data[start] == 0xED and len(data) >= start + 3 and 0xA0 <= data[start + 1] <= 0xBF and 0x80 <= data[start + 2] <= 0xBF:
        return "\ufffd", start + 3
    return "\ufffd", exc.end


_JAVA_REPLACE = "apkscan-java-utf8"
codecs.register_error(_JAVA_REPLACE, _java_replace)
MAX_OID_BYTES = 4096  # longer type OIDs are named by their hex (no keyword is that long)

Canonical = tuple[tuple[int, ...], str]  # (AVAs per RDN, canonical string)


def canonical(der: bytes, *, in_certificate: bool = False) -> Canonical | None:
    """The (shape, RFC 2253 canonical string) of an encoded Name, or None if Java refuses it.

    ``in_certificate``: a Name inside a certificate, which apksig may have re-encoded before
    OpenJDK read it (its BER-to-DER retry keeps an AVA's type and value only, OIDs minimal)."""
    try:
        top = read_tlv(der, 0, len(der))
        if top.end != len(der) or not top.is_(0, 16):
            return None
        rdns = [_rdn(der, rdn, in_certificate) for rdn in children(der, top)]
    except (Asn1Error, ValueError):
        return None
    shape = tuple(len(r) for r in rdns)
    return shape, ",".join("+".join(r) for r in reversed(rdns))


def ava_count(der: bytes, *, in_certificate: bool = True) -> int | None:
    """How many AVAs the Name holds (0: ``X500Name.isEmpty``), or None if Java refuses it; the
    structure of :func:`canonical` in one pass over the bytes, with no text and no lists (a
    15 MB Name of 1.4 M RDNs is read at C speed, element by element)."""
    try:
        top = read_tlv(der, 0, len(der))
        if top.end != len(der) or not top.is_(0, 16) or not top.constructed:
            return None
        count, pos = 0, top.content_start
        while pos < top.content_end:
            if der[pos] == 0x31 and pos + 1 < top.content_end and der[pos + 1] < 0x80:  # short SET
                inner, rdn_end = pos + 2, pos + 2 + der[pos + 1]
                after_rdn = rdn_end
                if rdn_end > top.content_end:
                    return None
            else:
                rdn = read_tlv(der, pos, top.content_end, 1)
                if not rdn.is_(0, 17) or not rdn.constructed:
                    return None
                inner, rdn_end, after_rdn = rdn.content_start, rdn.content_end, rdn.end  # (end-of-contents)
            while inner < rdn_end:
                after = _plain_ava_end(der, inner, rdn_end)
                if after is None:  # any other shape: the general reading
                    ava = read_tlv(der, inner, rdn_end, 2)
                    _ava_fields(der, ava, in_certificate)
                    after = ava.end
                count += 1
                inner = after
            pos = after_rdn
        return count
    except (Asn1Error, ValueError):
        return None


def _plain_ava_end(der: bytes, pos: int, end: int) -> int | None:
    """Where the AVA at ``pos`` ends when it is the plain shape (``30 L 06 n OID T m value``,
    short lengths, one-byte tags, nothing after the value) and :func:`_ava_fields` would accept
    it; None for anything else (then read in general). No objects: a Name of 1.4 M AVAs."""
    if pos + 6 > end or der[pos] != 0x30 or der[pos + 1] > 0x7F or der[pos + 2] != 0x06 or der[pos + 3] > 0x7F:
        return None
    ava_end, oid_end = pos + 2 + der[pos + 1], pos + 4 + der[pos + 3]
    if ava_end > end or oid_end + 2 > ava_end or der[oid_end] & 0x1F == 0x1F or der[oid_end + 1] > 0x7F:
        return None
    if oid_end + 2 + der[oid_end + 1] != ava_end or oid_end == pos + 4 or der[oid_end - 1] & 0x80:
        return None
    if 0x80 in der[pos + 4:oid_end]:  # perhaps padded: the general reading
        return None
    return ava_end


def _ava_fields(der: bytes, ava: Tlv, in_certificate: bool) -> tuple[bytes, Tlv]:
    """(OID content, value element) of an AVA, refused as Java's ``AVA(DerValue)`` refuses it.

    In a certificate, as apksig's BER-to-DER retry (``AttributeTypeAndValue {OBJECT IDENTIFIER,
    ANY}``) leaves it: the first two elements only (the rest not even read), the OID matched by
    its tag number (a constructed one's content bytes are its arcs) and re-encoded minimally.
    A value with a multi-byte tag (number 31 or more) is refused everywhere: OpenJDK's
    ``DerValue`` has none, so neither the strict reading nor the retry accepts it."""
    if not ava.is_(0, 16) or not ava.constructed:
        raise ValueError("AVA is not a SEQUENCE")
    oid = read_tlv(der, ava.content_start, ava.content_end, 3)
    if not oid.is_(0, 6) or (oid.constructed and not in_certificate) or oid.end >= ava.content_end:
        raise ValueError("AVA is not {OID, value}")
    value = read_tlv(der, oid.end, ava.content_end, 3)
    if value.end != ava.content_end and not in_certificate:
        raise ValueError("AVA is not {OID, value}")
    if der[value.start] & 0x1F == 0x1F:
        raise ValueError("multi-byte tag in an attribute value (DerValue has none)")
    raw = der[oid.content_start:oid.content_end]
    padded = _PADDING.search(raw) if 0x80 in raw else None
    if not raw or raw[-1] & 0x80 or (not in_certificate and padded):
        raise ValueError("malformed OBJECT IDENTIFIER")
    if value.cls != 0 and (padded or oid.constructed or value.end != ava.content_end):
        raise ValueError("only apksig's retry reads this AVA, and its value (ANY) must be universal")
    return raw, value


def _ava_parts(der: bytes, ava: Tlv, in_certificate: bool) -> tuple[str, Tlv]:
    """(dotted type, value element) of an AVA (see :func:`_ava_fields`)."""
    raw, value = _ava_fields(der, ava, in_certificate)
    return oid_text(raw, strict=not in_certificate), value


class HexValue(str):
    """An attribute value written as RFC 4514 ``#`` + hex of its DER (shown unescaped)."""


_TEXT = {0x13: "latin-1", 0x16: "latin-1", 0x1A: "latin-1", 0x12: "latin-1", 0x14: "latin-1",
         0x0C: "utf-8", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def display_rdns(der: bytes) -> list[list[tuple[str, str]]] | None:
    """A certificate Name's RDNs in encoded order, for showing: (dotted OID, value), string types
    decoded and any other value as RFC 4514 ``#`` + the hex of its DER (an INTEGER CN, a nested
    SEQUENCE: OpenJDK takes any value). None if not a Name."""
    try:
        top = read_tlv(der, 0, len(der))
        if not top.is_(0, 16):
            return None
        out = []
        for rdn in children(der, top):
            if not rdn.is_(0, 17):
                return None
            out.append([_display_ava(der, ava) for ava in children(der, rdn)])
        return out
    except (Asn1Error, ValueError):
        return None


def _display_ava(der: bytes, ava: Tlv) -> tuple[str, str]:
    parts = children(der, ava)[:2] if ava.is_(0, 16) else []
    if len(parts) != 2 or not parts[0].is_(0, 6):
        raise ValueError("AVA is not {OID, value}")
    oid = oid_text(der[parts[0].content_start:parts[0].content_end], strict=False)
    value, codec = parts[1], _TEXT.get(der[parts[1].start])
    if codec is None:
        return oid, HexValue("#" + _value_der(der, value).hex())
    return oid, bytes(der[value.content_start:value.content_end]).decode(codec, "replace")


def _rdn(der: bytes, rdn: Tlv, in_certificate: bool) -> list[str]:
    if not rdn.is_(0, 17):
        raise ValueError("RDN is not a SET")
    avas = [_ava(der, ava, in_certificate) for ava in children(der, rdn)]
    if len(avas) > 1:  # AVAComparator: keyword AVAs first, then by canonical string (UTF-16 order)
        avas.sort(key=lambda a: (not a[0], a[1].encode("utf-16-be", "surrogatepass")))
    return [text for _keyword, text in avas]


def _ava(der: bytes, ava: Tlv, in_certificate: bool) -> tuple[bool, str]:
    oid, value = _ava_parts(der, ava, in_certificate)
    keyword = _KEYWORDS.get(oid)
    tag = der[value.start]
    if keyword is None or tag not in (_PRINTABLE, _UTF8):
        text = "#" + _value_der(der, value).hex()
    else:
        raw = der[value.content_start:value.content_end]
        text = _string(raw.decode("ascii", "replace") if tag == _PRINTABLE else raw.decode("utf-8", _JAVA_REPLACE))
    canon = f"{keyword or oid}={text}".upper().lower()
    return keyword is not None, unicodedata.normalize("NFKD", canon)


def _string(value: str) -> str:
    value = _ESCAPE.sub(r"\\\1", value)
    if value.startswith("#"):
        value = "\\" + value
    return _SPACES.sub(" ", value).strip(_TRIM)  # str.strip: linear (a regex anchored at the end was quadratic: review 33)


def _value_der(der: bytes, value: Tlv) -> bytes:
    """The value as Java's ``DerValue.toByteArray`` gives it: tag, minimal length, contents
    (an indefinite length made definite; one nested inside it is left as encoded)."""
    head_end = value.start + 1
    if der[value.start] & 0x1F == 0x1F:  # multi-byte tag number
        while der[head_end] & 0x80:
            head_end += 1
        head_end += 1
    length = der_length(value.content_end - value.content_start)
    return bytes(der[value.start:head_end]) + length + bytes(der[value.content_start:value.content_end])


_PADDING = re.compile(rb"(^|[\x00-\x7f])\x80+")


def unpad_oid(raw: bytes) -> bytes:
    """The OID content with each arc's leading 0x80 bytes removed (its minimal encoding)."""
    return _PADDING.sub(rb"\1", raw) if b"\x80" in raw else raw


def oid_text(raw: bytes, *, strict: bool = True) -> str:
    """Dotted OID; Java refuses an empty OID, a truncated arc and (``strict``) padded, 0x80-led
    arcs (apksig's re-encoding of a certificate drops the padding: ``strict=False``)."""
    if not raw or raw[-1] & 0x80:
        raise ValueError("malformed OBJECT IDENTIFIER")
    if not strict:
        raw = unpad_oid(raw)
    if len(raw) > MAX_OID_BYTES:
        return "oid-" + raw.hex()
    arcs, value, start = [], 0, True
    for b in raw:
        if start and b == 0x80:  # (only when strict: the others were unpadded above)
            raise ValueError("non-minimal OBJECT IDENTIFIER arc")
        value = (value << 7) | (b & 0x7F)
        start = not b & 0x80
        if start:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])
