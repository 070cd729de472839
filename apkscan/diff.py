"""Audits over time: what changed between two saved scan documents (``apkscan diff``).

An auditor re-scans the same devices and wants only the news: apps added, removed, a
verdict that moved, a version bump, and above all a *signer change*: the same package
now verified under another key is a re-signed (possibly trojanised) build even when the
verdict did not move. Apps are matched per outermost source (the device backup or
container the scan read them from; APKs given directly form one group) and package.

Both documents are our own ``--json`` output but are still read defensively: a bad file
is a coded ``DIFF_*`` problem, a malformed entry is counted, never a crash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from apkscan.ranks import VERDICT_RANK
from apkscan.issues import Issue, Severity

MAX_DOCUMENT_BYTES = 1 << 30  # a 10,000-app scan document is ~140 MiB
DIRECT = ""  # source key of APKs given directly (files and folders on the command line)
CHAIN_SEPARATOR = " ▸ "  # as apkscan.sources.interface.chain_display writes it
_RANK = VERDICT_RANK
EXIT_SAME, EXIT_WORSE, EXIT_USAGE = 0, 1, 2  # ExitCode OK, FLAGGED, USAGE (cli/exit_codes; not imported: cli imports this module)


class DiffInputError(Exception):
    """A document that cannot be compared; carries a coded :class:`Issue`."""

    def __init__(self, issue: Issue):
        super().__init__(issue.message)
        self.issue = issue


@dataclass(slots=True, frozen=True)
class AppState:
    """Everything a scan says about one package in one source (several copies merged)."""

    verdict: str
    decision: str | None  # policy decision that set the verdict
    signers: frozenset[str]  # SHA-256 of verified signing certificates
    versions: tuple[str, ...]
    sha256: tuple[str, ...]
    label: str | None
    copies: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "decision": self.decision, "signers": sorted(self.signers),
                "versions": list(self.versions), "sha256": list(self.sha256), "label": self.label,
                "copies": self.copies}


@dataclass(slots=True)
class AppChange:
    """One package in one source that is new, gone, or different."""

    source: str
    package: str
    change: str  # added | removed | changed
    old: AppState | None
    new: AppState | None
    reasons: list[str] = field(default_factory=list)  # verdict, signer, version, file (SHA-256)
    worse: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source or None, "package": self.package, "change": self.change,
                "reasons": list(self.reasons), "worse": self.worse,
                "old": self.old.to_dict() if self.old else None,
                "new": self.new.to_dict() if self.new else None}


@dataclass(slots=True, frozen=True)
class NewFailure:
    """An input the new scan could not read that the old scan read (or did not see).

    Always worse: making a banned APK unreadable must not look like removing it.
    """

    source: str
    name: str  # the input's own name (last element of its chain, file name only)
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source or None, "name": self.name, "code": self.code, "message": self.message}


@dataclass(slots=True)
class SourceDiff:
    source: str  # outermost source key; DIRECT for APKs given directly
    changes: list[AppChange] = field(default_factory=list)
    unchanged: int = 0
    new_failures: list[NewFailure] = field(default_factory=list)


@dataclass(slots=True)
class DocSummary:
    path: str
    started_at: str | None
    policy: str | None
    rules: dict[str, str]
    apps: int
    errors: int
    skipped_entries: int  # app entries too malformed to compare

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "started_at": self.started_at, "policy": self.policy,
                "rules": dict(self.rules), "apps": self.apps, "errors": self.errors,
                "skipped_entries": self.skipped_entries}


@dataclass(slots=True)
class ScanDiff:
    old: DocSummary
    new: DocSummary
    sources: list[SourceDiff] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)

    def changes(self) -> list[AppChange]:
        return [c for s in self.sources for c in s.changes]

    @property
    def worse(self) -> bool:
        return any(c.worse for c in self.changes()) or any(s.new_failures for s in self.sources)

    def exit_code(self) -> int:
        """1 when something got worse (see :func:`_judge`, :class:`NewFailure`), else 0."""
        return EXIT_WORSE if self.worse else EXIT_SAME

    def counts(self) -> dict[str, int]:
        cs = self.changes()
        return {"added": sum(c.change == "added" for c in cs),
                "removed": sum(c.change == "removed" for c in cs),
                "verdict": sum("verdict" in c.reasons for c in cs),
                "signer": sum("signer" in c.reasons for c in cs),
                "version": sum("version" in c.reasons for c in cs),
                "file": sum("file" in c.reasons for c in cs),
                "worse": sum(c.worse for c in cs) + sum(len(s.new_failures) for s in self.sources),
                "new_failures": sum(len(s.new_failures) for s in self.sources),
                "unchanged": sum(s.unchanged for s in self.sources)}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "apkscan-diff", "version": "1", "old": self.old.to_dict(), "new": self.new.to_dict(),
                "worse": self.worse, "counts": self.counts(), "notes": [n.to_dict() for n in self.notes],
                "sources": [{"source": s.source or None, "unchanged": s.unchanged,
                             "new_failures": [f.to_dict() for f in s.new_failures],
                             "changes": [c.to_dict() for c in s.changes]} for s in self.sources]}


def load_document(path: str) -> dict[str, Any]:
    """A scan document from disk, bounded; raises :class:`DiffInputError` with a DIFF_* code."""
    try:
        size = os.stat(path).st_size
        if size > MAX_DOCUMENT_BYTES:
            raise DiffInputError(Issue("DIFF_DOCUMENT_TOO_LARGE",
                                       f"{path}: {size} bytes, more than {MAX_DOCUMENT_BYTES}"))
        with open(path, "rb") as fh:
            doc = json.loads(fh.read(MAX_DOCUMENT_BYTES + 1))
    except OSError as exc:
        raise DiffInputError(Issue("DIFF_UNREADABLE", f"{path}: {exc.strerror or exc}")) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, absurd nesting
        raise DiffInputError(Issue("DIFF_NOT_JSON", f"{path}: not a JSON document ({type(exc).__name__})")) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("apps"), list):
        raise DiffInputError(Issue("DIFF_NOT_A_SCAN", f"{path}: not an apkscan scan document (no 'apps' list)"))
    return doc


def diff_documents(old: dict[str, Any], new: dict[str, Any], old_path: str = "OLD",
                   new_path: str = "NEW", *, by_name: bool = False) -> ScanDiff:
    """Compare two scan documents; never raises for malformed entries (they are counted).

    ``by_name``: match outermost sources by file name, not path (audits kept in dated folders).
    """
    old_apps, old_bad = _index(old.get("apps", []), by_name)
    new_apps, new_bad = _index(new.get("apps", []), by_name)
    result = ScanDiff(_summary(old, old_path, len(old_apps), old_bad),
                      _summary(new, new_path, len(new_apps), new_bad))
    result.notes = _notes(result.old, result.new)
    by_source: dict[str, SourceDiff] = {}
    for key in sorted(set(old_apps) | set(new_apps)):
        src = by_source.setdefault(key[0], SourceDiff(key[0]))
        change = _judge(key, old_apps.get(key), new_apps.get(key))
        if change is None:
            src.unchanged += 1
        else:
            src.changes.append(change)
    for failure in _new_failures(old, new, by_name):
        by_source.setdefault(failure.source, SourceDiff(failure.source)).new_failures.append(failure)
    result.sources = sorted(by_source.values(), key=lambda s: (s.source != DIRECT, s.source))
    return result


def _judge(key: tuple[str, str], old: AppState | None, new: AppState | None) -> AppChange | None:
    """What changed for one (source, package), and whether it got worse.

    Worse means: a new app whose verdict is prohibited; a verdict raised (allowed ->
    review, review -> prohibited...); or a verified signer set that changed while the
    old scan had one (a re-signed build). A lowered verdict, a removed app, a version
    bump, other bytes (a rebuild), or a first verified signer where none verified before
    are reported, not worse.
    """
    source, package = key
    if old is None and new is not None:
        return AppChange(source, package, "added", None, new, [], new.verdict == "prohibited")
    if new is None and old is not None:
        return AppChange(source, package, "removed", old, None, [], False)
    assert old is not None and new is not None
    reasons = [name for name, differs in (("verdict", old.verdict != new.verdict),
                                          ("signer", old.signers != new.signers),
                                          ("version", old.versions != new.versions),
                                          ("file", old.sha256 != new.sha256)) if differs]
    if not reasons:
        return None
    worse = (_RANK.get(new.verdict, 0) > _RANK.get(old.verdict, 0)
             or ("signer" in reasons and bool(old.signers)))
    return AppChange(source, package, "changed", old, new, reasons, worse)


def _new_failures(old: dict[str, Any], new: dict[str, Any], by_name: bool) -> list[NewFailure]:
    """Input errors of the new scan whose (source, name) did not already fail in the old one."""
    def failures(doc: dict[str, Any]) -> list[NewFailure]:
        errors = doc.get("errors")
        out = []
        for e in errors if isinstance(errors, list) else []:
            if not isinstance(e, dict):
                continue
            src = e.get("source") if isinstance(e.get("source"), dict) else {}
            path = src.get("path") if isinstance(src.get("path"), str) else ""
            name = os.path.basename(path.split(CHAIN_SEPARATOR)[-1]) or path
            out.append(NewFailure(source_key(e, by_name), name, str(e.get("code", "INPUT_ERROR")), str(e.get("message", ""))))
        return out
    before = {(f.source, f.name) for f in failures(old)}
    return [f for f in failures(new) if (f.source, f.name) not in before]


def source_key(app: dict[str, Any], by_name: bool = False) -> str:
    """The outermost source an app came from, or DIRECT for an APK given directly.

    Prefers the document's ``source.outermost`` / ``source.chain`` (container scans) and
    falls back to ``source.container`` / ``container``. Matched as written (same path),
    or by its file name with ``by_name``.
    """
    key = _outermost(app)
    return os.path.basename(key.rstrip("/\\")) or key if by_name and key else key


def _outermost(app: dict[str, Any]) -> str:
    src = app.get("source") if isinstance(app.get("source"), dict) else {}
    chain = src.get("chain")
    if isinstance(chain, list) and chain:
        return str(chain[0]) if len(chain) > 1 else DIRECT
    container = src.get("container") or app.get("container")
    if isinstance(container, str) and container:
        outermost = src.get("outermost")
        return str(outermost) if isinstance(outermost, str) and outermost else container.split(CHAIN_SEPARATOR)[0]
    return DIRECT


def _index(apps: Iterable[Any], by_name: bool) -> tuple[dict[tuple[str, str], AppState], int]:
    """Merge each (source, package)'s copies into one state; count unusable entries."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    bad = 0
    for app in apps:
        if not isinstance(app, dict) or not isinstance(app.get("package") or app.get("sha256"), str):
            bad += 1
            continue
        package = app.get("package") if isinstance(app.get("package"), str) else f"(no package) {app['sha256']}"
        groups.setdefault((source_key(app, by_name), package), []).append(app)
    return {k: _state(v) for k, v in groups.items()}, bad


