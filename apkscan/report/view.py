"""Report rows from the typed scan document (:class:`apkscan.document.ScanDocument`).

Every renderer (HTML, SARIF, CSV, terminal) reads the document through this module: the
document's records are checked once when loaded, so this module only *derives* what a
reader wants to see (publisher, strongest finding, the policy citation, short file names).
Everything read from an APK (labels, names, DNs, paths) stays plain ``str``: escaping is
the renderer's job. A finding's own rows (evidence, citation, claims) are
:mod:`apkscan.report.finding_view`'s, re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apkscan.document import App, Finding, InputError, ScanDocument, Source
from apkscan.document.scan_document import PolicyMeta, RulesMeta, Tool
from apkscan.document.tally import read_as
from apkscan.ranks import STRENGTHS, VERDICTS, display_order
from apkscan.report.detail_view import Detail, detail, issue_rows
from apkscan.report.finding_view import FindingRow, claims_signer_name, finding, fmt, policy_citation
from apkscan.report.lookalike import noted
from apkscan.report.paths import CHAIN_SEPARATOR, outermost_input, short_names
from apkscan.report.policy_view import PolicyVerdict, app_verdicts

CLAIMED = "[name only: not a known vendor key]"  # after a publisher name a finding calls a claim
VERDICT_RANK = display_order(VERDICTS)  # sort keys here: 0 = most severe / strongest first
STRENGTH_RANK = display_order(STRENGTHS)


@dataclass(slots=True)
class SplitRow:
    path: str
    split: str | None
    package: str | None
    sha256: str | None
    verified: bool
    verdict: str
    mismatch: list[str]


@dataclass(slots=True)
class AppRow:
    index: int
    source: str  # the APK path (inside its container, if any)
    container: str | None  # backup / archive / device the APK came from
    package: str | None
    label: str | None
    version: str | None
    version_code: int | str | None
    sha256: str | None  # of the APK file
    verdict: str  # prohibited / review / allowed
    strength: str | None  # strongest finding's strength
    vendors: list[str]
    findings: list[FindingRow]
    publisher: str | None  # O (or CN) of the first *verified* signer; None when unverified
    signer_sha256: str | None  # SHA-256 of the verified signing certificate
    present_sha256: str | None  # first certificate present when no signer verified
    present_publisher: str | None  # its O/CN: shown apart, never as the publisher
    verified: bool
    policy_text: str | None
    policy_url: str | None
    policy_ref: str | None  # policy / decision (authority, date) that made the verdict
    app: App = field(repr=False)
    kinds: list[str] = field(default_factory=list)  # finding kinds, strongest finding's first
    basis: list[str] = field(default_factory=list)  # what the strongest finding's evidence matched on
    signer_debug: bool = False  # the verified signer is an Android debug certificate
    file: str = ""  # shortest path suffix that tells this app's source apart in the run
    outermost: str | None = None  # the input file (device backup, archive, APK) it came from
    verdicts: list[PolicyVerdict] = field(default_factory=list)  # one per policy, scan order
    tamper: list[str] = field(default_factory=list)  # the identity's tamper codes, each once (the row marks them)
    # a recorded app's first recorded certificate (a device's record, never verified here): its
    # SHA-256, its O/CN, and why its recorder could not verify it (None: the recorder's signer)
    recorded: bool = False
    recorded_sha256: str | None = None
    recorded_publisher: str | None = None
    recorded_why: str | None = None
    # the verified signer's name is what a finding calls a claim: a counterfeit certificate, a vendor's
    # subject on a key that is not the vendor's (``subject-present``). Shown marked: a counterfeit key's
    # name must not read like a genuine vendor key's (review 55 F10). Read once per app when the row is
    # made: SARIF asks it for every finding's text (10,000 findings: 100 s, review 90 F3)
    publisher_claimed: bool = False

    def splits(self) -> list[SplitRow]:
        """Split APKs of a bundle (schema 1.1), each with its own verdict and mismatch reasons."""
        return [SplitRow(path=_source(s.source, None, None)[0], split=s.split,
                         package=s.package, sha256=s.sha256, verified=s.verified, verdict=s.verdict,
                         mismatch=list(s.mismatch)) for s in self.app.splits]

    def detail(self) -> Detail:
        d = detail(self.app.identity)
        d.warnings.extend(issue_rows(self.app.warnings))  # scan-level, e.g. --deep DEX reading
        return d

    @property
    def worst(self) -> str:
        """The most severe verdict over every policy of the scan: the app's ``verdict_worst``,
        from the very entries ``--fail-on`` reads (review 86 F1)."""
        return self.app.worst

    @property
    def publisher_shown(self) -> str | None:
        """The publisher with its look-alike note (:func:`apkscan.report.lookalike.note`) and the
        claim marker when :attr:`publisher_claimed`."""
        shown = noted(self.publisher)
        return f"{shown} {CLAIMED}" if self.publisher_claimed else shown

    @property
    def app_bundle(self) -> bool:
        """An Android App Bundle (.aab), not an APK: what devices install is built from it by Play."""
        return self.app.identity.origin == "bundle"

    @property
    def label_shown(self) -> str | None:
        """The label with its look-alike note: ``TikТok [look-alike: Т=U+0422]`` (review 82 F5)."""
        return noted(self.label)

    @property
    def package_shown(self) -> str | None:
        """The package with its look-alike note."""
        return noted(self.package)

    @property
    def present_shown(self) -> str | None:
        """The present (unverified) certificate's O/CN with its look-alike note."""
        return noted(self.present_publisher)

    @property
    def recorded_shown(self) -> str | None:
        """What a signer cell says of a recorded certificate: never a verified signer's words (review 88 F2)."""
        if not self.recorded:
            return None
        name = noted(self.recorded_publisher) or "(no name in the record)"
        if self.recorded_why is None:
            return f"recorded by the device, not verified here: {name}"
        return f"unverified (recorded; its recorder could not verify it): {name}"

    @property
    def flagged(self) -> bool:
        """Prohibited or to review under any policy of the scan."""
        return self.worst in ("prohibited", "review")

    @property
    def where(self) -> str:
        """The app's provenance as one string: ``container ▸ member path`` (a path given itself: the path)."""
        return _where(self.container, self.source)


