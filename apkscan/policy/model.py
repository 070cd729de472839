"""Typed policies: which findings make an app prohibited, to review, or allowed, and why.

A verdict must be defensible, so every decision carries the text, authority, date and
URL of the ban that motivates it, and that provenance travels with each finding into
the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apkscan.ranks import VERDICT_RANK, VERDICTS  # noqa: F401 - defined once in apkscan.ranks



@dataclass(slots=True)
class Condition:
    """All given lists must hold (any value within a list); empty lists are not checked."""

    rules: list[str] = field(default_factory=list)  # globs on rule id
    tags: list[str] = field(default_factory=list)
    vendors: list[str] = field(default_factory=list)  # globs on vendor name
    kinds: list[str] = field(default_factory=list)
    basis: list[str] = field(default_factory=list)
    min_strength: str | None = None


@dataclass(slots=True)
class Decision:
    """One decision of a policy: the verdict for findings its condition selects, and its citation."""

    id: str
    verdict: str
    when: Condition
    text: str = ""
    authority: str = ""
    date: str | None = None
    urls: list[str] = field(default_factory=list)  # sources checked by the policy's author
    unverified_urls: list[UnverifiedUrl] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)  # what the sources leave open

    def provenance(self, policy: Policy) -> dict[str, Any]:
        """What a report shows next to a verdict.

        ``url`` is only ever a checked source; an unverified one travels apart, flagged,
        so that a report never presents it as the measure's text.
        """
        out = {"policy": policy.name, "decision": self.id, "verdict": self.verdict,
               "text": self.text, "authority": self.authority, "date": self.date,
               "url": self.urls[0] if self.urls else None, "urls": list(self.urls)}
        if self.unverified_urls:
            out["unverified_urls"] = [{"url": u.url, "note": u.note} for u in self.unverified_urls]
        if self.uncertain:
            out["uncertain"] = list(self.uncertain)
        return out


@dataclass(slots=True)
class UnverifiedUrl:
    """A URL a decision cites that is not a checked source: kept apart from ``urls``, flagged, with a note."""

    url: str
    note: str = ""


@dataclass(slots=True)
class AllowEntry:
    """An app allowed by package and the SHA-256 of its verified signer (``--allow``, a policy's list)."""

    package: str
    certificate: str  # SHA-256 of a verified signer (or verified lineage) certificate
    reason: str = ""


@dataclass(slots=True)
class Policy:
    """A ban policy: its decisions in order, its default verdict, allow-list and provenance."""

    name: str
    version: str
    title: str = ""
    path: str = ""
    reviewed: str | None = None
    description: str = ""
    default: str = "allowed"
    decisions: list[Decision] = field(default_factory=list)
    allow: list[AllowEntry] = field(default_factory=list)
    jurisdiction: str = ""
    effective: str | None = None
    covers: str = ""
    uncertain: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)  # run by `policies test`
    notices: list[str] = field(default_factory=list)  # what the run found wrong with it (POLICY_SELECTS_NOTHING)

    def meta(self) -> dict[str, Any]:
        first_url = next((d.urls[0] for d in self.decisions if d.urls), None)
        out = {"name": self.name, "version": self.version, "title": self.title,
               "path": self.path, "reviewed": self.reviewed, "url": first_url,
               "jurisdiction": self.jurisdiction or None, "effective": self.effective,
               "uncertain": list(self.uncertain)}
        if self.notices:  # in the document, so a filed report says a decision could not match (review 41 F9)
            out["notices"] = list(self.notices)
        return out
