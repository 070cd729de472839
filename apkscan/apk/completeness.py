"""How much of one input ``identify`` read: :class:`Completeness`, part by part.

Apart from :mod:`apkscan.apk.model` because it is not a fact about the APK but the record of
the reading itself (which parts were read, skipped on purpose or stopped, and by what code);
it carries its own small state machine where the other results are plain facts.
:mod:`apkscan.apk.model` re-exports both names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


PARTS = ("manifest", "resources", "signatures", "content_digests", "file_hashes")
# an identity error with one of these codes leaves the input read in part (a limit, a timeout, a
# ZIP that stopped the reading, a fault): ``scan`` counts it as an error, ``inspect`` exits 3
PARTLY_READ = ("INPUT_", "ZIP_", "INTERNAL_ERROR")


@dataclass(slots=True)
class Completeness:
    """What ``identify`` read of one input and what it did not, stated rather than guessed.

    Each part of ``PARTS`` is ``read`` once done; until then it is ``not read`` with the
    code that stopped it in ``why`` (``INPUT_TIMEOUT``, ``ZIP_...``), or ``not checked``
    when skipped on purpose (``--quick`` skips the content digests). ``resources`` is
    resources.arsc, where the label is resolved: ``read`` when read or absent (Android resolves
    nothing from an absent table either), ``not read`` when present but not read (a cap, an
    entry that does not inflate): label rules then saw no label, so the input is partly scanned.
    """

    state: dict[str, str] = field(default_factory=lambda: dict.fromkeys(PARTS, "not read"))
    why: dict[str, str] = field(default_factory=dict)

    def done(self, part: str) -> None:
        self.state[part] = "read"
        self.why.pop(part, None)

    def skip(self, part: str, why: str) -> None:
        self.state[part], self.why[part] = "not checked", why

    def stopped(self, code: str) -> None:
        """Every part not yet read was stopped by ``code``."""
        for part, state in self.state.items():
            if state == "not read":
                self.why.setdefault(part, code)

    def has(self, part: str) -> bool:
        return self.state.get(part) == "read"

    @property
    def complete(self) -> bool:
        return all(v == "read" for v in self.state.values())

    def to_dict(self) -> dict[str, Any]:
        return {"complete": self.complete, **self.state, "why": dict(self.why)}
