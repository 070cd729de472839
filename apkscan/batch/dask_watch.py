"""The Dask client's watchdog: a cluster left without workers ends the wait, not the run.

Why: the client waits for each task's result; with no ``--timeout`` that wait had no end. A
cluster can be left with no worker at all: a worker that dies while its nanny is still starting
it is not started again (review 91 F7: ``local:1``, a crashing input), a remote cluster's workers
can all be gone, or none ever joined its scheduler. The tasks then wait in the scheduler for ever.
So the client waits in slices and asks the scheduler, between them, how many workers it has;
after :data:`NO_WORKER_WAIT` seconds with none (or with no answer; :data:`NEVER_JOINED_WAIT` while
no worker has joined it yet this run: a remote cluster's workers may still wait in a batch queue,
dask-jobqueue, or an adaptive cluster scale up from zero), every input still awaited,
and every later one meant for a worker, is a ``BATCH_NO_WORKERS`` error, and the run ends with
its reports, recorded in the store as unfinished so ``--resume`` continues it.
"""

from __future__ import annotations

import time
from typing import Any

NO_WORKER_WAIT = 60.0  # seconds the cluster may have no worker while a result is awaited
NEVER_JOINED_WAIT = 600.0  # the same while no worker has been seen this run (workers still starting)
SLICE = 2.0  # the scheduler is asked at most this often while the client waits
ASK_TIMEOUT = 10.0  # a scheduler that does not answer this soon counts as having no worker


class NoWorkers(Exception):
    pass


def no_workers_message(joined: bool = True) -> str:
    why = (f"the Dask cluster had no worker for {NO_WORKER_WAIT:g} s while inputs waited (its workers died "
           "and were not started again)" if joined else
           f"no worker joined the Dask scheduler in {NEVER_JOINED_WAIT:g} s while inputs waited")
    return f"{why}: not scanned; scan it again (--resume continues this run from the store)"


class WorkerWatch:
    """Waits for one future at a time; ``starved`` once the cluster was without workers too long."""

    def __init__(self, client: Any):
        self.client = client
        self.since: float | None = None  # since when the scheduler has reported no worker
        self.starved = False  # set for the rest of the run: no task is sent any more
        self.joined = self._workers() > 0  # a worker seen this run (a LocalCluster's are up before this)

    def result(self, fut: Any, wait: float | None) -> Any:
        """``fut.result()``, waiting at most ``wait`` seconds (None: no bound of its own; TimeoutError
        past it); :class:`NoWorkers` when the cluster has had no worker for ``NO_WORKER_WAIT``."""
        end = None if wait is None else time.monotonic() + wait
        while True:
            if self.starved and not fut.done():
                raise NoWorkers
            left = None if end is None else end - time.monotonic()
            step = SLICE if left is None else max(0.0, min(SLICE, left))
            try:
                out = fut.result(timeout=step)
            except TimeoutError:
                if fut.done():  # the task's own TimeoutError
                    raise
                if left is not None and left <= step:
                    raise
                self._check()
                continue
            self.since = None  # a result came: a worker ran it (or one was there to)
            return out

    def _check(self) -> None:
        now = time.monotonic()
        if self._workers():
            self.since, self.joined = None, True
        elif self.since is None:
            self.since = now
        elif now - self.since >= (NO_WORKER_WAIT if self.joined else NEVER_JOINED_WAIT):
            self.starved = True

    def _workers(self) -> int:
        try:
            return len(self.client.nthreads(callback_timeout=ASK_TIMEOUT))
        except Exception:  # noqa: BLE001 - a scheduler that does not answer runs no task either
            return 0
