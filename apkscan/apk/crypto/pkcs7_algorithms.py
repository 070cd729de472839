"""Which (digest, signature) algorithm OIDs a JAR signature's SignerInfo may use on each
Android SDK level, as apksig's ``OidConstants`` and ``getJcaSignatureAlgorithm`` say."""

from __future__ import annotations

ANY = 0x7FFFFFFF  # no upper SDK bound
DIGEST_OIDS = {  # OID -> (JCA digest name, hashlib name)
    "1.2.840.113549.2.5": ("MD5", "md5"), "1.3.14.3.2.26": ("SHA1", "sha1"),
    "2.16.840.1.101.3.4.2.4": ("SHA224", "sha224"), "2.16.840.1.101.3.4.2.1": ("SHA256", "sha256"),
    "2.16.840.1.101.3.4.2.2": ("SHA384", "sha384"), "2.16.840.1.101.3.4.2.3": ("SHA512", "sha512"),
}
_SIG_OIDS = {  # OID -> (key kind, digest it implies or None for a bare key-algorithm OID)
    "1.2.840.113549.1.1.1": ("RSA", None), "1.2.840.10040.4.1": ("DSA", None), "1.2.840.10045.2.1": ("ECDSA", None),
    "1.2.840.10040.4.3": ("DSA", "SHA1"), "1.2.840.10045.4.1": ("ECDSA", "SHA1"),
}
_SHA2 = ((1, "SHA224"), (2, "SHA256"), (3, "SHA384"), (4, "SHA512"))
_SIG_OIDS.update({f"1.2.840.113549.1.1.{n}": ("RSA", h) for n, h in ((4, "MD5"), (5, "SHA1"), (14, "SHA224"), (11, "SHA256"), (12, "SHA384"), (13, "SHA512"))})
_SIG_OIDS.update({f"2.16.840.1.101.3.4.3.{n}": ("DSA", h) for n, h in _SHA2})
_SIG_OIDS.update({f"1.2.840.10045.4.3.{n}": ("ECDSA", h) for n, h in _SHA2})
# Key algorithm OID -> the signatures it verifies (an RSASSA-PSS key verifies SHA256withRSA in OpenJDK).
KEY_OIDS = {"1.2.840.113549.1.1.1": "RSA", "1.2.840.113549.1.1.10": "RSA", "1.2.840.10040.4.1": "DSA",
            "1.2.840.10045.2.1": "ECDSA"}
_FROM = lambda lo: [(lo, ANY)]
_OLD_AND = lambda lo: [(0, 8), (lo, ANY)]
# (digest, key kind, signature's own digest) -> SDK ranges where Android accepts the pair.
# Pairs not listed: 21-23 for "<hash>with<key>" OIDs, nothing for bare key OIDs and
# for SHA384/512withDSA. Source: apksig OidConstants.SUPPORTED_SIG_ALG_OIDS.
_SPECIAL = {
    ("MD5", "RSA", None): _FROM(0), ("SHA1", "RSA", None): _FROM(0),
    ("SHA224", "RSA", None): _OLD_AND(21), ("SHA256", "RSA", None): _OLD_AND(18),
    ("SHA384", "RSA", None): _FROM(18), ("SHA512", "RSA", None): _FROM(18),
    ("MD5", "RSA", "MD5"): _OLD_AND(21), ("SHA1", "RSA", "SHA1"): _FROM(0),
    ("SHA224", "RSA", "SHA224"): _OLD_AND(21), ("SHA224", "RSA", "SHA256"): [(21, 21)],
    ("SHA256", "RSA", "SHA1"): [(21, 21)], ("SHA256", "RSA", "SHA256"): _OLD_AND(18),
    ("SHA384", "RSA", "SHA384"): _FROM(21), ("SHA512", "RSA", "SHA384"): [(21, 21)],
    ("SHA512", "RSA", "SHA512"): _FROM(21),
    ("SHA1", "DSA", None): _FROM(0), ("SHA224", "DSA", None): _FROM(22), ("SHA256", "DSA", None): _FROM(22),
    ("SHA1", "DSA", "SHA1"): _FROM(9), ("SHA224", "DSA", "SHA224"): _FROM(21),
    ("SHA256", "DSA", "SHA256"): _FROM(21),
    ("SHA1", "ECDSA", None): _FROM(18), ("SHA224", "ECDSA", None): _FROM(21),
    ("SHA256", "ECDSA", None): _FROM(18), ("SHA384", "ECDSA", None): _FROM(18),
    ("SHA512", "ECDSA", None): _FROM(18),
    ("SHA1", "ECDSA", "SHA1"): _FROM(18), ("SHA224", "ECDSA", "SHA224"): _FROM(21),
    ("SHA256", "ECDSA", "SHA256"): _FROM(21), ("SHA384", "ECDSA", "SHA384"): _FROM(21),
    ("SHA512", "ECDSA", "SHA512"): _FROM(21),
}


def supported_ranges(digest_oid: str, signature_oid: str) -> list[tuple[int, int]]:
    """SDK ranges on which Android accepts this SignerInfo digest/signature OID pair."""
    digest, sig = DIGEST_OIDS.get(digest_oid), _SIG_OIDS.get(signature_oid)
    if digest is None or sig is None:
        return []
    kind, implied = sig
    key = (digest[0], kind, implied)
    if key in _SPECIAL:
        return _SPECIAL[key]
    if implied is None or (kind == "DSA" and implied in ("SHA384", "SHA512")):
        return []
    return [(21, 23)]


def unsupported_levels(min_sdk: int, max_sdk: int, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [min_sdk, max_sdk] not covered by ``ranges``."""
    out, lo = [], min_sdk
    for r_lo, r_hi in sorted(ranges):
        if r_hi < lo:
            continue
        if r_lo > max_sdk:
            break
        if r_lo > lo:
            out.append((lo, r_lo - 1))
        lo = max(lo, r_hi + 1) if r_hi < ANY else max_sdk + 1
        if lo > max_sdk:
            break
    if lo <= max_sdk:
        out.append((lo, max_sdk))
    return out


def levels_text(levels: list[tuple[int, int]]) -> str:
    return ", ".join(str(a) if a == b else f"{a}+" if b >= ANY else f"{a}-{b}" for a, b in levels)


def jca_signature_algorithm(digest_oid: str, signature_oid: str) -> str | None:
    kind, implied = _SIG_OIDS.get(signature_oid, (None, None))
    digest = implied or DIGEST_OIDS.get(digest_oid, (None,))[0]
    return f"{digest}with{kind}" if kind and digest else None
