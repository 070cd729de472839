"""X.509 certificates as identities: digests of the exact bytes, plus readable names.

An APK's signer is identified by the SHA-256 of the certificate's DER bytes exactly as
stored in the signature block, so digests are always computed over the given bytes,
whatever they contain. Android (and apksig) accept certificates that strict parsers
refuse (BER instead of DER, a negative RSA modulus, odd string types), so parsing uses
``cryptography`` first and falls back to the lenient ``asn1crypto``; the reason for the
fallback goes into ``Certificate.parse_errors``. :func:`certificate_from_der` never raises.
Both are imported only when needed: the strict reader :mod:`~apkscan.apk.crypto.x509_fast`
answers first, for the DER subset where it reads exactly what they would read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import warnings
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

from apkscan.apk.crypto import jdk_cert, jdk_key, x500, x509_fast
from apkscan.apk.crypto.asn1 import Asn1Error, read_tlv
from apkscan.apk.crypto.interop import androidqf_name, serial_decimal
from apkscan.apk.crypto.oids import ATTR_NAMES, EC_CURVES, KEY_ALGORITHMS, SIGNATURE_ALGORITHMS  # noqa: F401
from apkscan.apk.model import Certificate

MAX_PARSE_SIZE = 1 << 20  # hash any size, but parse names only of certificates up to 1 MiB

Rdns = list[list[tuple[str, str]]]  # RDN sequence as encoded: [[(oid, value), ...], ...]


# --- minimal BER walker: exact byte ranges, which re-encoding parsers lose -------------------


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int, int]:
    """(tag byte, header start, content start, content end), DER-like only: indefinite
    lengths and high tag numbers are left to asn1crypto (the caller's fallback)."""
    try:
        el = read_tlv(buf, pos, end)
    except Asn1Error as exc:
        raise ValueError(str(exc)) from None
    if el.end != el.content_end or el.number >= 0x1F:
        raise ValueError("indefinite length or high-tag-number form not expected here")
    return buf[pos], el.start, el.content_start, el.content_end


def _tbs_children(der: bytes) -> list[tuple[int, int, int, int]]:
    _, _, c_start, c_end = _tlv(der, 0, len(der))
    tag, _, t_start, t_end = _tlv(der, c_start, c_end)
    if tag != 0x30:
        raise ValueError("tbsCertificate is not a SEQUENCE")
    out, pos = [], t_start
    while pos < t_end:
        el = _tlv(der, pos, t_end)
        out.append(el)
        pos = el[3]
    if out and out[0][0] == 0xA0:  # explicit [0] version
        out = out[1:]
    return out  # serial, signature, issuer, validity, subject, spki, ...


def spki_der(der: bytes) -> bytes | None:
    """SubjectPublicKeyInfo exactly as encoded in the certificate, or None if unreadable."""
    try:
        children = _tbs_children(der)
        if len(children) < 6 or children[5][0] != 0x30:
            return None
        _, start, _, end = children[5]
        return bytes(der[start:end])
    except (ValueError, IndexError, TypeError):
        pass
    try:  # indefinite lengths etc.: let asn1crypto find it
        return _asn1_cert(der)["tbs_certificate"]["subject_public_key_info"].dump()
    except Exception:  # noqa: BLE001 - any failure means "no key"
        return None


def apksig_public_key_der(der: bytes) -> bytes | None:
    """The public key bytes apksig compares with a v2/v3/v4 signer's public key record.

    apksig uses ``X509Certificate.getPublicKey().getEncoded()`` (OpenJDK's DER re-encoding of
    the SPKI, key bits as stored) and re-encodes only a negative RSA modulus
    (``ApkSigningBlockUtils.encodePublicKey``): :func:`jdk_key.apksig_encoded`. None when
    OpenJDK refuses the key (or no key can be found).
    """
    raw = spki_der(der)
    return None if raw is None else jdk_key.apksig_encoded(raw, in_certificate=True)


# --- names -----------------------------------------------------------------------------------


def _escape(value: str) -> str:
    """RFC 4514 section 2.4 escaping of one attribute value (a ``#hex`` value as it is)."""
    if isinstance(value, x500.HexValue):
        return value
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


def format_name(rdns: Rdns) -> str:
    """RFC 4514 string: last RDN first, multi-valued RDNs joined with '+'."""
    parts = []
    for rdn in reversed(rdns):
        parts.append("+".join(f"{ATTR_NAMES.get(oid, oid)}={_escape(v)}" for oid, v in rdn))
    return ",".join(parts)


def name_attrs(rdns: Rdns) -> dict[str, list[str]]:
    """{short name: [values in encoded order]} for matching rules against."""
    out: dict[str, list[str]] = {}
    for rdn in rdns:
        for oid, value in rdn:
            out.setdefault(ATTR_NAMES.get(oid, oid), []).append(value)
    return out


def _value_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return x500.HexValue("#" + value.hex())
    return str(value)


# --- the two parsers -------------------------------------------------------------------------


def _asn1_cert(der: bytes):
    from asn1crypto import x509 as ax509

    cert = ax509.Certificate.load(der)
    cert["tbs_certificate"]  # force parsing of the top levels now
    return cert


def _fields_cryptography(der: bytes) -> dict[str, Any]:
    from cryptography import x509

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cert = x509.load_der_x509_certificate(der)
        return {
            "subject": [[(a.oid.dotted_string, _value_str(a.value)) for a in rdn]
                        for rdn in cert.subject.rdns],
            "issuer": [[(a.oid.dotted_string, _value_str(a.value)) for a in rdn]
                       for rdn in cert.issuer.rdns],
            "serial": cert.serial_number,
            "not_before": cert.not_valid_before_utc,
            "not_after": cert.not_valid_after_utc,
            "sig_oid": cert.signature_algorithm_oid.dotted_string,
        }


def _asn1_name(name) -> Rdns:
    rdns: Rdns = []
    for rdn in name.chosen:
        items = []
        for atv in rdn:
            oid = atv["type"].dotted
            try:
                value = atv["value"].native
            except Exception:  # noqa: BLE001 - undecodable string: keep its bytes
                value = atv["value"].contents
            items.append((oid, _value_str(value)))
        rdns.append(items)
    return rdns


def _fields_asn1crypto(der: bytes) -> dict[str, Any]:
    cert = _asn1_cert(der)
    tbs = cert["tbs_certificate"]
    out: dict[str, Any] = {
        "subject": _asn1_name(tbs["subject"]),
        "issuer": _asn1_name(tbs["issuer"]),
        "serial": tbs["serial_number"].native,
        "sig_oid": cert["signature_algorithm"]["algorithm"].dotted,
    }
    for key in ("not_before", "not_after"):
        try:
            out[key] = tbs["validity"][key].native
        except Exception:  # noqa: BLE001 - unreadable time: leave it out
            out[key] = None
    return out


# --- public key --------------------------------------------------------------------------------


def _key_facts(spki: bytes | None) -> dict[str, Any]:
    """Algorithm, size and curve of a SubjectPublicKeyInfo (lenient about the modulus sign)."""
    facts: dict[str, Any] = {"key_algorithm": None, "key_size": None, "ec_curve": None}
    if spki is None:
        return facts
    from asn1crypto import core, keys

    info = keys.PublicKeyInfo.load(spki)
    oid = info["algorithm"]["algorithm"].dotted
    facts["key_algorithm"] = KEY_ALGORITHMS.get(oid, oid)
    bits = info["public_key"].contents[1:]  # BIT STRING: skip the unused-bits byte
    if oid in ("1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10"):
        modulus = keys.RSAPublicKey.load(bits)["modulus"].contents.lstrip(b"\x00")
        facts["key_size"] = int.from_bytes(modulus, "big").bit_length()  # unsigned, as apksig fixes it
    elif oid == "1.2.840.10045.2.1":
        params = info["algorithm"]["parameters"]
        if isinstance(params.chosen, core.ObjectIdentifier):
            curve_oid = params.chosen.dotted
            name, size = EC_CURVES.get(curve_oid, (curve_oid, None))
            facts["ec_curve"], facts["key_size"] = name, size
        elif bits[:1] == b"\x04":  # explicit parameters: size from the uncompressed point
            facts["key_size"] = (len(bits) - 1) // 2 * 8
    elif oid == "1.2.840.10040.4.1":
        params = info["algorithm"]["parameters"]
        try:
            facts["key_size"] = int(params["p"].native).bit_length()
        except Exception:  # noqa: BLE001 - DSA key without inline parameters
            pass
    elif oid in ("1.3.101.112", "1.3.101.110"):
        facts["key_size"] = 256
    elif oid == "1.3.101.113":
        facts["key_size"] = 456
    elif oid == "1.3.101.111":
        facts["key_size"] = 448
    return facts


# --- assembly ----------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _serial_hex(value: Any) -> str:
    if not isinstance(value, int):
        return ""
    return ("-" if value < 0 else "") + format(abs(value), "x")


def _weaknesses(cert: Certificate) -> list[str]:
    out = []
    algo, size = cert.key_algorithm, cert.key_size
    if algo in ("RSA", "RSASSA-PSS") and size is not None and size < 2048:
        out.append(f"rsa-{size}")
    if algo == "DSA":
        out.append("dsa")
    if algo == "EC" and size is not None and size < 160:
        out.append(f"ec-{size}")
    sig = (cert.signature_algorithm or "").lower()
    if sig.startswith(("md5", "md2")):
        out.append(sig[:3] + "-signature")
    elif "sha1" in sig:
        out.append("sha1-signature")
    return out


def _is_android_debug(attrs: dict[str, list[str]]) -> bool:
    """Exactly CN=Android Debug, O=Android, C=US, each once, in any order."""
    return attrs == {"CN": ["Android Debug"], "O": ["Android"], "C": ["US"]}


def _fast_or(fast, slow, data: bytes):
    """``fast(data)`` unless it declines (None) or fails; then the full parser, as before."""
    try:
        result = fast(data)
    except Exception:  # noqa: BLE001 - the fast path never raises; if it did, the old path decides
        result = None
    return result if result is not None else slow(data)


def _fields(der: bytes, errors: list[str]) -> dict[str, Any] | None:
    """The strict fast reader, else ``cryptography``, else ``asn1crypto`` (reasons in ``errors``)."""
    try:
        return _fast_or(x509_fast.certificate_fields, _fields_cryptography, der)
    except Exception as exc:  # noqa: BLE001 - strict parser refused: try the lenient one
        errors.append(f"not strict DER, read leniently ({type(exc).__name__}: {exc})")
    try:
        return _fields_asn1crypto(der)
    except Exception as exc2:  # noqa: BLE001
        errors.append(f"unparseable certificate ({type(exc2).__name__}: {exc2})")
    return _fields_jdk(der)


def _fields_jdk(der: bytes) -> dict[str, Any] | None:
    """What OpenJDK accepts and both libraries refuse (a name value that is no DirectoryString:
    an INTEGER CN, a nested SEQUENCE): the names with such values as ``#hex``, no dates."""
    try:
        cert = jdk_cert.parse(der)
    except (Asn1Error, ValueError):
        return None
    subject, issuer = x500.display_rdns(cert.subject), x500.display_rdns(cert.issuer)
    if subject is None or issuer is None:
        return None
    return {"subject": subject, "issuer": issuer, "serial": cert.serial, "not_before": None,
            "not_after": None, "sig_oid": cert.signature_oid}


MEMO_SIZE = 256  # certificates described, by their DER bytes: an APK names its signer's ~3 times
MEMO_MAX_DER = 64 << 10  # (v1, v2, v3, lineage) and a batch meets the same publishers again
_MEMO: OrderedDict[bytes, Certificate] = OrderedDict()
_MEMO_LOCK = threading.Lock()


def certificate_from_der(der: bytes) -> Certificate:
    """Describe one certificate; never raises, whatever the bytes.

    The description is a pure function of the bytes, so it is remembered for the last
    MEMO_SIZE certificates; every caller gets its own copy (callers may change theirs)."""
    der = bytes(der) if not isinstance(der, bytes) else der
    if len(der) > MEMO_MAX_DER:
        return _describe(der)
    with _MEMO_LOCK:  # Dask workers run tasks on threads
        cert = _MEMO.get(der)
        if cert is not None:
            _MEMO.move_to_end(der)
    if cert is None:
        cert = _describe(der)
        with _MEMO_LOCK:
            _MEMO[der] = cert
            if len(_MEMO) > MEMO_SIZE:
                _MEMO.popitem(last=False)
    return _copy(cert)


def _copy(cert: Certificate) -> Certificate:
    return dataclasses.replace(
        cert, subject_attrs={k: list(v) for k, v in cert.subject_attrs.items()},
        issuer_attrs={k: list(v) for k, v in cert.issuer_attrs.items()},
        weaknesses=list(cert.weaknesses), parse_errors=list(cert.parse_errors))


def _describe(der: bytes) -> Certificate:
    cert = Certificate(
        sha256=hashlib.sha256(der).hexdigest(),
        sha1=hashlib.sha1(der).hexdigest(),
        md5=hashlib.md5(der).hexdigest(),
        subject="",
        issuer="",
        der=der,
    )
    if len(der) > MAX_PARSE_SIZE:
        cert.parse_errors.append(f"certificate of {len(der)} bytes not parsed (limit {MAX_PARSE_SIZE})")
        return cert
    fields = _fields(der, cert.parse_errors)
    if fields is not None:
        cert.subject, cert.issuer = format_name(fields["subject"]), format_name(fields["issuer"])
        cert.subject_attrs, cert.issuer_attrs = name_attrs(fields["subject"]), name_attrs(fields["issuer"])
        cert.serial = _serial_hex(fields["serial"])
        cert.serial_decimal = serial_decimal(cert.serial)
        cert.subject_androidqf = androidqf_name(cert.subject_attrs)
        cert.issuer_androidqf = androidqf_name(cert.issuer_attrs)
        cert.not_before, cert.not_after = _iso(fields["not_before"]), _iso(fields["not_after"])
        sig_oid = fields["sig_oid"]
        cert.signature_algorithm = SIGNATURE_ALGORITHMS.get(sig_oid, sig_oid)
        cert.self_signed = fields["subject"] == fields["issuer"]  # by name; signature not checked
        cert.is_android_debug = _is_android_debug(cert.subject_attrs)
    spki = spki_der(der)
    if spki is not None:
        java = jdk_key.java_key(spki, in_certificate=True)  # apksigner hashes getEncoded(): e.g. RSA with NULL
        encoded = java.encoded if java is not None else spki
        cert.public_key_sha256 = hashlib.sha256(encoded).hexdigest()
        cert.public_key_sha1 = hashlib.sha1(encoded).hexdigest()
        cert.public_key_md5 = hashlib.md5(encoded).hexdigest()
        try:
            facts = _fast_or(x509_fast.key_facts, _key_facts, spki)
            cert.key_algorithm, cert.key_size, cert.ec_curve = (
                facts["key_algorithm"], facts["key_size"], facts["ec_curve"])
        except Exception as exc:  # noqa: BLE001
            cert.parse_errors.append(f"unreadable public key ({type(exc).__name__}: {exc})")
    elif fields is not None:
        cert.parse_errors.append("no SubjectPublicKeyInfo found")
    cert.weaknesses = _weaknesses(cert)
    return cert
