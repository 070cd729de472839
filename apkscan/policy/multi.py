"""Several policies over one app: a verdict per policy, the first one's kept as *the* verdict.

A team answering to several measures at once (a federal ban, a parliament's, an agency
directive) needs each measure's verdict with its own citation; running the scan once per
policy would parse every APK again. The findings are matched once and decided once per
policy. The first policy is decided last, so each finding's ``verdict``/``policy`` fields
stay the first policy's (documents of schema 1.1 had exactly those), and every finding
also carries ``verdicts``: each policy's verdict and decision id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apkscan.apk.model import ApkIdentity
from apkscan.policy.decide import Outcome, decide
from apkscan.policy.model import VERDICT_RANK, Policy
from apkscan.rules.model import Finding, RuleSet

FAIL_LEVELS = ("prohibited", "review", "never")


def decide_all(identity: ApkIdentity, findings: list[Finding], policies: Sequence[Policy],
               rules: RuleSet | None = None) -> dict[str, Outcome]:
    """Every policy's outcome, in the given order; findings end with the first's verdict."""
    outcomes: dict[str, Outcome] = {}
    per_finding: list[dict[str, dict[str, Any]]] = [{} for _ in findings]
    for policy in reversed(policies):
        outcomes[policy.name] = decide(identity, findings, policy, rules)
        for slot, f in zip(per_finding, findings, strict=True):
            slot[policy.name] = {"verdict": f.verdict, "decision": f.policy.get("decision") if f.policy else None}
    for slot, f in zip(per_finding, findings, strict=True):
        f.verdicts = {p.name: slot[p.name] for p in policies}
    return {p.name: outcomes[p.name] for p in policies}


def verdict_entry(outcome: Outcome, policy_name: str) -> dict[str, Any]:
    """One policy's verdict for one app with the citation of the decision that made it."""
    prov = dict(outcome.policy or {})
    prov.update(policy=policy_name, verdict=outcome.verdict)
    prov.setdefault("decision", None)  # the policy default: no decision matched
    return prov


def worse(a: Outcome, b: Outcome) -> Outcome:
    """The more severe of two outcomes (ties keep ``a``)."""
    return b if VERDICT_RANK[b.verdict] > VERDICT_RANK[a.verdict] else a


@dataclass(frozen=True, slots=True)
class FailOn:
    """``--fail-on LEVEL`` (any policy) or ``--fail-on POLICY:LEVEL`` (that one only)."""

    level: str
    policy: str | None = None

    @classmethod
    def parse(cls, text: str) -> FailOn:
        """``ValueError`` with a message fit for the user when ``text`` is neither form."""
        name, sep, level = text.rpartition(":")
        if level not in FAIL_LEVELS or (sep and not name):
            raise ValueError(f"{text!r}: expected one of {', '.join(FAIL_LEVELS)}, optionally as POLICY:LEVEL")
        return cls(level, name or None)

    def check_names(self, names: Iterable[str]) -> None:
        """A named policy must be one of the run's (a typo must not silently pass)."""
        names = list(names)
        if self.policy is not None and self.policy not in names:
            raise ValueError(f"--fail-on names policy {self.policy!r}, not one of this run's: {', '.join(names)}")

    def flags(self, verdicts: Mapping[str, str]) -> bool:
        """True when one app's ``{policy: verdict}`` reaches the level (unknown verdicts never do)."""
        if self.level == "never":
            return False
        chosen = [verdicts.get(self.policy)] if self.policy else list(verdicts.values())
        return any(VERDICT_RANK.get(v, -1) >= VERDICT_RANK[self.level] for v in chosen if isinstance(v, str))

