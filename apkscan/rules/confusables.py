"""Letters that look like ASCII ones, and the ASCII letter each reads as: the look-alike tables
of :func:`apkscan.rules.normalise.skeleton` (moved here from that module, unchanged; that module
builds its translate tables from them and still names them).

:data:`CONFUSABLES` is a documented subset of Unicode's ``confusables.txt`` (UTS #39,
https://www.unicode.org/Public/security/latest/confusables.txt): the Cyrillic, Greek,
Armenian and Latin-extension letters whose prototype is a *lower-case ASCII* letter or digit,
and (:data:`CAPITAL_CONFUSABLES`) the capitals that look like an ASCII capital, mapped
*before* case folding: folding first turned Cyrillic ``Т``/``К`` and Greek ``Τ``/``Κ`` into
``т``/``к``/``τ``/``κ``, which the table did not map then, and Greek ``Ν`` into ``ν`` (read as
``v``), so ``ТikТok`` dodged the label rules (review 27 F5). Kept only where the mapping was
certain; it is not the whole table. Two rules close the classes a picked list kept missing
(review 32 #1): :data:`SCRIPT_LOOK_ALIKES`, every letter of the scripts designed after Latin
capitals (Cherokee in both cases, Lisu, Coptic) that looks like an ASCII letter, and the
Canadian syllabics "fancy text" generators use as Latin, written by Unicode name; and
:func:`latin_letter`, any Latin letter whose Unicode *name* says it is a form of an ASCII
letter (small capitals ``ᴛ``, modifier letters, ``ƚ``/``ł``, negative squared ``🆃``) reads as
that letter. Only non-ASCII characters are mapped, so an ASCII name's skeleton is itself in
lower case (white space trimmed) and rule patterns written in ASCII keep matching. No
maintained PyPI package or Debian package on this machine ships confusables.txt in a form
worth a new runtime dependency.
"""

from __future__ import annotations

import functools
import unicodedata

from apkscan.rules import regex_book

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


def script_table(names: dict[str, str]) -> dict[str, str]:
    """Each character named in ``names`` (:data:`SCRIPT_LOOK_ALIKES`), in both cases -> its ASCII letter."""
    out: dict[str, str] = {}
    for name, ascii_ in names.items():
        ch = unicodedata.lookup(name)
        for case in {ch, ch.lower(), ch.upper()}:
            if len(case) == 1:
                out[case] = ascii_
    return out



# Latin letters Unicode *names* as a form of an ASCII letter that NFKC/NFD leave alone: small
# capitals (LATIN LETTER SMALL CAPITAL T), modifier letters, script/dotless forms, letters
# with a stroke, bar, hook... (LATIN SMALL LETTER L WITH BAR) and enclosed forms NFKC keeps
# (NEGATIVE SQUARED LATIN CAPITAL LETTER T). Derived from the name, so the whole class is
# covered, not a picked list (review 32 #1).
_LATIN_NAME = regex_book.later(
    r"(?:(?:NEGATIVE )?(?:SQUARED |CIRCLED |PARENTHESIZED )|FULLWIDTH )?"
    r"(?:LATIN (?:SUBSCRIPT )?(?:SMALL |CAPITAL )?LETTER|MODIFIER LETTER(?: SMALL| CAPITAL)?) "
    r"(?:SMALL CAPITAL |SCRIPT |DOTLESS )?([A-Z])(?: WITH .+)?")


@functools.lru_cache(maxsize=4096)
def latin_letter(ch: str) -> str:
    """The ASCII letter a Latin letter's Unicode name says it is a form of, else ``ch``."""
    if ch.isascii():
        return ch
    m = _LATIN_NAME().fullmatch(unicodedata.name(ch, ""))
    return m.group(1).lower() if m else ch
