"""Verdicts and match strengths, most severe / strongest first, and their ranks: one place.

Ranks grow with severity (``prohibited`` 3 > ``review`` 2 > ``allowed`` 1; ``confirmed`` 3 >
``strong`` 2 > ``weak`` 1), so ``max`` picks the worst verdict or the best evidence. Reports
that list the worst first sort by the position in ``VERDICTS`` / ``STRENGTHS``
(:func:`display_order`), derived from the same tuples, so the two orders cannot disagree.
"""

from __future__ import annotations

VERDICTS = ("prohibited", "review", "allowed")
STRENGTHS = ("confirmed", "strong", "weak")
VERDICT_RANK = {v: len(VERDICTS) - i for i, v in enumerate(VERDICTS)}
STRENGTH_RANK = {s: len(STRENGTHS) - i for i, s in enumerate(STRENGTHS)}


def display_order(values: tuple[str, ...]) -> dict[str, int]:
    """Sort key for "most severe first": 0 for the first of ``values``."""
    return {v: i for i, v in enumerate(values)}
