"""APK Signature Scheme v4: the detached ``.idsig`` file used for incremental installs.

Mirrors apksig's ``V4Signature`` (file format), ``V4SchemeVerifier`` (signatures, root
hash, tree) and the v4 part of ``ApkVerifier.verify`` (the v4 signers must be the v2/v3
signers and sign the same content digest; with v3.1 there are two v4 signers).

The file is ``int32 version (2) | bytes hashingInfo | bytes signingInfos | bytes tree``,
each ``bytes`` an int32 length plus data, little-endian. The signature covers the APK's
size and the fs-verity root of the *whole* APK file (SHA-256, 4 KiB pages, no salt), so
verifying needs the root from the single file pass (``digests.compute_digests``).

apksig compares the stored Merkle tree byte for byte with the recomputed one. We do not
keep the whole tree: :func:`parse_idsig` streams it once and checks that every page
hashes to its entry in the level above; with the top page hashing to the real root
(checked in :func:`verify_v4`) and the right length for the APK size, that pins every
byte of the tree to the real one (SHA-256 collision resistance), in bounded memory.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from apkscan.apk import algorithms, crypto
from apkscan.apk.algorithms import ContentDigest
from apkscan.apk.certificates import apksig_public_key_der, certificate_from_der, spki_der
from apkscan.apk.model import SchemeResult, SignerResult
from apkscan.issues import ApkScanError, Issue, LimitExceeded, error, tamper

CURRENT_VERSION = 2
PAGE = 4096
MAX_INFO_SIZE = 1 << 20  # hashingInfo / signingInfos; apksig's signer caps signingInfos at 7 KiB
MAX_SIGNING_INFOS = 16  # real files have one (v2/v3) or two (v3.1)
MAX_TREE_SIZE = 1 << 31  # apksig: "We don't support verity tree if it is larger than Integer.MAX_VALUE"
READ_CHUNK = 1 << 20
V4_DIGEST_PREFERENCE = (ContentDigest.CHUNKED_SHA512, ContentDigest.VERITY_CHUNKED_SHA256, ContentDigest.CHUNKED_SHA256)


@dataclass(slots=True)
class HashingInfo:
    hash_algorithm: int  # 1 = SHA-256, the only one defined; apksig never checks it
    log2_block_size: int  # 12 = 4 KiB
    salt: bytes  # apksig recomputes the root without salt whatever this says
    raw_root_hash: bytes  # fs-verity root of the whole APK


@dataclass(slots=True)
class SigningInfo:
    apk_digest: bytes  # the v2/v3 content digest this signature is bound to
    certificate: bytes
    additional_data: bytes
    public_key: bytes  # SubjectPublicKeyInfo DER
    signature_algorithm_id: int
    signature: bytes
    block_id: int | None = None  # None for the primary signing info


@dataclass(slots=True)
class V4File:
    """A parsed ``.idsig`` file; the tree itself is summarised, not kept."""

    path: str
    version: int
    hashing: HashingInfo
    signing_infos: list[SigningInfo]
    tree_size: int | None = None  # None: no tree stored (apksig then skips the tree check)
    tree_top_hash: bytes | None = None  # SHA-256 of the tree's first page
    tree_consistent: bool = False  # every page hashes to its parent entry, padding included
    warnings: list[Issue] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class V2V3Signer:
    """What the v4 cross-check needs of one signer of a verified v2 / v3 / v3.1 scheme."""

    certificate_der: bytes
    digests: Mapping[ContentDigest, bytes]


# ------------------------------------------------------------------------ parsing
class _Malformed(Exception):
    pass


def _take(data: bytes, pos: int) -> tuple[bytes, int]:
    """apksig ``readBytes(ByteBuffer)``: int32 length + bytes, EOF when either is short."""
    if len(data) - pos < 4:
        raise _Malformed("truncated length")
    (n,) = struct.unpack_from("<i", data, pos)
    pos += 4
    if n < 0 or n > len(data) - pos:
        raise _Malformed(f"length {n} exceeds the {len(data) - pos} bytes left")
    return data[pos : pos + n], pos + n


def _int(data: bytes, pos: int) -> tuple[int, int]:
    if len(data) - pos < 4:
        raise _Malformed("truncated int")
    return struct.unpack_from("<i", data, pos)[0], pos + 4


def _parse_hashing_info(data: bytes) -> HashingInfo:
    try:
        alg, pos = _int(data, 0)
        if pos >= len(data):
            raise _Malformed("truncated log2 block size")
        log2, pos = data[pos], pos + 1
        salt, pos = _take(data, pos)
        root, pos = _take(data, pos)
    except _Malformed as exc:
        raise ApkScanError("V4_SIG_MALFORMED_HASHING_INFO", f"malformed v4 hashing info: {exc}") from None
    return HashingInfo(alg, log2, salt, root)


def _parse_signing_info(data: bytes, pos: int, block_id: int | None) -> tuple[SigningInfo, int]:
    apk_digest, pos = _take(data, pos)
    cert, pos = _take(data, pos)
    additional, pos = _take(data, pos)
    key, pos = _take(data, pos)
    alg, pos = _int(data, pos)
    sig, pos = _take(data, pos)
    return SigningInfo(apk_digest, cert, additional, key, alg & 0xFFFFFFFF, sig, block_id), pos


def _parse_signing_infos(data: bytes) -> list[SigningInfo]:
    """Primary SigningInfo, then (int32 block id, bytes SigningInfo) blocks (v3.1)."""
    try:
        first, pos = _parse_signing_info(data, 0, None)
        out = [first]
        while pos < len(data):
            if len(out) >= MAX_SIGNING_INFOS:
                raise _Malformed(f"more than {MAX_SIGNING_INFOS} signing infos")
            block_id, pos = _int(data, pos)
            blob, pos = _take(data, pos)
            info, used = _parse_signing_info(blob, 0, block_id & 0xFFFFFFFF)
            out.append(info)  # apksig ignores bytes after a block's SigningInfo
    except _Malformed as exc:
        raise ApkScanError("V4_SIG_MALFORMED_SIGNERS", f"V4 signature has malformed signer block: {exc}") from None
    return out


def parse_idsig(path: str) -> V4File:
    """Read and structurally check an ``.idsig`` file with bounded reads.

    Raises ``ApkScanError``: ``INPUT_V4_FILE_UNREADABLE`` (I/O), ``V4_SIG_NO_SIGNATURES``
    (empty), ``V4_SIG_VERSION_NOT_CURRENT``, ``V4_SIG_MALFORMED_HASHING_INFO``,
    ``V4_SIG_MALFORMED_SIGNERS``; ``LimitExceeded`` for oversized fields. apksig itself
    throws (apksigner aborts) in each of these cases.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(4)
            if len(head) < 4:
                raise ApkScanError("V4_SIG_NO_SIGNATURES", "Signature file does not contain a v4 signature.")
            (version,) = struct.unpack("<i", head)
            if version != CURRENT_VERSION:
                raise ApkScanError("V4_SIG_VERSION_NOT_CURRENT", f"V4 signature format version {version} is different from the tool's current version {CURRENT_VERSION}")
            hashing_raw = _read_field(f, "hashing info")
            signing_raw = _read_field(f, "signing infos")
            if hashing_raw is None or signing_raw is None:
                raise ApkScanError("V4_SIG_NO_SIGNATURES", "Signature file does not contain a v4 signature.")
            v4 = V4File(path, version, _parse_hashing_info(hashing_raw), _parse_signing_infos(signing_raw))
            _scan_tree(f, size, v4)
    except OSError as exc:
        raise ApkScanError("INPUT_V4_FILE_UNREADABLE", f"cannot read v4 signature file: {exc}") from None
    return v4


