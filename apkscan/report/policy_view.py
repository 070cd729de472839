"""The verdicts of several policies, read from a scan document (schema 1.2; 1.1 has one).

Renderers show one verdict column per policy; a 1.1 document (or one scan with a single
policy) gives one column, the app's ``verdict``, so old documents render as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apkscan.document import App, Decision, Finding, ScanDocument
from apkscan.document.scan_document import PolicyMeta as DocPolicyMeta
from apkscan.report import caveats


@dataclass(slots=True)
class PolicyVerdict:
    """One policy's verdict for one app, with the citation of the decision behind it."""

    policy: str
    verdict: str  # prohibited / review / allowed / unknown (no entry for this policy)
    decision: str | None
    text: str | None
    authority: str | None
    date: str | None
    url: str | None

    @property
    def ref(self) -> str:
        """``policy / decision (authority, date)``; the policy default says so."""
        extra = ", ".join(x for x in (self.authority, self.date) if x)
        name = f"{self.policy} / {self.decision or 'default (no decision matched)'}"
        return f"{name} ({extra})" if extra else name


def app_verdicts(app: App, names: list[str]) -> list[PolicyVerdict]:
    """The app's verdict under each of ``names`` (1.1 app: the first name gets ``verdict``)."""
    out = []
    for i, name in enumerate(names):
        entry = app.verdicts.get(name)
        verdict = entry.verdict if entry else None
        if entry is None and i == 0 and not app.verdicts:  # schema 1.1: the one verdict is the first policy's
            entry = app.policy if isinstance(app.policy, Decision) else Decision()
            verdict = app.verdict
        entry = entry or Decision()
        out.append(PolicyVerdict(name, verdict or "unknown", entry.decision, _strip(entry.text),
                                 entry.authority, entry.date, entry.url))
    return out


def headers(names: list[str]) -> list[str]:
    """Short column headers: ``VERDICT`` for one policy, ``P1``.. ``Pn`` (with a legend) for several."""
    return ["VERDICT"] if len(names) <= 1 else [f"P{i}" for i in range(1, len(names) + 1)]


def finding_verdicts(f: Finding) -> dict[str, tuple[str, str | None]]:
    """A finding's ``{policy: (verdict, decision)}`` (1.2); empty for a 1.1 finding."""
    return {name: (v.verdict, v.decision) for name, v in f.verdicts.items()}


def _strip(text: str | None) -> str | None:
    return text.strip() if text else None


@dataclass(slots=True)
class PolicyMeta:
    name: str
    title: str | None
    version: str | None
    url: str | None
    uncertain: list[str] = field(default_factory=list)  # as shown: ``caveats.shown``
    uncertain_more: int = 0  # items past those shown


def policy_metas(doc: ScanDocument) -> list[PolicyMeta]:
    """Name, title, version, first checked URL and ``uncertain`` items of each policy, in scan order."""
    given = {p.name: p for p in doc.policies}
    first = doc.policy if isinstance(doc.policy, DocPolicyMeta) else None
    out = []
    for name in doc.policy_names():
        p = given.get(name) or (first if first and first.name == name else None) or DocPolicyMeta()
        texts, more = caveats.shown(caveats.items(p.uncertain) or [])
        out.append(PolicyMeta(name, p.title, p.version, p.url, texts, more))
    return out


def uncertain(doc: ScanDocument) -> list[PolicyMeta]:
    """The run's policies that say what they cannot detect or what their sources leave open
    (review 65 H1: a Texas verdict read "allowed" for an app the policy names but no rule finds,
    and only the JSON said so). Every human-read report shows these, once per policy."""
    return [p for p in policy_metas(doc) if p.uncertain]
