"""Progress of a batch: counts, rate and ETA on a terminal, a plain line every 10 s otherwise.

Hand-written (no new dependency). The total is known only once the sources have been
walked, so the ETA is shown when a total is given (``--jobs`` scans of listed files) and
the rate always. Writes to stderr; never to the report streams.
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
            tail = f"  {name[-40:]}" if name else ""
            self.stream.write("\r" + self.line() + tail + "\x1b[K")
            self._drawn = True
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
