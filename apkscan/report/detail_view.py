"""Per-app detail as the reports show it: schemes, certificates, lineage and problems.

Read from one app's typed ``identity`` (:class:`apkscan.document.Identity`); see
:mod:`apkscan.report.view`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from apkscan.document import Certificate, Identity, Issue

SCHEME_LABELS = {"v1": "v1 (JAR)", "v2": "v2", "v3": "v3", "v31": "v3.1", "v4": "v4",
                 "source_stamp": "source stamp"}


@dataclass(slots=True)
class IssueRow:
    code: str
    message: str


@dataclass(slots=True)
class CertRow:
    sha256: str
    sha1: str
    subject: str
    issuer: str
    not_before: str | None
    not_after: str | None
    key: str  # "RSA 2048", "EC 256 secp256r1", ...
    signature_algorithm: str | None
    flags: list[str]  # weaknesses, "android-debug"
    parse_errors: list[str]
    why: str = ""  # a recorded certificate its recorder could not verify: why (AndroidQF's error)


@dataclass(slots=True)
class SchemeRow:
    name: str
    label: str
    present: bool
    verified: bool
    errors: list[IssueRow]
    warnings: list[IssueRow]
    signature_only: bool = False  # --quick: signatures checked out, content not checked


@dataclass(slots=True)
class LineageRow:
    cert: CertRow
    flags: list[str]
    verified: bool
    signature_only: bool = False


@dataclass(slots=True)
class Detail:
    """The per-app detail (schemes, certificates, lineage, problems), type-checked."""

    min_sdk: int | None
    target_sdk: int | None
    verified_using: list[str]
    schemes: list[SchemeRow]
    signers: list[CertRow]  # verified signers
    present_only: list[CertRow]  # present, not a verified signer
    recorded_by: str | None  # the record a recorded app's certificates come from (AndroidQF packages.json ...)
    recorded: list[CertRow]  # the device's word: recorded, never verified by apkscan
    recorded_unverified: list[CertRow]  # recorded, and its recorder could not verify it (``why``): merely present
    lineage: list[LineageRow]
    tamper: list[IssueRow]
    errors: list[IssueRow]
    warnings: list[IssueRow]


def issue_rows(issues: Iterable[Issue]) -> list[IssueRow]:
    return [IssueRow(i.code or "?", i.message) for i in issues]


def cert_row(cert: Certificate, why: str = "") -> CertRow:
    key = " ".join("" if v is None else str(v) for v in (cert.key_algorithm, cert.key_size, cert.ec_curve)).split()
    flags = list(cert.weaknesses) + (["android-debug"] if cert.is_android_debug else [])
    return CertRow(sha256=cert.sha256, sha1=cert.sha1, subject=cert.subject, issuer=cert.issuer,
                    not_before=cert.not_before, not_after=cert.not_after, key=" ".join(key) or "?",
                    signature_algorithm=cert.signature_algorithm, flags=flags,
                    parse_errors=list(cert.parse_errors), why=why)


def detail(ident: Identity) -> Detail:
    schemes = [SchemeRow(name, SCHEME_LABELS.get(name, name), s.present, s.verified,
                          issue_rows(s.errors), issue_rows(s.warnings), s.signature_only)
               for name, s in ident.schemes.items()]
    signers = [cert_row(c) for c in ident.signers]
    signer_hashes = {c.sha256 for c in signers}
    present = [cert_row(c) for c in ident.certificates_present if c.sha256 not in signer_hashes]
    lineage = [LineageRow(cert_row(n.certificate), list(n.flag_names), n.verified, n.signature_only)
               for n in ident.lineage]
    return Detail(min_sdk=ident.min_sdk, target_sdk=ident.target_sdk, verified_using=list(ident.verified_using),
                  schemes=schemes, signers=signers, present_only=present, recorded_by=ident.recorded_by,
                  recorded=[cert_row(c) for c in ident.recorded_certificates],
                  recorded_unverified=[cert_row(c, c.why) for c in ident.recorded_unverified], lineage=lineage,
                  tamper=issue_rows(ident.tamper), errors=issue_rows(ident.errors),
                  warnings=issue_rows(ident.warnings))
