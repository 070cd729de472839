"""Evidence fields read off a verified signing key, named in one place: the rules write them
(:mod:`apkscan.rules.certview`, :mod:`apkscan.rules.names`), the reports read them.

- ``signer.*``: a signer apksigner prints (the newest v3.1/v3 signer, else every v2, else every
  v1 signer); the reports show the first one's ``O=`` as the publisher;
- ``lineage[i].*``: node ``i`` of the rotation lineage that counted, a key the app rotated away from;
- ``v3signer[n].*`` (``v31signer``, ``v2signer``, ``v1signer``): signer ``#n`` of a scheme that
  counted, verified, that apksigner does not print (a v3 signer for older Android versions);
- ``v3lineage[i].*`` (``v31lineage``): node ``i`` of another verified lineage of a scheme that counted.

Each is a key that verifiably signed the APK (only when the APK verifies). Anything else
(``present.*``, ``recorded.*``, ``certificate.*``, ``package`` ...) is not one.
"""

from __future__ import annotations

import re

_KEY = re.compile(r"(signer|lineage)\.|lineage\[(\d+)\]\.|v(1|2|3|31)(signer|lineage)\[(\d+)\]\.")
_SCHEME = {"1": "v1", "2": "v2", "3": "v3", "31": "v3.1"}


def key_kind(field: str | None) -> str | None:
    """``signer``, ``lineage`` or ``cosigner`` (a verified signer apksigner does not print) for a
    field read off a verified key; None for any other field."""
    m = _KEY.match(field or "")
    if m is None or m.group(1) == "lineage":  # a bare ``lineage.`` is no field of ours
        return None
    if m.group(1) == "signer":
        return "signer"
    if m.group(2) is not None or m.group(4) == "lineage":
        return "lineage"
    return "cosigner"


def on_verified_key(field: str | None) -> bool:
    """Whether an evidence field was read from a verified key (any of the module's list)."""
    return key_kind(field) is not None


def key_words(field: str | None) -> str | None:
    """The verified key a field was read from, in words: "verified signer", "verified lineage
    node 0", "verified v3 signer #1", "verified v3 lineage node 1"; None for any other field."""
    m = _KEY.match(field or "")
    kind = key_kind(field)
    if m is None or kind is None:
        return None
    if kind == "signer":
        return "verified signer"
    if m.group(2) is not None:
        return f"verified lineage node {m.group(2)}"
    scheme = _SCHEME[m.group(3)]
    return f"verified {scheme} lineage node {m.group(5)}" if kind == "lineage" else f"verified {scheme} signer #{m.group(5)}"


def whose_key(fields: list[str], possessive: bool = False) -> str:
    """The keys evidence on ``fields`` was read from, as a message's subject: "a verified signer",
    "a verified lineage node (a key the app rotated away from)", "another verified signer (one
    apksigner does not print: ...)", or "a verified signing key" when they differ; ``possessive``:
    "a verified lineage node's (a key the app rotated away from)"."""
    kinds = {key_kind(f) for f in fields}
    head, note = "a verified signing key", ""
    if kinds == {"signer"}:
        head = "a verified signer"
    elif kinds == {"lineage"}:
        head, note = "a verified lineage node", " (a key the app rotated away from)"
    elif kinds == {"cosigner"}:
        head, note = "another verified signer", (" (one apksigner does not print: a v3/v3.1 signer for other "
                                                 "Android versions, which install the app under its key)")
    return head + ("'s" if possessive else "") + note
