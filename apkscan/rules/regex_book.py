"""The rule packs' regular expressions, compiled once per user rather than once per run.

Why: every ``scan`` compiled ~150 expressions (each rule's pattern, its case-ignoring and
skeleton forms, the prefilter's combined ones) and checked each rule pattern's safety
(:mod:`apkscan.rules.regex_safety`): ~20 ms of a one-APK scan's ~190 ms, for packs that
rarely change. CPython's ``re`` parses and generates code in Python and hands the code to
``_sre.compile``; the book keeps that code, per pattern and flags, and the patterns found
safe, in the rule cache (:mod:`apkscan.rules.cache`: JSON, read only from folders this user
alone can write), and builds the same ``Pattern`` from it (a pattern's equality compares its
flags and code: ``tests/test_regex_book.py`` asks it of every pattern the shipped packs use).

The name forms' own patterns (:mod:`~apkscan.rules.label_looks` and its neighbours) are booked too
(:func:`later`): ``re`` compiled them at every start-up, ~2–4 ms.

One book file per interpreter, ``re`` version and safety code (its name is a digest of them):
another Python, apkscan or safety rule reads another book. Off on interpreters whose internals
were not checked (CPython before 3.11 or after 3.13, PyPy): ``re.compile`` and the checks
every time. A damaged or odd entry is compiled again, never trusted in part.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

MAX_BOOK = 2 << 20  # bytes of a book file read (the shipped packs' book: ~70 KB, read in ~1 ms)
MAX_GROUPS = 1000  # groups of a booked pattern (the packs' have a few): a match allocates a mark per group
MAX_ENTRIES = 1024  # kept in one book; past it, a new book holds this run's patterns only (a book of
# 4,000 entries, other rule sets' long gone, took ~64 ms to read: more than the book saves)
_FORMAT = "apkscan-regex-book/1"
_UNBOOKED = int(re.DEBUG) | int(getattr(re, "TEMPLATE", 0))  # printing or deprecated: left to re


def _internals() -> Any:
    """``(parse, code, sre_compile)`` of this interpreter's ``re``, or None when not checked here."""
    if sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info[:2] <= (3, 13):
        return None
    try:
        import _sre
        from re import _compiler, _parser

        return _parser.parse, _compiler._code, _sre.compile
    except (ImportError, AttributeError):
        return None


class _Book:
    """Entries read from the book file (lazily) and the ones this process added."""

    def __init__(self) -> None:
        self.internals = _internals()
        self.loaded = False
        self.code: dict[str, list[Any]] = {}
        self.safe: set[str] = set()
        self.used: set[str] = set()
        self.safe_used: set[str] = set()
        self.dirty = False

    def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        if self.internals is None:
            return
        data = _read(book_name())
        if isinstance(data, dict) and data.get("format") == _FORMAT:
            code, safe = data.get("code"), data.get("safe")
            self.code = code if isinstance(code, dict) else {}
            self.safe = {s for s in safe if isinstance(s, str)} if isinstance(safe, list) else set()


_BOOK = _Book()


def compile(pattern: str, flags: int = 0) -> re.Pattern[str]:  # noqa: A001 - re.compile's name and contract
    """``re.compile(pattern, flags)`` for a str pattern and int flags, from the book when it holds it."""
    book, flags = _BOOK, int(flags)
    if book.internals is None or flags & _UNBOOKED or type(pattern) is not str:  # a subclass may format otherwise
        return re.compile(pattern, flags)
    book.load()
    key = f"{flags} {pattern}"
    book.used.add(key)
    entry = book.code.get(key)
    if entry is not None:
        built = _built(pattern, entry)
        if built is not None:
            return built
    parse, code_of, sre_compile = book.internals
    parsed = parse(pattern, flags)  # raises re.error as re.compile does
    code = code_of(parsed, flags)
    groupindex = dict(parsed.state.groupdict)
    indexgroup = [None] * parsed.state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    entry = [flags | parsed.state.flags, list(code), parsed.state.groups - 1, groupindex, indexgroup]
    book.code[key] = entry
    book.dirty = True
    return sre_compile(pattern, entry[0], code, entry[2], groupindex, tuple(indexgroup))


