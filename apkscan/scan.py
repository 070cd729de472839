"""The scan pipeline: sources -> identify -> match -> decide -> :class:`ScanResult`.

One bad input never stops a batch: ``identify`` never raises, and an input that cannot
be read at all becomes an entry in ``errors`` (exit code 3) instead of an app. The result
serialises with ``to_dict()`` into the document ``--json`` writes (schema
``apkscan/report/schema/scan-result.schema.json``), which every report renders from.
"""

from __future__ import annotations

import _signal
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apkscan.apk.io.readonly import CHANGED
from apkscan.apk.model import ApkIdentity
from apkscan.evaluate import evaluate, incomplete, unscannable  # one identity's part (callers import them here too)
from apkscan.batch.streamed import StreamedApp, shared, streamed
from apkscan.issues import Issue, Severity
from apkscan.policy.model import Policy
from apkscan.rules.model import RuleSet
from apkscan.result import AppResult, InputError, ScanResult
from apkscan.sources.interface import chain_display, InputFile, InputProblem, RecordedApp, ScanInput, Skipped, Source
from apkscan.sources.record_check import (RECORD_OF_SCANNED_APK, ScannedApk, record_contradiction,  # noqa: F401
                                         remember_scanned, scanned_here, swapped_apk, tied_reason)

FAIL_ON = ("prohibited", "review", "never")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class ScanSettings:
    """What every unit of work needs; picklable, so a worker process or Dask task gets a copy."""

    rules: RuleSet
    policy: Policy  # the first policy (its verdict is every app's ``verdict``)
    deep: bool = False
    sdk_kwargs: dict[str, Any] = field(default_factory=dict)
    store: str | None = None  # scan store (SQLite file, apkscan.batch.store); None = off
    rehash: bool = False  # --rehash: never trust a stat key, hash the bytes again
    more_policies: list[Policy] = field(default_factory=list)  # --policy given again: decided too
    result_keys: tuple[str, str] | None = None  # store keys of (rule set, policies): see result_keys()
    timeout: float | None = None  # identify's own time budget per input (Dask tasks: --timeout)
    encoded: bool = False  # no report keeps apps: a pool worker returns each as its JSONL line (batch.known)

    @property
    def policies(self) -> list[Policy]:
        return [self.policy, *self.more_policies]


Runner = Callable[[Iterable[Any], ScanSettings], Iterator[tuple[Any, list[Any]]]]


def sequential(items: Iterable[Any], settings: ScanSettings) -> Iterator[tuple[Any, list[Any]]]:
    """The reference runner: each item scanned before the source is asked for the next one."""
    for item in items:
        yield item, scan_item(item, settings)


def scan(sources: Iterable[Source], rules: RuleSet, policy: Policy, *, deep: bool = False,
         min_sdk: int | None = None, max_sdk: int | None = None,
         progress: Callable[[str], None] | None = None, runner: Runner | None = None,
         on_records: Callable[[list[Any]], None] | None = None, store: str | None = None,
         rehash: bool = False, identify_options: dict[str, Any] | None = None,
         more_policies: list[Policy] | None = None, keep: bool = True, known: Any = None) -> ScanResult:
    """Scan every input of every source, in order; never raises for a bad input.

    ``runner`` does the units of work (default :func:`sequential`; ``apkscan.batch.pool``
    and ``apkscan.batch.dask_runner`` give the same records in the same order).
    ``on_records`` sees every decided record as it is added (``--jsonl``).
    ``more_policies`` are decided too (``AppResult.verdicts``); ``policy`` stays *the* verdict.
    The APKs of one split bundle arrive one after another with the same ``bundle`` key;
    they are scanned one by one and assembled into one app when the bundle ends.
    ``keep=False`` (only a JSONL stream is written): an app shown to ``on_records`` is kept as
    its verdicts only (:class:`StreamedApp`), so the run's memory does not grow with its apps;
    the counts and exit code stay right, ``to_dict()`` cannot be made.
    ``known``: the store's fast lane (:class:`apkscan.batch.known.KnownFiles`), told every decided item.
    With ``keep=False`` and a pool, ``on_records`` sees the apps of non-bundle inputs as
    :class:`apkscan.batch.known.KnownApp` (their JSONL line and verdicts), as the lane's answers.
    """
    sources = list(sources)
    more_policies = list(more_policies or [])
    result = ScanResult(rules=rules.meta(), policy=policy.meta(), started_at=_now(),
                        policies=[p.meta() for p in (policy, *more_policies)],
                        # one entry per path given (a source joins its paths with ", " in its description,
                        # which a name holding ", " made ambiguous); a source without ``named``: its description
                        inputs=[n for s in sources for n in getattr(s, "named", (s.description,))],
                        options={"deep": deep, "min_sdk": min_sdk, "max_sdk": max_sdk, **(identify_options or {})})
    quick = bool((identify_options or {}).get("quick"))
    settings = ScanSettings(rules, policy, deep, {"min_sdk": min_sdk, **(identify_options or {})},
                            store=None if quick else store, rehash=rehash,
                            more_policies=more_policies)  # --quick never reads the file: no store key
    if max_sdk is not None:
        settings.sdk_kwargs["max_sdk"] = max_sdk
    if settings.store and not deep:
        from apkscan.batch import store as store_mod
        from apkscan.batch.results import result_keys

        settings.result_keys = result_keys(rules, settings.policies)
        result.store_keys = (store_mod.parser_version(), store_mod.options_key(settings.sdk_kwargs),
                             *settings.result_keys)
    if known is not None:
        known.bind(settings.sdk_kwargs, settings.result_keys if settings.store else None,
                   tuple(p.name for p in settings.policies), settings)
    settings.encoded = not keep and on_records is not None
    sink = _Sink(result, on_records, keep, known)
    try:
        for src in sources:
            items = src.inputs()
            try:
                _scan_source((runner or sequential)(items, settings), settings, sink, progress)
            finally:  # interrupted or not: the source removes its temporary files now
                close = getattr(items, "close", None)
                if close:
                    close()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one by the CLI: keep what finished
        result.interrupted = True
    result.finished_at = _now()
    return result


