"""``apkscan report``: re-render a saved scan result in any format.

A scan run on a cluster writes ``--json``; an analyst elsewhere turns that document
into HTML, SARIF or CSV without the APKs. The document must be an apkscan scan result:
it is read through ``ScanDocument.from_dict`` (every field checked against its type; a
``DOCUMENT_*`` code and the field's path otherwise) and, when ``jsonschema`` is installed,
against the published JSON Schema; anything else exits 2 without writing a report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from apkscan import jsonbound
from apkscan.cli.common import (
    ExitCode,
    checked_outputs,
    command_epilog,
    finish,
    report_options,
    summary_stream,
    write_reports,
)
from apkscan.report import terminal

MAX_RESULT_BYTES = 1 << 30
MAX_RESULT_VALUES = 32 << 20  # what 1 GiB of a real scan document (indented) holds: ~40 bytes a value
SUPPORTED_MAJOR = "1"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "report" / "schema" / "scan-result.schema.json"


class BadResult(click.ClickException):
    """RESULT cannot be used: exit code 2, like a usage error."""

    exit_code = ExitCode.USAGE


def load_result(path: str, max_bytes: int = MAX_RESULT_BYTES) -> object:
    """Read a saved result's JSON (``-`` = stdin), bounded in size."""
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    try:
        data = jsonbound.read_at_most(stream, max_bytes)
    finally:
        if path != "-":
            stream.close()
    if len(data) > max_bytes:
        raise BadResult(f"{path}: larger than {max_bytes} bytes")
    try:
        doc = jsonbound.loads(data, MAX_RESULT_VALUES)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 4,301-digit integer, too many values
        raise BadResult(f"{path}: DOCUMENT_NOT_A_SCAN: not a JSON scan result: {exc}") from None
    except RecursionError:  # "[[[[..." nested past the parser's depth
        raise BadResult(f"{path}: DOCUMENT_NOT_A_SCAN: not a JSON scan result: nested too deeply") from None
    return doc  # what it holds is checked by typed()


def schema_problems(doc: dict, limit: int = 10) -> list[str]:
    """Why ``doc`` is not a scan result this apkscan reads, each as ``DOCUMENT_*: where: why`` (the
    form and codes of :class:`apkscan.document.DocumentError`: every refusal has its code, review 37
    R2-7); empty when it is."""
    version = doc.get("schema_version")
    if not isinstance(version, str):
        return ["DOCUMENT_NOT_A_SCAN: no schema_version: not an apkscan scan result"]
    if version.split(".")[0] != SUPPORTED_MAJOR:
        return [f"DOCUMENT_VERSION_UNSUPPORTED: schema_version {version} is not supported "
                f"(this apkscan reads {SUPPORTED_MAJOR}.x)"]
    try:
        import jsonschema
    except ImportError:  # a runtime without the test extras: the fields the renderers need
        return [f"DOCUMENT_MALFORMED: {key}: missing or not a list" for key in ("apps", "errors")
                if not isinstance(doc.get(key), list)]
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in validator.iter_errors(doc):
        where = "/".join(str(p) for p in err.absolute_path) or "(document)"
        out.append(f"DOCUMENT_MALFORMED: {where}: {err.message[:200]}")
        if len(out) >= limit:
            break
    return out


@click.command("report", epilog=command_epilog())
@click.argument("result", type=click.Path(dir_okay=False, allow_dash=True))
@report_options
@click.option("--fail-on", default="never", show_default=True, metavar="[POLICY:]LEVEL",
              help="Exit 1 when an app's verdict in RESULT (under any of its policies, or POLICY's) is at or above LEVEL.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on the terminal.")
@click.option("--no-color", is_flag=True, help="No colours (also: NO_COLOR environment variable).")
def report_command(result: str, **opts) -> None:
    """Re-render a saved scan RESULT (from 'apkscan scan --json') as HTML, SARIF, CSV.

    Several formats can be written in one run. Without any format option, prints
    the summary of flagged apps and the verdict counts.
    """
    from apkscan.policy.multi import FailOn

    try:
        fail_on = FailOn.parse(opts["fail_on"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fail-on") from None
    chosen = checked_outputs(opts, [result])
    try:
        data = load_result(result)
    except OSError as exc:  # the code scan and inspect give the same condition (review 62 L3)
        code = "INPUT_NOT_FOUND" if isinstance(exc, FileNotFoundError) else "INPUT_UNREADABLE"
        raise BadResult(f"{result}: {code}: {exc.strerror or exc}") from None
    doc = typed(result, data)
    del data  # the typed records are what is rendered: the parsed JSON need not stay beside them
    try:
        fail_on.check_names(doc.stated_policies())
    except ValueError as exc:
        raise BadResult(f"{result}: {exc}") from None
    older = terminal.one_policy_note(doc.schema_version)
    if older and (opts["quiet"] or summary_stream(chosen) is not sys.stderr):  # else the summary says it there
        click.echo(f"warning: DOCUMENT_ONE_POLICY: {older}", err=True)
    failed = write_reports(doc, chosen)
    if not opts["quiet"]:
        stream = summary_stream(chosen)
        terminal.render(doc, stream, color=terminal.use_color(stream, opts["no_color"]))
    first = doc.first_policy()  # --fail-on reads the verdicts as scan's does
    flagged = any(fail_on.flags(a.verdict_names(first)) for a in doc.apps)
    # the scan's own exit, read from its document: inputs it could not scan (3) and an interrupted
    # run (130) are not "every input scanned" (0) when a pipeline gates on report (review 82 F2)
    finish(ExitCode.FLAGGED if flagged else ExitCode.INCOMPLETE if doc.errors else ExitCode.OK,
           ExitCode.REPORT_FAILED if failed else ExitCode.OK,
           ExitCode.INTERRUPTED if doc.interrupted else ExitCode.OK)


def typed(path: str, data: object):
    """The loaded JSON as a ``ScanDocument``; every problem printed (code, field path), exit 2."""
    from apkscan.document import DocumentError, ScanDocument

    try:
        doc = ScanDocument.from_dict(data)
    except DocumentError as exc:  # said once, with its code (it printed twice: review 64)
        raise BadResult(f"{path}: not a valid apkscan scan result: {exc}") from None
    problems = schema_problems(data)
    if problems:
        for p in problems[:-1]:
            click.echo(f"Error: {path}: {p}", err=True)
        raise BadResult(f"{path}: not a valid apkscan scan result: {problems[-1]}")
    return doc
