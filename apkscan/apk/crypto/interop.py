"""Certificate names and numbers in the forms other Android forensic tools write.

Why: results are joined with AndroidQF acquisitions and MVT output, and a subject string
that differs only in layout does not join. AndroidQF's ``packages.json`` (which MVT
reads as is) writes each APK certificate as avast/apkverifier's ``CertInfo``:
``Subject``/``Issuer`` as ``C=.., ST=.., L=.., O=.., OU=.., CN=..`` (that fixed order,
several values of one attribute joined with ``;``, separated by ``", "``, only those six
attributes, the last CN) and ``SerialNumber`` as a decimal integer. apksigner
``--print-certs`` prints public-key digests of the SubjectPublicKeyInfo DER in
lower-case hex, as :mod:`apkscan.apk.crypto.certificates` computes them.

A ``packages.json`` record gives only that text, no DER: :func:`read_androidqf_name` reads it
back into attributes, so subject rules see a recorded certificate whichever backup carried it.
"""

from __future__ import annotations

from typing import NamedTuple

ANDROIDQF_ORDER = ("C", "ST", "L", "O", "OU")


def androidqf_name(attrs: dict[str, list[str]]) -> str:
    """``C=US, ST=California, O=WhatsApp Inc., CN=Brian Acton`` from ``{short name: [values]}``."""
    parts = [f"{key}={';'.join(attrs[key])}" for key in ANDROIDQF_ORDER if attrs.get(key)]
    common = attrs.get("CN")
    if common:
        parts.append(f"CN={common[-1]}")  # Go's pkix.Name keeps the last CommonName
    return ", ".join(parts)


# Reading that form back (packages.json): apkverifier escapes nothing, so a value holding
# ", O=" or ";" may be read more than one way. The reading that splits the text into the most
# attributes in the fixed order is taken; when several do, all of them.
ANDROIDQF_TAGS = (*ANDROIDQF_ORDER, "CN")
MAX_NAME_TEXT = 4096  # far over any real subject (six attributes); longer text is not read
MAX_MARKS = 32  # ", TAG=" places in one text (a real subject has at most five)
MAX_READINGS = 16  # equally good splits of one text; more is refused, not guessed


class NameReading(NamedTuple):
    """What an AndroidQF ``Subject``/``Issuer`` text says: ``attrs`` holds every value of every
    reading (a rule matching any reading matches: a recorded name is a claim either way);
    ``readings`` > 1 when the text splits more than one way (two equally long splits, or a
    ``;`` that joins values or sits inside one)."""

    attrs: dict[str, list[str]]
    readings: int


def read_androidqf_name(text: str) -> NameReading | None:
    """The attributes of ``C=RU, L=Moscow, O=Kaspersky Lab ZAO, CN=Kaspersky Lab``; None when the
    text is not in that form (no tag first), too long, or splits too many ways."""
    if not text or len(text) > MAX_NAME_TEXT:
        return None
    marks = sorted((at, i) for i, tag in enumerate(ANDROIDQF_TAGS) for at in _tag_starts(text, tag))
    if not marks or marks[0][0] != 0 or len(marks) > MAX_MARKS:
        return None
    chains = _longest_splits(marks)
    if len(chains) > MAX_READINGS:
        return None
    attrs: dict[str, list[str]] = {}
    readings = len(chains)
    for chain in chains:
        for k, m in enumerate(chain):
            at, tag = marks[m][0], ANDROIDQF_TAGS[marks[m][1]]
            value = text[at + len(tag) + 1:marks[chain[k + 1]][0] - 2 if k + 1 < len(chain) else len(text)]
            values = [value] if tag == "CN" or ";" not in value else [value, *value.split(";")]
            readings += len(values) > 1  # several values joined, or one value holding ";"
            for v in values:
                if v not in attrs.setdefault(tag, []):
                    attrs[tag].append(v)
    return NameReading(attrs, readings)


def _tag_starts(text: str, tag: str) -> list[int]:
    """Where a ``TAG=value`` may begin: the text's start or just after a ``", "``."""
    out = [0] if text.startswith(f"{tag}=") else []
    at = text.find(f", {tag}=")
    while at != -1 and len(out) <= MAX_MARKS:
        out.append(at + 2)
        at = text.find(f", {tag}=", at + 1)
    return out


def _longest_splits(marks: list[tuple[int, int]]) -> list[tuple[int, ...]]:
    """The chains of marks from the first (tags in increasing order) with the most parts: a mark
    left out lies inside a value. At most ``MAX_READINGS + 1`` of them."""
    best: list[list[tuple[int, ...]]] = [[] for _ in marks]
    for i in reversed(range(len(marks))):
        after = [j for j in range(i + 1, len(marks)) if marks[j][1] > marks[i][1]]
        most = max((len(best[j][0]) for j in after), default=0)
        tails = [c for j in after if len(best[j][0]) == most for c in best[j]] if most else [()]
        best[i] = [(i, *c) for c in tails[:MAX_READINGS + 1]]
    return best[0]

def serial_decimal(serial_hex: str) -> str:
    """The serial in decimal (a string: JSON numbers lose precision past 2**53)."""
    if not serial_hex:
        return ""
    try:
        return str(int(serial_hex, 16))
    except ValueError:
        return ""
