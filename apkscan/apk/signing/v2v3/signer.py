"""Parsing and signature checks of one v2 / v3 / v3.1 signer block (no file content needed).

Mirrors ``V2SchemeVerifier.parseSigner`` and ``V3SchemeVerifier.parseSigner`` step by
step, including *where* apksig stops: a malformed record ends the signer with one
issue, while a structural overrun outside those records (signed data, certificates)
makes the whole signer ``*_MALFORMED_SIGNER``. The order matters for security: the
signed data is only interpreted after a signature over it verified with the signer's
key, and that key must be the first certificate's key.

Issue codes are apksig's: ``V2_SIG_*`` for v2, ``V3_SIG_*`` / ``V3_*`` / ``V31_*``
for both v3 and v3.1 (apksig reuses the v3 names for v3.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apkscan.apk.crypto import algorithms, dss_der, jdk_cert
from apkscan.apk.crypto.dss_der import NOT_DER_MINIMAL
from apkscan.apk.crypto import signatures as crypto
from apkscan.apk.crypto.algorithms import ContentDigest, SignatureAlgorithm
from apkscan.apk.crypto.certificates import apksig_public_key_der, certificate_from_der
from apkscan.apk.signing.common import Buf, Malformed, Sdk
from apkscan.apk.signing.v2v3.lineage import Lineage, LineageError, parse_lineage, sub_lineage
from apkscan.apk.model import Certificate
from apkscan.issues import ApkScanError, Issue, error, warning

STRIPPING_PROTECTION_ATTR_ID = 0xBEEFF00D  # v2: "also signed with scheme N"
PROOF_OF_ROTATION_ATTR_ID = 0x3BA06F8C
ROTATION_MIN_SDK_VERSION_ATTR_ID = 0x559F8B02
ROTATION_ON_DEV_RELEASE_ATTR_ID = 0xC2A6B3BA

# apksig has none of these caps; they bound work like the PKCS #7 bag's 1,000 (the block itself is
# at most 64 MiB). Hitting one is an input-level limit (``INPUT_LIMIT_CODES``: listed as an input
# error, signatures not read), never a verdict: a vendor adding records apksig ignores (unknown
# signature algorithms or attributes, extra signers or lineage nodes) cannot make its key
# "not verified" here.
MAX_SIGNATURES_PER_SIGNER = 1000
MAX_CERTIFICATES_PER_SIGNER = 1000
MAX_ATTRIBUTES_PER_SIGNER = 1000
MAX_DIGESTS_PER_SIGNER = 1000
INPUT_LIMIT_CODES = frozenset({"INPUT_TOO_MANY_CERTIFICATES", "INPUT_TOO_MANY_SIGNATURES", "INPUT_TOO_MANY_DIGESTS",
                               "INPUT_TOO_MANY_ATTRIBUTES", "INPUT_TOO_MANY_SIGNERS", "INPUT_TOO_MANY_LINEAGE_NODES"})

LINEAGE_ISSUES = {
    "did_not_verify": ("V3_SIG_POR_DID_NOT_VERIFY", "SigningCertificateLineage attribute contains a proof-of-rotation record with signature(s) that did not verify"),
    "cert_mismatch": ("V3_SIG_POR_CERT_MISMATCH", "v3 signing certificate does not match the newest certificate of its SigningCertificateLineage"),
    "malformed": ("V3_SIG_MALFORMED_LINEAGE", "failed to parse the SigningCertificateLineage attribute"),
    "limit": ("INPUT_TOO_MANY_LINEAGE_NODES", "SigningCertificateLineage not read to its end"),
}


@dataclass(slots=True)
class ParsedSigner:
    """Everything one signer block says, and what of it checked out so far."""

    index: int
    scheme: str
    min_sdk: int | None = None  # v3 / v3.1 only
    max_sdk: int | None = None
    signatures: list[tuple[int, bytes]] = field(default_factory=list)
    verified_algorithms: list[SignatureAlgorithm] = field(default_factory=list)
    public_key: bytes = b""
    certificates: list[Certificate] = field(default_factory=list)
    content_digests: list[tuple[int, bytes]] = field(default_factory=list)  # (signature algorithm id, digest)
    attributes: list[tuple[int, bytes]] = field(default_factory=list)
    stripping_scheme_ids: set[int] = field(default_factory=set)  # v2: every id the 0xbeeff00d attrs name
    lineage: Lineage | None = None
    targets_dev_release: bool = False
    verified_digests: set[ContentDigest] = field(default_factory=set)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def digests(self) -> dict[ContentDigest, bytes]:
        """Signed content digests keyed by digest algorithm (unknown algorithm ids skipped)."""
        out: dict[ContentDigest, bytes] = {}
        for alg_id, value in self.content_digests:
            alg = algorithms.by_id(alg_id)
            if alg is not None:
                out[alg.digest] = value
        return out


@dataclass(slots=True)
class SignerContext:
    """Scheme-wide inputs a signer's checks depend on."""

    scheme: str  # "v2", "v3", "v31"
    min_sdk: int
    max_sdk: int
    rotation_min_sdk: int = 0  # v3 only: from the v3.1 block, 0 = no v3.1 block
    found_scheme_ids: frozenset[int] = frozenset()  # v2 stripping protection
    supported_scheme_ids: frozenset[int] = frozenset({2, 3})



