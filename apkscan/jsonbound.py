"""``json.loads`` for user-supplied documents, with the number of values bounded first.

A byte cap alone does not bound memory: ``[[],[],...]`` costs ~26 bytes of Python objects
per input byte (a 64 MiB ``packages.json``: 1.7 GB; a 1 GiB scan document: ~27 GB), where a
real scan document or AndroidQF ``packages.json`` costs 2-3. Each value after the first in a
container follows a ``,`` and each container opens with ``[`` or ``{``, so those bytes
outside strings, plus one, bound the values ``json.loads`` would create (exactly: the bound
is the values plus the empty containers; an object has no more keys than values).

The document is refused unless that bound is within the caller's cap *and* the document
spends on average at least :data:`MIN_BYTES_PER_VALUE` bytes per value (apkscan's own
documents spend ~40, ``packages.json`` 16 or more): then no value shape costs more than ~12 bytes
of objects per input byte (a one-key object: ~190 bytes per 16 input bytes).
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

MIN_BYTES_PER_VALUE = 8
ALWAYS_ALLOWED = 4096  # values any document may hold, however short it is
CHUNK = 1 << 18  # the exact count reads this much at a time: its memory does not grow with the document
READ_STEP = 1 << 20  # documents are read this much at a time


def read_at_most(stream: BinaryIO, limit: int) -> bytearray:
    """Up to ``limit + 1`` bytes of ``stream`` (one more than allowed says "too large"), read in
    steps: a single ``read(limit + 1)`` reserves the whole limit (1 GiB) even for a small file."""
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(min(READ_STEP, limit + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    return data


class TooManyValues(ValueError):
    """More JSON values than the caller allows: refused before any is built."""


def value_bound(data: bytes | bytearray, *, exact: bool = True) -> int:
    """How many values ``data`` can hold at most: ``,``, ``[`` and ``{`` bytes, plus one.

    ``exact=False`` counts them inside strings too (three ``bytes.count`` passes); ``exact``
    counts only those outside strings (:func:`_outside_strings`).
    """
    if not exact:
        return data.count(b",") + data.count(b"[") + data.count(b"{") + 1
    return _outside_strings(data) + 1


def _outside_strings(data: bytes | bytearray, stop_above: int | None = None) -> int:
    """``,[{`` bytes outside JSON strings, a chunk at a time, each step a C-speed bytes method.

    In a chunk, escape pairs (``\\\\`` then ``\\"``, left to right as JSON pairs them) are
    blanked, so every quote left opens or closes a string; which segments between quotes are
    outside strings follows from the count of quotes before. A chunk never splits an escape:
    one ending in an odd run of backslashes takes the byte they escape with it. Past the first
    syntax error the count may be off, but not before it, which is all ``json.loads`` builds.
    ``stop_above``: return as soon as the count is past it (a refusal need not count on).
    """
    total, inside, start, size = 0, False, 0, len(data)
    while start < size:
        chunk = data[start:start + CHUNK]
        escaped = (len(chunk) - len(chunk.rstrip(b"\\"))) % 2  # the next byte is escaped: skip it
        parts = chunk.replace(b"\\\\", b"__").replace(b'\\"', b"__").split(b'"')
        outside = b"".join(parts[1::2] if inside else parts[0::2])
        total += outside.count(b",") + outside.count(b"[") + outside.count(b"{")
        inside ^= len(parts) % 2 == 0  # an odd number of quotes
        start += len(chunk) + escaped
        if stop_above is not None and total > stop_above:
            break
    return total


def value_limit(size: int, max_values: int) -> int:
    """The values a ``size``-byte document may hold under an absolute cap of ``max_values``."""
    return min(max_values, max(ALWAYS_ALLOWED, size // MIN_BYTES_PER_VALUE))


def check_values(data: bytes | bytearray, max_values: int) -> None:
    """Raise :class:`TooManyValues` when ``data`` may hold more values than allowed.

    The cheap count (strings included) settles every ordinary document; only one over the
    limit is counted again without its strings, so commas inside strings (certificate
    subjects, labels: attacker-chosen text) never make a real document refused. Only UTF-8 is
    counted (and read): ``json.loads`` also decodes UTF-16/32, whose code units can hold a 0x22
    byte (U+2200) that would flip the count's idea of what is inside a string.
    """
    encoding = json.detect_encoding(data)
    if encoding not in ("utf-8", "utf-8-sig"):
        raise ValueError(f"JSON in {encoding}: only UTF-8 is read (RFC 8259)")
    limit = value_limit(len(data), max_values)
    if value_bound(data, exact=False) <= limit or _outside_strings(data, stop_above=limit - 1) + 1 <= limit:
        return
    raise TooManyValues(f"more than {limit} JSON values in {len(data)} bytes (at most {max_values}, "
                        f"and one per {MIN_BYTES_PER_VALUE} bytes on average)")


def loads(data: bytes | bytearray, max_values: int) -> Any:
    """``json.loads(data)`` once :func:`check_values` passed. Raises ``ValueError`` (bad JSON,
    bad UTF-8, an integer past 4,300 digits, :class:`TooManyValues`) or ``RecursionError``."""
    check_values(data, max_values)
    return json.loads(data)
