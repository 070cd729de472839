"""Audits over time: what changed between two saved scan documents (``apkscan diff``).

An auditor re-scans the same devices and wants only the news: apps added, removed, a
verdict that moved, a version bump, and above all a *signer change*: the same package
now verified under another key is a re-signed (possibly trojanised) build even when the
verdict did not move. Apps are matched per outermost source (the device backup or
container the scan read them from; APKs given directly form one group) and package.

Both documents are read through ``ScanDocument.from_dict``: a file that is not a scan
document is a coded problem (``DIFF_*`` for the file, ``DOCUMENT_*`` for its content, with
the field's path), never a crash; an app with neither package nor SHA-256 is counted, not compared.
Inputs that fail or are skipped now are found by :mod:`apkscan.diff_failures`, sources and places
by :mod:`apkscan.diff_places`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from typing import TYPE_CHECKING

from apkscan import jsonbound
from apkscan.apk.io.readonly import open_binary
# the failure statuses and NewFailure are part of this module's API (cli.diff_cmd, tests): re-exported
from apkscan.diff_failures import CONTENT_UNKNOWN, NEW, OTHER_CONTENT, SKIPPED_NOW, NewFailure, new_failures, skipped_now
from apkscan.diff_places import DIRECT, SourceKeys, direct_folders, document_sources, outermost
from apkscan.issues import Issue, Severity
from apkscan.ranks import VERDICT_RANK

if TYPE_CHECKING:  # the typed document is imported where used: other commands' start-up does not pay for it
    from apkscan.document import App, ScanDocument

MAX_DOCUMENT_BYTES = 1 << 30  # a 10,000-app scan document is ~140 MiB
MAX_DOCUMENT_VALUES = 32 << 20  # what 1 GiB of a real scan document (indented) holds: ~40 bytes a value
_RANK = VERDICT_RANK
EXIT_SAME, EXIT_WORSE, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3  # ExitCode OK, FLAGGED, USAGE, INCOMPLETE
# (cli/exit_codes; not imported: cli imports this module)


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
    splits: tuple[SplitState, ...] = ()  # a bundle's split APKs, sorted

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "decision": self.decision, "signers": sorted(self.signers),
                "versions": list(self.versions), "sha256": list(self.sha256), "label": self.label,
                "copies": self.copies, "splits": [s.to_dict() for s in self.splits]}


@dataclass(slots=True, frozen=True)
class SplitState:
    """One split APK of a bundle as a scan saw it: a split rebuilt or re-signed is a change too."""

    split: str  # its split name ("?" when the manifest gave none)
    package: str | None  # the package its own manifest names (a planted split may name another app)
    sha256: str | None
    signers: tuple[str, ...]  # SHA-256 of its verified signers

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "package": self.package, "sha256": self.sha256, "signers": list(self.signers)}


@dataclass(slots=True)
class AppChange:
    """One package in one source that is new, gone, or different."""

    source: str
    package: str
    change: str  # added | removed | changed
    old: AppState | None
    new: AppState | None
    reasons: list[str] = field(default_factory=list)  # verdict, signer, version, file (SHA-256), split
    worse: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source or None, "package": self.package, "change": self.change,
                "reasons": list(self.reasons), "worse": self.worse,
                "old": self.old.to_dict() if self.old else None,
                "new": self.new.to_dict() if self.new else None}


@dataclass(slots=True)
class SourceDiff:
    source: str  # outermost source key; DIRECT for APKs given directly
    changes: list[AppChange] = field(default_factory=list)
    unchanged: int = 0
    new_failures: list[NewFailure] = field(default_factory=list)  # worse: new, or other content failing again
    still_failing: list[NewFailure] = field(default_factory=list)  # the same place and code, content unknown


@dataclass(slots=True)
class DocSummary:
    path: str
    started_at: str | None
    policy: str | None
    rules: dict[str, str]
    apps: int
    errors: int
    skipped_entries: int  # app entries too malformed to compare
    interrupted: bool = False  # the scan was stopped (Ctrl-C, SIGTERM): it holds what finished only
    skipped: int = 0  # files the scan looked at and did not scan (links not followed, ...)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "started_at": self.started_at, "policy": self.policy,
                "rules": dict(self.rules), "apps": self.apps, "errors": self.errors,
                "skipped_entries": self.skipped_entries, "interrupted": self.interrupted,
                "skipped": self.skipped}


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

    @property
    def complete(self) -> bool:
        """Neither scan was interrupted. An interrupted NEW scan lacks the apps it did not
        reach (they would read as "removed"), an interrupted OLD one those it did not reach."""
        return not (self.old.interrupted or self.new.interrupted)

    def exit_code(self) -> int:
        """1 when something got worse (see :func:`_judge`, :class:`NewFailure`); else 3 when a
        scan was interrupted (never "nothing got worse" from half an audit); else 0."""
        if self.worse:
            return EXIT_WORSE
        return EXIT_SAME if self.complete else EXIT_INCOMPLETE

    def counts(self) -> dict[str, int]:
        cs = self.changes()
        return {"added": sum(c.change == "added" for c in cs),
                "removed": sum(c.change == "removed" for c in cs),
                "verdict": sum("verdict" in c.reasons for c in cs),
                "signer": sum("signer" in c.reasons for c in cs),
                "version": sum("version" in c.reasons for c in cs),
                "file": sum("file" in c.reasons for c in cs),
                "split": sum("split" in c.reasons for c in cs),
                "worse": sum(c.worse for c in cs) + sum(len(s.new_failures) for s in self.sources),
                "new_failures": sum(f.status != SKIPPED_NOW for s in self.sources for f in s.new_failures),
                "skipped_now": sum(f.status == SKIPPED_NOW for s in self.sources for f in s.new_failures),
                "still_failing_unknown": sum(len(s.still_failing) for s in self.sources),
                "unchanged": sum(s.unchanged for s in self.sources)}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "apkscan-diff", "version": "1", "old": self.old.to_dict(), "new": self.new.to_dict(),
                "worse": self.worse, "complete": self.complete, "counts": self.counts(), "notes": [n.to_dict() for n in self.notes],
                "sources": [{"source": s.source or None, "unchanged": s.unchanged,
                             "new_failures": [f.to_dict() for f in s.new_failures],
                             "still_failing": [f.to_dict() for f in s.still_failing],
                             "changes": [c.to_dict() for c in s.changes]} for s in self.sources]}


def load_document(path: str) -> ScanDocument:
    """A scan document from disk, bounded and typed; raises :class:`DiffInputError` with a
    ``DIFF_*`` code (file) or ``DOCUMENT_*`` code (content, naming the field)."""
    try:
        size = os.stat(path).st_size
        if size > MAX_DOCUMENT_BYTES:
            raise DiffInputError(Issue("DIFF_DOCUMENT_TOO_LARGE",
                                       f"{path}: {size} bytes, more than {MAX_DOCUMENT_BYTES}"))
        with open_binary(path) as fh:  # an APK given by mistake keeps its access time
            doc = jsonbound.loads(jsonbound.read_at_most(fh, MAX_DOCUMENT_BYTES), MAX_DOCUMENT_VALUES)
    except OSError as exc:
        raise DiffInputError(Issue("DIFF_UNREADABLE", f"{path}: {exc.strerror or exc}")) from None
    except jsonbound.TooManyValues as exc:  # memory would grow ~26x the bytes: refused unparsed
        raise DiffInputError(Issue("DIFF_DOCUMENT_TOO_LARGE", f"{path}: {exc}")) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, absurd nesting
        raise DiffInputError(Issue("DIFF_NOT_JSON", f"{path}: not a JSON document ({type(exc).__name__})")) from None
    from apkscan.document import DocumentError, ScanDocument

    try:
        return ScanDocument.from_dict(doc)
    except DocumentError as exc:
        raise DiffInputError(Issue(exc.code, f"{path}: {str(exc).split(': ', 1)[1]}")) from None


def diff_documents(old: ScanDocument | dict[str, Any], new: ScanDocument | dict[str, Any],
                   old_path: str = "OLD", new_path: str = "NEW", *, by_name: bool = False) -> ScanDiff:
    """Compare two scan documents (typed, or their JSON: :class:`DocumentError` when malformed).

    ``by_name``: match outermost sources by file name, not path (audits kept in dated folders).
    """
    from apkscan.document import ScanDocument

    old, new = ScanDocument.of(old), ScanDocument.of(new)
    keys = SourceKeys((document_sources(old), document_sources(new)), by_name)
    old_apps, old_bad = _index(old.apps, keys)
    new_apps, new_bad = _index(new.apps, keys)
    result = ScanDiff(_summary(old, old_path, len(old_apps), old_bad),
                      _summary(new, new_path, len(new_apps), new_bad))
    skipped, explained = skipped_now(old, new, keys, new_apps)
    by_source: dict[str, SourceDiff] = {}
    for key in sorted(set(old_apps) | set(new_apps)):
        src = by_source.setdefault(key[0], SourceDiff(key[0]))
        change = _judge(key, old_apps.get(key), new_apps.get(key))
        if change is None:
            src.unchanged += 1
        elif key not in explained:  # a removal whose place the new scan skipped is said as skipped
            src.changes.append(change)
    for failure in new_failures(old, new, keys) + skipped:
        src = by_source.setdefault(failure.source, SourceDiff(failure.source))
        (src.new_failures if failure.worse else src.still_failing).append(failure)
    result.sources = sorted(by_source.values(), key=lambda s: (s.source != DIRECT, s.source))
    result.notes = _notes(result.old, result.new) + _place_notes(result, keys, (old, new))
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
                                          ("file", old.sha256 != new.sha256),
                                          ("split", old.splits != new.splits)) if differs]
    if not reasons:
        return None
    worse = (_RANK.get(new.verdict, 0) > _RANK.get(old.verdict, 0)
             or ("signer" in reasons and bool(old.signers)) or split_resigned(old, new))
    return AppChange(source, package, "changed", old, new, reasons, worse)


def split_signers(state: AppState) -> dict[str, frozenset[str]]:
    """Each split name's verified signers (copies merged)."""
    out: dict[str, frozenset[str]] = {}
    for s in state.splits:
        out[s.split] = out.get(s.split, frozenset()) | frozenset(s.signers)
    return out


