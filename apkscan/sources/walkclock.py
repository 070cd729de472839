"""A time budget for walking one outermost input, whatever its bytes make the walk do.

The byte bounds (inflation, temporary space, depth, the nested look's head budget) do not
bound everything a container can make the walk repeat: one stored ZIP named 20,000 times, or
20,000 names over one large central directory, cost a full parse per name, and the walk runs
in the run's parent, where ``--timeout`` does not reach. So each outermost input (a file given
or met in a folder, or one backup folder) gets a budget of walking time: ``--walk-timeout``
seconds plus one second per :data:`BYTES_PER_SECOND` of its size on disk (bytes someone had to
supply: a sparse file's holes and a hard link's second name earn nothing).
Only time inside the walk counts: not the time its consumer spends scanning what it yielded,
nor a password prompt. Decompressing counts like any other work, and what it yields earns no
time: 148 bytes of bzip2 inflate to 63 MiB of zeros in 0.1 s and would have bought 8 s of
slower work (review 10), and not counting it would have let 20 MB of empty gzip members (decoded
at ~7 MB/s, yielding nothing) run free. The honest slow case, a big ``.tar.bz2``, walks at
~4.6 MB of input a second: well inside one second per MiB.

Past the budget, :func:`check` raises :class:`WalkTimeout` at the next checkpoint. It is a
``BaseException``: readers turn their ``ApkScanError``\\ s into one member's problem, or read
"cannot open" as "not a ZIP", and must not do either with it. Only :meth:`WalkClock.run` catches
it and ends that input with a ``CONTAINER_WALK_TIMEOUT`` error; what it found before is kept,
including what a reader parsed but had not yielded yet: the walker hands on a reader's
``unfinished()`` (an adb backup's ``_manifest`` records, an AndroidQF acquisition's
``packages.json`` records) as the timeout passes (review 54 F8).
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager

from apkscan.issues import error
from apkscan.sources.interface import InputProblem

DEFAULT_WALK_TIMEOUT = 120.0
BYTES_PER_SECOND = 1 << 20  # a legitimate walk reads far faster: the slack for big inputs, bzip2, slow disks
WALK_TIMEOUT = "CONTAINER_WALK_TIMEOUT"

_active: WalkClock | None = None  # the clock of the walk running now (one walk at a time per process)


class WalkTimeout(BaseException):
    """The walk of one outermost input ran past its budget (see the module's docstring)."""


class WalkClock:
    def __init__(self, base: float):
        self.base = base
        self.limit = base
        self.spent = 0.0
        self._since: float | None = None
        self._files: set[tuple[int, int]] = set()

    def allow(self, st: os.stat_result) -> None:
        """One more file to walk (the input, or a file of a backup folder): its share of time, by
        the bytes it holds on disk (a sparse file's hole was supplied by nobody), once per file
        (a thousand hard links to one file are one file; review 11)."""
        if (st.st_dev, st.st_ino) in self._files:
            return
        self._files.add((st.st_dev, st.st_ino))
        blocks = getattr(st, "st_blocks", None)
        self.limit += (st.st_size if blocks is None else min(st.st_size, blocks * 512)) / BYTES_PER_SECOND

    def run(self, items: Generator, chain: tuple[str, ...]) -> Iterator:
        """``items`` (one input's walk), timed only while it runs; ended by its budget."""
        global _active
        ended = False
        try:
            while not ended:
                outer, _active, self._since = _active, self, time.monotonic()
                try:
                    item = next(items)
                except StopIteration:
                    return
                except WalkTimeout:  # the walk's generators are closed by now; this problem ends it
                    ended, item = True, InputProblem(chain, [error(WALK_TIMEOUT, self.message())])
                finally:
                    self._stop()
                    _active = outer
                yield item
        finally:
            items.close()

    def message(self) -> str:
        return (f"walking this input took more than {self.limit:.0f} s (--walk-timeout {self.base:g} s, plus 1 s "
                "per MiB of it): what it held after that point was not read; what was found before it is scanned")

    def check(self) -> None:
        if self._since is not None and self.spent + time.monotonic() - self._since > self.limit:
            raise WalkTimeout

    def _stop(self) -> None:
        if self._since is not None:
            self.spent += time.monotonic() - self._since
            self._since = None


def allow(st: os.stat_result) -> None:
    """The running walk met one more file of a backup folder (``st``: its stat): its share."""
    if _active is not None:
        _active.allow(st)


def check() -> None:
    """A checkpoint: raise :class:`WalkTimeout` when the running walk is past its budget."""
    if _active is not None:
        _active.check()


@contextmanager
def paused() -> Iterator[None]:
    """Time not charged to the walk: a password typed at the terminal. No checkpoint fires inside."""
    clock = _active
    if clock is None or clock._since is None:
        yield
        return
    clock._stop()
    try:
        yield
    finally:
        clock._since = time.monotonic()
