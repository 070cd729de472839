"""A pool worker: the process that scans inputs for :class:`apkscan.batch.pool.Pool`, and the
parent's handle on it.

Why apart from the pool: what runs in the child (:func:`_worker_main`: a pipe loop that never
raises for one input, ignores Ctrl-C so the parent unwinds, ends with the parent) and what
the parent imports before the first fork (:func:`preload`, so children share those pages)
are the worker's contract; the pool (``pool.py``) only schedules tasks onto :class:`Worker`
handles and decides what a death or a timeout costs.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from apkscan.apk.io.readonly import drop_inherited
from apkscan.batch.lifeline import limit_memory, parent_end, tie_to_parent
from apkscan.issues import error
from apkscan.result import InputError
from apkscan.scan import ScanSettings, scan_item
from apkscan.sources.interface import ScanInput

_unit = scan_item  # what a worker runs per input (tests replace it before the pool starts)


def _worker_main(conn: Any, settings: ScanSettings, memory_limit: int | None = None, parent: int = 0,
                 cache_writable: bool = True) -> None:
    """Receive ``(seq, item)``, send ``(seq, records)``; the parent alone decides when to stop.

    ``cache_writable``: the parent's word on the rule cache (none written into evidence: ``scan ~``);
    a forked child inherits it, a spawned one (not Linux) starts afresh and must be told (review 90)."""
    tie_to_parent(parent)  # ends with the parent, even one killed with SIGKILL
    limit_memory(memory_limit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent unwinds
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    faulthandler.disable()  # a crash costs this input an error record, not a traceback on the user's terminal
    drop_inherited()  # the parent's leased evidence descriptors, copied by the fork
    if not cache_writable:
        from apkscan.rules import cache

        cache.read_only()
    from apkscan.batch.known import encoded  # lines for the fast lane (its store module: not in a --no-store parent)

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        seq, item = msg
        try:
            records = _unit(item, settings)
            conn.send((seq, encoded(item, records) if settings.encoded else records))
        except Exception as exc:  # scan_item never raises for input; this is a bug or an unpicklable record
            conn.send((seq, [failed(item, "INTERNAL_ERROR", f"worker: {type(exc).__name__}: {exc}")]))


def failed(item: ScanInput, code: str, message: str) -> InputError:
    return InputError(item.display, item.container, [error(code, message)], tuple(item.chain))


@dataclass(slots=True)
class Task:
    """One input handed to a worker, as the source gave it and as the worker reads it."""

    seq: int
    item: ScanInput  # as the source gave it (reported)
    sent: ScanInput  # what the worker reads (maybe our own copy)
    lease: str | None  # a file to delete once the result is back


class Worker:
    """One process and the tasks sent to it, oldest first: the head is the one it is scanning."""

    def __init__(self, ctx: Any, settings: ScanSettings, memory_limit: int | None = None):
        store = sys.modules.get("apkscan.batch.store")
        if store is not None:  # the parent's lookups (stored_records) opened one: never across a fork
            store.close_connections()
        self.conn, child = ctx.Pipe()
        parent_end(self.conn)
        self.proc = ctx.Process(target=_worker_main, args=(child, settings, memory_limit, os.getpid(), _cache_writable()),
                                daemon=True)
        try:
            self.proc.start()
        except OSError:  # no process (EAGAIN, ENOMEM): the pool goes on without it; no pipe left open
            self.conn.close()
            raise
        finally:
            child.close()
        self.tasks: deque[Task] = deque()
        self.started = 0.0  # when the head task started (its --timeout runs from here)

    @property
    def task(self) -> Task | None:
        return self.tasks[0] if self.tasks else None

    def send(self, task: Task) -> bool:
        """True when the task is at the head now (the worker starts it at once)."""
        self.conn.send((task.seq, task.sent))
        self.tasks.append(task)
        if len(self.tasks) == 1:
            self.started = time.monotonic()
            return True
        return False

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


_DEFERRED: tuple[str, ...] = ()  # certificates no longer import cryptography.x509/asn1crypto (apk/crypto/x509_fast)


def _cache_writable() -> bool:
    """Whether this process may write the rule cache (:func:`apkscan.rules.cache.read_only` not called)."""
    cache = sys.modules.get("apkscan.rules.cache")
    return cache is None or cache._writable


def preload() -> None:
    """Import what every worker runs before forking the first one: forked children share these
    modules instead of each importing (and compiling) them again."""
    import importlib

    import apkscan.apk.identify  # noqa: F401
    import apkscan.batch.known  # noqa: F401 - the workers' line encoder
    import apkscan.rules.matcher  # noqa: F401
    import apkscan.splits  # noqa: F401

    for name in _DEFERRED:  # what the apk layer imports on its first certificate (~20 ms a worker)
        try:
            importlib.import_module(name)
        except ImportError:
            pass

    gc.collect()
    gc.freeze()  # what exists now is never traversed by a child's collector: its pages stay shared
