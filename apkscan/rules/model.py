"""Typed rules and findings: what a vendor pack says, and what matching an APK found.

A rule pack is one vendor's knowledge (its certificates, its publisher names, its apps),
each fact with a reference to where it came from. A :class:`Finding` is one rule that
matched one APK, with a strength that keeps *present* apart from *verified*:

- ``confirmed``: a known vendor certificate is a verified signer (or in the verified lineage);
- ``strong``: a verified signer's subject/issuer matches the vendor's publisher identity;
- ``weak``: package name, label, SDK prefix, or a vendor certificate that is only present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apkscan.ranks import STRENGTH_RANK, STRENGTHS  # noqa: F401 - defined once in apkscan.ranks
from apkscan.rules.normalise import bounded_text

KINDS = ("app", "impersonation", "forged-certificate", "planted-certificate",
         "counterfeit-certificate", "manifest-ambiguity", "sdk", "split-mismatch")
CONFIDENCES = ("high", "medium-high", "medium", "low")

# Evidence bases: which kind of fact matched (policies select on these).
# ``package-reading``: a package reading other than the one Android installs;
# ``package-lookalike``: the installed package only case-folded or skeletoned is a rule's
#   (another package Android installs side by side: a claim);
# ``certificate-recorded``: a certificate a device recorded (not verified by apkscan);
# ``certificate-unknown``: the key of an impersonation (a verified signer, or a recorded
#   certificate, that is none of the vendor's known keys; "none verified" when nothing verified);
# ``subject-present``: a publisher subject on a certificate that is not a verified signer;
# ``manifest``: a structural fact of the manifest (ambiguous package);
# ``bundle``: a structural fact of a split bundle (a split's package or verified signers);
# ``file-hash``: the whole APK file's digest is an ``--iocs`` file indicator's (these very bytes).
BASES = ("package", "package-reading", "package-lookalike", "label", "certificate", "certificate-present",
         "certificate-recorded", "certificate-unknown", "subject", "subject-present", "issuer",
         "source-stamp", "dex", "manifest", "bundle", "file-hash")


@dataclass(slots=True)
class KnownCert:
    """A certificate known by one or more of its DER digests (MD5-only entries are common)."""

    id: str
    sha256: str | None = None
    sha1: str | None = None
    md5: str | None = None
    confidence: str = "high"
    subject: str | None = None
    label: str | None = None
    references: list[str] = field(default_factory=list)
    serial: str | None = None  # with subject (and dates): what a counterfeit would copy
    not_before: str | None = None
    not_after: str | None = None

    def matches(self, cert: Any) -> str | None:
        """Name of the digest that matched ``cert`` (strongest first), or None."""
        for algo in ("sha256", "sha1", "md5"):
            want = getattr(self, algo)
            if want and getattr(cert, algo, None) == want:
                return algo
        return None

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "sha256": self.sha256, "sha1": self.sha1, "md5": self.md5,
               "confidence": self.confidence, "subject": self.subject, "label": self.label,
               "serial": self.serial,
               "references": list(self.references)}
        return {k: v for k, v in out.items() if v not in (None, [])}


@dataclass(slots=True)
class RuleCert:
    """A rule's use of a known certificate; ``shared`` keys only corroborate a package match."""

    cert: KnownCert
    shared: bool = False


@dataclass(slots=True)
class NamePattern:
    """Regexes per X.500 attribute (``O``, ``CN`` ...); every listed attribute must match."""

    attrs: dict[str, re.Pattern[str]]
    references: list[str] = field(default_factory=list)

    def match(self, name_attrs: dict[str, list[str]]) -> list[tuple[str, str]] | None:
        """(attribute, value) pairs that matched, or None when any attribute fails."""
        hits = []
        for attr, pattern in self.attrs.items():
            value = next((v for v in name_attrs.get(attr, []) if pattern.search(bounded_text(v))), None)
            if value is None:
                return None
            hits.append((attr, value))
        return hits

    def describe(self) -> str:
        return ", ".join(f"{a}: {p.pattern}" for a, p in self.attrs.items())


