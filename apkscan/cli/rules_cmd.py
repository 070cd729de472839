"""``apkscan rules list|lint|test|export``: inspect, validate, self-test and share rule packs."""

from __future__ import annotations

import json
import os
import sys

import click

from apkscan.cli.exit_codes import ExitCode, epilog, exit_invalid

EXIT_OK, EXIT_FAIL, EXIT_USAGE = ExitCode.OK, ExitCode.FLAGGED, ExitCode.USAGE

_rules_opt = click.option("--rules", "rule_paths", multiple=True, type=click.Path(),
                          help="Extra rule file or folder (repeatable).")
_builtin_opt = click.option("--no-builtin-rules", is_flag=True, help="Leave out the shipped packs.")
_iocs_opt = click.option("--iocs", multiple=True, type=click.Path(), help="STIX2 indicator file (repeatable).")


@click.group("rules", epilog=epilog())
def rules_command() -> None:
    """List, validate, self-test and export signature rules."""


def _load(rule_paths, no_builtin_rules, iocs):
    from apkscan.rules.loader import RulesInvalid, load_ruleset

    try:
        rules = load_ruleset(rule_paths, builtin=not no_builtin_rules, iocs=iocs)
    except RulesInvalid as exc:
        exit_invalid(exc)
    for note in rules.notices:  # e.g. indicators of a kind apkscan cannot match
        click.echo(f"warning: {note.code}: {note.message}", err=True)
    return rules


@rules_command.command("list")
@_rules_opt
@_builtin_opt
@_iocs_opt
@click.option("--json", "as_json", is_flag=True, help="Print packs and rules as JSON.")
def list_command(rule_paths, no_builtin_rules, iocs, as_json) -> None:
    """Print every loaded pack and rule with what it matches on."""
    from apkscan.policy.loader import builtin_policies

    rules = _load(rule_paths, no_builtin_rules, iocs)
    if as_json:
        out = {"packs": [dict(p.meta(), rules=[r.to_dict() for r in p.rules]) for p in rules.packs],
               "policies": builtin_policies()}
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    for pack in rules.packs:
        click.echo(f"{pack.name} ({pack.vendor}) version {pack.version}, reviewed {pack.reviewed or '-'}: "
                   f"{len(pack.rules)} rules, {len(pack.certificates)} certificates, "
                   f"{len(pack.publishers)} publisher patterns  [{pack.path}]")
        for r in pack.rules:
            on = [k for k, v in (("package", r.packages or r.package_globs or r.package_regexes),
                                 ("label", r.labels), ("cert", r.certificates), ("subject", r.subjects),
                                 ("issuer", r.issuers), ("stamp", r.source_stamps), ("dex", r.dex_prefixes)) if v]
            click.echo(f"  {r.id:45} {r.kind:4} {'+'.join(on):22} {r.app}")
    click.echo(f"policies: {', '.join(builtin_policies())}")


@rules_command.command("lint")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--no-builtin-rules", is_flag=True,
              help="Check rule files as a run with --no-builtin-rules would use them (not against the shipped packs).")
@_iocs_opt
@click.option("--policy", "policy_names", multiple=True, metavar="NAME|PATH",
              help="A policy as scan --policy names it, checked against the rules and --iocs (repeatable).")
