"""ResTable_config as androguard's ARSCParser sees it (for :mod:`apkscan.apk.manifest.arsc`).

androguard reads a config field by field up to its declared size (a size whose fields overrun
it shifts everything after: :func:`config_consumed` lets the caller decline those), tells
configs apart by a tuple of nine fields only (script and variant are not in it), and renders
the locale its own way; ``_locale`` in android_manifest.py turns that rendering into ours.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_U32 = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class Config:
    """The ResTable_config fields androguard compares, with its locale and default tests."""

    fields: tuple[int, ...]  # androguard's _get_tuple(): imsi, locale, screenType, ...

    def get_language_and_region(self) -> str:
        """androguard's rendering: "\\x00\\x00" for no locale, "fr", "pt-rBR", packed 3-letter codes."""
        loc = self.fields[1]
        if loc == 0:
            return "\x00\x00"
        language = _unpack_code(loc & 0xFF, (loc >> 8) & 0xFF, ord("a"))
        region = _unpack_code((loc >> 16) & 0xFF, (loc >> 24) & 0xFF, ord("0"))
        return f"{language}-r{region}" if region else language

    def is_default(self) -> bool:
        return not any(self.fields)


def _unpack_code(c0: int, c1: int, base: int) -> str:
    if c0 & 0x80:  # three letters packed in 15 bits
        first, second, third = c1 & 0x1F, ((c1 & 0xE0) >> 5) + ((c0 & 0x03) << 3), (c0 & 0x7C) >> 2
        return chr(first + base) + chr(second + base) + chr(third + base)
    return (chr(c0) if c0 else "") + (chr(c1) if c1 else "")


def config_consumed(size: int) -> int:
    """Bytes androguard's ARSCResTableConfig reads before its padding, for a declared size."""
    steps = ((20, 4), (24, 4), (28, 4), (32, 4), (36, 4), (40, 4), (44, 8), (52, 4))
    return 16 + sum(n for at_least, n in steps if size >= at_least)


def read_config(buf: bytes, pos: int, size: int) -> Config:
    def field(off: int, at_least: int) -> int:
        return _U32.unpack_from(buf, pos + off)[0] if size >= at_least else 0

    return Config((*struct.unpack_from("<III", buf, pos + 4), field(16, 20), field(20, 24),
                   field(24, 28), field(28, 32), field(32, 36), field(48, 52)))
