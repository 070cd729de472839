"""Which characters of a name pass for another script's letters, so a report can mark them.

Why: the rules match a name through its skeleton (:mod:`apkscan.rules.normalise`), so a
repackage labelled ``TikТok`` (Cyrillic ``Т``) takes the TikTok label rule; but a report that
prints the stored text shows ``TikТok``, which a reviewer reads as the vendor's own spelling
(review 82 F5). Invisible and bidi characters are escaped by :mod:`apkscan.report.escape`; this
module finds the visible look-alikes, and the human formats mark them (HTML highlights them with
their code points and names, terminal and CSV add :func:`note`).

A character *reads as Latin* (:func:`reads_as`) when it is not ASCII, its skeleton is ASCII
letters or digits, and it gets there as a look-alike: it is in one of the confusable tables of
:mod:`apkscan.rules.normalise`, or NFKC writes it otherwise (full-width ``Ｔ``, mathematical ``𝐓``,
``①``, ``ﬁ``), or its Unicode name calls it a form of an ASCII letter (small capital ``ᴛ``,
dotless ``ı``). A letter with a visible accent or stroke (``é``, ``ł``, ``ё``) does not pass for
the plain letter and is not marked; nor is ``ß``. Marked, in a name:

- a Latin-script look-alike (the forms above) always: it is never the plain spelling;
- a letter of another script that reads as Latin (Cyrillic, Greek, Armenian, Cherokee, Lisu,
  Coptic, Canadian syllabics) when its word (letters, marks and digits between other
  characters) mixes scripts and it is not of the word's principal script (most letters; a tie
  goes to Latin): ``TikТok``, ``WеChat``; likewise an ASCII letter in a word mostly of another
  script that has a letter looking like it (``K`` in ``Kасперского``);
- every letter of a word written wholly in one other script's Latin look-alikes (``ТікТок``)
  when the name also has Latin letters (``ТікТок Lite``) or every letter of the name reads as
  Latin (the label ``ТікТок`` alone; also a lone Russian ``Касперского``, which does read as
  ``Kacnepckoro``).

Not marked: text in one script that does not read as Latin as a whole (``微信``,
``Лаборатория Касперского``, ``Kaspersky Антивирус``), and ASCII look-alikes among themselves
(``musicaIly`` with a capital I: ASCII is shown as it is; the rules read it as ``package-lookalike``).

Bound: a name's first :data:`MARK_MAX` marked characters are marked and noted, no more (review 87 F6).
"""

from __future__ import annotations

import functools
import heapq
import unicodedata

from apkscan.rules.normalise import (CAPITAL_CONFUSABLES, CONFUSABLES, DECORATIONS, SCRIPT_LOOK_ALIKES,
                                     latin_letter, skeleton)

LATIN = "LATIN"
# scripts with letters in the confusable tables: their letters are marked by context only
OTHER_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "LISU", "COPTIC", "CANADIAN"})
NOTE_MAX = 6  # characters a note names; more are counted
# positions marked in one name: a hostile 300k-character label made a 10 MB page (review 87 F6);
# a name a person reads is far shorter, and the note says the marked letters are there
MARK_MAX = 64


def _table_chars() -> frozenset[str]:
    out = set(CONFUSABLES) | set(CAPITAL_CONFUSABLES) | {c for c, v in DECORATIONS.items() if v and v.isalnum()}
    for name in SCRIPT_LOOK_ALIKES:
        ch = unicodedata.lookup(name)
        out |= {c for c in (ch, ch.lower(), ch.upper()) if len(c) == 1}
    return frozenset(out)


_TABLES = _table_chars()


@functools.lru_cache(maxsize=4096)
def reads_as(ch: str) -> str | None:
    """The ASCII letters or digits (lower case) ``ch`` passes for, or None (see the module)."""
    if ch.isascii():
        return None
    shown = skeleton(ch)
    if not (shown and shown.isascii() and shown.isalnum()):
        return None
    if ch in _TABLES or unicodedata.normalize("NFKC", ch) != ch:
        return shown
    return shown if latin_letter(ch) != ch and " WITH " not in unicodedata.name(ch, "") else None


