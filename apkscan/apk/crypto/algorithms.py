"""Signature and content-digest algorithm tables of the APK Signing Block schemes.

Shared by the v2/v3/v3.1 verifiers, v4 and the source stamp. Values mirror apksig's
``SignatureAlgorithm`` / ``ContentDigestAlgorithm``: the numeric ids are part of the
on-disk format, the SDK levels say from which Android release a platform verifier
understands the algorithm (JCA name) and its key type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ContentDigest(IntEnum):
    CHUNKED_SHA256 = 1
    CHUNKED_SHA512 = 2
    VERITY_CHUNKED_SHA256 = 3
    SHA256 = 4  # whole-content SHA-256, used by v4 and source stamp v1 digests

    @property
    def hash_name(self) -> str:
        return "sha512" if self is ContentDigest.CHUNKED_SHA512 else "sha256"

    @property
    def output_size(self) -> int:
        return 64 if self is ContentDigest.CHUNKED_SHA512 else 32


@dataclass(frozen=True, slots=True)
class SignatureAlgorithm:
    """A v2+ signature algorithm ID as apksig knows it: key type, digest, first SDK levels."""

    id: int
    name: str
    key_type: str  # "RSA", "EC", "DSA"
    jca: str  # the name crypto.verify_signature takes
    digest: ContentDigest
    min_sdk: int  # platform release that verifies this algorithm in v2+
    jca_min_sdk: int  # release whose JCA provides jca for key_type


_ALGORITHMS = [
    SignatureAlgorithm(0x0101, "RSA_PSS_WITH_SHA256", "RSA", "SHA256withRSA/PSS", ContentDigest.CHUNKED_SHA256, 24, 23),
    SignatureAlgorithm(0x0102, "RSA_PSS_WITH_SHA512", "RSA", "SHA512withRSA/PSS", ContentDigest.CHUNKED_SHA512, 24, 23),
    SignatureAlgorithm(0x0103, "RSA_PKCS1_V1_5_WITH_SHA256", "RSA", "SHA256withRSA", ContentDigest.CHUNKED_SHA256, 24, 1),
    SignatureAlgorithm(0x0104, "RSA_PKCS1_V1_5_WITH_SHA512", "RSA", "SHA512withRSA", ContentDigest.CHUNKED_SHA512, 24, 1),
    SignatureAlgorithm(0x0201, "ECDSA_WITH_SHA256", "EC", "SHA256withECDSA", ContentDigest.CHUNKED_SHA256, 24, 11),
    SignatureAlgorithm(0x0202, "ECDSA_WITH_SHA512", "EC", "SHA512withECDSA", ContentDigest.CHUNKED_SHA512, 24, 11),
    SignatureAlgorithm(0x0301, "DSA_WITH_SHA256", "DSA", "SHA256withDSA", ContentDigest.CHUNKED_SHA256, 24, 1),
    SignatureAlgorithm(0x0421, "VERITY_RSA_PKCS1_V1_5_WITH_SHA256", "RSA", "SHA256withRSA", ContentDigest.VERITY_CHUNKED_SHA256, 28, 1),
    SignatureAlgorithm(0x0423, "VERITY_ECDSA_WITH_SHA256", "EC", "SHA256withECDSA", ContentDigest.VERITY_CHUNKED_SHA256, 28, 11),
    SignatureAlgorithm(0x0425, "VERITY_DSA_WITH_SHA256", "DSA", "SHA256withDSA", ContentDigest.VERITY_CHUNKED_SHA256, 28, 1),
]

BY_ID: dict[int, SignatureAlgorithm] = {a.id: a for a in _ALGORITHMS}


def by_id(algorithm_id: int) -> SignatureAlgorithm | None:
    """The algorithm for an on-disk id, or None for ids this version does not know."""
    return BY_ID.get(algorithm_id)


def compare_strength(a: SignatureAlgorithm, b: SignatureAlgorithm) -> int:
    """apksig's preference between two algorithms of one signer (>0: ``a`` is stronger).

    Chunked SHA-512 beats verity SHA-256 beats chunked SHA-256, as in apksig's
    ``ApkSigningBlockUtilsLite.compareContentDigestAlgorithm``.
    """
    rank = {
        ContentDigest.CHUNKED_SHA512: 3,
        ContentDigest.VERITY_CHUNKED_SHA256: 2,
        ContentDigest.CHUNKED_SHA256: 1,
    }
    return rank.get(a.digest, 0) - rank.get(b.digest, 0)


def signatures_to_verify(
    signatures: list[tuple[SignatureAlgorithm, bytes]], min_sdk: int, max_sdk: int, *, jca_only: bool = False,
) -> list[tuple[SignatureAlgorithm, bytes]]:
    """apksig's ``getSignaturesToVerify``: the strongest signature per platform level, sorted
    by algorithm id; [] when the lowest level is above ``min_sdk`` (or nothing applies).

    ``jca_only``: levels from the JCA name alone (``onlyRequireJcaSupport``, the source stamp).
    """
    best: dict[int, tuple[SignatureAlgorithm, bytes]] = {}
    for alg, sig in signatures:
        level = alg.jca_min_sdk if jca_only else alg.min_sdk
        if level > max_sdk:
            continue
        current = best.get(level)
        if current is None or compare_strength(alg, current[0]) > 0:
            best[level] = (alg, sig)
    if not best or min_sdk < min(best):
        return []
    return sorted(best.values(), key=lambda item: item[0].id)
