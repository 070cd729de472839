"""apksigner's overall verdict, assembled from one verifier per scheme.

Mirrors ``ApkVerifier.verify`` of apksig: which schemes a platform in the SDK range
[min_sdk, max_sdk] would check (v3.1 from 33, v3 from 28, v2 from 24, v1 below 24 or
when no signing-block scheme exists), in which order errors stop the verdict, the
cross-scheme rules (v1 and v2 signers must match, v3's past signer must be the v1/v2
signer or the root of its lineage, v4 must agree with v2/v3) and the target-SDK >= 30
requirement for v2+.

Unlike apksig we evaluate *every* scheme present, even those the verdict ignores, so
reports can say "v2 present and verified, but not used on this SDK range". Which schemes
decided the verdict is ``VerificationResult.verified_using``.

The file is read once for the signing-block schemes: their blocks are parsed first to
learn which content digests are needed, then ``digests.compute_digests`` makes one
sequential pass computing those digests together with the whole-file hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apkscan.apk.signing import digests
from apkscan.apk.signing import signing_block
from apkscan.apk.signing.stamp import verifier as source_stamp
from apkscan.apk.signing.v1 import verifier as v1
from apkscan.apk.signing.v2v3 import verifier as v2v3
from apkscan.apk.signing.v4 import verifier as v4
from apkscan.apk.crypto.algorithms import ContentDigest
from apkscan.apk.manifest.android_manifest import MIN_SDK_BLOCKING_CODES, apksig_target_sandbox_version, apksig_target_sdk
from apkscan.apk.model import (
    SCHEME_NAMES,
    Certificate,
    CertificateSighting,
    FileFacts,
    ManifestInfo,
    SchemeResult,
    VerificationResult,
)
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkScanError, Issue, error, warning

MAX_SDK = 2**31 - 1
SDK_N, SDK_O, SDK_P, SDK_R, SDK_T = 24, 26, 28, 30, 33

V2_BLOCK_ID = 0x7109871A
V3_BLOCK_ID = 0xF05368C0
V31_BLOCK_ID = 0x1B93AD61
STAMP_V1_BLOCK_ID, STAMP_V2_BLOCK_ID = 0x2B09189E, 0x6DFF800D
STAMP_BLOCK_IDS = (STAMP_V1_BLOCK_ID, STAMP_V2_BLOCK_ID)
KNOWN_BLOCK_IDS = {
    V2_BLOCK_ID,
    V3_BLOCK_ID,
    V31_BLOCK_ID,
    *STAMP_BLOCK_IDS,
    0x42726577,  # verity padding
    0x504B4453,  # dependency info (Play)
    0x71777777,  # Play "frosting" metadata
}
SCHEME_VERSION = {"v1": 1, "v2": 2, "v3": 3, "v31": 31, "v4": 4}
STAMP_CERT_ENTRY = "stamp-cert-sha256"


@dataclass(slots=True)
class VerifyOutcome:
    verification: VerificationResult
    file: FileFacts
    tamper: list[Issue] = field(default_factory=list)


def verify(
    zip: ZipArchive,
    manifest: ManifestInfo | None,
    manifest_axml: bytes | None = None,
    *,
    min_sdk: int | None = None,
    max_sdk: int = MAX_SDK,
    idsig_path: str | None = None,
) -> VerifyOutcome:
    """Verify every scheme of the APK and decide apksigner's verdict over the SDK range."""
    # apksigner reads minSdkVersion from the manifest unless told; when it cannot, it refuses.
    min_sdk_known = min_sdk is not None or (
        manifest is not None and not any(i.code in MIN_SDK_BLOCKING_CODES for i in manifest.errors)
    )
    if min_sdk is None:
        min_sdk = manifest.min_sdk if manifest and manifest.min_sdk is not None else 1
    schemes = {name: SchemeResult(name) for name in SCHEME_NAMES}
    verdict_warnings: list[Issue] = []
    tamper: list[Issue] = []

    # --- 1. APK Signing Block: parse v2/v3/v3.1 without touching content ---------
    block = signing_block.find_signing_block(zip)
    tamper.extend(block.tamper)
    pairs = block.pairs if block.found else {}
    unknown = [bid for bid in block.pair_ids if bid not in KNOWN_BLOCK_IDS] if block.found else []

    # Every block present is parsed (reports show it); which ones count follows apksig:
    # v3.1 from API 33, v3 from 28, v2 when the range starts below 28 or no v3 exists.
    parsed: dict[str, v2v3.ParsedScheme] = {}
    if V31_BLOCK_ID in pairs:
        parsed["v31"] = v2v3.parse_scheme(pairs[V31_BLOCK_ID], "v31", max(min_sdk, SDK_T), max_sdk)
    v31_counts = "v31" in parsed and max_sdk >= SDK_T
    if V3_BLOCK_ID in pairs:
        parsed["v3"] = v2v3.parse_scheme(
            pairs[V3_BLOCK_ID], "v3", max(min_sdk, SDK_P), max_sdk,
            rotation_min_sdk=parsed["v31"].rotation_min_sdk() if v31_counts else 0,
        )
    found_ids = {31} if v31_counts else set()
    if "v3" in parsed and max_sdk >= SDK_P:
        found_ids.add(3)
    if V2_BLOCK_ID in pairs:
        parsed["v2"] = v2v3.parse_scheme(
            pairs[V2_BLOCK_ID], "v2", max(min_sdk, SDK_N), max_sdk,
            found_scheme_ids=frozenset(found_ids), supported_scheme_ids=_supported_ids(max_sdk),
        )
        if max_sdk >= SDK_N and (min_sdk < SDK_P or not found_ids):
            found_ids.add(2)

    # --- 2. one pass over the file: whole-file hashes + every needed content digest
    wanted: set[ContentDigest] = set()
    for p in parsed.values():
        wanted |= p.required_digests()
    v4_file = None
    if idsig_path is not None:
        try:
            v4_file = v4.parse_idsig(idsig_path)
        except ApkScanError as exc:
            schemes["v4"] = SchemeResult("v4", present=True, errors=[exc.to_issue()])
    pass_ = digests.compute_digests(
        zip, block.offset if block.found else None, wanted, want_verity_root=v4_file is not None
    )
    for name, p in parsed.items():
        schemes[name] = v2v3.finish_scheme(p, pass_.content)
    # e.g. a verity digest that is undefined for a misaligned block: the signer fails on it,
    # and the reason is kept here for the report
    verdict_warnings.extend(warning(i.code, i.message) for i in pass_.issues)

    # --- 3. v1 (JAR) ----------------------------------------------------------
    # Stripping protection asks "was the scheme the .SF names found?". When apksig would
    # verify v1 this is its own found set; otherwise v1 is checked only for the report,
    # against the blocks present, so a v1 that is simply not needed raises no alarm.
    v1_counts = min_sdk < SDK_N or not found_ids
    present_ids = found_ids | {SCHEME_VERSION[s] for s in parsed if s in ("v2", "v3")}
    v1_result = v1.verify_v1(zip, min_sdk, max_sdk, frozenset(found_ids if v1_counts else present_ids))
    schemes["v1"] = v1_result.scheme

    # --- 4. apksig's order of decision -----------------------------------------
    used: list[str] = []
    decided_errors: list[Issue] = []

    def take(name: str) -> bool:
        """Count scheme ``name`` towards the verdict; False stops (it has errors)."""
        s = schemes[name]
        used.append(name)
        errs = s.all_errors()
        decided_errors.extend(errs)
        return not errs

    ok = True
    if max_sdk >= SDK_N:
        if ok and v31_counts:
            ok = take("v31")
        if ok and max_sdk >= SDK_P:
            if "v3" in parsed:
                ok = take("v3")
            elif v31_counts:
                decided_errors.append(error("V31_BLOCK_FOUND_WITHOUT_V3_BLOCK", "v3.1 signature block found without a v3 block"))
                ok = False
        found_for_v2 = [s for s in ("v31", "v3") if s in used]
        if ok and "v2" in parsed and (min_sdk < SDK_P or not found_for_v2):
            ok = take("v2")
        if v4_file is not None:
            schemes["v4"] = v4.verify_v4(
                v4_file, pass_.verity_root, _best_v2v3_digests(parsed, used), min_sdk, max_sdk,
                apk_size=pass_.file.size, signers=v4.signers_from_parsed(parsed, used),
            )
        if ok and idsig_path is not None:
            ok = take("v4")
    if ok and max_sdk >= SDK_O and manifest_axml is not None:
        sandbox = apksig_target_sandbox_version(manifest_axml)
        if sandbox > 1 and not any(s in used for s in ("v2", "v3", "v31")):
            decided_errors.append(error("NO_SIG_FOR_TARGET_SANDBOX_VERSION", f"targetSandboxVersion {sandbox} requires an APK Signature Scheme v2 or newer signature"))
            ok = False
    sig_block_used = [s for s in used if s in ("v2", "v3", "v31")]
    if ok and (min_sdk < SDK_N or not sig_block_used):
        ok = take("v1")

    # source stamp
    stamp_entry = zip.entry(STAMP_CERT_ENTRY)
    stamp_blocks = [pairs[b] for b in STAMP_BLOCK_IDS if b in pairs]
    stamp = None
    if stamp_entry is not None or stamp_blocks:
        stamp = source_stamp.verify_source_stamp(
            pairs.get(STAMP_V2_BLOCK_ID),  # current apksig ignores the v1 stamp block
            _read_small(zip, stamp_entry),
            _scheme_digests(parsed, used, v1_result),
            max(min_sdk, SDK_R),
            max_sdk,
        )
        schemes["source_stamp"] = stamp.scheme
        if ok and stamp_entry is not None:
            if stamp_blocks:
                stamp_errs = stamp.scheme.all_errors()
                decided_errors.extend(stamp_errs)
                ok = not stamp_errs
            else:
                verdict_warnings.append(warning("SOURCE_STAMP_SIG_MISSING", "stamp-cert-sha256 entry present but no source stamp block"))

    if ok:
        ok = _cross_scheme_checks(schemes, used, decided_errors)
    if ok and manifest_axml is not None:
        target = apksig_target_sdk(manifest_axml)
        if target >= SDK_R and max_sdk >= target and not any(s in used for s in ("v2", "v3", "v31")):
            decided_errors.append(error("MIN_SIG_SCHEME_FOR_TARGET_SDK_NOT_MET", f"targetSdkVersion {target} requires an APK Signature Scheme v2 or newer signature"))
            ok = False
    if not min_sdk_known:
        decided_errors.append(error("MIN_SDK_UNKNOWN", "minSdkVersion cannot be read from AndroidManifest.xml, so the SDK range to verify for is unknown (apksigner refuses the APK; use --min-sdk-version)"))
        ok = False

    verified = ok and bool(used) and not decided_errors
    signers = _verdict_signers(schemes, used) if verified else []
    result = VerificationResult(
        verified=verified,
        min_sdk=min_sdk,
        max_sdk=max_sdk,
        schemes=schemes,
        signers=signers,
        certificates_present=_all_certificates(schemes),
        sightings=_sightings(schemes),
        lineage=_lineage(schemes, used),
        source_stamp=stamp.certificate if stamp else None,
        source_stamp_verified=bool(stamp and stamp.scheme.verified),
        unknown_blocks=unknown,
        errors=[] if verified else _dedupe(decided_errors),
        warnings=verdict_warnings,
    )
    result.verified_using = [s for s in used if schemes[s].verified] if verified else []
    return VerifyOutcome(result, pass_.file, tamper)


