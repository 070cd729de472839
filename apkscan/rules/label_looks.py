"""A label read with the look-alike letters a reader takes for the name: ``T1kT0k``, ``VVeChat``.

Why: the banned apps' label patterns are whole names, and the ``words`` form
(:mod:`~apkscan.rules.label_words`) keeps letters and digits as they are, so a repackage
showing ``T1kT0k``, ``TikT0k``, ``W3Chat``, ``VVeChat``, ``Ti k Tok``, ``T ikTok``,
``Kaspersk y`` or ``🇹🇮🇰🇹🇴🇰`` took no label rule (left open by reviews 82 and 87), though a
reader reads the name in each. A label's ``lookalike`` forms (asked after its ``words`` form,
labels only) are that words form read once more, each change a guess a reader makes:

- regional indicator symbols (U+1F1E6-U+1F1FF, drawn as boxed capitals) read as the letters
  they show, before the words are split (``🇹🇮🇰🇹🇴🇰``, ``🇶🇶``);
- in a word that has letters too, the digits drawn as letters read as those letters: 0 o,
  1 i or l (one form each), 3 e, 4 a, 5 s, 7 t (``T1kT0k``, ``W3Chat``, ``Musica11y``); a word
  of digits only stays (``TikTok 2``, ``Lemon 8``, ``365``);
- in such a word, ``vv`` read as ``w`` (``VVeChat``);
- a lone letter standing between separators, next to a word of two or more characters, joined
  to the word before it (one form) or after it (another): ``Ti k Tok`` reads ``tik tok``,
  ``T ikTok`` ``tiktok``, ``Kaspersk y`` ``kaspersky``. Not ``a``, ``i``, ``o`` or ``u``,
  which are words by themselves (``U Like`` is no ULike, ``A Pico`` no Pico), nor two lone
  letters (``Q Q`` is no QQ: review 87 F3).

So a label has at most four such forms (two readings of 1, two of a lone letter), each built
from the words form's first 2 x MAX_ASKED + 8 characters (what a rule asks of a form, review 87
F1) and only when one of these changes it. They are guesses, weaker
than the name written: a match in one is ``label`` evidence (``weak``, as every label) whose
``location`` says which reading found it, never more.

Left, and why: a label whose 1s need both readings (``T1kTok 1ite``); two stray separators
that need both joins (``Ti k T ok``; ``T ik T ok`` joins); ``I`` or ``|`` for ``l`` and ``rn``
for ``m`` (packages read them, :data:`~apkscan.rules.normalise.ASCII_CONFUSABLES`; a label's
case is folded before its forms are built, so ``Iark`` would need the raw text); a separator
between a CJK and a Latin letter (``微-Chat``: no banned name mixes the two scripts).
A flag after a name is a word here (``WeChat 🇨🇳`` reads ``wechat cn``), but the ``words`` form,
asked first, looks past it as before.
"""

from __future__ import annotations

import re

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
# digits drawn as letters; 1 is read both ways (an i in ``T1kTok``, an l in ``Musica11y``)
_DIGITS = (str.maketrans("013457", "oieast"), str.maketrans("013457", "oleast"))
_WORD_ALONE = frozenset("aiou")  # one-letter words of their own: never joined
_CHANGED = re.compile("[013457 ]|vv")  # what a reading may change (a space: a lone letter)
# Characters of the words form read: a rule asks a form's first MAX_ASKED characters, and each
# change at most halves a stretch (vv as w; a lone letter's space), so these hold them.
_READ = 2 * MAX_ASKED + 8


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
    """The words with each lone letter joined to the word before it (``before``) or after it,
    when that neighbour has two or more characters and a letter (not another lone letter)."""
    def word(j: int) -> bool:
        return 0 <= j < len(words) and len(words[j]) > 1 and _lettered(words[j])
    out: list[str] = []
    i = 0
    while i < len(words):
        if _lone(words, i) and before and word(i - 1):
            out[-1] += words[i]
        elif _lone(words, i) and not before and word(i + 1):
            out.append(words[i] + words[i + 1])
            i += 1
        else:
            out.append(words[i])
        i += 1
    return out


def _read(word: str, table: dict[int, str]) -> str:
    """A word with letters read with its digits as letters and ``vv`` as ``w``; others as they are."""
    return word.translate(table).replace("vv", "w") if _lettered(word) else word


@text_cache(maxsize=16384)
def lookalike_forms(skel: str, base: str) -> tuple[str, ...]:
    """The ``lookalike`` forms of a label's skeleton whose words form is ``base``
    (:func:`~apkscan.rules.label_words.label_words`; module docstring), those that differ from
    it; ``()`` for most labels. Bounded: each is built in one pass from the words form's first
    :data:`_READ` characters (review 87 F1); only regional indicators are looked for in the
    whole skeleton, a linear search."""
    words = (label_words(_REGIONAL.sub(_letters, skel)) if _REGIONAL.search(skel) else base)[:_READ]
    if not words or (words == base and not _CHANGED.search(words)):  # most labels: nothing to read
        return ()
    split = words.split(" ")
    joins = [split]
    if len(split) > 1 and any(_lone(split, i) for i in range(len(split))):
        joins = [j for j in (_join(split, True), _join(split, False)) if j != split] or [split]
    out: list[str] = []
    for joined in joins:
        for table in (_DIGITS if "1" in words else _DIGITS[:1]):
            form = " ".join(_read(w, table) for w in joined)
            if form != base and form not in out:
                out.append(form)
    return tuple(out)
