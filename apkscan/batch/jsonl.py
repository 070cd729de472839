"""``scan --jsonl FILE``: one JSON line per decided app or error, written as it is decided.

A crash or a kill loses at most what was in flight: each line is flushed when written.
The first line describes the run (``"type": "run"``), then one ``"app"`` or ``"error"``
line per record (the same objects as the JSON report's ``apps``/``errors``), and a last
``"end"`` line with the counts and ``interrupted`` when the run ended in order. A file
without an ``end`` line is the record of a run that did not finish.

Custody goes in the stream too (review 49 F3: a ``--jsonl -q`` run without a report kept no
hash and no list of what it skipped): an ``"input_file"`` line per outermost file read (the
JSON report's ``input_files`` object), written once its SHA-256 is known (an APK's comes from
its own scan, so its line follows the app's; one never hashed is written with ``null`` by the
end), and a ``"skipped"`` line for files looked at and not scanned, per place and reason as the
report's ``skipped`` but per run of such files met one after another (a folder of 30,000 text
files is one line; a place whose skipped files lie between apps has a line per run: sum
``count`` per place and reason for the report's figures).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from apkscan.batch.known import KnownApp
from apkscan.report.escape import visible_surrogates
from apkscan.result import AppResult, InputError, ScanResult
from apkscan.sources.interface import InputFile, Skipped, chain_display
from apkscan.sources.names import name_text

_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(obj, ensure_ascii=False), one encoder for the run
PENDING_CUSTODY = 256  # APKs' input_file lines held for their hash (the report keeps as many)


def app_line(app: AppResult) -> str:
    """An app's JSONL line (without the newline): what the fast lane stores and replays."""
    return json.dumps({"type": "app", **app.to_dict()}, ensure_ascii=False)


DECIDED = ("verdict", "verdict_worst", "policy", "verdicts", "findings")  # the keys of a line that rules and policies decide


def decided_text(app: Any) -> str:
    """The part of an app's line that rules and policies decide: its ``DECIDED`` members as the
    line writes them (``"verdict": ..., "findings": [...]``), made without the identity."""
    from apkscan.policy.multi import verdict_entry

    return json.dumps({"verdict": app.verdict, "verdict_worst": app.verdict_worst, "policy": app.policy,
                       "verdicts": {name: verdict_entry(o, name) for name, o in app.verdicts.items()},
                       "findings": [x.to_dict() for x in app.findings]}, ensure_ascii=False)[1:-1]


def app_line_span(app: AppResult) -> tuple[str, tuple[int, int] | None]:
    """An app's line and where its :func:`decided_text` stands in it (None: not where this code
    expects it). Checked against the line itself, so a line put together again from its other
    parts and another decided text (:mod:`apkscan.batch.known`, after a policy change) is the
    line this code would write, or is never put together."""
    d = {"type": "app", **app.to_dict()}
    line = json.dumps(d, ensure_ascii=False)
    keys = list(d)
    at = keys.index("verdict") if "verdict" in keys else -1
    if at < 1 or tuple(keys[at:at + len(DECIDED)]) != DECIDED:
        return line, None
    head = json.dumps({k: d[k] for k in keys[:at]}, ensure_ascii=False)[:-1] + ", "
    start = len(head)
    end = start + len(decided := decided_text(app))
    ok = line.startswith(head) and line[start:end] == decided and line[end:end + 2] == ", "
    return line, (start, end) if ok else None


def _create(path: str) -> TextIO:
    """A new file put in place of ``path`` before the first line: created exclusively (``mkstemp``,
    ``O_EXCL``) and renamed over the old name, so an existing file is never opened for writing
    (a hard link to evidence keeps its bytes under its other name). Mode as a report's."""
    import tempfile

    from apkscan.folders import resolved
    from apkscan.report.formats import report_mode

    fd, tmp = tempfile.mkstemp(prefix=".apkscan-", suffix=".jsonl.tmp", dir=os.path.dirname(resolved(path)))
    try:
        os.chmod(tmp, report_mode(path))
        os.replace(tmp, path)  # now, not at the end: a crash must leave the lines written so far at path
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return os.fdopen(fd, "w", encoding="utf-8")