@dataclass(slots=True)
class ErrorRow:
    source: str
    container: str | None
    code: str
    message: str
    outermost: str | None = None
    partial: bool = False  # the error of a listed app scanned in part (the same input)
    chain: tuple[str, ...] = ()  # outermost input, then member names (custody: paths.custody_of)
    severity: str = "error"  # "warning": every issue of the input is a warning (:func:`entry_severity`)

    @property
    def where(self) -> str:
        """``container ▸ member path``, as :attr:`AppRow.where`."""
        return _where(self.container, self.source)


def _where(container: str | None, path: str) -> str:
    return f"{container}{CHAIN_SEPARATOR}{path}" if container else path


@dataclass(slots=True)
class SkippedRow:
    where: str  # folder or container chain
    reason: str
    count: int
    examples: list[str]
    outermost: str | None = None  # the input (folder or file) the place is in
    chain: tuple[str, ...] = ()  # the place: outermost input, then member names

    @property
    def examples_note(self) -> str:
        """`` (a.txt, b.txt …)`` after a skip's text: its examples, `` …`` when there are more; "" for none."""
        shown = ", ".join(self.examples) + (" …" if self.count > len(self.examples) else "")
        return f" ({shown})" if shown else ""


def skipped(doc: ScanDocument) -> list[SkippedRow]:
    """Files looked at and not scanned, per folder/container and reason (largest first)."""
    out = [SkippedRow(s.where_display or CHAIN_SEPARATOR.join(s.where), s.reason, s.count, list(s.examples[:5]),
                      s.where[0] if s.where else None, tuple(s.where)) for s in doc.skipped]
    return sorted(out, key=lambda r: (-r.count, r.where, r.reason))


@dataclass(slots=True)
class InputFileRow:
    path: str
    kind: str
    size: int | None
    sha256: str | None
    hashed: str | None = None  # where the SHA-256 comes from: "this run", "store ..."; None: not said


def input_files(doc: ScanDocument) -> list[InputFileRow]:
    """Custody records of the outermost input files (schema 1.1)."""
    return [InputFileRow(f.path, f.kind, f.size, f.sha256, f.hashed) for f in doc.input_files]


def _source(source: Source | str, container: str | None, identity_path: str | None) -> tuple[str, str | None]:
    """(path, container) of an app, split or error record; a 1.0 string source is the path."""
    if isinstance(source, Source):
        return source.path, container or source.container
    return source or identity_path or "", container


def _outermost(source: Source | str, path: str, container: str | None) -> str | None:
    """The input file the record came from (:func:`outermost_input`); an APK given directly is its own."""
    where = source if isinstance(source, Source) else Source(path=source)
    return outermost_input(where, container) or path or None


