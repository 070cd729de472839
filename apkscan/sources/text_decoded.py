"""One decoder's reading of a text, from the offset where its encoding begins (:class:`Decoded`).

:class:`~apkscan.sources.text_encodings.Transcoder` runs up to ``MAX_DECODERS`` of them over a text
whose encoding changes mid-way; each says which NUL and BOM bytes are its own (the high bytes of its
code units) and where it reads no text at all (UTF-32 units above U+10FFFF), so a later change is
looked for only where no reading explains the bytes.
"""

from __future__ import annotations

import codecs
import re

BOM_ORDER = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
             (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
BOM_OF = {name: bom for bom, name in BOM_ORDER}

_GAP = 4  # code points between runs of units that are none still one unread span (UTF-16 ASCII read as UTF-32: a LF's)
_MAX_SPANS = 64  # unread spans of a decoder per chunk; past it the decoder reads nothing there
_UNREAD = re.compile(rb"\x01(?:\x00{0,%d}\x01)*" % _GAP)
_NONZERO = bytes([0] + [1] * 255)
_OVER_16 = bytes([0] * 17 + [1] * 239)


def intersect(spans: list[tuple[int, int]], other: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, i, j = [], 0, 0
    while i < len(spans) and j < len(other):
        out += [(lo, hi)] if (lo := max(spans[i][0], other[j][0])) < (hi := min(spans[i][1], other[j][1])) else []
        i, j = (i + 1, j) if spans[i][1] <= other[j][1] else (i, j + 1)
    return out


class Decoded:
    """One reading of the text decoded from ``origin`` on, in ``order`` (an encoding with its byte order)."""

    def __init__(self, encoding: str, origin: int, order: str):
        self.decoder = codecs.getincrementaldecoder(encoding)("replace")
        self.origin, self.order = origin, order
        self.size = 4 if "32" in order else 2
        self.low = self.size - 1 if order.endswith("be") else 0  # where a code unit's low byte is

    def covers(self, offset: int, mark: bytes) -> bool:
        """The NUL at ``offset`` is a high byte of a code unit here (or ``mark``, a BOM, one of its)."""
        at = (offset - self.origin) % self.size
        return at != self.low if mark == b"\0" else BOM_OF[self.order].find(mark) == at

    def unread(self, data: bytes, base: int) -> list[tuple[int, int]]:
        """Spans of ``data`` (from ``base``) of units above U+10FFFF (read as U+FFFD; joined across
        :data:`_GAP`, all past :data:`_MAX_SPANS`): no NUL or BOM there is its own (review 47 F1: UTF-16
        ASCII as UTF-32). UTF-32 only (a UTF-16 unit with a NUL is U+00XX). C speed: lanes or-ed as ints."""
        if self.size == 2:
            return []
        first = self.origin - base if self.origin >= base else (self.origin - base) % 4
        end = first + max(0, len(data) - first) // 4 * 4
        top, plane = (3, 2) if self.low == 0 else (0, 1)  # the unit's top byte must be 0, the next <= 0x10
        bad = (int.from_bytes(data[first + top:end:4].translate(_NONZERO), "big")
               | int.from_bytes(data[first + plane:end:4].translate(_OVER_16), "big"))
        if not bad:
            return []
        mask = bad.to_bytes((end - first) // 4, "big")
        spans = [(first + 4 * m.start(), first + 4 * m.end()) for m in _UNREAD.finditer(mask)]
        return spans if len(spans) <= _MAX_SPANS else [(first, end)]
