"""Typed results of the apk layer: what one APK *is* and who *verifiably* signed it.

These dataclasses are the contract between the apk layer and everything after it
(rules, policy, reports, the scan store). They hold no file handles and no parsers,
only facts, so they pickle across process pools and serialise to JSON with
``to_dict()``.

The central distinction: a :class:`Certificate` found in a file is only *present*;
it becomes a *verified signer* only when a :class:`SchemeResult` that verified lists
it in ``signers`` with ``verified=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apkscan.apk.completeness import PARTS, Completeness  # noqa: F401 - PARTS re-exported
from apkscan.issues import Issue, Severity

def filed(errors, warnings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(errors, warnings) as the document lists them: each issue in the list its severity names,
    whichever list a stage kept it in (a pipeline reading ``errors`` gets every error and no
    warning); tamper facts kept with errors (a backup's trailing data) stay where they are."""
    errors, warnings = list(errors), list(warnings)
    return ([i.to_dict() for i in errors if i.severity is not Severity.WARNING]
            + [i.to_dict() for i in warnings if i.severity is Severity.ERROR],
            [i.to_dict() for i in warnings if i.severity is not Severity.ERROR]
            + [i.to_dict() for i in errors if i.severity is Severity.WARNING])


SCHEME_NAMES = ("v1", "v2", "v3", "v31", "v4", "source_stamp")
ORIGINS = ("apk", "recorded", "listed", "bundle")


@dataclass(slots=True)
class Certificate:
    """An X.509 certificate as an identity: digests of its DER bytes plus names."""

    sha256: str
    sha1: str
    md5: str
    subject: str  # RFC 4514 string
    issuer: str  # RFC 4514 string
    subject_attrs: dict[str, list[str]] = field(default_factory=dict)  # CN, O, OU, L, ST, C, ...
    issuer_attrs: dict[str, list[str]] = field(default_factory=dict)
    serial: str = ""  # lower-case hex, no leading zeros; "-" prefix if negative
    not_before: str | None = None  # ISO 8601 UTC
    not_after: str | None = None
    key_algorithm: str | None = None  # "RSA", "EC", "DSA", "Ed25519", ...
    key_size: int | None = None  # bits (curve size for EC)
    ec_curve: str | None = None
    public_key_sha256: str | None = None  # SHA-256 of SubjectPublicKeyInfo DER
    public_key_sha1: str | None = None  # SHA-1 and MD5 of it, as apksigner --print-certs prints them
    public_key_md5: str | None = None
    subject_androidqf: str = ""  # AndroidQF/apkverifier CertInfo form (what MVT reads), see apk/interop.py
    issuer_androidqf: str = ""
    serial_decimal: str = ""  # the same serial in decimal (AndroidQF's SerialNumber)
    signature_algorithm: str | None = None  # e.g. "sha256WithRSAEncryption"
    self_signed: bool = False
    is_android_debug: bool = False  # CN=Android Debug, O=Android, C=US
    weaknesses: list[str] = field(default_factory=list)  # e.g. "rsa-1024", "md5-signature"
    parse_errors: list[str] = field(default_factory=list)  # DER we could hash but not fully parse
    der: bytes = field(default=b"", repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "sha1": self.sha1,
            "md5": self.md5,
            "subject": self.subject,
            "issuer": self.issuer,
            "subject_attrs": self.subject_attrs,
            "issuer_attrs": self.issuer_attrs,
            "serial": self.serial,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "key_algorithm": self.key_algorithm,
            "key_size": self.key_size,
            "ec_curve": self.ec_curve,
            "public_key_sha256": self.public_key_sha256,
            "public_key_sha1": self.public_key_sha1,
            "public_key_md5": self.public_key_md5,
            "subject_androidqf": self.subject_androidqf,
            "issuer_androidqf": self.issuer_androidqf,
            "serial_decimal": self.serial_decimal,
            "signature_algorithm": self.signature_algorithm,
            "self_signed": self.self_signed,
            "is_android_debug": self.is_android_debug,
            "weaknesses": list(self.weaknesses),
            "parse_errors": list(self.parse_errors),
        }


