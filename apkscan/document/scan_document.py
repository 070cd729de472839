"""``ScanDocument``: the one typed form of a scan result between the scan and every consumer.

``ScanResult.to_dict()`` (:mod:`apkscan.result`) produces the JSON document; reports,
``apkscan report`` and ``apkscan diff`` read it through :meth:`ScanDocument.from_dict`, which
checks every field against its type once, so a renamed or mistyped field is a coded error
(``DOCUMENT_*``) at the door instead of a blank cell or a ``KeyError`` in a template.
``to_dict()`` gives back the same JSON, byte for byte once dumped.

Versions: 1.x only (a minor version adds optional fields). 1.0 documents may give ``source``
as a string and ``policy`` as text; 1.1 has no ``policies``/``verdicts`` (one policy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal, TextIO

from apkscan.document.codec import MALFORMED, DocumentError, Json, Record, decoder, encode
from apkscan.document.identity import RECORD, Identity, Issue
from apkscan.document.policy_keys import check_policy_keys
from apkscan.document.tally import app_worst, check_worst, recounted
from apkscan.ranks import VERDICT_RANK
from apkscan.document.run_meta import InputFile, PackMeta, PolicyMeta, RuleMeta, RulesMeta, Skipped, Tool  # noqa: F401 - re-exported

Verdict = Literal["prohibited", "review", "allowed"]
Strength = Literal["confirmed", "strong", "weak"]
SUPPORTED_MAJOR = "1"


@dataclass(**RECORD)
class Source(Record):
    """Where an app or error came from: ``chain`` is the outermost input, then member names."""

    path: str = ""
    container: str | None = None
    chain: tuple[str, ...] = ()
    outermost: str | None = None


@dataclass(**RECORD)
class Evidence(Record):
    """One fact that made a rule match."""

    field: str
    value: Json = None
    values: Json = None
    basis: str | None = None
    matched: str | None = None
    verified: bool | None = None
    confidence: str | None = None
    normalised: str | None = None
    locale: str | None = None
    location: str | None = None


@dataclass(**RECORD)
class Decision(Record):
    """The policy decision behind a verdict (an app's or finding's ``policy``, a ``verdicts`` entry)."""

    policy: str | None = None
    name: str | None = None
    decision: str | None = None
    verdict: Verdict | None = None
    text: str | None = None
    reason: str | None = None
    authority: str | None = None
    date: str | None = None
    url: str | None = None
    urls: tuple[str, ...] = ()
    unverified_urls: Json = None
    uncertain: Json = None
    certificate: str | None = None


@dataclass(**RECORD)
class VerdictEntry(Decision):
    """1.2: one policy's verdict for an app (``decision`` null: the policy default), with its citation."""

    verdict: Verdict
    decision: str | None


@dataclass(**RECORD)
class FindingVerdict(Record):
    """1.2: the verdict a finding got under one policy."""

    verdict: Verdict
    decision: str | None = None


@dataclass(**RECORD)
class Finding(Record):
    """One rule that matched one app, with its evidence and verdicts."""

    rule: str
    vendor: str | None = None
    app: str | None = None
    strength: Strength
    kind: str
    evidence: tuple[Evidence, ...] | Mapping[str, Json]
    message: str | None = None
    pack: str | None = None
    references: tuple[str, ...] = ()
    verdict: Verdict | None = None
    policy: Decision | str | None = None
    verdicts: Mapping[str, FindingVerdict] = field(default_factory=dict)


@dataclass(**RECORD)
class Split(Record):
    """A split APK of a bundle, attached to its base app."""

    source: Source | str
    package: str | None
    split: str | None
    sha256: str | None
    verified: bool
    signers: tuple[str, ...]
    verdict: Verdict
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    mismatch: tuple[str, ...]


def _dumps(value: Json, indent: int) -> str:
    """``json.dumps(indent=2)`` of a value nested ``indent`` spaces deep (JSON text has no raw newline in strings)."""
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + " " * indent)


