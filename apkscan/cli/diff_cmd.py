"""``apkscan diff OLD.json NEW.json``: what changed between two audits, per outermost source.

Exit codes: 0 nothing got worse; 1 something got worse (a new prohibited app, a verdict
raised under any policy, a key changed: verified, recorded or signature-only signers, an
app renamed under its key with another verdict); 2 a document is unusable or an output cannot be
written (each problem printed with its DIFF_* code), or an output path is refused
(USAGE_OUTPUT_REFUSED, as every command refuses one); 3 nothing got worse as far as can be
told, but a scan was interrupted (DIFF_SCAN_INTERRUPTED) or made with --quick
(DIFF_QUICK_SCAN): the comparison is incomplete.
"""

from __future__ import annotations

import sys
from typing import TextIO

import click

from apkscan.diff import EXIT_USAGE, OTHER_CONTENT, SKIPPED_NOW, AppChange, ScanDiff
from apkscan.diff_keys import CHECKED_REASON, RECORDED_REASON, describe_key

_MARK = {"added": "+", "removed": "-", "changed": "~", "renamed": "~"}


@click.command("diff")
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--json", "json_out", metavar="FILE", help="Write the comparison as JSON ('-' for stdout).")
@click.option("--html", "html_out", metavar="FILE", help="Write a self-contained HTML page ('-' for stdout).")
@click.option("--source-by-name", is_flag=True,
              help="Match containers/backups by file name, not path (audits kept in dated folders).")
@click.option("--force", is_flag=True, help="Replace an existing output file that is not an apkscan report.")
def diff_command(old, new, json_out, html_out, source_by_name, force) -> None:
    """Compare two saved scan results (apkscan scan --json): apps added, removed, changed."""
    from apkscan.cli.common import checked_outputs
    from apkscan.diff import DiffInputError, diff_documents, load_document

    # before any work: never over either audit, never a file that is not a report; refused as
    # every command refuses an output (exit 2, ``Error: USAGE_OUTPUT_REFUSED: ...``)
    checked_outputs({"json_path": json_out, "html_path": html_out, "force": force}, [old, new],
                    options={"json": "--json", "html": "--html"})
    docs = []
    for path in (old, new):
        try:
            docs.append(load_document(path))
        except DiffInputError as exc:
            click.echo(f"error: {exc.issue}", err=True)
            sys.exit(EXIT_USAGE)
    result = diff_documents(docs[0], docs[1], old, new, by_name=source_by_name)
    to_stdout = "-" in (json_out, html_out)
    render_text(result, sys.stderr if to_stdout else sys.stdout)
    for fmt, target in (("json", json_out), ("html", html_out)):
        if target and not _write(result, fmt, target):
            sys.exit(EXIT_USAGE)
    sys.exit(result.exit_code())


def _write(result: ScanDiff, fmt: str, target: str) -> bool:
    from apkscan.report import diff_html, formats

    try:
        if fmt == "json":
            formats.write(result.to_dict(), "json", target)
        else:
            diff_html.write(result, target)
        return True
    except OSError as exc:
        click.echo(f"error: DIFF_OUTPUT_UNWRITABLE: cannot write {fmt} to {target}: {exc.strerror or exc}", err=True)
        return False
    except ValueError as exc:  # an encoding error no renderer foresaw: a message and exit 2, not a traceback and 1
        click.echo(f"error: DIFF_OUTPUT_UNWRITABLE: cannot write {fmt} to {target}: {type(exc).__name__}: {exc}",
                   err=True)
        return False


def render_text(result: ScanDiff, out: TextIO) -> None:
    """The comparison for a terminal: notes, then one block per source, then the counts."""
    from apkscan.report.terminal import safe

    out.write(f"apkscan diff: {safe(result.old.path)} ({safe(result.old.started_at or '?')}) -> "
              f"{safe(result.new.path)} ({safe(result.new.started_at or '?')})\n")
    for note in result.notes:
        out.write(f"note: {safe(note)}\n")
    for src in result.sources:
        if not (src.changes or src.new_failures or src.still_failing):
            continue
        out.write(f"\n{safe(src.source) or '(APKs given directly)'}: {len(src.changes)} changed, "
                  f"{src.unchanged} unchanged\n")
        for c in src.changes:
            out.write(f"  {_MARK[c.change]} {safe(c.package)}  {safe(describe(c))}"
                      f"{'  [WORSE]' if c.worse else ''}\n")
        for f in src.new_failures:
            out.write(f"  ! {safe(f.name)}  {failure_text(f.status)}: {safe(f.code)}: {safe(f.message)}  [WORSE]\n")
        for f in src.still_failing:
            out.write(f"  ? {safe(f.name)}  {f.status}: {safe(f.code)}: {safe(f.message)}\n")
    n = result.counts()
    out.write(f"\n{n['added']} added, {n['removed']} removed, "
              + (f"{n['renamed']} renamed (same key), " if n['renamed'] else "")
              + f"{n['verdict']} verdict changes, "
              f"{n['signer']} signer changes, {n['version']} version changes, {n['split']} split changes, "
              f"{n['new_failures']} new input failures, "
              + (f"{n['skipped_now']} skipped now, " if n['skipped_now'] else "")
              + (f"{n['still_failing_unknown']} still failing (content unknown), " if n['still_failing_unknown'] else "")
              + (f"{n['still_failing_same']} still failing (same content), " if n['still_failing_same'] else "")
              + f"{n['unchanged']} unchanged; "
              f"{_verdict(result, n)}\n")


