"""APK Signature Scheme v4: the detached ``.idsig`` file used for incremental installs.

Mirrors apksig's ``V4Signature`` (file format), ``V4SchemeVerifier`` (signatures, root
hash, tree) and the v4 part of ``ApkVerifier.verify`` (the v4 signers must be the v2/v3
signers and sign the same content digest; with v3.1 there are two v4 signers).

The signature covers the APK's size and the fs-verity root of the *whole* APK file
(SHA-256, 4 KiB pages, no salt), so verifying needs the root from the single file pass
(``digests.compute_digests``). Reading the ``.idsig`` file itself is ``v4.idsig``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from apkscan.apk.crypto import algorithms, jdk_cert
from apkscan.apk.crypto import signatures as crypto
from apkscan.apk.crypto.algorithms import ContentDigest
from apkscan.apk.crypto.certificates import apksig_public_key_der, certificate_from_der
from apkscan.apk.model import SchemeResult, SignerResult
from apkscan.apk.signing.v4.idsig import (  # noqa: F401 - parse_idsig/V4File are part of this module's API
    HashingInfo,
    SigningInfo,
    V4File,
    expected_tree_size,
    parse_idsig,
)
from apkscan.issues import ApkScanError, Issue, error

V4_DIGEST_PREFERENCE = (ContentDigest.CHUNKED_SHA512, ContentDigest.VERITY_CHUNKED_SHA256, ContentDigest.CHUNKED_SHA256)


@dataclass(frozen=True, slots=True)
class V2V3Signer:
    """What the v4 cross-check needs of one signer of a verified v2 / v3 / v3.1 scheme."""

    certificate_der: bytes
    digests: Mapping[ContentDigest, bytes]


# ------------------------------------------------------------------------ parsing
def signed_data(apk_size: int, h: HashingInfo, s: SigningInfo) -> bytes:
    """apksig ``V4Signature.getSignedData``: what each v4 signature covers."""
    def lp(b: bytes) -> bytes:
        return struct.pack("<I", len(b)) + b

    body = (
        struct.pack("<qiB", apk_size, h.hash_algorithm, h.log2_block_size & 0xFF)
        + lp(h.salt) + lp(h.raw_root_hash) + lp(s.apk_digest) + lp(s.certificate) + lp(s.additional_data)
    )
    return struct.pack("<I", 4 + len(body)) + body


def _verify_signer(index: int, info: SigningInfo, data: bytes) -> SignerResult:
    """apksig ``parseAndVerifySignatureBlock``; stops at the first problem."""
    out = SignerResult(name=f"signer #{index + 1}", certificate=None)
    alg = algorithms.by_id(info.signature_algorithm_id)
    if alg is None:
        out.errors.append(error("V4_SIG_UNKNOWN_SIG_ALGORITHM", f"V4 signature has unknown signing algorithm: {info.signature_algorithm_id:#x}"))
        return out
    out.signature_algorithms.append(alg.name)
    key = crypto.load_public_key(info.public_key)
    if key is None or crypto.key_type(key) != alg.key_type:
        out.errors.append(error("V4_SIG_MALFORMED_PUBLIC_KEY", f"Malformed public key: not a usable {alg.key_type} SubjectPublicKeyInfo"))
        return out
    try:
        ok = crypto.verify_signature(info.public_key, alg.jca, data, info.signature)
    except ApkScanError as exc:
        out.errors.append(error("V4_SIG_VERIFY_EXCEPTION", f"Failed to verify {alg.name} signature: {exc.message}"))
        return out
    if not ok:
        out.errors.append(error("V4_SIG_DID_NOT_VERIFY", f"{alg.name} signature over signed-data did not verify"))
        return out
    cert = certificate_from_der(info.certificate)
    if jdk_cert.refusal(info.certificate) is not None:  # apksig: generateCertificate (OpenJDK's rule)
        out.errors.append(error("V4_SIG_MALFORMED_CERTIFICATE", "V4 signature has malformed certificate"))
        return out
    out.certificate = cert
    out.chain = [cert]
    cert_key = apksig_public_key_der(info.certificate)
    if cert_key != info.public_key:
        out.errors.append(error(
            "V4_SIG_PUBLIC_KEY_MISMATCH_BETWEEN_CERTIFICATE_AND_SIGNATURES_RECORD",
            f"V4 signature has mismatched certificate and signature: <{(cert_key or b'').hex()}> vs <{info.public_key.hex()}>",
        ))
    return out


def pick_best_digest(digests: Mapping[ContentDigest, bytes]) -> bytes | None:
    """apksig ``pickBestDigestForV4``: SHA-512 chunked, then verity, then SHA-256 chunked."""
    for alg in V4_DIGEST_PREFERENCE:
        if alg in digests:
            return digests[alg]
    return None


def verify_v4(
    v4: V4File,
    verity_root: bytes | None,
    v2v3_digests: Mapping[ContentDigest, bytes],
    min_sdk: int,
    max_sdk: int,
    *,
    apk_size: int | None = None,
    signers: Mapping[str, Sequence[V2V3Signer]] | None = None,
) -> SchemeResult:
    """Verify a parsed v4 file against the APK; result name "v4".

    ``verity_root``: fs-verity root of the whole APK (``DigestPass.verity_root``).
    ``apk_size``: the APK's size in bytes, part of the signed data (required).
    ``signers``: the signers of the schemes apksig *verified*, keyed "v2" / "v3" / "v31"
    (see :func:`signers_from_parsed`); enables apksig's full cross-check (signer count,
    certificate, digest, v3.1's second v4 signer). Without it, a weaker check only: the
    best of ``v2v3_digests`` must equal some v4 signer's digest.
    ``min_sdk``/``max_sdk`` are accepted for symmetry; apksig's v4 rules do not depend on them.
    """
    result = SchemeResult("v4", present=True)
    result.warnings.extend(v4.warnings)
    if apk_size is None:
        result.errors.append(error("INPUT_V4_APK_SIZE_MISSING", "the APK size (part of the v4 signed data) was not supplied"))
        return result
    for i, info in enumerate(v4.signing_infos):
        signer = _verify_signer(i, info, signed_data(apk_size, v4.hashing, info))
        result.signers.append(signer)
        if signer.errors:
            return result  # apksig stops at the first signer with an error
    _check_root_and_tree(v4, verity_root, apk_size, result.signers[0])
    if not result.all_errors():
        _cross_check(v4, v2v3_digests, signers, result)
    ok = not result.all_errors()
    for s in result.signers:
        s.verified = ok
    result.verified = ok
    return result


def _check_root_and_tree(v4: V4File, verity_root: bytes | None, apk_size: int, signer: SignerResult) -> None:
    """apksig ``verifyRootHashAndTree``: errors go on the primary signer."""
    expected = v4.hashing.raw_root_hash
    if verity_root is None:
        signer.errors.append(error("INPUT_V4_ROOT_UNAVAILABLE", "the APK's fs-verity root hash was not computed"))
        return
    if expected != verity_root:
        signer.errors.append(error("V4_SIG_APK_ROOT_DID_NOT_VERIFY", f"V4 signature's hash tree root (content digest) did not verity: expected <{expected.hex()}>, actual <{verity_root.hex()}>"))
        return
    if v4.tree_size is None:
        return  # "Only check verity tree if it is not empty"
    same = (
        v4.tree_size == expected_tree_size(apk_size)
        and v4.tree_consistent
        and v4.tree_top_hash is not None
        and v4.tree_top_hash == verity_root
    )
    if not same:
        signer.errors.append(error("V4_SIG_APK_TREE_DID_NOT_VERIFY", f"V4 signature's hash tree did not verity (stored tree of {v4.tree_size} bytes, expected {expected_tree_size(apk_size)})"))


def _cross_check(
    v4: V4File,
    fallback: Mapping[ContentDigest, bytes],
    signers: Mapping[str, Sequence[V2V3Signer]] | None,
    result: SchemeResult,
) -> None:
    """The v4 block of ``ApkVerifier.verify``: v4 signers mirror the v3 (+v3.1) or v2 signer."""
    infos = v4.signing_infos
    errs = result.errors
    if signers is None:
        # Weaker than apksig (no certificate or signer-count check, and with v3.1 we cannot
        # tell which v4 signer the digests belong to): callers should pass ``signers``.
        best = pick_best_digest(fallback)
        if best is None:
            errs.append(error("V4_SIG_V2_V3_DIGESTS_MISMATCH", "no verified v2/v3 content digest to compare the v4 digest with"))
        elif all(best != info.apk_digest for info in infos):
            errs.append(_digest_mismatch("2/3", best, infos[0].apk_digest))
        return
    v3, v31, v2 = signers.get("v3"), signers.get("v31"), signers.get("v2")
    if v3:
        expected_count = 2 if v31 else 1
        if len(infos) != expected_count:
            code = "V41_SIG_NEEDS_TWO_SIGNERS" if v31 else "V4_SIG_MULTIPLE_SIGNERS"
            errs.append(error(code, "V4.1 signature requires two signers" if v31 else "V4 signature only supports one signer"))
            return
        _check_signer(v3, infos[0], 3, errs)
        if v31:
            _check_signer(v31, infos[1], 31, errs)
    elif v2:
        if len(infos) != 1:
            errs.append(error("V4_SIG_MULTIPLE_SIGNERS", "V4 signature only supports one signer"))
        _check_signer(v2, infos[0], 2, errs)
    else:
        errs.append(error("V4_SIG_V2_V3_DIGESTS_MISMATCH", "V4 signature must be also verified with V2/V3"))


def _check_signer(scheme_signers: Sequence[V2V3Signer], info: SigningInfo, version: int, errs: list[Issue]) -> None:
    """apksig ``checkV4Signer`` / ``checkV4Certificate``."""
    if len(scheme_signers) != 1:
        errs.append(error("V4_SIG_MULTIPLE_SIGNERS", "V4 signature only supports one signer"))
    first = scheme_signers[0]
    if first.certificate_der != info.certificate:
        errs.append(error("V4_SIG_V2_V3_SIGNERS_MISMATCH", "V4 signature and V2/V3 signature have mismatched certificates"))
    best = pick_best_digest(first.digests)
    if best != info.apk_digest:
        label = "3" if version == 31 else str(version)  # apksig reports v3.1 as "V3"
        errs.append(_digest_mismatch(label, best or b"", info.apk_digest))


def _digest_mismatch(label: str, scheme_digest: bytes, v4_digest: bytes) -> Issue:
    return error(
        "V4_SIG_V2_V3_DIGESTS_MISMATCH",
        f"V4 signature and V{label} signature have mismatched digests, V{label} digest: {scheme_digest.hex()}, V4 digest: {v4_digest.hex()}",
    )


def signers_from_parsed(parsed: Mapping[str, object], used: Sequence[str]) -> dict[str, list[V2V3Signer]]:
    """Build :func:`verify_v4`'s ``signers`` from ``v2v3.ParsedScheme`` objects of the schemes used."""
    out: dict[str, list[V2V3Signer]] = {}
    for name in ("v2", "v3", "v31"):
        p = parsed.get(name)
        if p is None or name not in used:
            continue
        out[name] = [
            V2V3Signer(s.certificates[0].der if s.certificates else b"", s.digests())
            for s in p.signers
        ]
    return out
