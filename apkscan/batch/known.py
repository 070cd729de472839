"""The warm fast lane: a top-level APK file the store has seen, unchanged, is answered with its
JSONL line before it is opened or classified.

Why: a warm rescan neither parses nor matches, yet each file still cost a classification
by its bytes (open, central directory, nested-member heads), three store lookups with
two unpicklings, and ``to_dict`` + ``json.dumps``. Here one indexed query and one ``stat``
replace all of it, and the line written is the very line a cold run wrote.

What a row may answer, and nothing else (table ``known_lines``, :mod:`apkscan.batch.store`):

- the key is the walked path exactly as the run names it (the line embeds it), the parser
  version and identify options, the rule set's and the policies' result keys, and
  :data:`FORMAT` (the code that writes a line): another path, option, rule pack, policy
  or version is a miss;
- the file's stat (real path, size, mtime, ctime, inode, device) must equal the one
  recorded; the file must not have been modified less than two seconds before the stat
  was taken (racy clean, against the time taken before the walker opened it)
  nor have a ``.idsig`` beside it (v4 depends on that file);
- rows are written only for a file the walker read as **one plain APK** (a ZIP whose
  members make it an APK, carrying no nested APK or container: ``on_plain``), whose
  stat at walk time equals the stat key the scan recorded with its SHA-256, and whose
  records were one app read to the end (no input error, no container flags).

Containers are never answered this way. ``--rehash``, ``--deep``, ``--quick`` and Dask
turn the lane off. The stat key's limit is documented in docs/batch.md (a file replaced with
the same size, mtime *and* ctime, inode and device is taken for the old one; ``--rehash``).
Lines (:class:`KnownApp`) answer only when no report needs the whole document (``--jsonl
-q``); a row's columns, line and key are bound by a seal, its line's shape checked unparsed
(:mod:`apkscan.batch.known_seal`). After a policy or rule change the row of another policy or
rule set is decided again here (:meth:`KnownFiles._redecided`: its line with a new decided part,
from the findings stored for this rule set, or after a rule change from the stored identity
matched again, or not even unpickled when its sealed match facts show no rule can match:
:mod:`apkscan.batch.store_facts`). Otherwise (a report, a damaged row, nothing stored for these
bytes) a row for the same path, parser, options and format whose stat still matches proves the
file is one plain APK: it is handed on as that input without being opened to be classified, and
the store answers its identity (and findings) as usual. Rows are written
by any run that writes JSONL.
"""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apkscan.apk.io.readonly import TakenOn, this_machine
from apkscan.batch import stat_read, store
from apkscan.batch.digest import code_digest
from apkscan.batch.known_seal import restored, seal_of, sealed_row, served_row, span_of, stored_of
from apkscan.batch.store_facts import Deferred, matches_nothing, stored_facts
from apkscan.sources.interface import InputFile, ScanInput

FLUSH = 256  # rows written per transaction


def format_key() -> str:
    """The code that turns a record into its JSONL line and that decides a file is one plain APK
    (the sources layer: a walker that finds more nested members must walk again); the apk layer
    is in the parser version, rules, policy, scan.py and evaluate.py in the result keys."""
    return code_digest("result.py", "issues.py", "batch/jsonl.py", "batch/known.py", "batch/known_seal.py",
                       "sources")


@dataclass(slots=True)
class KnownApp:
    """An app as its JSONL line and what the run's counts, exit code and custody need: answered
    from ``known_lines``, or encoded by the worker that scanned it (:func:`encoded`) when no
    report needs the app itself (one string crosses the pipe, not the identity's object graph)."""

    path: str | None  # a top-level file whose custody record this app's SHA-256 fills (None: no custody)
    sha256: str
    package: str | None
    verdict: str
    verdicts: tuple[tuple[str, str], ...]
    line: str
    chain: tuple[str, ...] = ()
    whole: bool = True  # read to the end (store.storable): its line may be kept by the fast lane
    verified: bool | None = None  # its signatures verified (None: not known, a line answered by the lane)
    span: tuple[int, int] | None = None  # where the line's decided part stands (jsonl.app_line_span)


