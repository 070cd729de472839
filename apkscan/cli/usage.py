"""Usage errors with a stable code: a pipeline branches on codes, and click's messages are prose.

Every usage error click shows (exit 2) reads ``Error: USAGE_<KIND>: <the message>``; click's
usage line, help hint and exit code are unchanged. The kind is set where apkscan raises the
error (:class:`Conflict`, :class:`OutputRefused`, :class:`OutputRefusedValue`), else it follows
click's exception: a value refused or missing (``BadParameter``, which covers a missing argument;
``BadOptionUsage``: an option without its value, or a flag given one) or any other misuse (an
unknown option or command, an extra argument, a run that cannot start).
"""

from __future__ import annotations

import click

BAD_VALUE = "USAGE_BAD_VALUE"
CONFLICT = "USAGE_CONFLICT"
OUTPUT_REFUSED = "USAGE_OUTPUT_REFUSED"
TMP_UNTRUSTED = "USAGE_TMP_UNTRUSTED"
OTHER = "USAGE_ERROR"
_HELP_SHOWN = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2 (8.1 exits 0 itself)


class Conflict(click.UsageError):
    """Options that exclude each other, or one that needs another (``--resume --deep``)."""

    code = CONFLICT


class OutputRefused(click.UsageError):
    """An output path refused (a report, ``--jsonl``, the store, the temporary folder): it would
    write over or into evidence, over a file that is not apkscan's to replace, or cannot be made."""

    code = OUTPUT_REFUSED


class TmpUntrusted(click.UsageError):
    """The temporary folder (or a folder above it) is another user's, or others can write to it
    without the sticky bit: they could swap spooled members (review 66 F2)."""

    code = TMP_UNTRUSTED


class OutputRefusedValue(click.BadParameter):
    """:class:`OutputRefused` found while click parses the option (its name in the message)."""

    code = OUTPUT_REFUSED


def code_of(exc: click.UsageError) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    return BAD_VALUE if isinstance(exc, (click.BadParameter, click.BadOptionUsage)) else OTHER


def coded(exc: click.UsageError) -> click.UsageError:
    """``exc`` with its code leading the message (the same context: usage line and hint kept).
    click's "no arguments: show the help" is no error of the user's and is left as it is."""
    if isinstance(exc, _HELP_SHOWN) or getattr(exc, "coded", False):
        return exc
    out = click.UsageError(f"{code_of(exc)}: {exc.format_message()}", ctx=exc.ctx)
    out.code, out.coded = code_of(exc), True  # type: ignore[attr-defined]
    return out
