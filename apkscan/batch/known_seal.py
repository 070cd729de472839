"""What a row of ``known_lines`` (:mod:`apkscan.batch.known`, the warm fast lane) may serve: its
seal, which binds the columns the counts and exit code are read from to the line the JSONL
reader gets, and the line's shape (one line, an app's, of this path and SHA-256), checked without
parsing it; and where a line's decided part may stand when it is replaced after a policy or rule
change. A row that fails any of these is never served: its file is scanned the usual way.

How a line is stored (:func:`stored_of`): the line without its decided part, deflated, then the
decided part deflated on its own, after the end of the first stream (zlib says where each ends). A
line decided again after a policy or rule change keeps the first stream as it was and only deflates
its new decided part (:func:`restored`, ~1 KB): the ~13 KB line is not deflated again (~50 µs a file).
Both deflated: a row with its decided part as is overflowed SQLite's page (a page more to read for
each warm file with findings).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

from apkscan.sources.names import name_text

MAX_LINE = 1 << 20  # a stored line inflates to at most this (real ones: ~15 KB)


_HEAD = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(..., ensure_ascii=False) without an encoder per call


def seal_of(key: tuple[Any, ...], sha: Any, package: Any, verdict: Any, pairs: Any, span: Any, stored: bytes) -> str:
    """What binds a row's columns to its line and its key: a SHA-256 (128 bits kept) of the row's key
    (path, parser, options, rules, policies, format: ``known_lines``' primary key), of the SHA-256,
    package and verdicts the counts and exit code are taken from, of the decided part's span, and of
    the line's bytes as stored (deflated: inflating is deterministic, so they bind the line as its
    text would, and they are ~1/7 of it to hash, ~17 µs less per warm file), written together.
    The key is sealed too (review 90): a row written under a rule pack that did not ban its app,
    its rules and policies columns set to this run's by one SQL UPDATE, was served: a banned app
    allowed, exit 0; ``key`` also holds the file columns the lane compares (real path, size, times,
    inode, device: ``known._key_of``), whose UPDATE made a clean APK's row answer for a banned APK
    written at its path. A path not UTF-8 is keyed by its bytes (``store.path_key``): sealed as
    their hex, tagged, so it never reads as a text path."""
    named = [["bytes", k.hex()] if isinstance(k, bytes) else k for k in key]
    head = _HEAD([named, sha, package, verdict, pairs, span]).encode("utf-8", "surrogatepass")
    return hashlib.sha256(head + b"\n" + stored).hexdigest()[:32]


def stored_of(line: str, span: tuple[int, int] | None) -> bytes:
    """``line`` as a row keeps it: its text but the decided part at ``span``, deflated, then that part
    deflated (None: no decided part apart, an empty one; ~7x smaller: a store of 100,000 files stays
    small). surrogatepass: a non-UTF-8 file name's U+DCFF kept as is (the JSONL writer escapes it)."""
    start, end = span or (len(line), len(line))
    return restored(zlib.compress((line[:start] + line[end:]).encode("utf-8", "surrogatepass"), 1), line[start:end])


def restored(kept: bytes, decided: str) -> bytes:
    """A row's stored line with another decided part: ``kept``, the deflated rest of a sealed row's
    line (:func:`sealed_row`), is its rest as it was. The last decided part deflated is kept: apps
    without findings share one in a run (``KnownFiles._no_findings``)."""
    if decided != _LAST[0]:
        _LAST[:] = [decided, zlib.compress(decided.encode("utf-8", "surrogatepass"), 1)]
    return kept + _LAST[1]


_LAST: list = ["", zlib.compress(b"", 1)]


def served_row(row: Any, path: str, key: tuple[Any, ...],
               policy_names: tuple[str, ...]) -> tuple[str, tuple[tuple[str, str], ...], str, tuple[int, int] | None] | None:
    """A row's verdicts and line, checked to be what this run would have written for ``path``
    (None: damaged or planted out of shape; the file is then scanned): :func:`sealed_row`, and
    verdicts of this run's policies, in order."""
    from apkscan.ranks import VERDICTS

    sealed = sealed_row(row, path, key)
    if sealed is None:
        return None
    verdict, verdicts, line, _raw, span = sealed
    if (tuple(n for n, _ in verdicts) != policy_names or not policy_names or verdict != verdicts[0][1]
            or any(v not in VERDICTS for _, v in verdicts)):
        return None
    return verdict, verdicts, line, span


