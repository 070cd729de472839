"""``apkscan scan PATH...``: identity -> findings -> verdict, a summary, and reports.

Order matters for evidence: rules, policy and every output path are checked before the
first input is read (exit 2, nothing written); Ctrl-C or SIGTERM stops the loop, and the
reports are still written for what finished, marked ``interrupted`` (exit 130).
Exit codes: :mod:`apkscan.cli.exit_codes`.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import nullcontext

import click

from apkscan.cli.identify_options import HASHES_HELP, QUICK_HELP, SDK_LEVEL, check_sdk_range, parse_hashes
from apkscan.cli.common import (
    ExitCode,
    checked_outputs,
    command_epilog,
    finish,
    report_options,
    summary_stream,
    typed_document,
    write_reports,
)
from apkscan.cli.exit_codes import exit_invalid
from apkscan.cli.batch_opts import (batch_options, batch_run, checked_jsonl, local_inputs, note_and_prune, sources,
                                     worker_memory)
from apkscan.cli.passwords import password_provider
from apkscan.cli.tmp_dir import check_temp, made_tmp_dir
from apkscan.cli.usage import Conflict, OutputRefused
from apkscan.policy.loader import DEFAULT_POLICY, builtin_policies  # the help lists the library as shipped

FAIL_ON = ("prohibited", "review", "never")  # same as apkscan.scan.FAIL_ON (kept import-free)
FAIL_ON_HELP = ("Exit 1 when an app's verdict under any --policy is at or above LEVEL "
                "(prohibited, review, never); POLICY:LEVEL looks at that policy only. "
                "Default: prohibited, or review with --quick; a LEVEL given is used as given.")
SCAN_QUICK_HELP = (QUICK_HELP + " An app only a verified signer identifies (a vendor's key, a Kaspersky "
                   "publisher name) then comes out as review, not prohibited, so --fail-on defaults to review.")


def default_fail_on(given: str | None, quick: bool) -> str:
    """``--fail-on`` as given; else ``prohibited``, or ``review`` under ``--quick``: nothing verifies
    there, so an app a key identifies comes out as review and a default of prohibited exited 0 for
    it, a pass for a banned app (review 86 F3)."""
    return given if given is not None else "review" if quick else "prohibited"


def _finite(ctx, param, value: float) -> float:
    if value != value:  # NaN passes FloatRange's comparisons and would turn the budget off
        raise click.BadParameter("not a number", param=param)
    return value


def _resolved(ctx, param, value: str | None) -> str | None:
    """One path, resolved as the system resolves it, for creating the folder, checking it against
    the inputs and spooling into it (review 43 F7: :func:`apkscan.folders.resolved`)."""
    from apkscan.folders import resolved

    ctx.meta[f"apkscan.{param.name}.written"] = value  # also checked as written (review 49 F1)
    return None if value is None else resolved(value)


@click.command("scan", epilog=command_epilog())
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(),
              help="Extra rule file or folder of rule files (repeatable); added to the shipped packs.")
@click.option("--no-builtin-rules", is_flag=True, help="Use only --rules/--iocs, not the shipped vendor packs.")
@click.option("--iocs", multiple=True, type=click.Path(),
              help="MVT-style STIX2 indicator file (app:id, app:cert.sha256|sha1|md5); repeatable.")
@click.option("--policy", "policy_name", multiple=True, default=(DEFAULT_POLICY,), show_default=True,
              help=f"Shipped policy name ({', '.join(builtin_policies())}) or path to a policy file; repeatable: "
                   "a verdict per policy, the first one's is the app's verdict.")
@click.option("--allow", "allow", multiple=True, metavar="PACKAGE:SHA256",
              help="Allow-list an app by package and the SHA-256 of its verified signing certificate.")
@click.option("--fail-on", default=None, metavar="[POLICY:]LEVEL", help=FAIL_ON_HELP)
@report_options
@click.option("--deep", is_flag=True, help="Also read classes*.dex type tables for vendor SDK prefixes.")
@click.option("--min-sdk-version", "min_sdk", type=SDK_LEVEL, default=None, help="Lowest API level to verify for.")
@click.option("--max-sdk-version", "max_sdk", type=SDK_LEVEL, default=None, help="Highest API level to verify for.")
@click.option("--quick", is_flag=True, help=SCAN_QUICK_HELP)
@click.option("--hashes", default="sha256", show_default=True, callback=parse_hashes, metavar="LIST", help=HASHES_HELP)
@click.option("--no-color", is_flag=True, help="No ANSI colours in the summary.")
@click.option("-q", "--quiet", is_flag=True, help="No terminal summary.")
@click.option("--include", multiple=True, metavar="GLOB",
              help="In folders, read only files whose path relative to the folder matches (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="In folders, skip files whose relative path matches (repeatable).")
@click.option("--follow-symlinks", is_flag=True, help="Resolve symlinks to say where they point; none is read as an input (a target inside the inputs is read under its own name, one outside never).")
@click.option("--max-depth", type=click.IntRange(0, 32), default=4, show_default=True,
              help="How many containers deep to open (zip in tar.gz in backup ...).")
@click.option("--walk-timeout", type=click.FloatRange(min=1, max=1e7), default=120, show_default=True,
              metavar="SECONDS", callback=_finite,
              help="Time to walk one input's containers, plus 1 s per MiB of it on disk; then CONTAINER_WALK_TIMEOUT.")
@click.option("--tmp-dir", type=click.Path(file_okay=False), default=None, callback=_resolved,
              help="Where APKs inside compressed containers are spooled (a private 0700 folder is made in it; "
                   "never an input or inside one).")
@click.option("--tmp-limit", default="4G", show_default=True, metavar="SIZE",
              help="Most temporary disk space held at once (e.g. 500M, 8G); a larger member is an error.")
@click.option("--password", default=None, help="Password of encrypted adb backups (visible to other users: prefer the file or env).")
@click.option("--password-file", type=click.Path(dir_okay=False), default=None,
              help="File whose first line is the backup password.")
@batch_options
def scan_command(paths: tuple[str, ...], **opts) -> None:
    """Scan APKs, split bundles, archives and backups (by content): who published each app, and is it banned?

    PATHS are files or folders; folders are walked and every file is classified by its bytes.
    Backup password: --password, --password-file, env APKSCAN_BACKUP_PASSWORD, else a prompt
    when stdin is a terminal.
    """
    from apkscan.batch.progress import BatchProgress
    from apkscan.cli.signals import interrupts_deferred, sigterm_as_interrupt
    from apkscan.scan import scan

    from apkscan.cli.outputs import ResolvedInputs

    paths = local_inputs(paths)  # a file:// URL is the path it names, for every check below (review 66 F3)
    check_sdk_range(opts["min_sdk"], opts["max_sdk"])
    walk = _walk_options(opts)
    worker_memory(opts)  # checked before anything is read or written (used when the pool starts)
    real = ResolvedInputs(paths)  # every check below compares against the inputs' real paths
    _rules_cache_out_of(real)
    check_temp(opts["tmp_dir"], real,  # spooled copies never go into evidence, nor where others can swap them
               written=click.get_current_context().meta.get("apkscan.tmp_dir.written"))
    rules, policies = _load_rules_and_policy(opts)
    fail_on = fail_on_spec(default_fail_on(opts["fail_on"], opts["quick"]), [p.name for p in policies])
    read_too = real.with_files(_files_read(opts))  # no report or stream over a rule or password file either
    chosen = checked_outputs(opts, read_too)
    _store_apart(opts, chosen, opts["jsonl_path"])
    jsonl, inputs = checked_jsonl(opts, read_too, chosen), sources(paths, walk, opts)
    stream_only = bool(jsonl) and not chosen and opts["quiet"]  # nothing needs the whole document
    with made_tmp_dir(opts["tmp_dir"]), sigterm_as_interrupt(), \
            batch_run(opts, paths, walk, jsonl, stream_only, real) as run, BatchProgress(quiet=opts["quiet"]) as bar:
        result = scan(inputs, rules, policies[0], more_policies=policies[1:], deep=opts["deep"], min_sdk=opts["min_sdk"],
                      max_sdk=opts["max_sdk"], progress=lambda name: bar.advance(name=name),
                      runner=run.runner, on_records=run.on_records, store=run.store, rehash=opts["rehash"],
                      identify_options={"quick": opts["quick"], "hashes": opts["hashes"]}, keep=not stream_only,
                      known=run.known)
        run.finish(result)
    doc = {} if stream_only else result.to_dict()
    # typed once for the reports and a summary that lists apps or errors; the JSON report and a
    # summary of counts alone read the scan's own dict: the typed document is not imported
    typed = typed_document(doc) if any(n != "json" for n in chosen) else None
    with interrupts_deferred() if result.interrupted else nullcontext():
        failed = write_reports(doc, chosen, typed) if chosen else []
        if run.stream_failure:  # the stream stopped where it failed; the reports above are whole
            click.echo(f"error: --jsonl {jsonl}: {run.stream_failure}; the stream ends there", err=True)
            failed.append("jsonl")
        if not opts["quiet"]:
            from apkscan.report import terminal

            stream = summary_stream({**chosen, "jsonl": jsonl or ""})
            color = terminal.use_color(stream, opts["no_color"])
            if typed is not None or not terminal.render_allowed(doc, stream, color=color):
                terminal.render(typed if typed is not None else typed_document(doc), stream, color=color)
    if result.interrupted:
        click.echo(f"interrupted: {len(result.apps) + len(result.errors)} inputs finished; "
                   "reports cover only those and are marked interrupted", err=True)
    else:
        note_and_prune(run, result)
    finish(result.exit_code(fail_on),
           ExitCode.REPORT_FAILED if failed else ExitCode.OK,
           ExitCode.INTERRUPTED if result.interrupted else ExitCode.OK)


def fail_on_spec(text: str, names: list[str]):
    """``--fail-on`` checked against the run's policies before any input is read (exit 2)."""
    from apkscan.policy.multi import FailOn

    try:
        spec = FailOn.parse(text)
        spec.check_names(names)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fail-on") from None
    return spec


