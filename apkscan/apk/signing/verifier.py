"""apksigner's overall verdict, assembled from one verifier per scheme.

Mirrors ``ApkVerifier.verify`` of apksig: which schemes a platform in the SDK range
[min_sdk, max_sdk] would check (``common.SchemePlan``: v3.1 from 33, v3 from 28, v2 from 24,
v1 below 24 or when no signing-block scheme exists), in which order errors stop the verdict, the
cross-scheme rules (v1 and v2 signers must match, v3's past signer must be the v1/v2
signer or the root of its lineage, v4 must agree with v2/v3) and the target-SDK >= 30
requirement for v2+.

Unlike apksig we evaluate *every* scheme present, even those the verdict ignores, so
reports can say "v2 present and verified, but not used on this SDK range". Which schemes
decided the verdict is ``VerificationResult.verified_using``.

The file is read once: the blocks are parsed first to learn which content digests are
needed and MANIFEST.MF to learn which large entries v1 will digest, then
``digests.compute_digests`` makes one sequential pass computing all of them together with
the whole-file hashes. ``quick`` skips that pass (signatures only, never "verified").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apkscan.apk.crypto.algorithms import ContentDigest
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.manifest.android_manifest import apksig_target_sdk
from apkscan.apk.manifest.axml import AxmlRuntimeError
from apkscan.apk.model import (
    SCHEME_NAMES,
    FileFacts,
    ManifestInfo,
    SchemeResult,
    VerificationResult,
)
from apkscan.apk.signing import digests, signing_block
from apkscan.apk.signing.common import KNOWN_BLOCK_IDS, MAX_SDK, SCHEME_ID, BlockId, SchemePlan, Sdk
from apkscan.apk.signing.manifest_reads import SIG_BLOCK_SCHEMES, apksig_throws, check_sandbox, min_sdk_of
from apkscan.apk.signing.outcome import (certificates_present, counted_lineage, mark_range_refused, mark_signature_only,
                                          sightings, verdict_signers)
from apkscan.apk.signing.v1 import verifier as v1
from apkscan.apk.signing.v1.entry_digests import plan_entry_digests
from apkscan.apk.signing.v1.jar_manifest import ManifestOnce
from apkscan.apk.signing.v2v3 import verifier as v2v3
from apkscan.apk.signing.v2v3.signer import INPUT_LIMIT_CODES
from apkscan.issues import ApkFormatError, ApkScanError, Issue, error, unique, warning

__all__ = ["MAX_SDK", "VerifyOutcome", "verify"]
STAMP_CERT_ENTRY = "stamp-cert-sha256"


@dataclass(slots=True)
class VerifyOutcome:
    """What verifying an APK gave: the schemes' result, the file's digests, tamper indicators."""

    verification: VerificationResult
    file: FileFacts | None  # None with quick: the file was not read
    tamper: list[Issue] = field(default_factory=list)


@dataclass(slots=True)
class _Verdict:
    """apksig's order of decision: schemes are taken one by one; the first with errors stops."""

    schemes: dict[str, SchemeResult]
    used: list[str] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    ok: bool = True

    def take(self, name: str, *, signers_count: bool = True) -> None:
        """Count scheme ``name`` towards the verdict (only while nothing failed). ``signers_count``
        False: only the scheme's own errors decide (apksig's ``Result.containsErrors`` looks at the
        v1, v2, v3 and v3.1 signers, never at the v4 ones)."""
        if self.ok:
            self.used.append(name)
            errs = self.schemes[name].all_errors() if signers_count else list(self.schemes[name].errors)
            self.errors.extend(errs)
            self.ok = not errs

    def fail(self, issue: Issue) -> None:
        if self.ok:
            self.errors.append(issue)
            self.ok = False


