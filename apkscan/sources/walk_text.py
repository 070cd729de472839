"""Text met in a walk: looked through for a listing (``pm list packages``, ``dumpsys package``) and
read as text evidence when it holds one. The walker's (:class:`~apkscan.sources.walker.Walker`),
kept apart so the recursion stays one module's size."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

from apkscan.issues import error, warning
from apkscan.sources import registry
from apkscan.sources.interface import InputProblem, Item
from apkscan.sources.streams import Prefixed, WindowStream
from apkscan.sources.tempspace import release


def text(walker: Any, b: Any, depth: int) -> Generator[Item, None, bool]:
    """Text, looked through to its end for a listing's mark (``text_detect.scan_for_listing``:
    bounded memory, a large byte budget, the walk's time budget) and read as text evidence when
    it has one: from its start again when the mark lay past what the scan keeps (a window is
    reopened; a stream longer than that was first copied to temporary space, ``--tmp-limit``).
    Without a mark: an error when given, a warning only when a budget cut the scan short;
    False (a plain skip) for text looked through to its end."""
    stream, spooled = walker._stream(b), None
    try:
        scan = registry.scan_for_listing(stream, b.window is not None)
        if not scan.marked and not scan.end and b.window is None:  # a stream cannot be read twice
            spooled = walker.ctx.temp.spool(registry.spool_source(scan, stream), b.chain[-1])
            stream.close()
            stream = WindowStream(spooled, 0, os.path.getsize(spooled))
            scan = registry.scan_for_listing(stream)
        if scan.marked:
            yield from walker._custody(b, "text-evidence")
            if scan.read > len(scan.kept):  # the mark lay past the bytes kept: read from the start
                stream.close()
                stream = WindowStream(*(b.window or (spooled, 0, os.path.getsize(spooled))))
            source = Prefixed(scan.kept, stream) if scan.read <= len(scan.kept) else stream
            reader = registry.TextEvidenceReader(source, b.chain, None if b.given else b.where)
            yield from walker._entries(reader, depth + 1)
            return True
    finally:
        stream.close()
        release(spooled) if spooled else None
    return (yield from _unmarked(walker, b, scan))

def _unmarked(walker: Any, b: Any, scan: Any) -> Generator[Item, None, bool]:
    said = f"text ({scan.encoding}) with no 'package:' line, 'Package [' block or dumpsys header in " + \
        (f"its {scan.read} bytes" if scan.end else f"its first {scan.read} bytes (the scan's byte budget)")
    if b.given:
        yield from walker._custody(b, "unknown")
        yield InputProblem(b.chain, [error("TEXT_EVIDENCE_NOT_FOUND", said + ": neither an APK nor text evidence")])
        return True
    if not scan.end:
        yield InputProblem(b.chain, [warning("TEXT_EVIDENCE_UNCHECKED", said + "; the rest was not looked at")])
        return True
    return False
