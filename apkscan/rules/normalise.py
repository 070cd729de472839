"""Names as a person reads them, so invisible or look-alike characters cannot dodge a rule.

Labels, packages and publisher names are claims an adversary writes. Before matching we
compare them the way a reader sees them:

- :func:`normalise`: Unicode NFKC (full-width and compatibility forms fold to plain ones),
  every format character (category ``Cf``: zero-width space/joiner, bidi controls ...) and
  every other ``Default_Ignorable_Code_Point`` removed, then case-folded;
- :func:`skeleton`: :func:`normalise`, then the Unicode TR39 confusable mapping for the
  characters in :data:`CONFUSABLES`, and combining diacritics (U+0300-U+036F) dropped
  (stricter than TR39: ``WéChat`` reads as ``wechat`` too).

The confusable table is a documented subset of Unicode's ``confusables.txt`` (UTS #39,
https://www.unicode.org/Public/security/latest/confusables.txt): the Cyrillic, Greek,
Armenian and Latin-extension letters whose prototype is a *lower-case ASCII* letter or digit,
and (:data:`CAPITAL_CONFUSABLES`) the capitals that look like an ASCII capital, mapped
*before* case folding: folding first turned Cyrillic ``Т``/``К`` and Greek ``Τ``/``Κ`` into
``т``/``к``/``τ``/``κ``, which look like no ASCII letter, and Greek ``Ν`` into ``ν`` (read as
``v``), so ``ТikТok`` dodged the label rules (review 27 F5). Kept only where the mapping was
certain; it is not the whole table. Only
non-ASCII characters are mapped, so an ASCII name is its own skeleton and rule patterns
written in ASCII keep matching. No maintained PyPI package or Debian package on this
machine ships confusables.txt in a form worth a new runtime dependency.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Default_Ignorable_Code_Point ranges outside category Cf (DerivedCoreProperties.txt).
_IGNORABLE_RANGES = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
                     (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0000, 0xE0FFF),
                     (0x2065, 0x2065), (0x1BCA0, 0x1BCA3))

# confusables.txt subset: source character -> prototype (lower-case ASCII).
CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l",
    "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "ԝ": "w", "х": "x", "у": "y",
    "п": "n", "ѵ": "v",
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
_CAPITAL_TABLE = str.maketrans(CAPITAL_CONFUSABLES)

# Legal-form words dropped from publisher names (English, Russian transliteration, German ...).
LEGAL_FORMS = frozenset({"zao", "ao", "oao", "ooo", "pao", "jsc", "cjsc", "inc", "incorporated",
                         "ltd", "limited", "llc", "plc", "gmbh", "ag", "sa", "bv", "co", "corp",
                         "corporation", "company", "pte"})
# "Lab"/"Labs" are part of a name ("Kaspersky Lab", "Kaspersky Labs Limited"), not a legal form:
# dropping them made a bare "Kaspersky" read as the legal name "Kaspersky Lab" (review 27 F4).


def _ignorable(ch: str) -> bool:
    if unicodedata.category(ch) == "Cf":
        return True
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _IGNORABLE_RANGES)


@functools.lru_cache(maxsize=16384)  # pure; the matcher asks for the same rule patterns per app
def normalise(text: str) -> str:
    """NFKC, format/default-ignorable characters removed, case-folded."""
    return _visible(text).casefold()


def _visible(text: str) -> str:
    nfkc = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in nfkc if not _ignorable(ch))


@functools.lru_cache(maxsize=16384)
def skeleton(text: str) -> str:
    """:func:`normalise` with combining diacritics dropped, the capitals of
    :data:`CAPITAL_CONFUSABLES` mapped before folding, then :data:`CONFUSABLES`."""
    # mapped before NFKC too: NFKC turns lunate sigma Ϲ/ϲ (a c look-alike) into Σ/σ
    early = text.translate(_CAPITAL_TABLE).translate(_CONFUSABLE_TABLE)
    decomposed = unicodedata.normalize("NFD", _visible(early))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn" or ord(ch) < 0x300
                       or ord(ch) > 0x36F)
    folded = stripped.translate(_CAPITAL_TABLE).casefold()
    return unicodedata.normalize("NFC", folded.translate(_CONFUSABLE_TABLE))


def publisher_key(name: str) -> str:
    """A publisher name reduced to its distinctive words: ``Kaspersky Lab, Inc.`` ->
    ``kaspersky lab``; punctuation and whitespace runs become one space, legal forms go."""
    words = re.split(r"[\W_]+", skeleton(name))
    return " ".join(w for w in words if w and w not in LEGAL_FORMS)


def forms(text: str) -> list[tuple[str, str]]:
    """(how, value) forms to match, raw first; later forms only when they differ."""
    out = [("raw", text)]
    for how, value in (("normalised", normalise(text)), ("skeleton", skeleton(text))):
        if all(value != v for _, v in out):
            out.append((how, value))
    return out
