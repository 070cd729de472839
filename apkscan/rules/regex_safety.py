"""Refuse rule patterns whose matching can backtrack super-linearly (review 64 F9, final5).

Why: Python's ``re`` backtracks and cannot be interrupted, and a rule file is often shared by
another team: ``label: ["^(a|aa)+$"]`` held a scan past its time budget on a 46-letter label.
No other engine is a dependency, so a pattern is walked once at load (``re._parser``, the
parse ``re`` compiles) and refused when it can take exponential time, or more than a cubic:

- a backreference or a conditional group whose group holds a repeat of varying count (matching
  those is NP-hard in general; one to a group of fixed text, ``^(Ex)ample \\1$``, is a literal);
- a repeat of more than one iteration whose body holds a repeat of varying count (``(a+)+``,
  ``(\\w+\\s?)+``, ``(.*a){20}``) unless its iterations are separated (the body starts or ends
  with a character nothing else in it can take, and matches a stretch of text in one way:
  ``(\\.[a-z0-9_]+)*``), or whose body can match nothing (``(\\b)*``);
- a repeat whose body holds an alternation two branches of which can start with one character,
  or one of which can match nothing (``^(a|aa)+$``);
- more than two choices in a row that can each take the same text (``.*a.*a.*a``, and
  ``a?a?a?aaa``: an optional item or an alternation whose branches start alike is a choice
  too), each adding a power of the text's length (or doubling the work).

Characters compare as ``re`` compares them under IGNORECASE (the folded forms are asked so),
``İ``/``i`` and ``K``/``k`` included. The check is conservative: classes with categories,
negations or wide ranges are assumed to share characters with one another, a group counts every
character it can take wherever it is, and an ambiguous-looking alternation may be refused
although its branches part later (``(xa|\\wb)+``).

What it guarantees: in the model it walks, an accepted pattern tries at most a constant times
the cube of the text's length, the constant growing with the pattern (each choice's
alternatives multiply it: ``(a|b|c)`` three ways), never with the text. It is a
model of ``re``'s backtracking, not a proof about it: it does not bound the pattern's own length
(a 10,000-item pattern is slow on any text), and lookbehinds, conditionals and atomic groups are
only approximated. Texts are cut at :data:`MAX_ASKED` characters before any rule pattern searches
them (:func:`apkscan.rules.normalise.bounded_text`), so the cube is of at most 256.
"""

from __future__ import annotations

import functools
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


# Characters ``re`` folds to others that ``str``'s one-character case mappings do not reach
# (``İ`` is ``i`` to ``re``, but ``"İ".lower()`` is two characters; ``K`` (Kelvin) is ``k``):
# tests/test_rule_regex_safety.py checks the result against ``re`` over all of Unicode.
_FOLD_ODD = ("\u0130\u0131\u017f\u00b5\u0345\u0390\u03b0\u03c2\u03d0\u03d1\u03d5\u03d6\u03f0\u03f1\u03f4"
             "\u03f5\u1c80\u1c81\u1c82\u1c83\u1c84\u1c85\u1c86\u1c87\u1c88\u1e9b\u1e9e\u1fbe\u1fd3\u1fe3"
             "\u2126\u212a\u212b\ufb05\ufb06")


def _closure(ch: str) -> set[str]:
    out = {ch}
    for _ in range(3):
        out |= {v for c in out for v in (c.lower(), c.upper(), c.casefold(), c.title()) if len(v) == 1}
    return out


_ODD = frozenset(v for c in _FOLD_ODD for v in _closure(c))


@functools.lru_cache(maxsize=8192)
def _variants(ch: str) -> frozenset[str]:
    """Every character ``ch`` takes under IGNORECASE, as ``re`` sees it (review final5 F3)."""
    near = _closure(ch)
    if near & _ODD:
        near |= _ODD
    if len(near) == 1:
        return frozenset(near)
    same = re.compile(re.escape(ch), re.IGNORECASE).fullmatch
    return frozenset(v for v in near if same(v))


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
_GROUP_OPEN = re.compile(r"(?<!\\)\(\?")  # ``(?:``, ``(?P<``, ``(?i)``: a ``?`` that chooses nothing


def simple(pattern: str) -> bool:
    """Whether ``pattern`` has no repeat of more than one iteration, no reference to a group (no
    ``*``, ``+``, ``{``, ``\\1``, ``(?P=``, ``(?(`` anywhere, escaped or not) and at most
    :data:`MAX_CHAIN` choices (``?`` outside ``(?``, and ``|``, counted escaped or not): each
    choice at most doubles the ways to match, so no text can cost more than 4 tries at each of
    its places. Why: most patterns are (all but 3 shipped ones: ``^Tik[ ._-]?Tok$``), and the
    walk costs ~0.5 ms a pattern at every start-up."""
    if _MAY_REPEAT.search(pattern) is not None:
        return False
    choices = pattern.count("?") - len(_GROUP_OPEN.findall(pattern)) + pattern.count("|")
    return choices <= MAX_CHAIN


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
        return (f"{degree} repeats in a row (an optional part or an alternation counts as one) can "
                "each take the same text (as in `.*a.*a.*a` or `a?a?a?aaa`): a failing search then takes "
                f"time growing as the text's length to the power {degree + 1}, or doubling with each "
                "optional part; bound them or make their characters differ (`[^a]*a`)")
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
    if _varies(body) and not _separated(body):
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


