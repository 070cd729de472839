"""A pool worker lives no longer than the parent that forked it (review 29 F5), within a memory
cap, and the pool's processes run as a batch.

A forked worker inherits the parent's end of its own pipe, and of every earlier worker's: while
any process holds a pipe's parent end, ``recv`` never sees EOF, so workers outlived a parent
killed with SIGKILL (OOM killer, CI timeout) and kept the store, the JSONL and an input open.
Now a worker first closes every parent end it inherited (its ``recv`` then ends with the
parent), and on Linux asks the kernel to SIGKILL it when the parent dies (``PR_SET_PDEATHSIG``:
also a worker stuck in C code, which never reaches ``recv``), then checks the parent did not die
before that request was in place.
"""

from __future__ import annotations

import os
import signal
import sys
import weakref
from typing import Any

_ENDS: weakref.WeakSet[Any] = weakref.WeakSet()  # the parent's ends of its workers' pipes
PR_SET_PDEATHSIG = 1


def parent_end(conn: Any) -> Any:
    """Remember ``conn`` (the parent's end of a worker's pipe) so later workers close their copy."""
    _ENDS.add(conn)
    return conn


def tie_to_parent(parent_pid: int) -> None:
    """In a worker just forked from ``parent_pid``: end with it."""
    for end in list(_ENDS):
        try:
            end.close()
        except OSError:
            pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: EOF on the pipe still ends a worker waiting for work
    if os.getppid() != parent_pid:  # the parent died before the request was in place
        os._exit(0)


def limit_memory(limit: int | None) -> None:
    """Cap this worker's address space: an input that would take the machine's memory gets a
    MemoryError (an error for that input) instead of the kernel's OOM killer choosing a process.
    A 1 GiB APK's full verification peaks at ~280 MB of address space."""
    if not limit:
        return
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    except (ImportError, ValueError, OverflowError, OSError):
        pass  # no RLIMIT_AS here (Windows, some containers), or past what it holds: no cap


def batch_policy() -> Any:
    """Run the calling thread (the pool's parent) and the workers it forks from now on under
    ``SCHED_BATCH``; returns what puts the default policy back (the pool calls it when it closes).

    Why: the pool's parent wakes once per result (~1,000 times a second with small APKs) and,
    under the default policy, each wake-up preempts a worker on the same cores; as batch
    processes none preempts another on waking, it waits for the running time slice. The share
    of CPU each gets (and its nice value) is unchanged, and the parent reacts to a result, a
    death, a timeout or Ctrl-C a few milliseconds later at most. 1,000 small APKs, ``--jobs 2``
    (bench/README.md, issue 12): the parent's CPU ~0.03 s less, the wall 2-4 % shorter. Only from
    the default policy (one the user chose, with ``chrt`` say, is kept) and where the system allows it."""
    set_policy = getattr(os, "sched_setscheduler", None)
    try:
        if set_policy is None or os.sched_getscheduler(0) != os.SCHED_OTHER:
            return _nothing
        set_policy(0, os.SCHED_BATCH, os.sched_param(0))
    except (OSError, AttributeError):  # not allowed here (seccomp, some containers): the default it is
        return _nothing

    def restore() -> None:
        try:
            if os.sched_getscheduler(0) == os.SCHED_BATCH:  # a policy the user set meanwhile is kept (review 51 F7)
                set_policy(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass

    return restore


def _nothing() -> None:
    pass
