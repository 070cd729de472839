"""Progress of a batch: counts, rate and ETA on a terminal, a plain line every 10 s otherwise.

Hand-written (no new dependency). Sources are walked while inputs are scanned, so the
total is not known during a scan: ``scan`` shows counts, rate and elapsed time; the ETA is
shown only when a caller gives a total. Writes to stderr; never to the report streams.
The name shown is an evidence file's: hostile text (a file on a device's storage is named by
whatever app wrote it), so it is escaped like every other terminal text, never written raw.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class BatchProgress:
    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None, total: int | None = None,
                 every: float = 10.0):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.quiet, self.total, self.every = quiet, total, every
        self.done = 0
        self.t0 = self._last = time.monotonic()
        self._drawn = False

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._drawn and self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.done}" + (f"/{self.total}" if self.total else "") + " inputs", f"{rate:.1f}/s"]
        if self.total and rate > 0:
            left = max(self.total - self.done, 0) / rate
            parts.append(f"ETA {int(left // 60)}m{int(left % 60):02d}s")
        parts.append(f"{int(elapsed)}s elapsed")
        return "apkscan: " + ", ".join(parts)

    def advance(self, name: str | None = None) -> None:
        self.done += 1
        if self.quiet:
            return
        now = time.monotonic()
        if now - self._last < (0.1 if self.tty else self.every):
            return
        self._last = now
        if self.tty:
            tail = f"  {_tail(name)}" if name else ""
            self.stream.write("\r" + self.line() + tail + "\x1b[K")
            self._drawn = True
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()


def _tail(name: str, cols: int = 40) -> str:
    """The end of a path (it tells files apart), escaped: a name's ``ESC ]0;...BEL`` or
    ``ESC [2J`` would otherwise retitle or clear the user's terminal."""
    from apkscan.report.escape import safe
    from apkscan.report.terminal import fit_left

    return fit_left(safe(name), cols).rstrip()
