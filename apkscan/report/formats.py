"""Format registry: name -> renderer, shared by ``apkscan scan`` and ``apkscan report``.

Every renderer takes the scan *document*: typed (:class:`apkscan.document.ScanDocument`,
what ``apkscan report`` loads) or the dict ``--json`` writes (checked by
``ScanDocument.from_dict`` first), never the scan's Python objects, so any saved result
re-renders in any format elsewhere. Several
formats go out in one run; ``-`` means stdout (at most one format may claim it).
Files are written to a temporary sibling and renamed, so a crash never leaves a
half-written report that looks complete. Every report (file or stdout) is written through
:class:`apkscan.report.escape.VisibleText`: a file name that is not UTF-8 shows as ``\\xff``
instead of ending the run in an encoding error.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import importlib


Document = Any  # a ScanDocument or its JSON dict (any JSON value for the json format)


def _lazy(module: str, function: str = "render") -> Callable[[Document, TextIO], None]:
    """A renderer imported when first used: jinja2 and the SARIF code stay out of start-up."""
    def render(doc: Document, out: TextIO) -> None:
        getattr(importlib.import_module(f"apkscan.report.{module}"), function)(doc, out)
    return render


def _render_json(doc: object, out: TextIO) -> None:
    """Any JSON value (diffs and rule exports use it too); a typed document as its JSON."""
    typed = sys.modules.get("apkscan.document.scan_document")  # a ScanDocument exists only once it is imported

    if typed is not None and isinstance(doc, typed.ScanDocument):
        from apkscan.document.tally import as_1_3

        as_1_3(doc).write_json(out)  # streamed, app by app; a 1.2 document as the 1.3 its counts mean
        return
    import json  # json and tempfile are imported when a report is written: not at every start-up

    json.dump(doc, out, indent=2, ensure_ascii=False)
    out.write("\n")


@dataclass(frozen=True, slots=True)
class Format:
    """A report format: its renderer, its CLI option's help and how its file is written."""

    name: str
    render: Callable[[Document, TextIO], None]
    description: str
    option_help: str = ""  # the CLI's --<name> FILE help, generated from this registry
    file_encoding: str = "utf-8"  # stdout always gets plain UTF-8
    newline: str | None = None  # None: "\n" as written; "" leaves csv's CRLF alone


FORMATS: dict[str, Format] = {
    "json": Format("json", _render_json, "scan result document (see schema/scan-result.schema.json)",
                   "Write the full result as JSON to FILE ('-' for stdout)."),
    "html": Format("html", _lazy("html"), "self-contained HTML report",
                   "Write a self-contained HTML report to FILE ('-' for stdout)."),
    "sarif": Format("sarif", _lazy("sarif"), "SARIF 2.1.0, one result per finding",
                    "Write SARIF 2.1.0, one result per finding, to FILE ('-' for stdout)."),
    # Excel opens UTF-8 CSV correctly only with a BOM; labels are often CJK
    "csv": Format("csv", _lazy("csv_report"), "one row per app",
                  "Write CSV, one row per app, to FILE ('-' for stdout).", "utf-8-sig", ""),
}


class OutputError(Exception):
    """Bad output request (e.g. two formats to stdout); the CLI maps it to a usage error."""


def check_targets(targets: dict[str, str | None]) -> dict[str, str]:
    """Drop unset formats (None); reject unknown names, an empty path and more than one ``-``.
    An empty path is an error, not "unset": ``--json "$OUT"`` with OUT unset must not be a
    green run without its evidence report."""
    empty = [name for name, path in targets.items() if path == ""]
    if empty:
        raise OutputError(f"--{empty[0]}: empty file name ('-' for stdout)")
    chosen = {name: path for name, path in targets.items() if path is not None}
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown:
        raise OutputError(f"unknown report format: {', '.join(unknown)}")
    to_stdout = [name for name, path in chosen.items() if path == "-"]
    if len(to_stdout) > 1:
        raise OutputError(f"only one format can be written to stdout ('-'), not {', '.join(to_stdout)}")
    return chosen


def write(doc: Document, name: str, path: str, *, stdout: TextIO | None = None) -> None:
    """Render ``doc`` as format ``name`` to ``path`` (``-`` = stdout)."""
    fmt = FORMATS[name]
    write_text(path, lambda out: fmt.render(doc, out), suffix=name, encoding=fmt.file_encoding,
               newline=fmt.newline, stdout=stdout)


def report_mode(path: str) -> int:
    """The permission bits a report gets: the replaced file's (a report someone made 0600 stays
    0600), else what ``open()`` would give a new file under the umask (``umask 077``: 0600).
    The temporary sibling is 0600 (``mkstemp``) until then."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0o077)  # reading the umask means setting it: set it back at once
        os.umask(mask)
        return 0o666 & ~mask


def write_text(path: str, render: Callable[[TextIO], None], *, suffix: str, encoding: str = "utf-8",
               newline: str | None = None, stdout: TextIO | None = None) -> None:
    """Run ``render`` into ``path`` (``-`` = stdout) through a temporary sibling, so a crash or
    an interrupt never leaves half a report where a whole one was. ``suffix`` json or sarif:
    the text is JSON (lone surrogates are escaped as JSON text)."""
    from apkscan.report.escape import VisibleText

    in_json = suffix in ("json", "sarif")
    if path == "-":
        out = stdout or sys.stdout
        render(VisibleText(out, in_json))
        out.flush()
        return
    import tempfile

    from apkscan.folders import resolved

    directory = os.path.dirname(resolved(path))  # the folder the system writes ``path`` into
    fd, tmp = tempfile.mkstemp(prefix=".apkscan-", suffix=f".{suffix}.tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as out:
            render(VisibleText(out, in_json))
        os.chmod(tmp, report_mode(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
