"""Every policy's verdict in ``apkscan diff``, and the notes on what two documents can compare.

A scan run with several policies decides each app under each (``verdicts``); ``verdict``
is the first policy's. Comparing the first only let an app newly prohibited under a later
policy read as "nothing got worse" while the scan itself failed (review 64 F7), so each
policy both documents ran is compared, and a note says when their policy sets differ.
``--quick`` documents hold no content check (review 64 F4): said by a note and by exit 3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apkscan.issues import Issue, Severity
from apkscan.ranks import VERDICT_RANK

if TYPE_CHECKING:
    from apkscan.document import App, ScanDocument


def worst_verdicts(copies: list[App], first: str | None) -> tuple[tuple[str, str], ...]:
    """``(policy, verdict)`` per policy, the most severe over the copies, in the first copy's policy order."""
    out: dict[str, str] = {}
    for app in copies:
        for name, verdict in app.verdict_names(first).items():
            if name not in out or VERDICT_RANK.get(verdict, 0) > VERDICT_RANK.get(out[name], 0):
                out[name] = verdict
    return tuple(out.items())


def common_policies(old: ScanDocument, new: ScanDocument) -> tuple[str, ...]:
    """Policies both scans ran, in the newer scan's order."""
    before = set(old.stated_policies())
    return tuple(p for p in new.stated_policies() if p in before)


def moves(old, new, policies: tuple[str, ...], skip: str | None) -> list[tuple[str, str, str]]:
    """``(policy, old verdict, new verdict)`` for each compared policy whose verdict moved
    (``skip``: the first policy of both scans, said by the app's own ``verdict``)."""
    a, b = dict(old.verdicts), dict(new.verdicts)
    return [(p, a[p], b[p]) for p in policies if p != skip and p in a and p in b and a[p] != b[p]]


def raised(found: list[tuple[str, str, str]]) -> bool:
    return any(VERDICT_RANK.get(n, 0) > VERDICT_RANK.get(o, 0) for _, o, n in found)


def prohibited_under(state) -> list[str]:
    """The policies under which an app is prohibited."""
    return [p for p, v in state.verdicts if v == "prohibited"]


def same_first(old: ScanDocument, new: ScanDocument) -> str | None:
    """The first policy when both scans name the same one (its verdict is ``verdict``)."""
    first = old.first_policy()
    return first if first is not None and first == new.first_policy() else None


def document_notes(old: ScanDocument, new: ScanDocument, paths: tuple[str, str]) -> list[Issue]:
    """Policy sets that differ (which were compared) and ``--quick`` documents."""
    notes = []
    before, after = old.stated_policies(), new.stated_policies()
    if (len(before) > 1 or len(after) > 1) and set(before) != set(after):
        common = common_policies(old, new)
        notes.append(Issue("DIFF_POLICIES_DIFFER", "the scans ran different sets of policies: verdicts compared "
                           f"under {', '.join(common) or 'none of them'}; only in the older: "
                           f"{', '.join(p for p in before if p not in after) or 'none'}; only in the newer: "
                           f"{', '.join(p for p in after if p not in before) or 'none'}", Severity.WARNING))
    notes += changed_policies(old, new) + uncertain_policies(new)
    for doc, path in zip((old, new), paths):
        if is_quick(doc):
            notes.append(Issue("DIFF_QUICK_SCAN", f"{path} was made with --quick: signers are compared by the "
                               "signatures checked (signature only), content was not checked, so a rebuilt or "
                               "tampered app under the same signature reads as unchanged; the comparison is "
                               "incomplete (exit 3, not 0, when nothing got worse)", Severity.WARNING))
    return notes


def changed_policies(old: ScanDocument, new: ScanDocument) -> list[Issue]:
    """A policy both scans ran under one name whose stated version or review date differs: a
    verdict that moved under it may have moved because the policy did (a release between two
    audits can change a shipped policy's content under its name). A user's edit that keeps both
    is not seen: the document records no digest of the policy's content."""
    before = {p.name: p for p in _metas(old) if p.name}
    notes = []
    for after in _metas(new):
        was = before.get(after.name) if after.name else None
        if was is None or (was.version, was.reviewed) == (after.version, after.reviewed):
            continue
        notes.append(Issue("DIFF_POLICY_CHANGED", f"policy {after.name} changed between the scans: version "
                           f"{was.version or '?'} (reviewed {was.reviewed or '?'}) then {after.version or '?'} "
                           f"(reviewed {after.reviewed or '?'}): a verdict under it may have moved because the "
                           "policy changed", Severity.WARNING))
    return notes


def uncertain_policies(new: ScanDocument) -> list[Issue]:
    """Each policy of the newer scan that states what it cannot detect (its ``uncertain``
    items): "nothing got worse" holds only for what its rules can see, and an app it names but
    cannot detect is ``allowed`` in both scans (review 65 H1: every human-read report says so).
    Bounded as the reports bound it: a saved document is hostile input."""
    from apkscan.report import caveats

    notes = []
    for meta in _metas(new):
        texts = caveats.items(meta.uncertain) if meta.name else None
        if not texts:
            continue
        shown, more = caveats.shown(texts)
        notes.append(Issue("DIFF_POLICY_UNCERTAIN", f"policy {meta.name} states what it cannot detect or its "
                           "sources leave open, so a verdict under it covers only what its rules see: "
                           + " | ".join(shown) + (f" (and {more} more)" if more else ""), Severity.WARNING))
    return notes


def _metas(doc: ScanDocument) -> tuple:
    """The run's policy records (a 1.0/1.1 document: its one ``policy``, when a record)."""
    if doc.policies:
        return doc.policies
    return () if doc.policy is None or isinstance(doc.policy, str) else (doc.policy,)


def is_quick(doc: ScanDocument) -> bool:
    """Made with ``--quick`` (the option, or an app whose content digests were not checked)."""
    return doc.quick or any(a.identity.quick for a in doc.apps)
