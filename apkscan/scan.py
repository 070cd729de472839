"""The scan pipeline: sources -> identify -> match -> decide -> :class:`ScanResult`.

One bad input never stops a batch: ``identify`` never raises, and an input that cannot
be read at all becomes an entry in ``errors`` (exit code 3) instead of an app. The result
serialises with ``to_dict()`` into the document ``--json`` writes (schema
``apkscan/report/schema/scan-result.schema.json``), which every report renders from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apkscan import __version__
from apkscan.apk.model import ApkIdentity
from apkscan.cli.exit_codes import ExitCode
from apkscan.issues import Issue
from apkscan.policy.decide import decide
from apkscan.policy.model import VERDICT_RANK, Policy
from apkscan.rules.matcher import match_identity
from apkscan.rules.model import Finding, RuleSet
from apkscan.sources.interface import InputProblem, ScanInput, Source

SCHEMA_VERSION = "1.0"
FAIL_ON = ("prohibited", "review", "never")
EXIT_OK, EXIT_FLAGGED, EXIT_USAGE, EXIT_INPUT_ERRORS = (
    ExitCode.OK, ExitCode.FLAGGED, ExitCode.USAGE, ExitCode.INCOMPLETE)  # the one definition: cli/exit_codes
_UNSCANNABLE = ("INPUT_", "ZIP_", "INTERNAL_ERROR")


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

    def to_dict(self) -> dict[str, Any]:
        m = self.identity.manifest
        f = self.identity.file
        return {
            "source": {"path": self.source, "container": self.container},
            "container": self.container,
            "package": m.package if m else None,
            "label": m.label if m else None,
            "version_name": m.version_name if m else None,
            "version_code": m.version_code if m else None,
            "sha256": f.sha256 if f else None,
            "verified": self.identity.verified,
            "verdict": self.verdict,
            "policy": self.policy,
            "findings": [x.to_dict() for x in self.findings],
            "warnings": [i.to_dict() for i in self.warnings],
            "identity": self.identity.to_dict(),
        }


@dataclass(slots=True)
class InputError:
    """Something that could not be scanned at all."""

    source: str
    container: str | None
    errors: list[Issue]

    def to_dict(self) -> dict[str, Any]:
        first = self.errors[0] if self.errors else None
        return {"source": {"path": self.source, "container": self.container},
                "container": self.container,
                "code": first.code if first else "INPUT_ERROR",
                "message": first.message if first else "",
                "errors": [i.to_dict() for i in self.errors]}


@dataclass(slots=True)
class ScanResult:
    apps: list[AppResult] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    rules: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    interrupted: bool = False  # stopped by Ctrl-C / SIGTERM: the apps are what finished

    def counts(self) -> dict[str, int]:
        out = {"prohibited": 0, "review": 0, "allowed": 0}
        for a in self.apps:
            out[a.verdict] = out.get(a.verdict, 0) + 1
        out["errors"] = len(self.errors)
        out["total"] = len(self.apps) + len(self.errors)
        return out

    def exit_code(self, fail_on: str = "prohibited") -> int:
        """1 when an app is at or above ``fail_on``; else 3 when inputs failed; else 0."""
        if fail_on != "never" and any(VERDICT_RANK[a.verdict] >= VERDICT_RANK[fail_on] for a in self.apps):
            return EXIT_FLAGGED
        return EXIT_INPUT_ERRORS if self.errors else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "apkscan", "version": __version__},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "interrupted": self.interrupted,
            "inputs": list(self.inputs),
            "options": dict(self.options),
            "rules": self.rules,
            "policy": self.policy,
            "counts": self.counts(),
            "apps": [a.to_dict() for a in self.apps],
            "errors": [e.to_dict() for e in self.errors],
        }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def evaluate(identity: ApkIdentity, rules: RuleSet, policy: Policy, *, source: str,
             container: str | None = None, dex_path: str | None = None) -> AppResult:
    """Findings and verdict for one identified APK (``dex_path`` set = ``--deep``)."""
    classes = None
    warnings: list[Issue] = []
    if dex_path is not None:
        from apkscan.rules.dex import dex_class_names  # only --deep pays for it

        classes, warnings = dex_class_names(dex_path)
    findings = match_identity(identity, rules, classes)
    outcome = decide(identity, findings, policy, rules)
    return AppResult(source=source, container=container, identity=identity, findings=findings,
                     verdict=outcome.verdict, policy=outcome.policy, warnings=warnings)


def unscannable(identity: ApkIdentity) -> bool:
    """Nothing to match at all: the file could not be opened as an APK."""
    return not identity.readable or identity.manifest is None


def incomplete(identity: ApkIdentity) -> list[Issue]:
    """Input-level errors of a readable APK (limits, timeouts, internal errors): scanned in part."""
    return [i for i in identity.errors if i.code.startswith(_UNSCANNABLE)]


def scan(sources: Iterable[Source], rules: RuleSet, policy: Policy, *, deep: bool = False,
         min_sdk: int | None = None, max_sdk: int | None = None,
         progress: Callable[[str], None] | None = None) -> ScanResult:
    """Scan every input of every source, in order; never raises for a bad input."""
    sources = list(sources)
    result = ScanResult(rules=rules.meta(), policy=policy.meta(), started_at=_now(),
                        inputs=[s.description for s in sources],
                        options={"deep": deep, "min_sdk": min_sdk, "max_sdk": max_sdk})
    sdk_kwargs: dict[str, Any] = {"min_sdk": min_sdk}
    if max_sdk is not None:
        sdk_kwargs["max_sdk"] = max_sdk
    try:
        for src in sources:
            _scan_source(src, rules, policy, deep, sdk_kwargs, result, progress)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one by the CLI: keep what finished
        result.interrupted = True
    result.finished_at = _now()
    return result


def _scan_source(src: Source, rules: RuleSet, policy: Policy, deep: bool, sdk_kwargs: dict[str, Any],
                 result: ScanResult, progress: Callable[[str], None] | None) -> None:
    items = iter(src.inputs())
    try:
        for item in items:
            try:  # from the moment the item is ours: an interrupt anywhere below still cleans up
                if isinstance(item, InputProblem):
                    result.errors.append(InputError(item.display, None, list(item.issues)))
                    continue
                if progress:
                    progress(item.display)
                _scan_one(item, rules, policy, deep, sdk_kwargs, result)
            finally:
                if getattr(item, "cleanup", False):
                    try:
                        os.unlink(item.path)
                    except OSError:
                        pass
    finally:
        close = getattr(items, "close", None)
        if close:  # a generator's own finally blocks (temporary files) run now, not at GC
            close()


def _scan_one(item: ScanInput, rules: RuleSet, policy: Policy, deep: bool,
              sdk_kwargs: dict[str, Any], result: ScanResult) -> None:
    from apkscan.apk.identify import (
        identify,  # deferred: the pipeline is usable without it
    )

    identity = identify(item.path, display_path=item.display, **sdk_kwargs)
    if unscannable(identity):
        issues = list(identity.errors) or [Issue("INPUT_UNREADABLE", "no manifest could be read")]
        result.errors.append(InputError(item.display, item.container, issues))
        return
    result.apps.append(evaluate(identity, rules, policy, source=item.display,
                                container=item.container, dex_path=item.path if deep else None))
    partial = incomplete(identity)
    if partial:  # listed as an app (its findings count) and as an input error (exit code 3)
        result.errors.append(InputError(item.display, item.container, partial))
