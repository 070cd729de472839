"""SARIF's forms of hostile text: a URI that stays a relative reference, and plain text a viewer
reads as text (no placeholders, no links, no invisible characters). Kept apart from
:mod:`apkscan.report.sarif` so the log's layout and these escapes each fit one module.
"""

from __future__ import annotations

from urllib.parse import quote

from apkscan.report.escape import visible, visible_surrogates
from apkscan.sources.names import name_bytes


def uri(path: str, member: bool = False) -> str:
    """A SARIF-valid URI reference for a file path. ``:`` is percent-encoded: a member named
    ``https://evil.example/x.apk`` or ``javascript:...`` must stay a relative reference, never
    become an absolute URI a viewer would follow. Only a path given on the command line (or met
    in a folder) that is absolute becomes a ``file://`` URI; a ``member`` name is relative to its
    container whatever it starts with: its backslashes are separators (Windows-made ZIPs) and
    its leading slashes are encoded (``//host/share/a.apk`` would be a UNC path, review 22 #8).
    The name's own bytes are encoded (:func:`~apkscan.sources.names.name_bytes`: a byte 0xff
    of a file name is ``%FF``, a name holding the text ``\\xff`` stays that text)."""
    raw = name_bytes(visible_surrogates(path))  # a lone surrogate of a saved document: its escape
    if member:
        raw = raw.replace(b"\\", b"/")
        stripped = raw.lstrip(b"/")
        return "%2F" * (len(raw) - len(stripped)) + quote(stripped, safe="/@-._~!$&'()*+,;=")
    encoded = quote(raw, safe="/@-._~!$&'()*+,;=")
    if raw.startswith(b"/"):
        return "file://" + encoded
    return encoded


def plain_text(text: str) -> str:
    """SARIF plain text from hostile parts: ``{``/``}`` doubled (else read as placeholders, §3.11.5),
    ``\\``, ``[`` and ``]`` escaped with a backslash (else ``[text](url)`` is a link a viewer renders,
    §3.11.6; a backslash first, or ``x\\[a\\](url)`` would still make one: review 47 F6), and
    invisible or bidi characters shown as escapes (review 46 #9)."""
    return visible(text).replace("\\", "\\\\").replace("{", "{{").replace("}", "}}").replace(
        "[", "\\[").replace("]", "\\]")
