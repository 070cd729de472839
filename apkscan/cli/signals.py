"""SIGTERM unwinds like Ctrl-C, so an interrupted scan still writes its reports.

Python turns SIGINT into ``KeyboardInterrupt``; SIGTERM (``kill``, a CI timeout, a
container stop) would end the process at once, leaving no report and the temporary
files sources spooled. Raising ``KeyboardInterrupt`` from the handler unwinds through
every ``finally`` (``ScanInput`` cleanup, temporary report files) and lets the scan
loop keep what finished.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` (main thread only)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread (e.g. embedded): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are ignored: reports of an interrupted run get written."""
    try:
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