@dataclass(slots=True)
class SignerResult:
    """One signer inside one scheme (a v1 .SF/.RSA pair, a v2/v3 signer block, ...)."""

    name: str  # v1: signature file name ("META-INF/CERT.SF"); v2/v3: "signer #1"
    certificate: Certificate | None  # the signing certificate, if one could be read
    chain: list[Certificate] = field(default_factory=list)  # every certificate in the signer block
    verified: bool = False
    signature_only: bool = False  # --quick: its signature over the signed data checked out, content not checked
    min_sdk: int | None = None  # v3/v3.1 signer SDK range
    max_sdk: int | None = None
    # v3.1: the rotation-targets-dev-release attribute, so min_sdk also covers the development
    # release before it (apksigner prints "minSdkVersion=N (dev release=true)")
    targets_dev_release: bool = False
    signature_algorithms: list[str] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "certificate": self.certificate.to_dict() if self.certificate else None,
            "chain": [c.to_dict() for c in self.chain],
            "verified": self.verified,
            "signature_only": self.signature_only,
            "min_sdk": self.min_sdk,
            "max_sdk": self.max_sdk,
            "targets_dev_release": self.targets_dev_release,
            "signature_algorithms": list(self.signature_algorithms),
            **dict(zip(("errors", "warnings"), filed(self.errors, self.warnings))),
        }


LINEAGE_FLAG_NAMES = {
    1: "installed_data",
    2: "shared_uid",
    4: "permission",
    8: "rollback",
    16: "auth",
}


@dataclass(slots=True)
class LineageNode:
    """One certificate in a v3 proof-of-rotation lineage, oldest first."""

    certificate: Certificate
    flags: int
    signature_algorithm: str | None = None  # algorithm the *previous* key used to sign this node
    verified: bool = False  # the chain of signatures up to this node checked out
    signature_only: bool = False  # --quick: that chain checked out, but the APK's content was not checked

    @property
    def flag_names(self) -> list[str]:
        return [name for bit, name in LINEAGE_FLAG_NAMES.items() if self.flags & bit]

    def to_dict(self) -> dict[str, Any]:
        return {
            "certificate": self.certificate.to_dict(),
            "flags": self.flags,
            "flag_names": self.flag_names,
            "signature_algorithm": self.signature_algorithm,
            "verified": self.verified,
            "signature_only": self.signature_only,
        }


@dataclass(slots=True)
class SchemeResult:
    """Outcome of one signature scheme: present? verified? by whom? why not?"""

    name: str  # one of SCHEME_NAMES
    present: bool = False
    verified: bool = False
    # --quick: the signatures over the signed data checked out but the content digests were not
    # checked, so ``verified`` is False (never "verified" without the content)
    signature_only: bool = False
    signers: list[SignerResult] = field(default_factory=list)
    lineage: list[LineageNode] = field(default_factory=list)  # v3 / v3.1 only
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def all_errors(self) -> list[Issue]:
        out = list(self.errors)
        for s in self.signers:
            out.extend(s.errors)
        return out

    def to_dict(self) -> dict[str, Any]:
        errors, warnings = filed(self.all_errors(), [*self.warnings, *(i for s in self.signers for i in s.warnings)])
        return {
            "present": self.present,
            "verified": self.verified,
            "signature_only": self.signature_only,
            "signers": [s.to_dict() for s in self.signers],
            "lineage": [n.to_dict() for n in self.lineage],
            "errors": errors,
            "warnings": warnings,
        }


@dataclass(slots=True)
class FileFacts:
    """Size and whole-file digests, computed in the same pass as content digests."""

    size: int
    sha256: str
    sha1: str | None = None  # only when asked for (--hashes)
    md5: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256, "sha1": self.sha1, "md5": self.md5}


