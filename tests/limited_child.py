"""Run a hostile input's code in a child process under a CPU and an address-space limit.

A denial-of-service regression must fail its test, not hang the suite or exhaust the
machine: the old behaviour is killed by ``RLIMIT_CPU`` (SIGXCPU) or stopped by
``RLIMIT_AS`` (a ``MemoryError``), and the test asserts the child's exit status and output.
"""

from __future__ import annotations

import subprocess
import sys

_PRELUDE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu}))
resource.setrlimit(resource.RLIMIT_AS, ({mem} << 20, {mem} << 20))
"""


def run_limited(code: str, *args: str, cpu: int = 20, mem_mb: int = 800) -> subprocess.CompletedProcess:
    """``code`` run by this Python with ``args`` in ``sys.argv[1:]``; its result, text mode."""
    program = _PRELUDE.format(cpu=cpu, mem=mem_mb) + code
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=600)


def assert_finished(done: subprocess.CompletedProcess) -> str:
    """The child's stdout, once it is known to have ended on its own (not killed, no traceback)."""
    assert done.returncode == 0, f"exit {done.returncode} (killed by a limit if negative): {done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stdout