def verify(
    zip: ZipArchive,
    manifest: ManifestInfo | None,
    manifest_axml: bytes | None = None,
    *,
    min_sdk: int | None = None,
    max_sdk: int = MAX_SDK,
    idsig_path: str | None = None,
    idsig_given: bool = False,
    file_hashes: tuple[str, ...] = ("sha256",),
    quick: bool = False,
    known_sha256: str | None = None,
) -> VerifyOutcome:
    """Verify every scheme of the APK and decide apksigner's verdict over the SDK range.

    ``file_hashes``: whole-file digests besides SHA-256 ("sha1", "md5"); ``known_sha256``: these bytes' SHA-256, computed before.
    ``quick``: signatures over the signed data and certificates only; the file is not read,
    content digests are not checked, and the verdict is never "verified" (``file`` is None).
    ``idsig_given``: the v4 file was named by the caller (decides as in apksig), not merely found
    beside the APK (reported, never deciding: :func:`_decide_v4`).
    """
    min_sdk, min_sdk_known, refused = min_sdk_of(zip, manifest, min_sdk)
    block = signing_block.find_signing_block(zip)
    pairs = block.pairs if block.found else {}
    plan = SchemePlan.for_range(min_sdk, max_sdk, pairs.keys())
    verdict = _Verdict({name: SchemeResult(name) for name in SCHEME_NAMES})
    schemes = verdict.schemes
    if min_sdk > max_sdk:  # apksig throws before verifying anything; the schemes are still read for the report
        verdict.fail(error("INPUT_BAD_SDK_RANGE", f"minSdkVersion {min_sdk} is above maxSdkVersion {max_sdk}"))

    # 1. parse every signing-block scheme present (reports show them all), no content read yet
    parsed = _parse_block_schemes(pairs, plan)
    _note_limits(zip, parsed)
    v4_file = _read_idsig(idsig_path, schemes, idsig_given)
    # 2. one pass over the file: whole-file hashes + every needed content digest
    manifests = ManifestOnce(zip)  # MANIFEST.MF read and parsed once, for the pass's plan and for v1
    pass_ = None if quick else _digest_pass(zip, block, parsed, v4_file, (file_hashes, known_sha256), plan, manifests)
    for name, p in parsed.items():
        schemes[name] = v2v3.finish_scheme(p, pass_.content if pass_ else None)
    v4_file = _note_pass(verdict, pass_, v4_file)
    # 3. v1: stripping protection asks "was the scheme the .SF names found?" -- apksig's own
    # found set when v1 counts, else (checked for the report only) the blocks present
    present = plan.found_ids | {SCHEME_ID[s] for s in parsed if s in ("v2", "v3")}
    v1_result = v1.verify_v1(zip, min_sdk, max_sdk, plan.found_ids if plan.counts("v1") else frozenset(present),
                             precomputed=pass_.entries if pass_ else None, quick=quick, manifests=manifests)
    schemes["v1"] = v1_result.scheme
    # 4. apksig's order of decision
    _decide_block_schemes(verdict, plan, parsed, v4_file, pass_)
    if idsig_path is not None and not quick and plan.max_sdk >= Sdk.N:
        _decide_v4(verdict, idsig_given)
    check_sandbox(verdict, plan, manifest_axml, min_sdk_known, refused)
    if plan.counts("v1") or not any(s in verdict.used for s in SIG_BLOCK_SCHEMES):
        verdict.take("v1")
    stamp = _check_stamp(verdict, plan, zip, pairs, parsed, v1_result)
    _check_after_stamp(verdict, max_sdk, None if refused else manifest_axml, min_sdk_known)  # apksig skips the rule
    verdict.ok = verdict.ok and not quick  # never a full verification without the content
    result = _result(verdict, plan, stamp, [b for b in block.pair_ids if b not in KNOWN_BLOCK_IDS] if block.found else [])
    if quick:
        mark_signature_only(result)
    return VerifyOutcome(result, pass_.file if pass_ else None, list(block.tamper))


def _note_limits(zip: ZipArchive, parsed) -> None:
    """A cap apksig lacks that a signing-block scheme hit: an input error, the signatures not read."""
    for issue in (i for p in parsed.values() for i in [*p.errors, *(e for s in p.signers for e in s.errors)]
                  if i.code in INPUT_LIMIT_CODES):
        zip.note_limit(issue)


def _note_pass(verdict: _Verdict, pass_, v4_file):
    """The pass's warnings; with ``--quick`` (no pass) that nothing was checked, v4 included. The v4
    file still to verify (None with ``--quick``)."""
    if pass_ is not None:  # e.g. a verity digest undefined for a misaligned block: the signer fails on it, the reason stays here
        verdict.warnings.extend(warning(i.code, i.message) for i in pass_.issues)
        return v4_file
    verdict.warnings.append(warning("CONTENT_DIGESTS_NOT_CHECKED", "--quick: content digests not checked, so this is not a full verification"))
    if v4_file is not None:  # v4 signs the fs-verity root of the whole file: not read here
        verdict.schemes["v4"] = SchemeResult("v4", present=True, warnings=[warning("CONTENT_DIGESTS_NOT_CHECKED", "v4 not checked (--quick)")])
    return None


