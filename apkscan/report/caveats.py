"""What a policy says it cannot detect or its sources leave open (its ``uncertain`` items), as
every human-read report shows them: bounded, since a saved document given to ``report`` is
hostile and its lists have no length but the one it chose.

Apart from :mod:`apkscan.report.policy_view` because the terminal's all-allowed summary reads
them from the scan's own dict without importing the typed document (review 65 H1).
"""

from __future__ import annotations

from typing import Any

SHOWN = 12  # items of one policy a report shows; the rest are counted
CHARS = 400  # characters of one item shown (the shipped ones are under 300)


def items(value: Any) -> list[str] | None:
    """A policy's ``uncertain`` as its non-empty texts; None when it is no list of texts."""
    if value is None:
        return []
    if type(value) not in (list, tuple) or not all(type(u) is str for u in value):
        return None
    return [u.strip() for u in value if u.strip()]


def shown(texts: list[str]) -> tuple[list[str], int]:
    """The items a report shows (each cut to :data:`CHARS` with ``…``) and how many more there are."""
    cut = [u if len(u) <= CHARS else u[:CHARS - 1] + "…" for u in texts[:SHOWN]]
    return cut, max(0, len(texts) - SHOWN)
