"""``scan --jobs N``: the same units of work on N worker processes, results in input order.

Why a hand-made pool and not ``concurrent.futures``: one input that hangs in C code or
kills its process (segfault, out of memory) must cost that input only. Here each worker
has its own pipe and one task at a time, so the parent knows which input a dead or
overdue worker held: that input becomes an error (``BATCH_WORKER_DIED``,
``BATCH_TIMEOUT``), the worker is killed and replaced, and the batch goes on.

Streaming and bounds: the source is read lazily while workers scan; at most
``WINDOW * jobs`` (16 per job) inputs are in flight or waiting for their turn in the output
order, so the parent's memory does not grow with the batch (one slow input does not stall
the other workers either). Each worker is sent ``DEPTH`` (3) inputs ahead so it never
idles waiting for a busy parent; only the one it is scanning is charged
when it dies or overruns ``--timeout``, the others are sent to its replacement. Results are yielded in the order the source
gave the items (a reorder buffer), so reports are the same whatever ``--jobs`` is.

Lifetimes (see ``ScanInput``): a window into a *spooled* container is only valid until
the source advances, so before dispatch the parent copies such a window into its own
temporary file (``cleanup=True``); a spooled file the source handed over
(``cleanup=True``) is moved into the pool's own folder (the walker removes its folder
when it ends, possibly before a worker has read the file). Both are deleted when their result
is back, or by the parent when the worker died, timed out or the run was interrupted.
Windows into the user's own files are read in place by the workers.

A worker's side (its main loop, the parent's handle on its process, what is imported before
the first fork) is :mod:`apkscan.batch.worker`; this module is the parent's: reading ahead,
copies, dispatch, deaths and timeouts, output order.

Scheduling: from the first worker on, the parent and its workers run as batch processes
(``lifeline.batch_policy``, Linux): the parent's wake-up for each result no longer preempts a
worker on the same cores; it is given back its policy when the pool closes.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from apkscan.batch.lifeline import batch_policy
from apkscan.batch.worker import Task, Worker, failed, preload
from apkscan.issues import ApkScanError
from apkscan.scan import ScanSettings, scan_item, stored_records
from apkscan.sources.interface import ScanInput
from apkscan.sources.streams import WindowStream
from apkscan.sources.tempspace import TempSpace, is_temporary, release

def default_jobs() -> int:
    """The cores this process may use (cgroup/affinity aware where the OS says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


DEPTH = 3  # tasks sent ahead to a worker, so it never waits for the parent between inputs
WINDOW = 16  # inputs per job read ahead of the oldest not yet emitted (the reorder window)
TAIL, TAIL_BYTES = 4, 4 << 20  # a run left with this little to scan (a warm run's misses) starts no worker


class Pool:
    """A runner for :func:`apkscan.scan.scan`: ``Pool(jobs, timeout)(items, settings)``."""

    def __init__(self, jobs: int | None = None, timeout: float | None = None, *,
                 tmp_dir: str | None = None, tmp_limit: int = 4 << 30, on_dispatch: Any = None,
                 memory_limit: int | None = None):
        self.jobs = jobs or default_jobs()
        self.timeout = timeout
        self.memory_limit = memory_limit  # each worker's address space (--worker-memory); None: no cap
        self.temp = TempSpace(tmp_dir, tmp_limit)
        self.on_dispatch = on_dispatch  # called with (pid, item) as a worker takes an input
        self._ctx: Any = None

    @property
    def ctx(self) -> Any:
        """The multiprocessing context, imported with the first worker: a run answered from the
        store or scanned here (one input) never imports multiprocessing."""
        if self._ctx is None:
            import multiprocessing

            methods = multiprocessing.get_all_start_methods()
            self._ctx = multiprocessing.get_context("fork" if "fork" in methods and sys.platform == "linux" else "spawn")
        return self._ctx

    def __call__(self, items: Iterable[Any], settings: ScanSettings) -> Iterator[tuple[Any, list[Any]]]:
        run = _Run(self, settings)
        try:
            yield from run.loop(iter(items))
        finally:
            run.close()


class _Run:
    """One source's items through the pool: fill, dispatch, wait, emit in order."""

    def __init__(self, pool: Pool, settings: ScanSettings):
        self.pool, self.settings = pool, settings
        self.workers: list[Worker] = []  # started as work arrives: one APK costs one worker, not N
        self.queue: deque[Task] = deque()
        self.done: dict[int, tuple[Any, list[Any]]] = {}
        self.seq = self.next_emit = 0
        self.limit = WINDOW * pool.jobs
        self.restore: Any = None  # puts the parent's scheduling policy back (lifeline.batch_policy)
        self._fork_error = ""  # why the last worker could not be started (_spawn)

    def loop(self, items: Iterator[Any]) -> Iterator[tuple[Any, list[Any]]]:
        exhausted = False
        while True:
            while not exhausted and self.seq - self.next_emit < self.limit and self._room():
                item = next(items, _END)
                if item is _END:
                    exhausted = True
                else:
                    self._take(item)
            if not self.workers and self._small_tail():  # read ahead as far as allowed, still only a few:
                while self.queue:  # scanned here (a warm run's misses); more, and workers start for good
                    task = self.queue.popleft()
                    try:
                        records = scan_item(task.sent, self.settings)
                    except Exception as exc:  # noqa: BLE001 - as in a worker: this input's error, the run goes on
                        records = [failed(task.sent, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")]
                    self._finish(task, records)
            self._dispatch()
            while self.next_emit in self.done:
                yield self.done.pop(self.next_emit)
                self.next_emit += 1
            busy = [w for w in self.workers if w.task is not None]
            if not busy:
                if exhausted and not self.queue and not self.done:
                    return
                continue
            self._wait(busy)

    def _small_tail(self) -> bool:
        """Before any worker exists, the queue (all the source gave as far as the window reads
        ahead) is one input, or at most ``TAIL`` inputs of under ``TAIL_BYTES`` together: forking
        a worker (and its imports) would cost more than scanning them here. Never with --timeout."""
        if self.pool.timeout is not None or not self.queue or len(self.queue) > TAIL:
            return False
        if len(self.queue) == 1:
            return True
        try:
            size = sum(t.sent.length if t.sent.length is not None else os.path.getsize(t.sent.path) - t.sent.offset
                       for t in self.queue)
        except OSError:
            return False
        return size < TAIL_BYTES

    def _room(self) -> bool:
        """Read ahead only while the pool's copies hold less than --tmp-limit (or nothing is in
        flight): one more member (itself at most --tmp-limit) may then arrive, so the pool holds
        under twice the limit, the walker at most the limit beside it."""
        nothing_in_flight = not self.queue and all(w.task is None for w in self.workers)
        return nothing_in_flight or self.pool.temp.used() < self.pool.temp.limit

    def _take(self, item: Any) -> None:
        """Number the item; APK bytes go to the queue, records are decided here at once."""
        seq, self.seq = self.seq, self.seq + 1
        if not isinstance(item, ScanInput):
            self.done[seq] = (item, scan_item(item, self.settings))
            return
        stored = stored_records(item, self.settings)  # known by stat key and matched before: no worker
        if stored is not None:
            self.done[seq] = (item, stored)
            return
        if not item.cleanup and is_temporary(item.path):  # a window the pool will copy for its worker
            try:
                need = _window_length(item)
            except OSError:
                need = 0  # _stabilise reports it
            self._make_room(need)  # outside the try below: a worker failing to start is no copy error
        try:
            sent, lease = self._stabilise(item)
        except (OSError, ApkScanError) as exc:
            code = getattr(exc, "code", "INPUT_UNREADABLE")
            self.done[seq] = (item, [failed(item, code, f"cannot copy for a worker: {exc}")])
            return
        self.queue.append(Task(seq, item, sent, lease))

    def _stabilise(self, item: ScanInput) -> tuple[ScanInput, str | None]:
        """An input whose bytes outlive the source's next step, and the file we must delete."""
        if item.cleanup:  # ours now; moved out of the walker's folder, which it removes when it ends
            moved = self.pool.temp.adopt(item.path)
            return ScanInput(moved, item.chain, item.offset, item.length, cleanup=True, bundle=item.bundle,
                             flags=list(item.flags), reading=item.reading), moved
        if not is_temporary(item.path):
            return item, None
        length = _window_length(item)
        stream = WindowStream(item.path, item.offset, length)
        try:
            copy = self.pool.temp.spool(stream, item.display)
        finally:
            stream.close()
        sent = ScanInput(copy, item.chain, cleanup=True, bundle=item.bundle, flags=list(item.flags), reading=item.reading)
        return sent, copy

    def _make_room(self, need: int) -> None:
        """Finish inputs in flight until ``need`` bytes of the pool's temporary space are free, or
        nothing is left to finish: a copy is refused only when it could never fit, not because
        other inputs still hold theirs (``--jobs 1`` copies nothing: the results would differ,
        review 14). The source has not moved on, so the window being copied is still there."""
        if need > self.pool.temp.limit:
            return  # can never fit: the copy fails at once
        while self.pool.temp.limit - self.pool.temp.used() < need:
            self._dispatch()
            busy = [w for w in self.workers if w.task is not None]
            if not busy:
                return
            self._wait(busy)

    def _dispatch(self) -> None:
        idle = sum(w.task is None for w in self.workers)
        if self.queue and not self.workers:
            preload()
            self.restore = self.restore or batch_policy()  # before the first fork: the workers inherit it
        while len(self.queue) > idle and len(self.workers) < self.pool.jobs:
            worker = self._spawn()
            if worker is None:  # no process now (EAGAIN, ENOMEM): the running workers go on alone
                if not self.workers:  # none at all: one input is charged per try, the run moves on
                    task = self.queue.popleft()
                    self._finish(task, [failed(task.item, "BATCH_WORKER_START_FAILED", f"{self._fork_error}; "
                                               "not scanned: scan it again")])
                break
            self.workers.append(worker)
            idle += 1
        sent = True
        while self.queue and sent:  # one task at a time to the least loaded worker: the tail stays balanced
            sent = False
            for i in sorted(range(len(self.workers)), key=lambda i: len(self.workers[i].tasks)):
                if not self.queue or len(self.workers[i].tasks) >= DEPTH:
                    continue
                task = self.queue.popleft()
                try:
                    head = self.workers[i].send(task)
                except OSError:  # the worker died before a wait saw it (OOM killer, a crash)
                    self.queue.appendleft(task)
                    if self.workers[i].tasks:  # scanning its head: charged as _died charges it, not sent again
                        self._died(i, self.workers[i])
                    else:  # idle: nothing of it at fault
                        self._requeue(i)
                    sent = True
                    break  # the workers' indices may have changed (_requeue)
                sent = True
                if head:
                    self._started(self.workers[i])

    def _started(self, w: Worker) -> None:
        if self.pool.on_dispatch and w.task is not None:
            self.pool.on_dispatch(w.proc.pid, w.task.item)

    def _requeue(self, i: int) -> None:
        """Replace worker ``i``; the tasks it held (none of them at fault) wait for their turn again.
        No process for its replacement (EAGAIN, ENOMEM: the OOM killer just took one): the pool
        goes on with one worker fewer, until a later start succeeds (review 91 F6: the OSError ended
        the run, no report)."""
        w = self.workers[i]
        w.kill()
        self.queue.extendleft(reversed(w.tasks))
        worker = self._spawn()
        if worker is None:
            del self.workers[i]
        else:
            self.workers[i] = worker

    def _spawn(self) -> Worker | None:
        """A new worker, or None when the system could not start its process (``_fork_error`` says why)."""
        try:
            return Worker(self.pool.ctx, self.settings, self.pool.memory_limit)
        except OSError as exc:
            self._fork_error = f"no worker process could be started ({exc.strerror or exc})"
            return None

    def _wait(self, busy: list[Worker]) -> None:
        timeout = None
        if self.pool.timeout is not None:
            now = time.monotonic()
            timeout = max(0.0, min(w.started + self.pool.timeout - now for w in busy))
        from multiprocessing.connection import wait  # imported with the first worker already

        ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout)
        for i, w in enumerate(self.workers):
            if w.task is None:
                continue
            if w.conn in ready:
                self._receive(i, w)
            elif w.proc.sentinel in ready:
                self._died(i, w)
            elif self.pool.timeout is not None and time.monotonic() - w.started >= self.pool.timeout:
                self._replace(i, "BATCH_TIMEOUT", f"not scanned within --timeout {self.pool.timeout:g} s; "
                              "its worker was stopped")

    def _receive(self, i: int, w: Worker) -> None:
        try:
            seq, records = w.conn.recv()
        except (EOFError, OSError):  # the pipe closed: the process is gone (or going)
            self._died(i, w)
            return
        except Exception as exc:  # noqa: BLE001 - a result the parent cannot rebuild (or hold): that input's error
            self._replace(i, "INTERNAL_ERROR", f"its result could not be read from the worker "
                          f"({type(exc).__name__}: {exc}); the worker was replaced")
            return
        task = w.tasks.popleft()
        w.started = time.monotonic()
        self._finish(task, records)
        self._started(w)

    def _died(self, i: int, w: Worker) -> None:
        w.proc.join(5)
        code = w.proc.exitcode
        why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        self._replace(i, "BATCH_WORKER_DIED", f"the worker scanning this input died ({why}); "
                      "the input may crash or exhaust its process")

    def _replace(self, i: int, code: str, message: str) -> None:
        """The head task is charged (the worker was scanning it); the others are sent again."""
        task = self.workers[i].tasks.popleft()
        self._requeue(i)
        self._finish(task, [failed(task.item, code, message)])

    def _finish(self, task: Task, records: list[Any]) -> None:
        if task.lease:
            release(task.lease)
        self.done[task.seq] = (task.item, records)

    def close(self) -> None:
        """Stop every worker and delete every file we still hold (normal end or interrupt)."""
        if self.restore is not None:  # first: nothing below can then keep the parent a batch process
            self.restore()
        for w in self.workers:
            if w.task is None and w.proc.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in self.workers:
            for task in w.tasks:
                if task.lease:
                    release(task.lease)
            if w.task is None:
                w.proc.join(2)
            w.kill()  # joins and closes the pipe; kills only one still running
        for task in self.queue:
            if task.lease:
                release(task.lease)
        self.queue.clear()
        self.pool.temp.close()
        store = sys.modules.get("apkscan.batch.store")
        if store is not None:  # what the parent decided from the store (stored_records), still buffered
            store.commit_writes()


_END = object()


def _window_length(item: ScanInput) -> int:
    """How many bytes the pool copies for a window into a spooled container."""
    return item.length if item.length is not None else os.path.getsize(item.path) - item.offset
