"""The scan result: typed records of one run (apps, input errors, custody, skipped files)
and the document they serialise to (``to_dict()``; what ``--json`` writes and every report
renders from; schema ``apkscan/report/schema/scan-result.schema.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apkscan import __version__
from apkscan.apk.model import ApkIdentity
from apkscan.cli.exit_codes import ExitCode
from apkscan.issues import Issue
from apkscan.policy.decide import Outcome
from apkscan.policy.multi import FailOn, verdict_entry
from apkscan.ranks import tally_by_policy, worst_of
from apkscan.rules.model import Finding
from apkscan.sources.interface import InputFile, Skipped, chain_display
from apkscan.sources.names import name_text

SCHEMA_VERSION = "1.3"  # 1.1: source chain/outermost, splits, input_files, skipped; 1.2: verdicts, policies;
# 1.3: verdict_worst, counts_by_policy, and ``counts`` counts each app by its most severe verdict (review 86 F1)
EXIT_OK, EXIT_FLAGGED, EXIT_USAGE, EXIT_INPUT_ERRORS = (
    ExitCode.OK, ExitCode.FLAGGED, ExitCode.USAGE, ExitCode.INCOMPLETE)  # the one definition: cli/exit_codes


@dataclass(slots=True)
class AppResult:
    """One APK: where it came from, what it is, what matched, and the verdict."""

    source: str
    container: str | None
    identity: ApkIdentity
    findings: list[Finding] = field(default_factory=list)
    verdict: str = "allowed"
    policy: dict[str, Any] | None = None
    warnings: list[Issue] = field(default_factory=list)  # scan-level (e.g. DEX reading in --deep)
    chain: tuple[str, ...] = ()  # outermost input first, then each member name
    splits: list[dict[str, Any]] = field(default_factory=list)  # split APKs of a bundle (apkscan.splits)
    verdicts: dict[str, Outcome] = field(default_factory=dict)  # every policy's, in --policy order

    def set_outcomes(self, outcomes: dict[str, Outcome]) -> None:
        """Every policy's outcome; ``verdict``/``policy`` are the first policy's."""
        self.verdicts = dict(outcomes)
        first = next(iter(outcomes.values()))
        self.verdict, self.policy = first.verdict, first.policy

    @property
    def verdict_worst(self) -> str:
        """The most severe verdict over every policy of the run: what ``--fail-on LEVEL`` reads."""
        return worst_of(_verdict_names(self).values())

    def source_dict(self) -> dict[str, Any]:
        return source_dict(self.source, self.container, self.chain)

    def to_dict(self) -> dict[str, Any]:
        m = self.identity.manifest
        f = self.identity.file
        identity = self.identity.to_dict()
        if isinstance(identity.get("path"), str):
            identity["path"] = name_text(identity["path"])
        return {
            "source": self.source_dict(),
            "container": _name(self.container),
            "package": m.package if m else None,
            "label": m.label if m else None,
            "version_name": m.version_name if m else None,
            "version_code": m.version_code if m else None,
            "sha256": f.sha256 if f else None,
            "verified": self.identity.verified,
            "verdict": self.verdict,
            "verdict_worst": self.verdict_worst,
            "policy": self.policy,
            "verdicts": {name: verdict_entry(o, name) for name, o in self.verdicts.items()},
            "findings": [x.to_dict() for x in self.findings],
            "warnings": [i.to_dict() for i in self.warnings],
            "identity": identity,
            "splits": list(self.splits),
        }


def source_dict(path: str, container: str | None, chain: tuple[str, ...]) -> dict[str, Any]:
    """Where an app or error came from: display path, container, full chain, outermost input.
    Every name as :func:`~apkscan.sources.names.name_text` writes it (a byte 0xff: ``\\xff``)."""
    chain = tuple(name_text(c) for c in (chain or (path,)))
    member = chain[-1] if len(chain) > 1 else name_text(path)  # relative to its container, as schema 1.0 had it
    return {"path": member, "container": _name(container), "chain": list(chain), "outermost": chain[0]}


def _name(text: str | None) -> str | None:
    return None if text is None else name_text(text)


@dataclass(slots=True)
class InputError:
    """Something that could not be scanned at all."""

    source: str
    container: str | None
    errors: list[Issue]
    chain: tuple[str, ...] = ()
    file: Any = None  # FileFacts of the bytes that failed, when they were hashed (not under --quick)
    partial: bool = False  # the input is also a listed app, scanned in part: one input, not two

    def to_dict(self) -> dict[str, Any]:
        first = self.errors[0] if self.errors else None
        out = {"source": source_dict(self.source, self.container, self.chain),
               "container": _name(self.container),
               "code": first.code if first else "INPUT_ERROR",
               "message": first.message if first else "",
               "errors": [i.to_dict() for i in self.errors]}
        if self.file is not None:  # what failed, by content: diff tells another file at the same place
            out.update(sha256=self.file.sha256, size=self.file.size)
        if self.partial:  # the app listed for the same input: a document counts them as one input
            out["partial"] = True
        return out


@dataclass(slots=True)
class ScanResult:
    """Everything one scan found: apps, input errors, the rules and policies used, the run's options."""

    apps: list[AppResult] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    rules: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)  # the first policy's meta (schema 1.1)
    policies: list[dict[str, Any]] = field(default_factory=list)  # every policy's meta, in order
    inputs: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    interrupted: bool = False  # stopped by Ctrl-C / SIGTERM: the apps are what finished
    input_files: list[InputFile] = field(default_factory=list)  # custody: every outermost file
    skipped: dict[tuple[tuple[str, ...], str], Skipped] = field(default_factory=dict)
    store_keys: tuple[str, ...] | None = None  # (parser, options, rules, policies) the run used the store under

    def add_skipped(self, s: Skipped) -> None:
        """One record per (where, reason): a tar of 10,000 text files is one line."""
        have = self.skipped.get((s.where, s.reason))
        if have is None:
            self.skipped[(s.where, s.reason)] = Skipped(s.where, s.reason, s.count, list(s.examples[:5]))
        else:
            have.count += s.count
            have.examples.extend(s.examples[: max(0, 5 - len(have.examples))])

    def counts(self) -> dict[str, int]:
        """Apps by their most severe verdict over the run's policies (one policy: its verdict), so
        ``counts.prohibited`` is not 0 when ``--fail-on prohibited`` fails the run (review 86 F1)."""
        out = {"prohibited": 0, "review": 0, "allowed": 0}
        for a in self.apps:
            worst = worst_of(_verdict_names(a).values())
            out[worst] = out.get(worst, 0) + 1
        out["errors"] = len(self.errors)
        out["total"] = len(self.apps) + sum(not e.partial for e in self.errors)  # partial: its app counts
        out["skipped"] = sum(s.count for s in self.skipped.values())
        return out

    def exit_code(self, fail_on: str | FailOn = "prohibited") -> int:
        """1 when an app is at or above ``fail_on`` (under any policy, or the one it names);
        else 3 when inputs failed; else 0."""
        spec = fail_on if isinstance(fail_on, FailOn) else FailOn.parse(fail_on)
        if any(spec.flags(_verdict_names(a)) for a in self.apps):
            return EXIT_FLAGGED
        return EXIT_INPUT_ERRORS if self.errors else EXIT_OK

    def counts_by_policy(self) -> dict[str, dict[str, int]]:
        """Per policy (``--policy`` order): how many apps got each verdict under it."""
        names = [p.get("name") for p in self.policies or [self.policy] if isinstance(p, dict)]
        return tally_by_policy([_verdict_names(a) for a in self.apps], [n for n in names if isinstance(n, str)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "apkscan", "version": __version__},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "interrupted": self.interrupted,
            "inputs": [name_text(i) for i in self.inputs],
            "options": dict(self.options),
            "rules": self.rules,
            "policy": self.policy,
            "policies": list(self.policies) or ([self.policy] if self.policy else []),
            "counts": self.counts(),
            "counts_by_policy": self.counts_by_policy(),
            "apps": [a.to_dict() for a in self.apps],
            "errors": [e.to_dict() for e in self.errors],
            "input_files": [{"path": name_text(f.path), "size": f.size, "kind": f.kind, "sha256": f.sha256,
                             **({"hashed": f.hashed} if f.hashed and f.sha256 else {})}
                            for f in self.input_files],
            "skipped": [{"where": [name_text(w) for w in s.where], "where_display": name_text(chain_display(s.where)),
                         "reason": s.reason, "count": s.count, "examples": [name_text(e) for e in s.examples]}
                        for s in self.skipped.values()],
        }


def _verdict_names(app: AppResult) -> dict[str, str]:
    return {name: o.verdict for name, o in app.verdicts.items()} or {"": app.verdict}

