"""ECDSA and DSA signature values read as the JDK reads them, re-encoded for OpenSSL.

Why: apksig verifies through the JDK, which decodes ``SEQUENCE { r INTEGER, s INTEGER }`` in
strict DER (``DerInputStream(..., allowBER=false)``: definite minimal lengths, exactly two
elements, nothing after the sequence, no redundant leading 0x00 in an INTEGER) but takes an
INTEGER written without its 0x00 pad (negative in DER) as the intended positive value: ECDSA
reads every INTEGER as an unsigned magnitude (``getPositiveBigInteger``), DSA reads it signed
and turns a negative one into the magnitude of its minimal two's complement bytes. OpenSSL
refuses such a signature. Here that one leniency is followed, and nothing else: what the JDK
refuses stays refused (review 59 F2).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

_SEQUENCE, _INTEGER = 0x30, 0x02
NOT_DER_MINIMAL = ("its ECDSA/DSA signature holds an INTEGER without its 0x00 pad (not DER-minimal): verified as "
                   "the JDK and apksig read it; Android's own provider may refuse it")


def _element(buf: bytes, pos: int, end: int) -> tuple[int, int, int] | None:
    """(tag, content start, content end) of the DER element at ``pos``, or None where the
    JDK's DER reader refuses it (indefinite length, a long form that is not minimal, more than
    4 length bytes, content past ``end``)."""
    if end - pos < 2:
        return None
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first == 0x80:
        return None
    if first & 0x80:
        count = first & 0x7F
        if count > 4 or end - pos < count or buf[pos] == 0:
            return None
        length = int.from_bytes(buf[pos : pos + count], "big")
        if length <= 127:
            return None
        pos += count
    else:
        length = first
    if end - pos < length:
        return None
    return tag, pos, pos + length


def _integer(raw: bytes, key_kind: str) -> int | None:
    """The value the JDK takes from an INTEGER's content bytes; None where it refuses them."""
    if not raw or (len(raw) >= 2 and raw[0] == 0 and raw[1] < 0x80):
        return None
    if key_kind == "ECDSA":
        return int.from_bytes(raw, "big")
    value = int.from_bytes(raw, "big", signed=True)
    if value < 0:  # DSA: the magnitude of BigInteger.toByteArray(), the minimal two's complement
        minimal = value.to_bytes((~value).bit_length() // 8 + 1, "big", signed=True)
        value = int.from_bytes(minimal, "big")
    return value


def jdk_values(signature: bytes, key_kind: str) -> tuple[int, int] | None:
    """(r, s) as the JDK decodes an ECDSA or DSA signature, or None where it refuses it."""
    outer = _element(signature, 0, len(signature))
    if outer is None or outer[0] != _SEQUENCE or outer[2] != len(signature):
        return None
    values, pos = [], outer[1]
    while pos < outer[2]:
        el = _element(signature, pos, outer[2])
        if el is None:
            return None
        values.append(el)
        pos = el[2]
    if len(values) != 2 or any(tag != _INTEGER for tag, _, _ in values):
        return None
    r, s = (_integer(signature[a:b], key_kind) for _, a, b in values)
    return None if r is None or s is None else (r, s)


def canonical(signature: bytes, key_kind: str) -> bytes | None:
    """The DER encoding OpenSSL verifies, of the values the JDK reads (None: the JDK refuses it)."""
    values = jdk_values(signature, key_kind)
    return None if values is None else encode_dss_signature(*values)


def not_minimal(signature: bytes, key_kind: str) -> bool:
    """The JDK reads this signature, but its bytes are not the DER of the values it reads (an
    INTEGER without its 0x00 pad): Android's own provider (Conscrypt) may refuse it."""
    if key_kind not in ("ECDSA", "DSA"):
        return False
    der = canonical(signature, key_kind)
    return der is not None and der != signature
