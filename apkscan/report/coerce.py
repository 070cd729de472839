"""Lenient readers for fields of a scan document: a malformed field degrades to empty, never raises.

A report of a partly broken (or hand-edited) scan is still worth reading, so every view reads
the document through these.
"""

from __future__ import annotations

from typing import Any


def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list:
    return value if isinstance(value, list) else []


def _s(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _strs(value: Any) -> list[str]:
    return [_s(v) or "" for v in _l(value) if v is not None]
