"""Helpers the ZIP tests share."""

from __future__ import annotations

import io


class Unseekable(io.RawIOBase):
    """A stream zipfile cannot seek back in: it writes each entry's sizes in a data descriptor
    (flag bit 3), as a ZIP written to a pipe has them. The bytes land in ``buf``."""

    def __init__(self, buf: io.BytesIO | None = None):
        self.buf = buf if buf is not None else io.BytesIO()

    def writable(self):
        return True

    def write(self, b):
        return self.buf.write(b)