def scheme_code(scheme: str, name: str) -> str:
    """:func:`apkscan.issue_codes.scheme_code`: the registry is loaded on a problem only (~1 ms of
    every start-up, for codes a good APK never gets)."""
    from apkscan.issue_codes import scheme_code as registered

    return registered(scheme, name)


def parse_signer(block: Buf, index: int, ctx: SignerContext) -> ParsedSigner:
    """Parse one signer; problems land in ``signer.errors`` (``*_MALFORMED_SIGNER`` on overruns)."""
    signer = ParsedSigner(index, ctx.scheme)
    start = block.pos
    try:
        _parse(block, signer, ctx)
    except Malformed as exc:
        signer.errors.append(error(scheme_code(ctx.scheme, "MALFORMED_SIGNER"), f"signer #{index + 1}: malformed signer block ({exc})"))
    if not signer.certificates and signer.errors:
        _collect_present_certificates(block, start, signer)
    return signer


def _collect_present_certificates(block: Buf, start: int, signer: ParsedSigner) -> None:
    """Read the certificates of a signer that failed, as *present* (never verified).

    apksig stops before the certificates when the signature over signed-data fails; we
    still want to know whose certificate was pasted into a signature it did not make
    (a forged WeChat certificate must be visible as present). Best effort, bounded.
    """
    try:
        outer = Buf(block.data, start, block.end)
        signed_data = outer.slice()
        signed_data.slice()  # digests
        certificates = signed_data.slice()
        while certificates.remaining() and len(signer.certificates) < MAX_CERTIFICATES_PER_SIGNER:
            signer.certificates.append(certificate_from_der(certificates.prefixed_bytes()))
    except Malformed:
        pass


def _err(signer: ParsedSigner, ctx: SignerContext, name: str, message: str, *, raw: bool = False) -> None:
    code = name if raw else scheme_code(ctx.scheme, name)
    signer.errors.append(error(code, f"signer #{signer.index + 1}: {message}"))


def _warn(signer: ParsedSigner, ctx: SignerContext, name: str, message: str, *, raw: bool = False) -> None:
    code = name if raw else scheme_code(ctx.scheme, name)
    signer.warnings.append(warning(code, f"signer #{signer.index + 1}: {message}"))


def _parse(block: Buf, signer: ParsedSigner, ctx: SignerContext) -> None:
    """apksig's signer parse: verify a signature over signed-data, and only then read it."""
    try:
        signed_data = _check_signatures(block, signer, ctx)
        _read_signed_data(signed_data, signer, ctx)
    except _Stopped:
        return


def _check_signatures(block: Buf, signer: ParsedSigner, ctx: SignerContext) -> Buf:
    """The signatures over signed-data, strongest per platform level; raises _Stopped."""
    signed_data = block.slice()
    signed_bytes = bytes(signed_data.data[signed_data.pos : signed_data.end])
    v3 = ctx.scheme != "v2"
    if v3:
        signer.min_sdk, signer.max_sdk = block.i32(), block.i32()
        if signer.min_sdk < 0 or signer.min_sdk > signer.max_sdk:
            _err(signer, ctx, "INVALID_SDK_VERSIONS", f"invalid SDK versions: minSdkVersion {signer.min_sdk}, maxSdkVersion {signer.max_sdk}")
    signatures = block.slice()
    signer.public_key = block.prefixed_bytes()

    supported: list[tuple[SignatureAlgorithm, bytes]] = []
    for alg_id, sig in _records(signatures, MAX_SIGNATURES_PER_SIGNER, "SIGNATURES", "SIGNATURE", signer, ctx):
        signer.signatures.append((alg_id, sig))
        alg = algorithms.by_id(alg_id)
        if alg is None:
            _warn(signer, ctx, "UNKNOWN_SIG_ALGORITHM", f"unknown signature algorithm {alg_id:#x}")
            continue
        supported.append((alg, sig))
    if not signer.signatures:
        _err(signer, ctx, "NO_SIGNATURES", "no signatures")
        raise _Stopped
    lo, hi = (signer.min_sdk, signer.max_sdk) if v3 else (ctx.min_sdk, ctx.max_sdk)
    to_verify = algorithms.signatures_to_verify(supported, lo, hi)
    if not to_verify:
        _err(signer, ctx, "NO_SUPPORTED_SIGNATURES", f"no supported signatures for Android API levels {lo}-{hi}")
        raise _Stopped
    key = crypto.load_public_key(signer.public_key)
    for alg, sig in to_verify:
        if key is None or crypto.key_type(key) != alg.key_type:
            _err(signer, ctx, "MALFORMED_PUBLIC_KEY", f"malformed {alg.key_type} public key in the signer record")
            raise _Stopped
        try:
            digest_name, key_kind, pss = crypto.parse_jca(alg.jca)
            ok = crypto.verify_with_key(key, digest_name, key_kind, pss, signed_bytes, sig)
        except ApkScanError as exc:
            _err(signer, ctx, "VERIFY_EXCEPTION", f"failed to verify {alg.name} signature: {exc.message}")
            raise _Stopped
        if not ok:
            _err(signer, ctx, "DID_NOT_VERIFY", f"{alg.name} signature over signed-data did not verify")
            raise _Stopped
        if dss_der.not_minimal(sig, key_kind):
            _warn(signer, ctx, "SIG_NOT_DER_MINIMAL", f"{alg.name} signature: {NOT_DER_MINIMAL}", raw=True)
        signer.verified_algorithms.append(alg)
    return signed_data


