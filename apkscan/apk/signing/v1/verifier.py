"""APK v1 (JAR) signature verification with Android's rules, after apksig's V1SchemeVerifier.

Three links are checked, in apksig's order and with its issue names: each signature
block (.RSA/.DSA/.EC, PKCS #7) signs its .SF file; each .SF file vouches for MANIFEST.MF
(whole, or main section plus per-entry sections); MANIFEST.MF holds the digest of every
ZIP entry outside META-INF/. What Android accepts varies with the SDK level (digest and
signature algorithms, signed attributes, X-Android-APK-Signed stripping protection), so
everything is decided over the caller's [min_sdk, max_sdk] range.

Certificates of every signature block are reported even when nothing verifies, with
``verified=False``: present is not the same as verified. Signers apksig *ignores* keep
their issues as warnings, as they do not decide the verdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from apkscan.apk.crypto import pkcs7
from apkscan.apk.crypto.asn1 import Asn1Error
from apkscan.apk.signing.v1 import jar_manifest as jm
from apkscan.apk.signing.v1 import signature_file as sf_check
from apkscan.apk.crypto.certificates import certificate_from_der
from apkscan.apk.model import Certificate, SchemeResult, SignerResult
from apkscan.apk.io.zipreader import ZipArchive, ZipEntry
from apkscan.issues import ApkScanError, Issue, LimitExceeded, error, warning
from apkscan.apk.signing.common import Sdk
from apkscan.apk.crypto.dss_der import NOT_DER_MINIMAL
from apkscan.apk.signing.v1.signer_info import SignerInfoError, not_der_minimal, verify_signer_info

MANIFEST_NAME = jm.MANIFEST_NAME
MAX_METADATA_SIZE = 16 << 20  # signature blocks (.RSA/.DSA/.EC): certificates and a signature
MAX_MANIFEST_SIZE = jm.MAX_MANIFEST_SIZE  # MANIFEST.MF and .SF: one section per entry (apksig: no cap)
MAX_SIGNERS = 10  # apksig Constants.MAX_APK_SIGNERS
MAX_ISSUES_PER_CODE = 50
BLOCK_SUFFIXES = (".RSA", ".DSA", ".EC")


@dataclass(slots=True)
class V1Result:
    """The v1 (JAR) scheme's result and what the source stamp and v2+ checks read of it."""

    scheme: SchemeResult  # name "v1"
    manifest_sha256: bytes | None  # SHA-256 of MANIFEST.MF (the source stamp's v1 digest)
    apk_signed_schemes: set[int] = field(default_factory=set)  # X-Android-APK-Signed of verified .SF files


@dataclass(slots=True, eq=False)
class _Signer:
    """One v1 signer while it is checked: its block, its .SF file and their parsed forms."""

    name: str  # signature block name without "META-INF/", as apksig names signers
    block: ZipEntry
    sf: ZipEntry
    result: SignerResult
    sf_bytes: bytes = b""
    sf_main: jm.Section | None = None
    sf_entries: set[str] = field(default_factory=set)


class _Issues:
    """Issue list with a per-code cap, so hostile archives give readable reports."""

    def __init__(self, target: list[Issue]):
        self.target, self.counts = target, {}

    def add(self, issue: Issue) -> None:
        n = self.counts[issue.code] = self.counts.get(issue.code, 0) + 1
        if n <= MAX_ISSUES_PER_CODE:
            self.target.append(issue)
        elif n == MAX_ISSUES_PER_CODE + 1:
            self.target.append(Issue(issue.code, f"further {issue.code} issues omitted", issue.severity))