def _digest_pass(zip: ZipArchive, block, parsed, v4_file, hashes: tuple[tuple[str, ...], str | None],
                 plan: SchemePlan, manifests: ManifestOnce) -> digests.DigestPass:
    wanted = set().union(*(p.required_digests() for p in parsed.values()))
    return digests.compute_digests(zip, block.offset if block.found else None, wanted,
                                   want_verity_root=v4_file is not None, file_hashes=hashes[0], known_sha256=hashes[1],
                                   entries=plan_entry_digests(zip, plan.min_sdk, plan.max_sdk, manifests))


def _parse_block_schemes(pairs: dict[int, bytes], plan: SchemePlan) -> dict[str, v2v3.ParsedScheme]:
    """v3.1, v3, v2 parsed against the part of the range in which each scheme exists. A range
    that ends before N has no v2, one before T no v3.1 (apksig never reads the block): each is
    checked, for the report only, over every level that reads it (as with no ``--max-sdk-version``),
    as v3 below P is checked over its signers' own levels. Over the empty range 24-23 every v2
    signer failed V2_SIG_NO_SUPPORTED_SIGNATURES, and below 33 a v3.1 block V3_MISSING_SDK_VERSIONS,
    which no platform reading the block says."""
    parsed: dict[str, v2v3.ParsedScheme] = {}
    lo, hi = plan.min_sdk, plan.max_sdk
    if BlockId.V31 in pairs:
        parsed["v31"] = v2v3.parse_scheme(pairs[BlockId.V31], "v31", max(lo, Sdk.T), hi if hi >= Sdk.T else MAX_SDK)
    if BlockId.V3 in pairs:
        rotation = parsed["v31"].rotation_min_sdk() if plan.counts("v31") else 0
        parsed["v3"] = v2v3.parse_scheme(pairs[BlockId.V3], "v3", max(lo, Sdk.P), hi, rotation_min_sdk=rotation)
    if BlockId.V2 in pairs:
        v2 = plan if hi >= Sdk.N else SchemePlan.for_range(lo, MAX_SDK, pairs.keys())
        parsed["v2"] = v2v3.parse_scheme(pairs[BlockId.V2], "v2", max(v2.min_sdk, Sdk.N), v2.max_sdk,
                                         found_scheme_ids=v2.v2_found_ids, supported_scheme_ids=v2.supported_ids)
    return parsed


def _read_idsig(idsig_path: str | None, schemes: dict[str, SchemeResult], given: bool = False):
    """``given``: named by the caller (a link followed); a file merely found beside the APK is read
    only as the regular file it is, never through a symlink (review 66 F5)."""
    if idsig_path is None:
        return None
    from apkscan.apk.signing.v4 import verifier as v4  # only with a .idsig: start-up

    try:
        return v4.parse_idsig(idsig_path, follow=given)
    except ApkScanError as exc:
        schemes["v4"] = SchemeResult("v4", present=True, errors=[exc.to_issue()])
        return None


def _decide_block_schemes(verdict: _Verdict, plan: SchemePlan, parsed, v4_file, pass_) -> None:
    """v3.1, v3 (v3.1 needs it), v2, then v4 over the schemes that were used."""
    if plan.max_sdk < Sdk.N:
        return
    for name in ("v31", "v3"):
        if plan.counts(name):
            verdict.take(name)
    if plan.v31_without_v3:
        verdict.fail(error("V31_BLOCK_FOUND_WITHOUT_V3_BLOCK", "v3.1 signature block found without a v3 block"))
    if plan.counts("v2"):
        verdict.take("v2")
    if v4_file is not None:
        from apkscan.apk.signing.v4 import verifier as v4  # only with a .idsig: start-up

        verdict.schemes["v4"] = v4.verify_v4(
            v4_file, pass_.verity_root, _best_v2v3_digests(parsed, verdict.used), plan.min_sdk, plan.max_sdk,
            apk_size=pass_.file.size, signers=v4.signers_from_parsed(parsed, verdict.used),
        )


