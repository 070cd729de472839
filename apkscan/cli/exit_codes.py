"""The exit codes of every apkscan command, in one place.

A pipeline branches on these, so each code means one thing for ``scan``, ``inspect``,
``report`` and ``rules``. README.md's table is checked against :data:`ExitCode` by the
tests, and every command's ``--help`` ends with :func:`epilog`.

Precedence when several hold (highest first): interrupted (130) > a requested report was
not written (4) > an app at or above ``--fail-on`` (1) > inputs not scanned (3) > 0.
A lost report wins over a finding because a script that sees 1 trusts the report it
asked for; the finding is still printed on the terminal and in the reports that were
written.
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import Any, NoReturn


class ExitCode(IntEnum):
    OK = 0
    FLAGGED = 1
    USAGE = 2
    INCOMPLETE = 3
    REPORT_FAILED = 4
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        return MEANINGS[self]


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "every input scanned (inspect: read and verified); nothing at or above --fail-on",
    ExitCode.FLAGGED: "an app is at or above --fail-on (scan, report); inspect: an APK does not "
                      "verify; rules test: an example failed",
    ExitCode.USAGE: "usage error, unsafe output path, invalid rule/policy/indicator file or result "
                    "document; nothing was scanned or written (a usage error's message leads with "
                    "its code: USAGE_BAD_VALUE, USAGE_CONFLICT, USAGE_OUTPUT_REFUSED, "
                    "USAGE_TMP_UNTRUSTED or USAGE_ERROR)",
    ExitCode.INCOMPLETE: "some inputs could not be scanned (missing, not an APK, limits hit; report: by the scan of its document)",
    ExitCode.REPORT_FAILED: "a requested report could not be written (the others were)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, SIGTERM): reports written for what finished, "
                          "marked interrupted (report: its document's scan was)",
}

PRECEDENCE = (ExitCode.INTERRUPTED, ExitCode.REPORT_FAILED, ExitCode.FLAGGED, ExitCode.INCOMPLETE,
              ExitCode.OK)


def combine(*codes: int) -> ExitCode:
    """The code a run exits with when several conditions hold, by :data:`PRECEDENCE`."""
    present = {ExitCode(c) for c in codes}
    if ExitCode.USAGE in present:
        return ExitCode.USAGE
    return next((c for c in PRECEDENCE if c in present), ExitCode.OK)


def epilog() -> str:
    """The exit-code list for ``--help`` (click keeps lines after ``\\b`` unwrapped)."""
    lines = ["\b", "Exit codes:"]
    lines += [f"  {int(c):>3}  {c.meaning}" for c in ExitCode]
    lines.append(f"  precedence: {' > '.join(str(int(c)) for c in PRECEDENCE)}")
    return "\n".join(lines)


def exit_invalid(exc: Any) -> NoReturn:
    """Say every problem of a rule, policy or indicator file (``RulesInvalid.errors``) as
    ``error: CODE: message`` on stderr and exit 2: nothing was scanned or written."""
    import click

    for err in exc.errors:
        click.echo(f"error: {err.code}: {err.message}", err=True)
    sys.exit(ExitCode.USAGE)