def verify_v1(zip: ZipArchive, min_sdk: int, max_sdk: int, present_scheme_ids: frozenset[int],
              precomputed: Mapping[int, tuple[str, ...] | ApkScanError] | None = None, quick: bool = False,
              manifests: jm.ManifestOnce | None = None) -> V1Result:
    """Verify the JAR signature over [min_sdk, max_sdk]; never raises for bad input.

    ``precomputed``: entry index -> the hashlib names of the digests the file pass found
    different from MANIFEST.MF's (empty: all match), or the error the pass met reading the
    entry (raised here as if v1 had streamed it); an entry not in it is streamed here.
    ``quick``: .SF signatures and .SF -> MANIFEST.MF only; entry digests are not checked.
    ``manifests``: MANIFEST.MF as the pass's plan already read and parsed it.
    """
    scheme = SchemeResult("v1")
    out = V1Result(scheme, None)
    state = _State(zip, min_sdk, max_sdk, frozenset(present_scheme_ids), out)
    state.precomputed = precomputed or {}
    state.quick = quick
    state.manifests = manifests or jm.ManifestOnce(zip)
    if min_sdk > max_sdk:  # apksig refuses the range: nothing is checked, but the signers' certificates are
        state.collect()  # still present (unverified), as at any other range (review 60 F4); the range's
        # error is the APK's (verifier.verify), not v1's: v1 may not even be present (review 71 F2)
    else:
        try:
            state.run()
        except ApkScanError as exc:
            scheme.errors.append(exc.to_issue())
            _note_limit(zip, exc)
            state.done = False
    unread = [s for s in state.signers + state.orphans if s.result.certificate is None and not s.result.chain]
    for signer in unread[:MAX_SIGNERS]:  # each block up to 16 MiB: a bound on how many are read for display
        _fill_present_certificates(zip, signer)
    if len(unread) > MAX_SIGNERS:
        scheme.warnings.append(warning("JAR_SIG_BLOCKS_NOT_READ", f"{len(unread) - MAX_SIGNERS} more signature blocks "
                                       f"whose certificates were not read (at most {MAX_SIGNERS})"))
    scheme.signers = [s.result for s in state.signers + state.orphans]
    scheme.verified = state.done and not scheme.all_errors()
    if not scheme.verified:
        for s in scheme.signers:
            s.verified = False
        out.apk_signed_schemes = set()
    return out