def _read_signed_data(signed_data: Buf, signer: ParsedSigner, ctx: SignerContext) -> None:
    """Certificates, SDK range, digests and attributes of verified signed-data; raises _Stopped."""
    v3 = ctx.scheme != "v2"
    digests = signed_data.slice()
    certificates = signed_data.slice()
    if v3:
        signed_min, signed_max = signed_data.i32(), signed_data.i32()
        if signed_min != signer.min_sdk:
            _err(signer, ctx, "V3_MIN_SDK_VERSION_MISMATCH_BETWEEN_SIGNER_AND_SIGNED_DATA_RECORD", f"minSdkVersion mismatch between signer ({signer.min_sdk}) and signed data ({signed_min})", raw=True)
        if signed_max != signer.max_sdk:
            _err(signer, ctx, "V3_MAX_SDK_VERSION_MISMATCH_BETWEEN_SIGNER_AND_SIGNED_DATA_RECORD", f"maxSdkVersion mismatch between signer ({signer.max_sdk}) and signed data ({signed_max})", raw=True)
    attributes = signed_data.slice()

    index = -1
    while certificates.remaining():
        index += 1
        if index >= MAX_CERTIFICATES_PER_SIGNER:
            _err(signer, ctx, "INPUT_TOO_MANY_CERTIFICATES", f"more than {MAX_CERTIFICATES_PER_SIGNER} certificates", raw=True)
            raise _Stopped
        der = certificates.prefixed_bytes()
        cert = certificate_from_der(der)
        refused = jdk_cert.refusal(der)  # apksig parses every certificate of the list with the JCA
        if refused is not None:
            _err(signer, ctx, "MALFORMED_CERTIFICATE", f"malformed certificate #{index + 1}: {refused}")
            raise _Stopped
        signer.certificates.append(cert)
    if not signer.certificates:
        _err(signer, ctx, "NO_CERTIFICATES", "no certificates")
        raise _Stopped
    cert_key = apksig_public_key_der(signer.certificates[0].der)
    if cert_key != signer.public_key:
        _err(signer, ctx, "PUBLIC_KEY_MISMATCH_BETWEEN_CERTIFICATE_AND_SIGNATURES_RECORD", f"public key mismatch between certificate and signature record: <{(cert_key or b'').hex()}> vs <{signer.public_key.hex()}>")
        raise _Stopped

    signer.content_digests.extend(_records(digests, MAX_DIGESTS_PER_SIGNER, "DIGESTS", "DIGEST", signer, ctx))
    sig_ids = [a for a, _ in signer.signatures]
    digest_ids = [a for a, _ in signer.content_digests]
    if sig_ids != digest_ids:
        _err(signer, ctx, "SIG_ALG_MISMATCH_BETWEEN_SIGNATURES_AND_DIGESTS_RECORDS", f"signature algorithms mismatch between signatures and digests records: {sig_ids} vs {digest_ids}")
        raise _Stopped
    _parse_attributes(attributes, signer, ctx)