@dataclass(slots=True)
class _Sink:
    """Adds records to the result and shows them to ``on_records`` (the JSONL stream)."""

    result: ScanResult
    on_records: Callable[[list[Any]], None] | None = None
    keep: bool = True
    known: Any = None  # apkscan.batch.known.KnownFiles: learns each plain APK's line as it is written

    def add(self, records: list[Any]) -> None:
        """Atomic for Ctrl-C/SIGTERM: the report and the JSONL stream never disagree on a record.
        (The mask is set here, not by a context manager: two system calls per input of a warm run.)"""
        if not records:
            return
        old = _hold_signals()
        try:
            if self.on_records:
                self.on_records(records)
            _add(self.result, records if self.keep else [streamed(r) for r in records])
            if not self.keep and len(self.result.input_files) > 512:
                del self.result.input_files[:-256]  # custody is filled from the last ones only
        finally:
            if old is not None:
                _sigmask(signal.SIG_SETMASK, old)  # type: ignore[misc]

    def observe(self, item: Any, records: list[Any]) -> None:
        if self.known is not None:
            self.known.observe(item, records)


_HELD = frozenset({signal.SIGINT, signal.SIGTERM})


# the C function: ``signal.pthread_sigmask`` also turns the old mask into a set of enums (~4 µs a call,
# two calls per record added; the set of numbers it returns is set back as it is)
_sigmask = getattr(_signal, "pthread_sigmask", None)


def _hold_signals() -> Any:
    """Make SIGINT/SIGTERM wait (they raise as usual once the old mask, returned, is set back);
    None where signals cannot be masked (not Unix, or not the main thread)."""
    try:
        return _sigmask(signal.SIG_BLOCK, _HELD)  # type: ignore[misc]  # None: TypeError
    except (TypeError, ValueError, OSError):
        return None


