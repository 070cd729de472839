"""``scan --jsonl FILE``: one JSON line per decided app or error, written as it is decided.

A crash or a kill loses at most what was in flight: each line is flushed when written.
The first line describes the run (``"type": "run"``), then one ``"app"`` or ``"error"``
line per record (the same objects as the JSON report's ``apps``/``errors``), and a last
``"end"`` line with the counts and ``interrupted`` when the run ended in order. A file
without an ``end`` line is the record of a run that did not finish.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from apkscan.result import AppResult, InputError, ScanResult


class JsonlWriter:
    """Opened before the scan; ``records`` is the ``on_records`` callback of :func:`apkscan.scan.scan`."""

    def __init__(self, path: str, run: dict[str, Any]):
        self.path = path
        self._fh: TextIO = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in finish()
        self._line({"type": "run", **run})

    def _line(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._fh.flush()

    def records(self, records: list[Any]) -> None:
        for r in records:
            if isinstance(r, AppResult):
                self._line({"type": "app", **r.to_dict()})
            elif isinstance(r, InputError):
                self._line({"type": "error", **r.to_dict()})

    def finish(self, result: ScanResult) -> None:
        self._line({"type": "end", "interrupted": result.interrupted, "counts": result.counts(),
                    "finished_at": result.finished_at})
        self._fh.close()
