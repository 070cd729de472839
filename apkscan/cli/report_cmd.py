"""``apkscan report``: re-render a saved scan result in any format.

A scan run on a cluster writes ``--json``; an analyst elsewhere turns that document
into HTML, SARIF or CSV without the APKs. The document is checked against the
published schema when ``jsonschema`` is installed; problems are reported, and the
renderers, which tolerate missing fields, still run unless ``--strict``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from apkscan.report import formats, terminal

EXIT_OK = 0
EXIT_BAD_RESULT = 2  # the result file is unreadable, not JSON, too big, or (--strict) invalid
MAX_RESULT_BYTES = 1 << 30
SUPPORTED_MAJOR = "1"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "report" / "schema" / "scan-result.schema.json"


class BadResult(click.ClickException):
    """RESULT cannot be used; exit code 2 like a usage error."""

    exit_code = EXIT_BAD_RESULT


def load_result(path: str, max_bytes: int = MAX_RESULT_BYTES) -> dict:
    """Read a saved result document (``-`` = stdin), bounded in size."""
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    try:
        data = stream.read(max_bytes + 1)
    finally:
        if path != "-":
            stream.close()
    if len(data) > max_bytes:
        raise BadResult(f"{path}: larger than {max_bytes} bytes")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadResult(f"{path}: not a JSON scan result: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("apps", []), list):
        raise BadResult(f"{path}: not an apkscan scan result (no 'apps' list)")
    return doc


def schema_problems(doc: dict, limit: int = 10) -> list[str]:
    """Human-readable schema violations; empty when valid or when jsonschema is absent."""
    version = str(doc.get("schema_version", ""))
    if version and version.split(".")[0] != SUPPORTED_MAJOR:
        return [f"schema_version {version} is not supported (this apkscan reads {SUPPORTED_MAJOR}.x)"]
    try:
        import jsonschema
    except ImportError:
        return [] if version else ["no schema_version"]
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in validator.iter_errors(doc):
        where = "/".join(str(p) for p in err.absolute_path) or "(document)"
        out.append(f"{where}: {err.message[:200]}")
        if len(out) >= limit:
            break
    return out


@click.command("report")
@click.argument("result", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--html", "html_out", metavar="FILE", help="Write the self-contained HTML report ('-' = stdout).")
@click.option("--json", "json_out", metavar="FILE", help="Write the scan result JSON again ('-' = stdout).")
@click.option("--sarif", "sarif_out", metavar="FILE", help="Write SARIF 2.1.0 ('-' = stdout).")
@click.option("--csv", "csv_out", metavar="FILE", help="Write CSV, one row per app ('-' = stdout).")
@click.option("--quiet", "-q", is_flag=True, help="No summary on the terminal.")
@click.option("--no-color", is_flag=True, help="No colours (also: NO_COLOR environment variable).")
@click.option("--strict", is_flag=True, help="Refuse a result that does not match the schema.")
def report_command(result: str, html_out: str | None, json_out: str | None, sarif_out: str | None,
                   csv_out: str | None, quiet: bool, no_color: bool, strict: bool) -> None:
    """Re-render a saved scan RESULT (from 'apkscan scan --json') as HTML, SARIF, CSV.

    Several formats can be written in one run. Without any format option, prints
    the summary of flagged apps and the verdict counts. Exit code 0 on success,
    2 when RESULT cannot be used.
    """
    targets = {"html": html_out, "json": json_out, "sarif": sarif_out, "csv": csv_out}
    try:
        chosen = formats.check_targets(targets)
    except formats.OutputError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        doc = load_result(result)
    except OSError as exc:
        raise BadResult(f"{result}: {exc.strerror or exc}") from None
    problems = schema_problems(doc)
    for p in problems:
        click.echo(f"warning: {result}: {p}", err=True)
    if problems and strict:
        raise BadResult(f"{result}: does not match the scan result schema")
    try:
        formats.write_all(doc, chosen)
    except BrokenPipeError:  # `apkscan report r.json --csv - | head`: the reader is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except OSError as exc:
        raise click.ClickException(f"cannot write report: {exc}") from None
    if not quiet:
        stream = sys.stderr if "-" in chosen.values() else sys.stdout
        terminal.render(doc, stream, color=terminal.use_color(stream, no_color))
    sys.exit(EXIT_OK)