def _scan_source(pairs: Iterator[tuple[Any, list[Any]]], settings: ScanSettings, sink: _Sink,
                 progress: Callable[[str], None] | None) -> None:
    """Take one source's scanned items in order; a split set's APKs are assembled when the walk leaves
    its container (:mod:`apkscan.open_sets`: an item inside it, of no set or of a nested one, keeps it open)."""
    from apkscan.open_sets import OpenSets

    sets = OpenSets(lambda apps, key: _close_bundle(apps, key, settings))
    scanned: dict[str, list[ScannedApk]] = {}  # package -> its scanned APKs (record_check.remember_scanned)
    placed: dict[tuple[str, ...], set[str]] = {}  # file or container -> packages read from it
    try:
        for item, records in pairs:
            if isinstance(item, RecordedApp) and (matched := scanned_here(item, scanned)):
                contradiction = record_contradiction(item, matched)
                if not contradiction:  # the APK says more: listed once, as the APK
                    sink.add([Skipped(tuple(item.chain), tied_reason(matched), 1, [item.package])])
                    continue
                # a tampered record or a swapped APK: said, and the record listed as its own app (review 60 F2)
                sink.add([InputError(item.display, _container(item.chain), contradiction, tuple(item.chain),
                                     partial=True)])  # its app is listed too: one input
            elif isinstance(item, RecordedApp) and (swapped := swapped_apk(item, placed)):
                # its named .app held another package: said, and the record listed (review 69 F7)
                sink.add([InputError(item.display, _container(item.chain), swapped, tuple(item.chain), partial=True)])
            if type(item).__name__ == "KnownApp" and progress:  # answered by the store's fast lane
                progress(item.path)
            if progress and isinstance(item, (ScanInput, RecordedApp)):  # an interrupt here: not yet recorded
                progress(item.display)
            for r in records:  # an answered KnownApp item is its own record
                remember_scanned(scanned, r, placed)
            item_key = item.bundle if isinstance(item, ScanInput) else None
            if sets and (isinstance(item, ScanInput) or type(item).__name__ == "KnownApp"):  # skips do not
                sink.add(sets.leave(item, item_key))
            if item_key is not None:
                records = [*sets.add(item_key, item, [r for r in records if isinstance(r, AppResult)]),
                           *(r for r in records if not isinstance(r, AppResult))]
            sink.add(records)
            sink.observe(item, records)
        sink.add(sets.close())
    finally:  # a runner holding workers or leases releases them now, interrupted or not
        close = getattr(pairs, "close", None)
        if close:
            close()


def _discard(item: Any) -> None:
    """Remove a spooled copy the source handed over (``ScanInput.cleanup``)."""
    if isinstance(item, ScanInput) and item.cleanup:
        try:
            os.unlink(item.path)
        except OSError:
            pass


def scan_item(item: Any, settings: ScanSettings) -> list[Any]:
    """One input -> its records (AppResult, InputError, Skipped, InputFile); the unit of work."""
    if isinstance(item, ScanInput):
        try:
            return _loose(item, _scan_input(item, settings))
        finally:
            _discard(item)
            if settings.store:  # what the store learnt about this input: one transaction
                from apkscan.batch.store import commit_writes

                commit_writes()
    if isinstance(item, RecordedApp):
        from apkscan.sources.records import recorded_identity

        chain = tuple(item.chain)
        return [evaluate(recorded_identity(item), settings.rules, settings.policies, source=item.display,
                         container=chain_display(chain[:-1]) if len(chain) > 1 else None, chain=chain)]
    if isinstance(item, InputProblem):
        return [InputError(item.display, _container(item.chain), list(item.issues), tuple(item.chain))]
    return [item]  # Skipped, InputFile: run metadata


def _scan_input(item: ScanInput, settings: ScanSettings, stored_only: bool = False) -> list[Any] | None:
    """``stored_only``: the records only if the store answers without reading the file or
    matching (None otherwise): the pool's parent asks this before starting a worker."""
    deadline = None if settings.timeout is None else time.monotonic() + settings.timeout  # --deep's DEX reading too
    identity, hashed, facts = None, "this run", None  # where its custody hash comes from; its match facts
    use_store = bool(settings.store) and not settings.deep
    if use_store:
        from apkscan.batch.store import BY_STAT_KEY, recall  # the scan store: identical bytes are parsed once

        identity, remember = recall(settings.store, item, settings.sdk_kwargs, rehash=settings.rehash,
                                    stat_only=stored_only)
        hashed = "store" if identity is not None and remember is BY_STAT_KEY else hashed
    if identity is None:
        if stored_only:
            return None
        from apkscan.apk.identify import identify  # deferred: the pipeline is usable without it

        budget = {"timeout": settings.timeout} if settings.timeout is not None else {}
        kwargs = dict(display_path=item.display, offset=item.offset, length=item.length, **settings.sdk_kwargs, **budget,
                      **({"zip64": True} if item.reading else {}),  # the second reading of a ZIP
                      **({"expect": item.expect} if item.expect is not None else {}))  # custody's stat
        read = getattr(remember, "read", None) if use_store else None  # a store miss: read as it proves (Remember)
        if read is not None:
            identity, facts = read(item, identify, kwargs)  # facts kept with it: matching need not make them again
        else:
            identity = identify(item.path, **kwargs)
            facts = remember(identity) if use_store else None
    identity.tamper.extend(item.flags)
    chain = tuple(item.chain)
    # a whole local file (given, met in a folder, or a file of a backup folder): its custody hash
    whole = item.length is None and not item.cleanup and identity.file is not None and item.reading is None
    custody = [_Custody(item.path if len(chain) > 1 else chain[0], identity.file.sha256, hashed)] if whole else []
    if any(i.code == CHANGED for i in identity.errors):  # other bytes than custody's: no app, no hash
        return [InputError(item.display, item.container, [i for i in identity.errors if i.code == CHANGED], chain)]
    if unscannable(identity):
        manifest = [i for i in (identity.manifest.errors if identity.manifest else []) if i.severity == Severity.ERROR]
        issues = list(identity.errors) + manifest or [Issue("INPUT_UNREADABLE", "no manifest could be read")]
        issues += [t for t in identity.tamper if t not in issues]  # what the reading met before it failed, and the member's facts
        return [InputError(item.display, item.container, issues, chain, identity.file), *custody]
    if use_store and settings.result_keys and not item.flags and _whole(identity):
        from apkscan.batch.results import through_store

        app = through_store(identity, item, settings, chain, stored_only, facts)
        if app is None:
            return None
    elif stored_only:
        return None  # matching is a worker's job
    else:
        app = evaluate(identity, settings.rules, settings.policies, source=item.display, container=item.container,
                       dex_path=item.path if settings.deep else None, dex_window=(item.offset, item.length),
                       dex_zip64=bool(item.reading),
                       chain=chain, dex_deadline=deadline)
    out: list[Any] = [*custody, app]
    partial = incomplete(identity)
    if partial:  # listed as an app (its findings count) and as an input error (exit code 3)
        out.append(InputError(item.display, item.container, partial, chain, identity.file, partial=True))
    return out


