"""A finding's rows for the reports: its evidence as (field, value, note), the policy decision
it cites, and whether it calls the verified signer's name a claim.

Split from :mod:`apkscan.report.view` (which re-exports ``FindingRow`` and ``finding``): what a
renderer shows of one finding is read here from its typed record (never from note text), so
every format says the same. Everything stays plain ``str``: escaping is the renderer's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apkscan.document import Decision, Finding
from apkscan.document.scan_document import Evidence
from apkscan.key_fields import key_kind, key_words


@dataclass(slots=True)
class FindingRow:
    rule: str
    vendor: str | None
    app: str | None
    strength: str | None
    kind: str | None
    evidence: list[tuple[str, str, str]]  # (field, value, note: basis / matched / verified)
    policy_text: str | None
    policy_url: str | None
    policy_ref: str | None
    message: str | None
    record: Finding = field(repr=False)
    split: str | None = None  # a split APK's finding carried to its bundle's app: that split's path


def _evidence(value: tuple[Evidence, ...] | Mapping[str, Any]) -> list[tuple[str, str, str]]:
    if not isinstance(value, tuple):  # 1.0: {field: value}
        return [(str(k), fmt(v), "") for k, v in value.items()]
    return [(e.field, fmt(e.value if e.value is not None else e.values), "; ".join(_notes(e)))
            for e in value]


def _notes(e: Evidence) -> list[str]:
    note = [fmt(e.basis)] if e.basis else []
    if e.matched:
        note.append(f"matched {e.matched}")
    if e.verified is not None:
        note.append(_verified_note(e))
    if e.confidence:
        note.append(f"confidence {e.confidence}")
    if e.normalised:
        note.append(f"normalised {e.normalised}")
    if e.locale is not None:
        note.append(f"locale {e.locale or 'default'}")
    if e.location:
        note.append(f"at {e.location}")
    return note


def _verified_note(e: Evidence) -> str:
    """Which verified key the evidence was read from, by its field (review 75 F5: a lineage node
    read "verified signer"); a name on such a key taken as a claim (``verified`` false) is still
    on a verified key, not on a certificate merely present."""
    words = key_words(e.field)
    if e.verified:
        return words or "verified"
    return f"{words}, its name only a claim" if words else "present only, not verified"


def fmt(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value)
    return "" if value is None else str(value)


def policy_citation(pol: Decision | str | None) -> tuple[str | None, str | None, str | None]:
    """(text, url, reference) of the policy decision behind a verdict.

    The reference names the policy, the decision and its authority and date, e.g.
    ``canada-tbs-2023 / tbs-2023-10-wechat (Treasury Board, 2023-10-30)``.
    """
    if isinstance(pol, Decision):
        name = " / ".join(x for x in (pol.policy or pol.name, pol.decision) if x)
        extra = ", ".join(x for x in (pol.authority, pol.date) if x)
        ref = f"{name} ({extra})" if name and extra else (name or extra or None)
        text = pol.text or pol.reason
        return (text.strip() if text else None), pol.url, ref
    return pol or None, None, None  # 1.0: the policy's text alone


def claims_signer_name(f: FindingRow) -> bool:
    """The finding calls the name of the *verified signer whose publisher is shown* a claim, read
    from its typed evidence (never from note text): a signer's subject/issuer taken as a claim
    (``signer.*``, ``subject-present``), or a counterfeit certificate that is the verified signer.
    A certificate merely present that names the vendor (its issuing CA in the PKCS#7 bag) says
    nothing about the signer's name (final read R1: it marked a genuine vendor signer), nor does
    a claim on another verified key, a lineage node the app rotated away from or a v3 signer
    apksigner does not print (review 75 F5: "Example Corp" was marked for a ByteDance-named node)."""
    evidence = f.record.evidence
    if not isinstance(evidence, tuple):  # 1.0 documents: no basis to read
        return False
    return any(e.basis == "subject-present" and (key_kind(e.field) == "signer"
                                                 or (f.kind == "counterfeit-certificate" and e.verified is True
                                                     and (e.location or "").startswith("verified signer")))
               for e in evidence)


def finding(f: Finding, split: str | None = None) -> FindingRow:
    text, url, ref = policy_citation(f.policy)
    return FindingRow(rule=f.rule or "unknown-rule", vendor=f.vendor, app=f.app, strength=f.strength,
                      kind=f.kind, evidence=_evidence(f.evidence), policy_text=text, policy_url=url,
                      policy_ref=ref, message=f.message or None, record=f, split=split)
