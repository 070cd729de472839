"""Verdicts and match strengths, most severe / strongest first, and their ranks: one place.

Ranks grow with severity (``prohibited`` 3 > ``review`` 2 > ``allowed`` 1; ``confirmed`` 3 >
``strong`` 2 > ``weak`` 1), so ``max`` picks the worst verdict or the best evidence. Reports
that list the worst first sort by the position in ``VERDICTS`` / ``STRENGTHS``
(:func:`display_order`), derived from the same tuples, so the two orders cannot disagree. The
most severe verdict of an app and the counts per policy are taken here too, by the scan and by
the typed document alike, so a document read back counts as the scan counted (review 86 F1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

VERDICTS = ("prohibited", "review", "allowed")
STRENGTHS = ("confirmed", "strong", "weak")
VERDICT_RANK = {v: len(VERDICTS) - i for i, v in enumerate(VERDICTS)}
STRENGTH_RANK = {s: len(STRENGTHS) - i for i, s in enumerate(STRENGTHS)}


def display_order(values: tuple[str, ...]) -> dict[str, int]:
    """Sort key for "most severe first": 0 for the first of ``values``."""
    return {v: i for i, v in enumerate(values)}


def worst_of(verdicts: Iterable[str]) -> str:
    """The most severe of ``verdicts`` (``allowed`` for none; a word that is no verdict ranks below ``allowed``)."""
    return max(verdicts, key=lambda v: VERDICT_RANK.get(v, 0), default="allowed")


def tally_by_policy(apps: Iterable[Mapping[str, str]], names: Iterable[str]) -> dict[str, dict[str, int]]:
    """``{policy: {prohibited, review, allowed}}`` from each app's ``{policy: verdict}``: every
    name in ``names`` (zeros too), then any other a verdict is given under. An app with no
    policy named (a verdict alone: ``""``) is counted under the first name."""
    out = {n: {v: 0 for v in VERDICTS} for n in names}
    first = next(iter(out), "")
    for verdicts in apps:
        for name, verdict in verdicts.items():
            bucket = out.setdefault(name or first or "policy", {v: 0 for v in VERDICTS})
            bucket[verdict] = bucket.get(verdict, 0) + 1
    return out