@dataclass(slots=True)
class Rule:
    """One vendor app (kind ``app``) or one embedded vendor SDK (kind ``sdk``)."""

    id: str
    vendor: str
    app: str
    pack: str = ""
    kind: str = "app"
    description: str = ""
    packages: list[str] = field(default_factory=list)
    package_globs: list[str] = field(default_factory=list)
    package_regexes: list[re.Pattern[str]] = field(default_factory=list)
    package_exclude: list[str] = field(default_factory=list)  # globs that never match
    indicator: bool = False  # an MVT STIX2 indicator group: each fact is a hit on its own
    file_hashes: list[tuple[str, str]] = field(default_factory=list)  # (algorithm, hex) of whole APK files (--iocs)
    labels: list[re.Pattern[str]] = field(default_factory=list)
    certificates: list[RuleCert] = field(default_factory=list)
    subjects: list[NamePattern] = field(default_factory=list)
    issuers: list[NamePattern] = field(default_factory=list)
    source_stamps: list[KnownCert] = field(default_factory=list)
    dex_prefixes: list[str] = field(default_factory=list)
    dex_exclude: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    line: int | None = None  # where the rule starts in its file

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "vendor": self.vendor, "app": self.app, "kind": self.kind,
            "description": self.description, "packages": list(self.packages),
            "package_globs": list(self.package_globs),
            "package_regexes": [p.pattern for p in self.package_regexes],
            "package_exclude": list(self.package_exclude),
            "labels": [p.pattern for p in self.labels],
            "certificates": [dict(rc.cert.to_dict(), shared=rc.shared) for rc in self.certificates],
            "subjects": [p.describe() for p in self.subjects],
            "issuers": [p.describe() for p in self.issuers],
            "source_stamps": [c.to_dict() for c in self.source_stamps],
            "dex_prefixes": list(self.dex_prefixes), "dex_exclude": list(self.dex_exclude),
            "file_hashes": [f"{a}:{d}" for a, d in self.file_hashes],
            "tags": list(self.tags), "references": list(self.references),
        }
        return {k: v for k, v in out.items() if v not in ([], "")}


@dataclass(slots=True)
class RulePack:
    """One rule file: a vendor's certificates, publisher identity and rules, with sources."""

    name: str
    vendor: str
    version: str
    reviewed: str
    path: str = ""
    description: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    certificates: dict[str, KnownCert] = field(default_factory=dict)
    publishers: list[NamePattern] = field(default_factory=list)
    publisher_names: list[str] = field(default_factory=list)  # compared by publisher_key
    rules: list[Rule] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # what of the file was left out (an indicator feed's skips)
    shipped: bool = False  # one of apkscan's own packs (set by the loader): see matcher.names_are_claims
    text_sha256: str = ""  # of the text parsed (yamlsrc.text_digest): the file is never read twice (review 91 F2)

    def meta(self) -> dict[str, Any]:
        out = {"name": self.name, "version": self.version, "vendor": self.vendor,
               "reviewed": self.reviewed, "path": self.path,
               "rules": [{"id": r.id, "vendor": r.vendor, "description": r.app, "kind": r.kind}
                         for r in self.rules]}
        if self.notices:  # in the document, so a filed report says part of a feed was not used
            out["notices"] = list(self.notices)
        return out


@dataclass(slots=True)
class RuleSet:
    """Every pack loaded for one run."""

    packs: list[RulePack] = field(default_factory=list)
    notices: list[Any] = field(default_factory=list)  # RuleError warnings the CLI prints (stderr)

    @property
    def rules(self) -> list[Rule]:
        return [r for p in self.packs for r in p.rules]

    def rule(self, rule_id: str) -> Rule | None:
        """The first rule with this id (asked once per finding and policy when deciding: no list of
        every rule built for it)."""
        for p in self.packs:
            for r in p.rules:
                if r.id == rule_id:
                    return r
        return None

    def meta(self) -> dict[str, Any]:
        return {"packs": [p.meta() for p in self.packs]}


@dataclass(slots=True)
class Evidence:
    """One fact that made a rule match: which field, which value, against what."""

    field: str  # e.g. "package", "signer.sha256", "lineage[0].sha256", "signer.subject.O"
    value: str
    basis: str  # one of BASES
    matched: str = ""  # the rule side: pattern, certificate id ...
    verified: bool | None = None  # for certificate evidence: verified signer/lineage or not
    confidence: str | None = None  # of the certificate fact
    normalised: str | None = None  # the normalised/skeleton form that matched, when not raw
    locale: str | None = None  # label evidence: the locale whose label matched ("" default)
    location: str | None = None  # certificate evidence: where in the APK it sits

    def to_dict(self) -> dict[str, Any]:
        out = {"field": self.field, "value": self.value, "basis": self.basis,
               "matched": self.matched, "verified": self.verified, "confidence": self.confidence,
               "normalised": self.normalised, "locale": self.locale, "location": self.location}
        return {k: v for k, v in out.items() if v is not None and (v != "" or k == "locale")}


@dataclass(slots=True)
class Finding:
    """One rule matched one APK. ``policy`` is filled in by :mod:`apkscan.policy.decide`."""

    rule: str
    vendor: str
    app: str
    strength: str
    kind: str
    evidence: list[Evidence]
    message: str = ""
    pack: str = ""
    references: list[str] = field(default_factory=list)
    verdict: str | None = None
    policy: dict[str, Any] | None = None
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # per policy (apkscan.policy.multi)

    @property
    def bases(self) -> set[str]:
        return {e.basis for e in self.evidence}

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "vendor": self.vendor, "app": self.app,
            "strength": self.strength, "kind": self.kind,
            "evidence": [e.to_dict() for e in self.evidence],
            "message": self.message, "pack": self.pack, "references": list(self.references),
            "verdict": self.verdict, "policy": self.policy, "verdicts": dict(self.verdicts),
        }
