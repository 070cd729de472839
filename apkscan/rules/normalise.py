"""Names as a person reads them, so invisible or look-alike characters cannot dodge a rule.

Labels, packages and publisher names are claims an adversary writes. Before matching we
compare them the way a reader sees them:

- :func:`normalise`: Unicode NFKC (full-width and compatibility forms fold to plain ones),
  every format character (category ``Cf``: zero-width space/joiner, bidi controls ...), every
  other ``Default_Ignorable_Code_Point`` and every control character removed, white space (and
  the braille blank) one space, runs collapsed and ends trimmed, then case-folded;
- :func:`skeleton`: :func:`normalise`, then the Unicode TR39 confusable mapping for the
  characters in :data:`CONFUSABLES`, and combining diacritics (U+0300-U+036F) dropped
  (stricter than TR39: ``WéChat`` reads as ``wechat`` too); trademark signs dropped, Unicode
  dashes and middle dots read as ``-`` and ``.`` (:data:`DECORATIONS`);
- :func:`readings`: what a reader is shown instead of the stored text, when it differs: its
  display order (:mod:`apkscan.rules.display_order`), and for a label Android's safe label
  and its first line (:mod:`apkscan.rules.safe_label`); each is asked every form above.

The confusable table is a documented subset of Unicode's ``confusables.txt`` (UTS #39,
https://www.unicode.org/Public/security/latest/confusables.txt): the Cyrillic, Greek,
Armenian and Latin-extension letters whose prototype is a *lower-case ASCII* letter or digit,
and (:data:`CAPITAL_CONFUSABLES`) the capitals that look like an ASCII capital, mapped
*before* case folding: folding first turned Cyrillic ``Т``/``К`` and Greek ``Τ``/``Κ`` into
``т``/``к``/``τ``/``κ``, which the table did not map then, and Greek ``Ν`` into ``ν`` (read as
``v``), so ``ТikТok`` dodged the label rules (review 27 F5). Kept only where the mapping was
certain; it is not the whole table. Two rules close the classes a picked list kept missing
(review 32 #1): :data:`SCRIPT_LOOK_ALIKES`, every letter of the scripts designed after Latin
capitals (Cherokee in both cases, Lisu, Coptic) that looks like an ASCII letter, and the
Canadian syllabics "fancy text" generators use as Latin, written by Unicode name; and :func:`latin_letter`, any Latin letter whose Unicode *name* says it is a form
of an ASCII letter (small capitals ``ᴛ``, modifier letters, ``ƚ``/``ł``, negative squared
``🆃``) reads as that letter. Only
non-ASCII characters are mapped, so an ASCII name's skeleton is itself in lower case (white
space trimmed) and rule patterns written in ASCII keep matching. No maintained PyPI package or Debian package on this
machine ships confusables.txt in a form worth a new runtime dependency.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any, NamedTuple

from apkscan.ignorable import default_ignorable
from apkscan.rules.display_order import reordered
from apkscan.rules.regex_safety import MAX_ASKED
from apkscan.rules.safe_label import first_line, safe_label


# confusables.txt subset: source character -> prototype (lower-case ASCII).
CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l",
    "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "ԝ": "w", "х": "x", "у": "y",
    "п": "n", "ѵ": "v",
    # Cyrillic/Greek lower case shaped as Latin small capitals (в к м н т κ τ read like the
    # ʙ ᴋ ᴍ ʜ ᴛ that latin_letter maps): "тikтok" is ᴛikᴛok to a reader (review 32 #1)
    "в": "b", "к": "k", "м": "m", "н": "h", "т": "t", "κ": "k", "τ": "t",
    # Greek
    "α": "a", "ϲ": "c", "ι": "i", "ν": "v", "ο": "o", "ρ": "p", "υ": "u", "χ": "x", "γ": "y",
    # Armenian
    "օ": "o", "ս": "u", "ց": "g", "հ": "h", "ո": "n", "զ": "q",
    # Latin extensions and letter-like symbols
    "ı": "i", "ɩ": "i", "ɑ": "a", "ɡ": "g", "ℓ": "l", "ǀ": "l",
}
_CONFUSABLE_TABLE = str.maketrans(CONFUSABLES)

# confusables.txt subset: capitals whose prototype is an ASCII capital (I-like ones read as I),
# mapped before folding. A capital not listed here folds and goes through CONFUSABLES.
CAPITAL_CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M",
    "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "Һ": "H", "Ӏ": "I",
    "Ԛ": "Q", "Ԝ": "W", "Ѵ": "V",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
    # Armenian
    "Օ": "O", "Ս": "U", "Տ": "S", "Լ": "L",
}

# Scripts whose letters were designed after Latin (and Greek) capitals: every letter that looks
# like an ASCII letter or digit, written by Unicode *name* (so each entry is checked against the
# character database, and a typo fails at import). Cherokee lower case (U+AB70...) case-folds to
# upper case, Coptic upper to lower: both cases of each entry are mapped (review 32 #1).
SCRIPT_LOOK_ALIKES: dict[str, str] = {
    **{f"CHEROKEE LETTER {n}": a for n, a in (
        ("A", "D"), ("E", "R"), ("I", "T"), ("V", "I"), ("GI", "Y"), ("GO", "A"), ("GU", "J"),
        ("GV", "E"), ("LA", "W"), ("LU", "M"), ("MI", "H"), ("MU", "Y"), ("NAH", "G"),
        ("NI", "H"), ("NO", "Z"), ("SE", "4"), ("SI", "B"), ("SV", "R"), ("TA", "W"),
        ("DE", "S"), ("DO", "V"), ("DU", "S"), ("TLE", "L"), ("TLI", "C"), ("TLV", "P"),
        ("TSA", "G"), ("TSO", "K"), ("TSU", "D"), ("YU", "G"), ("YV", "B"))},
    **{f"LISU LETTER {n}": a for n, a in (
        ("BA", "B"), ("PA", "P"), ("DA", "D"), ("TA", "T"), ("GA", "G"), ("KA", "K"), ("JA", "J"),
        ("CA", "C"), ("DZA", "Z"), ("TSA", "F"), ("MA", "M"), ("NA", "N"), ("LA", "L"),
        ("SA", "S"), ("ZHA", "R"), ("HA", "V"), ("XA", "H"), ("WA", "W"), ("SHA", "X"), ("YA", "Y"),
        ("A", "A"), ("E", "E"), ("I", "I"), ("O", "O"), ("U", "U"))},
    **{f"COPTIC CAPITAL LETTER {n}": a for n, a in (
        ("ALFA", "A"), ("VIDA", "B"), ("EIE", "E"), ("ZATA", "Z"), ("HATE", "H"),
        ("IAUDA", "I"), ("KAPA", "K"), ("MI", "M"), ("NI", "N"), ("O", "O"), ("RO", "P"),
        ("SIMA", "C"), ("TAU", "T"), ("UA", "Y"), ("KHI", "X"))},
    # Canadian syllabics that "fancy text" generators use as Latin letters (ᗯᗴᑕᕼᗩT)
    **{f"CANADIAN SYLLABICS {n}": a for n, a in (
        ("CARRIER PO", "A"), ("CARRIER GHO", "A"), ("CARRIER KHE", "B"), ("TA", "C"),
        ("CARRIER PE", "D"), ("CARRIER THE", "D"), ("CARRIER GA", "E"), ("BLACKFOOT WE", "F"),
        ("CARRIER JJU", "G"), ("NUNAVUT H", "H"), ("CO", "J"), ("MA", "L"), ("CARRIER GO", "M"),
        ("TI", "N"), ("KI", "P"), ("KE", "Q"), ("TLHI", "R"), ("SHA", "S"), ("TE", "U"),
        ("PE", "V"), ("CARRIER GU", "W"), ("CHI SIGN", "X"), ("CARRIER JU", "Z"), ("KA", "B"),
        ("KO", "D"))},
}


def _script_table() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, ascii_ in SCRIPT_LOOK_ALIKES.items():
        ch = unicodedata.lookup(name)
        for case in {ch, ch.lower(), ch.upper()}:
            if len(case) == 1:
                out[case] = ascii_
    return out


_CAPITAL_TABLE = str.maketrans({**CAPITAL_CONFUSABLES, **_script_table()})

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

# Latin letters Unicode *names* as a form of an ASCII letter that NFKC/NFD leave alone: small
# capitals (LATIN LETTER SMALL CAPITAL T), modifier letters, script/dotless forms, letters
# with a stroke, bar, hook... (LATIN SMALL LETTER L WITH BAR) and enclosed forms NFKC keeps
# (NEGATIVE SQUARED LATIN CAPITAL LETTER T). Derived from the name, so the whole class is
# covered, not a picked list (review 32 #1).
_LATIN_NAME = re.compile(
    r"(?:(?:NEGATIVE )?(?:SQUARED |CIRCLED |PARENTHESIZED )|FULLWIDTH )?"
    r"(?:LATIN (?:SUBSCRIPT )?(?:SMALL |CAPITAL )?LETTER|MODIFIER LETTER(?: SMALL| CAPITAL)?) "
    r"(?:SMALL CAPITAL |SCRIPT |DOTLESS )?([A-Z])(?: WITH .+)?")


@functools.lru_cache(maxsize=4096)
def latin_letter(ch: str) -> str:
    """The ASCII letter a Latin letter's Unicode name says it is a form of, else ``ch``."""
    if ch.isascii():
        return ch
    m = _LATIN_NAME.fullmatch(unicodedata.name(ch, ""))
    return m.group(1).lower() if m else ch

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