class _State:
    def __init__(self, zip: ZipArchive, min_sdk: int, max_sdk: int, found_ids: frozenset[int], out: V1Result):
        self.zip, self.min_sdk, self.max_sdk, self.found_ids, self.out = zip, min_sdk, max_sdk, found_ids, out
        self.scheme = out.scheme
        self.errors, self.warnings = _Issues(self.scheme.errors), _Issues(self.scheme.warnings)
        self.signers: list[_Signer] = []
        self.orphans: list[_Signer] = []  # signature blocks without their .SF
        # v1's entries: apksig's central-directory parser drops directory records (names ending
        # in "/") before v1 sees the list, so none is an entry here (review 57 F2, F3)
        self.files = [e for e in zip.entries if not e.is_directory]
        self.done = False
        self.precomputed: Mapping[int, tuple[str, ...] | ApkScanError] = {}
        self.quick = False
        self.manifests = jm.ManifestOnce(zip)

    # ------------------------------------------------------------------ top level
    def collect(self) -> ZipEntry | None:
        """The signature blocks as signers (with their .SF) or orphans, nothing read or checked;
        returns MANIFEST.MF's entry."""
        manifest_entry, sf_entries, blocks = self._find_signature_files()
        self.scheme.present = bool(sf_entries or blocks)
        for block in blocks:
            base = block.name[: block.name.rfind(".")]
            sf = sf_entries.get(base + ".SF")
            signer = _Signer(block.name[len("META-INF/"):], block, sf, SignerResult(base + ".SF", None))
            if sf is None:
                signer.result.name = block.name
                signer.result.warnings.append(warning("JAR_SIG_MISSING_FILE", f"partial JAR signature: found {block.name}, missing {base}.SF"))
                self.orphans.append(signer)
            else:
                self.signers.append(signer)
        return manifest_entry

    def run(self) -> None:
        manifest_entry = self.collect()
        self._check_duplicates()
        if self.scheme.errors:
            return
        if manifest_entry is None:
            self.errors.add(error("JAR_SIG_NO_MANIFEST", f"missing {MANIFEST_NAME}"))
            return
        self.zip.check_local_header(manifest_entry)  # apksig reads each entry through LocalFileRecord
        manifest = self.manifests.read(manifest_entry, MAX_MANIFEST_SIZE)
        self.out.manifest_sha256 = hashlib.sha256(manifest).digest()
        main, sections = self._parse_manifest(manifest_entry)
        if self.scheme.errors:
            return
        if not self.signers:
            self.errors.add(error("JAR_SIG_NO_SIGNATURES", "no JAR signatures"))
            return
        if len(self.signers) > MAX_SIGNERS:
            self.errors.add(error("JAR_SIG_MAX_SIGNATURES_EXCEEDED", f"{len(self.signers)} JAR signers, at most {MAX_SIGNERS} are supported"))
            return
        for signer in self.signers:  # any failure stops verification, as on Android
            self._verify_block(signer)
        if self._signer_errors():
            return
        remaining = []
        for signer in self.signers:
            check = sf_check.verify_sf(signer.sf_bytes, signer.sf.name, manifest, main, sections, self.min_sdk, self.max_sdk, self.found_ids)
            signer.sf_main, signer.sf_entries = check.main, check.entries
            signer.sf_bytes = b""  # checked: up to MAX_MANIFEST_SIZE not held while the entries are
            warnings, errors = _Issues(signer.result.warnings), _Issues(signer.result.errors)
            for issue in check.warnings:
                warnings.add(issue)
            for issue in check.errors:  # an ignored signer's problems do not decide the verdict
                (warnings if check.ignored else errors).add(issue)
            if not check.ignored and not check.errors:
                remaining.append(signer)
        if self._signer_errors():
            return
        if not remaining:
            self.errors.add(error("JAR_SIG_NO_SIGNATURES", "no JAR signatures"))
            return
        apk_signers = self._verify_entries(sections, remaining)
        if self.scheme.errors:
            return
        self._finish(apk_signers)

    def _finish(self, apk_signers: list[_Signer]) -> None:
        """Every entry verified: note unprotected META-INF entries, mark the signers verified."""
        protected = {MANIFEST_NAME} | {n for s in apk_signers for n in (s.block.name, s.sf.name)}
        for entry in self.files:
            if entry.name.startswith("META-INF/") and entry.name not in protected:
                self.warnings.add(warning("JAR_SIG_UNPROTECTED_ZIP_ENTRY", f"{entry.name} not protected by signature; unauthorized modifications to this JAR entry will not be detected"))
        if self.quick:
            self.warnings.add(warning("CONTENT_DIGESTS_NOT_CHECKED", "JAR entry digests not checked (--quick): signatures over MANIFEST.MF only"))
        for signer in apk_signers:  # the rest are ignored, as apksig's ignoredSigners
            signer.result.verified = True
            self.out.apk_signed_schemes |= sf_check.apk_signed_ids(signer.sf_main)
        self.done = True

    def _signer_errors(self) -> bool:
        return any(s.result.errors for s in self.signers)

    def _find_signature_files(self) -> tuple[ZipEntry | None, dict[str, ZipEntry], list[ZipEntry]]:
        manifest, sfs, blocks = None, {}, []
        for entry in self.files:
            name = entry.name
            if not name.startswith("META-INF/"):
                continue
            if manifest is None and name == MANIFEST_NAME:
                manifest = entry
            elif name.endswith(".SF"):
                sfs[name] = entry
            elif name.endswith(BLOCK_SUFFIXES):
                blocks.append(entry)
        return manifest, sfs, blocks

    def _check_duplicates(self) -> None:
        """Each name used twice, once: the archive's index keeps the first entry of a name, so
        a later one is a duplicate (no second set of 65,000 names). Directory records (names
        ending in ``/``) are not entries to v1: apksig's central-directory parser drops them, so
        two ``assets/`` records are no duplicate (review 57 F2; the ZIP's own tamper fact stays)."""
        reported: set[str] = set()
        for entry in self.files:
            if self.zip.entry(entry.name) is not entry and entry.name not in reported:
                reported.add(entry.name)
                self.errors.add(error("JAR_SIG_DUPLICATE_ZIP_ENTRY", f"duplicate entry: {entry.name}"))

    def _parse_manifest(self, entry: ZipEntry) -> tuple[jm.Section | None, jm.Sections]:
        """MANIFEST.MF's sections, shared with the pass's plan; a section without a name, a name
        used twice, or naming no entry, is an error (``get`` finds a name's first section)."""
        main, sections = self.manifests.parse(entry, MAX_MANIFEST_SIZE)
        for number, name in enumerate(sections.names, 1):
            if name is None:
                self.errors.add(error("JAR_SIG_UNNNAMED_MANIFEST_SECTION", f"malformed {MANIFEST_NAME}: invidual section #{number} does not have a name"))
            elif sections.first(name) != number - 1:
                self.errors.add(error("JAR_SIG_DUPLICATE_MANIFEST_SECTION", f"duplicate section in {MANIFEST_NAME}: {name}"))
            elif name.endswith("/") or self.zip.entry(name) is None:  # a directory record is no entry
                self.errors.add(error("JAR_SIG_MISSING_ZIP_ENTRY_REFERENCED_IN_MANIFEST", f"{name} entry referenced by {MANIFEST_NAME} not found in the APK"))
        return main, sections

    # ------------------------------------------------------------------ block -> .SF
    def _verify_block(self, signer: _Signer) -> None:
        res = signer.result
        try:
            self.zip.check_local_header(signer.block)
            block = self.zip.read(signer.block, MAX_METADATA_SIZE)
            self.zip.check_local_header(signer.sf)
            signer.sf_bytes = self.zip.read(signer.sf, MAX_MANIFEST_SIZE)
        except ApkScanError as exc:
            res.errors.append(exc.to_issue())
            _note_limit(self.zip, exc)
            return
        bname, sfname = signer.block.name, signer.sf.name
        try:
            sd = pkcs7.parse_signed_data(block)
        except pkcs7.Pkcs7LimitError as exc:  # our bound, not apksig's: the block is not read
            issue = error(exc.code, f"JAR signature {bname} not read: {exc}")
            res.errors.append(issue)
            self.zip.note_limit(issue)
            return
        except (Asn1Error, pkcs7.Pkcs7Error, ValueError) as exc:  # ValueError: e.g. int/str limits on hostile numbers
            res.errors.append(error("JAR_SIG_PARSE_EXCEPTION", f"failed to parse JAR signature {bname}: {exc}"))
            return
        certs, cert_error = _set_certificates(res, sd)
        if not sd.signer_infos:
            res.errors.append(error("JAR_SIG_NO_SIGNERS", f"JAR signature {bname} contains no signers"))
            return
        infos = sd.signer_infos[:1] if self.min_sdk < Sdk.N else sd.signer_infos  # pre-N: first only
        if cert_error is not None:
            res.errors.append(error("JAR_SIG_PARSE_EXCEPTION", f"failed to parse JAR signature {bname}: certificate: {cert_error}"))
            return
        verified = None
        for si in infos:
            try:
                cert = verify_signer_info(sd, certs, si, signer.sf_bytes, self.min_sdk, self.max_sdk, bname, sfname)
            except SignerInfoError as exc:
                res.errors.append(error(exc.code, exc.message))
                return
            if cert is not None and not_der_minimal(si):
                res.warnings.append(warning("SIG_NOT_DER_MINIMAL", f"JAR signature {bname}: {NOT_DER_MINIMAL}"))
            verified = verified or cert
        if verified is None:
            res.errors.append(error("JAR_SIG_DID_NOT_VERIFY", f"JAR signature {bname} did not verify against {sfname}"))
            return
        chain = pkcs7.certificate_chain(certs, verified)
        rest = [c for c in certs if all(c is not x for x in chain)]
        res.chain = [certificate_from_der(c.der) for c in chain + rest]
        res.certificate = res.chain[0]

    # ------------------------------------------------------------------ MANIFEST.MF -> entries
    def _verify_entries(self, sections: jm.Sections, signers: list[_Signer]) -> list[_Signer]:
        """Check every entry's digests; returns the signer set covering all signed entries."""
        first_signers: list[_Signer] | None = None
        first_name = None
        for entry in sorted(self.files, key=lambda e: e.local_header_offset):
            name = entry.name
            if name.startswith("META-INF/"):
                continue
            if name not in sections:  # a Section is made below only for an entry the pass did not check
                self.errors.add(error("JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_MANIFEST", f"no digest for {name} in {MANIFEST_NAME}"))
                continue
            entry_signers = [s for s in signers if name in s.sf_entries]
            if not entry_signers:
                self.errors.add(error("JAR_SIG_ZIP_ENTRY_NOT_SIGNED", f"{name} entry not signed"))
                continue
            if first_signers is None:
                first_signers, first_name = entry_signers, name
            elif entry_signers != first_signers:
                self.errors.add(error("JAR_SIG_ZIP_ENTRY_SIGNERS_MISMATCH", f"entries {first_name} and {name} are signed with different sets of signers: <{_names(first_signers)}> vs <{_names(entry_signers)}>"))
                continue
            checked = self.precomputed.get(entry.index)  # the pass's plan found digests to check: not decoded again
            if checked is not None:
                differing = [jm.JCA_NAMES[n] for n in self._checked(entry, checked)]
            else:
                expected = jm.digests_to_verify(sections.get(name), "-Digest", self.min_sdk, self.max_sdk)
                if not expected:
                    self.errors.add(error("JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_MANIFEST", f"no digest for {name} in {MANIFEST_NAME}"))
                    continue
                if self.quick:
                    continue
                differing = [d.algorithm for d, got in zip(expected, self._entry_digests(entry, expected)) if got != d.digest]
            for algorithm in differing:
                self.errors.add(error("JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY", f"{algorithm} digest of {name} does not match the digest specified in {MANIFEST_NAME}"))
        if first_signers is None:
            self.errors.add(error("JAR_SIG_NO_SIGNED_ZIP_ENTRIES", "no JAR entries covered by JAR signatures"))
            return []
        return first_signers

    def _checked(self, entry: ZipEntry, checked: tuple[str, ...] | ApkScanError) -> tuple[str, ...]:
        """The pass's verdict on the entry, met where streaming it would have met it."""
        self.zip.check_local_header(entry)  # where apksig's LocalFileRecord throws "Malformed ZIP entry"
        if isinstance(checked, ApkScanError):
            raise checked
        return checked

    def _entry_digests(self, entry: ZipEntry, expected) -> list[bytes]:
        """Digests of the entry's uncompressed bytes, streamed here (the pass did not check
        it), every algorithm in one read."""
        names = [jm.HASHLIB_NAMES[d.algorithm] for d in expected]
        self.zip.check_local_header(entry)  # where apksig's LocalFileRecord throws "Malformed ZIP entry"
        hashers = [hashlib.new(n) for n in names]
        for chunk in self.zip.stream(entry):
            for h in hashers:
                h.update(chunk)
        return [h.digest() for h in hashers]


