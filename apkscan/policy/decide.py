"""Findings + policy -> verdict, with the decision that produced it.

Each finding takes the first decision whose condition holds (policy order is the
author's priority order); the app's verdict is the most severe over its findings, else
the policy default. An allow-list entry needs the package *and* a verified signing
certificate, so an impostor under the same package name is never allowed by it. It never
decides a finding about what Android would install (``NOT_ALLOWABLE``): a split mismatch is
about the install set, whose base may be another key's (review 64 F1: the genuine app's split
beside an impostor's base), and an ambiguous manifest is about which package the entry names.
An ``--iocs`` finding is never below ``review`` (the indicator floor: MVT alerts on every match),
whatever the default, the allow-list or a decision says, unless the decision names its indicator
pack or rule in ``rules:`` (review 90 F1: ``default: allowed`` passed a confirmed indicator match).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from apkscan.apk.model import ApkIdentity
from apkscan.policy.model import VERDICT_RANK, Condition, Decision, Policy
from apkscan.rules.model import STRENGTH_RANK, Finding, RuleSet

NOT_ALLOWABLE = frozenset({"split-mismatch", "manifest-ambiguity"})  # review under every policy
INDICATOR_FLOOR = "indicator-floor"  # the decision id a floored --iocs finding cites


@dataclass(slots=True)
class Outcome:
    """An app's verdict under one policy, and what decided it (a decision, an allow entry, the default)."""

    verdict: str
    policy: dict[str, Any] | None  # provenance of the deciding decision / allow entry


def decide(identity: ApkIdentity, findings: list[Finding], policy: Policy,
           rules: RuleSet | None = None) -> Outcome:
    """Set ``verdict``/``policy`` on every finding and return the app's outcome."""
    allowed = _allow_entry(identity, policy)
    best: Outcome | None = None  # the default speaks only for findings no decision takes
    for f in findings:
        indicator = is_indicator(f)
        if allowed is not None and f.kind not in NOT_ALLOWABLE and not indicator:
            f.verdict, f.policy = "allowed", allowed
            continue
        tags = _tags(f, rules)
        decision = next((d for d in policy.decisions if holds(d.when, f, tags)), None)
        if decision is None:
            f.verdict, f.policy = policy.default, None
        else:
            f.verdict, f.policy = decision.verdict, decision.provenance(policy)
        if indicator and VERDICT_RANK[f.verdict] < VERDICT_RANK["review"] and not names_indicator(decision, f):
            f.verdict, f.policy = "review", _floor(policy, decision, allowed is not None)
        if best is None or VERDICT_RANK[f.verdict] > VERDICT_RANK[best.verdict] or (
                f.verdict == best.verdict and best.policy is None and f.policy is not None):
            best = Outcome(f.verdict, f.policy)  # among equals, the one a decision gave cites it
    if allowed is not None and (best is None or best.verdict == "allowed"):
        return Outcome("allowed", allowed)  # package + verified certificate: also against a review default
    return best if best is not None else Outcome(policy.default, None)


def holds(cond: Condition, f: Finding, tags: set[str]) -> bool:
    if cond.rules and not any(fnmatch.fnmatchcase(f.rule, g) for g in cond.rules):
        return False
    if cond.tags and not tags.intersection(cond.tags):
        return False
    if cond.vendors and not any(fnmatch.fnmatchcase(f.vendor, g) for g in cond.vendors):
        return False
    if cond.kinds and f.kind not in cond.kinds:
        return False
    if cond.basis and not f.bases.intersection(cond.basis):
        return False
    return not (cond.min_strength and STRENGTH_RANK[f.strength] < STRENGTH_RANK[cond.min_strength])


def is_indicator(f: Finding) -> bool:
    """A finding of an ``--iocs`` pack (``ioc.<stem>``: no other pack may take the prefix)."""
    return f.pack.startswith("ioc.")


def names_indicator(decision: Decision | None, f: Finding) -> bool:
    """The decision names this finding's indicator pack or rule itself (``ioc.<stem>.*``,
    ``ioc.<stem>.<name>``): only then may it put an indicator match below ``review``;
    ``ioc.*``, a vendor glob or the default speak for feeds not yet given."""
    return decision is not None and any(
        fnmatch.fnmatchcase(f.rule, g) and g.startswith(f.pack + ".") for g in decision.when.rules)


def _floor(policy: Policy, decision: Decision | None, listed: bool) -> dict[str, Any]:
    """The provenance of a floored indicator finding: what would have decided it, and why not."""
    was = (f"decision {decision.id!r} said {decision.verdict!r}" if decision is not None
           else f"the policy default is {policy.default!r}")
    if listed:
        was += " and the allow-list names the app"
    return {"policy": policy.name, "decision": INDICATOR_FLOOR, "verdict": "review",
            "text": f"indicator floor: a --iocs match is never below review unless a decision names its "
                    f"pack or rule (ioc.<file>.*); {was}",
            "authority": "apkscan", "date": None, "url": None, "urls": []}


def _tags(f: Finding, rules: RuleSet | None) -> set[str]:
    rule = rules.rule(f.rule) if rules is not None else None
    # a rule lends its tags only to its own pack's findings (never to a synthetic <pack>.vendor)
    return set(rule.tags) if rule is not None and rule.pack == f.pack else set()


def _allow_entry(identity: ApkIdentity, policy: Policy) -> dict[str, Any] | None:
    if not policy.allow or not identity.verified or identity.manifest is None:
        return None
    v = identity.verification
    verified = {c.sha256 for c in v.signers} | {n.certificate.sha256 for n in v.lineage if n.verified}
    for entry in policy.allow:
        if entry.package == identity.manifest.package and entry.certificate in verified:
            return {"policy": policy.name, "decision": "allow-list", "verdict": "allowed",
                    "text": entry.reason, "authority": "", "date": None, "url": None, "urls": [],
                    "certificate": entry.certificate}
    return None