@dataclass(slots=True)
class PackageReading:
    """One plausible reading of the manifest's ``package``; ``how`` says which.

    ``how`` is ``framework`` (what the package manager installs: first chunk, first
    ``package`` attribute, raw string) or says where another reading comes from: the
    ``first chunk`` or ``first RES_XML chunk (apksig)`` / ``RES_XML chunk N`` (apksig and
    androguard read the first RES_XML chunk), a ``typed value``, a ``duplicate attribute N``,
    or ``AndroidManifest.xml record N of M ...`` (another central-directory record of that name).
    """

    value: str
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "how": self.how}


@dataclass(slots=True)
class ManifestInfo:
    """What AndroidManifest.xml (and resources.arsc for the label) say."""

    package: str | None = None
    version_code: int | None = None
    version_name: str | None = None
    min_sdk: int | None = None  # None when absent: Android's default is 1
    target_sdk: int | None = None
    max_sdk: int | None = None
    split: str | None = None
    label: str | None = None  # default-locale label
    labels: dict[str, str] = field(default_factory=dict)  # locale ("" = default) -> label
    debuggable: bool | None = None
    errors: list[Issue] = field(default_factory=list)
    # every distinct reading of ``package``; more than one value is a tamper indicator
    package_readings: list[PackageReading] = field(default_factory=list)
    # labels a parser reading resources.arsc another way sees (matched too; named by the
    # TAMPER_MANIFEST_AMBIGUOUS_LABEL fact, not a field of the document)
    other_labels: list[str] = field(default_factory=list)
    label_unchecked: bool = False  # the label is androguard's reading only (also named by that fact)
    label_notes: list[str] = field(default_factory=list)  # how the other readings differ (named by that fact)
    # labels of the launcher activities (what the home screen shows), not already labels above: matched too
    launcher_labels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "package_readings": [r.to_dict() for r in self.package_readings],
            "version_code": self.version_code,
            "version_name": self.version_name,
            "min_sdk": self.min_sdk,
            "target_sdk": self.target_sdk,
            "max_sdk": self.max_sdk,
            "split": self.split,
            "label": self.label,
            "labels": dict(self.labels),
            "debuggable": self.debuggable,
            "errors": [i.to_dict() for i in self.errors],
        }


@dataclass(slots=True)
class CertificateSighting:
    """Where one certificate was found, and whether the signature at that place verified.

    ``role``: ``signer`` (the certificate whose key made the signature), ``extra`` (carried
    in a signer's certificate set or chain but signing nothing: a v1 PKCS#7 set, a v2/v3
    certificate list), ``lineage`` (a proof-of-rotation node), ``stamp`` (source stamp).
    ``verified``: that signer / lineage node / stamp verified. An ``extra`` certificate in a
    verified signature is still not a signer of anything.
    """

    certificate: Certificate
    location: str  # e.g. "v1 META-INF/CERT.SF, extra certificate 2 of the PKCS#7 set"
    role: str
    verified: bool
    signature_only: bool = False  # --quick: that signature checked out over the signed data only

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.certificate.sha256, "location": self.location, "role": self.role,
                "verified": self.verified, "signature_only": self.signature_only}


@dataclass(slots=True)
class VerificationResult:
    """apksigner-equivalent verdict over an SDK range, with every scheme's detail."""

    verified: bool
    min_sdk: int
    max_sdk: int
    schemes: dict[str, SchemeResult]
    signers: list[Certificate] = field(default_factory=list)  # verified signers (apksigner's list)
    certificates_present: list[Certificate] = field(default_factory=list)  # everything seen
    lineage: list[LineageNode] = field(default_factory=list)
    source_stamp: Certificate | None = None
    source_stamp_verified: bool = False
    unknown_blocks: list[int] = field(default_factory=list)  # signing-block ids we do not know
    verified_using: list[str] = field(default_factory=list)  # schemes that decided the verdict
    errors: list[Issue] = field(default_factory=list)  # verdict-level errors
    warnings: list[Issue] = field(default_factory=list)
    sightings: list[CertificateSighting] = field(default_factory=list)  # where each cert sits