class JsonlWriter:
    """Opened before the scan; ``records`` is the ``on_records`` callback of :func:`apkscan.scan.scan`."""

    def __init__(self, path: str, run: dict[str, Any]):
        """``path`` ``-``: stdout (then the terminal summary goes to stderr, as for a report on ``-``)."""
        self.path = path
        self.last: dict[int, tuple[str, tuple[int, int] | None]] = {}  # id -> line, span (app_line_span)
        self._unhashed: dict[str, InputFile] = {}  # path -> an APK's custody record, until its scan hashes it
        self._skipped: Skipped | None = None  # the run of skipped files being counted (one line when it ends)
        self.failure: str | None = None  # why writing stopped (a full disk): the scan and its reports go on
        self._fh: TextIO = sys.stdout if path == "-" else _create(path)
        self._line({"type": "run", **run})

    def _line(self, obj: dict[str, Any]) -> None:
        if self._skipped is not None and obj.get("type") != "skipped":
            self._end_skipped()
        self._write(_ENCODE(obj))

    def _write(self, line: str) -> None:
        if self.failure is not None:
            return
        try:
            self._fh.write(visible_surrogates(line, in_json=True) + "\n")  # a non-UTF-8 file name: \xff
            self._fh.flush()
        except BrokenPipeError:  # `--jsonl - | head`: the reader has what it wanted; the scan goes on
            if self._fh is not sys.stdout:
                self.failure = "the reader of the stream went away"
                return
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError as exc:  # a full disk, an I/O error: the stream stops, the run and its reports go on (exit 4)
            self.failure = f"writing failed: {exc.strerror or exc}"

    def records(self, records: list[Any]) -> None:
        """``last``: each app's line (and span) of this call by ``id``, for the store's fast lane to keep."""
        self.last = {}
        for r in records:
            if isinstance(r, AppResult):
                self.last[id(r)] = line_span = app_line_span(r)
                self._end_skipped()
                self._write(line_span[0])
            elif isinstance(r, InputError):
                self._line({"type": "error", **r.to_dict()})
            elif isinstance(r, KnownApp):  # the line a run with these keys wrote for this unchanged file
                self._hashed(r.path, r.sha256, "store")  # before the app line, as a scan's custody comes first
                self._end_skipped()
                self._write(r.line)
            else:
                self._custody(r)

    def _custody(self, r: Any) -> None:
        if isinstance(r, InputFile):
            if r.sha256 is not None:
                self._input_file(r, r.sha256, r.hashed)
                return
            self._unhashed[r.path] = r
            if len(self._unhashed) > PENDING_CUSTODY:  # never hashed (an unreadable APK): said now
                oldest = next(iter(self._unhashed))
                self._input_file(self._unhashed.pop(oldest), None)
        elif isinstance(r, Skipped):
            held = self._skipped
            if held is not None and (held.where, held.reason) == (r.where, r.reason):
                held.count += r.count
                held.examples.extend(r.examples[:max(0, 5 - len(held.examples))])
                return
            self._end_skipped()
            self._skipped = Skipped(r.where, r.reason, r.count, list(r.examples[:5]))
        elif type(r).__name__ == "_Custody":  # apkscan.scan: the hash an APK's scan computed
            self._hashed(r.path, r.sha256, r.hashed)

    def _end_skipped(self) -> None:
        r, self._skipped = self._skipped, None
        if r is not None:
            self._line({"type": "skipped", "where": [name_text(w) for w in r.where],
                        "where_display": name_text(chain_display(r.where)), "reason": r.reason, "count": r.count,
                        "examples": [name_text(e) for e in r.examples]})

    def _hashed(self, path: str | None, sha256: str, hashed: str | None) -> None:
        record = self._unhashed.pop(path, None) if path is not None else None
        if record is not None:
            self._input_file(record, sha256, hashed)

    def _input_file(self, f: InputFile, sha256: str | None, hashed: str | None = None) -> None:
        self._line({"type": "input_file", "path": name_text(f.path), "size": f.size, "kind": f.kind, "sha256": sha256,
                    **({"hashed": hashed} if hashed and sha256 else {})})

    def finish(self, result: ScanResult) -> None:
        self._end_skipped()
        for record in self._unhashed.values():
            self._input_file(record, None)
        self._unhashed.clear()
        self._line({"type": "end", "interrupted": result.interrupted, "counts": result.counts(),
                    "counts_by_policy": result.counts_by_policy(), "finished_at": result.finished_at})
        if self._fh is not sys.stdout:
            try:
                self._fh.close()
            except OSError as exc:  # the last buffered bytes could not be written
                self.failure = self.failure or f"writing failed: {exc.strerror or exc}"
