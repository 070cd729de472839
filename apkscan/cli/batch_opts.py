"""The ``scan`` options of batch runs: --jobs, --timeout, --jsonl, the store, --resume, Dask.

``batch_run`` turns them into what :func:`apkscan.scan.scan` takes (a runner, the store
path, the JSONL callback) and ends the run's bookkeeping afterwards, so ``scan_cmd``
stays a short sequence of steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
import os
import sys
import time
from typing import Any

import click

from apkscan.cli.usage import Conflict, OutputRefused

_OPTIONS = [
    click.option("--jobs", "-j", type=click.IntRange(1, 512), default=None,
                 help="Worker processes (default: the cores available; 1 = scan in this process)."),
    click.option("--timeout", type=click.FloatRange(min=0.1), default=None, metavar="SECONDS",
                 help="Per-input time limit (inputs then run in worker processes, also with --jobs 1): past it the input is a BATCH_TIMEOUT error and its worker is replaced (Dask: the task stops itself, the client stops waiting)."),
    click.option("--worker-memory", default="2G", show_default=True, metavar="SIZE",
                 help="Most address space a worker process may take (e.g. 1G; 0 = no cap): an input needing "
                      "more is an INPUT_LIMIT_EXCEEDED error, not an out-of-memory kill."),
    click.option("--jsonl", "jsonl_path", type=click.Path(dir_okay=False), default=None,
                 help="Stream one JSON line per app or error to FILE as it is decided."),
    click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
                 help="Scan store (SQLite) of identities; default $XDG_CACHE_HOME/apkscan/store.sqlite."),
    click.option("--no-store", is_flag=True, help="Neither read nor write a scan store."),
    click.option("--rehash", is_flag=True, help="Read every file again even when its stat key is unchanged."),
    click.option("--resume", is_flag=True,
                 help="Continue the interrupted run over the same inputs and options (finished inputs come from the store)."),
    click.option("--dask", "dask_local", default=None, metavar="local:N",
                 help="Run the units of work on a local Dask cluster of N workers (pip install apkscan[dask])."),
    click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
                 help="Run the units of work on an existing Dask cluster (pip install apkscan[dask])."),
]


def batch_options(f: Callable) -> Callable:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


@dataclass
class BatchRun:
    """What the scan loop gets, and what is closed after it."""

    runner: Any = None
    store: str | None = None
    on_records: Callable[[list[Any]], None] | None = None
    known: Any = None  # apkscan.batch.known.KnownFiles: the store's fast lane (--jsonl with a store)
    meta: dict[str, Any] = field(default_factory=dict)  # added to the document's options: run id, jobs, store
    stream_failure: str | None = None  # why the --jsonl stream stopped early, if it did (exit 4)
    _finish: list[Callable[[Any], None]] = field(default_factory=list)

    def finish(self, result: Any) -> None:
        result.options.update(self.meta)
        for f in self._finish:
            f(result)


@contextmanager
def batch_run(opts: dict, paths: tuple[str, ...], walk: Any, jsonl_path: str | None,
              stream_only: bool = False, real: Any = None) -> Iterator[BatchRun]:
    """Open the store, the JSONL stream and the runner for one scan; close them afterwards.
    ``stream_only``: no report needs the document, so the fast lane may answer with stored lines.
    ``real``: the inputs' :class:`~apkscan.cli.outputs.ResolvedInputs` when the caller has them."""
    from apkscan.batch.runs import run_id

    run = BatchRun()
    if opts["dask_local"] and opts["scheduler"]:
        raise Conflict("--dask and --scheduler exclude each other")
    if opts["resume"] and opts["no_store"]:
        raise Conflict("--resume needs the scan store (drop --no-store)")
    conn = _open_store(run, opts, real if real is not None else paths)
    rid = run_id([r for _, r in real] if real is not None else [os.path.realpath(p) for p in paths],
                    _result_options(opts))
    if conn is not None and (begun := _begin(run, conn, rid, opts["resume"])):
        started, prior = begun
        # a Dask cluster left without workers (BATCH_NO_WORKERS) leaves the run unfinished too: --resume continues it
        run._finish.append(lambda result: _end_run(run.store, rid, started, result.interrupted
                                                   or getattr(run.runner, "starved", False)))
        if prior:
            run.meta["resumed_from"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(prior))
    run.meta.update(run_id=rid, store=run.store is not None)
    if jsonl_path:
        from apkscan.batch.jsonl import JsonlWriter

        from apkscan.sources.names import name_text

        try:
            writer = JsonlWriter(jsonl_path, {"run_id": rid, "inputs": [name_text(p) for p in paths]})
        except OSError as exc:  # checked writable, yet refused now (a link loop, a full disk): before any input is read
            raise click.UsageError(f"--jsonl {jsonl_path}: cannot create it: {exc.strerror or exc}") from None
        run.on_records = writer.records
        _known_files(run, opts, walk, writer, stream_only)
        run._finish.append(writer.finish)
        run._finish.append(lambda _result: setattr(run, "stream_failure", writer.failure))
    run.runner, close = _runner(opts, walk, run.store)
    try:
        yield run
    finally:
        close()
        if run.known is not None:  # interrupted or failed: the rematch helper ends with the run
            run.known.stop_helper()
        store = sys.modules.get("apkscan.batch.store")
        if store is not None:  # committed and closed now: the last close folds the WAL into the file
            store.close_connections()


