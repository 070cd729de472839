"""A label read as its words: the punctuation, symbols and spacing a reader looks past.

Why: the banned apps' label patterns are whole names (``^Tik[ ._-]?Tok$``: a longer label
holding the name, ``Downloader for TikTok``, claims nothing), so a repackage showing
``TikTok!``, ``"TikTok"``, ``★WeChat★``, ``TikTok 🎵``, ``Tik/Tok`` or ``微 信`` took no label
rule, though a reader reads the name in each. A label's ``words`` form (asked after its
skeleton, labels only) is its :func:`~apkscan.rules.normalise.skeleton` with, for a
*separator* (a character of Unicode category P*, S* or Z*, and a spacing mark on one), every
nonspacing and enclosing mark (categories Mn, Me: ``TikTok\u0483``, ``微\u3099信``; the skeleton
drops only those of the script-neutral blocks) dropped first, and the letters drawn as a
separator read as one (:data:`SEPARATOR_LETTERS`: ``TikʼTok``, ``TikˍTok``, ``TikـTok``; between
two CJK letters :data:`CJK_STROKES`: ``微丨信``, ``抖ー音``; review 87 F2b):

- the separators at either end dropped (``TikTok!``, ``«WeChat»``, ``TikTok 🎵``, ``【微信】``);
  letters and digits of every script stay, so ``TikTok 2`` and ``TikTok Lite`` are
  what they were, and ``Downloader for TikTok!`` still no name;
- a run of them between two Han, Kana or Hangul characters dropped (``微 信``, ``微　信``,
  ``微·信``, ``抖_音``): these scripts write a name without spaces;
- every other run between two words one space, which a rule's ``[ ._-]?`` meets (``Tik/Tok``,
  ``Tik~Tok``, ``Tik - Tok``, ``Tik'Tok``);
- three or more one-character words in a row joined: a letter-spaced name (``T i k T o k``,
  ``W.e.C.h.a.t``, ``T i k Tok``); two are not, as ``Q & A``, ``Q Q`` or ``Q.Q.`` would be
  ``QQ`` (review 87 F3).

Left, and why: a word split unevenly (``Ti k Tok``: joining every word would make ``U Like``
the ULike app and ``Ten Cent`` the Tencent brand) and regional indicator letters (``🇹🇮🇰🇹🇴🇰``,
symbols here, so a flag after a name, ``WeChat 🇨🇳``, is looked past): the ``lookalike`` forms
read them (:mod:`~apkscan.rules.label_looks`); Private Use and unassigned characters at the
ends (a font's glyph or a box, and a newer Unicode may make one a letter); a separator between
a CJK and a Latin character (``微 Chat`` is no name). Certificate names and packages
have no ``words`` form: a package is the exact string Android installs, and publisher names
are compared by their words already (:func:`~apkscan.rules.normalise.publisher_key`).

Bound: of a label with more letters than a rule asks about, only the form's first
:data:`~apkscan.rules.regex_safety.MAX_ASKED` characters are built (review 87 F1).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator

from apkscan.rules import regex_book
from apkscan.rules.text_cache import text_cache
from apkscan.rules.regex_safety import MAX_ASKED

# Names of the scripts written without spaces between a name's characters (UCD character names:
# "CJK UNIFIED IDEOGRAPH-5FAE", "CJK COMPATIBILITY IDEOGRAPH-F900", "HIRAGANA LETTER A",
# "KATAKANA LETTER A", "HALFWIDTH KATAKANA ...", "HANGUL SYLLABLE ...", "HANGUL LETTER ...").
_CJK_NAMES = ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA", "KATAKANA",
              "HALFWIDTH KATAKANA", "HANGUL", "HALFWIDTH HANGUL", "IDEOGRAPHIC ITERATION MARK")

WORDS = "words"  # the form's name in evidence
LOOKALIKE = "lookalike"  # the look-alike forms' name (apkscan.rules.label_looks)
_ASCII_WORD = re.compile("[A-Za-z0-9]+")
_SPACED = 3  # one-character words in a row read as one letter-spaced name (review 87 F3: not 2)


@functools.lru_cache(maxsize=4096)
def cjk(ch: str) -> bool:
    """A Han, Kana or Hangul letter (not a CJK symbol or punctuation mark)."""
    return unicodedata.category(ch)[0] == "L" and unicodedata.name(ch, "").startswith(_CJK_NAMES)


# Marks dropped: a nonspacing or enclosing mark of any script's own block on a Latin or Han
# letter (``TikTok\u0483``, ``Tik\u0483Tok``, ``微\u3099信``) took no label rule; the banned names
# are Latin or Han, which these marks only decorate (review 87 F2a).
_DROPPED_MARKS = frozenset({"Mn", "Me"})

# Letters drawn as a separator, read as one (review 87 F2b: ``TikʼTok``, ``TikˍTok``, ``TikـTok``
# took no label rule, though ``Tik'Tok`` and ``Tik_Tok`` did): the spacing modifier letters drawn
# as an apostrophe, quote, prime, accent, line or colon (confusables.txt maps most of them to
# ASCII punctuation), the saltillo (an apostrophe) and the Arabic tatweel (a line between letters).
SEPARATOR_LETTERS = frozenset("\u02b9\u02ba\u02bb\u02bc\u02bd\u02be\u02bf\u02c6\u02c7\u02c8\u02c9"
                              "\u02ca\u02cb\u02cc\u02cd\u02ce\u02cf\u02d0\u02d1\u02ee\ua78c\u0640")
# Characters drawn as one stroke, read as a separator between two CJK letters (``微丨信``, ``抖ー音``,
# ``微丶信`` took no label rule): the stroke radicals 丨 丶 丿 (the Kangxi radicals ⼁ ⼂ ⼃ are
# these in the skeleton), the Hangzhou numeral 〡 and the prolonged sound mark ー.
CJK_STROKES = frozenset("\u4e28\u4e36\u4e3f\u3021\u30fc")
_SEPARATOR_LIKE = regex_book.later("[%s]" % "".join(sorted(SEPARATOR_LETTERS | CJK_STROKES)))

# Letters read of a skeleton: a rule asks only a form's first MAX_ASKED characters
# (normalise.bounded_text); the few more let the last of those join as they would in the whole.
_LETTERS_READ = MAX_ASKED + 4


def _runs(text: str) -> Iterator[str]:
    """``text``'s words: its maximal runs of non-separators (:data:`SEPARATOR_LETTERS` and, between
    two CJK letters, :data:`CJK_STROKES` are separators too); a nonspacing or enclosing mark
    dropped, a spacing one goes with what it is on."""
    word: list[str] = []
    sep, i = True, 0
    while i < len(text):
        ch, i = text[i], i + 1
        cat = unicodedata.category(ch)
        if cat in _DROPPED_MARKS:
            continue
        if ch in CJK_STROKES and word and cjk(word[-1]):
            j = i
            while j < len(text) and (text[j] in CJK_STROKES or unicodedata.category(text[j]) in _DROPPED_MARKS):
                j += 1
            if not (j < len(text) and cjk(text[j])):  # not between two CJK letters: letters
                word.extend(c for c in text[i - 1:j] if unicodedata.category(c) not in _DROPPED_MARKS)
                i = j
                continue
            ch, i, cat = " ", j, "Zs"  # the whole run one separator
        sep = cat[0] in "PSZ" or ch in SEPARATOR_LETTERS or (cat == "Mc" and sep)
        if not sep:
            word.append(ch)
        elif word:
            yield "".join(word)
            word = []
    if word:
        yield "".join(word)


@text_cache(maxsize=16384)
def label_words(skel: str) -> str:
    """A label's skeleton read as its words (module docstring); ``""`` when it has none. Of a
    label with more than :data:`_LETTERS_READ` letters only the first :data:`MAX_ASKED`
    characters, what a rule asks: a multi-million-character label cost seconds to minutes
    and a gigabyte to join (review 87 F1)."""
    if skel.isalnum() and not _SEPARATOR_LIKE().search(skel):  # most labels: one word, nothing to look past
        return skel
    if skel.isascii():  # every ASCII character but a letter or digit is P*, S* or Zs (a test holds it)
        found: Iterable[str] = (m.group() for m in _ASCII_WORD.finditer(skel))
    else:
        found = _runs(skel)
    words, letters = [], 0
    for word in found:
        words.append(word[:_LETTERS_READ - letters])
        letters += len(words[-1])
        if letters >= _LETTERS_READ:
            return " ".join(_joined(words))[:MAX_ASKED]
    return " ".join(_joined(words))


def _joined(words: list[str]) -> list[str]:
    """The words with those that meet at two CJK letters joined, then each run of three or more
    one-character words (a letter-spaced name). Pieces are joined once (review 87 F1)."""
    parts: list[list[str]] = []
    for word in words:
        if parts and word[0] >= "\u1100" and cjk(word[0]) and cjk(parts[-1][-1][-1]):  # no CJK below U+1100
            parts[-1].append(word)
        else:
            parts.append([word])
    joined = ["".join(p) for p in parts]
    out: list[str] = []
    i = 0
    while i < len(joined):
        j = i
        while j < len(joined) and len(joined[j]) == 1:
            j += 1
        if j - i >= _SPACED:
            out.append("".join(joined[i:j]))
            i = j
        else:
            out.append(joined[i])
            i += 1
    return out


def label_location(form: str) -> str | None:
    """The evidence ``location`` of a label found in ``form`` (as :func:`~apkscan.rules.
    normalise.form_search` names it): None for the name's own forms, else the reading."""
    if form in ("raw", "normalised", "skeleton"):
        return None
    read = next((r for r in _READ_AS if form == r or form.endswith(f", {r}")), None)
    if form == read:
        return _READ_AS[read]
    shown = form if read is None else form.removesuffix(f", {read}")
    return f"the label as Android shows it: {shown}" + (f"; {_SHORT[read]}" if read else "")


# how a finding's evidence names the forms that read more than the name's characters
_READ_AS = {
    WORDS: "the label read as its words: punctuation, symbols and spacing at its ends and between its words looked past",
    LOOKALIKE: "the label read with look-alikes, a guess: digits drawn as letters (0 o, 1 i or l, 3 e, 4 a, 5 s, 7 t),"
               " vv as w, rn as m, ASCII drawings of letters (\\/\\/ w, /\\/\\ or |\\/| m, |\\| n,"
               " |-| h, |_| u, () o, \\/ v, |< k, | or I as 1),"
               " regional indicators as letters, a lone letter joined to the word beside it",
}
_SHORT = {WORDS: "read as its words", LOOKALIKE: "read with look-alikes, a guess"}
