"""A pool worker lives no longer than the parent that forked it (review 29 F5).

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
