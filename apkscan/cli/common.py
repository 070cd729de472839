"""What every command shares: report options, the output check, writing, exit codes.

One output convention everywhere: ``--json/--html/--sarif/--csv FILE`` (``-`` for
stdout), checked by :func:`apkscan.cli.outputs.check_outputs` before any work, with
``--force`` to replace a file that is not an apkscan report.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from collections.abc import Callable, Iterable

import click

from apkscan.apk.io.readonly import open_binary
from apkscan.cli.exit_codes import ExitCode, epilog
from apkscan.cli.outputs import check_outputs
from apkscan.cli.usage import OutputRefused, OutputRefusedValue
from apkscan.report.formats import FORMATS, OutputError

# generated from the format registry: a new format there is a new option everywhere
REPORT_OPTIONS = {name: f"--{name}" for name in FORMATS}
_HELP = {name: fmt.option_help for name, fmt in FORMATS.items()}
FORCE_HELP = "Replace an existing FILE that is not an apkscan report (never an input)."


_INPUT_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"ANDROID BACKUP", b"\x1f\x8b")


def not_an_input(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse, while parsing, an output value that is an existing APK or archive.

    ``scan --json a.apk b.apk`` makes click give ``a.apk`` to ``--json``; this says so
    before anything else happens (the full check is :func:`checked_outputs`).
    """
    if not value or value == "-" or not os.path.isfile(value):  # never open a FIFO or device here
        return value
    try:
        with open_binary(value) as fh:  # it may be the evidence itself: its access time kept (review 51 F3)
            head = fh.read(16)
    except OSError:
        return value
    if head.startswith(_INPUT_MAGIC):
        raise OutputRefusedValue(f"{value} is an existing APK or archive: an input, not a report file. "
                                 f"Put the report's FILE right after {param.opts[0]} ('-' for stdout).")
    return value


def report_options(func: Callable) -> Callable:
    """``--json --html --sarif --csv FILE`` and ``--force`` (values land in ``<name>_path``, ``force``)."""
    func = click.option("--force", is_flag=True, help=FORCE_HELP)(func)
    for name in reversed(REPORT_OPTIONS):
        func = click.option(REPORT_OPTIONS[name], f"{name}_path", metavar="FILE", help=_HELP[name],
                            callback=not_an_input)(func)
    return func


def command_epilog() -> str:
    return epilog() + "\n\nReports: never written over or into an input; an existing file is replaced " \
                      "only if it is an apkscan report of that format, or with --force."


def checked_outputs(opts: dict, inputs: Iterable[str], options: dict[str, str] | None = None) -> dict[str, str]:
    """The requested report paths, safe to write; a usage error (exit 2) otherwise."""
    targets = {name: opts.get(f"{name}_path") for name in REPORT_OPTIONS}
    try:
        return check_outputs(targets, inputs if isinstance(inputs, list) else list(inputs), force=bool(opts.get("force")),
                             options=options or REPORT_OPTIONS)
    except OutputError as exc:
        raise OutputRefused(str(exc)) from None


def typed_document(doc: dict) -> Any:
    """The scan's document as a ``ScanDocument``, made once for every report and the terminal
    summary (each would otherwise convert it again); the dict itself if it does not convert,
    so that each typed format refuses it alone."""
    from apkscan.document import DocumentError, ScanDocument

    try:
        return ScanDocument.of(doc)
    except DocumentError:
        return doc


def write_reports(doc: dict, chosen: dict[str, str], typed: Any = None) -> list[str]:
    """Write every requested format even if one fails; returns the formats that failed.
    The JSON report is written from the scan's own dict, the others from ``typed``."""
    from apkscan.report import formats

    if typed is None and any(name != "json" for name in chosen):
        typed = typed_document(doc)
    failed = []
    for name, path in chosen.items():
        try:
            formats.write(doc if name == "json" else typed, name, path)
        except BrokenPipeError:  # `... --csv - | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError as exc:
            failed.append(name)
            click.echo(f"error: cannot write the {name} report to {path}: {exc.strerror or exc}", err=True)
        except ValueError as exc:  # a typed format refused the document (DOCUMENT_*): the rest are still written;
            failed.append(name)  # else e.g. a UnicodeError no renderer foresaw: exit 4 and a message, not a traceback and 1
            said = exc if _document_error(exc) else f"{type(exc).__name__}: {exc}"
            click.echo(f"error: cannot write the {name} report to {path}: {said}", err=True)
    return failed


def _document_error(exc: ValueError) -> bool:
    """A ``DocumentError``, told without importing the typed document (a JSON report needs none):
    one exists only once its module is imported."""
    codec = sys.modules.get("apkscan.document.codec")
    return codec is not None and isinstance(exc, codec.DocumentError)


def summary_stream(chosen: dict[str, str]):
    """The terminal summary goes to stdout, or stderr when a report claims stdout."""
    return sys.stderr if "-" in chosen.values() else sys.stdout


def finish(*codes: int) -> None:
    from apkscan.cli.exit_codes import combine

    sys.exit(int(combine(*codes)))


__all__ = ["ExitCode", "checked_outputs", "command_epilog", "finish", "report_options", "summary_stream",
           "typed_document", "write_reports"]


def write_json(value: object, path: str) -> list[str]:
    """``inspect --json``: a JSON value written like a report (atomic, or ``-``)."""
    return write_reports(value, {"json": path})  # the JSON writer dumps any value
