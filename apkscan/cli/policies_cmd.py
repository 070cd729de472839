"""``apkscan policies list|show|test``: what each ban policy covers, its sources, and its self-test."""

from __future__ import annotations

import sys

import click

from apkscan.cli.exit_codes import ExitCode, exit_invalid

EXIT_OK, EXIT_FAIL, EXIT_USAGE = ExitCode.OK, ExitCode.FLAGGED, ExitCode.USAGE


@click.group("policies")
def policies_command() -> None:
    """List, explain and self-test ban policies (shipped names or policy files)."""


def _load(name: str):
    """One policy, or exit 2 with every problem as file:line: reason."""
    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import RulesInvalid

    try:
        return load_policy(name)
    except RulesInvalid as exc:
        exit_invalid(exc)


def _when(d) -> str:
    w = d.when
    parts = [f"{k}={','.join(v)}" for k, v in (("rules", w.rules), ("tags", w.tags), ("vendors", w.vendors),
                                               ("kinds", w.kinds), ("basis", w.basis)) if v]
    if w.min_strength:
        parts.append(f"min_strength={w.min_strength}")
    return " ".join(parts) or "any finding"


@policies_command.command("list")
def list_command() -> None:
    """Name, title, jurisdiction, effective date and number of decisions of each shipped policy."""
    from apkscan.policy.loader import builtin_policies
    from apkscan.report.terminal import safe

    for name in builtin_policies():
        p = _load(name)
        click.echo(safe(f"{p.name:32} {p.jurisdiction or '-':36} {(p.effective or '-').split()[0]:10} "
                        f"{len(p.decisions):2} decisions  {p.title}"))


@policies_command.command("show")
@click.argument("name")
def show_command(name) -> None:
    """What a policy covers, its decisions, sources and uncertainties."""
    from apkscan.report.terminal import safe

    p = _load(name)

    def echo(text: str) -> None:  # a policy file may come from elsewhere: no terminal escapes
        click.echo("\n".join(safe(line) for line in text.split("\n")))
    echo(f"{p.name} (version {p.version}, reviewed {p.reviewed or '-'})\n  {p.title}")
    echo(f"jurisdiction: {p.jurisdiction or '-'}\neffective: {p.effective or '-'}")
    if p.covers:
        echo(f"covers: {p.covers}")
    if p.description:
        echo(f"reading: {p.description.strip()}")
    echo(f"default verdict: {p.default}\ndecisions (first match wins per finding):")
    for d in p.decisions:
        echo(f"  {d.id}: {d.verdict} when {_when(d)}")
        for label, value in (("date", d.date), ("authority", d.authority), ("text", d.text.strip())):
            if value:
                echo(f"      {label}: {value}")
        for url in d.urls:
            echo(f"      source: {url}")
        for u in d.unverified_urls:
            echo(f"      source (UNVERIFIED{': ' + u.note if u.note else ''}): {u.url}")
        for u in d.uncertain:
            echo(f"      uncertain: {u}")
    for a in p.allow:
        echo(f"allow: {a.package} signed by {a.certificate} ({a.reason})")
    for u in p.uncertain:
        echo(f"uncertain: {u}")
    echo(f"examples: {len(p.examples)} (apkscan policies test {_as_argument(name, p.name)})")


def _as_argument(given: str, policy_name: str) -> str:
    """How to name this policy again on a command line: a file by its path as given (a bare
    name is only ever a shipped policy: review 37 F4), shell-quoted; a shipped one by name."""
    import shlex

    from apkscan.policy.loader import is_path_like

    return shlex.quote(given) if is_path_like(given) else policy_name


@policies_command.command("test")
@click.argument("names", nargs=-1)
def test_command(names) -> None:
    """Run each policy's examples against the shipped rule packs; exit 1 if any fails."""
    from apkscan.policy.loader import builtin_policies
    from apkscan.policy.selftest import run_policy_examples
    from apkscan.rules.loader import RulesInvalid, load_ruleset

    try:
        rules = load_ruleset()
    except RulesInvalid as exc:
        exit_invalid(exc)
    passed = failed = 0
    for name in names or builtin_policies():
        policy = _load(name)
        results = run_policy_examples(policy, rules)
        if not results:
            click.echo(f"FAIL {policy.name}: no examples")
            failed += 1
        for r in results:
            click.echo(f"{'PASS' if r.passed else 'FAIL'} {r.policy}: {r.name}: {r.detail}")
            passed, failed = passed + r.passed, failed + (not r.passed)
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(EXIT_FAIL if failed else EXIT_OK)
