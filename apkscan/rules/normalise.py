"""Names as a person reads them, so invisible or look-alike characters cannot dodge a rule.

Labels, packages and publisher names are claims an adversary writes. Before matching we
compare them the way a reader sees them:

- :func:`normalise`: Unicode NFKC (full-width and compatibility forms fold to plain ones),
  every format character (category ``Cf``: zero-width space/joiner, bidi controls ...), every
  other ``Default_Ignorable_Code_Point`` and every control character removed, white space (and
  the braille blank) one space, runs collapsed and ends trimmed, then case-folded;
- :func:`skeleton`: :func:`normalise`, then the Unicode TR39 confusable mapping for the
  look-alike letters of :mod:`apkscan.rules.confusables`; the combining diacritics of the
  script-neutral mark blocks (:data:`DIACRITIC_BLOCKS`: U+0300-U+036F and its Extended and
  Supplement blocks, the marks for symbols, the half marks) and every enclosing mark dropped
  (stricter than TR39: ``WéChat`` and ``Tik\u1dc4Tok`` read as ``wechat``, ``tiktok``);
  trademark signs dropped, Unicode dashes and middle dots read as ``-`` and ``.``
  (:data:`DECORATIONS`);
- for a label only, its ``words`` form (:mod:`apkscan.rules.label_words`): the skeleton with
  the punctuation, symbols and spacing at its ends and between its words looked past
  (``TikTok!``, ``★WeChat★``, ``Tik/Tok``, ``微 信``, ``T i k T o k``); letters and digits of
  every script stay, so ``TikTok 2`` and ``Downloader for TikTok!`` are no ``TikTok``;
- for a label only, its ``lookalike`` forms (:mod:`apkscan.rules.label_looks`): the words form
  with digits drawn as letters, ``vv``, ``rn``, ASCII drawings of letters (``|<``, ``\\/``,
  ``/\\/\\``, ``|\\|``, ``|-|``, ``|_|``, ``()``, ``|`` and ``I`` for l, read in the text as
  written), regional indicators and a lone letter split off a word read as a reader guesses
  them (``T1kT0k``, ``VVeChat``, ``TikTo|<``, ``Iark``, ``Ress()``, ``🇹🇮🇰🇹🇴🇰``, ``T ikTok``),
  a guess its evidence names;
- :func:`readings`: what a reader is shown instead of the stored text, when it differs: its
  display order (:mod:`apkscan.rules.display_order`), and for a label Android's safe label
  and its first line (:mod:`apkscan.rules.safe_label`); each is asked every form above.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any, NamedTuple

from apkscan.rules import regex_book
from apkscan.rules.text_cache import text_cache
from apkscan.ignorable import default_ignorable
from apkscan.rules.confusables import CAPITAL_CONFUSABLES, CONFUSABLES, SCRIPT_LOOK_ALIKES, latin_letter, script_table
from apkscan.rules.display_order import reordered
from apkscan.rules.label_looks import drawn_letters, lookalike_forms
from apkscan.rules.label_words import LOOKALIKE, WORDS, label_words
from apkscan.rules.regex_safety import MAX_ASKED
from apkscan.rules.safe_label import first_line, safe_label


# The look-alike tables (apkscan.rules.confusables) as the skeleton's translate tables: the
# capitals, mapped before folding, and the lower-case letters, mapped after it too.
_CONFUSABLE_TABLE = str.maketrans(CONFUSABLES)
_CAPITAL_TABLE = str.maketrans({**CAPITAL_CONFUSABLES, **script_table(SCRIPT_LOOK_ALIKES)})

# Decorations a reader looks past in a name (review 82 F3: "TikTok™", "Tik‐Tok", "We·Chat" matched
# no label rule): trademark signs dropped (before NFKC, which writes ™ as "TM"), every dash of
# Unicode's Pd category and the minus sign read as "-", middle dots and bullets as ".", so a rule's
# separators ([ ._-]) meet them; U+212E (estimated sign) is an "e" in confusables.txt.
DECORATIONS: dict[str, str | None] = {
    **dict.fromkeys("\u2122\u2120\u00ae", None),
    **dict.fromkeys("\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\u2e17\u2e1a"
                    "\u2e3a\u2e3b\u2e40\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d", "-"),
    **dict.fromkeys("\u00b7\u0387\u2022\u2024\u2027\u2219\u22c5\u30fb\uff65\u2e31", "."),
    "\u212e": "e",
}
_DECORATION_TABLE = str.maketrans(DECORATIONS)

# The combining-mark blocks of no script (Combining Diacritical Marks, its Extended and
# Supplement blocks, ... for Symbols, Combining Half Marks): an accent or a stroke drawn on a
# letter, dropped from the skeleton; only U+0300-U+036F were, so ``Tik\u1dc4Tok`` (an accent
# from the Supplement block) or ``TikTok\u20d7`` (an arrow above) dodged every label rule.
DIACRITIC_BLOCKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
_DIACRITIC_TABLE = {cp: None for lo, hi in DIACRITIC_BLOCKS for cp in range(lo, hi + 1)
                    if unicodedata.category(chr(cp)) == "Mn"}


# Legal-form words dropped from publisher names (English, Russian transliteration, German ...).
LEGAL_FORMS = frozenset({"zao", "ao", "oao", "ooo", "pao", "jsc", "cjsc", "inc", "incorporated",
                         "ltd", "limited", "llc", "plc", "gmbh", "ag", "sa", "bv", "co", "corp",
                         "corporation", "company", "pte"})
# "Lab"/"Labs" are part of a name ("Kaspersky Lab", "Kaspersky Labs Limited"), not a legal form:
# dropping them made a bare "Kaspersky" read as the legal name "Kaspersky Lab" (review 27 F4).


def _ignorable(ch: str) -> bool:
    if unicodedata.category(ch) == "Cf":
        return True
    return default_ignorable(ord(ch))


@text_cache(maxsize=16384)  # pure; the matcher asks for the same rule patterns per app
def normalise(text: str) -> str:
    """NFKC, format/default-ignorable characters removed, case-folded."""
    return _visible(text).casefold()


# Symbols drawn as nothing that are neither white space nor ignorable: "TikTok\u2800" shows as
# "TikTok" (review 53 F2). Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) are ignorable already.
BLANKS = frozenset("\u2800")


def _visible(text: str) -> str:
    """What a reader sees: NFKC, format/ignorable and control characters gone, every kind of
    white space (and :data:`BLANKS`) one ASCII space, runs collapsed, both ends trimmed: a
    launcher shows ``TikTok\u00a0`` and ``\u2800TikTok`` as ``TikTok`` (review 53 F2)."""
    if text.isascii():  # NFKC-stable, and no ASCII character is a format or ignorable one
        if text.isprintable() and text[:1] != " " and text[-1:] != " " and "  " not in text:
            return text
        nfkc = text
    else:
        nfkc = unicodedata.normalize("NFKC", text)
    out = []
    for ch in nfkc:
        if ch.isspace() or ch in BLANKS:
            out.append(" ")
        elif not (_ignorable(ch) or unicodedata.category(ch) == "Cc"):
            out.append(ch)
    return " ".join("".join(out).split())


@text_cache(maxsize=16384)
def skeleton(text: str) -> str:
    """:func:`normalise` with combining diacritics (:data:`DIACRITIC_BLOCKS`) and enclosing marks
    dropped, the look-alike capitals (:mod:`apkscan.rules.confusables`) mapped before folding,
    then the lower-case look-alikes."""
    if text.isascii():  # both tables and latin_letter leave ASCII as it is (a test holds them to it)
        return _visible(text).lower()
    # mapped before NFKC too: NFKC turns lunate sigma Ϲ/ϲ (a c look-alike) into Σ/σ
    early = text.translate(_DECORATION_TABLE).translate(_CAPITAL_TABLE).translate(_CONFUSABLE_TABLE)
    decomposed = unicodedata.normalize("NFD", _visible(early)).translate(_DIACRITIC_TABLE)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Me")  # Me: a circle drawn round a letter
    folded = stripped.translate(_CAPITAL_TABLE).casefold().translate(_CONFUSABLE_TABLE)
    return unicodedata.normalize("NFC", "".join(latin_letter(ch) for ch in folded))


def publisher_key(name: str) -> str:
    """A publisher name reduced to its distinctive words: ``Kaspersky Lab, Inc.`` ->
    ``kaspersky lab``; punctuation and whitespace runs become one space, legal forms go."""
    words = re.split(r"[\W_]+", skeleton(name))
    return " ".join(w for w in words if w and w not in LEGAL_FORMS)


def publisher_keys(name: str) -> tuple[tuple[str, str], ...]:
    """(form, text) whose :func:`publisher_key` a listed name is compared with: the name as
    stored, then its ``display-order`` reading when bidi controls reorder it (``O=\u202ebaL
    yksrepsaK`` shows ``Kaspersky Lab``; review 79 F1)."""
    shown = reordered(name)
    return (("raw", name),) if shown is None else (("raw", name), ("display-order", shown))


def forms(text: str) -> list[tuple[str, str]]:
    """(how, value) forms to match, raw first; later forms only when they differ."""
    return list(_forms(text))


@text_cache(maxsize=16384)
def _forms(text: str) -> tuple[tuple[str, str], ...]:
    """:func:`forms`, kept: a match asks for the same package and label forms once per rule."""
    out = [("raw", text)]
    for how, value in (("normalised", normalise(text)), ("skeleton", skeleton(text))):
        if all(value != v for _, v in out):
            out.append((how, value))
    return tuple(out)


# UTS #39 confusables.txt maps these ASCII characters to another ASCII prototype: I, 1 and | to
# l, 0 to O, m to rn (compared here as rn -> m: the same equivalence, and a package without any of
# them keeps its forms). w -> vv and i -> l are not in the table. Packages only: a package is an
# exact string Android installs, so com.zhiliaoapp.musicaIly (capital I) is another package that
# reads as TikTok's (review 64 F8 note); labels are matched by patterns, publisher names by words.
ASCII_CONFUSABLES = str.maketrans({"I": "l", "1": "l", "|": "l", "0": "o"})


@text_cache(maxsize=16384)
def package_forms(text: str) -> tuple[tuple[str, str], ...]:
    """:func:`forms` of a package, then its ``lookalike`` form when it differs: the skeleton with
    the ASCII confusables of :data:`ASCII_CONFUSABLES` mapped (``musicaIly``, ``c0m``, ``rnm``)."""
    seen = _forms(text)
    if not (_HAS_ASCII_CONFUSABLE.search(text) or "rn" in skeleton(text)):
        return seen  # most packages: nothing to map (the skeleton is cached by _forms)
    value = skeleton(text.translate(ASCII_CONFUSABLES)).replace("rn", "m")
    return seen if any(value == v for _, v in seen) else (*seen, ("lookalike", value))


_HAS_ASCII_CONFUSABLE = re.compile(r"[I10|]")


@functools.lru_cache(maxsize=256)
def listed_keys(names: tuple[str, ...]) -> list[tuple[str, list[str]]]:
    """(name, its :func:`publisher_key` words) of a pack's listed names: the same for every app."""
    return [(n, publisher_key(n).split()) for n in names]