@functools.lru_cache(maxsize=4096)
def script(ch: str) -> str | None:
    """The script of a letter, by its Unicode name (``CYRILLIC``, ``GREEK``, ``CJK`` ...);
    ASCII letters and Latin look-alike forms are :data:`LATIN`; None for what is no letter."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    if ch.isascii():
        return LATIN
    first = unicodedata.name(ch, "?").split()[0]
    if first in OTHER_SCRIPTS:
        return first
    return LATIN if LATIN in unicodedata.name(ch, "") or reads_as(ch) else first


@functools.lru_cache(maxsize=16)
def _twins(of: str) -> frozenset[str]:
    """What the letters of script ``of`` in the confusable tables read as: an ASCII letter in a
    word of that script is marked when one of them looks like it."""
    return frozenset(r for c in _TABLES if script(c) == of and (r := reads_as(c)))


def _words(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of letters, marks and digits."""
    out, start = [], None
    for i, ch in enumerate(text):
        inside = unicodedata.category(ch)[0] in "LMN"
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(text)))
    return out


def _principal(scripts: list[str]) -> str:
    """The script most letters of a word are in; a tie goes to Latin, else to the first met."""
    counts: dict[str, int] = {}
    for s in scripts:
        counts[s] = counts.get(s, 0) + 1
    top = max(counts.values())
    tied = [s for s in counts if counts[s] == top]
    return LATIN if LATIN in tied else tied[0]


def _mixed(text: str, start: int, end: int, principal: str) -> list[int]:
    """Positions of a mixed word's letters outside its principal script that look like a letter
    of that script (or, for a letter of another script, like a Latin one in a word with Latin)."""
    letters = [(i, text[i], script(text[i])) for i in range(start, end) if script(text[i])]
    has_latin = any(s == LATIN for _, _, s in letters)
    out = []
    for i, ch, s in letters:
        if s == principal:
            continue
        if ch.isascii():
            if ch.lower() in _twins(principal):
                out.append(i)
        elif reads_as(ch) and (has_latin or reads_as(ch) in _twins(principal)):
            out.append(i)
    return out


@functools.lru_cache(maxsize=4096)
def marks(text: str | None) -> tuple[int, ...]:
    """Positions in ``text`` of the characters a report marks (see the module), in order: the
    first :data:`MARK_MAX` of them."""
    if not text or text.isascii():
        return ()
    found: set[int] = {i for i, ch in enumerate(text) if reads_as(ch) and script(ch) in (LATIN, None)}
    letters = [ch for ch in text if script(ch)]
    name_has_latin = any(script(ch) == LATIN for ch in letters)
    name_reads_latin = bool(letters) and all(script(ch) in OTHER_SCRIPTS and reads_as(ch) for ch in letters)
    for start, end in _words(text):
        scripts = [s for i in range(start, end) if (s := script(text[i]))]
        if len(set(scripts)) > 1:
            found.update(_mixed(text, start, end, _principal(scripts)))
        elif scripts and scripts[0] in OTHER_SCRIPTS and (name_has_latin or name_reads_latin):
            word = [text[i] for i in range(start, end) if script(text[i])]
            if all(reads_as(ch) for ch in word):
                found.update(i for i in range(start, end) if script(text[i]))
    return tuple(heapq.nsmallest(MARK_MAX, found))


def code_point(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def describe(ch: str) -> str:
    """``Т U+0422 CYRILLIC CAPITAL LETTER TE, reads as t``: what an HTML mark's title says."""
    name = unicodedata.name(ch, "unnamed")
    reading = reads_as(ch) or ch.lower()
    return f"{ch} {code_point(ch)} {name}, reads as {reading}"


def marked_chars(text: str | None) -> list[str]:
    """The distinct marked characters of ``text`` (of its first :data:`MARK_MAX` marks), in order of first appearance."""
    return list(dict.fromkeys(text[i] for i in marks(text))) if text else []


def note(text: str | None) -> str:
    """`` [look-alike: Т=U+0422, е=U+0435]`` for a name with marked characters, else "".
    Stable and formula-safe in a CSV cell (no ``=``/``+`` after a delimiter)."""
    chars = marked_chars(text)
    if not chars:
        return ""
    shown = ", ".join(f"{c}={code_point(c)}" for c in chars[:NOTE_MAX])
    more = f" and {len(chars) - NOTE_MAX} more" if len(chars) > NOTE_MAX else ""
    return f" [look-alike: {shown}{more}]"


def noted(text: str | None) -> str | None:
    """``text`` with its :func:`note` (None stays None)."""
    return text if text is None else text + note(text)
