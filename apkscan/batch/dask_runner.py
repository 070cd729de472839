"""``--scheduler tcp://host:8786`` / ``--dask local:N``: the units of work as Dask tasks.

The client (this process) walks the sources exactly as a local run does; each APK whose
bytes workers can reach becomes one task running the same :func:`apkscan.scan.scan_item`.
How work is split:

- a folder or a list of files: one task per APK (workers read the path: it must be the
  same path on every worker, e.g. a shared file system; the task's custody stat is compared
  there without its device number when the worker is on another machine, where an NFS mount
  has another one: :class:`~apkscan.apk.io.readonly.TakenOn`);
- a ZIP of APKs (store pull, ``.apks``/``.xapk`` bundles): one task per *stored* member,
  read by the worker in place as a window of the ZIP; members that had to be inflated or
  spooled (deflated ZIP members, tar, compressed streams, backups) live in the client's
  private temporary folder, which workers cannot see: the client scans those itself;
- URLs (``s3://``, ``gs://``, any remote fsspec protocol): each ``*.apk`` under the URL is one
  task; the worker copies it to a local temporary file with fsspec and scans it (a ``file://``
  URL is its local path, given so by the CLI: :mod:`apkscan.batch.urls`). Such an input has no
  custody record (``input_files``): the client never reads it; each app's SHA-256 is that of the
  bytes its worker fetched and scanned.

Each task carries the scan settings itself (~75 KB pickled; nothing is scattered or broadcast:
a broadcast waits for every worker, and one hung worker stalled a whole run), and a local path as
an absolute one (a worker's working folder is not the client's; reports keep the path as named).
Results come back in input order (at most ``4 x`` the cluster's threads in flight), so
the reports equal a local run's. A task Dask fails for killing its workers (``KilledWorker``)
is sent once more where nannies restart the workers: Dask counts a death against every task the worker held, one running beside
or queued behind the crasher too. Failing again (or failing otherwise) it is a
``BATCH_WORKER_DIED`` / ``BATCH_TASK_FAILED`` error for that input. A cluster left without any
worker for a minute ends the waits: the inputs not yet answered are ``BATCH_NO_WORKERS`` errors
(:mod:`apkscan.batch.dask_watch`).
The scan store is used by workers only with ``--dask local:N`` (same machine, same file);
on a remote cluster it is off for the tasks.

``--timeout`` on Dask, in two layers (a Dask worker thread cannot be killed from outside):
the task runs ``identify`` with that time budget, so it gives up by itself on its next read
(``INPUT_TIMEOUT``, the input is listed as read in part); and the client waits for each
result at most ``--timeout`` from the moment it is the oldest one still awaited (inputs
before it are settled): past that it stops waiting, cancels the task and records
``BATCH_TIMEOUT``, restarts the worker that ran it (Dask workers under a nanny, as ``dask
worker`` starts them; a task stuck in C code is gone with its process) and goes on. Bytes
the client scans itself get the same budget. That wait counts every second from then on,
including time the task spends queued for a worker (a cluster busy with other work) or on a
worker's first imports: a ``local:N`` cluster's workers import the scanning code as they start
(:data:`WARM`, a Dask preload, also after a restart), before they take tasks, so that start-up
(~1 s, several under load) is not charged to the inputs; on a remote cluster give ``--timeout``
that margin, or start its workers with ``--preload`` naming the same modules.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from apkscan.apk.io.readonly import TakenOn
from apkscan.batch.dask_watch import NoWorkers, WorkerWatch, no_workers_message
from apkscan.folders import resolved
from apkscan.issues import error
from apkscan.result import InputError
from apkscan.scan import ScanSettings, scan_item
from apkscan.sources import zip_readings
from apkscan.sources.interface import ScanInput, Skipped
from apkscan.sources.tempspace import is_temporary


class DaskUnavailable(Exception):
    pass


WARM = ("apkscan.batch.dask_runner", "apkscan.apk.identify", "apkscan.rules.matcher", "apkscan.splits")
# a local cluster's scheduler fails a task after 2 worker deaths, not Dask's 4: the client sends a
# failed one once more (DaskRunner._resubmit), so a crashing input still takes 4 workers in all
_LOCAL_SCHEDULER = {"distributed.scheduler.allowed-failures": 1}
URL_FETCH_LIMIT = 16 << 30  # one fetched APK at most (a worker copies it to its local disk)


class _TooLarge(Exception):
    pass


def _remote_unit(item: ScanInput, settings: ScanSettings) -> list[Any]:
    """Runs on a worker: a URL is copied to a local temporary file first (fsspec; a ``file://`` one,
    which the CLI gives as its path, through the no-atime open: :mod:`apkscan.batch.urls`)."""
    if "://" not in item.path:
        return scan_item(item, settings)
    from apkscan.batch.urls import local_path

    fd, local = tempfile.mkstemp(prefix="apkscan-dask-", suffix=".apk")
    try:
        fetched = 0
        with os.fdopen(fd, "wb") as out, _opened(local_path(item.path), item.path) as src:
            while chunk := src.read(1 << 20):
                fetched += len(chunk)
                if fetched > URL_FETCH_LIMIT:  # the worker's disk is bounded like the client's temp space
                    raise _TooLarge(f"more than {URL_FETCH_LIMIT} bytes")
                out.write(chunk)
    except Exception as exc:  # a worker that cannot reach the URL: an error for this input
        os.unlink(local)
        code = "INPUT_LIMIT_EXCEEDED" if isinstance(exc, _TooLarge) else "INPUT_UNREADABLE"
        return [InputError(item.display, item.container, [error(code, f"cannot fetch: {exc}")],
                           tuple(item.chain))]
    *first, last = zip_readings.readings_of(replace(item, path=local))  # a ZIP64 record naming another CD: two apps
    kept = [r for one in first for r in scan_item(one, settings) if type(r).__name__ != "_Custody"]  # a copy: none owed
    return kept + scan_item(replace(last, cleanup=True), settings)


def _opened(path: str | None, url: str) -> Any:
    if path is not None:
        from apkscan.apk.io.readonly import open_binary

        return open_binary(path)
    import fsspec

    return fsspec.open(url, "rb")


class DaskRunner:
    """A runner for :func:`apkscan.scan.scan` backed by a ``distributed.Client``."""

    def __init__(self, client: Any, cluster: Any = None, store_visible: bool = False,
                 timeout: float | None = None, unit: Any = None, scratch: str | None = None):
        self.client, self.cluster, self.store_visible = client, cluster, store_visible
        self.scratch = scratch  # the local cluster's private folder, removed on close
        self._config: Any = None  # dask's temporary-directory pointing there while the cluster runs
        self.timeout = timeout
        self.unit = unit or _remote_unit  # what a task runs per input (tests give a slow one)
        self._restarts = 0  # workers restarted for overdue tasks
        self._remote: Any = None  # the settings each task carries
        self.watch = WorkerWatch(client)  # a cluster without workers ends the waits (dask_watch)

    @classmethod
    def connect(cls, *, scheduler: str | None = None, local: str | None = None,
                store_visible: bool = False, timeout: float | None = None, tmp_dir: str | None = None) -> DaskRunner:
        """``tmp_dir``: the checked folder (``--tmp-dir``, else the default one the CLI checked) under
        which a local cluster keeps its scratch space and its workers their temporary files."""
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise DaskUnavailable("Dask is not installed: pip install 'apkscan[dask]'") from None
        if local is not None:
            n = _local_workers(local)
            # Dask's default is dask-scratch-space under TMPDIR, left behind, even when --tmp-dir
            # moved everything else out of an input (review 22 #4): one private folder instead
            # (the scheduler in this process and every worker make a work folder there)
            import dask

            scratch = tempfile.mkdtemp(prefix="apkscan-dask-", dir=tmp_dir)
            config = dask.config.set({"temporary-directory": scratch, **_LOCAL_SCHEDULER})
            try:
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                       local_directory=scratch, env={"TMPDIR": scratch}, preload=list(WARM))
                runner = cls(Client(cluster), cluster, store_visible, timeout, scratch=scratch)
            except BaseException:
                config.__exit__(None, None, None)
                _remove(scratch)
                raise
            runner._config = config
            return runner
        try:
            return cls(Client(scheduler, timeout=30), None, False, timeout)
        except (OSError, TimeoutError) as exc:
            raise DaskUnavailable(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None

    def close(self) -> None:
        try:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            if self.scratch is not None:
                self._config.__exit__(None, None, None)
                _remove(self.scratch)

    def __call__(self, items: Iterable[Any], settings: ScanSettings) -> Iterator[tuple[Any, list[Any]]]:
        # the settings travel inside each task (~75 KB pickled), never scattered: a broadcast waits
        # for every worker, and one hung worker stalled the whole run before its first task (review 29 F1)
        self._remote = replace(settings, store=settings.store if self.store_visible else None, timeout=self.timeout)
        local = replace(settings, timeout=self.timeout)
        threads = sum(self.client.nthreads().values()) or 1
        window: deque[tuple[Any, Any]] = deque()
        head: list[Any] = [None, 0.0]  # the oldest awaited future and since when it is the oldest
        try:
            for item in items:
                if isinstance(item, ScanInput) and not item.cleanup and not is_temporary(item.path):
                    window.append((item, [_failed(item, "BATCH_NO_WORKERS", no_workers_message(self.watch.joined))]
                                   if self.watch.starved else self._submit(item)))
                else:  # records, and bytes only this machine holds (same time budget as a task's)
                    window.append((item, scan_item(item, local)))
                while len(window) > 4 * threads or (window and not _pending(window[0][1])):
                    yield self._settle(*window.popleft(), head)
            while window:
                yield self._settle(*window.popleft(), head)
        finally:
            for _item, fut in window:
                if not isinstance(fut, list):
                    fut.cancel()

    def _submit(self, item: ScanInput) -> Any:
        """A worker's working folder is not the client's: a local path goes as an absolute one
        (reports keep the path as named: :func:`_as_named`); its custody stat with the machine it
        was taken on (a worker elsewhere compares it without the device number: :class:`TakenOn`)."""
        expect = None if item.expect is None else TakenOn.of(item.expect)
        sent = item if "://" in item.path else replace(item, path=resolved(item.path), expect=expect)
        return self.client.submit(self.unit, sent, self._remote, pure=False)

    def _settle(self, item: Any, x: Any, head: list[Any], retried: bool = False) -> tuple[Any, list[Any]]:
        if isinstance(x, list):
            return item, x
        if head[0] is not x:
            head[0], head[1] = x, time.monotonic()
        wait = None if self.timeout is None else max(0.0, head[1] + self.timeout - time.monotonic())
        try:
            return item, _as_named(item, self.watch.result(x, wait))
        except NoWorkers:
            x.cancel()
            return item, [_failed(item, "BATCH_NO_WORKERS", no_workers_message(self.watch.joined))]
        except TimeoutError:
            self._abandon(x)
            return item, [_failed(item, "BATCH_TIMEOUT", f"not scanned within --timeout {self.timeout:g} s; "
                                  "the client stopped waiting, cancelled its Dask task and restarted its worker")]
        except Exception as exc:
            from distributed import KilledWorker
            from distributed.client import FutureCancelledError

            killed = isinstance(exc, KilledWorker)
            cancelled = isinstance(exc, FutureCancelledError) and self._restarts
            if not retried and (cancelled or (killed and self._restartable())):
                return self._settle(item, self._resubmit(item), head, retried=True)
            code = "BATCH_WORKER_DIED" if killed else "BATCH_TASK_FAILED"
            sent = " (sent twice)" if killed else ""
            return item, [_failed(item, code, f"Dask task{sent}: {type(exc).__name__}: {exc}")]

    @property
    def starved(self) -> bool:
        """The cluster was left without workers: inputs were not scanned, the run is unfinished."""
        return self.watch.starved

    def _abandon(self, fut: Any) -> None:
        """Cancel an overdue task and restart the worker running it (as the local pool replaces
        its process): a cancelled task's thread runs on, and tasks queued behind it on that
        worker would wait for it. Workers without a nanny cannot be restarted: left as they are."""
        try:
            where = [w for w, keys in self.client.processing().items() if fut.key in keys]
        except Exception:  # the scheduler did not answer: cancelling is all that is left
            where = []
        fut.cancel()
        if where:
            try:
                self.client.restart_workers(where, raise_for_error=False)
                self._restarts += 1
            except Exception:
                pass  # not restartable (no nanny) or gone already: the scheduler reschedules what it held

    def _resubmit(self, item: Any) -> Any:
        """A task that a worker restart cancelled, or that Dask gave up on as killing its workers
        (``KilledWorker``): sent once more. Dask counts a worker's death against every task
        *assigned* to it, queued ones too, so an input waiting behind a crashing one failed with it
        (review 91 F2); sent again after the crasher failed (results are settled in input order),
        it is scanned, and a crasher fails twice."""
        return self._submit(item)

    def _restartable(self) -> bool:
        """Whether the workers have nannies, which start them again when they die: a ``local:N``
        cluster's do; a remote one's are asked (``dask worker`` starts one, ``--no-nanny`` not). A
        crasher sent again to workers without one could kill the last of them, and the run would
        wait for a worker for ever."""
        if self.cluster is not None:
            return True
        try:
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        except Exception:  # noqa: BLE001 - the scheduler did not answer: no second try
            return False
        return bool(workers) and all(w.get("nanny") for w in workers.values())


def _as_named(item: ScanInput, records: list[Any]) -> list[Any]:
    """A task's records with the input's own path where the task saw its absolute one."""
    sent = item.path if "://" in item.path else resolved(item.path)
    if sent == item.path:
        return records
    return [replace(r, path=item.path) if type(r).__name__ == "_Custody" and r.path == sent else r
            for r in records]


def _remove(folder: str) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _pending(x: Any) -> bool:
    return not isinstance(x, list) and not x.done()


def _failed(item: Any, code: str, message: str) -> InputError:
    return InputError(item.display, item.container, [error(code, message)], tuple(item.chain))


def _local_workers(spec: str) -> int:
    kind, _, n = spec.partition(":")
    if kind != "local" or not n.isdigit() or not 1 <= int(n) <= 512:
        raise DaskUnavailable(f"--dask {spec!r}: expected local:N (N workers on this machine)")
    return int(n)


class UrlSource:
    """APKs named by fsspec URLs (``s3://bucket/pull/``): every ``*.apk`` under each URL."""

    def __init__(self, urls: list[str]):
        self.urls = urls
        self.description = ", ".join(urls)
        self.named = list(urls)  # the document's ``inputs``: each URL as its own entry

    def inputs(self) -> Iterator[Any]:
        from apkscan.sources.interface import InputProblem

        try:
            import fsspec
        except ImportError:
            for url in self.urls:
                yield InputProblem((url,), [error("INPUT_UNSUPPORTED_URL", "URL inputs need pip install 'apkscan[dask]'")])
            return
        for url in self.urls:
            try:
                fs, root = fsspec.core.url_to_fs(url)
                names = [root] if fs.isfile(root) else sorted(fs.find(root))
                proto = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
                others = []
                for name in names:
                    full = name if "://" in name else f"{proto}://{name}"
                    if name == root or name.lower().endswith(".apk"):
                        yield ScanInput(full, (full,))
                    else:
                        others.append(full)
                if others:  # containers behind a URL are not opened on workers: said, never dropped
                    yield Skipped((url,), "not an .apk: containers and other files behind a URL are not "
                                  "opened (give the file's URL itself, or copy it locally)", len(others), others[:5])
            except Exception as exc:  # unreachable bucket, bad URL, missing protocol package
                yield InputProblem((url,), [error("INPUT_UNREADABLE", f"cannot list: {type(exc).__name__}: {exc}")])
