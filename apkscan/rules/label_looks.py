"""A label read with the look-alike letters a reader takes for the name: ``T1kT0k``, ``VVeChat``.

Why: the banned apps' label patterns are whole names, and the ``words`` form
(:mod:`~apkscan.rules.label_words`) keeps letters and digits as they are, so a repackage
showing ``T1kT0k``, ``TikT0k``, ``W3Chat``, ``VVeChat``, ``Ti k Tok``, ``T ikTok``,
``Kaspersk y`` or ``🇹🇮🇰🇹🇴🇰`` took no label rule (left open by reviews 82 and 87), though a
reader reads the name in each. A label's ``lookalike`` forms (asked after its ``words`` form,
labels only) are that words form read once more, each change a guess a reader makes:

- regional indicator symbols (U+1F1E6-U+1F1FF, drawn as boxed capitals) read as the letters
  they show, before the words are split (``🇹🇮🇰🇹🇴🇰``, ``🇶🇶``);
- ASCII drawings of a letter, read in the label as shown, before its case is folded
  (:func:`drawn_letters`; NFKC, invisible characters gone, capital look-alikes mapped):
  ``/\\/\\`` and ``|\\/|`` m, ``\\/\\/`` w, ``|\\|`` n, ``|-|`` h, ``|_|`` u, ``()`` o,
  ``\\/`` v, ``|<`` k (a ``|`` also any of :data:`STROKES`, a ``-`` any of :data:`BARS`;
  review 91), and a ``|`` touching a letter or digit, or a capital ``I`` beside a small letter,
  as a ``1`` (a stroke, read as 1 is below): ``\\/\\/eChat``, ``TikTo|<``, ``/\\/\\usically``,
  ``Fa|\\||\\|o``, ``|-|ypic``, ``Do|_|yin``, ``Ress()``, ``|ark``, ``Iark``, ``I\\u200bark``,
  ``TikTok Iite``. A capital ``I`` among
  capitals (``IARK``) or alone (``I Lark``) stays an I. That reading is a second words form,
  read as the first below, when it differs (review 90);
- in a word that has letters too, the digits drawn as letters read as those letters: 0 o,
  3 e, 4 a, 5 s, 7 t, and 1 three ways, one form each: all i, all l, and each 1 by its
  neighbours (two or more ``ll``, one beginning a word before a vowel or ending it after one
  ``l``, any other ``i``), so ``T1kTok 1ite`` reads ``tiktok lite`` and ``Mus1ca11y``
  ``musically`` (``T1kT0k``, ``W3Chat``); a word of digits only stays (``TikTok 2``, ``Lemon 8``,
  ``365``);
- in such a word, ``vv`` read as ``w`` and ``rn`` as ``m`` (``VVeChat``, ``Lernon8``,
  ``Drearnina``);
- a lone letter standing between separators, next to a word of two or more characters, joined
  to the word before it, else after it (one form), or after it, else before it (another):
  ``Ti k Tok`` reads ``tik tok``, ``T ikTok`` ``tiktok``, ``Kaspersk y`` ``kaspersky``,
  ``Ti k T ok`` ``tik tok``. Not ``a``, ``i``, ``o`` or ``u``, which are words by themselves
  (``U Like`` is no ULike, ``A Pico`` no Pico), nor two lone letters (``Q Q`` is no QQ:
  review 87 F3).

So a label has at most twelve such forms (two words forms x two joins x three readings of 1),
each built from a words form's first 2 x MAX_ASKED + 8 characters (what a rule asks of a form,
review 87 F1) and only when one of these changes it. They are guesses, weaker
than the name written: a match in one is ``label`` evidence (``weak``, as every label) whose
``location`` says which reading found it, never more.

Left, and why: a 1 its neighbours misread (a word-final i after a vowel, ``Qishu1``, or a
word-initial i before one) while another 1 of the label needs the other reading (no banned name
of the packs has both); a name that itself holds ``rn`` or ``vv`` (none of the packs' does) is
found by its words form only, not when it needs a reading too (``F3rn``); ``()`` read as a
``Q`` (``()Q`` reads ``oq``, no QQ: O and Q are letters a reader tells apart), and drawings
of other shapes (``[]`` o, ``|2`` r, ``/-\\`` a: no reader of a launcher title takes them for
a letter as readily, and ``[]``, ``|2`` stand in real names);
a separator between a CJK and a Latin letter (``微-Chat``: no
banned name mixes the two scripts).
A flag after a name is a word here (``WeChat 🇨🇳`` reads ``wechat cn``), but the ``words`` form,
asked first, looks past it as before.
"""

