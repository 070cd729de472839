"""Bytes decoded as UTF-8 the way Java's ``new String(bytes, UTF_8)`` decodes them.

apksig (and Android's Java layer) name ZIP entries and JAR manifest sections so. Python's
``"replace"`` agrees with Java on every malformed sequence but one: a three-byte encoded surrogate
(``ED A0 80``, CESU-8 halves) is one U+FFFD in Java, three in Python. An entry named so would then
not be the one its MANIFEST.MF section names (or would be another's), and apkscan and apksigner
would disagree both ways (review 42 F2).
"""

from __future__ import annotations

import codecs
import re

ERRORS = "java-replace"


def _java_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    data, i = exc.object, exc.start
    if 0xE0 <= data[i] <= 0xEF:  # a three-byte lead: the JDK's rules (String.decodeUTF8_UTF16)
        return "\ufffd", _three_byte_end(data, i)
    if exc.end == i + 1 and (run := _LONE_RUN.match(data, i)):  # bytes that are each one U+FFFD in both
        return "\ufffd" * (run.end() - i), run.end()  # one call: 60 MiB of 0xFF took one per byte (review 45 F1)
    return "\ufffd", exc.end  # every other malformed sequence: Python and Java agree (fuzzed, review 43)


# bytes that cannot start a sequence: a continuation byte, C0/C1 (overlong leads), F5..FF
_LONE_RUN = re.compile(rb"[\x80-\xc1\xf5-\xff]+")


def _cont(b: int) -> bool:
    return b & 0xC0 == 0x80


def _three_byte_end(data: bytes, i: int) -> int:
    """Where decoding resumes after the malformed three-byte sequence at ``i`` (one U+FFFD)."""
    b1 = data[i]
    if i + 2 < len(data):
        b2, b3 = data[i + 1], data[i + 2]
        overlong = b1 == 0xE0 and b2 & 0xE0 == 0x80
        if overlong or not _cont(b2) or not _cont(b3):  # malformed3: one or two bytes
            return i + (1 if overlong or not _cont(b2) else 2)
        return i + 3  # well formed but a surrogate (ED A0..BF xx): malformed as a whole
    if i + 1 < len(data) and (b1 == 0xE0 and data[i + 1] & 0xE0 == 0x80 or not _cont(data[i + 1])):
        return i + 1  # truncated, and its second byte is no continuation: the lead alone
    return len(data)  # truncated at the end: one U+FFFD for the rest


codecs.register_error(ERRORS, _java_replace)


def java_utf8(data: bytes) -> str:
    """``data`` as Java reads UTF-8 (malformed sequences replaced as Java replaces them)."""
    return data.decode("utf-8", ERRORS)