def encoded(item: Any, records: list[Any]) -> list[Any]:
    """A worker's records with each app of a non-bundle input as its line (a split bundle's APKs
    stay apps: the parent assembles them)."""
    from apkscan.batch.jsonl import app_line_span
    from apkscan.result import AppResult

    if not isinstance(item, ScanInput) or item.bundle is not None:
        return records
    out = []
    for r in records:
        if isinstance(r, AppResult) and r.identity.file is not None:
            m = r.identity.manifest
            line, span = app_line_span(r)
            r = KnownApp(None, r.identity.file.sha256, m.package if m else None, r.verdict,
                         tuple((n, o.verdict) for n, o in r.verdicts.items()), line, tuple(r.chain),
                         store.storable(r.identity), r.identity.verified, span)
        out.append(r)
    return out


class KnownFiles:
    """The lane of one run: ``known`` and ``on_plain`` are the walker's hooks (``WalkOptions``),
    ``observe`` sees every decided item and writes the rows."""

    def __init__(self, path: str, answer: bool, lines: Callable[[], dict[int, tuple[str, Any]]],
                 jobs: int | None = 1):
        """``lines``: the app lines (and spans) the JSONL writer wrote for the last records (by ``id``).
        ``jobs``: the run's ``--jobs`` (None: the cores available); with two or more, after a rule
        change, stored identities are matched again ahead of the lane by another process
        (:mod:`apkscan.batch.rematch`)."""
        self.path, self.answer, self.lines, self.jobs = path, answer, lines, jobs
        self._helper: int | None = None  # the rematch helper's pid (0: none, asked once)
        self.key: tuple[str, ...] | None = None  # (parser, options, rules, policies, format) once bound
        self.policy_names: tuple[str, ...] = ()
        self.settings: Any = None  # the run's ScanSettings: rules and policies to decide with
        self._plain: dict[str, tuple[str | bytes, tuple[int, ...]]] = {}  # walked path -> (real path, stat)
        self._asked: tuple[str, int] = ("", 0)  # the last path ``known`` was asked, and the time before its stat
        self._rows: list[tuple[Any, ...]] = []
        self._nothing: tuple[Any, str] | None = None  # see _no_findings

    def bind(self, sdk: dict[str, Any], result_keys: tuple[str, str] | None,
             policy_names: tuple[str, ...] = (), settings: Any = None) -> None:
        """The run's keys (known when ``scan`` has its settings); without result keys: off.
        ``settings``: lets a line of another policy be decided again here (:meth:`_redecided`)."""
        self.policy_names, self.settings = policy_names, settings
        if result_keys is not None:
            self.key = (store.parser_version(), store.options_key(sdk), *result_keys, format_key())

    # ------------------------------------------------------------------ answering
    def known(self, path: str) -> list[Any] | None:
        """An unchanged plain APK: its custody record and stored app (its line, or after a policy
        or rule change its line of another policy or rule set decided again: :meth:`_redecided`),
        or, when no line fits this run (a report is written, nothing stored for its bytes, a
        damaged row), its custody record and the input unclassified; None: walk it."""
        if self.key is None:
            return None
        self._asked = (path, stat_read.now())  # before the walker's open and this stat: the racy rule's time
        conn = store.connection(self.path)
        if conn is None:
            return None
        columns = ("SELECT real, size, mtime_ns, ctime_ns, inode, dev, sha256, package, verdicts, line, rules, policies "
                   "FROM known_lines ")
        try:  # this run's row (one probe of the primary key), else the row of another rule set or policies
            chain = store.path_key(path)
            row = conn.execute(columns + "WHERE chain=? AND parser=? AND options=? AND rules=? AND policies=? AND fmt=?",
                               (chain, *self.key)).fetchone() if self.answer else None
            exact = row is not None
            row = row or conn.execute(columns + "WHERE chain=? AND parser=? AND options=? AND fmt=? LIMIT 1",
                                      (chain, *self.key[:2], self.key[4])).fetchone()
            if row is None:
                return None
            real, stat = _stat(path)
        except (OSError, sqlite3.Error, ValueError):  # ValueError: UnicodeError, a NUL: walked as usual
            return None
        if (real, *stat) != tuple(row[:6]) or store.racy(stat, self._asked[1]) or os.path.exists(path + ".idsig"):
            return None
        custody = InputFile(path, stat[0], "apk", None)
        app = None
        if exact:
            served = served_row(row, path, _key_of(path, self.key, row), self.policy_names)
            app = KnownApp(path, row[6], row[7], *served[:3], (path,), span=served[3]) if served else None
        elif self.answer:
            app = self._redecided(row, path, (real, stat))
        if app is None:  # no line for this run, or a damaged one: scanned (from the store), row written again
            self._plain[path] = (real, stat)
            size, mtime, ctime, inode, dev = stat  # the file the row matched: identify reads that one or none
            held = TakenOn(dev, inode, size, mtime, ctime, this_machine())
            return [custody, ScanInput(path, (path,), expect=held)]  # what the walker yields for a plain APK
        return [custody, app]

    def _redecided(self, row: Any, path: str, walked: tuple[Any, tuple[int, ...]]) -> KnownApp | None:
        """After a policy or rule change: the row's line (of another rule set or policies, sealed)
        with its decided part (verdicts, findings: :data:`jsonl.DECIDED`) made again under this
        run's rules and policies (:meth:`_decided`); everything else in a line is the file's and its
        identity's (the same path, parser, options and stat, so the same bytes read the same way),
        never serialised again (its text is the line's); the row is written here. None (the usual
        path: the store answers the input): no span, nothing stored for these bytes, or anything
        stored that fails when used."""
        from apkscan.batch.jsonl import decided_text

        old = sealed_row(row, path, _key_of(path, self.key, row))
        if old is None or self.settings is None or not span_of(old[4], old[2]):
            return None
        (start, end), sha = old[4], row[6]
        try:
            app = self._decided(path, sha)
            if app is not None and self._nothing is not None and app is self._nothing[0]:
                decided = self._nothing[1]  # the one decided part of apps without findings (_no_findings)
            else:
                decided = decided_text(app) if app is not None else None
        except Exception:  # noqa: BLE001 - a stored value that fails when used: the usual path reads it
            return None
        if decided is None:
            return None
        verdicts = tuple((n, o.verdict) for n, o in app.verdicts.items())
        same = decided == old[2][start:end] and (app.verdict, verdicts) == old[:2]
        line = old[2] if same else old[2][:start] + decided + old[2][end:]
        known = KnownApp(path, sha, row[7], app.verdict, verdicts, line, (path,), span=(start, start + len(decided)))
        self._row(path, walked, known, (row[8], row[9]) if same else None, old[3])
        return known

    def _decided(self, path: str, sha: str) -> Any:
        """The app of the bytes ``sha`` under this run's rules and policies, as the usual path makes
        it (:func:`apkscan.batch.results.through_store`), from the store alone: its decisions, or its
        findings for this rule set decided again, or (a rule change) its stored identity matched
        again. The identity is unpickled only when matching or an allow-list reads it (``Deferred``),
        or not even then when its stored facts show it matches nothing (``matches_nothing``); checked
        to be of these bytes and read to the end; a failure in using it raises (the caller's miss).
        None: nothing stored for these bytes and this run.

        Stored: the findings it matched (a rule change: what a policy change decides from next), not
        its decisions: the row :meth:`_row` writes answers this run's rules and policies for this file
        (the usual path, meeting these bytes elsewhere, decides them again: ~30 µs, once). Writing
        both cost ~80 µs a file (decisions keyed by SHA-256: a B-tree page written per file)."""
        from apkscan.batch import results
        from apkscan.policy.multi import decide_all
        from apkscan.result import AppResult
        from apkscan.rules import matcher

        s = self.settings
        hit = results.recall(self.path, sha, s.sdk_kwargs, *s.result_keys, self.policy_names)
        identity: Any = Deferred(lambda: store.stored_identity(self.path, sha, s.sdk_kwargs))
        matched = None
        app = AppResult(source=path, container=None, identity=None, chain=(path,))  # type: ignore[arg-type]
        if hit is None:  # another rule set: matched again here, as a worker would
            if self._helper is None and self.jobs != 1:  # the first such file: the rest matched ahead on the other core
                from apkscan.batch import rematch

                self._helper = rematch.start(self.path, s, self.key, self.jobs) or 0
            facts = stored_facts(self.path, sha, s.sdk_kwargs)
            if facts is not None and matches_nothing(facts, s.rules):
                app.findings = []  # what matching the identity gives: its facts prove it (rules.prefilter)
            else:  # its facts kept only when none could be read (else: the same facts written again)
                identity = store.stored_identity(self.path, sha, s.sdk_kwargs, keep_facts=facts is None)
                if identity is None:
                    return None
                app.findings = matcher.match_identity(identity, s.rules, facts=facts)
            matched = pickle.dumps(app.findings, protocol=pickle.HIGHEST_PROTOCOL)  # before deciding sets verdicts
        elif hit.outcomes is not None:
            app.findings = hit.findings
            app.set_outcomes(hit.outcomes)
            return app
        else:
            app.findings = hit.findings
        if not app.findings and not any(p.allow for p in s.policies):
            return self._no_findings(sha, matched)
        app.set_outcomes(decide_all(identity, app.findings, s.policies, s.rules))
        results.remember_matched(self.path, sha, s.sdk_kwargs, s.result_keys[0], matched)
        return app

    def _no_findings(self, sha: str, matched: bytes | None) -> Any:
        """The decided part of every app without findings when no policy has an allow-list: deciding
        then reads nothing of the identity (:func:`apkscan.policy.decide.decide`), so it is the same
        for each; decided and written as text once per run (:attr:`_nothing`); what it matched
        stored as :meth:`_decided` stores it."""
        from apkscan.batch import results
        from apkscan.batch.jsonl import decided_text
        from apkscan.policy.multi import decide_all
        from apkscan.result import AppResult

        s = self.settings
        if self._nothing is None:
            app = AppResult(source="", container=None, identity=None, chain=())  # type: ignore[arg-type]
            app.findings = []
            app.set_outcomes(decide_all(None, [], s.policies, s.rules))  # type: ignore[arg-type]  # None: never read
            self._nothing = (app, decided_text(app))
        results.remember_matched(self.path, sha, s.sdk_kwargs, s.result_keys[0], matched)
        return self._nothing[0]

    # ------------------------------------------------------------------ learning
    def on_plain(self, path: str, classified: os.stat_result) -> None:
        """The walker read ``path`` (a top-level file) as one APK with nothing nested in it;
        ``classified``: the stat of the descriptor it read, after reading (the walker calls this only
        when the file whose head it classified is that same file). Remembered only when the
        path still names that very file (a file renamed over it during the walk was never
        classified) and that stat was not racy at the time taken before the walker opened it
        (``known``: a later write in the same tick would leave it as it was; review 56 F2)."""
        if self.key is None or self._asked[0] != path:
            return
        try:
            real, stat = _stat(path)
        except (OSError, ValueError):
            return
        if stat == store.stat_of(classified) and not store.racy(stat, self._asked[1]):
            self._plain[path] = (real, stat)

    def observe(self, item: Any, records: list[Any]) -> None:
        """Remember the line of a plain top-level APK whose records are one whole app."""
        lines = self.lines()
        if not isinstance(item, ScanInput) or item.chain != (item.path,):
            return
        walked = self._plain.pop(item.path, None)
        if walked is None or item.offset or item.length is not None or item.cleanup or item.bundle or item.flags:
            return
        from apkscan.result import AppResult, InputError

        apps = [r for r in records if isinstance(r, (AppResult, KnownApp))]
        if len(apps) != 1 or any(isinstance(r, InputError) for r in records):
            return
        app = apps[0] if isinstance(apps[0], KnownApp) else _as_known(apps[0], lines)
        if app is None or not app.whole or not self._recorded(walked, app.sha256):  # racy: tested when walked
            return
        self._row(item.path, walked, app)

    def _row(self, path: str, walked: tuple[Any, tuple[int, ...]], app: KnownApp,
             same: tuple[str, bytes] | None = None, kept: bytes | None = None) -> None:
        """The row answering ``path`` with ``app``'s line in runs with this run's keys, sealed to them.
        ``same``: the sealed columns (verdicts and seal, the stored line) of a row read for this path
        whose line, verdicts and span are ``app``'s (a rule or policy change that changed nothing of
        it: the line is not stored again, only sealed to this key, ~10 µs). ``kept``: that row's
        deflated rest, the rest of ``app``'s line (its decided part made again): only the new part is
        put after it."""
        chain = store.path_key(path)
        if same is not None:
            stored = same[1]
        elif kept is not None and app.span is not None:
            stored = restored(kept, app.line[app.span[0]:app.span[1]])
        else:
            stored = stored_of(app.line, app.span)
        pairs, span = [list(p) for p in app.verdicts], list(app.span) if app.span else None
        seal = seal_of((chain, *self.key, walked[0], *walked[1]), app.sha256, app.package, app.verdict, pairs, span, stored)
        verdicts = json.dumps([app.verdict, pairs, span, seal])
        self._rows.append((chain, *self.key, walked[0], *walked[1], app.sha256, app.package,
                           verdicts, stored))
        if len(self._rows) >= FLUSH:
            self.flush()

    def _recorded(self, walked: tuple[str | bytes, tuple[int, ...]], sha: str) -> bool:
        """The scan's stat key says these bytes, at this very stat, have this SHA-256."""
        conn = store.connection(self.path)
        if conn is None:
            return False
        try:
            row = conn.execute("SELECT size, mtime_ns, ctime_ns, inode, dev, sha256 FROM stat_keys WHERE path=? "
                               "AND off=0 AND len=-1", (walked[0],)).fetchone()
        except (sqlite3.Error, ValueError):
            return False
        return row is not None and tuple(row) == (*walked[1], sha)

    def close(self) -> None:
        """The run is over: the rematch helper stopped, the rows written."""
        self.stop_helper()
        self.flush()

    def stop_helper(self) -> None:
        if self._helper:
            from apkscan.batch import rematch

            pid, self._helper = self._helper, 0
            rematch.stop(pid)

    def flush(self) -> None:
        """The rows, and what the store buffered meanwhile (findings matched again by :meth:`_decided`),
        in one transaction."""
        rows, self._rows = self._rows, []
        conn = store.connection(self.path) if rows else None
        if conn is None:  # a cache: a write that fails costs a walk next time
            store.commit_writes()
            return
        for r in rows:
            store.buffered_write(conn, "INSERT OR REPLACE INTO known_lines VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", r)
        store.commit_writes()


def _as_known(app: Any, lines: dict[int, tuple[str, Any]]) -> KnownApp | None:
    """An app the JSONL writer just wrote, with that line and span (None: it wrote none)."""
    written = lines.get(id(app))
    if written is None or app.identity.file is None:
        return None
    m = app.identity.manifest
    return KnownApp(None, app.identity.file.sha256, m.package if m else None, app.verdict,
                    tuple((n, o.verdict) for n, o in app.verdicts.items()), written[0], tuple(app.chain),
                    store.storable(app.identity), app.identity.verified, written[1])


def _key_of(path: str, key: tuple[str, ...], row: Any) -> tuple[Any, ...]:
    """What a row's seal covers besides its answer: its whole key (the path, parser, options and
    format asked, the rules and policies it holds: this run's, or another's after a change) and the
    file it answers for (real path, size, times, inode, device: the columns the lane compares with
    the file; one SQL UPDATE of them made a clean APK's row answer for a banned APK written at its
    path, review 90)."""
    return (store.path_key(path), key[0], key[1], row[10], row[11], key[4], *row[:6])


def _stat(path: str) -> tuple[str | bytes, tuple[int, int, int, int, int]]:
    """The real path as the store keys it (:func:`store.path_key`) and the stat."""
    return store.located(path)