# ---------------------------------------------------------------------- helpers
def _note_limit(zip: ZipArchive, exc: ApkScanError) -> None:
    """A size or count cap (not the input's bytes) stopped v1: the archive keeps it, and
    ``identify`` lists it as an input-level error with the signatures partly read. The time
    budget has its own path (``identify._note_expired``)."""
    if isinstance(exc, LimitExceeded) and exc.code != "INPUT_TIMEOUT":
        zip.note_limit(exc.to_issue())


def _names(signers: list[_Signer]) -> str:
    return ", ".join(s.name for s in signers)


def _set_certificates(res: SignerResult, sd: pkcs7.SignedData) -> tuple[list, str | None]:
    """Record the block's certificates as present (signer's first when it can be found).

    Returns the certificates parsed for signer lookup (each parsed once, here), or the
    reason they could not be.
    """
    certs: list[Certificate] = [certificate_from_der(der) for der in sd.certificates]
    res.chain = certs
    res.certificate = certs[0] if certs else None
    try:
        parsed = [pkcs7.parse_certificate(der) for der in sd.certificates]
    except (ValueError, IndexError) as exc:
        return [], str(exc)
    if sd.signer_infos and certs:
        match = pkcs7.find_certificate(parsed, sd.signer_infos[0])
        if match is not None:
            res.certificate = certs[parsed.index(match)]
    return parsed, None


def _fill_present_certificates(zip: ZipArchive, signer: _Signer) -> None:
    """Certificates of a block verification never reached (present, not verified)."""
    try:
        sd = pkcs7.parse_signed_data(zip.read(signer.block, MAX_METADATA_SIZE))
    except (ApkScanError, Asn1Error, ValueError):  # Pkcs7Error is a ValueError
        return
    _set_certificates(signer.result, sd)
