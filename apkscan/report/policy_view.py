"""The verdicts of several policies, read from a scan document (schema 1.2; 1.1 has one).

Renderers show one verdict column per policy; a 1.1 document (or one scan with a single
policy) gives one column, the app's ``verdict``, so old documents render as before.
Missing or malformed fields degrade to ``unknown``/``None`` rather than raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apkscan.ranks import VERDICTS, display_order
from apkscan.report.coerce import _d, _l, _s

VERDICT_ORDER = display_order(VERDICTS)  # 0 = most severe


@dataclass(slots=True)
class PolicyVerdict:
    """One policy's verdict for one app, with the citation of the decision behind it."""

    policy: str
    verdict: str  # prohibited / review / allowed / unknown
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


def policy_names(doc: dict) -> list[str]:
    """The document's policies in scan order (1.2 ``policies``; else the one ``policy``)."""
    doc = _d(doc)
    names = [n for n in (_s(_d(p).get("name")) for p in _l(doc.get("policies"))) if n]
    if names:
        return list(dict.fromkeys(names))
    one = doc.get("policy")
    name = _s(_d(one).get("name")) if isinstance(one, dict) else _s(one)
    return [name or "policy"]


def app_verdicts(raw: dict, names: list[str]) -> list[PolicyVerdict]:
    """The app's verdict under each of ``names`` (1.1 app: the first name gets ``verdict``)."""
    raw = _d(raw)
    given = _d(raw.get("verdicts"))
    out = []
    for i, name in enumerate(names):
        entry = _d(given.get(name))
        if not entry and i == 0 and not given:  # schema 1.1: the one verdict is the first policy's
            entry = {**_d(raw.get("policy")), "verdict": raw.get("verdict")}
        verdict = _s(entry.get("verdict"))
        out.append(PolicyVerdict(name, verdict if verdict in VERDICTS else "unknown", _s(entry.get("decision")),
                                 _strip(entry.get("text")), _s(entry.get("authority")), _s(entry.get("date")),
                                 _s(entry.get("url"))))
    return out


def worst(verdicts: list[PolicyVerdict], fallback: str) -> str:
    """The most severe verdict over the policies (``fallback`` when there are none)."""
    known = [v.verdict for v in verdicts if v.verdict in VERDICT_ORDER]
    return min(known, key=VERDICT_ORDER.__getitem__) if known else fallback


def counts(rows: list[Any], names: list[str]) -> dict[str, dict[str, int]]:
    """Per policy: how many apps got each verdict (rows: ``view.AppRow``)."""
    out = {n: {v: 0 for v in VERDICTS} for n in names}
    for r in rows:
        for pv in r.verdicts:
            bucket = out.setdefault(pv.policy, {v: 0 for v in VERDICTS})
            bucket[pv.verdict] = bucket.get(pv.verdict, 0) + 1
    return out


def headers(names: list[str]) -> list[str]:
    """Short column headers: ``VERDICT`` for one policy, ``P1``.. ``Pn`` (with a legend) for several."""
    return ["VERDICT"] if len(names) <= 1 else [f"P{i}" for i in range(1, len(names) + 1)]


def finding_verdicts(raw: dict) -> dict[str, tuple[str, str | None]]:
    """A finding's ``{policy: (verdict, decision)}`` (1.2); empty for a 1.1 finding."""
    out = {}
    for name, entry in _d(_d(raw).get("verdicts")).items():
        entry = _d(entry)
        verdict = _s(entry.get("verdict"))
        out[str(name)] = (verdict if verdict in VERDICTS else "unknown", _s(entry.get("decision")))
    return out


def _strip(value: Any) -> str | None:
    text = _s(value)
    return text.strip() if text else None


@dataclass(slots=True)
class PolicyMeta:
    name: str
    title: str | None
    version: str | None
    url: str | None


def policy_metas(doc: dict) -> list[PolicyMeta]:
    """Name, title, version and first checked URL of each policy, in :func:`policy_names` order."""
    doc = _d(doc)
    given = {_s(_d(p).get("name")): _d(p) for p in _l(doc.get("policies"))}
    first = _d(doc.get("policy"))
    out = []
    for name in policy_names(doc):
        p = given.get(name) or (first if _s(first.get("name")) == name else {})
        out.append(PolicyMeta(name, _s(p.get("title")), _s(p.get("version")), _s(p.get("url"))))
    return out