@dataclass(slots=True)
class RunMeta:
    tool: str
    tool_version: str | None
    schema_version: str | None
    started: str | None
    finished: str | None
    scanned: list[str]  # what was scanned (input paths / containers)
    rules: list[tuple[str, str | None]]  # (pack name, version)
    policy: tuple[str, str | None] | None  # (name, version)
    policy_url: str | None
    interrupted: bool = False  # the scan was stopped: the document covers only what finished
    policies: list[str] = field(default_factory=list)  # every policy's name, scan order (first = policy)
    rule_notices: list[str] = field(default_factory=list)  # "<pack>: <what was left out>"
    schema_read_as: str | None = None  # the version the document was read as (1.2: 1.3), tally.read_as


def app_findings(app: App) -> list[FindingRow]:
    """The app's own findings, then each split's (a bundle is one app to Android: a WeChat split
    makes it WeChat's too), each marked with its split's path so no report credits the base."""
    own = [finding(f) for f in app.findings]
    return own + [finding(f, _source(s.source, None, None)[0]) for s in app.splits for f in s.findings]


def _decisive(f: FindingRow) -> tuple[int, int]:
    """Sort key: the finding that made the verdict first (most severe), then the strongest."""
    return VERDICT_RANK.get(f.record.verdict or "", 9), STRENGTH_RANK.get(f.strength or "", 9)


def app_row(index: int, app: App) -> AppRow:
    ident = app.identity
    path, container = _source(app.source, app.container, ident.path)
    findings = app_findings(app)
    ranked = sorted(findings, key=_decisive)
    signer = ident.signers[0] if ident.signers else None
    other = ident.certificates_present[0] if ident.certificates_present and not signer else None
    text, url, ref = policy_citation(app.policy)
    if not text and not ref:  # the verdict-deciding finding carries the policy when the app does not
        decisive = next((f for f in findings if f.policy_text or f.policy_ref), None)
        if decisive:
            text, url, ref = decisive.policy_text, decisive.policy_url, decisive.policy_ref
    publisher = signer.first_attr("O", "CN") if signer else None
    return AppRow(
        index=index, source=path, container=container,
        package=app.package or ident.package, label=app.label or ident.label,
        version=app.version_name or ident.version_name,
        version_code=app.version_code if app.version_code is not None else ident.version_code,
        sha256=app.sha256 or ident.sha256, verdict=app.verdict,
        strength=ranked[0].strength if ranked else None,
        vendors=sorted({f.vendor for f in findings if f.vendor}), findings=findings,
        publisher=publisher, publisher_claimed=bool(publisher) and any(claims_signer_name(f) for f in findings),
        signer_sha256=signer.sha256 if signer else None,
        present_sha256=other.sha256 if other else None,
        present_publisher=other.first_attr("O", "CN") if other else None,
        verified=ident.verified and bool(signer),
        policy_text=text, policy_url=url, policy_ref=ref, app=app,
        kinds=list(dict.fromkeys(f.kind or "match" for f in ranked)),
        basis=_bases(ranked[0].record) if ranked else [],
        signer_debug=bool(signer and signer.is_android_debug),
        file=path, outermost=_outermost(app.source, path, container),
        tamper=list(dict.fromkeys(i.code for i in ident.tamper)), **_recorded(ident))


def _recorded(ident) -> dict:
    """The AppRow fields of a recorded app's first recorded certificate: a recorded signer before
    one its recorder could not verify."""
    cert = next(iter(ident.recorded_certificates or ident.recorded_unverified), None)
    if cert is None:
        return {}
    return {"recorded": True, "recorded_sha256": cert.sha256 or None, "recorded_publisher": cert.first_attr("O", "CN"),
            "recorded_why": getattr(cert, "why", None)}


_BASIS_LABELS = {"certificate-unknown": "certificate (not the vendor's)",
                "subject": "self-asserted subject"}  # a name only: no key of the vendor is known (review 65 M2)


def _bases(f: Finding) -> list[str]:
    """What the finding's evidence matched on, read from its ``basis`` field (never from free
    text): an impersonation's key (``certificate-unknown``) reads ``certificate (not the vendor's)``."""
    if not isinstance(f.evidence, tuple):
        return []
    return list(dict.fromkeys(_BASIS_LABELS.get(e.basis, e.basis) for e in f.evidence if e.basis))