def _whole(identity: ApkIdentity) -> bool:
    """Read to the end (no time budget or internal error cut it): only then are stored findings,
    made from a whole reading of the same bytes, this identity's findings."""
    from apkscan.batch.store import storable

    return storable(identity)


def stored_records(item: Any, settings: ScanSettings) -> list[Any] | None:
    """The records of ``item`` when the store knows its file by stat key and its findings under
    this rule set (None: a worker must read or match it)."""
    if not (isinstance(item, ScanInput) and settings.store and not settings.deep and not settings.rehash
            and not item.cleanup):
        return None
    try:
        return _loose(item, _scan_input(item, settings, stored_only=True))
    except Exception:  # noqa: BLE001 - the store only ever saves work: any failure here means a worker reads it
        return None
    finally:  # decided again here after a policy change: written in batches (the pool writes the rest as it closes)
        from apkscan.batch.store import BATCH, commit_writes

        commit_writes(at_least=BATCH)


def _loose(item: ScanInput, records: list[Any] | None) -> list[Any] | None:
    """A split APK in no set is said (review 90 F2): here, where the worker makes the app's line too."""
    if records and item.bundle is None:
        from apkscan.open_sets import loose

        loose(records)
    return records


def _close_bundle(apps: list[AppResult], key: str | None, settings: ScanSettings) -> list[Any]:
    from apkscan.splits import assemble

    merged, skipped = assemble(apps, key or "", settings.policies, settings.rules)
    return [*merged, *skipped]


def _add(result: ScanResult, records: list[Any]) -> None:
    for r in records:
        if isinstance(r, (AppResult, StreamedApp)):
            result.apps.append(r)
        elif isinstance(r, InputError):
            result.errors.append(r)
        elif isinstance(r, Skipped):
            result.add_skipped(r)
        elif isinstance(r, InputFile):
            result.input_files.append(r)
        elif isinstance(r, _Custody):
            _fill_custody(result, r)
        elif type(r).__name__ == "KnownApp":  # only when no report is kept (the CLI's stream-only mode)
            if r.path is not None:
                _fill_custody(result, _Custody(r.path, r.sha256, "store"))
            result.apps.append(shared(r.verdict, r.verdicts))


@dataclass(slots=True)
class _Custody:
    """An APK given as itself (or met in a folder): the hash identify computed is its custody hash."""

    path: str
    sha256: str
    hashed: str = "this run"  # or "store": recognised by its stat key, not read again


def _fill_custody(result: ScanResult, c: _Custody) -> None:
    """Its InputFile was recorded just before (or before the other files of its split folder)."""
    for rec in reversed(result.input_files[-256:]):
        if rec.path == c.path:
            if rec.sha256 is None:
                rec.sha256, rec.hashed = c.sha256, c.hashed
            return


def _container(chain: tuple[str, ...]) -> str | None:
    return chain_display(chain[:-1]) if len(chain) > 1 else None
