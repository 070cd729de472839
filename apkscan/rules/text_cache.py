"""A cache for functions of a name's text that keeps only texts a person could read whole.

Why: the name forms (:mod:`apkscan.rules.normalise`, :mod:`~apkscan.rules.label_words`,
:mod:`~apkscan.rules.display_order`, :mod:`~apkscan.rules.safe_label`) are pure and asked again
for every rule, so they are cached; but a label is an adversary's text of any length, and a
cache of 16,384 entries keyed by whole labels kept every long label a process matched: ~6 MB per
1M-character label, so a batch worker fed many such APKs grew without bound. A text longer than
:data:`LONG` is computed afresh each time (the result is the same; only a hostile label pays).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

LONG = 4096  # characters: a label Android shows is at most 1,000 (loadSafeLabel); apkscan stores 4,096


def text_cache(maxsize: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``functools.lru_cache(maxsize)`` for texts up to :data:`LONG` characters; longer ones are
    not kept. The first argument is the text."""
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def call(text: str, *rest: Any, **named: Any) -> Any:
            if isinstance(text, str) and len(text) > LONG:
                return fn(text, *rest, **named)
            return cached(text, *rest, **named)

        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        return call
    return wrap