def apps(doc: ScanDocument) -> list[AppRow]:
    rows = [app_row(i, a) for i, a in enumerate(doc.apps)]
    chains = [r.where for r in rows]  # the container takes part: two devices' base.apk differ
    names = short_names(chains, {c for c, r in zip(chains, rows) if r.container is not None})
    policies = doc.policy_names()
    for r, chain in zip(rows, chains):
        r.file = names.get(chain, r.file)
        r.verdicts = app_verdicts(r.app, policies)
    return rows


def errors(doc: ScanDocument) -> list[ErrorRow]:
    """Inputs with problems: the document's ``errors`` list."""
    return [_error_row(e) for e in doc.errors]


def entry_severity(e: InputError) -> str:
    """How every output names an entry of ``errors``: "warning" when each of its issues is a
    warning (a listing past its cap, lines not understood, an empty backup: the input was read,
    what it holds may be incomplete), else "error". The exit code does not change with it (3)."""
    said = [getattr(i.severity, "value", i.severity) for i in e.errors]
    return "warning" if said and all(s == "warning" for s in said) else "error"


def _error_row(e: InputError) -> ErrorRow:
    path, container = _source(e.source, e.container, None)
    code = e.code or (e.errors[0].code if e.errors else None) or "INPUT_ERROR"
    message = e.message or "; ".join(i.message for i in e.errors)
    return ErrorRow(source=path, container=container, code=code, message=message,
                    outermost=_outermost(e.source, path, container), partial=e.partial, chain=e.where.chain,
                    severity=entry_severity(e))


def _rules(rules: RulesMeta | None) -> list[tuple[str, str | None]]:
    return [(p.name, p.version) for p in rules.packs] if rules else []


def policy_records(doc: ScanDocument) -> tuple[PolicyMeta, ...]:
    """The run's policies as records (a 1.0/1.1 document: its one ``policy``)."""
    if doc.policies:
        return doc.policies
    return (doc.policy,) if isinstance(doc.policy, PolicyMeta) else ()


def meta(doc: ScanDocument) -> RunMeta:
    tool = doc.tool
    name, version = ((tool.name or "apkscan", tool.version) if isinstance(tool, Tool)
                     else (tool or "apkscan", None))
    pol = doc.policy
    policy, policy_url = None, None
    if isinstance(pol, PolicyMeta):
        pname = pol.name or "policy"
        policy = (f"{pname}: {pol.title}" if pol.title else pname, pol.version)
        policy_url = pol.url
    elif pol:
        policy = (pol, None)
    return RunMeta(
        tool=name, tool_version=version, schema_version=doc.schema_version,
        started=doc.started_at or None, finished=doc.finished_at or None,
        scanned=[s if isinstance(s, str) else fmt(s.get("path")) for s in doc.inputs],
        rules=_rules(doc.rules), policy=policy, policy_url=policy_url,
        rule_notices=[f"{p.name}: {n}" for p in (doc.rules.packs if doc.rules else ()) for n in p.notices]
        + [f"policy {p.name}: {n}" for p in policy_records(doc) for n in p.notices],
        interrupted=doc.interrupted, policies=doc.policy_names(), schema_read_as=read_as(doc.schema_version))


@dataclass(slots=True)
class RuleRow:
    id: str
    vendor: str | None
    description: str | None
    pack: str | None
    pack_version: str | None


def rule_catalog(doc: ScanDocument, rows: list[AppRow]) -> dict[str, RuleRow]:
    """Rule id -> description, from the rule packs in the metadata, then from findings."""
    catalog: dict[str, RuleRow] = {}
    for pack in doc.rules.packs if doc.rules else ():
        for r in pack.rules:
            if r.id:
                catalog[r.id] = RuleRow(r.id, r.vendor or pack.vendor, r.description, pack.name, pack.version)
    for row in rows:
        for f in row.findings:
            catalog.setdefault(f.rule, RuleRow(f.rule, f.vendor, f.app, None, None))
    return catalog


def counts(rows: list[AppRow], errs: list[ErrorRow]) -> dict[str, int]:
    """The run's counts as the JSON ``counts``: apps by their most severe verdict over the policies
    (one policy: its verdict), so a summary never reads 0 prohibited where the exit code is 1."""
    out = {v: 0 for v in VERDICTS}
    for r in rows:
        out[r.worst] = out.get(r.worst, 0) + 1
    out["warnings"] = sum(e.severity == "warning" for e in errs)  # inputs with warnings only
    out["errors"] = len(errs) - out["warnings"]
    out["total"] = len(rows) + sum(not e.partial for e in errs)  # a partial scan: one input
    return out
