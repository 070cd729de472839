"""The fast path of :mod:`apkscan.apk.crypto.certificates`: a strict reader of the few
certificate and key fields apkscan describes, without ``cryptography.x509`` or ``asn1crypto``.

Why: importing those two cost ~20 ms of every process's start-up (issue 11). Each function
here reads only a DER subset on which its answer is the fallback's (``cryptography`` 's Rust
reader for the certificate fields, ``asn1crypto`` for the key facts; mirrored
from their rules, checked field for field by ``tests/test_cert_fastpath.py``) and returns
None for anything else: a lenient and a strict reader that disagree must never yield a
different identity, so whatever is unusual goes to the fallback, whose output
(``parse_errors`` included) is then exactly what it was. The walk is flat (fixed certificate
shape, no recursion on attacker data), every length is checked by the BER walker, and the
public functions never raise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apkscan.apk.crypto.asn1 import Tlv
from apkscan.apk.crypto.der_strict import (
    Decline, bit_string, content, directory_string, expect, integer, items, oid, time)
from apkscan.apk.crypto.oids import EC_CURVES, KEY_ALGORITHMS

RSA_OID, PSS_OID, EC_OID, DSA_OID = ("1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10",
                                     "1.2.840.10045.2.1", "1.2.840.10040.4.1")
_NULL = b"\x05\x00"
# Signature algorithms whose parameters are absent or NULL (PKCS #1 v1.5), and those whose
# parameters must be absent (cryptography refuses NULL after ECDSA-with-SHA2 and EdDSA; DSA
# is kept to the same rule). RSASSA-PSS (parameters to parse) is left to the fallback.
_SIG_NULL_OR_ABSENT = {f"1.2.840.113549.1.1.{n}" for n in (2, 4, 5, 11, 12, 13, 14)}
_SIG_ABSENT = {"1.2.840.10045.4.1", "1.2.840.10045.4.3.1", "1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3",
               "1.2.840.10045.4.3.4", "1.2.840.10040.4.3", "2.16.840.1.101.3.4.3.1",
               "2.16.840.1.101.3.4.3.2", "1.3.101.112", "1.3.101.113"}
_NO_PARAMS_KEYS = {PSS_OID, "1.3.101.110", "1.3.101.111", "1.3.101.112", "1.3.101.113"}
_FIXED_SIZES = {"1.3.101.110": 256, "1.3.101.112": 256, "1.3.101.113": 456, "1.3.101.111": 448}

Rdns = list[list[tuple[str, str]]]


# --- certificate fields (as cryptography.x509 reads them) -------------------------------------


def certificate_fields(der: bytes) -> dict[str, Any] | None:
    """subject, issuer, serial, not_before, not_after and sig_oid, or None (not in the subset)."""
    try:
        return _fields(der)
    except Decline:
        return None


def _fields(der: bytes) -> dict[str, Any]:
    top = expect(der, 0, len(der), 0x30)
    if top.end != len(der):
        raise Decline("trailing bytes")
    parts = items(der, top)
    if len(parts) != 3 or der[parts[0].start] != 0x30:
        raise Decline("not Certificate ::= SEQUENCE {tbs, algorithm, signature}")
    sig_oid = _signature_algorithm(der, parts[1])
    bit_string(der, parts[2])
    tbs = items(der, parts[0])
    if tbs and der[tbs[0].start] == 0xA0:
        if content(der, tbs[0]) != b"\x02\x01\x02":
            raise Decline("version other than v3 (or v1 left out)")
        tbs = tbs[1:]
    if len(tbs) < 6:
        raise Decline("TBSCertificate is missing fields")
    serial = integer(der, tbs[0])
    _signature_algorithm(der, tbs[1])
    not_before, not_after = _validity(der, tbs[3])
    _spki_shape(der, tbs[5])
    _optional_tail(der, tbs[6:])
    return {"subject": _name(der, tbs[4]), "issuer": _name(der, tbs[2]), "serial": serial,
            "not_before": not_before, "not_after": not_after, "sig_oid": sig_oid}


def _algorithm(buf: bytes, el: Tlv) -> tuple[str, list[Tlv]]:
    if buf[el.start] != 0x30:
        raise Decline("AlgorithmIdentifier is not a SEQUENCE")
    kids = items(buf, el)
    if not kids or len(kids) > 2:
        raise Decline("AlgorithmIdentifier shape")
    return oid(buf, kids[0]), kids[1:]


def _is_null(buf: bytes, params: list[Tlv]) -> bool:
    return len(params) == 1 and buf[params[0].start:params[0].end] == _NULL


def _signature_algorithm(buf: bytes, el: Tlv) -> str:
    algo, params = _algorithm(buf, el)
    if algo in _SIG_NULL_OR_ABSENT and (not params or _is_null(buf, params)):
        return algo
    if algo in _SIG_ABSENT and not params:
        return algo
    raise Decline("signature algorithm or parameters outside the subset")


def _validity(buf: bytes, el: Tlv) -> tuple[datetime, datetime]:
    if buf[el.start] != 0x30:
        raise Decline("Validity is not a SEQUENCE")
    kids = items(buf, el)
    if len(kids) != 2:
        raise Decline("Validity shape")
    return time(buf, kids[0]), time(buf, kids[1])


def _name(buf: bytes, el: Tlv) -> Rdns:
    """RDNs in encoded order; each SET non-empty, in DER order, without repeated values."""
    if buf[el.start] != 0x30:
        raise Decline("Name is not a SEQUENCE")
    rdns: Rdns = []
    for rdn in items(buf, el):
        if buf[rdn.start] != 0x31:
            raise Decline("RDN is not a SET")
        members = items(buf, rdn)
        encodings = [buf[m.start:m.end] for m in members]
        if not members or encodings != sorted(encodings):
            raise Decline("empty or unordered RDN")
        values = []
        for m in members:
            kids = items(buf, m) if buf[m.start] == 0x30 else []
            if len(kids) != 2:
                raise Decline("AttributeTypeAndValue shape")
            values.append((oid(buf, kids[0]), directory_string(buf, kids[1])))
        if len(set(values)) != len(values):
            raise Decline("repeated attribute in one RDN")
        rdns.append(values)
    return rdns


def _spki_shape(buf: bytes, el: Tlv) -> None:
    """SubjectPublicKeyInfo with parameters as cryptography's AlgorithmIdentifier reads them."""
    if buf[el.start] != 0x30:
        raise Decline("SubjectPublicKeyInfo is not a SEQUENCE")
    kids = items(buf, el)
    if len(kids) != 2:
        raise Decline("SubjectPublicKeyInfo shape")
    algo, params = _algorithm(buf, kids[0])
    if algo == RSA_OID:
        ok = not params or _is_null(buf, params)
    elif algo in _NO_PARAMS_KEYS:
        ok = not params
    elif algo == EC_OID:
        ok = len(params) == 1 and (_is_null(buf, params) or bool(oid(buf, params[0])))
    elif algo == DSA_OID:
        ok = len(params) == 1 and _dsa_p(buf, params[0]) >= 0
    else:
        ok = False
    if not ok:
        raise Decline("public key algorithm or parameters outside the subset")
    bit_string(buf, kids[1])