def _read_field(f, what: str) -> bytes | None:
    """apksig ``readBytes(InputStream)``: None at end of file, a bounded read otherwise."""
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<i", head)
    if n < 0:
        raise ApkScanError("V4_SIG_MALFORMED_SIGNERS", f"negative length {n} of the v4 {what}")
    if n > MAX_INFO_SIZE:
        raise LimitExceeded("INPUT_V4_FIELD_TOO_LARGE", f"v4 {what} of {n} bytes exceeds the {MAX_INFO_SIZE}-byte limit")
    data = f.read(n)
    return data if len(data) == n else None


def _level_pages(tree_pages: int) -> list[int] | None:
    """Pages per level, top first, for a tree of ``tree_pages`` pages; None if no tree has that size.

    A bottom level of b pages has parents of ceil(b/128), ceil(ceil(b/128)/128), ... pages,
    up to one page; the total grows strictly with b, so b is unique.
    """
    lo, hi = 1, tree_pages
    while lo <= hi:
        b = (lo + hi) // 2
        levels = [b]
        while levels[-1] > 1:
            levels.append(-(-levels[-1] // 128))
        total = sum(levels)
        if total == tree_pages:
            return levels[::-1]
        if total < tree_pages:
            lo = b + 1
        else:
            hi = b - 1
    return None


def _scan_tree(f, file_size: int, v4: V4File) -> None:
    """Stream the stored tree once: record its size, top-page hash and internal consistency."""
    head = f.read(4)
    if len(head) < 4:
        return  # no tree: apksig skips the tree comparison
    (n,) = struct.unpack("<i", head)
    start = f.tell()
    if n < 0 or n > file_size - start:
        # apksig's readBytes hits EOF and returns null: the tree is silently ignored
        v4.warnings.append(tamper("TAMPER_V4_TREE_TRUNCATED", f"v4 file declares a {n}-byte Merkle tree but only {file_size - start} bytes follow; the tree is ignored, as apksig does"))
        return
    v4.tree_size = n
    if n == 0 or n % PAGE or n > MAX_TREE_SIZE:
        return  # cannot equal any real tree; verify_v4 reports the mismatch
    levels = _level_pages(n // PAGE)
    if levels is None:
        return
    parent = b""
    ok = True
    for index, pages in enumerate(levels):
        expected = parent  # this level's page hashes, as the level above records them
        keep = index + 1 < len(levels)  # the bottom level's entries have no child level here
        current = bytearray()
        done = 0
        while done < pages:
            want = min(pages - done, READ_CHUNK // PAGE) * PAGE
            chunk = f.read(want)
            if len(chunk) != want:
                return
            for off in range(0, want, PAGE):
                page = chunk[off : off + PAGE]
                if index == 0:
                    v4.tree_top_hash = hashlib.sha256(page).digest()
                else:
                    j = done + off // PAGE
                    if hashlib.sha256(page).digest() != expected[j * 32 : (j + 1) * 32]:
                        ok = False
            if keep:
                current += chunk
            done += want // PAGE
        if index > 0 and any(expected[pages * 32 :]):
            ok = False  # a parent's padding after the last entry must be zero
        parent = bytes(current)
    v4.tree_consistent = ok


def expected_tree_size(apk_size: int) -> int:
    """apksig ``VerityTreeBuilder.calculateLevelOffset``: total tree bytes for ``apk_size``."""
    total, size = 0, apk_size
    while True:
        chunks = -(-size // PAGE)
        total += PAGE * -(-(chunks * 32) // PAGE)
        if chunks * 32 <= PAGE:
            return total
        size = chunks * 32


# ------------------------------------------------------------------------ verification
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
    if key is None or _key_type(key) != alg.key_type:
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
    if spki_der(info.certificate) is None:
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


def _key_type(key) -> str:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    kinds = ((rsa.RSAPublicKey, "RSA"), (ec.EllipticCurvePublicKey, "EC"), (dsa.DSAPublicKey, "DSA"))
    return next((name for cls, name in kinds if isinstance(key, cls)), type(key).__name__)


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