def _decided(app: App, first: str | None):
    """``(policy, app verdict, decision, [its findings' verdicts])`` per policy the app states;
    a 1.0/1.1 app (no ``verdicts``) once, as ``(None, verdict, decision, [finding verdicts])``.
    A finding without ``verdicts`` counts its ``verdict`` for the first policy."""
    if not app.verdicts:
        decision = app.policy.decision if isinstance(app.policy, Decision) else None
        yield None, app.verdict, decision, [f.verdict for f in app.findings if f.verdict]
        return
    first = first if first in app.verdicts else next(iter(app.verdicts))
    for name, entry in app.verdicts.items():
        found = [f.verdicts[name].verdict if name in f.verdicts else f.verdict if not f.verdicts and name == first
                 else None for f in app.findings]
        yield name, entry.verdict, entry.decision, [v for v in found if v]


def _where(source: Source | str) -> Source:
    return source if isinstance(source, Source) else Source(path=source)


@dataclass(**RECORD)
class App(Record):
    """One app: where it came from, its identity, findings and verdicts."""

    source: Source | str
    container: str | None = None
    package: str | None = None
    label: str | None = None
    version_name: str | None = None
    version_code: int | str | None = None
    sha256: str | None = None
    verified: bool | None = None
    verdict: Verdict
    verdict_worst: Verdict | None = None  # 1.3: the most severe of ``verdicts`` (checked: document.tally)
    policy: Decision | str | None = None
    verdicts: Mapping[str, VerdictEntry] = field(default_factory=dict)
    findings: tuple[Finding, ...]
    warnings: tuple[Issue, ...] = ()
    identity: Identity
    splits: tuple[Split, ...] = ()

    @property
    def where(self) -> Source:
        """``source`` as a record (1.0 gave a string)."""
        return _where(self.source)

    @property
    def worst(self) -> str:
        """The most severe verdict over every policy (what ``verdict_worst`` must say, stated or not)."""
        return app_worst(self)

    def verdict_names(self, first_policy: str | None) -> dict[str, str]:
        """``{policy: verdict}``; a 1.1 app has only ``verdict`` (the one policy's)."""
        out = {name: d.verdict for name, d in self.verdicts.items() if d.verdict}
        return out or {first_policy or "policy": self.verdict}


@dataclass(**RECORD)
class InputError(Record):
    """An input that could not be scanned: ``code``/``message`` are its first issue's."""

    source: Source | str
    container: str | None = None
    code: str | None = None
    message: str | None = None
    errors: tuple[Issue, ...] = ()
    sha256: str | None = None  # of the bytes that failed (documents since review 32; absent: unknown)
    size: int | None = None
    partial: bool = False  # the error of an app listed for the same input, scanned in part (one input)

    @property
    def where(self) -> Source:
        return _where(self.source)