def _decide_v4(verdict: _Verdict, given: bool) -> None:
    """apksig: a v4 file that cannot be read, or whose signers disagree with the v2/v3 ones, fails
    the APK; a v4 signature, root hash or tree that does not verify leaves v4 unverified, not the
    APK. That holds for a file the caller names (``apksigner verify --v4-signature-file``). A file
    merely found beside the APK is reported and decides nothing: dropping 16 bytes of junk beside a
    vendor's APK made its verified key "present" only (review 61: prohibited became review)."""
    if given:
        verdict.take("v4", signers_count=False)
        return
    if verdict.ok and verdict.schemes["v4"].verified:
        verdict.used.append("v4")
    elif not verdict.schemes["v4"].verified:
        codes = ", ".join(dict.fromkeys(i.code for i in verdict.schemes["v4"].all_errors())) or "not verified"
        verdict.warnings.append(warning("V4_BESIDE_NOT_VERIFIED", f"the .idsig beside the APK is no v4 signature of it "
                                        f"({codes}): v4 is not verified and decides nothing (apksigner "
                                        "--v4-signature-file would refuse the pair)"))


def _check_stamp(verdict: _Verdict, plan: SchemePlan, zip: ZipArchive, pairs, parsed, v1_result):
    """The source stamp is checked whenever present; it decides only when its entry is there."""
    stamp_entry = zip.entry(STAMP_CERT_ENTRY)
    stamp_blocks = [pairs[b] for b in (BlockId.STAMP_V1, BlockId.STAMP_V2) if b in pairs]
    if stamp_entry is None and not stamp_blocks:
        return None
    from apkscan.apk.signing.stamp import verifier as source_stamp  # only with a stamp: start-up

    digest, refused = _read_stamp_entry(zip, stamp_entry)
    stamp = source_stamp.verify_source_stamp(
        pairs.get(BlockId.STAMP_V2),  # current apksig ignores the v1 stamp block
        digest,
        _scheme_digests(parsed, verdict.used, v1_result),
        max(plan.min_sdk, Sdk.R),
        plan.max_sdk,
    )
    verdict.schemes["source_stamp"] = stamp.scheme
    if refused is not None:  # apksig throws ("Failed to read APK") before it looks for the block
        verdict.fail(refused)
    if verdict.ok and stamp_entry is not None:
        if stamp_blocks:
            stamp_errs = stamp.scheme.all_errors()
            verdict.errors.extend(stamp_errs)
            verdict.ok = not stamp_errs
        else:
            verdict.warnings.append(warning("SOURCE_STAMP_SIG_MISSING", "stamp-cert-sha256 entry present but no source stamp block"))
    return stamp


def _check_after_stamp(verdict: _Verdict, max_sdk: int, manifest_axml: bytes | None, min_sdk_known: bool) -> None:
    """Cross-scheme signer rules, v2+ for targetSdk >= 30, and a readable minSdkVersion."""
    if verdict.ok:
        verdict.ok = _cross_scheme_checks(verdict.schemes, verdict.used, verdict.errors)
    if verdict.ok and manifest_axml is not None:
        try:
            target = apksig_target_sdk(manifest_axml)
        except AxmlRuntimeError as exc:  # apksig reads it whatever the range: the exception ends verify
            target = 0
            if min_sdk_known:  # else apksig threw before, reading minSdkVersion (MIN_SDK_UNKNOWN below)
                verdict.fail(apksig_throws(f"reading its targetSdkVersion: {exc}"))
        if target >= Sdk.R and max_sdk >= target and not any(s in verdict.used for s in SIG_BLOCK_SCHEMES):
            verdict.fail(error("MIN_SIG_SCHEME_FOR_TARGET_SDK_NOT_MET", f"targetSdkVersion {target} requires an APK Signature Scheme v2 or newer signature"))
    if not min_sdk_known:
        verdict.errors.append(error("MIN_SDK_UNKNOWN", "minSdkVersion cannot be read from AndroidManifest.xml, so the SDK range to verify for is unknown (apksigner refuses the APK; use --min-sdk-version)"))
        verdict.ok = False


