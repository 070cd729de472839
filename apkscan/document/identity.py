"""The ``identity`` of an app in the scan document, typed: what the apk layer established
(``ApkIdentity.to_dict()`` in :mod:`apkscan.apk.model`), as reports read it.

Field names, types and required fields follow ``scan-result.schema.json``; optional fields
default to what the producer writes when it has nothing (``None``, empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from apkscan.document.codec import Record

Severity = Literal["error", "warning", "tamper"]
Part = Literal["read", "not read", "not checked"]
RECORD = dict(frozen=True, slots=True, kw_only=True, eq=False, match_args=False)  # records compare by identity


@dataclass(**RECORD)
class Issue(Record):
    """A problem with a stable code (``apkscan/issue_codes.py``)."""

    code: str
    message: str
    severity: Severity | None = None


@dataclass(**RECORD)
class Certificate(Record):
    """An X.509 certificate as the apk layer describes it; an identity only where it verified."""

    sha256: str
    sha1: str
    md5: str
    subject: str
    issuer: str
    subject_attrs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    issuer_attrs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    serial: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    key_algorithm: str | None = None
    key_size: int | None = None
    ec_curve: str | None = None
    public_key_sha256: str | None = None
    public_key_sha1: str | None = None
    public_key_md5: str | None = None
    subject_androidqf: str | None = None
    issuer_androidqf: str | None = None
    serial_decimal: str | None = None
    signature_algorithm: str | None = None
    self_signed: bool = False
    is_android_debug: bool = False
    weaknesses: tuple[str, ...] = ()
    parse_errors: tuple[str, ...] = ()

    def first_attr(self, *names: str) -> str | None:
        """First value of the first subject attribute present (``O`` before ``CN`` ...)."""
        for name in names:
            values = self.subject_attrs.get(name)
            if values:
                return values[0]
        return None


@dataclass(**RECORD)
class UnverifiedCertificate(Certificate):
    """A certificate a record names that its recorder could not verify (AndroidQF's
    ``verified_certificate: false``): merely present, and ``why`` says so in every report."""

    why: str


@dataclass(**RECORD)
class Signer(Record):
    """One signer of one scheme (a v1 signature file, a v2/v3 signer block)."""

    name: str
    certificate: Certificate | None
    chain: tuple[Certificate, ...] = ()
    verified: bool
    signature_only: bool = False  # --quick: signature over the signed data checked, content not
    min_sdk: int | None = None
    max_sdk: int | None = None
    targets_dev_release: bool = False  # v3.1: rotation also targets the development release before min_sdk
    signature_algorithms: tuple[str, ...] = ()
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()


@dataclass(**RECORD)
class LineageNode(Record):
    """One certificate of a v3 proof-of-rotation lineage, oldest first."""

    certificate: Certificate
    flags: int
    flag_names: tuple[str, ...] = ()
    signature_algorithm: str | None = None
    verified: bool
    signature_only: bool = False


@dataclass(**RECORD)
class Scheme(Record):
    """One signature scheme: present, verified, by whom, why not."""

    present: bool
    verified: bool
    signature_only: bool = False  # --quick: signatures checked out, content not checked (never verified)
    signers: tuple[Signer, ...] = ()
    lineage: tuple[LineageNode, ...] = ()
    errors: tuple[Issue, ...] = ()
    warnings: tuple[Issue, ...] = ()


@dataclass(**RECORD)
class PackageReading(Record):
    """One reading of the manifest's package (several: a tamper indicator)."""

    value: str
    how: str


@dataclass(**RECORD)
class Sighting(Record):
    """Where a certificate sits in the APK and whether that place verified."""

    sha256: str
    location: str
    role: str | None = None
    verified: bool
    signature_only: bool = False


@dataclass(**RECORD)
class Completeness(Record):
    """Which parts of the input were read (``not checked``: skipped on purpose, e.g. ``--quick``)."""

    complete: bool | None = None
    manifest: Part | None = None
    resources: Part | None = None  # resources.arsc (the label); absent from documents before review 37
    signatures: Part | None = None
    content_digests: Part | None = None
    file_hashes: Part | None = None
    why: Mapping[str, str] = field(default_factory=dict)


@dataclass(**RECORD)
class Identity(Record):
    """What the apk layer established about one APK (or what a device recorded)."""

    path: str
    origin: Literal["apk", "recorded", "listed", "bundle"] = "apk"
    recorded_by: str | None = None
    recorded_certificates: tuple[Certificate, ...] = ()
    recorded_unverified: tuple[UnverifiedCertificate, ...] = ()  # its recorder could not verify them
    record_note: str | None = None  # a record's note: how it was read, dumpsys signature hashcodes
    size: int | None = None
    sha256: str | None = None
    sha1: str | None = None
    md5: str | None = None
    package: str | None = None
    package_readings: tuple[PackageReading, ...] = ()
    version_code: int | None = None
    version_name: str | None = None
    label: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    min_sdk: int | None = None
    target_sdk: int | None = None
    split: str | None = None
    debuggable: bool | None = None
    verified: bool
    verified_sdk_range: tuple[int, ...] | None = None
    verified_using: tuple[str, ...] = ()
    schemes: Mapping[str, Scheme]
    signers: tuple[Certificate, ...]  # verified signers only
    certificates_present: tuple[Certificate, ...]  # every certificate seen, verified or not
    certificate_sightings: tuple[Sighting, ...] = ()
    lineage: tuple[LineageNode, ...] = ()
    source_stamp: Certificate | None = None
    source_stamp_verified: bool = False
    unknown_signing_blocks: tuple[str, ...] = ()
    completeness: Completeness | None = None
    tamper: tuple[Issue, ...]
    errors: tuple[Issue, ...]
    warnings: tuple[Issue, ...] = ()

    @property
    def quick(self) -> bool:
        """Signatures only: the content digests were skipped on purpose (``--quick``)."""
        return self.completeness is not None and self.completeness.content_digests == "not checked"
