"""How a file or member name is written in every output: text that says which name it was.

Why (review 22 #7): a name that is not UTF-8 holds byte 0xff, read by Python as U+DCFF,
which no UTF-8 output can hold; it is written ``\\xff``. A name that literally holds the four
characters ``\\xff`` must then not look the same, or a prohibited row points an examiner at
another file. So a backslash that could be read as the start of an escape (one followed by
``\\``, ``x``, ``u`` or such a byte) is doubled. Reading the text back (:func:`name_bytes`):
``\\\\`` is one backslash, ``\\xNN`` the byte NN, any other backslash itself. Names without
such a backslash or byte are written as they are (a Windows-made ZIP's ``dir\\app.apk`` too).
"""

from __future__ import annotations

import re

_NEEDS = re.compile("[\\\\\udc80-\udcff]")
_BACKSLASH = re.compile("\\\\(?=[\\\\xu\udc80-\udcff])")
_BYTE = re.compile("[\udc80-\udcff]")
_TOKEN = re.compile(r"\\\\|\\x([0-9a-f]{2})")


def name_text(name: str) -> str:
    """``name`` as every output writes it (lossless; see the module docstring)."""
    if not _NEEDS.search(name):
        return name
    doubled = _BACKSLASH.sub(r"\\\\", name)
    return _BYTE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", doubled)


def name_bytes(text: str) -> bytes:
    """The name's bytes (UTF-8 with its non-UTF-8 bytes back) from :func:`name_text`'s text."""
    out, pos = bytearray(), 0
    for m in _TOKEN.finditer(text):
        out += text[pos:m.start()].encode("utf-8", "surrogateescape")
        out += bytes([int(m.group(1), 16)]) if m.group(1) else b"\\"
        pos = m.end()
    return bytes(out + text[pos:].encode("utf-8", "surrogateescape"))