from __future__ import annotations

import re

from apkscan.rules import regex_book
from apkscan.rules.label_words import label_words
from apkscan.rules.regex_safety import MAX_ASKED
from apkscan.rules.text_cache import text_cache

_REGIONAL = re.compile("[\U0001F1E6-\U0001F1FF]+")
# Region codes a pair of regional indicators is drawn as a flag for (ISO 3166-1 alpha-2, and the
# other flags of Unicode's emoji list); any other pair is drawn as its two letters.
FLAGS = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
AC CP DG EA IC TA XK EU UN""".lower().split())
# digits drawn as letters; 1 is read three ways (all i, all l, by its neighbours: _one)
_DIGITS = (str.maketrans("013457", "oieast"), str.maketrans("013457", "oleast"),
           str.maketrans("03457", "oeast"))
_VOWELS = frozenset("aeiou")
_ONES = re.compile("1+")
_WORD_ALONE = frozenset("aiou")  # one-letter words of their own: never joined
_CHANGED = re.compile("[013457 ]|vv|rn")  # what a reading may change (a space: a lone letter)
# Characters of the words form read: a rule asks a form's first MAX_ASKED characters, and each
# change at most halves a stretch (vv as w, rn as m; a lone letter's space), so these hold them.
_READ = 2 * MAX_ASKED + 8
# ASCII drawings of a letter in the label as shown (before its case is folded), longest first:
# /\/\ and |\/| m, \/\/ w, |\| n, |-| h, |_| u, () o, \/ v, |< k; a | (or another of STROKES)
# touching a letter or digit, and a capital I beside a small letter (of any script), drawn as 1 is:
# a stroke, then read as a 1 is (i or l: _DIGITS). Each drawing is of fixed length: one pass.
# Strokes drawn as |: the vertical line, divides, the box-drawing verticals (light, heavy; the
# half-width one is the light one after NFKC), the light vertical bar, the vertical line extension.
STROKES = "|\u2223\u2502\u2503\u2758\u23d0"
# Bars drawn as the - of |-| (h): the hyphen-minus, the Unicode hyphens and dashes left by NFKC
# (U+2011 is U+2010 after it), the minus sign and the box-drawing horizontals.
BARS = "-\u2010\u2012\u2013\u2014\u2015\u2212\u2500\u2501"
_S = "[%s]" % STROKES
_DRAWN = "|".join((
    r"/\\/\\", r"\\/\\/", _S + r"\\/" + _S, _S + r"\\" + _S, "%s[%s]%s" % (_S, BARS, _S),
    _S + "_" + _S, r"\(\)", r"\\/", _S + "<", "[%sI]" % STROKES))
_drawn = regex_book.later(_DRAWN)  # ~2 ms of re's compiler at every start-up before (regex_book.later)
_SHAPE = str.maketrans({**dict.fromkeys(STROKES, "|"), **dict.fromkeys(BARS, "-")})
_DRAWN_AS = {"/\\/\\": "m", "|\\/|": "m", "\\/\\/": "w", "|\\|": "n", "|-|": "h", "|_|": "u",
             "()": "o", "\\/": "v", "|<": "k"}


def _stroke(m: re.Match[str]) -> str:
    got = m.group()
    if len(got) > 1:
        return _DRAWN_AS[got.translate(_SHAPE)]
    text, at = m.string, m.start()
    near = str.islower if got == "I" else str.isalnum
    return "1" if near(text[at - 1:at]) or near(text[at + 1:at + 2]) else got


def drawn_letters(text: str) -> str | None:
    """The label as shown with its ASCII drawings of letters read (:data:`_DRAWN`), or None
    when it has none: ``\\/\\/eChat`` -> ``weChat``, ``TikTo|<`` -> ``TikTok``, ``|ark`` and
    ``Iark`` -> ``1ark``, ``/\\/\\usic`` -> ``music``, ``Ress()`` -> ``Resso``. Asked of the text as shown, before its case is folded (the skeleton
    folds ``I`` to ``i``, the words form drops ``|``, ``\\/`` and ``()``): NFKC, invisible characters
    gone and the capital look-alikes mapped (:func:`~apkscan.rules.normalise.drawn_skeleton`:
    ``I\\u200bark``, ``Ｉark`` and Cyrillic ``Іark`` are ``Iark``). One linear pass."""
    found = _drawn()
    if not found.search(text):
        return None
    drawn = found.sub(_stroke, text)
    return drawn if drawn != text else None


def _letters(run: re.Match[str]) -> str:
    """A run of regional indicators as it is drawn: paired from its start, a pair that is a
    region's flag stays a symbol, any other pair (and an odd last one) reads as its letters."""
    text, out = run.group(), []
    for i in range(0, len(text), 2):
        pair = "".join(chr(ord(ch) - 0x1F1E6 + ord("a")) for ch in text[i:i + 2])  # lower case: a skeleton's
        out.append(text[i:i + 2] if pair in FLAGS else pair)
    return "".join(out)


