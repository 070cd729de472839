"""Bytes decoded as UTF-8 the way Java's ``new String(bytes, UTF_8)`` decodes them.

apksig (and Android's Java layer) name ZIP entries and JAR manifest sections so. Python's
``"replace"`` agrees with Java on every malformed sequence but one: a three-byte encoded surrogate
(``ED A0 80``, CESU-8 halves) is one U+FFFD in Java, three in Python. An entry named so would then
not be the one its MANIFEST.MF section names (or would be another's), and apkscan and apksigner
would disagree both ways (review 42 F2).
"""

from __future__ import annotations

import codecs

ERRORS = "java-replace"


def _java_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    data, i = exc.object, exc.start
    if data[i] == 0xED and i + 2 < len(data) and 0xA0 <= data[i + 1] <= 0xBF and 0x80 <= data[i + 2] <= 0xBF:
        return "\ufffd", i + 3  # a surrogate encoded in three bytes: malformed as a whole in Java
    return "\ufffd", exc.end


codecs.register_error(ERRORS, _java_replace)


def java_utf8(data: bytes) -> str:
    """``data`` as Java reads UTF-8 (malformed sequences replaced as Java replaces them)."""
    return data.decode("utf-8", ERRORS)