def _open_store(run: BatchRun, opts: dict, inputs: Any) -> Any:
    """The scan store's connection (None: ``--no-store``, ``--deep``, or a store set aside),
    refused before any work when it would be written into evidence or is linked elsewhere."""
    if opts["no_store"] or opts["deep"]:
        return None
    from apkscan.batch import store as st  # sqlite3 and the store only when there is one
    from apkscan.batch.store_file import store_links
    from apkscan.cli.outputs import store_conflict

    path = opts["store_path"] or st.default_path()
    conflict = store_conflict(path, inputs)  # path, path-wal, path-shm, path-journal
    if conflict and not opts["store_path"] and not opts["resume"]:  # `scan ~`: the default store is in the evidence
        click.echo(f"warning: STORE_INSIDE_INPUT: the default store {path}: {conflict}: this run uses no store "
                   "(the scan never writes into evidence; --store PATH outside the inputs keeps one)", err=True)
        return None
    if conflict:
        raise OutputRefused(f"--store {path}: {conflict} (the scan never writes into evidence)")
    linked = store_links(path)  # even with --force: it may be evidence elsewhere
    if linked:
        raise OutputRefused(f"--store {path}: {linked} (or --no-store)")
    conn, issues = st.open_checked(path)
    for i in issues:
        click.echo(f"warning: {i.code}: {i.message}", err=True)
    run.store = path if conn is not None else None
    return conn


def _known_files(run: BatchRun, opts: dict, walk: Any, writer: Any, stream_only: bool) -> None:
    """The warm fast lane (apkscan.batch.known): on with a store and JSONL, off wherever a file
    must be read again or is read elsewhere (--rehash, --deep, --quick, Dask)."""
    if not run.store or opts["rehash"] or opts["deep"] or opts["quick"] or opts["dask_local"] or opts["scheduler"]:
        return
    from apkscan.batch.known import KnownFiles

    run.known = KnownFiles(run.store, stream_only, lambda: writer.last, jobs=opts["jobs"])
    walk.known, walk.on_plain = run.known.known, run.known.on_plain
    run._finish.append(lambda _result: run.known.close())


def _begin(run: BatchRun, conn: Any, rid: str, resume: bool) -> tuple[float, float | None] | None:
    """Record the run's start in the store; None: the store is off for this run (another process
    locked it since the open: STORE_UNAVAILABLE, never a traceback nor a wait per input)."""
    from apkscan.batch.runs import begin_run

    try:
        started, prior = begin_run(conn, rid, resume)
    except Exception as exc:  # noqa: BLE001 - sqlite3.Error: the store is a cache
        click.echo(f"warning: STORE_UNAVAILABLE: {run.store}: {exc}; scanning without a store", err=True)
        run.store = None
        return None
    finally:
        conn.close()  # no connection may cross the workers' fork (SQLite's rule); reopened at the end
    if resume:
        click.echo("resuming the run that did not finish (interrupted, or killed before it recorded its end): "
                   "finished inputs come from the store" if prior else
                   "--resume: no interrupted run over these inputs and options; scanning them all", err=True)
    return started, prior


def _end_run(path: str, rid: str, started: float, interrupted: bool) -> None:
    from apkscan.batch import store as st
    from apkscan.batch.runs import end_run

    try:
        conn = st.connect(path)
    except Exception as exc:  # the store is a cache: a run left "running" is not worth failing a scan
        click.echo(f"warning: STORE_UNAVAILABLE: {path}: {exc}", err=True)
        return
    try:
        end_run(conn, rid, started, interrupted)
    except Exception as exc:  # noqa: BLE001 - sqlite3.Error (a full disk: review 75 F4): the reports still get written
        click.echo(f"warning: STORE_UNAVAILABLE: {path}: the run's end could not be recorded ({exc})", err=True)
    finally:
        conn.close()


def note_and_prune(run: BatchRun, result: Any) -> None:
    """Note the keys the run used and prune the store when due (:mod:`apkscan.batch.store_prune`),
    with or without ``--jsonl``: called once the reports are written (review 76 F5, F6: a prune
    inside the run's end delayed them, and Ctrl-C there lost them)."""
    if run.store:
        from apkscan.batch.store_prune import after_run

        after_run(run.store, result.store_keys)


def _result_options(opts: dict) -> dict[str, Any]:
    keys = ("deep", "min_sdk", "max_sdk", "rule_paths", "no_builtin_rules", "iocs", "policy_name", "allow",
            "include", "exclude", "follow_symlinks", "max_depth", "quick", "hashes")  # --quick, --hashes: review 74 F2
    return {k: opts.get(k) for k in keys}