def _lettered(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


def _lone(words: list[str], i: int) -> bool:
    """``words[i]`` is a lone letter that may be a stray piece of a neighbouring word."""
    w = words[i]
    return len(w) == 1 and w.isalpha() and w not in _WORD_ALONE


def _join(words: list[str], before: bool) -> list[str]:
    """The words with each lone letter joined to the word before it (``before``), else to the
    word after it; or after, else before. A neighbour joined to has two or more characters and
    a letter (never another lone letter), so ``Ti k T ok`` reads ``tik tok`` (review 90)."""
    def word(j: int) -> bool:
        return 0 <= j < len(words) and len(words[j]) > 1 and _lettered(words[j])
    out: list[str] = []
    i = 0
    while i < len(words):
        lone = _lone(words, i)
        if lone and word(i - 1) and (before or not word(i + 1)):
            out[-1] += words[i]
        elif lone and word(i + 1):
            out.append(words[i] + words[i + 1])
            i += 1
        else:
            out.append(words[i])
        i += 1
    return out


def _one(run: re.Match[str]) -> str:
    """A run of 1s read by its neighbours: two or more, ``ll`` (``Musica11y``); one beginning a
    word before a vowel, or ending it after one, ``l`` (``1ite``, ``Nove1``); any other ``i``
    (``T1kTok``)."""
    ones, word, at, end = run.group(), run.string, run.start(), run.end()
    if len(ones) > 1:
        return "l" * len(ones)
    if (at == 0 and word[end:end + 1] in _VOWELS) or (end == len(word) and word[at - 1:at] in _VOWELS):
        return "l"
    return "i"


def _read(word: str, digits: int) -> str:
    """A word with letters read with its digits as letters (``_DIGITS[digits]``; the third
    reads each 1 by its neighbours), ``vv`` as ``w`` and ``rn`` as ``m``; others as they are."""
    if not _lettered(word):
        return word
    read = word.translate(_DIGITS[digits])
    if digits == 2 and "1" in read:
        read = _ONES.sub(_one, read)
    return read.replace("vv", "w").replace("rn", "m")


def _bases(skel: str, base: str, drawn: str) -> list[str]:
    """The words forms the readings start from: the label's own, and that of ``drawn`` (its
    skeleton with the ASCII drawings read, :func:`drawn_letters`) when it differs; regional
    indicators read as letters in each; each cut to :data:`_READ` characters."""
    out = []
    for s, words in ((skel, base), (drawn, None)):
        if not s:
            continue
        if _REGIONAL.search(s):
            words = label_words(_REGIONAL.sub(_letters, s))
        elif words is None:
            words = label_words(s)
        if words[:_READ] not in out:
            out.append(words[:_READ])
    return out


@text_cache(maxsize=16384)
def lookalike_forms(skel: str, base: str, drawn: str = "") -> tuple[str, ...]:
    """The ``lookalike`` forms of a label's skeleton whose words form is ``base``
    (:func:`~apkscan.rules.label_words.label_words`; module docstring), those that differ from
    it; ``()`` for most labels. ``drawn``: the skeleton of :func:`drawn_letters`, or ``""``.
    Bounded: at most 2 bases x 2 joins x 3 readings of 1 = 12 forms, each built in one pass
    from a words form's first :data:`_READ` characters (review 87 F1) and only when a change
    applies; regional indicators and drawings are looked for in the whole text, linear searches."""
    out: list[str] = []
    for words in _bases(skel, base, drawn):
        if not words or (words == base and not _CHANGED.search(words)):  # most labels: nothing to read
            continue
        split = words.split(" ")
        joins = [split]
        if len(split) > 1 and any(_lone(split, i) for i in range(len(split))):
            joins = [j for j in (_join(split, True), _join(split, False)) if j != split] or [split]
        for joined in joins:
            for digits in (range(3) if "1" in words else range(1)):
                form = " ".join(_read(w, digits) for w in joined)
                if form != base and form not in out:
                    out.append(form)
    return tuple(out)