def lint_command(paths, no_builtin_rules, iocs, policy_names) -> None:
    """Validate rule and policy files (default: the shipped ones); exit 2 on any error.

    Each file on its own, then the rule files together and beside the shipped packs, as a
    run would load them: a pack name or rule id used twice is the error a scan would give.
    With --iocs, the policies (--policy, those linted, else the default) are checked as a scan
    given the same --iocs checks them (POLICY_NO_IOC_DECISION)."""
    from apkscan.policy.loader import lint_policy, policy_dir
    from apkscan.rules.loader import builtin_files, lint_file, rule_files
    from apkscan.rules.pack_set import shipped_names_taken, vendor_keys_added

    files = rule_files(paths) if paths else builtin_files() + sorted(policy_dir().glob("*.yaml"))
    named = {os.path.realpath(f) for f in files}
    files += [p for p in dict.fromkeys(map(_policy_path, policy_names)) if os.path.realpath(p) not in named]
    linted = [(f, _is_policy(f)) for f in files]
    linted = [(f, is_policy, *(lint_policy(f) if is_policy else lint_file(f))) for f, is_policy in linted]
    packs = [obj for _f, is_policy, obj, errors in linted if not is_policy and obj is not None]
    shipped = _shipped_packs(files) if not no_builtin_rules else []
    across = _across_files(shipped + packs)
    for err in shipped_names_taken(packs) if no_builtin_rules else ():
        across.setdefault(err.file, []).append(err)
    for err in _policy_names_twice([obj for _f, is_policy, obj, errors in linted if is_policy and obj and not errors]):
        across.setdefault(err.file, []).append(err)
    bad = total = 0
    policies = []
    for f, is_policy, obj, errors in linted:
        errors = errors + across.get(str(f), [])
        for err in errors:
            click.echo(f"error: {err.code}: {err.message}", err=True)
        bad, total = bad + bool(errors), total + len(errors)
        if not errors:
            click.echo(f"ok  {f} ({'policy' if is_policy else f'{len(obj.rules)} rules'})")
            policies += [obj] if is_policy else []
    for errors in (e for k, e in across.items() if k not in {str(f) for f in files}):  # shipped packs
        for err in errors:
            click.echo(f"error: {err.code}: {err.message}", err=True)
        bad, total = bad + 1, total + len(errors)
    fed, errors = _ioc_packs(iocs, shipped + packs)
    bad, total = bad + bool(errors), total + len(errors)
    _warn_selects_nothing(policies, shipped + packs + fed)
    if fed:  # as a scan given these --iocs and policies says it
        _warn_no_ioc_decision(policies or ([] if bad else _default_policy()), shipped + packs + fed)
    for note in vendor_keys_added(shipped + packs, {p.path for p in shipped} if paths else {str(f) for f in files}):
        click.echo(f"warning: {note.code}: {note.message}", err=True)
    if bad:
        from apkscan.report.terminal import plural

        click.echo(f"{plural(total, 'error')} in {plural(bad, 'file')}", err=True)
    sys.exit(EXIT_USAGE if bad else EXIT_OK)


def _shipped_packs(given) -> list:
    """The shipped packs a run loads beside the files given (those not among them)."""
    from apkscan.rules.loader import builtin_files, lint_file

    given_real = {os.path.realpath(f) for f in given}
    packs = []
    for f in builtin_files():
        if os.path.realpath(f) not in given_real:
            pack, _errors = lint_file(f)  # a bad shipped pack is reported by `rules lint` of the shipped files
            packs += [pack] if pack is not None else []
    return packs


def _across_files(packs) -> dict[str, list]:
    """Pack names and rule ids used twice over the packs, by file (the later one is named)."""
    from apkscan.rules.pack_set import duplicates

    out: dict[str, list] = {}
    for err in duplicates(packs):
        out.setdefault(err.file, []).append(err)
    return out


def _policy_names_twice(policies) -> list:
    """The later of two policy files of one name: a scan given both refuses them (verdicts are keyed
    by policy name), so linting them together says so, as it does for a pack name used twice."""
    from apkscan.rules.yamlsrc import RuleError

    first: dict[str, str] = {}
    out = []
    for policy in policies:
        if policy.name in first:
            out.append(RuleError(str(policy.path), None, f"policy name {policy.name!r} is also the name of "
                                 f"{first[policy.name]}: a scan given both refuses them", "POLICY_NAME_TWICE"))
        first.setdefault(policy.name, str(policy.path))
    return out


def _warn_selects_nothing(policies, packs: list) -> None:
    """A policy's decisions against the rule packs the lint loaded (shipped unless --no-builtin-rules)."""
    from apkscan.policy.selftest import selects_nothing
    from apkscan.rules.model import RuleSet

    if not policies:
        return
    rules = RuleSet(list(packs))
    for policy in policies:
        for text in selects_nothing(policy, rules):
            click.echo(f"warning: POLICY_SELECTS_NOTHING: {policy.path}: {text}", err=True)


def _policy_path(name: str):
    """The file ``scan --policy name`` reads (a shipped name or a path); an unknown name: exit 2."""
    from apkscan.policy.loader import resolve
    from apkscan.rules.loader import RulesInvalid

    try:
        return resolve(name)
    except RulesInvalid as exc:
        exit_invalid(exc)


