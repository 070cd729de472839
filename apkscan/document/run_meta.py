"""The records of a scan document that describe the run, not its apps: the tool, the rule packs
and policies it used (:class:`RulesMeta`, :class:`PolicyMeta`), the input files' custody
(:class:`InputFile`) and what it skipped (:class:`Skipped`).

Apart from :mod:`apkscan.document.scan_document` because they are the run's metadata, read by
report headers and custody tables, while that module holds the per-app records and the checks
that tie them together (first verdicts, signers, counts). ``scan_document`` re-exports them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from apkscan.document.codec import Json, Record
from apkscan.document.identity import RECORD


@dataclass(**RECORD)
class Tool(Record):
    """The program that wrote the document."""

    name: str | None = None
    version: str | None = None


@dataclass(**RECORD)
class RuleMeta(Record):
    """A rule of a pack, as the run's metadata lists it."""

    id: str | None = None
    vendor: str | None = None
    description: str | None = None
    kind: str | None = None


@dataclass(**RECORD)
class PackMeta(Record):
    """A rule pack used by the run, with its version."""

    name: str
    version: str | None = None
    vendor: str | None = None
    reviewed: str | None = None
    path: str | None = None
    rules: tuple[RuleMeta, ...] = ()
    notices: tuple[str, ...] = ()  # what of the file the run left out (RULES_IOC_SKIPPED)


@dataclass(**RECORD)
class RulesMeta(Record):
    """The rule packs used by the run."""

    packs: tuple[PackMeta, ...] = ()


@dataclass(**RECORD)
class PolicyMeta(Record):
    """A policy the run decided under."""

    name: str | None = None
    version: str | None = None
    title: str | None = None
    path: str | None = None
    reviewed: str | None = None
    url: str | None = None
    jurisdiction: Json = None
    effective: Json = None
    uncertain: Json = None
    notices: tuple[str, ...] = ()  # what the run found wrong with it (POLICY_SELECTS_NOTHING)


@dataclass(**RECORD)
class InputFile(Record):
    """Custody: an outermost input file as read."""

    path: str
    size: int
    kind: str
    sha256: str | None
    hashed: str | None = None  # where the SHA-256 comes from: "this run", or "store" (computed when last read)


@dataclass(**RECORD)
class Skipped(Record):
    """Files looked at and deliberately not scanned, per place and reason."""

    where: tuple[str, ...]
    where_display: str | None = None
    reason: str
    count: int
    examples: tuple[str, ...] = ()
