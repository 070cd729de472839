"""``--scheduler tcp://host:8786`` / ``--dask local:N``: the units of work as Dask tasks.

The client (this process) walks the sources exactly as a local run does; each APK whose
bytes workers can reach becomes one task running the same :func:`apkscan.scan.scan_item`.
How work is split:

- a folder or a list of files: one task per APK (workers read the path: it must be the
  same path on every worker, e.g. a shared file system);
- a ZIP of APKs (store pull, ``.apks``/``.xapk`` bundles): one task per *stored* member,
  read by the worker in place as a window of the ZIP; members that had to be inflated or
  spooled (deflated ZIP members, tar, compressed streams, backups) live in the client's
  private temporary folder, which workers cannot see: the client scans those itself;
- URLs (``s3://``, ``gs://``, ``file://``, any fsspec protocol): each ``*.apk`` under the
  URL is one task; the worker copies it to a local temporary file with fsspec and scans it.

Results come back in input order (at most ``4 x`` the cluster's threads in flight), so
the reports equal a local run's. A task whose worker died twice (Dask's ``KilledWorker``)
or that failed is a ``BATCH_WORKER_DIED`` / ``BATCH_TASK_FAILED`` error for that input.
The scan store is used by workers only with ``--dask local:N`` (same machine, same file);
on a remote cluster it is off for the tasks. ``--timeout`` is not enforced on Dask.
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from apkscan.issues import error
from apkscan.result import InputError
from apkscan.scan import ScanSettings, scan_item
from apkscan.sources.interface import ScanInput, Skipped
from apkscan.sources.tempspace import is_temporary


class DaskUnavailable(Exception):
    pass


URL_FETCH_LIMIT = 16 << 30  # one fetched APK at most (a worker copies it to its local disk)


class _TooLarge(Exception):
    pass


def _remote_unit(item: ScanInput, settings: ScanSettings) -> list[Any]:
    """Runs on a worker: a URL is copied to a local temporary file first (fsspec)."""
    if "://" not in item.path:
        return scan_item(item, settings)
    import fsspec

    fd, local = tempfile.mkstemp(prefix="apkscan-dask-", suffix=".apk")
    try:
        fetched = 0
        with os.fdopen(fd, "wb") as out, fsspec.open(item.path, "rb") as src:
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
    return scan_item(replace(item, path=local, cleanup=True), settings)


class DaskRunner:
    """A runner for :func:`apkscan.scan.scan` backed by a ``distributed.Client``."""

    def __init__(self, client: Any, cluster: Any = None, store_visible: bool = False):
        self.client, self.cluster, self.store_visible = client, cluster, store_visible

    @classmethod
    def connect(cls, *, scheduler: str | None = None, local: str | None = None,
                store_visible: bool = False) -> DaskRunner:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise DaskUnavailable("Dask is not installed: pip install 'apkscan[dask]'") from None
        if local is not None:
            n = _local_workers(local)
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            return cls(Client(cluster), cluster, store_visible)
        try:
            return cls(Client(scheduler, timeout=30), None, False)
        except (OSError, TimeoutError) as exc:
            raise DaskUnavailable(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __call__(self, items: Iterable[Any], settings: ScanSettings) -> Iterator[tuple[Any, list[Any]]]:
        remote = settings if self.store_visible else replace(settings, store=None)
        shared = self.client.scatter(remote, broadcast=True)
        threads = sum(self.client.nthreads().values()) or 1
        window: deque[tuple[Any, Any]] = deque()
        try:
            for item in items:
                if isinstance(item, ScanInput) and not item.cleanup and not is_temporary(item.path):
                    window.append((item, self.client.submit(_remote_unit, item, shared, pure=False)))
                else:  # records, and bytes only this machine holds
                    window.append((item, scan_item(item, settings)))
                while len(window) > 4 * threads or (window and not _pending(window[0][1])):
                    yield _settle(*window.popleft())
            while window:
                yield _settle(*window.popleft())
        finally:
            for _item, fut in window:
                if not isinstance(fut, list):
                    fut.cancel()


def _pending(x: Any) -> bool:
    return not isinstance(x, list) and not x.done()


def _settle(item: Any, x: Any) -> tuple[Any, list[Any]]:
    if isinstance(x, list):
        return item, x
    try:
        return item, x.result()
    except Exception as exc:
        from distributed import KilledWorker

        code = "BATCH_WORKER_DIED" if isinstance(exc, KilledWorker) else "BATCH_TASK_FAILED"
        return item, [InputError(item.display, item.container, [error(code, f"Dask task: {type(exc).__name__}: {exc}")],
                                 tuple(item.chain))]


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
