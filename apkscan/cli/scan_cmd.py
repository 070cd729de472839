"""``apkscan scan PATH...``: identity -> findings -> verdict, a summary, and ``--json``.

Exit codes (documented in README.md): 0 nothing at or above ``--fail-on``;
1 something is; 2 usage or rule/policy file errors (nothing scanned); 3 some inputs could
not be scanned (and nothing reached ``--fail-on``).
"""

from __future__ import annotations

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
def scan_command(paths, rule_paths, no_builtin_rules, iocs, policy_name, allow, fail_on, json_path,
                 html_path, sarif_path, csv_path, deep, min_sdk, max_sdk, no_color, quiet) -> None:
    """Scan APK files and folders of APKs: who published each app, and is it banned?"""
    from apkscan.policy.loader import load_policy, parse_allow
    from apkscan.report import formats, terminal
    from apkscan.rules.loader import RulesInvalid, load_ruleset
    from apkscan.rules.yamlsrc import RuleError
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource

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
        result = scan([FileSource(paths)], rules, policy, deep=deep, min_sdk=min_sdk, max_sdk=max_sdk,
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
