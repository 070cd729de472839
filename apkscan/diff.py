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
by :mod:`apkscan.diff_places`; the keys beside verified signers (a device's recorded certificate,
``--quick``'s signature-checked signers) and apps renamed under one key by :mod:`apkscan.diff_keys`;
every policy's verdict and the notes on what two documents can compare by :mod:`apkscan.diff_policies`.
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
from apkscan.diff_failures import (CONTENT_UNKNOWN, NEW, OTHER_CONTENT, SKIPPED_NOW, STILL_FAILING, NewFailure,  # noqa: F401
                                   new_failures, skipped_now)
from apkscan import diff_keys, diff_policies
from apkscan.diff_places import DIRECT, SourceKeys, direct_folders, document_sources, outermost
from apkscan.issues import Issue, Severity
from apkscan.ranks import VERDICT_RANK

if TYPE_CHECKING:  # the typed document is imported where used: other commands' start-up does not pay for it
    from apkscan.document import App, ScanDocument

MAX_DOCUMENT_BYTES = 1 << 30  # a 10,000-app scan document is ~140 MiB
MAX_DOCUMENT_VALUES = 32 << 20  # what 1 GiB of a real scan document (indented) holds: ~40 bytes a value
_RANK = VERDICT_RANK
_KEY_REASONS = ("signer", diff_keys.RECORDED_REASON, diff_keys.CHECKED_REASON)
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
    recorded: frozenset[str] = frozenset()  # SHA-256 of certificates a device recorded (a record's key)
    checked: frozenset[str] = frozenset()  # SHA-256 of signers checked without content (--quick)
    debug: frozenset[str] = frozenset()  # Android debug certificates among its keys (never pair a rename)
    verdicts: tuple[tuple[str, str], ...] = ()  # (policy, verdict) for every policy of the scan

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "decision": self.decision, "signers": sorted(self.signers),
                "recorded_signers": sorted(self.recorded), "signature_only_signers": sorted(self.checked),
                "verdicts": dict(self.verdicts),
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
    change: str  # added | removed | changed | renamed
    old: AppState | None
    new: AppState | None
    # verdict, signer, recorded signer, signer (signature only), renamed, version, file (SHA-256), split
    reasons: list[str] = field(default_factory=list)
    worse: bool = False
    old_package: str | None = None  # ``renamed``: the older scan's package
    policy_moves: list[tuple[str, str, str]] = field(default_factory=list)  # (policy, old, new), first's aside

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source or None, "package": self.package, "change": self.change,
                "reasons": list(self.reasons), "worse": self.worse, "old_package": self.old_package,
                "policy_changes": [{"policy": p, "old": o, "new": n} for p, o, n in self.policy_moves],
                "old": self.old.to_dict() if self.old else None,
                "new": self.new.to_dict() if self.new else None}


@dataclass(slots=True)
class SourceDiff:
    source: str  # outermost source key; DIRECT for APKs given directly
    changes: list[AppChange] = field(default_factory=list)
    unchanged: int = 0
    new_failures: list[NewFailure] = field(default_factory=list)  # worse: new, or other content failing again
    still_failing: list[NewFailure] = field(default_factory=list)  # the same place and code: content unknown, or the same bytes


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
    policies: tuple[str, ...] = ()  # every policy the scan ran, in its order (``policy``: the first)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "started_at": self.started_at, "policy": self.policy,
                "rules": dict(self.rules), "apps": self.apps, "errors": self.errors,
                "skipped_entries": self.skipped_entries, "interrupted": self.interrupted, "policies": list(self.policies),
                "skipped": self.skipped}