def _store_apart(opts: dict, chosen: dict[str, str], jsonl: str | None) -> None:
    """``--resume`` needs the store, which ``--deep`` turns off (it was silently a fresh run); and the
    store (its -wal/-shm, -journal too) is never a report's or the stream's file: the report, renamed
    over it at the end, replaced the store (review 37 R2-7). Usage errors, before anything is read."""
    if opts["resume"] and opts["deep"]:
        raise Conflict("--resume needs the scan store, which --deep turns off (drop one of them)")
    if opts["no_store"] or opts["deep"]:
        return
    from apkscan.rules.cache import cache_home

    store = os.path.realpath(opts["store_path"] or os.path.join(cache_home(), "store.sqlite"))
    taken = {store, *(store + side for side in ("-wal", "-shm", "-journal"))}
    for name, path in [*chosen.items(), ("jsonl", jsonl)]:
        if path and path != "-" and os.path.realpath(path) in taken:
            raise OutputRefused(f"--{name} {path}: the scan store's file (--store {store}); "
                                   "choose another path (or --no-store)")


def _rules_cache_out_of(inputs) -> None:
    """The rule cache (parses, validations) is never written into evidence, e.g. by ``scan ~``.
    ``inputs``: :class:`apkscan.cli.outputs.ResolvedInputs`."""
    from apkscan.cli.outputs import _input_conflict, _inside
    from apkscan.rules import cache

    for folder in map(cache.cache_dir, cache.KINDS):
        real = os.path.realpath(folder)
        if _input_conflict(real, inputs, folder) or any(_inside(r, real) for _, r in inputs):  # folder: as named
            cache.read_only()