def _dsa_p(buf: bytes, el: Tlv) -> int:
    """p of Dss-Parms ::= SEQUENCE {p, q, g} (three non-negative INTEGERs)."""
    kids = items(buf, el) if buf[el.start] == 0x30 else []
    if len(kids) != 3:
        raise Decline("Dss-Parms shape")
    p, _q, _g = (integer(buf, k, unsigned=True) for k in kids)
    return p


def _optional_tail(buf: bytes, rest: list[Tlv]) -> None:
    """[1] issuerUniqueID, [2] subjectUniqueID, [3] extensions: each at most once, in order."""
    order = [0x81, 0x82, 0xA3]
    for el in rest:
        tag = buf[el.start]
        if tag not in order:
            raise Decline("unexpected TBSCertificate field")
        order = order[order.index(tag) + 1:]
        if tag == 0xA3:
            _extensions(buf, el)
        else:
            bit_string(buf, el, tag)


def _extensions(buf: bytes, el: Tlv) -> None:
    inner = items(buf, el)
    if len(inner) != 1 or buf[inner[0].start] != 0x30:
        raise Decline("[3] does not hold one SEQUENCE")
    for ext in items(buf, inner[0]):
        kids = items(buf, ext) if buf[ext.start] == 0x30 else []
        if len(kids) == 3 and buf[kids[1].start:kids[1].end] == b"\x01\x01\xff":
            kids = [kids[0], kids[2]]  # critical TRUE; FALSE must not be encoded (DER default)
        if len(kids) != 2 or buf[kids[1].start] != 0x04:
            raise Decline("Extension shape")
        oid(buf, kids[0])


