"""The one escaper for hostile text shown on a terminal (labels, names, DNs, messages).

Its own module so that ``inspect`` prints safely without importing the report views
(start-up time); :mod:`apkscan.report.terminal` re-exports :func:`safe`.
"""

from __future__ import annotations

import unicodedata

_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}
# control, format (zero-width, BOM), surrogate, private-use, unassigned, line/paragraph separators:
# invisible or line-breaking, so "com.tencent\u200b.mm" must not print like "com.tencent.mm"
_INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def safe(text: object) -> str:
    """Printable form of hostile text: control, format, invisible and bidi characters escaped."""
    out = []
    for ch in "" if text is None else str(text):
        cp = ord(ch)
        if cp < 0x20 or 0x7F <= cp < 0xA0 or cp in _BIDI or unicodedata.category(ch) in _INVISIBLE:
            out.append(f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out)