def _parse_attributes(attributes: Buf, signer: ParsedSigner, ctx: SignerContext) -> None:
    count = 0
    rotation_attr_found = False
    expected_ids: set[int] = set()
    while attributes.remaining():
        count += 1
        if count > MAX_ATTRIBUTES_PER_SIGNER:
            _err(signer, ctx, "INPUT_TOO_MANY_ATTRIBUTES", f"more than {MAX_ATTRIBUTES_PER_SIGNER} additional attributes", raw=True)
            return
        try:
            record = attributes.slice()
            attr_id = record.u32()
            value = record.rest()
            signer.attributes.append((attr_id, value))
            if ctx.scheme == "v2":
                if attr_id == STRIPPING_PROTECTION_ATTR_ID:
                    scheme_id = Buf(value).i32()
                    signer.stripping_scheme_ids.add(scheme_id)
                    if scheme_id in ctx.supported_scheme_ids:
                        expected_ids.add(scheme_id)
                    else:
                        _warn(signer, ctx, "UNKNOWN_APK_SIG_SCHEME_ID", f"unknown APK signature scheme id {scheme_id} in stripping protection")
                else:
                    _warn(signer, ctx, "UNKNOWN_ADDITIONAL_ATTRIBUTE", f"unknown additional attribute: ID {attr_id:#x}")
            elif attr_id == PROOF_OF_ROTATION_ATTR_ID:
                _read_lineage(value, signer, ctx)
            elif attr_id == ROTATION_MIN_SDK_VERSION_ATTR_ID:
                rotation_attr_found = True
                if ctx.max_sdk >= Sdk.T:
                    attr_min = Buf(value).i32()
                    if ctx.rotation_min_sdk > 0:
                        if attr_min != ctx.rotation_min_sdk:
                            _err(signer, ctx, "V31_ROTATION_MIN_SDK_MISMATCH", f"rotation-min-sdk-version attribute {attr_min} differs from the v3.1 signers' minimum SDK {ctx.rotation_min_sdk}", raw=True)
                    else:
                        _err(signer, ctx, "V31_BLOCK_MISSING", f"v3 signer declares key rotation from SDK {attr_min} but the v3.1 signature block is missing (stripped?)", raw=True)
            elif attr_id == ROTATION_ON_DEV_RELEASE_ATTR_ID:
                signer.targets_dev_release = True
                if ctx.scheme != "v31":
                    _warn(signer, ctx, "V31_ROTATION_TARGETS_DEV_RELEASE_ATTR_ON_V3_SIGNER", "rotation-targets-dev-release attribute on a v3 signer is ignored", raw=True)
            else:
                _warn(signer, ctx, "UNKNOWN_ADDITIONAL_ATTRIBUTE", f"unknown additional attribute: ID {attr_id:#x}")
        except Malformed:
            _err(signer, ctx, "MALFORMED_ADDITIONAL_ATTRIBUTE", f"malformed additional attribute #{count}")
            return
    if ctx.scheme == "v2":
        for scheme_id in sorted(expected_ids):
            if scheme_id not in ctx.found_scheme_ids:
                _err(signer, ctx, "MISSING_APK_SIG_REFERENCED", f"v2 signature indicates the APK is also signed with APK Signature Scheme v{scheme_id} but no such signature was found (stripped?)")
    elif ctx.rotation_min_sdk > 0 and not rotation_attr_found:
        _warn(signer, ctx, "V31_ROTATION_MIN_SDK_ATTR_MISSING", f"v3.1 signers start at SDK {ctx.rotation_min_sdk} but the v3 signer has no rotation-min-sdk-version attribute", raw=True)


def _read_lineage(value: bytes, signer: ParsedSigner, ctx: SignerContext) -> None:
    try:
        signer.lineage = parse_lineage(value)
        if len(sub_lineage(signer.lineage, signer.certificates[0].der)) != len(signer.lineage):
            raise LineageError("cert_mismatch", "signer certificate is not the newest certificate of its lineage")
    except LineageError as exc:
        code, message = LINEAGE_ISSUES[exc.kind]
        _err(signer, ctx, code, f"{message}: {exc.message}", raw=True)
        if signer.lineage is None and exc.nodes:
            signer.lineage = Lineage(exc.nodes)


class _Stopped(Exception):
    """The signer's error is recorded; apksig stops reading this signer here."""


def _records(seq: Buf, limit: int, plural: str, singular: str, signer, ctx):
    """(algorithm id, value) records of a signer's signatures or digests, one at a time as
    apksig reads them; past ``limit`` or on a malformed record the error is recorded and
    :class:`_Stopped` ends the caller's loop."""
    count = 0
    while seq.remaining():
        count += 1
        if count > limit:
            _err(signer, ctx, "INPUT_TOO_MANY_SIGNATURES" if singular == "SIGNATURE" else "INPUT_TOO_MANY_DIGESTS",
                 f"more than {limit} {singular.lower()} records", raw=True)
            raise _Stopped
        try:
            record = seq.slice()
            item = (record.u32(), record.prefixed_bytes())
        except Malformed:
            _err(signer, ctx, "MALFORMED_SIGNATURE" if singular == "SIGNATURE" else "MALFORMED_DIGEST",
                 f"malformed {singular.lower()} record #{count}")
            raise _Stopped from None
        yield item