def _files_read(opts: dict) -> list[str]:
    """The files the run reads besides its inputs: ``--rules``, ``--iocs``, policy files and the
    password file. ``--force`` replaces a file that is not a report, never one of these (review 49 F6)."""
    named = [*opts["rule_paths"], *opts["iocs"], *(p for p in opts["policy_name"] if os.path.exists(p))]
    return named + ([opts["password_file"]] if opts["password_file"] else [])


def _load_rules_and_policy(opts: dict):
    """Rule packs, indicators and the policies; every problem printed, then exit 2."""
    from apkscan.policy.loader import load_policy, parse_allow
    from apkscan.rules.loader import RulesInvalid, load_ruleset
    from apkscan.rules.yamlsrc import RuleError

    try:
        rules = load_ruleset(opts["rule_paths"], builtin=not opts["no_builtin_rules"], iocs=opts["iocs"])
        allow = [parse_allow(a) for a in opts["allow"]]
        policies = [load_policy(name, allow) for name in opts["policy_name"]]
    except RulesInvalid as exc:
        exit_invalid(exc)
    except RuleError as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(ExitCode.USAGE)
    for note in rules.notices:  # e.g. indicators of a kind apkscan cannot match
        click.echo(f"warning: {note.code}: {note.message}", err=True)
    if not rules.rules:
        click.echo("error: no rules loaded", err=True)
        sys.exit(ExitCode.USAGE)
    _warn_selects_nothing(policies, rules)
    _warn_no_ioc_decision(policies, rules)
    _warn_file_hashes_unread(rules, opts["hashes"])
    names = [p.name for p in policies]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # verdicts are keyed by policy name: two policies of one name would hide one
        click.echo(f"error: POLICY_NAME_TWICE: --policy given twice for the policy named {', '.join(twice)}", err=True)
        sys.exit(ExitCode.USAGE)
    return rules, policies