@functools.lru_cache(maxsize=16384)  # pure; the matcher asks for the same rule patterns per app
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


@functools.lru_cache(maxsize=16384)
def skeleton(text: str) -> str:
    """:func:`normalise` with combining diacritics dropped, the capitals of
    :data:`CAPITAL_CONFUSABLES` mapped before folding, then :data:`CONFUSABLES`."""
    if text.isascii():  # both tables and latin_letter leave ASCII as it is (a test holds them to it)
        return _visible(text).lower()
    # mapped before NFKC too: NFKC turns lunate sigma Ϲ/ϲ (a c look-alike) into Σ/σ
    early = text.translate(_DECORATION_TABLE).translate(_CAPITAL_TABLE).translate(_CONFUSABLE_TABLE)
    decomposed = unicodedata.normalize("NFD", _visible(early))
    stripped = "".join(ch for ch in decomposed if (unicodedata.category(ch) != "Mn" or ord(ch) < 0x300
                       or ord(ch) > 0x36F) and unicodedata.category(ch) != "Me")  # Me: a circle drawn round a letter
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


@functools.lru_cache(maxsize=16384)
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


@functools.lru_cache(maxsize=16384)
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
    return re.compile(pattern.pattern, pattern.flags | re.IGNORECASE)


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
        mapped = re.compile("".join(out), pattern.flags | re.IGNORECASE)
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
    found = _search(patterns, text, folded_only)
    if found:
        return found
    for how, value in readings(text, label):
        found = _search(patterns, value, folded_only)
        if found:
            return how, found[1]
    return None