@dataclass(slots=True)
class ScanDiff:
    old: DocSummary
    new: DocSummary
    sources: list[SourceDiff] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)
    quick: bool = False  # a --quick document: content not checked, never "nothing got worse" (exit 3)

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
        scan was interrupted or made with ``--quick`` (never "nothing got worse" from half an
        audit, or from one that did not check content); else 0."""
        if self.worse:
            return EXIT_WORSE
        return EXIT_SAME if self.complete and not self.quick else EXIT_INCOMPLETE

    def counts(self) -> dict[str, int]:
        cs = self.changes()
        return {"added": sum(c.change == "added" for c in cs),
                "removed": sum(c.change == "removed" for c in cs),
                "verdict": sum("verdict" in c.reasons for c in cs),
                "signer": sum(any(r in c.reasons for r in _KEY_REASONS) for c in cs),
                "recorded_signer": sum(diff_keys.RECORDED_REASON in c.reasons for c in cs),
                "signature_only_signer": sum(diff_keys.CHECKED_REASON in c.reasons for c in cs),
                "renamed": sum(c.change == "renamed" for c in cs),
                "version": sum("version" in c.reasons for c in cs),
                "file": sum("file" in c.reasons for c in cs),
                "split": sum("split" in c.reasons for c in cs),
                "worse": sum(c.worse for c in cs) + sum(len(s.new_failures) for s in self.sources),
                "new_failures": sum(f.status != SKIPPED_NOW for s in self.sources for f in s.new_failures),
                "skipped_now": sum(f.status == SKIPPED_NOW for s in self.sources for f in s.new_failures),
                "still_failing_unknown": sum(f.status == CONTENT_UNKNOWN for s in self.sources for f in s.still_failing),
                "still_failing_same": sum(f.status == STILL_FAILING for s in self.sources for f in s.still_failing),
                "unchanged": sum(s.unchanged for s in self.sources)}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "apkscan-diff", "version": "1", "old": self.old.to_dict(), "new": self.new.to_dict(),
                "worse": self.worse, "complete": self.complete, "content_checked": not self.quick, "counts": self.counts(), "notes": [n.to_dict() for n in self.notes],
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
    old_apps, old_bad = _index(old.apps, keys, old.first_policy())
    new_apps, new_bad = _index(new.apps, keys, new.first_policy())
    compare = (diff_policies.common_policies(old, new), diff_policies.same_first(old, new))
    result = ScanDiff(_summary(old, old_path, len(old_apps), old_bad),
                      _summary(new, new_path, len(new_apps), new_bad))
    skipped, explained = skipped_now(old, new, keys, new_apps)
    by_source: dict[str, SourceDiff] = {}
    for key in sorted(set(old_apps) | set(new_apps)):
        src = by_source.setdefault(key[0], SourceDiff(key[0]))
        change = _judge(key, old_apps.get(key), new_apps.get(key), compare)
        if change is None:
            src.unchanged += 1
        elif key not in explained:  # a removal whose place the new scan skipped is said as skipped
            src.changes.append(change)
    old_by, new_by = diff_keys.by_source(old_apps), diff_keys.by_source(new_apps)
    for src in by_source.values():  # a removed and an added app under one key: renamed
        diff_keys.pair_renames(src, old_by.get(src.source, {}), new_by.get(src.source, {}),
                               lambda *a: _renamed(*a, compare))
    for failure in new_failures(old, new, keys) + skipped:
        src = by_source.setdefault(failure.source, SourceDiff(failure.source))
        (src.new_failures if failure.worse else src.still_failing).append(failure)
    result.sources = sorted(by_source.values(), key=lambda s: (s.source != DIRECT, s.source))
    result.notes = (_notes(result.old, result.new) + diff_policies.document_notes(old, new, (old_path, new_path))
                    + _place_notes(result, keys, (old, new)))
    result.quick = diff_policies.is_quick(old) or diff_policies.is_quick(new)
    return result


def _renamed(source: str, before: str, after: str, old: AppState, new: AppState, compare: tuple) -> AppChange:
    """Worse when the verdict moved either way under a compared policy (a banned app still
    present under another name reads less severe) or the app is prohibited now."""
    change = _judge((source, after), old, new, compare) or AppChange(source, after, "changed", old, new)
    lowered = _RANK.get(new.verdict, 0) < _RANK.get(old.verdict, 0) or any(
        _RANK.get(n, 0) < _RANK.get(o, 0) for _, o, n in change.policy_moves)
    change.change, change.old_package, change.reasons = "renamed", before, ["renamed", *change.reasons]
    change.worse = change.worse or lowered or bool(diff_policies.prohibited_under(new))
    return change


def _judge(key: tuple[str, str], old: AppState | None, new: AppState | None,
           compare: tuple[tuple[str, ...], str | None] = ((), None)) -> AppChange | None:
    """What changed for one (source, package), and whether it got worse.

    Worse means: a new app prohibited under any policy of the newer scan; a verdict raised
    (allowed -> review, review -> prohibited...) under any policy both scans ran
    (``compare``: those policies, and the first one when both scans' first is the same); or
    a key that changed while the old scan had one: a verified signer set (a re-signed
    build), a recorded certificate, a signature-only signer (``--quick``), or a record's
    key against an APK's verified one. A lowered verdict, a removed app, a version bump,
    other bytes (a rebuild), or a first key where none was known before are reported, not worse.
    """
    source, package = key
    if old is None and new is not None:
        return AppChange(source, package, "added", None, new, [],
                         new.verdict == "prohibited" or bool(diff_policies.prohibited_under(new)))
    if new is None and old is not None:
        return AppChange(source, package, "removed", old, None, [], False)
    assert old is not None and new is not None
    moved = diff_policies.moves(old, new, *compare)
    key_reason = diff_keys.key_reason(old, new)
    reasons = [name for name, differs in (("verdict", old.verdict != new.verdict or bool(moved)),
                                          ("signer", old.signers != new.signers),
                                          (key_reason, key_reason is not None),
                                          ("version", old.versions != new.versions),
                                          ("file", old.sha256 != new.sha256),
                                          ("split", old.splits != new.splits)) if differs]
    if not reasons:
        return None
    worse = (_RANK.get(new.verdict, 0) > _RANK.get(old.verdict, 0) or diff_policies.raised(moved)
             or ("signer" in reasons and bool(old.signers) and diff_keys.key(new)[0] != old.signers) or (key_reason is not None and bool(diff_keys.key(old)[0]))
             or diff_keys.split_resigned(old, new))
    return AppChange(source, package, "changed", old, new, reasons, worse, policy_moves=moved)


def _index(apps: Iterable[App], keys: SourceKeys,
           first: str | None = None) -> tuple[dict[tuple[str, str], AppState], int]:
    """Merge each (source, package)'s copies into one state; count apps with nothing to match on."""
    groups: dict[tuple[str, str], list[App]] = {}
    bad = 0
    for app in apps:
        if not (app.package or app.sha256):
            bad += 1
            continue
        package = app.package if app.package is not None else f"(no package) {app.sha256}"
        groups.setdefault((keys.key(outermost(app.where, app.container)), package), []).append(app)
    return {k: _state(v, first) for k, v in groups.items()}, bad


def _state(copies: list[App], first: str | None = None) -> AppState:
    worst = max(copies, key=lambda a: _RANK[a.verdict])
    decision = None if isinstance(worst.policy, (str, type(None))) else worst.policy.decision
    signers = {c.sha256.lower() for app in copies for c in app.identity.signers}
    versions = {f"{a.version_name or '?'} ({a.version_code if a.version_code is not None else '?'})" for a in copies}
    digests = {a.sha256 for a in copies if a.sha256 is not None}
    label = next((a.label for a in copies if a.label is not None), None)
    splits = {SplitState(s.split or "?", s.package, s.sha256, tuple(sorted(k.lower() for k in s.signers)))
              for a in copies for s in a.splits}
    return AppState(worst.verdict, decision, frozenset(signers), tuple(sorted(versions)), tuple(sorted(digests)),
                    label, len(copies), tuple(sorted(splits, key=_split_order)), diff_keys.recorded_keys(copies),
                    diff_keys.checked_keys(copies), diff_keys.debug_keys(copies),
                    diff_policies.worst_verdicts(copies, first))


def _split_order(s: SplitState) -> tuple:
    return s.split, s.package or "", s.sha256 or "", s.signers


def _summary(doc: ScanDocument, path: str, apps: int, bad: int) -> DocSummary:
    pol = doc.policy
    policy = pol if isinstance(pol, (str, type(None))) else pol.name
    rules = {p.name: str(p.version) for p in doc.rules.packs} if doc.rules else {}
    return DocSummary(path, doc.started_at, policy, rules, apps, len(doc.errors), bad, doc.interrupted,
                      sum(s.count for s in doc.skipped), tuple(doc.stated_policies()))


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
        notes.append(Issue("DIFF_DIRECT_INPUTS_GROUPED", f"APKs found in {len(folders)} folders form one "
                           "group: a package moving from one folder to another (one device's folder to another's) "
                           "is not seen as a change",
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
