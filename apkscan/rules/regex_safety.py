"""Refuse rule patterns whose matching can backtrack super-linearly (review 64 F9).

Why: Python's ``re`` backtracks and cannot be interrupted, and a rule file is often shared by
another team: ``label: ["^(a|aa)+$"]`` held a scan past its time budget on a 46-letter label.
No other engine is a dependency, so a pattern is walked once at load (``re._parser``, the
parse ``re`` compiles) and refused when it can take exponential time, or more than a cubic:

- a backreference or a conditional group whose group holds a repeat of varying count (matching
  those is NP-hard in general; one to a group of fixed text, ``^(Ex)ample \\1$``, is a literal);
- a repeat of more than one iteration whose body holds a repeat of varying count
  (``(a+)+``, ``(\\w+\\s?)+``, ``(.*a){20}``), or can match nothing (``(\\b)*``);
- a repeat whose body holds an alternation two branches of which can start with one character,
  or one of which can match nothing (``^(a|aa)+$``);
- more than two wide repeats in a row that can each take the same text (``.*a.*a.*a``): each
  adds a power of the text's length.

The check is conservative: characters compare ignoring case (the folded forms are asked with
IGNORECASE), classes with categories, negations or wide ranges are assumed to share characters
with one another, and an ambiguous-looking alternation may be refused although its branches
part later (``(ab|ac)+``). What it accepts is at most cubic in the text's length, and texts are
cut at :data:`MAX_ASKED` characters before any rule pattern searches them
(:func:`apkscan.rules.normalise.bounded_text`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from re import _constants as C  # type: ignore[attr-defined]  # noqa: N812
from re import _parser as P  # type: ignore[attr-defined]  # noqa: N812

MAX_ASKED = 256  # characters of a label, package or name value a rule pattern is asked about
MAX_CHAIN = 2  # wide repeats in a row over shared characters: cubic at most with the search's start
_SMALL_RANGE = 512  # a class range up to this many code points is listed character by character
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)
_CATEGORY_TESTS = {  # every category re knows, as a test of one character
    C.CATEGORY_DIGIT: re.compile(r"\d").fullmatch, C.CATEGORY_NOT_DIGIT: re.compile(r"\D").fullmatch,
    C.CATEGORY_SPACE: re.compile(r"\s").fullmatch, C.CATEGORY_NOT_SPACE: re.compile(r"\S").fullmatch,
    C.CATEGORY_WORD: re.compile(r"\w").fullmatch, C.CATEGORY_NOT_WORD: re.compile(r"\W").fullmatch,
}


def _variants(ch: str) -> frozenset[str]:
    """``ch`` and the characters IGNORECASE may take for it (two rounds: ``ſ`` -> ``S`` -> ``s``)."""
    out = {ch}
    for _ in range(2):
        out |= {v for c in out for v in (c.lower(), c.upper(), c.casefold()) if len(v) == 1}
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Chars:
    """Characters a part of a pattern can take: listed ones (with their case variants) and
    tests for the parts too wide to list (categories, negations, wide ranges, ``.``)."""

    listed: frozenset[str] = frozenset()
    tests: tuple[Callable[[str], bool], ...] = field(default=())

    def __or__(self, other: Chars) -> Chars:
        return Chars(self.listed | other.listed, self.tests + other.tests)

    def __bool__(self) -> bool:
        return bool(self.listed or self.tests)

    def overlaps(self, other: Chars) -> bool:
        """Whether the two may share a character (True when both have wide parts: unknown)."""
        if self.tests and other.tests:
            return True
        if self.listed & other.listed:
            return True
        return any(t(c) for t in self.tests for c in other.listed) or any(
            t(c) for t in other.tests for c in self.listed)


ANYTHING = Chars(tests=(lambda c: True,))


def _listed(chars: set[str]) -> Chars:
    return Chars(frozenset(v for c in chars for v in _variants(c)))


def _class(items: list) -> Chars:
    """The characters of a class ``[...]`` (an ``IN``), ignoring case."""
    chars: set[str] = set()
    tests: list[Callable[[str], bool]] = []
    negated = False
    for op, av in items:
        if op is C.NEGATE:
            negated = True
        elif op is C.LITERAL:
            chars.add(chr(av))
        elif op is C.RANGE and av[1] - av[0] < _SMALL_RANGE:
            chars.update(map(chr, range(av[0], av[1] + 1)))
        elif op is C.RANGE:
            lo, hi = av
            tests.append(lambda c, lo=lo, hi=hi: any(lo <= ord(v) <= hi for v in _variants(c)))
        elif op is C.CATEGORY and av in _CATEGORY_TESTS:
            test = _CATEGORY_TESTS[av]
            tests.append(lambda c, test=test: any(test(v) for v in _variants(c)))
        else:
            return ANYTHING
    if negated:  # all but a few: assumed to share characters with anything
        return ANYTHING
    return _listed(chars) | Chars(tests=tuple(tests))


def _atom(op, av) -> Chars | None:
    """The characters of a one-character item, or None when the item is no such thing."""
    if op is C.LITERAL:
        return _listed({chr(av)})
    if op is C.IN:
        return _class(av)
    if op in (C.ANY, C.NOT_LITERAL):
        return ANYTHING
    return None


def _body(op, av) -> list | None:
    """The items inside a group-like item (its one body), or None."""
    if op is C.SUBPATTERN:
        return list(av[-1])
    if op is C.ATOMIC_GROUP:
        return list(av)
    if op in _REPEATS:
        return list(av[2])
    if op in (C.ASSERT, C.ASSERT_NOT):
        return list(av[1])
    return None


def _first(items: list) -> tuple[Chars, bool]:
    """(characters a match of the sequence can start with, whether it can match nothing)."""
    out = Chars()
    for op, av in items:
        atom = _atom(op, av)
        if atom is not None:
            return out | atom, False
        if op is C.BRANCH:
            firsts = [_first(list(b)) for b in av[1]]
            for chars, _ in firsts:
                out = out | chars
            if not any(empty for _, empty in firsts):
                return out, False
        elif op in _REPEATS or op in (C.SUBPATTERN, C.ATOMIC_GROUP):
            chars, empty = _first(_body(op, av))
            out = out | chars
            if not empty and not (op in _REPEATS and av[0] == 0):
                return out, False
        elif op in (C.GROUPREF, C.GROUPREF_EXISTS):
            out = out | ANYTHING  # the group's text, or nothing when it matched nothing
        elif op not in (C.AT, C.ASSERT, C.ASSERT_NOT):
            return ANYTHING, False  # nothing else is parsed
    return out, True


def _chars(items: list) -> Chars:
    """Every character the sequence can take anywhere."""
    out = Chars()
    for op, av in items:
        atom = _atom(op, av)
        if atom is not None:
            out = out | atom
        elif op is C.BRANCH:
            for b in av[1]:
                out = out | _chars(list(b))
        elif op in (C.GROUPREF, C.GROUPREF_EXISTS):
            out = out | ANYTHING  # a group's text (of fixed length: others are refused)
        elif (body := _body(op, av)) is not None and op not in (C.ASSERT, C.ASSERT_NOT):
            out = out | _chars(body)
    return out


def _walk(items: list):
    """Every (op, av) of the sequence, at any depth."""
    for op, av in items:
        yield op, av
        if op is C.BRANCH:
            for b in av[1]:
                yield from _walk(list(b))
        elif op is C.GROUPREF_EXISTS:
            yield from _walk(list(av[1]))
            if av[2] is not None:
                yield from _walk(list(av[2]))
        elif (body := _body(op, av)) is not None:
            yield from _walk(body)


_MAY_REPEAT = re.compile(r"[*+{]|\\[1-9]|\(\?P=|\(\?\(")


def simple(pattern: str) -> bool:
    """Whether ``pattern`` has no repeat of more than one iteration and no reference to a group
    (no ``*``, ``+``, ``{``, ``\\1``, ``(?P=``, ``(?(`` anywhere, escaped or not): nothing can
    backtrack more than its length times. Why: most patterns are (all the shipped ones:
    ``^Tik[ ._-]?Tok$``), and the walk costs ~0.5 ms a pattern at every start-up."""
    return _MAY_REPEAT.search(pattern) is None


def unsafe(pattern: str, flags: int = 0) -> str | None:
    """Why searching with ``pattern`` may take more than cubic time in the text's length, or
    None. A pattern ``re`` cannot compile is no concern here (the caller reports that)."""
    if simple(pattern):
        return None
    try:
        items = list(P.parse(pattern, flags))
    except (re.error, RecursionError, OverflowError):
        return None
    groups = {av[0]: list(av[-1]) for op, av in _walk(items) if op is C.SUBPATTERN and av[0] is not None}
    for op, av in _walk(items):
        if op in (C.GROUPREF, C.GROUPREF_EXISTS) and _varies(groups.get(av if op is C.GROUPREF else av[0])):
            return ("it refers back to a group whose length varies (a backreference or conditional "
                    "group): matching one can take exponential time")
        if op in _REPEATS and av[1] > 1:
            why = _repeat_problem(list(av[2]))
            if why:
                return why
    degree = _degree(items)
    if degree > MAX_CHAIN:
        return (f"{degree} repeats in a row can each take the same text (as in `.*a.*a.*a`): a failing "
                f"search then takes time growing as the text's length to the power {degree + 1}; "
                "bound them or make their characters differ (`[^a]*a`)")
    return None


_ALTERNATION = ("a repeated alternation's alternatives can match the same text (as in `(a|aa)+`; they "
                "start with one character, case ignored, or one can match nothing): a failing match tries "
                "every way of splitting the text between them, exponential in its length; use a character "
                "class or alternatives that start differently")


def _varies(items: list | None) -> bool:
    """Whether the sequence holds a repeat of varying count (None: a group not found, assumed so)."""
    return items is None or any(op in _REPEATS and av[0] != av[1] for op, av in _walk(items))


def _repeat_problem(body: list) -> str | None:
    """Why a repeat of more than one iteration over ``body`` can backtrack exponentially."""
    if _varies(body):
        return ("a repeated group holds another repeat (nested quantifiers, as in `(a+)+`): a failing "
                "match tries every way of sharing the text between them, exponential in its length")
    if _first(body)[1]:
        return ("a repeated group can match nothing (as in `(a?)*` or `(\\b)+`): its iterations can "
                "share the text in exponentially many ways")
    for op, av in _walk(body):
        if op is not C.BRANCH:
            continue
        firsts = [_first(list(b)) for b in av[1]]
        if any(empty for _, empty in firsts):
            return _ALTERNATION  # ``a|aa`` is parsed as ``a(?:|a)``
        for i, (a, _) in enumerate(firsts):
            if any(a.overlaps(b) for b, _ in firsts[i + 1:]):
                return _ALTERNATION
    return None


def _elements(items: list, optional: bool = False):
    """The sequence as ("wide", chars, weight) repeats and ("need", chars, 0) characters it
    must take, groups opened; what may be skipped (``optional``) needs nothing."""
    for op, av in items:
        atom = _atom(op, av)
        if atom is not None:
            if not optional:
                yield "need", atom, 0
        elif op in _REPEATS:
            lo, hi, body = av[0], av[1], list(av[2])
            if hi - lo >= 2:
                yield "wide", _chars(body), 1
            elif hi <= 1:
                yield from _elements(body, optional or lo == 0)
            elif not optional and lo > 0:
                yield "need", _chars(body), 0
        elif op is C.BRANCH:
            degree = max(_degree(list(b)) for b in av[1])
            if degree:
                yield "wide", _chars([(op, av)]), degree
            elif not optional and not _first([(op, av)])[1]:
                yield "need", _chars([(op, av)]), 0
        elif op in (C.ASSERT, C.ASSERT_NOT):
            degree = _degree(list(av[1]))
            if degree:  # asked at each place it is reached, itself a repeat's worth of work
                yield "wide", _chars(list(av[1])), degree
        elif op in (C.SUBPATTERN, C.ATOMIC_GROUP):
            yield from _elements(_body(op, av), optional)
        elif op is C.GROUPREF_EXISTS:
            degree = max(_degree(list(b)) for b in av[1:] if b is not None)
            if degree:
                yield "wide", ANYTHING, degree


def _degree(items: list) -> int:
    """The most wide repeats in a row (weights added) where each next one can take text the
    last one can, and every character needed between them is one both can take."""
    best = run = 0
    last: Chars | None = None
    between: list[Chars] = []
    for kind, chars, weight in _elements(items):
        if kind == "need":
            between.append(chars)
            continue
        linked = last is not None and last.overlaps(chars) and all(
            d.overlaps(last) and d.overlaps(chars) for d in between)
        run = run + weight if linked else weight
        last, between = chars, []
        best = max(best, run)
    return best