@functools.lru_cache(maxsize=16384)
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


def _search(patterns: FormPatterns, text: str, folded_only: bool) -> tuple[str, str] | None:
    """:func:`form_search` of ``text``'s own forms: raw, then the folded ones."""
    raw, folded, mapped = patterns
    if not folded_only and raw.search(bounded_text(text)):
        return "raw", text
    asked = _folded_forms(text)
    for how, value in asked:
        if folded.search(bounded_text(value)) or (how == "skeleton" and mapped is not None
                                                  and mapped.search(bounded_text(value))):
            return how, value
    if mapped is not None and asked[-1][0] != "skeleton":
        # the skeleton equals the normalised form (a label all in Latin look-alikes, ``Kacnepckoro``
        # for ``касперск``): that form is the skeleton too, and is asked as one
        value = asked[-1][1]
        if mapped.search(bounded_text(value)):
            return "skeleton", value
    return None


@functools.lru_cache(maxsize=16384)
def _folded_forms(text: str) -> tuple[tuple[str, str], ...]:
    """The forms :func:`form_search` asks with case ignored: the normalised form always (also when
    it equals the text: ``tiktok`` is its own normalised form, and the raw, case-sensitive search
    of ``^Tik[ ._-]?Tok$`` misses it; review 65 H2), then the skeleton when it differs from it."""
    norm = normalise(text)
    skel = skeleton(text)
    return (("normalised", norm),) if skel == norm else (("normalised", norm), ("skeleton", skel))


def bounded_text(text: str) -> str:
    """What a rule pattern searches of a label, package or name value: its first
    :data:`~apkscan.rules.regex_safety.MAX_ASKED` characters. Why: the patterns a rule file may
    hold are at most cubic in the text's length (:mod:`apkscan.rules.regex_safety`), and a label
    can be 4,096 characters (a cubic of that is minutes); no name a person reads is that long.
    Every search of a rule pattern goes through here, the prefilter's as the matcher's, so they
    cannot disagree."""
    return text if len(text) <= MAX_ASKED else text[:MAX_ASKED]
