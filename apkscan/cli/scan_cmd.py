"""``apkscan scan PATH...``: identity -> findings -> verdict, a summary, and ``--json``.

Exit codes (documented in README.md): 0 nothing at or above ``--fail-on``;
1 something is; 2 usage or rule/policy file errors (nothing scanned); 3 some inputs could
not be scanned (and nothing reached ``--fail-on``).
"""

from __future__ import annotations

import os
import re
import sys

import click

EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
FAIL_ON = ("prohibited", "review", "never")  # same as apkscan.scan.FAIL_ON (kept import-free)


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(),
              help="Extra rule file or folder of rule files (repeatable); added to the shipped packs.")
@click.option("--no-builtin-rules", is_flag=True, help="Use only --rules/--iocs, not the shipped vendor packs.")
@click.option("--iocs", multiple=True, type=click.Path(),
              help="MVT-style STIX2 indicator file (app:id, app:cert.sha256|sha1|md5); repeatable.")
@click.option("--policy", "policy_name", default="canada-tbs-2023", show_default=True,
              help="Shipped policy name (canada-tbs-2023, vendor-watch) or path to a policy file.")
@click.option("--allow", "allow", multiple=True, metavar="PACKAGE:SHA256",
              help="Allow-list an app by package and the SHA-256 of its verified signing certificate.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="prohibited", show_default=True,
              help="Exit 1 when an app's verdict is at or above this.")
@click.option("--json", "json_path", metavar="FILE", help="Write the full result as JSON ('-' for stdout).")
@click.option("--html", "html_path", metavar="FILE", help="Write a self-contained HTML report ('-' for stdout).")
@click.option("--sarif", "sarif_path", metavar="FILE", help="Write SARIF 2.1.0, one result per finding ('-' for stdout).")
@click.option("--csv", "csv_path", metavar="FILE", help="Write CSV, one row per app ('-' for stdout).")
@click.option("--deep", is_flag=True, help="Also read classes*.dex type tables for vendor SDK prefixes.")
@click.option("--min-sdk-version", "min_sdk", type=int, default=None, help="Lowest API level to verify for.")
@click.option("--max-sdk-version", "max_sdk", type=int, default=None, help="Highest API level to verify for.")
@click.option("--no-color", is_flag=True, help="No ANSI colours in the summary.")
@click.option("-q", "--quiet", is_flag=True, help="No terminal summary.")
@click.option("--include", multiple=True, metavar="GLOB",
              help="In folders, read only files whose path relative to the folder matches (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="In folders, skip files whose relative path matches (repeatable).")
@click.option("--follow-symlinks", is_flag=True, help="Follow symlinked files and folders (loops are detected).")
@click.option("--max-depth", type=click.IntRange(0, 32), default=4, show_default=True,
              help="How many containers deep to open (zip in tar.gz in backup ...).")
@click.option("--tmp-dir", type=click.Path(file_okay=False), default=None,
              help="Where APKs inside compressed containers are spooled (a private 0700 folder is made in it).")
@click.option("--tmp-limit", default="4G", show_default=True, metavar="SIZE",
              help="Most temporary disk space held at once (e.g. 500M, 8G); a larger member is an error.")
@click.option("--password", default=None, help="Password of encrypted adb backups (visible to other users: prefer the file or env).")
@click.option("--password-file", type=click.Path(dir_okay=False), default=None,
              help="File whose first line is the backup password.")
def scan_command(paths, rule_paths, no_builtin_rules, iocs, policy_name, allow, fail_on, json_path,
                 html_path, sarif_path, csv_path, deep, min_sdk, max_sdk, no_color, quiet,
                 include, exclude, follow_symlinks, max_depth, tmp_dir, tmp_limit, password, password_file) -> None:
    """Scan APKs, split bundles, archives and backups (by content): who published each app, and is it banned?

    PATHS are files or folders; folders are walked and every file is classified by its bytes.
    Backup password: --password, --password-file, env APKSCAN_BACKUP_PASSWORD, else a prompt
    when stdin is a terminal.
    """
    from apkscan.policy.loader import load_policy, parse_allow
    from apkscan.report import formats, terminal
    from apkscan.rules.loader import RulesInvalid, load_ruleset
    from apkscan.rules.yamlsrc import RuleError
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource
    from apkscan.sources.walker import WalkOptions

    try:
        limit = parse_size(tmp_limit)
    except ValueError:
        raise click.BadParameter(f"not a size: {tmp_limit!r} (e.g. 500M, 8G)", param_hint="--tmp-limit") from None
    options = WalkOptions(max_depth=max_depth, include=tuple(include), exclude=tuple(exclude),
                          follow_symlinks=follow_symlinks, tmp_dir=tmp_dir, tmp_limit=limit,
                          password=password_provider(password, password_file))

    try:
        rules = load_ruleset(rule_paths, builtin=not no_builtin_rules, iocs=iocs)
        extra = [parse_allow(a) for a in allow]
        policy = load_policy(policy_name, extra)
    except RulesInvalid as exc:
        for err in exc.errors:
            click.echo(f"error: {err.message}", err=True)
        sys.exit(EXIT_USAGE)
    except RuleError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_USAGE)
    if not rules.rules:
        click.echo("error: no rules loaded", err=True)
        sys.exit(EXIT_USAGE)

    targets = {"json": json_path, "html": html_path, "sarif": sarif_path, "csv": csv_path}
    try:
        chosen = formats.check_targets(targets)
    except formats.OutputError as exc:
        raise click.UsageError(str(exc)) from None

    with terminal.Progress(None, quiet=quiet) as bar:
        result = scan([FileSource(paths, options)], rules, policy, deep=deep, min_sdk=min_sdk, max_sdk=max_sdk,
                      progress=lambda name: bar.advance(name=name))
    doc = result.to_dict()
    # Write every requested format even if one fails: finished results are never lost.
    failed = []
    for name, path in chosen.items():
        try:
            formats.write(doc, name, path)
        except OSError as exc:
            failed.append(name)
            click.echo(f"error: cannot write the {name} report to {path}: {exc.strerror or exc}", err=True)
    if not quiet:
        stream = sys.stderr if "-" in chosen.values() else sys.stdout
        terminal.render(doc, stream, color=terminal.use_color(stream, no_color))
    code = result.exit_code(fail_on)
    if failed and code == 0:
        code = EXIT_INCOMPLETE  # the run's output is incomplete: say so in the exit code
    sys.exit(code)


_SIZE = re.compile(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``500M`` -> bytes (binary units)."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)) << (10 * " KMGT".index(m.group(2).upper() or " "))


def password_provider(password: str | None, password_file: str | None):
    """Called once, only when an encrypted backup needs it: option, file, environment, prompt."""

    def get() -> str | None:
        if password is not None:
            return password
        if password_file:
            try:
                with open(password_file, encoding="utf-8") as fh:
                    return fh.readline().rstrip("\r\n")
            except OSError as exc:
                click.echo(f"error: cannot read --password-file: {exc.strerror or exc}", err=True)
                return None
        if os.environ.get("APKSCAN_BACKUP_PASSWORD"):
            return os.environ["APKSCAN_BACKUP_PASSWORD"]
        if sys.stdin.isatty():
            return click.prompt("Backup password", hide_input=True, default="", show_default=False, err=True) or None
        return None

    return get