@functools.lru_cache(maxsize=1024)
def ignoring_case(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """A label pattern that also ignores case, for the folded forms (compiled once, not per app)."""
    return regex_book.compile(pattern.pattern, pattern.flags | re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def skeleton_side(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    r"""A pattern written with non-ASCII letters, read on the skeleton side: each non-ASCII
    literal replaced by its :func:`skeleton`, case ignored; None when nothing changes.

    A label's skeleton maps Cyrillic to Latin (``Kасперского`` -> ``kacnepckoro``), so a
    pattern written in Cyrillic (``касперск``) matched neither the raw label with one Latin
    ``K`` nor its skeleton (review 53 F3). Only literals are mapped (``\w`` stays ``\w``);
    escapes written in ASCII (``\u043a``) are left as they are."""
    src, out, i = pattern.pattern, [], 0
    if src.isascii():
        return None
    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src):
            if src[i + 1].isascii():
                out.append(src[i:i + 2])
                i += 2
                continue
            i, ch = i + 1, src[i + 1]  # an escaped non-ASCII character is a literal
        out.append(ch if ch.isascii() else re.escape(skeleton(ch)))
        i += 1
    try:
        mapped = regex_book.compile("".join(out), pattern.flags | re.IGNORECASE)
    except re.error:  # a literal that maps to nothing inside a class ([\u200b] -> []): no variant
        return None
    return None if mapped.pattern == src else mapped


class FormPatterns(NamedTuple):
    """What each form of a name is asked (:func:`form_search`). Each is a compiled pattern, or
    anything with a ``search`` (the prefilter's patterns combined into one)."""

    raw: Any  # the name as written
    folded: Any  # its normalised and skeleton forms: case ignored
    mapped: Any | None  # its skeleton too, a pattern in another script with its letters mapped


@functools.lru_cache(maxsize=1024)
def form_patterns(pattern: re.Pattern[str]) -> FormPatterns:
    """One rule pattern, as :func:`form_search` asks it of each form."""
    return FormPatterns(pattern, ignoring_case(pattern), skeleton_side(pattern))


def form_search(patterns: FormPatterns, text: str, folded_only: bool = False,
                label: bool = False) -> tuple[str, str] | None:
    """(how, form) of the first of ``text``'s :func:`forms` the patterns find, or None; then of
    its :func:`readings` (``how`` names the reading: ``display-order``, ``safe-label`` ...).

    Why one function: the matcher's label and name evidence and the prefilter's "could match"
    ask names this way, and the prefilter must find at least what the matcher finds; written
    once, they cannot drift. ``folded_only``: only the case-ignoring searches (a text equal to its
    normalised form is asked too: it may match only with case ignored). ``label``: ``text`` is an
    app label (its safe-label and first-line readings are asked too)."""
    found = _search(patterns, text, folded_only, label)
    if found:
        return found
    for how, value in readings(text, label):
        found = _search(patterns, value, folded_only, label)
        if found:
            return (how if found[0] not in (WORDS, LOOKALIKE) else f"{how}, {found[0]}"), found[1]
    return None


@text_cache(maxsize=16384)
def readings(text: str, label: bool = False) -> tuple[tuple[str, str], ...]:
    """(how, text) a reader is shown instead of ``text``, each only when it differs (review 79):
    ``display-order`` when bidi controls or RTL letters reorder it
    (:func:`apkscan.rules.display_order.reordered`); for a label, Android's ``safe-label`` and
    a one-line view's ``first-line`` (:mod:`apkscan.rules.safe_label`), each in display order
    too (``safe-label, display-order``)."""
    out: list[tuple[str, str]] = []

    def add(how: str, value: str | None) -> None:
        if value and value != text and all(value != v for _, v in out):
            out.append((how, value))
    add("display-order", reordered(text))
    if label:
        for how, value in (("safe-label", safe_label(text)), ("first-line", first_line(text))):
            add(how, value)
            add(f"{how}, display-order", reordered(value))
    return tuple(out)


def _search(patterns: FormPatterns, text: str, folded_only: bool, label: bool) -> tuple[str, str] | None:
    """:func:`form_search` of ``text``'s own forms: raw, then the folded ones."""
    raw, folded, mapped = patterns
    if not folded_only and raw.search(bounded_text(text)):
        return "raw", text
    for how, value, skeletal in (_label_forms(text) if label else _folded_forms(text)):
        asked = bounded_text(value)
        if folded.search(asked):
            return how, value
        if skeletal and mapped is not None and mapped.search(asked):
            # a normalised form equal to the skeleton (a label all in Latin look-alikes,
            # ``Kacnepckoro`` for ``касперск``) is the skeleton too, and is asked as one
            return ("skeleton" if how == "normalised" else how), value
    return None


@text_cache(maxsize=16384)
def _folded_forms(text: str) -> tuple[tuple[str, str, bool], ...]:
    """(how, value, a skeleton?) of the forms :func:`form_search` asks with case ignored: the
    normalised form always (also when it equals the text: ``tiktok`` is its own normalised form,
    and the raw, case-sensitive search of ``^Tik[ ._-]?Tok$`` misses it; review 65 H2), then the
    skeleton when it differs from it."""
    norm = normalise(text)
    skel = skeleton(text)
    return (("normalised", norm, skel == norm),) if skel == norm else (("normalised", norm, False), ("skeleton", skel, True))


@text_cache(maxsize=16384)  # one argument: the cache's fast key, as _folded_forms'
def _label_forms(text: str) -> tuple[tuple[str, str, bool], ...]:
    """:func:`_folded_forms` of a label, then its :data:`WORDS` form (:mod:`apkscan.rules.label_words`:
    ``TikTok!``, ``微 信``) and its :data:`LOOKALIKE` forms (:mod:`apkscan.rules.label_looks`:
    ``T1kT0k``, ``Ti k Tok``, ``|ark``), each when it differs from those before it."""
    out = _folded_forms(text)
    skel = out[-1][1]  # the skeleton (the normalised form when they are equal)
    words = label_words(skel)
    looks = lookalike_forms(skel, words, drawn_skeleton(text))
    for how, value in ((WORDS, words), *((LOOKALIKE, v) for v in looks)):
        if value and all(value != v for _, v, _ in out):
            out = (*out, (how, value, True))
    return out


def drawn_skeleton(text: str) -> str:
    """The skeleton of a label with its ASCII drawings of letters read
    (:func:`~apkscan.rules.label_looks.drawn_letters`), or ``""`` when it has none. They are
    read in the text as shown before its case is folded: NFKC, invisible characters gone
    (``I\u200bark``, ``Ｉark``, ``TikTo|\u200b<``), the capital look-alikes mapped (Cyrillic
    ``Іark``), since the skeleton folds ``I`` to ``i`` and the words form drops ``|``."""
    shown = _visible(text if text.isascii() else text.translate(_CAPITAL_TABLE))
    drawn = drawn_letters(shown)
    return skeleton(drawn) if drawn else ""


def bounded_text(text: str) -> str:
    """What a rule pattern searches of a label, package or name value: its first
    :data:`~apkscan.rules.regex_safety.MAX_ASKED` characters. Why: the patterns a rule file may
    hold are at most cubic in the text's length (:mod:`apkscan.rules.regex_safety`), and a label
    can be 4,096 characters (a cubic of that is minutes); no name a person reads is that long.
    Every search of a rule pattern goes through here, the prefilter's as the matcher's, so they
    cannot disagree."""
    return text if len(text) <= MAX_ASKED else text[:MAX_ASKED]