def split_resigned(old: AppState, new: AppState) -> bool:
    """A split whose verified signer set changed while it had one: as for the base, a re-signed build."""
    before, after = split_signers(old), split_signers(new)
    return any(keys and name in after and after[name] != keys for name, keys in before.items())


def _index(apps: Iterable[App], keys: SourceKeys) -> tuple[dict[tuple[str, str], AppState], int]:
    """Merge each (source, package)'s copies into one state; count apps with nothing to match on."""
    groups: dict[tuple[str, str], list[App]] = {}
    bad = 0
    for app in apps:
        if not (app.package or app.sha256):
            bad += 1
            continue
        package = app.package if app.package is not None else f"(no package) {app.sha256}"
        groups.setdefault((keys.key(outermost(app.where, app.container)), package), []).append(app)
    return {k: _state(v) for k, v in groups.items()}, bad


def _state(copies: list[App]) -> AppState:
    worst = max(copies, key=lambda a: _RANK[a.verdict])
    decision = None if isinstance(worst.policy, (str, type(None))) else worst.policy.decision
    signers = {c.sha256.lower() for app in copies for c in app.identity.signers}
    versions = {f"{a.version_name or '?'} ({a.version_code if a.version_code is not None else '?'})" for a in copies}
    digests = {a.sha256 for a in copies if a.sha256 is not None}
    label = next((a.label for a in copies if a.label is not None), None)
    splits = {SplitState(s.split or "?", s.package, s.sha256, tuple(sorted(k.lower() for k in s.signers)))
              for a in copies for s in a.splits}
    return AppState(worst.verdict, decision, frozenset(signers), tuple(sorted(versions)), tuple(sorted(digests)),
                    label, len(copies), tuple(sorted(splits, key=_split_order)))


