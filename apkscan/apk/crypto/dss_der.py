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

from apkscan.apk.crypto.der_strict import Decline, expect, items

_SEQUENCE, _INTEGER = 0x30, 0x02
NOT_DER_MINIMAL = ("its ECDSA/DSA signature holds an INTEGER without its 0x00 pad (not DER-minimal): verified as "
                   "the JDK and apksig read it; Android's own provider may refuse it")


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
    """(r, s) as the JDK decodes an ECDSA or DSA signature, or None where it refuses it: the
    elements found by the one strict DER reader (:mod:`apkscan.apk.crypto.der_strict`: definite
    minimal lengths of at most 4 bytes, children filling the sequence), nothing after it."""
    try:
        outer = expect(signature, 0, len(signature), _SEQUENCE)
        values = items(signature, outer) if outer.end == len(signature) else []
    except Decline:
        return None
    if len(values) != 2 or any(signature[v.start] != _INTEGER for v in values):
        return None
    r, s = (_integer(signature[v.content_start:v.content_end], key_kind) for v in values)
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
