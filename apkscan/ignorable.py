"""Unicode's Default_Ignorable_Code_Point characters outside the format (Cf) category.

The combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian and other
variation selectors draw as nothing, yet are letters or marks to ``unicodedata.category``:
``com.tencent\\u034f.mm`` looks like ``com.tencent.mm``. One list for the two places that need it:
rule matching drops them (:mod:`apkscan.rules.normalise`), reports show them as escapes
(:mod:`apkscan.report.escape`). Format characters are told by their category in both.
"""

from __future__ import annotations

_SINGLE = frozenset({0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, *range(0x180B, 0x1810), 0x2065, 0x3164,
                     *range(0xFE00, 0xFE10), 0xFFA0, *range(0x1BCA0, 0x1BCA4), *range(0x1D173, 0x1D17B)})


def default_ignorable(cp: int) -> bool:
    """``cp`` is one of them (or in the tag and variation-selector block U+E0000..U+E0FFF)."""
    return cp in _SINGLE or 0xE0000 <= cp <= 0xE0FFF
