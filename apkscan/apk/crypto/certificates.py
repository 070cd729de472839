"""X.509 certificates as identities: digests of the exact bytes, plus readable names.

An APK's signer is identified by the SHA-256 of the certificate's DER bytes exactly as
stored in the signature block, so digests are always computed over the given bytes,
whatever they contain. Android (and apksig) accept certificates that strict parsers
refuse (BER instead of DER, a negative RSA modulus, odd string types), so parsing uses
``cryptography`` first and falls back to the lenient ``asn1crypto``; the reason for the
fallback goes into ``Certificate.parse_errors``. :func:`certificate_from_der` never raises.
"""

from __future__ import annotations

import hashlib
import warnings
from datetime import datetime, timezone
from typing import Any

from apkscan.apk.crypto.interop import androidqf_name, serial_decimal
from apkscan.apk.model import Certificate
from apkscan.apk.crypto.asn1 import Asn1Error, read_tlv

MAX_PARSE_SIZE = 1 << 20  # hash any size, but parse names only of certificates up to 1 MiB

# Short names for DN attributes (RFC 4514's set plus E for emailAddress); others stay dotted.
ATTR_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "E",
}

KEY_ALGORITHMS = {
    "1.2.840.113549.1.1.1": "RSA",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.10045.2.1": "EC",
    "1.2.840.10040.4.1": "DSA",
    "1.3.101.110": "X25519",
    "1.3.101.111": "X448",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}

# OpenSSL-style names of certificate signature algorithms.
SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
    "1.2.840.10040.4.3": "dsa_with_SHA1",
    "2.16.840.1.101.3.4.3.1": "dsa_with_SHA224",
    "2.16.840.1.101.3.4.3.2": "dsa_with_SHA256",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}

# Named curves by OID -> (name, field size in bits).
EC_CURVES = {
    "1.2.840.10045.3.1.7": ("secp256r1", 256),
    "1.3.132.0.34": ("secp384r1", 384),
    "1.3.132.0.35": ("secp521r1", 521),
    "1.3.132.0.33": ("secp224r1", 224),
    "1.2.840.10045.3.1.1": ("secp192r1", 192),
    "1.3.132.0.10": ("secp256k1", 256),
    "1.3.132.0.8": ("secp160r1", 160),
    "1.3.132.0.9": ("secp160k1", 160),
    "1.3.132.0.30": ("secp160r2", 160),
    "1.3.132.0.6": ("secp112r1", 112),
    "1.3.132.0.7": ("secp112r2", 112),
    "1.3.132.0.28": ("secp128r1", 128),
    "1.3.36.3.3.2.8.1.1.7": ("brainpoolP256r1", 256),
    "1.3.36.3.3.2.8.1.1.11": ("brainpoolP384r1", 384),
    "1.3.36.3.3.2.8.1.1.13": ("brainpoolP512r1", 512),
}

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

    apksig uses ``X509Certificate.getPublicKey().getEncoded()``, i.e. the key re-encoded
    in DER, and for RSA it re-encodes a negative modulus with a leading zero byte
    (``ApkSigningBlockUtils.encodePublicKey``). This mirrors both; None if unreadable.
    """
    raw = spki_der(der)
    if raw is None:
        return None
    try:
        from asn1crypto import core, keys

        info = keys.PublicKeyInfo.load(raw)
        algo = info["algorithm"]["algorithm"].dotted
        if algo == "1.2.840.113549.1.1.1":
            rsa = keys.RSAPublicKey.load(info["public_key"].contents[1:])
            n, e = rsa["modulus"].native, rsa["public_exponent"].native
            if n < 0:
                n += 1 << (8 * len(rsa["modulus"].contents))
            fixed = keys.RSAPublicKey({"modulus": n, "public_exponent": e})
            return keys.PublicKeyInfo({
                "algorithm": {"algorithm": "rsa", "parameters": core.Null()},
                "public_key": fixed,
            }).dump()
        return raw  # Java re-encodes these too, but in the same DER the signers wrote
    except Exception:  # noqa: BLE001 - fall back to the bytes as stored
        return raw


# --- names -----------------------------------------------------------------------------------


def _escape(value: str) -> str:
    """RFC 4514 section 2.4 escaping of one attribute value."""
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
        return "#" + value.hex()
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


def certificate_from_der(der: bytes) -> Certificate:
    """Describe one certificate; never raises, whatever the bytes."""
    der = bytes(der) if not isinstance(der, bytes) else der
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
    fields: dict[str, Any] | None = None
    try:
        fields = _fields_cryptography(der)
    except Exception as exc:  # noqa: BLE001 - strict parser refused: try the lenient one
        cert.parse_errors.append(f"not strict DER, read leniently ({type(exc).__name__}: {exc})")
        try:
            fields = _fields_asn1crypto(der)
        except Exception as exc2:  # noqa: BLE001
            cert.parse_errors.append(f"unparseable certificate ({type(exc2).__name__}: {exc2})")
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
        cert.public_key_sha256 = hashlib.sha256(spki).hexdigest()
        cert.public_key_sha1 = hashlib.sha1(spki).hexdigest()
        cert.public_key_md5 = hashlib.md5(spki).hexdigest()
        try:
            facts = _key_facts(spki)
            cert.key_algorithm, cert.key_size, cert.ec_curve = (
                facts["key_algorithm"], facts["key_size"], facts["ec_curve"])
        except Exception as exc:  # noqa: BLE001
            cert.parse_errors.append(f"unreadable public key ({type(exc).__name__}: {exc})")
    elif fields is not None:
        cert.parse_errors.append("no SubjectPublicKeyInfo found")
    cert.weaknesses = _weaknesses(cert)
    return cert