def _state(copies: list[dict[str, Any]]) -> AppState:
    worst = max(copies, key=lambda a: _RANK[_verdict(a)])
    verdict = _verdict(worst)
    pol = worst.get("policy") if isinstance(worst.get("policy"), dict) else {}
    decision = pol.get("decision") if isinstance(pol.get("decision"), str) else None
    signers: set[str] = set()
    versions, digests = set(), set()
    for app in copies:
        ident = app.get("identity") if isinstance(app.get("identity"), dict) else {}
        certs = ident.get("signers")
        for cert in certs if isinstance(certs, list) else []:
            if isinstance(cert, dict) and isinstance(cert.get("sha256"), str):
                signers.add(cert["sha256"].lower())
        versions.add(f"{app.get('version_name') or '?'} ({app.get('version_code') if app.get('version_code') is not None else '?'})")
        if isinstance(app.get("sha256"), str):
            digests.add(app["sha256"])
    label = next((a["label"] for a in copies if isinstance(a.get("label"), str)), None)
    return AppState(verdict, decision, frozenset(signers), tuple(sorted(versions)), tuple(sorted(digests)),
                    label, len(copies))


def _verdict(app: dict[str, Any]) -> str:
    v = app.get("verdict")
    return v if isinstance(v, str) and v in _RANK else "allowed"