@dataclass(slots=True)
class ApkIdentity:
    """Everything the apk layer learned about one APK file."""

    path: str
    file: FileFacts | None = None
    manifest: ManifestInfo | None = None
    verification: VerificationResult | None = None
    tamper: list[Issue] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)  # input-level: could not read, limits hit
    warnings: list[Issue] = field(default_factory=list)
    # Where the identity comes from (one of ORIGINS). "apk": read and verified from APK bytes.
    # "recorded": a device's records (backup _manifest, AndroidQF packages.json) name the
    # package and its signing certificates, no APK bytes: the certificates are what the
    # device recorded, never verified here, so rules match them at most at "strong".
    # "listed": a package name only (pm list, dumpsys, backup-app metadata): a claim.
    # "bundle": an Android App Bundle (.aab) read from its bytes: its modules' manifests, and the
    # certificates of its upload signature as present only (Play re-signs with another key).
    origin: str = "apk"
    recorded_by: str | None = None
    recorded_certificates: list[Certificate] = field(default_factory=list)
    # certificates the record names but its recorder says did not verify, with why (AndroidQF's
    # verified_certificate false): merely present, never a recorded signer (review 88 F2)
    recorded_unverified: list[tuple[Certificate, str]] = field(default_factory=list)
    completeness: Completeness = field(default_factory=Completeness)
    record_note: str | None = None  # what the record's source says of it (hashcodes, how it was read)

    @property
    def readable(self) -> bool:
        """True when the file could be opened as an APK at all."""
        return not any(i.code.startswith(("INPUT_", "ZIP_")) for i in self.errors)

    @property
    def verified(self) -> bool:
        return bool(self.verification and self.verification.verified)

    def to_dict(self) -> dict[str, Any]:
        out = self._to_dict()
        if self.record_note:  # a record's only (an APK's document is unchanged)
            out["record_note"] = self.record_note
        if self.recorded_unverified:
            out["recorded_unverified"] = [dict(c.to_dict(), why=why) for c, why in self.recorded_unverified]
        return out

    def _to_dict(self) -> dict[str, Any]:
        m = self.manifest or ManifestInfo()
        v = self.verification
        schemes = {name: (v.schemes[name].to_dict() if v and name in v.schemes
                          else SchemeResult(name).to_dict()) for name in SCHEME_NAMES}
        errors, warnings = filed([*self.errors, *m.errors, *(v.errors if v else ())],
                                 [*self.warnings, *(v.warnings if v else ())])
        return {
            "path": self.path,
            "origin": self.origin,
            "recorded_by": self.recorded_by,
            "recorded_certificates": [c.to_dict() for c in self.recorded_certificates],
            "size": self.file.size if self.file else None,
            "sha256": self.file.sha256 if self.file else None,
            "sha1": self.file.sha1 if self.file else None,
            "md5": self.file.md5 if self.file else None,
            "package": m.package,
            "package_readings": [r.to_dict() for r in m.package_readings],
            "version_code": m.version_code,
            "version_name": m.version_name,
            "label": m.label,
            "labels": dict(m.labels),
            "min_sdk": m.min_sdk,
            "target_sdk": m.target_sdk,
            "split": m.split,
            "debuggable": m.debuggable,
            "verified": self.verified,
            "verified_sdk_range": [v.min_sdk, v.max_sdk] if v else None,
            "verified_using": list(v.verified_using) if v else [],
            "schemes": schemes,
            "signers": [c.to_dict() for c in v.signers] if v else [],
            "certificates_present": [c.to_dict() for c in v.certificates_present] if v else [],
            "certificate_sightings": [x.to_dict() for x in v.sightings] if v else [],
            "lineage": [n.to_dict() for n in v.lineage] if v else [],
            "source_stamp": v.source_stamp.to_dict() if v and v.source_stamp else None,
            "source_stamp_verified": bool(v and v.source_stamp_verified),
            "unknown_signing_blocks": [f"0x{i:08x}" for i in v.unknown_blocks] if v else [],
            "completeness": self.completeness.to_dict(),
            "tamper": [i.to_dict() for i in self.tamper],
            "errors": errors,
            "warnings": warnings,
        }
