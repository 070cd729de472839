"""``json.loads`` for user-supplied documents, with the number of values bounded first.

A byte cap alone does not bound memory: ``[[],[],...]`` costs ~26 bytes of Python objects
per input byte (a 64 MiB ``packages.json``: 1.7 GB; a 1 GiB scan document: ~27 GB), where a
real scan document or AndroidQF ``packages.json`` costs 2-3. Each value after the first in a
container follows a ``,`` and each container opens with ``[`` or ``{``, so those bytes
outside strings, plus one, bound the values (and object keys) ``json.loads`` would create.

The document is refused unless that bound is within the caller's cap *and* the document
spends on average at least :data:`MIN_BYTES_PER_VALUE` bytes per value (apkscan's own
documents spend ~35, ``packages.json`` ~16): then no value shape costs more than ~12 bytes
of objects per input byte (a one-key object: ~190 bytes per 16 input bytes).
"""

from __future__ import annotations

import json
import re
from typing import Any

MIN_BYTES_PER_VALUE = 8
ALWAYS_ALLOWED = 4096  # values any document may hold, however short it is
# A JSON string, or an unterminated one up to the end: every '"' starts a match that succeeds
# (no alternative can fail after consuming), so stripping strings is one linear pass.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)


class TooManyValues(ValueError):
    """More JSON values than the caller allows: refused before any is built."""


def value_bound(data: bytes, *, exact: bool = True) -> int:
    """How many values ``data`` can hold at most: ``,``, ``[`` and ``{`` bytes, plus one.

    ``exact=False`` counts them inside strings too (three ``bytes.count`` passes); ``exact``
    first removes the strings (a regex pass, and a copy of the rest).
    """
    if exact:
        data = _STRING.sub(b"", data)
    return data.count(b",") + data.count(b"[") + data.count(b"{") + 1


def value_limit(size: int, max_values: int) -> int:
    """The values a ``size``-byte document may hold under an absolute cap of ``max_values``."""
    return min(max_values, max(ALWAYS_ALLOWED, size // MIN_BYTES_PER_VALUE))


def check_values(data: bytes, max_values: int) -> None:
    """Raise :class:`TooManyValues` when ``data`` may hold more values than allowed.

    The cheap count (strings included) settles every ordinary document; only one over the
    limit is counted again without its strings, so commas inside strings (certificate
    subjects, labels: attacker-chosen text) never make a real document refused.
    """
    limit = value_limit(len(data), max_values)
    if value_bound(data, exact=False) <= limit:
        return
    found = value_bound(data)
    if found > limit:
        raise TooManyValues(f"up to {found} JSON values in {len(data)} bytes, more than the {limit} allowed "
                            f"(at most {max_values}, and one per {MIN_BYTES_PER_VALUE} bytes on average)")


def loads(data: bytes, max_values: int) -> Any:
    """``json.loads(data)`` once :func:`check_values` passed. Raises ``ValueError`` (bad JSON,
    bad UTF-8, an integer past 4,300 digits, :class:`TooManyValues`) or ``RecursionError``."""
    check_values(data, max_values)
    return json.loads(data)