# ---------------------------------------------------------------------- helpers
def _supported_ids(max_sdk: int) -> frozenset[int]:
    if max_sdk >= SDK_P:
        return frozenset({2, 3})
    if max_sdk >= SDK_N:
        return frozenset({2})
    return frozenset()


def _read_small(zip: ZipArchive, entry) -> bytes | None:
    if entry is None:
        return None
    try:
        return zip.read(entry, 1 << 16)
    except ApkScanError:
        return b""


def _best_v2v3_digests(parsed, used):
    for name in ("v31", "v3", "v2"):
        if name in parsed and name in used:
            return parsed[name].signed_digests()
    return {}


def _scheme_digests(parsed, used, v1_result):
    out: dict[int, dict[ContentDigest, bytes]] = {}
    for name, p in parsed.items():
        if name in used:  # apksig hands the stamp only the digests of schemes it verified
            out[SCHEME_VERSION[name]] = p.signed_digests()
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
        lineage = schemes["v3"].lineage
        if not lineage:
            v3s = [s for s in schemes["v3"].signers if s.certificate]
            if len(v3s) != 1:
                errors.append(error("V3_SIG_MULTIPLE_SIGNERS", "several v3 signers without a rotation lineage"))
            if not v3s or v3s[0].certificate.der != old_cert:
                errors.append(error("V3_SIG_PAST_SIGNERS_MISMATCH", "v1/v2 signer differs from the v3 signer and no lineage links them"))
        elif lineage[0].certificate.der != old_cert:
            errors.append(error("V3_SIG_PAST_SIGNERS_MISMATCH", "v1/v2 signer is not the root of the v3 signing-certificate lineage"))
    return len(errors) == before


