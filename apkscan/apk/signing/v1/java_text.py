"""Java's string semantics the JAR verifier relies on: ``equalsIgnoreCase`` (:func:`jfold`) and the
basic Base64 decoder (:func:`decode_base64`).

Apart from :mod:`apkscan.apk.signing.v1.jar_manifest` because they are not manifest parsing but
Java library behaviour mirrored character by character (Python's ``lower()`` and ``b64decode``
accept and fold differently, reviews 43 and 45), each with its own bounds; the parser and
:func:`~apkscan.apk.signing.v1.jar_manifest.digests_to_verify` use them, and ``jar_manifest``
re-exports them.
"""

from __future__ import annotations

import base64
import binascii


def decode_base64(value: str) -> bytes | None:
    """Java's basic Base64 decoder: padding optional, but when present exactly what the last unit
    needs ('xx==', 'xxx='; not 'xx=' nor 'xxxx=': review 43 F4), no stray characters."""
    body = value.rstrip("=")
    pad = len(value) - len(body)
    if pad and (pad > 2 or len(body) % 4 != 4 - pad):
        return None
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def jfold(text: str) -> str:
    """``text`` folded so that two strings fold alike exactly when Java's ``equalsIgnoreCase``
    says they are equal: per character, ``toLowerCase(toUpperCase(c))`` with one-character
    mappings (``ı``, ``ſ``, the Kelvin sign match their ASCII letters; Python's ``lower()`` alone
    misses them: review 43 F2). ASCII text is folded at C speed; other text through a table of
    the characters met so far. A name longer than :data:`FOLDED_MAX` is returned as it is: it is
    never one apkscan looks up (``equalsIgnoreCase`` of strings of other lengths is false), and a
    60 MiB attribute name folded one character at a time took a minute and 5.8 GB (review 45 F1)."""
    if text.isascii():
        return text.lower()
    if len(text) > FOLDED_MAX:
        return text
    return text.translate(_FOLDS)


FOLDED_MAX = 256  # longer than any attribute name apkscan looks up ("SHA-256-Digest-Manifest-Main-Attributes")


class _FoldTable(dict):
    """``str.translate``'s table for :func:`jfold`: each character's fold, computed once (the first
    4,096 characters met are remembered: a worker lives for many inputs, and a manifest naming every
    code point must not grow it for good)."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        up = ch.upper()
        up = up if len(up) == 1 else ch  # Character.toUpperCase(char) maps one char to one
        low = "i" if up == "\u0130" else up.lower()  # İ: Java's one-char lower case is i (Python's adds a dot)
        folded = low if len(low) == 1 else up
        if len(self) < 4096:
            self[cp] = folded
        return folded


_FOLDS = _FoldTable()
