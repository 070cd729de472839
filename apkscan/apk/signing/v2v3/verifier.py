"""APK Signature Scheme v2 / v3 / v3.1 verification in two phases, so the APK is read once.

Phase 1, :func:`parse_scheme`, needs only the scheme's block from the APK Signing
Block: it parses the signers, verifies their signatures over the signed data, checks
certificates, attributes, SDK ranges and the rotation lineage, and says which content
digests the file pass must compute. Phase 2, :func:`finish_scheme`, compares the
signed content digests with the computed ones and builds the ``SchemeResult``.

This is ``V2SchemeVerifier.verify`` / ``V3SchemeVerifier.verify`` of apksig split at
the point where they call ``ApkSigningBlockUtils.verifyIntegrity``. As in apksig,
integrity and SDK-range checks only run when parsing produced no error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from apkscan.apk.crypto.algorithms import ContentDigest, by_id
from apkscan.apk.signing.v2v3.lineage import LineageError, consolidate
from apkscan.apk.model import SchemeResult, SignerResult
from apkscan.apk.signing.common import Buf, Malformed, Sdk
from apkscan.apk.signing.v2v3.signer import ParsedSigner, SignerContext, parse_signer, scheme_code
from apkscan.issues import Issue, error, warning

MAX_APK_SIGNERS = 10  # apksig Constants.MAX_APK_SIGNERS (v2; v1 has the same limit)
MAX_PARSED_SIGNERS = 1024  # a bound for hostile blocks, all schemes (apksig has none for v3; one signer per SDK level is ~40 today): past it, an input limit
SCHEMES = ("v2", "v3", "v31")


@dataclass(slots=True)
class ParsedScheme:
    """Phase-1 result of one scheme block."""

    scheme: str
    min_sdk: int
    max_sdk: int
    signers: list[ParsedSigner] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)  # scheme-level (not per signer)
    warnings: list[Issue] = field(default_factory=list)
    lineage_nodes: list = field(default_factory=list)  # consolidated lineage (v3 / v3.1)
    _post_errors: list[Issue] = field(default_factory=list)  # SDK-range / lineage checks, reported after integrity

    def has_parse_errors(self) -> bool:
        return bool(self.errors) or any(s.errors for s in self.signers)

    def required_digests(self) -> set[ContentDigest]:
        """Content digests the file pass must compute (none when parsing already failed)."""
        if self.has_parse_errors():
            return set()
        return {alg.digest for s in self.signers for alg in s.verified_algorithms}

    def signed_digests(self) -> dict[ContentDigest, bytes]:
        """Signed content digests of all signers (apksig's ``getApkContentDigestsFromSigningSchemeResult``)."""
        out: dict[ContentDigest, bytes] = {}
        for s in self.signers:
            out.update(s.digests())
        return out

    def signer_digests(self) -> list[dict[ContentDigest, bytes]]:
        """Signed content digests per signer, in signer order."""
        return [s.digests() for s in self.signers]

    def stripping_scheme_ids(self) -> set[int]:
        """v2: every scheme id the stripping-protection attributes declare."""
        return {i for s in self.signers for i in s.stripping_scheme_ids}

    def rotation_min_sdk(self) -> int:
        """v3.1: lowest signer min SDK, which the v3 block must stop at (0 if no signer)."""
        mins = [s.min_sdk for s in self.signers if s.min_sdk is not None]
        return min(mins) if mins else 0


def parse_scheme(
    block_value: bytes,
    scheme: str,
    min_sdk: int,
    max_sdk: int,
    *,
    rotation_min_sdk: int = 0,
    found_scheme_ids: frozenset[int] = frozenset(),
    supported_scheme_ids: frozenset[int] | None = None,
) -> ParsedScheme:
    """Phase 1: parse and check a v2 (0x7109871a), v3 (0xf05368c0) or v3.1 (0x1b93ad61) block.

    ``rotation_min_sdk`` (v3 only) is the v3.1 block's :meth:`ParsedScheme.rotation_min_sdk`,
    0 when there is no v3.1 block; ``found_scheme_ids`` (v2 only) are the newer schemes
    found, for the stripping-protection check; ``supported_scheme_ids`` defaults to
    apksig's set for ``max_sdk``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}")
    if scheme == "v3":
        min_sdk = max(min_sdk, Sdk.P)
    elif scheme == "v31":
        min_sdk = max_sdk  # apksig: v3.1 may start anywhere as long as v3 covers the rest
    if supported_scheme_ids is None:
        supported_scheme_ids = frozenset({2, 3}) if max_sdk >= Sdk.P else frozenset({2}) if max_sdk >= 24 else frozenset()
    ctx = SignerContext(scheme, min_sdk, max_sdk, rotation_min_sdk, frozenset(found_scheme_ids), frozenset(supported_scheme_ids))
    parsed = ParsedScheme(scheme, min_sdk, max_sdk)
    try:
        signers = Buf(block_value).slice()
    except Malformed:
        parsed.errors.append(error(scheme_code(scheme, "MALFORMED_SIGNERS"), "malformed list of signers"))
        return parsed
    if not signers.remaining():
        parsed.errors.append(error(scheme_code(scheme, "NO_SIGNERS"), f"no signers in APK Signature Scheme {_label(scheme)} signature"))
        return parsed
    count = 0
    while signers.remaining():
        if count >= MAX_PARSED_SIGNERS:
            parsed.errors.append(error("INPUT_TOO_MANY_SIGNERS", f"more than {MAX_PARSED_SIGNERS} signers; the rest were not parsed"))
            break
        try:
            block = signers.slice()
        except Malformed:
            bad = ParsedSigner(count, scheme)
            bad.errors.append(error(scheme_code(scheme, "MALFORMED_SIGNER"), f"signer #{count + 1}: malformed signer block"))
            parsed.signers.append(bad)
            return parsed
        signer = parse_signer(block, count, ctx)
        parsed.signers.append(signer)
        count += 1
        if any(i.code.endswith("MALFORMED_SIGNER") for i in signer.errors):
            return parsed  # apksig stops at the first structurally broken signer
    if scheme == "v2" and count > MAX_APK_SIGNERS:
        parsed.errors.append(error("V2_SIG_MAX_SIGNATURES_EXCEEDED", f"APK Signature Scheme v2 only supports a maximum of {MAX_APK_SIGNERS} signers, found {count}"))
    if scheme != "v2" and not parsed.has_parse_errors():
        _check_sdk_ranges_and_lineage(parsed, ctx)
    return parsed


def _check_sdk_ranges_and_lineage(parsed: ParsedScheme, ctx: SignerContext) -> None:
    """The v3 checks apksig runs after integrity: contiguous SDK ranges, growing lineages."""
    by_max: dict[int, ParsedSigner] = {}
    for s in parsed.signers:
        by_max[s.max_sdk] = s  # apksig keys a TreeMap by maxSdkVersion: later signers win
    first_min = last_max = last_lineage = 0
    lineages = []
    for max_sdk in sorted(by_max):
        s = by_max[max_sdk]
        if first_min == 0:
            first_min = s.min_sdk
        elif s.min_sdk != last_max + 1 and not (s.min_sdk == last_max and s.targets_dev_release):
            parsed._post_errors.append(error("V3_INCONSISTENT_SDK_VERSIONS", "v3 signers' SDK version ranges are not contiguous"))
            break
        last_max = s.max_sdk
        if s.lineage is not None:
            if len(s.lineage) < last_lineage:
                parsed._post_errors.append(error("V3_INCONSISTENT_LINEAGES", "v3 signers' lineages are inconsistent (a later signer has a shorter lineage)"))
                break
            last_lineage = len(s.lineage)
            lineages.append(s.lineage)
    upper = ctx.rotation_min_sdk - 1 if ctx.rotation_min_sdk > 0 else ctx.max_sdk
    if first_min > ctx.min_sdk or last_max < upper:
        parsed._post_errors.append(error("V3_MISSING_SDK_VERSIONS", f"v3 signers cover SDK {first_min}-{last_max}, not the required {ctx.min_sdk}-{upper}"))
    try:
        merged = consolidate(lineages)
    except LineageError:
        parsed._post_errors.append(error("V3_INCONSISTENT_LINEAGES", "v3 signers' lineages cannot be merged into one"))
        merged = None
    if merged is not None:
        parsed.lineage_nodes = list(merged.nodes)


def finish_scheme(parsed: ParsedScheme, computed: Mapping[ContentDigest, bytes] | None) -> SchemeResult:
    """Phase 2: compare signed content digests with ``computed`` and build the result.

    ``computed=None`` (``--quick``): content not checked; a signer counts as verified when
    its signatures over the signed data verify (within the verdict; ``verifier.verify`` then
    reports it as ``signature_only``, never verified), and the scheme says what was skipped.
    """
    result = SchemeResult(parsed.scheme, present=True)
    result.errors.extend(parsed.errors)
    result.warnings.extend(parsed.warnings)
    integrity_checked = not parsed.has_parse_errors()
    signer_errors: dict[int, list[Issue]] = {s.index: list(s.errors) for s in parsed.signers}
    if integrity_checked and computed is None:
        result.warnings.append(warning("CONTENT_DIGESTS_NOT_CHECKED", "content digests not checked (--quick): signatures over the signed data only"))
        result.lineage = list(parsed.lineage_nodes)
        for s in parsed.signers:
            s.verified_digests.update(by_id(a).digest for a, _ in s.content_digests if by_id(a) is not None)
    elif integrity_checked:
        wanted = parsed.required_digests()
        code = "V2_SIG_APK_DIGEST_DID_NOT_VERIFY" if parsed.scheme == "v2" else "V3_SIG_APK_DIGEST_DID_NOT_VERIFY"
        for s in parsed.signers:
            for alg_id, expected in s.content_digests:
                alg = by_id(alg_id)
                if alg is None or alg.digest not in wanted:
                    continue
                actual = computed.get(alg.digest)
                if actual is None:
                    signer_errors[s.index].append(error(code, f"signer #{s.index + 1}: {alg.digest.name} digest could not be computed"))
                elif actual != expected and parsed.scheme == "v31":
                    # apksig's verifyIntegrity adds an issue for v2 and v3 only: apksigner verifies
                    # this APK, and so do we (review 57 F1: failing it here turned the vendor's key,
                    # verified over the content by v1/v2/v3, into a "pasted in" certificate). Only
                    # the v3.1 key's holder can sign such a block; said, never silent.
                    result.warnings.append(warning("V31_SIG_APK_DIGEST_DID_NOT_VERIFY", f"signer #{s.index + 1}: {alg.digest.name} digest mismatch. Expected: <{expected.hex()}>, actual: <{actual.hex()}>; apksig does not check v3.1 digests, Android 13 and later do and would refuse this APK"))
                    s.verified_digests.add(alg.digest)  # counted as apksig counts it (the warning says it is not)
                elif actual != expected:
                    signer_errors[s.index].append(error(code, f"signer #{s.index + 1}: APK integrity check failed. {alg.digest.name} digest mismatch. Expected: <{expected.hex()}>, actual: <{actual.hex()}>"))
                else:
                    s.verified_digests.add(alg.digest)
        result.errors.extend(parsed._post_errors)
        result.lineage = list(parsed.lineage_nodes)
    else:
        for s in parsed.signers:  # show what was read, even though it is not verified
            if s.lineage is not None and not result.lineage:
                result.lineage = list(s.lineage.nodes)
    for s in parsed.signers:
        ok = integrity_checked and not signer_errors[s.index] and bool(s.verified_digests)
        result.signers.append(_signer_result(s, ok, signer_errors[s.index]))
    result.verified = bool(result.signers) and not result.all_errors()
    return result


def _signer_result(s, ok: bool, errors: list) -> SignerResult:
    """One parsed signer as reported; the dev-release flag only on a v3.1 signer, where apksig
    honours it (a v3 signer's is warned about and ignored)."""
    return SignerResult(
        name=f"signer #{s.index + 1}",
        certificate=s.certificates[0] if s.certificates else None,
        chain=list(s.certificates),
        verified=ok,
        min_sdk=s.min_sdk,
        max_sdk=s.max_sdk,
        targets_dev_release=s.targets_dev_release and s.scheme == "v31",
        signature_algorithms=[a.name for a in s.verified_algorithms],
        errors=errors,
        warnings=list(s.warnings),
    )


def _label(scheme: str) -> str:
    return {"v2": "v2", "v3": "v3", "v31": "v3.1"}[scheme]