def later(pattern: str, flags: int = 0) -> Callable[[], re.Pattern[str]]:
    """A getter of ``compile(pattern, flags)``, compiled on its first call, for a module's own pattern.

    Why: ``re`` compiled the name forms' patterns (:mod:`~apkscan.rules.label_looks`,
    :mod:`~apkscan.rules.safe_label`, ...) at every start-up, ~2–4 ms with the classes past U+00FF,
    used or not. First asked when apps are matched, after the rule set saved the book, so a
    pattern new to the book saves it (a no-op once it holds it)."""
    @functools.cache
    def get() -> re.Pattern[str]:
        found = compile(pattern, flags)
        save()
        return found

    get.pattern, get.flags = pattern, flags  # type: ignore[attr-defined]  # what tests compare
    return get


def _built(pattern: str, entry: Any) -> re.Pattern[str] | None:
    """The pattern from a book entry, or None when the entry is not well formed: ``_sre.compile``
    converts each code word as an unsigned int (TypeError, OverflowError) and refuses code that is
    not valid SRE code (RuntimeError) before the pattern can be used."""
    try:
        flags, code, groups, groupindex, indexgroup = entry
        if not (type(flags) is int and type(groups) is int and isinstance(code, list)  # code: _sre checks each
                and isinstance(groupindex, dict) and isinstance(indexgroup, list)
                and 0 <= groups < MAX_GROUPS and len(indexgroup) == groups + 1
                and all(isinstance(k, str) and type(v) is int and 0 < v <= groups and indexgroup[v] == k
                        for k, v in groupindex.items())
                and all(g is None or groupindex.get(g) == i for i, g in enumerate(indexgroup))):
            return None
        return _BOOK.internals[2](pattern, flags, code, groups, groupindex, tuple(indexgroup))
    except (ValueError, TypeError, RuntimeError, OverflowError, re.error):
        return None


def known_safe(pattern: str) -> bool:
    """True when this pattern passed the safety checks in a run with the same safety code."""
    book = _BOOK
    if book.internals is None:
        return False
    book.load()
    if pattern in book.safe:
        book.safe_used.add(pattern)
        return True
    return False


def remember_safe(pattern: str) -> None:
    book = _BOOK
    if book.internals is None:
        return
    book.load()
    book.safe_used.add(pattern)
    if pattern not in book.safe:
        book.safe.add(pattern)
        book.dirty = True


def save() -> None:
    """Write the book when this process added to it (atomically; a failure only means no book)."""
    from apkscan.rules import cache

    book = _BOOK
    if not book.dirty:
        return
    book.dirty = False
    code, safe = book.code, book.safe
    if len(code) + len(safe) > MAX_ENTRIES:  # patterns of other rule sets, long gone: this run's only
        code = {k: v for k, v in code.items() if k in book.used}
        safe = book.safe_used
    text = json.dumps({"format": _FORMAT, "code": code, "safe": sorted(safe)}, separators=(",", ":"))
    if len(text) <= MAX_BOOK:
        cache._write("regex", book_name(), text.encode("utf-8"))


@functools.cache
def book_name() -> str:
    """The file name: a digest of everything a book's entries depend on."""
    from apkscan import __version__, ignorable
    from apkscan.rules import confusables, loader, normalise, regex_safety

    h = hashlib.sha256()
    parts = [_FORMAT, __version__, sys.version, str(getattr(re, "_constants", re).__dict__.get("MAGIC"))]
    for module in (regex_safety, normalise, confusables, ignorable, loader):  # the safety verdicts' code (skeleton_side,
        # its tables, and loader._regex: which checks a pattern takes)
        with open(module.__file__ or "", "rb") as fh:
            parts.append(hashlib.sha256(fh.read()).hexdigest())
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest() + ".json"


def _read(name: str) -> Any:
    from apkscan.rules import cache

    folder = cache.cache_dir("regex")
    if not cache._trusted(folder):
        return None
    path = os.path.join(folder, name)
    try:
        if os.stat(path).st_size > MAX_BOOK:
            return None
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except (OSError, ValueError, RecursionError):
        return None