def _warn_selects_nothing(policies, rules) -> None:
    """A decision whose tag, vendor or rule-id selector no loaded rule produces never matches
    (``vendors: [Tencnet]``): the app it was written for would be decided by the others or the
    default, silently (review 40 F4). Said on stderr once per policy, as ``rules lint`` says it,
    and kept in the policy's ``notices``: the reports carry it too (review 41 F9)."""
    from apkscan.policy.selftest import selects_nothing

    for policy in policies:
        found = selects_nothing(policy, rules)
        if found:
            more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
            said = f"POLICY_SELECTS_NOTHING: {'; '.join(found[:3])}{more}: such a decision never matches in this run"
            policy.notices.append(said)
            click.echo(f"warning: {said.replace(': ', f': policy {policy.name}: ', 1)}", err=True)


def _warn_file_hashes_unread(rules, hashes) -> None:
    """An --iocs file indicator of a digest the run does not compute (SHA-1, MD5 without --hashes)
    could never match: said, with the option that makes it match (review 90 F2)."""
    for pack in rules.packs:
        algos = sorted({a for r in pack.rules for a, _d in r.file_hashes} - set(hashes))
        if algos:
            said = (f"RULES_IOC_NEEDS_HASHES: {pack.path}: file indicators of {' and '.join(algos)} digests are "
                    f"not matched unless those digests are computed: pass --hashes {','.join(algos)}")
            pack.notices.append(said)
            click.echo(f"warning: {said}", err=True)


def _warn_no_ioc_decision(policies, rules) -> None:
    """--iocs given and a policy with no decision for its packs: its default would decide a
    confirmed indicator match; the indicator floor keeps it ``review``, and the user is told so."""
    from apkscan.policy.selftest import indicators_undecided

    for policy in policies:
        packs = indicators_undecided(policy, rules)
        if packs:
            said = (f"POLICY_NO_IOC_DECISION: no decision selects the findings of {', '.join(packs)}: "
                    f"the default ({policy.default!r}) decides them, never below 'review' (indicator floor)")
            policy.notices.append(said)
            click.echo(f"warning: {said.replace(': ', f': policy {policy.name}: ', 1)}", err=True)


def _walk_options(opts: dict):
    """How folders and containers are walked (a bad --tmp-limit is a usage error, exit 2)."""
    from apkscan.sources.walker import WalkOptions

    try:
        limit = parse_size(opts["tmp_limit"])
    except ValueError:
        raise click.BadParameter(f"not a size: {opts['tmp_limit']!r} (e.g. 500M, 8G)",
                                 param_hint="--tmp-limit") from None
    return WalkOptions(max_depth=opts["max_depth"], include=tuple(opts["include"]),
                       exclude=tuple(opts["exclude"]), follow_symlinks=opts["follow_symlinks"],
                       tmp_dir=opts["tmp_dir"], tmp_limit=limit, walk_timeout=opts["walk_timeout"],
                       password=password_provider(opts["password"], opts["password_file"]))


_SIZE = re.compile(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``500M`` -> bytes (binary units)."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)) << (10 * " KMGT".index(m.group(2).upper() or " "))