# --- public key facts (as asn1crypto reads them) -----------------------------------------------


def _spki_parts(spki: bytes) -> tuple[str, list[Tlv], bytes]:
    """(algorithm OID, parameters, key bytes after the unused-bits octet) of a strict SPKI."""
    top = expect(spki, 0, len(spki), 0x30)
    if top.end != len(spki):
        raise Decline("trailing bytes")
    kids = items(spki, top)
    if len(kids) != 2:
        raise Decline("SubjectPublicKeyInfo shape")
    algo, params = _algorithm(spki, kids[0])
    return algo, params, bit_string(spki, kids[1])[1:]


def _rsa_key(bits: bytes) -> tuple[bytes, int, int]:
    """(modulus content octets, modulus, exponent) of RSAPublicKey ::= SEQUENCE {n, e}."""
    top = expect(bits, 0, len(bits), 0x30)
    kids = items(bits, top)
    if top.end != len(bits) or len(kids) != 2:
        raise Decline("RSAPublicKey shape")
    return content(bits, kids[0]), integer(bits, kids[0]), integer(bits, kids[1])


def key_facts(spki: bytes) -> dict[str, Any] | None:
    """key_algorithm, key_size and ec_curve of a SubjectPublicKeyInfo, or None (fallback)."""
    try:
        return _key_facts(spki)
    except Decline:
        return None


def _key_facts(spki: bytes) -> dict[str, Any]:
    algo, params, bits = _spki_parts(spki)
    if algo not in KEY_ALGORITHMS:
        raise Decline("unknown key algorithm")
    facts: dict[str, Any] = {"key_algorithm": KEY_ALGORITHMS[algo], "key_size": None, "ec_curve": None}
    if algo in (RSA_OID, PSS_OID):
        if params and not _is_null(spki, params):
            raise Decline("RSA parameters")
        modulus = _rsa_key(bits)[0]
        facts["key_size"] = int.from_bytes(modulus, "big").bit_length()  # unsigned, as apksig fixes it
    elif algo == EC_OID:
        tag = spki[params[0].start] if len(params) == 1 else None
        if tag == 0x06:
            curve = oid(spki, params[0])
            facts["ec_curve"], facts["key_size"] = EC_CURVES.get(curve, (curve, None))
        elif tag == 0x30 or _is_null(spki, params):  # explicit or implicit curve: size from the point
            facts["key_size"] = (len(bits) - 1) // 2 * 8 if bits[:1] == b"\x04" else None
        else:
            raise Decline("EC parameters")
    elif algo == DSA_OID:
        if len(params) != 1:
            raise Decline("DSA key without inline parameters")
        y = expect(bits, 0, len(bits), 0x02)  # asn1crypto reads the key as one INTEGER
        if y.end != len(bits):
            raise Decline("DSA key bytes")
        integer(bits, y)
        facts["key_size"] = _dsa_p(spki, params[0]).bit_length()
    elif params:
        raise Decline("parameters on an EdDSA/XDH key")
    else:
        facts["key_size"] = _FIXED_SIZES[algo]
    return facts