@dataclass(**RECORD)
class ScanDocument(Record):
    """A whole scan result (schema 1.x), typed."""

    schema_version: str
    tool: Tool | str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    interrupted: bool = False
    inputs: tuple[str | Mapping[str, Json], ...] = ()  # paths given (an object with a path: older tools)
    options: Mapping[str, Json] = field(default_factory=dict)
    rules: RulesMeta | None = None
    policy: PolicyMeta | str | None = None
    policies: tuple[PolicyMeta, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    counts_by_policy: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # 1.3
    apps: tuple[App, ...]
    errors: tuple[InputError, ...]
    input_files: tuple[InputFile, ...] = ()
    skipped: tuple[Skipped, ...] = ()

    @classmethod
    def from_dict(cls, doc: Json) -> ScanDocument:
        """The typed document; :class:`DocumentError` (``DOCUMENT_NOT_A_SCAN``,
        ``DOCUMENT_VERSION_UNSUPPORTED``, ``DOCUMENT_MALFORMED`` with the path) otherwise."""
        if not isinstance(doc, dict):
            raise DocumentError("DOCUMENT_NOT_A_SCAN", "not an apkscan scan result (not a JSON object)")
        version = doc.get("schema_version")
        if not isinstance(version, str):
            raise DocumentError("DOCUMENT_NOT_A_SCAN", "no schema_version: not an apkscan scan result")
        if not re.fullmatch(r"[0-9]+\.[0-9]+", version) or version.split(".")[0] != SUPPORTED_MAJOR:
            raise DocumentError("DOCUMENT_VERSION_UNSUPPORTED",
                                f"schema_version {version[:40]!r}{'…' if len(version) > 40 else ''} is not supported (this apkscan reads {SUPPORTED_MAJOR}.x)")
        typed = decoder(cls)(doc)
        typed._check_first_verdicts()
        check_policy_keys(typed)  # review 87 F4
        typed._check_decided_verdicts()
        typed._check_signers()
        typed._check_schemes()
        check_worst(typed)
        typed._recount()
        return typed

    def _recount(self) -> None:
        """``counts`` and ``counts_by_policy`` as ``apps``, ``errors`` and ``skipped`` add up (as scan
        computes them: :func:`apkscan.document.tally.recounted`), whatever the file said: ``report
        --json`` writes them back and dashboards read them, so a forged count (0 prohibited over 14
        prohibited apps) must never be passed on (review 22 #6, review 86 F1). Recomputed rather than
        refused: a document trimmed with ``jq`` is still a document."""
        counts, by_policy = recounted(self)
        if counts is not None:
            object.__setattr__(self, "counts", counts)  # a frozen record: set once, while decoding
        if by_policy is not None:
            object.__setattr__(self, "counts_by_policy", by_policy)

    def _check_signers(self) -> None:
        """What was verified is never read from a field that contradicts it. ``identity.signers`` lists
        verified signers only, so the views show its first as the publisher and "Verified signer", and
        ``diff`` counts it as a signer: a certificate that is only present, moved there by an edit of
        the file, would read as a verified signer (review 46 #3). Such a document is refused, as are
        an app ``verified`` flag or a ``confirmed`` finding that contradicts ``identity.verified`` (a
        scan never writes them: ``confirmed`` needs a verified key) and a split's signers beside its
        ``verified: false``."""
        for i, app in enumerate(self.apps):
            ident, at = app.identity, ("apps", str(i))
            if ident.signers and not ident.verified:
                raise DocumentError(MALFORMED, "signers listed for an identity that did not verify (only verified "
                                               "signers are listed there)", (*at, "identity", "signers"))
            if app.verified is not None and app.verified != ident.verified:
                raise DocumentError(MALFORMED, f"verified: {str(app.verified).lower()} contradicts the identity's "
                                               f"verified: {str(ident.verified).lower()}", (*at, "verified"))
            for j, f in enumerate(app.findings):
                if f.strength == "confirmed" and not ident.verified:
                    raise DocumentError(MALFORMED, "a confirmed finding for an identity that did not verify (confirmed "
                                                   "needs a verified key)", (*at, "findings", str(j), "strength"))
            for j, s in enumerate(app.splits):
                if s.signers and not s.verified:
                    raise DocumentError(MALFORMED, "signers listed for a split that did not verify",
                                        (*at, "splits", str(j), "signers"))

    def _check_schemes(self) -> None:
        """A scheme is never both ``verified`` and ``signature_only``, and never ``verified`` when
        the identity says its content digests were ``not checked`` (``--quick``; review 62 M1) or
        its signatures were (an SDK range apksigner refuses; review 71 F2): an edit, or a writer
        with that bug, would otherwise show a scheme as verified that nothing verified."""
        for i, app in enumerate(self.apps):
            ident, done = app.identity, app.identity.completeness
            quick = done is not None and done.content_digests == "not checked"
            refused = done is not None and done.signatures == "not checked"
            for name, s in (ident.schemes or {}).items():
                if s.verified and (s.signature_only or quick or refused):
                    why = ("signature_only: true" if s.signature_only else
                           "content_digests: not checked" if quick else "completeness.signatures: not checked")
                    raise DocumentError(MALFORMED, f"scheme {name} verified beside {why}",
                                        ("apps", str(i), "identity", "schemes", name, "verified"))

    def _check_first_verdicts(self) -> None:
        """Each app's ``verdict`` is its first policy's ``verdicts`` entry. ``--fail-on`` reads
        ``verdicts`` (and the counts their most severe): a document where they differ (edited) would
        show a verdict its exit code contradicts, so it is refused (DOCUMENT_MALFORMED).
        A document that names no first policy (``policies: []``, ``policy`` null or the 1.0
        string) is held to the app's own first ``verdicts`` entry (scan order): the check is
        never skipped (review 22 #5)."""
        named = self.first_policy()
        for i, app in enumerate(self.apps):
            if not app.verdicts:
                continue  # 1.0/1.1: ``verdict`` alone
            first = named if named is not None else next(iter(app.verdicts))
            entry = app.verdicts.get(first)
            if entry is None:
                raise DocumentError(MALFORMED, f"no verdict for the first policy {first!r}",
                                    ("apps", str(i), "verdicts"))
            if entry.verdict != app.verdict:
                raise DocumentError(MALFORMED, f"{entry.verdict!r} contradicts the app's verdict {app.verdict!r} "
                                               "(the first policy's)", ("apps", str(i), "verdicts", first, "verdict"))

    def _check_decided_verdicts(self) -> None:
        """A verdict never contradicts what decided it (review 64 F5): the app's ``policy.verdict``
        (the deciding decision) is its ``verdict``, and under each policy the app's verdict is at
        least as severe as each finding's (``decide``: the most severe over the findings), unless
        the allow-list decided it. An edit that rewrites the verdicts and leaves the evidence
        (``allowed`` beside a prohibiting decision and prohibited findings) is refused."""
        for i, app in enumerate(self.apps):
            at = ("apps", str(i))
            pol = app.policy
            if isinstance(pol, Decision) and pol.verdict is not None and pol.verdict != app.verdict:
                raise DocumentError(MALFORMED, f"{app.verdict!r} contradicts the deciding decision's verdict "
                                               f"{pol.verdict!r} (policy/verdict)", (*at, "verdict"))
            for name, verdict, decision, found in _decided(app, self.first_policy()):
                if decision == "allow-list" or not found:
                    continue
                worst = max(found, key=lambda v: VERDICT_RANK.get(v, 0))
                if VERDICT_RANK.get(verdict, 0) < VERDICT_RANK.get(worst, 0):
                    path = (*at, "verdicts", name, "verdict") if name is not None else (*at, "verdict")
                    raise DocumentError(MALFORMED, f"{verdict!r} is less severe than a finding's {worst!r}"
                                                   + (f" under {name!r}" if name else ""), path)

    @classmethod
    def of(cls, doc: ScanDocument | Json) -> ScanDocument:
        """``doc`` itself when already typed, else :meth:`from_dict` of it (renderers take either)."""
        return doc if isinstance(doc, ScanDocument) else cls.from_dict(doc)

    def to_dict(self) -> dict[str, Json]:
        """The JSON document (free-form values such as ``options`` are shared, not copied)."""
        return encode(self)

    def write_json(self, out: TextIO) -> None:
        """``to_dict()`` as ``json.dump(indent=2)`` writes it, byte for byte, one app at a time:
        a 10,000-app document never exists twice in memory."""
        out.write("{")
        keys = self._keys if self._keys is not None else [f.name for f in fields(self) if not f.name.startswith("_")]
        for i, key in enumerate(keys):
            out.write(("\n" if i == 0 else ",\n") + "  " + json.dumps(key, ensure_ascii=False) + ": ")
            if key == "apps" and self.apps:
                for j, app in enumerate(self.apps):
                    out.write(("[\n" if j == 0 else ",\n") + "    " + _dumps(encode(app), 4))
                out.write("\n  ]")
            else:
                value = self._extra[key] if key in self._extra else encode(getattr(self, key))
                out.write(_dumps(value, 2))
        out.write("\n}\n" if keys else "}\n")

    @property
    def quick(self) -> bool:
        """The scan ran with ``--quick``: no content digest was checked."""
        return bool(self.options.get("quick"))

    def policy_names(self) -> list[str]:
        """Every policy in scan order (1.2 ``policies``; else the one ``policy``; else ``policy``)."""
        names = [p.name for p in self.policies if p.name]
        if names:
            return list(dict.fromkeys(names))
        one = self.policy
        name = one.name if isinstance(one, PolicyMeta) else one
        return [name or "policy"]

    def first_policy(self) -> str | None:
        """The first policy's name as the document states it (it gives each app's ``verdict``)."""
        one = self.policy.name if isinstance(self.policy, PolicyMeta) else None
        return next((p.name for p in self.policies if p.name), None) or one

    def stated_policies(self) -> list[str]:
        """Policy names the document states (``--fail-on POLICY:`` must name one of these)."""
        names = [p.name for p in self.policies if p.name]
        first = self.policy.name if isinstance(self.policy, PolicyMeta) else None
        return names or ([first] if first else [])
