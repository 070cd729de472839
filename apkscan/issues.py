"""Stable, machine-readable problem codes.

Every error, warning and tamper indicator apkscan reports carries a ``code`` that
pipelines can act on, in the spirit of apksig's ``ApkVerifier.Issue`` names. Where
apksig has an issue for the same condition we use its name verbatim (for example
``JAR_SIG_NO_MANIFEST`` or ``V2_SIG_APK_DIGEST_DID_NOT_VERIFY``), so output can be
compared with ``apksigner`` line by line. apkscan's own conditions use the
prefixes ``ZIP_``, ``MANIFEST_``, ``INPUT_``, ``CONTAINER_``, ``TAMPER_``, ``BATCH_``
(the pool or Dask lost an input) and ``STORE_`` (the scan store).

Codes are strings, never renumbered; a new condition gets a new code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    TAMPER = "tamper"  # a structural oddity: a fact about the file, not a failure


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in one input: a stable ``code`` plus a human message."""

    code: str
    message: str
    severity: Severity = Severity.ERROR

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "severity": self.severity.value}

    def __str__(self) -> str:  # used by the text report
        return f"{self.code}: {self.message}"


def unique(issues) -> list[Issue]:
    """Issues in order, each (code, message) once: schemes and stages report some facts twice."""
    seen, out = set(), []
    for i in issues:
        if (i.code, i.message) not in seen:
            seen.add((i.code, i.message))
            out.append(i)
    return out


def error(code: str, message: str) -> Issue:
    return Issue(code, message, Severity.ERROR)


def warning(code: str, message: str) -> Issue:
    return Issue(code, message, Severity.WARNING)


def tamper(code: str, message: str) -> Issue:
    return Issue(code, message, Severity.TAMPER)


class ApkScanError(Exception):
    """An input cannot be processed further; carries a stable code.

    Raised inside the apk layer and turned into an ``Issue`` at the per-input
    boundary, so one bad file never stops a batch.
    """

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_issue(self) -> Issue:
        return error(self.code, self.message)


class ApkFormatError(ApkScanError):
    """The bytes are not a usable ZIP/APK (Android would refuse it too)."""


class LimitExceeded(ApkScanError):
    """A resource bound (size, count, depth, time) was hit while reading an input."""