def _ioc_packs(iocs, packs: list) -> tuple[list, list]:
    """The --iocs files' packs as a scan loads them beside ``packs``, and their errors (said here;
    a scan refuses such a feed, exit 2)."""
    from apkscan.rules.loader import load_iocs

    notices: list = []
    fed, errors = load_iocs(iocs, {p.name for p in packs}, notices)
    for err in notices:
        click.echo(f"warning: {err.code}: {err.message}", err=True)
    for err in errors:
        click.echo(f"error: {err.code}: {err.message}", err=True)
    for pack in fed:
        click.echo(f"ok  {pack.path} ({len(pack.rules)} rules, STIX2 indicators)")
    return fed, errors


def _default_policy() -> list:
    """The policy a scan uses when no --policy is given (checked when the lint names none)."""
    from apkscan.policy.loader import DEFAULT_POLICY, load_policy

    return [load_policy(DEFAULT_POLICY)]


def _warn_no_ioc_decision(policies, packs: list) -> None:
    """A policy no decision of which selects an --iocs pack: a scan says POLICY_NO_IOC_DECISION (the
    indicator floor keeps those findings at review); the lint says it too (review 91 B)."""
    from apkscan.policy.selftest import indicators_undecided
    from apkscan.rules.model import RuleSet

    rules = RuleSet(list(packs))
    for policy in policies:
        undecided = indicators_undecided(policy, rules)
        if undecided:
            click.echo(f"warning: POLICY_NO_IOC_DECISION: {policy.path}: no decision selects the findings of "
                       f"{', '.join(undecided)}: the default ({policy.default!r}) decides them, never below "
                       "'review' (indicator floor)", err=True)


def _is_policy(path) -> bool:
    """Whether the file's head names the policy schema; a FIFO or device is opened without waiting
    and is no policy (linted as a rule file, which says RULES_NOT_A_FILE: review 91 C)."""
    from apkscan.apk.io.readonly import open_binary
    from apkscan.issues import ApkScanError

    try:
        with open_binary(path, regular=True) as fh:
            return b"apkscan-policy/" in fh.read(4096)
    except (OSError, ApkScanError):
        return False


@rules_command.command("test")
@click.argument("files", nargs=-1, type=click.Path())
@_rules_opt
@_builtin_opt
@click.option("--rule", "only", help="Only rules whose id starts with this.")
def test_command(files, rule_paths, no_builtin_rules, only) -> None:
    """Run the examples embedded in rule files (the shipped packs and FILES, as --rules FILE would
    add them); exit 1 if any fails."""
    from apkscan.rules.selftest import run_examples

    rules = _load(tuple(files) + tuple(rule_paths), no_builtin_rules, ())
    results = run_examples(rules, only)
    failed = [r for r in results if not r.passed]
    for r in results:
        click.echo(f"{'PASS' if r.passed else 'FAIL'} {r.rule} example {r.index}: {r.detail}")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(EXIT_FAIL if failed else EXIT_OK)


@rules_command.command("export")
@_rules_opt
@_builtin_opt
@_iocs_opt
@click.option("--format", "fmt", type=click.Choice(["stix2"]), default="stix2", show_default=True)
@click.option("-o", "--output", default="-", metavar="FILE", help="Output file ('-' for stdout).")
@click.option("--force", is_flag=True, help="Replace an existing FILE that is not an apkscan export.")
def export_command(rule_paths, no_builtin_rules, iocs, fmt, output, force) -> None:
    """Export app rules as an MVT-compatible STIX2 bundle."""
    from apkscan.rules.stix import export_stix, left_out_text

    from apkscan.cli.common import ExitCode, checked_outputs, write_json

    chosen = checked_outputs({"json_path": output, "force": force}, list(rule_paths) + list(iocs),
                             options={"json": "-o/--output"})
    rules = _load(rule_paths, no_builtin_rules, iocs)
    # written as a report is (atomic file write, or stdout for '-'): a write error is said, exit 4 (review 71 F10)
    failed = write_json(export_stix(rules), chosen["json"])
    said = left_out_text(rules)
    if said:  # a round trip (export, then --iocs) would lose these matches without a word (review 64 F11)
        click.echo(f"warning: RULES_EXPORT_PARTIAL: {said}", err=True)
    if failed:
        raise click.exceptions.Exit(int(ExitCode.REPORT_FAILED))
