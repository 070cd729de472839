"""The one escaper for hostile text shown on a terminal (labels, names, DNs, messages).

Its own module so that ``inspect`` prints safely without importing the report views
(start-up time); :mod:`apkscan.report.terminal` re-exports :func:`safe`.

Lone surrogates: Python reads a file name that is not UTF-8 with ``surrogateescape``
(byte 0xff becomes U+DCFF), and a saved document may hold a ``\\ud800`` escape. No UTF-8
output can encode them, so every output shows them one way: ``\\xff`` for a byte of a file
name, ``\\ud800`` otherwise (:func:`surrogate_escape`; in JSON text as an escaped backslash).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, TextIO

from apkscan.ignorable import default_ignorable

_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}
# control, format (zero-width, BOM), surrogate, private-use, unassigned, line/paragraph separators:
# invisible or line-breaking, so "com.tencent\u200b.mm" must not print like "com.tencent.mm"
_INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


_SURROGATES = re.compile("[\ud800-\udfff]")


def surrogate_escape(cp: int) -> str:
    """The visible form of a lone surrogate: the file-name byte it stands for, else its code point."""
    return f"\\x{cp - 0xDC00:02x}" if 0xDC80 <= cp <= 0xDCFF else f"\\u{cp:04x}"


def _text_form(m: re.Match) -> str:
    return surrogate_escape(ord(m.group()))


def _json_form(m: re.Match) -> str:
    char = m.group()
    if char in _LINE_SEPARATORS:
        return _LINE_SEPARATORS[char]
    return "\\" + surrogate_escape(ord(char))  # inside a JSON string: the backslash escaped


def visible_surrogates(text: str, in_json: bool = False) -> str:
    """``text`` with every lone surrogate written as its escape (``in_json``: ``text`` is JSON
    written with ``ensure_ascii=False``, where a surrogate can only stand inside a string; there
    U+2028, U+2029 and U+0085 are written as ``\\u`` escapes too: valid raw in JSON, but a reader
    splitting lines the Unicode way cut one JSONL record into pieces, review 46 #10)."""
    if text.isascii():
        return text
    if in_json:  # one C scan of the line (str.translate with a dict costs ~1 ms per 12 KB line)
        if "\u2028" not in text and "\u2029" not in text and "\x85" not in text and _no_surrogate(text):
            return text
        return _JSON_ESCAPED.sub(_json_form, text)
    return text if _no_surrogate(text) else _SURROGATES.sub(_text_form, text)


_QUICK_LOOK = 1 << 20  # longer texts (a report written in one piece) are scanned: the encodings below copy them


def _no_surrogate(text: str) -> bool:
    """No lone surrogate in ``text``, known without a regex scan (~70 µs for a 12 KB line with a
    label in another script): a text that encodes as Latin-1 has no character above U+00FF, and
    strict UTF-8 encodes every code point but a surrogate. False (scan it) for a text over
    :data:`_QUICK_LOOK` characters: its encoded copy would cost memory the scan does not."""
    if len(text) > _QUICK_LOOK:
        return False
    for codec in ("latin-1", "utf-8"):
        try:
            text.encode(codec)
            return True
        except UnicodeEncodeError:
            continue
    return False


_LINE_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
_JSON_ESCAPED = re.compile("[\ud800-\udfff\u2028\u2029\x85]")


class VisibleText:
    """A text stream that writes lone surrogates visibly (:func:`visible_surrogates`) instead of
    failing to encode them: every report file and stdout report goes through one."""

    def __init__(self, out: TextIO, in_json: bool = False):
        self._out, self._in_json = out, in_json

    def write(self, text: str) -> int:
        return self._out.write(visible_surrogates(text, self._in_json))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")
_NOTHING: frozenset[str] = frozenset()
_LINE_BREAKS = frozenset("\t\n\r")


def _escape(text: str, keep: frozenset[str]) -> str:
    if text.isascii() and not _ASCII_CONTROL.search(text):
        return text  # the common case, without a look at every character
    out = []
    for ch in text:
        cp = ord(ch)
        if ch in keep:
            out.append(ch)
        elif (cp < 0x20 or 0x7F <= cp < 0xA0 or cp in _BIDI or default_ignorable(cp)  # review 46 #7
              or unicodedata.category(ch) in _INVISIBLE):
            out.append(surrogate_escape(cp) if 0xD800 <= cp <= 0xDFFF else
                       f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")
        else:
            out.append(ch)
    return "".join(out)


def safe(text: object) -> str:
    """Printable form of hostile text: control, format, invisible and bidi characters escaped."""
    return _escape("" if text is None else str(text), _NOTHING)


def visible(text: str) -> str:
    """:func:`safe` for HTML and CSV, which show tabs and line breaks themselves (and quote or
    escape them): bidi controls, zero-width and other invisible characters are escaped, so
    ``\\u202emm.tnecnet.moc`` never displays as ``com.tencent.mm``."""
    return _escape(text, _LINE_BREAKS)