def _split_order(s: SplitState) -> tuple:
    return s.split, s.package or "", s.sha256 or "", s.signers


def _summary(doc: ScanDocument, path: str, apps: int, bad: int) -> DocSummary:
    pol = doc.policy
    policy = pol if isinstance(pol, (str, type(None))) else pol.name
    rules = {p.name: str(p.version) for p in doc.rules.packs} if doc.rules else {}
    return DocSummary(path, doc.started_at, policy, rules, apps, len(doc.errors), bad, doc.interrupted,
                      sum(s.count for s in doc.skipped))


def _notes(old: DocSummary, new: DocSummary) -> list[Issue]:
    """What makes the comparison less than like-for-like; shown above the changes."""
    notes = []
    if new.interrupted:
        notes.append(Issue("DIFF_SCAN_INTERRUPTED", f"the newer scan {new.path} was interrupted: it covers only the "
                           "inputs that finished, so a \"removed\" app may simply not have been scanned; "
                           "the comparison is incomplete", Severity.WARNING))
    if old.interrupted:
        notes.append(Issue("DIFF_SCAN_INTERRUPTED", f"the older scan {old.path} was interrupted: it covers only the "
                           "inputs that finished, so an \"added\" app may only have been missed before; "
                           "the comparison is incomplete", Severity.WARNING))
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


def _place_notes(result: ScanDiff, keys: SourceKeys, docs: tuple[ScanDocument, ScanDocument]) -> list[Issue]:
    """Sources matched by a lengthened name, directly given APKs of several inputs (one group),
    and skipped files a removal may hide behind."""
    notes = []
    folders = max((direct_folders(d) for d in docs), key=len)
    if len(folders) > 1:
        notes.append(Issue("DIFF_DIRECT_INPUTS_GROUPED", f"APKs found in {len(folders)} input folders form one "
                           "group: a package moving from one folder to another is not seen as a change",
                           Severity.WARNING))
    if keys.lengthened:
        notes.append(Issue("DIFF_SOURCE_NAME_AMBIGUOUS", "two sources of one scan share the file name "
                           f"{', '.join(sorted(keys.lengthened)[:5])}: matched by the shortest path suffix "
                           "that tells them apart (e.g. dev1/backup.ab), not by the name alone", Severity.WARNING))
    removed = result.counts()["removed"]
    if result.new.skipped and removed:
        notes.append(Issue("DIFF_INPUTS_SKIPPED", f"the newer scan {result.new.path} skipped {result.new.skipped} "
                           f"file(s) (links not followed, ...): of the {removed} removed app(s), any whose file "
                           "was skipped but is not listed by name (5 examples per place and reason) reads as "
                           "removed; see the scan's skipped list", Severity.WARNING))
    return notes