def _summary(doc: dict[str, Any], path: str, apps: int, bad: int) -> DocSummary:
    pol = doc.get("policy")
    policy = pol.get("name") if isinstance(pol, dict) else pol if isinstance(pol, str) else None
    rules: dict[str, str] = {}
    packs = doc.get("rules", {}).get("packs") if isinstance(doc.get("rules"), dict) else None
    for p in packs if isinstance(packs, list) else []:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            rules[p["name"]] = str(p.get("version"))
    errors = doc.get("errors")
    started = doc.get("started_at")
    return DocSummary(path, started if isinstance(started, str) else None,
                      policy if isinstance(policy, str) else None, rules, apps,
                      len(errors) if isinstance(errors, list) else 0, bad)


def _notes(old: DocSummary, new: DocSummary) -> list[Issue]:
    """What makes the comparison less than like-for-like; shown above the changes."""
    notes = []
    if old.policy != new.policy:
        notes.append(Issue("DIFF_POLICY_DIFFERS", f"verdicts come from different policies: "
                           f"{old.policy or 'none'} then {new.policy or 'none'}", Severity.WARNING))
    if old.rules != new.rules:
        notes.append(Issue("DIFF_RULES_DIFFER", "rule pack versions differ between the scans: a verdict "
                           "may have moved because the rules changed", Severity.WARNING))
    for doc in (old, new):
        if doc.skipped_entries:
            notes.append(Issue("DIFF_BAD_ENTRY", f"{doc.path}: {doc.skipped_entries} app entries without "
                               "package or sha256 were not compared", Severity.WARNING))
    return notes