def _runner(opts: dict, walk: Any, store: str | None) -> tuple[Any, Callable[[], None]]:
    if opts["dask_local"] or opts["scheduler"]:
        from apkscan.batch.dask_runner import DaskRunner, DaskUnavailable

        try:
            runner = DaskRunner.connect(scheduler=opts["scheduler"], local=opts["dask_local"],
                                        store_visible=bool(opts["dask_local"]), timeout=opts["timeout"],
                                        tmp_dir=walk.tmp_dir)  # checked by check_temp, as the spool is
        except DaskUnavailable as exc:
            raise click.UsageError(str(exc)) from None
        return runner, runner.close
    from apkscan.batch.pool import Pool, default_jobs

    jobs = opts["jobs"] or default_jobs()
    if jobs == 1 and opts["timeout"] is None:
        return None, lambda: None  # the sequential reference path (a --timeout needs a worker to stop)
    return Pool(jobs, opts["timeout"], tmp_dir=walk.tmp_dir, tmp_limit=walk.tmp_limit,
                memory_limit=worker_memory(opts)), lambda: None


def worker_memory(opts: dict) -> int | None:
    """--worker-memory in bytes (None: no cap); a usage error (exit 2) when it is no size."""
    from apkscan.cli.scan_cmd import parse_size

    try:
        limit = parse_size(str(opts.get("worker_memory") or "0"))
    except ValueError:
        raise click.BadParameter(f"not a size: {opts['worker_memory']!r} (e.g. 1G, 0 for no cap)",
                                 param_hint="--worker-memory") from None
    if limit and not 256 << 20 <= limit <= 1 << 50:
        raise click.BadParameter("between 256M (a worker's own code takes ~150 MB of address space) and 1024T",
                                 param_hint="--worker-memory")
    return limit or None



def local_inputs(paths: tuple[str, ...]) -> tuple[str, ...]:
    """``file://``/``local://`` URLs as the local paths they name, so every output check, the walk,
    custody and the no-atime open treat them as those paths (:mod:`apkscan.batch.urls`, review 66
    F3); a usage error (exit 2) for one whose file is ambiguous."""
    if not any("://" in p for p in paths):
        return paths
    from apkscan.batch.urls import LocalUrlError, local_path

    out = []
    for p in paths:
        try:
            out.append(local_path(p) or p)
        except LocalUrlError as exc:
            raise click.BadParameter(str(exc), param_hint="PATHS") from None
    return tuple(out)


def sources(paths: tuple[str, ...], walk: Any, opts: dict) -> list[Any]:
    """Local paths (walked), then fsspec URLs (``s3://...``: Dask only, workers fetch them)."""
    from apkscan.sources.files import FileSource

    urls = [p for p in paths if "://" in p]
    local = [p for p in paths if "://" not in p]
    out: list[Any] = [FileSource(local, walk)] if local else []
    if urls:
        if not (opts["dask_local"] or opts["scheduler"]):
            raise Conflict("URL inputs are read by Dask workers: add --dask local:N or --scheduler")
        from apkscan.batch.dask_runner import UrlSource

        out.append(UrlSource(urls))
    return out


def checked_jsonl(opts: dict, inputs: Any, chosen: dict[str, str]) -> str | None:
    """--jsonl passes the checks a report's path passes (:func:`apkscan.cli.outputs.output_problem`:
    never an input by path or file id, never inside one, never a FIFO or device, never a foreign
    file or an input-like name without ``--force``), and is never a report's path. ``-`` is
    stdout, as for every report option. An existing file with other hard links is refused even with
    ``--force``, as every output is (:func:`~apkscan.cli.outputs.output_problem`).
    ``inputs``: :class:`~apkscan.cli.outputs.ResolvedInputs`."""
    from apkscan.cli.outputs import ResolvedInputs, output_problem

    path = opts["jsonl_path"]
    if path is None:
        return None
    if path == "":  # `--jsonl "$OUT"` with OUT unset: not "no stream" on a green run
        raise click.UsageError("--jsonl: empty file name ('-' for stdout)")
    if path == "-":
        if "-" in chosen.values():
            raise Conflict("--jsonl -: stdout is already taken by a report ('-' once only)")
        return path
    real = os.path.realpath(path)
    problem = output_problem("jsonl", path, real, ResolvedInputs.of(inputs), bool(opts.get("force")))
    if problem:
        raise OutputRefused(f"--jsonl {path}: {problem}")
    if any(p != "-" and os.path.realpath(p) == real for p in chosen.values()):
        raise OutputRefused(f"--jsonl {path}: same file as a report")
    from apkscan.cli.outputs import prepare_folder  # made and proven writable now, as a report's folder is
    from apkscan.report.formats import OutputError

    try:
        prepare_folder(path)
    except OutputError as exc:
        raise OutputRefused(f"--jsonl {exc}") from None
    return path
