"""Per-app detail as the reports show it: schemes, certificates, lineage and problems, typed.

Read from one app's ``identity`` in the scan document (see :mod:`apkscan.report.view`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apkscan.report.coerce import _d, _l, _s, _strs

SCHEME_LABELS = {"v1": "v1 (JAR)", "v2": "v2", "v3": "v3", "v31": "v3.1", "v4": "v4",
                 "source_stamp": "source stamp"}


def first_attr(cert: dict, *names: str) -> str | None:
    """First value of the first subject attribute present (``O`` before ``CN`` ...)."""
    attrs = _d(cert.get("subject_attrs"))
    for name in names:
        values = _l(attrs.get(name))
        if values:
            return _s(values[0])
    return None


@dataclass(slots=True)
class IssueView:
    code: str
    message: str


@dataclass(slots=True)
class CertView:
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


@dataclass(slots=True)
class SchemeView:
    name: str
    label: str
    present: bool
    verified: bool
    errors: list[IssueView]
    warnings: list[IssueView]


@dataclass(slots=True)
class LineageView:
    cert: CertView
    flags: list[str]
    verified: bool


@dataclass(slots=True)
class Detail:
    """The per-app detail (schemes, certificates, lineage, problems), type-checked."""

    min_sdk: object
    target_sdk: object
    verified_using: list[str]
    schemes: list[SchemeView]
    signers: list[CertView]  # verified signers
    present_only: list[CertView]  # present, not a verified signer
    lineage: list[LineageView]
    tamper: list[IssueView]
    errors: list[IssueView]
    warnings: list[IssueView]


def _issues(value: Any) -> list[IssueView]:
    return [IssueView(_s(i.get("code")) or "?", _s(i.get("message")) or "")
            for i in _l(value) if isinstance(i, dict)]


def cert_view(raw: Any) -> CertView | None:
    if not isinstance(raw, dict):
        return None
    key = " ".join(_s(raw.get(k)) or "" for k in ("key_algorithm", "key_size", "ec_curve")).split()
    flags = _strs(raw.get("weaknesses")) + (["android-debug"] if raw.get("is_android_debug") else [])
    return CertView(sha256=_s(raw.get("sha256")) or "", sha1=_s(raw.get("sha1")) or "",
                    subject=_s(raw.get("subject")) or "", issuer=_s(raw.get("issuer")) or "",
                    not_before=_s(raw.get("not_before")), not_after=_s(raw.get("not_after")),
                    key=" ".join(key) or "?", signature_algorithm=_s(raw.get("signature_algorithm")),
                    flags=flags, parse_errors=_strs(raw.get("parse_errors")))


def detail(ident: dict) -> Detail:
    ident = _d(ident)
    schemes = []
    for name, raw in _d(ident.get("schemes")).items():
        raw = _d(raw)
        schemes.append(SchemeView(str(name), SCHEME_LABELS.get(str(name), str(name)),
                                  bool(raw.get("present")), bool(raw.get("verified")),
                                  _issues(raw.get("errors")), _issues(raw.get("warnings"))))
    signers = [c for c in map(cert_view, _l(ident.get("signers"))) if c]
    signer_hashes = {c.sha256 for c in signers}
    present = [c for c in map(cert_view, _l(ident.get("certificates_present")))
               if c and c.sha256 not in signer_hashes]
    lineage = []
    for node in _l(ident.get("lineage")):
        node = _d(node)
        cert = cert_view(node.get("certificate"))
        if cert:
            lineage.append(LineageView(cert, _strs(node.get("flag_names")), bool(node.get("verified"))))
    return Detail(min_sdk=ident.get("min_sdk"), target_sdk=ident.get("target_sdk"),
                  verified_using=_strs(ident.get("verified_using")), schemes=schemes,
                  signers=signers, present_only=present, lineage=lineage,
                  tamper=_issues(ident.get("tamper")), errors=_issues(ident.get("errors")),
                  warnings=_issues(ident.get("warnings")))