def _result(verdict: _Verdict, plan: SchemePlan, stamp, unknown: list[int]) -> VerificationResult:
    """The verdict as a result. Over a range apksig refuses (``INPUT_BAD_SDK_RANGE``, the APK's
    error: v1 may be absent) no scheme, signer or lineage node reads verified."""
    schemes, used = verdict.schemes, verdict.used
    if plan.min_sdk > plan.max_sdk:
        mark_range_refused(schemes)
    verified = verdict.ok and bool(used) and not verdict.errors
    result = VerificationResult(
        verified=verified,
        min_sdk=plan.min_sdk,
        max_sdk=plan.max_sdk,
        schemes=schemes,
        signers=verdict_signers(schemes, used) if verified else [],
        certificates_present=certificates_present(schemes),
        sightings=sightings(schemes),
        lineage=counted_lineage(schemes, used),
        source_stamp=stamp.certificate if stamp else None,
        source_stamp_verified=bool(stamp and stamp.scheme.verified),
        unknown_blocks=unknown,
        errors=[] if verified else unique(verdict.errors),
        warnings=verdict.warnings,
    )
    result.verified_using = [s for s in used if schemes[s].verified] if verified else []
    return result


# ---------------------------------------------------------------------- helpers
def _read_stamp_entry(zip: ZipArchive, entry) -> tuple[bytes | None, Issue | None]:
    """stamp-cert-sha256's bytes, and why apksig cannot read them: it reads the entry through its
    local record (``LocalFileRecord``) whatever the block, and a local header it refuses or data it
    cannot inflate makes it throw (review 92 F2). Over the cap: no bytes, so no digest matches."""
    if entry is None:
        return None, None
    try:
        zip.check_local_header(entry)
        return zip.read(entry, 1 << 16), None
    except ApkFormatError as exc:
        return b"", exc.to_issue()
    except ApkScanError:
        return b"", None


def _best_v2v3_digests(parsed, used):
    for name in ("v31", "v3", "v2"):
        if name in parsed and name in used:
            return parsed[name].signed_digests()
    return {}


def _scheme_digests(parsed, used, v1_result):
    out: dict[int, dict[ContentDigest, bytes]] = {}
    for name, p in parsed.items():
        if name in used:  # apksig hands the stamp only the digests of schemes it verified
            out[SCHEME_ID[name]] = p.signed_digests()
    if "v1" in used:  # no MANIFEST.MF: an empty map, which makes the stamp fail as in apksig
        out[1] = {} if v1_result.manifest_sha256 is None else {ContentDigest.SHA256: v1_result.manifest_sha256}
    return out


def _cross_scheme_checks(schemes: dict[str, SchemeResult], used: list[str], errors: list[Issue]) -> bool:
    """v1 <-> v2 signer identity, and v3's link to the v1/v2 signer (apksig's rules)."""
    before = len(errors)
    v1s = [s.certificate.der for s in schemes["v1"].signers if s.verified and s.certificate] if "v1" in used else []
    v2s = [s.certificate.der for s in schemes["v2"].signers if s.verified and s.certificate] if "v2" in used else []
    if v1s and v2s:
        if any(c not in v2s for c in v1s):
            errors.append(error("V2_SIG_MISSING", "a JAR signer has no matching APK Signature Scheme v2 signer"))
        if any(c not in v1s for c in v2s):
            errors.append(error("JAR_SIG_MISSING", "an APK Signature Scheme v2 signer has no matching JAR signer"))
    v3name = "v3" if "v3" in used else None
    if v3name and (v1s or v2s):
        old = v1s if v1s else v2s
        if len(old) != 1:
            errors.append(error("V3_SIG_MULTIPLE_PAST_SIGNERS", "v3 supports a single past signer, found several"))
        old_cert = old[0]
        # Result.mergeFrom: the v3.1 block's lineage when v3.1 counted and has one, else v3's
        lineage = (schemes["v31"].lineage if "v31" in used else []) or schemes["v3"].lineage
        if not lineage:
            v3s = [s for s in schemes["v3"].signers if s.certificate]
            if len(v3s) != 1:
                errors.append(error("V3_SIG_MULTIPLE_SIGNERS", "several v3 signers without a rotation lineage"))
            if not v3s or v3s[0].certificate.der != old_cert:
                errors.append(error("V3_SIG_PAST_SIGNERS_MISMATCH", "v1/v2 signer differs from the v3 signer and no lineage links them"))
        elif lineage[0].certificate.der != old_cert:
            errors.append(error("V3_SIG_PAST_SIGNERS_MISMATCH", "v1/v2 signer is not the root of the v3.1/v3 signing-certificate lineage"))
    return len(errors) == before
