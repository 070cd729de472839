"""Run a policy file's own examples (``apkscan policies test``).

A policy is a reading of a measure's words ("is TikTok Lite TikTok?"); its examples pin
that reading next to the decisions: an app described by its facts (package, label,
verified signers, merely present certificates, lineage, DEX class names, other readings of
the manifest's package, device-recorded certificates, split APKs of its bundle) and the verdict
and deciding decision it must get against the shipped rule packs. An edit to a policy or
to a rule pack that changes a verdict then fails in CI. Identities are built exactly as
``rules test`` builds them, so both self-tests speak about the same apps.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from apkscan.apk.model import ApkIdentity
from apkscan.policy.model import Policy
from apkscan.policy.multi import decide_all
from apkscan.result import AppResult
from apkscan.rules.matcher import match_identity
from apkscan.rules.model import RuleSet


@dataclass(slots=True)
class PolicyExampleResult:
    """One example of a policy file, run: passed or not, and the verdict it got."""

    policy: str
    name: str
    passed: bool
    verdict: str
    decision: str | None
    detail: str


def run_policy_examples(policy: Policy, rules: RuleSet) -> list[PolicyExampleResult]:
    """Check every example of ``policy``; never raises for a failing example."""
    return [check_example(policy, ex, rules) for ex in policy.examples]


def check_example(policy: Policy, ex: dict[str, Any], rules: RuleSet) -> PolicyExampleResult:
    """The example's app decided as the scan decides a bundle: each APK matched and decided on
    its own (as :func:`~apkscan.evaluate.evaluate` does), then :func:`~apkscan.splits.assemble`
    (one code path with the scan, review 64 F1: a split mismatch is never allow-listed)."""
    from apkscan.rules.selftest import example_identity  # here: scan imports this module for selects_nothing
    from apkscan.splits import assemble

    apps = [_decided(example_identity(ex), policy, rules, "example", ex.get("dex_classes"))]
    for i, spec in enumerate(ex.get("splits", [])):  # APKs of a bundle whose base is ``ex``
        split = example_identity({"package": ex.get("package"), **spec})
        if split.manifest is not None:  # a split name (default config.exampleN), "": a second base
            split.manifest.split = str(spec.get("split", f"config.example{i + 1}"))
        apps.append(_decided(split, policy, rules, f"example split #{i + 1}", None))
    app = assemble(apps, "example", [policy], rules)[0][0] if len(apps) > 1 else apps[0]
    outcome, findings = app.verdicts[policy.name], app.findings
    got_decision = outcome.policy.get("decision") if outcome.policy else None
    expect = ex.get("expect") or {}
    ok = outcome.verdict == expect.get("verdict")
    if ok and "decision" in expect:
        ok = got_decision == expect["decision"]
    found = ", ".join(f"{f.rule}:{f.kind}/{f.strength}" for f in findings) or "no finding"
    detail = (f"expected {expect.get('verdict')}"
              f"{' by ' + str(expect['decision']) if 'decision' in expect else ''}, "
              f"got {outcome.verdict} by {got_decision or 'default'} ({found})")
    return PolicyExampleResult(policy.name, str(ex.get("name", "?")), ok, outcome.verdict,
                               got_decision, detail)


def _decided(identity: ApkIdentity, policy: Policy, rules: RuleSet, source: str, classes: Any) -> AppResult:
    app = AppResult(source=source, container=None, identity=identity,
                    findings=match_identity(identity, rules, classes))
    app.set_outcomes(decide_all(identity, app.findings, [policy], rules))
    return app


SYNTHETIC_RULES = ("apkscan.manifest-ambiguity", "apkscan.split-mismatch")


def selects_nothing(policy: Policy, rules: RuleSet) -> list[str]:
    """Decision selectors (tags, vendors, rule-id globs) no loaded rule can produce: a typo
    such as ``tik-tok`` or ``Bytedance`` would silently never match. Indicator packs
    (``ioc.*``, vendor ``IOC *``) are named after files not yet given, so not judged."""
    from apkscan.rules.loader import SYNTHETIC_SUFFIXES

    tags = {t for r in rules.rules for t in r.tags}
    vendors = {p.vendor for p in rules.packs} | {r.vendor for r in rules.rules} | {"apkscan", "(manifest tamper)"}
    ids = ({r.id for r in rules.rules} | set(SYNTHETIC_RULES)
           | {f"{p.name}.{s}" for p in rules.packs for s in SYNTHETIC_SUFFIXES})
    out = []
    for d in policy.decisions:
        w = d.when
        out += [f"decision {d.id!r}: no loaded rule has tag {t!r}" for t in w.tags if t not in tags]
        out += [f"decision {d.id!r}: no loaded pack has vendor {v!r} (vendors are case-sensitive globs)"
                for v in w.vendors if not v.startswith("IOC") and not fnmatch.filter(vendors, v)]
        out += [f"decision {d.id!r}: no loaded rule id matches {g!r}"
                for g in w.rules if not g.startswith("ioc.") and not fnmatch.filter(ids, g)]
    return out


def indicators_undecided(policy: Policy, rules: RuleSet) -> list[str]:
    """The ``--iocs`` packs (``ioc.<stem>``) no decision of ``policy`` selects by its rule-id, vendor
    and tag selectors: their matches fall to the default, raised to ``review`` by the indicator
    floor (review 90 F1: a policy written for one vendor said ``allowed`` to them, silently)."""
    out = []
    for pack in rules.packs:
        if not pack.name.startswith("ioc.") or not pack.rules:
            continue
        ids = [r.id for r in pack.rules]
        if not any(not d.when.tags and (not d.when.rules or any(fnmatch.filter(ids, g) for g in d.when.rules))
                   and (not d.when.vendors or any(fnmatch.fnmatchcase(pack.vendor, v) for v in d.when.vendors))
                   for d in policy.decisions):
            out.append(pack.name)
    return out