def _verdict_signers(schemes: dict[str, SchemeResult], used: list[str]) -> list[Certificate]:
    """apksigner's signer list: newest v3.1/v3 signer, else all v2, else all v1 signers."""
    for name in ("v31", "v3"):
        if name in used and schemes[name].verified and schemes[name].signers:
            cert = schemes[name].signers[-1].certificate
            return [cert] if cert else []
    for name in ("v2", "v1"):
        if name in used and schemes[name].verified:
            return [s.certificate for s in schemes[name].signers if s.verified and s.certificate]
    return []


def _lineage(schemes: dict[str, SchemeResult], used: list[str]):
    """The rotation lineage, only from a v3.1/v3 scheme that counted and verified.

    A lineage inside a scheme that failed or did not count for the SDK range stays in that
    scheme's own result for the report; it must never vouch for a past key.
    """
    for name in ("v31", "v3"):
        if name in used and schemes[name].verified and schemes[name].lineage:
            return schemes[name].lineage
    return []


def _all_certificates(schemes: dict[str, SchemeResult]) -> list[Certificate]:
    seen: dict[str, Certificate] = {}
    for s in schemes.values():
        for signer in s.signers:
            for c in ([signer.certificate] if signer.certificate else []) + signer.chain:
                seen.setdefault(c.sha256, c)
        for node in s.lineage:
            seen.setdefault(node.certificate.sha256, node.certificate)
    return list(seen.values())


