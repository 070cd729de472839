"""What a failed read of one blob becomes: an :class:`Issue` with a stable code, for that blob only.
The walker's (:class:`~apkscan.sources.walker.Walker`), kept apart so the recursion stays one
module's size."""

from __future__ import annotations

import sys

from apkscan.issues import ApkScanError, Issue, error
from apkscan.sources.compressed import decode_errors


def read_errors() -> tuple[type[BaseException], ...]:
    """What reading one blob may raise; each becomes an InputProblem for that blob. tarfile's
    errors once a tar reader has imported it (an ``except`` evaluates this only when needed)."""
    tar = sys.modules.get("tarfile")
    return (ApkScanError, *decode_errors(), *((tar.TarError,) if tar is not None else ()))


def as_issue(exc: BaseException) -> Issue:
    if isinstance(exc, ApkScanError):
        return exc.to_issue()
    code = getattr(exc, "code", None)  # readers' read errors (BACKUP_TRUNCATED ...) carry their code
    if isinstance(code, str) and code.isupper():
        return error(code, str(exc))
    return error("CONTAINER_CORRUPT", f"cannot read this container: {exc}")
