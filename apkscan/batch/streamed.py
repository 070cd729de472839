"""Apps of a stream-only run (``--jsonl -q``, no report): what the run keeps of an app already
written to the JSONL stream, for its counts and exit code, so its memory does not grow with
the batch (see :func:`apkscan.scan.scan`, ``keep=False``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apkscan.result import AppResult


@dataclass(slots=True)
class StreamedApp:
    """An app already written to the JSONL stream when no report needs it (``keep=False``):
    its verdicts only, for the counts and the exit code."""

    verdict: str
    verdicts: dict[str, Any]


_STREAMED: dict[tuple[str, tuple[tuple[str, str], ...]], StreamedApp] = {}


def streamed(r: Any) -> Any:
    """One shared (never modified) StreamedApp per combination of verdicts: the run holds a
    reference per app, not an object. An app as its line (KnownApp) is already that small."""
    if not isinstance(r, AppResult):
        return r
    return shared(r.verdict, tuple((name, o.verdict) for name, o in r.verdicts.items()))


def shared(verdict: str, verdicts: tuple[tuple[str, str], ...]) -> StreamedApp:
    key = (verdict, verdicts)
    hit = _STREAMED.get(key)
    if hit is None:
        from apkscan.policy.decide import Outcome

        hit = _STREAMED[key] = StreamedApp(verdict, {name: Outcome(v, None) for name, v in verdicts})
    return hit