_SCHEME_LABEL = {"v1": "v1 JAR", "v2": "v2", "v3": "v3", "v31": "v3.1", "v4": "v4",
                 "source_stamp": "source stamp"}


def _sightings(schemes: dict[str, SchemeResult]) -> list[CertificateSighting]:
    """Every place a certificate sits, in scheme order, with whether that place verified."""
    out: list[CertificateSighting] = []
    for name, s in schemes.items():
        label = _SCHEME_LABEL.get(name, name)
        for signer in s.signers:
            role = "stamp" if name == "source_stamp" else "signer"
            if signer.certificate is not None:
                out.append(CertificateSighting(signer.certificate, f"{label} {signer.name}, signing "
                                               "certificate", role, signer.verified))
            where = "PKCS#7 certificate set" if name == "v1" else "certificate list"
            for i, c in enumerate(signer.chain):
                if signer.certificate is not None and c.sha256 == signer.certificate.sha256:
                    continue
                out.append(CertificateSighting(c, f"{label} {signer.name}, extra certificate "
                                               f"{i + 1} of the {where}", "extra", signer.verified))
        for i, node in enumerate(s.lineage):
            out.append(CertificateSighting(node.certificate, f"{label} lineage node {i}",
                                           "lineage", node.verified))
    return out


def _dedupe(issues: list[Issue]) -> list[Issue]:
    out, seen = [], set()
    for i in issues:
        if (i.code, i.message) not in seen:
            seen.add((i.code, i.message))
            out.append(i)
    return out