def _separated(body: list) -> bool:
    """Whether the repeat's iterations cannot share text (review final5 F4): the body starts (or
    ends) with one character no other part of it can take, case ignored, so every such character
    of the text starts (ends) an iteration in any match, and the body alone matches a stretch of
    text in one way (no two of its repeats or choices take the same text: degree at most 1).
    ``(\\.[a-z0-9_]+)*``, ``( [A-Z][a-z]+)*``, ``([a-z]+\\.)*`` are; ``(a+)+``, ``(.*a){20}`` are not."""
    while len(body) == 1 and body[0][0] is C.SUBPATTERN:
        body = list(body[0][1][-1])
    if len(body) < 2 or _degree(body) > 1:
        return False
    for edge, rest in ((body[0], body[1:]), (body[-1], body[:-1])):
        chars = _atom(*edge)
        if chars is not None and not chars.overlaps(_chars(rest)):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Element:
    """A part of a sequence as :func:`_degree` sees it: a character it must take (``wide`` False),
    or a choice of how much text to take (a repeat of varying count, an optional item, an
    alternation whose alternatives can start alike) worth ``weight`` powers of the text's length;
    ``skippable`` when it may take nothing (its neighbours may then share text across it)."""

    wide: bool
    chars: Chars
    weight: int = 0
    skippable: bool = False


def _elements(items: list):
    """The sequence as :class:`Element` s, groups of one iteration opened."""
    for op, av in items:
        atom = _atom(op, av)
        if atom is not None:
            yield Element(False, atom)
        elif op in _REPEATS:
            yield from _repeat_elements(av[0], av[1], list(av[2]))
        elif op is C.BRANCH:
            firsts = [_first(list(b)) for b in av[1]]
            empty = any(e for _, e in firsts)
            ambiguous = empty or any(a.overlaps(b) for i, (a, _) in enumerate(firsts) for b, _ in firsts[i + 1:])
            degree = max(_degree(list(b)) for b in av[1])
            if degree or ambiguous:  # each alternative a way to match: a choice (``a|aa`` is ``a(?:|a)``)
                yield Element(True, _chars([(op, av)]), max(degree, 1), empty)
            else:
                yield Element(False, _chars([(op, av)]))
        elif op in (C.ASSERT, C.ASSERT_NOT):
            degree = _degree(list(av[1]))
            if degree:  # asked at each place it is reached, itself a repeat's worth of work
                yield Element(True, _chars(list(av[1])), degree, True)
        elif op in (C.SUBPATTERN, C.ATOMIC_GROUP):
            yield from _elements(_body(op, av))
        elif op is C.GROUPREF_EXISTS:
            degree = max(_degree(list(b)) for b in av[1:] if b is not None)
            if degree:
                yield Element(True, ANYTHING, degree, True)


def _repeat_elements(lo: int, hi: int, body: list):
    """A repeat as elements: a choice when its count varies (``x?`` too: review final5 F2, a run
    of ``a?a?a?`` is exponential in its length), else its body once or its characters needed."""
    degree = _degree(body)
    if hi > lo:
        yield Element(True, _chars(body), max(degree, 1), lo == 0)
    elif lo == 1:
        yield from _elements(body)
    elif lo > 1 and degree:  # fixed count over separated iterations: one repeat's worth each way
        yield Element(True, _chars(body), degree)
    elif lo > 1:
        yield Element(False, _chars(body))


def _degree(items: list) -> int:
    """The most choices in a row (weights added) where each can take text an earlier one can,
    and every character needed between them is one both can take; what may take nothing between
    them does not part them (``a*b?a*`` is 2)."""
    elements = list(_elements(items))
    runs: list[int] = []
    for j, e in enumerate(elements):
        run = e.weight
        needs: list[Chars] = []
        for i in range(j - 1, -1, -1) if e.wide else ():
            p = elements[i]
            if not p.wide:
                if not p.chars.overlaps(e.chars):
                    break
                needs.append(p.chars)
                continue
            if p.chars.overlaps(e.chars) and all(d.overlaps(p.chars) for d in needs):
                run = max(run, runs[i] + e.weight)
            if not p.skippable:
                break
        runs.append(run)
    return max(runs, default=0)