def failure_text(status: str) -> str:
    """What happened to an input that was an app (or read) before, in words."""
    if status == SKIPPED_NOW:
        return "not scanned now (skipped; it was an app before)"
    if status == OTHER_CONTENT:
        return "could not be scanned now (other content at that place, failing again)"
    return "could not be scanned now"


def _verdict(result: ScanDiff, n: dict[str, int]) -> str:
    """The last word: never "nothing got worse" when a scan holds only what finished."""
    if n["worse"]:
        verdict = f"WORSE: {n['worse']} change(s) need a look"
        return verdict if result.complete else verdict + "; INCOMPLETE: a scan was interrupted"
    if not result.complete:
        return "INCOMPLETE: a scan was interrupted, so nothing can be said to be unchanged or removed"
    if result.quick:
        return "INCOMPLETE: a --quick scan did not check content; nothing got worse in the signers and verdicts compared"
    return "nothing got worse"


def describe(c: AppChange) -> str:
    """One line: what the change is, in words an auditor reads."""
    if c.change == "added":
        under = [p for p, v in c.new.verdicts if v == "prohibited" and v != c.new.verdict]
        return (f"new, {c.new.verdict}" + (f" ({c.new.decision})" if c.new.decision else "")
                + (f"; prohibited under {', '.join(under)}" if under else ""))
    if c.change == "removed":
        return f"gone, was {c.old.verdict}"
    parts = [f"renamed from {c.old_package} (same key)"] if c.change == "renamed" else []
    if "verdict" in c.reasons and c.old.verdict != c.new.verdict:
        parts.append(f"verdict {c.old.verdict} -> {c.new.verdict}")
    parts.extend(f"verdict under {p} {o} -> {n}" for p, o, n in c.policy_moves)
    if "signer" in c.reasons:
        parts.append(f"signer {_keys(c.old.signers)} -> {_keys(c.new.signers)}")
    for reason in (RECORDED_REASON, CHECKED_REASON):
        if reason in c.reasons:
            parts.append(f"{reason} {describe_key(c.old)} -> {describe_key(c.new)}")
    if "version" in c.reasons:
        parts.append(f"version {', '.join(c.old.versions)} -> {', '.join(c.new.versions)}")
    if "file" in c.reasons and len(c.reasons) - ("split" in c.reasons) == 1:
        parts.append(f"same version and signer, other bytes: {_keys(c.old.sha256)} -> {_keys(c.new.sha256)}")
    if "split" in c.reasons:
        parts.extend(_split_changes(c))
    return "; ".join(parts)


def split_lines(c: AppChange) -> list[str]:
    """What changed in a bundle's splits (the HTML page's lines, as the text says them)."""
    return _split_changes(c) if "split" in c.reasons and c.old and c.new else []


def _split_changes(c: AppChange) -> list[str]:
    """Per split name: added, gone, re-signed or rebuilt; a split naming another package says which."""
    old = {s.split: s for s in c.old.splits}
    new = {s.split: s for s in c.new.splits}
    out = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        shown = b or a
        other = f" (package {shown.package})" if shown.package != c.package else ""
        if a is None:
            out.append(f"split {name}{other} new, signer {_keys(b.signers)}")
        elif b is None:
            out.append(f"split {name}{other} gone")
        elif a.signers != b.signers:
            out.append(f"split {name}{other} signer {_keys(a.signers)} -> {_keys(b.signers)}")
        else:
            out.append(f"split {name}{other} other bytes: {_keys([a.sha256 or ''])} -> {_keys([b.sha256 or ''])}"
                       + (f", package {a.package} -> {b.package}" if a.package != b.package else ""))
    return out


def _keys(signers) -> str:
    return ",".join(s[:12] for s in sorted(signers)) or "none verified"