def sealed_row(row: Any, path: str, key: tuple[Any, ...]) -> tuple[str, tuple[tuple[str, str], ...], str, bytes,
                                                                      Any] | None:
    """A row's verdict, verdicts, line, the deflated rest of its line (:func:`restored`) and span, when
    sealed to its ``key`` and in shape (None: damaged
    or planted out of shape). The store is trusted (docs/batch.md), but a bad row must never crash the
    run, exhaust memory, bend the counts or the exit code, or put more than one line, or a line
    for another file, into the JSONL.

    The counts and exit code come from the columns, the reader of the JSONL from the line, so
    they must agree (review 29 F7). They were written together from one app, so the row carries
    a seal of both (:func:`seal_of`, over the line as stored) instead of the line being parsed
    again to compare (a third of a warm run's time): a column or a line changed alone, a torn or
    damaged row, is refused before it is inflated; the line's own bytes are also covered by
    zlib's Adler-32 and the bounded inflate. The seal
    is no authenticator: whoever can write the store can write a row whose columns and line
    agree with each other and with nothing else, as they can plant a well-shaped identity or
    decision (docs/batch.md: the store is trusted like your own files). Shape is still checked
    without a parse: one line, an app's, of this path and SHA-256."""
    try:
        verdict, pairs, span, seal = json.loads(row[8])
        verdicts = tuple((n, v) for n, v in pairs)
        if seal != seal_of(key, row[6], row[7], verdict, pairs, span, row[9]):  # before inflating anything
            _refused(row[6])
            return None
        span = tuple(span) if isinstance(span, list) else None
        got = line_of(row[9], span)
    except (ValueError, TypeError, RecursionError, zlib.error):  # RecursionError: a planted deep row
        return None
    if got is None or not verdicts:
        return None
    line, kept = got
    if ("\n" in line or "\r" in line or not line.startswith('{"type": "app", ') or not line.endswith("}")
            or f'"sha256": "{row[6]}"' not in line or f'"path": {_HEAD(name_text(path))}' not in line):
        return None
    return verdict, verdicts, line, kept, span


def _refused(sha: Any) -> None:
    """A seal that fails is said (``STORE_ROW_IGNORED``, once per run): damage, or a row moved onto
    another key; the file is then scanned as usual."""
    from apkscan.batch.store import ignored

    ignored(f"a warm-lane row for {sha if isinstance(sha, str) and len(sha) == 64 else 'an APK'} "
            "does not hold what its seal was taken of")


def line_of(stored: bytes, span: tuple[Any, ...] | None) -> tuple[str, bytes] | None:
    """A line stored by :func:`stored_of`, inflated at most to :data:`MAX_LINE`, with its decided
    part put back where ``span`` says (which must be exactly that part's length), and its deflated
    rest (None: out of shape). Raises ValueError (UnicodeError) or zlib.error on damaged bytes."""
    inflater = zlib.decompressobj()
    rest = inflater.decompress(stored, MAX_LINE)
    tail = inflater.unused_data  # the decided part's own stream
    if inflater.unconsumed_tail or not inflater.eof:
        return None
    second = zlib.decompressobj()
    decided = second.decompress(tail, MAX_LINE - len(rest) + 1)  # never 0: zlib's "no bound"
    if second.unconsumed_tail or not second.eof or second.unused_data or len(rest) + len(decided) > MAX_LINE:
        return None
    line, part = rest.decode("utf-8", "surrogatepass"), decided.decode("utf-8", "surrogatepass")
    kept = stored[:len(stored) - len(tail)]
    if span is None:
        return None if part else (line, kept)
    if not (len(span) == 2 and all(type(i) is int for i in span) and 0 <= span[0] <= len(line)
            and span[1] - span[0] == len(part)):
        return None
    return line[:span[0]] + part + line[span[0]:], kept


def span_of(span: Any, line: str) -> bool:
    """``span`` is where a decided part can stand in ``line``: inside it, after its head and
    before at least its last members (``, "warnings": ...}``), and starting with its first member
    (a span moved onto another member rebuilt a line holding two verdicts: review 48 F3)."""
    return (isinstance(span, tuple) and len(span) == 2 and all(type(i) is int for i in span)
            and 16 < span[0] <= span[1] <= len(line) - 3 and line[span[0] - 2:span[0]] == ", "
            and line.startswith('"verdict": ', span[0]) and line[span[1]:span[1] + 2] == ", ")
