"""Where APKs come from: a ``Source`` yields inputs, each a local file plus where it came from.

Files and folders today (:mod:`apkscan.sources.files`); an adb backup or tar reader slots in
beside it by yielding the same :class:`ScanInput` (extracting each APK to a temporary file it
owns, with ``container`` naming the backup and ``display`` the path inside it). A source
never raises for one bad input: it yields an :class:`InputProblem` and goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from apkscan.issues import Issue


@dataclass(slots=True)
class ScanInput:
    """One APK to scan: ``path`` is a readable local file; ``display`` is what reports show."""

    path: str
    display: str
    container: str | None = None
    cleanup: bool = False  # the source created ``path`` and the scanner may delete it afterwards

    def source_dict(self) -> dict[str, str | None]:
        return {"path": self.display, "container": self.container}


@dataclass(slots=True)
class InputProblem:
    """Something given to scan that could not become an input (missing path, unreadable folder)."""

    display: str
    issues: list[Issue] = field(default_factory=list)
    container: str | None = None


@runtime_checkable
class Source(Protocol):
    """Anything that can enumerate APKs to scan."""

    description: str

    def inputs(self) -> Iterator[ScanInput | InputProblem]:
        """Every input, in a stable order; problems are yielded, not raised."""
        ...
