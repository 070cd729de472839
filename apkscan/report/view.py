"""Adapter from the scan result *document* (what ``--json`` writes) to report rows.

Every renderer (HTML, SARIF, CSV, terminal) reads the document only through this
module, so a renamed field in ``scan.py`` is a one-line fix here,
and a JSON file saved on a cluster re-renders anywhere. Everything read from an APK
(labels, names, DNs, paths) stays plain ``str``: escaping is the renderer's job.
Missing or malformed fields degrade to ``None``/empty rather than raising, because a
report of a partly broken scan is still worth reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apkscan.ranks import STRENGTHS, VERDICTS, display_order
from apkscan.report.coerce import _d, _l, _s, _strs
from apkscan.report.detail_view import Detail, _issues, detail, first_attr
from apkscan.report.paths import short_names
from apkscan.report.policy_view import PolicyVerdict, app_verdicts, policy_names, worst

VERDICT_RANK = display_order(VERDICTS)  # sort keys here: 0 = most severe / strongest first
STRENGTH_RANK = display_order(STRENGTHS)


@dataclass(slots=True)
class Finding:
    rule: str
    vendor: str | None
    app: str | None
    strength: str | None
    kind: str | None
    evidence: list[tuple[str, str, str]]  # (field, value, note: basis / matched / verified)
    policy_text: str | None
    policy_url: str | None
    policy_ref: str | None
    message: str | None
    raw: dict


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
    verdict: str  # prohibited / review / allowed / unknown
    strength: str | None  # strongest finding's strength
    vendors: list[str]
    findings: list[Finding]
    publisher: str | None  # O (or CN) of the first *verified* signer; None when unverified
    signer_sha256: str | None  # SHA-256 of the verified signing certificate
    present_sha256: str | None  # first certificate present when no signer verified
    present_publisher: str | None  # its O/CN: shown apart, never as the publisher
    verified: bool
    policy_text: str | None
    policy_url: str | None
    policy_ref: str | None  # policy / decision (authority, date) that made the verdict
    identity: dict
    raw: dict = field(repr=False)
    kinds: list[str] = field(default_factory=list)  # finding kinds, strongest finding's first
    basis: list[str] = field(default_factory=list)  # what the strongest finding's evidence matched on
    signer_debug: bool = False  # the verified signer is an Android debug certificate
    file: str = ""  # shortest path suffix that tells this app's source apart in the run
    outermost: str | None = None  # the input file (device backup, archive, APK) it came from
    verdicts: list[PolicyVerdict] = field(default_factory=list)  # one per policy, scan order

    def splits(self) -> list[SplitRow]:
        """Split APKs of a bundle (schema 1.1), each with its own verdict and mismatch reasons."""
        out = []
        for raw in _l(self.raw.get("splits")):
            raw = _d(raw)
            path, container = _source(raw)
            out.append(SplitRow(path=path, split=_s(raw.get("split")), package=_s(raw.get("package")),
                                sha256=_s(raw.get("sha256")), verified=bool(raw.get("verified")),
                                verdict=_s(raw.get("verdict")) or "unknown", mismatch=_strs(raw.get("mismatch"))))
        return out

    def detail(self) -> Detail:
        d = detail(self.identity)
        d.warnings.extend(_issues(self.raw.get("warnings")))  # scan-level, e.g. --deep DEX reading
        return d

    @property
    def worst(self) -> str:
        """The most severe verdict over every policy of the scan."""
        return worst(self.verdicts, self.verdict)

    @property
    def flagged(self) -> bool:
        """Prohibited or to review under any policy of the scan."""
        return self.worst in ("prohibited", "review")


@dataclass(slots=True)
class ErrorRow:
    source: str
    container: str | None
    code: str
    message: str
    outermost: str | None = None


@dataclass(slots=True)
class SkippedRow:
    where: str  # folder or container chain
    reason: str
    count: int
    examples: list[str]


def skipped(doc: dict) -> list[SkippedRow]:
    """Files looked at and not scanned, per folder/container and reason (largest first)."""
    out = []
    for raw in _l(_d(doc).get("skipped")):
        raw = _d(raw)
        where = _s(raw.get("where_display")) or " ▸ ".join(_strs(raw.get("where"))) or ""
        count = raw.get("count") if isinstance(raw.get("count"), int) else 1
        out.append(SkippedRow(where, _s(raw.get("reason")) or "", count, _strs(raw.get("examples"))[:5]))
    return sorted(out, key=lambda r: (-r.count, r.where, r.reason))


@dataclass(slots=True)
class InputFileRow:
    path: str
    kind: str
    size: int | None
    sha256: str | None


def input_files(doc: dict) -> list[InputFileRow]:
    """Custody records of the outermost input files (schema 1.1)."""
    out = []
    for raw in _l(_d(doc).get("input_files")):
        raw = _d(raw)
        size = raw.get("size") if isinstance(raw.get("size"), int) else None
        out.append(InputFileRow(_s(raw.get("path")) or "", _s(raw.get("kind")) or "", size, _s(raw.get("sha256"))))
    return out


def outermost(raw: dict) -> str | None:
    """The outermost input of an app or error record (schema 1.1), else its container or path."""
    src = raw.get("source")
    if isinstance(src, dict) and _s(src.get("outermost")):
        return _s(src.get("outermost"))
    path, container = _source(raw)
    return container or path or None


@dataclass(slots=True)
class RunMeta:
    tool: str
    tool_version: str | None
    schema_version: str | None
    started: str | None
    finished: str | None
    scanned: list[str]  # what was scanned (input paths / containers)
    rules: list[tuple[str, str | None]]  # (pack or rule set name, version)
    policy: tuple[str, str | None] | None  # (name, version)
    policy_url: str | None
    interrupted: bool = False  # the scan was stopped: the document covers only what finished
    policies: list[str] = field(default_factory=list)  # every policy's name, scan order (first = policy)


def _source(raw: dict) -> tuple[str, str | None]:
    src = raw.get("source")
    container = _s(raw.get("container"))
    if isinstance(src, dict):
        container = container or _s(src.get("container") or src.get("device") or src.get("backup"))
        path = _s(src.get("path") or src.get("member") or src.get("name")) or ""
        return path, container
    path = _s(src) or _s(_d(raw.get("identity")).get("path")) or ""
    return path, container


def _evidence(value: Any) -> list[tuple[str, str, str]]:
    if isinstance(value, dict):
        return [(str(k), _fmt(v), "") for k, v in value.items()]
    out = []
    for item in _l(value):
        if isinstance(item, dict):
            name = item.get("field", item.get("name", ""))
            note = [_fmt(item.get("basis"))] if item.get("basis") else []
            if item.get("matched"):
                note.append(f"matched {_fmt(item.get('matched'))}")
            if item.get("verified") is not None:
                note.append("verified signer" if item.get("verified") else "present only, not verified")
            if item.get("confidence"):
                note.append(f"confidence {_fmt(item.get('confidence'))}")
            if item.get("normalised"):
                note.append(f"normalised {_fmt(item.get('normalised'))}")
            if item.get("locale") is not None:
                note.append(f"locale {_fmt(item.get('locale')) or 'default'}")
            if item.get("location"):
                note.append(f"at {_fmt(item.get('location'))}")
            out.append((str(name), _fmt(item.get("value", item.get("values"))), "; ".join(note)))
        else:
            out.append(("", _fmt(item), ""))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


def _policy(raw: dict) -> tuple[str | None, str | None, str | None]:
    """(text, url, reference) of the policy decision behind a verdict.

    The reference names the policy, the decision and its authority and date, e.g.
    ``canada-tbs-2023 / tbs-2023-10-wechat (Treasury Board, 2023-10-30)``.
    """
    pol = raw.get("policy")
    if isinstance(pol, dict):
        name = " / ".join(x for x in (_s(pol.get("policy") or pol.get("name")),
                                      _s(pol.get("decision"))) if x)
        extra = ", ".join(x for x in (_s(pol.get("authority")), _s(pol.get("date"))) if x)
        ref = f"{name} ({extra})" if name and extra else (name or extra or None)
        text = _s(pol.get("text") or pol.get("reason"))
        return (text.strip() if text else None), _s(pol.get("url")), ref
    return _s(pol or raw.get("policy_text") or raw.get("reason")), _s(raw.get("policy_url")), None


def finding(raw: dict) -> Finding:
    raw = _d(raw)
    text, url, ref = _policy(raw)
    return Finding(
        rule=_s(raw.get("rule") or raw.get("rule_id")) or "unknown-rule",
        vendor=_s(raw.get("vendor")),
        app=_s(raw.get("app")),
        strength=_s(raw.get("strength")),
        kind=_s(raw.get("kind")),
        evidence=_evidence(raw.get("evidence")),
        policy_text=text,
        policy_url=url,
        policy_ref=ref,
        message=_s(raw.get("message") or raw.get("description")),
        raw=raw,
    )


def app_row(index: int, raw: dict) -> AppRow:
    raw = _d(raw)
    ident = _d(raw.get("identity"))
    path, container = _source(raw)
    findings = [finding(f) for f in _l(raw.get("findings"))]
    strengths = sorted((f.strength for f in findings if f.strength),
                       key=lambda s: STRENGTH_RANK.get(s, 9))
    vendors = sorted({f.vendor for f in findings if f.vendor})
    signers = [_d(c) for c in _l(ident.get("signers"))]
    present = [_d(c) for c in _l(ident.get("certificates_present"))]
    signer = signers[0] if signers else None
    other = present[0] if present and not signer else None
    verdict = _s(raw.get("verdict")) or "unknown"
    ranked = sorted(findings, key=lambda f: STRENGTH_RANK.get(f.strength or "", 9))
    text, url, ref = _policy(raw)
    if not text and not ref:  # the verdict-deciding finding carries the policy when the app does not
        decisive = next((f for f in findings if f.policy_text or f.policy_ref), None)
        if decisive:
            text, url, ref = decisive.policy_text, decisive.policy_url, decisive.policy_ref
    return AppRow(
        index=index,
        source=path,
        container=container,
        package=_s(raw.get("package") or ident.get("package")),
        label=_s(raw.get("label") or ident.get("label")),
        version=_s(raw.get("version_name") or ident.get("version_name")),
        version_code=raw.get("version_code", ident.get("version_code")),
        sha256=_s(raw.get("sha256") or ident.get("sha256")),
        verdict=verdict,
        strength=strengths[0] if strengths else None,
        vendors=vendors,
        findings=findings,
        publisher=first_attr(signer, "O", "CN") if signer else None,
        signer_sha256=_s(signer.get("sha256")) if signer else None,
        present_sha256=_s(other.get("sha256")) if other else None,
        present_publisher=first_attr(other, "O", "CN") if other else None,
        verified=bool(ident.get("verified")) and bool(signer),
        policy_text=text,
        policy_url=url,
        policy_ref=ref,
        identity=ident,
        raw=raw,
        kinds=list(dict.fromkeys(f.kind or "match" for f in ranked)),
        basis=list(dict.fromkeys(b for b in (_basis(e) for e in ranked[0].raw.get("evidence") or [])
                                 if b)) if ranked else [],
        signer_debug=bool(signer and signer.get("is_android_debug")),
        file=path,
        outermost=outermost(raw),
    )


_BASIS_LABELS = {"certificate-unknown": "certificate (not the vendor's)"}


def _basis(item: Any) -> str | None:
    """The evidence's ``basis``, read from that structured field (never from free text):
    an impersonation's key (``certificate-unknown``) reads ``certificate (not the vendor's)``."""
    if not isinstance(item, dict) or not item.get("basis"):
        return None
    basis = _fmt(item.get("basis"))
    return _BASIS_LABELS.get(basis, basis)


def apps(doc: dict) -> list[AppRow]:
    rows = [app_row(i, a) for i, a in enumerate(_l(_d(doc).get("apps")))]
    names = short_names([r.file for r in rows])
    policies = policy_names(doc)
    for r in rows:
        r.file = names.get(r.file, r.file)
        r.verdicts = app_verdicts(r.raw, policies)
    return rows


def errors(doc: dict) -> list[ErrorRow]:
    """Inputs that could not be scanned: the document's ``errors`` list."""
    out = []
    for raw in _l(_d(doc).get("errors")):
        raw = _d(raw)
        path, container = _source(raw)
        issues = _l(raw.get("errors"))
        code = _s(raw.get("code")) or (issues and _s(_d(issues[0]).get("code"))) or "INPUT_ERROR"
        message = _s(raw.get("message")) or "; ".join(
            _s(_d(i).get("message")) or "" for i in issues) or ""
        out.append(ErrorRow(source=path or _s(raw.get("path")) or "", container=container,
                            code=code, message=message, outermost=outermost(raw)))
    return out


def _versioned(value: Any) -> list[tuple[str, str | None]]:
    if isinstance(value, dict) and ("packs" in value or "name" in value):
        packs = _l(value.get("packs"))
        if packs:
            return [(_s(_d(p).get("name") or _d(p).get("id")) or "?", _s(_d(p).get("version")))
                    for p in packs]
        return [(_s(value.get("name")) or "rules", _s(value.get("version")))]
    if isinstance(value, dict):  # {"tencent": "2024.1", ...}
        return [(str(k), _s(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [pair for v in value for pair in _versioned(v)]
    if isinstance(value, str):
        return [(value, None)]
    return []


def meta(doc: dict) -> RunMeta:
    doc = _d(doc)
    tool = doc.get("tool")
    tool_name, tool_version = ("apkscan", _s(doc.get("tool_version")))
    if isinstance(tool, dict):
        tool_name = _s(tool.get("name")) or tool_name
        tool_version = _s(tool.get("version")) or tool_version
    elif isinstance(tool, str):
        tool_name = tool
    pol = doc.get("policy")
    policy = None
    policy_url = None
    if isinstance(pol, dict):
        name = _s(pol.get("name") or pol.get("id")) or "policy"
        title = _s(pol.get("title"))
        policy = (f"{name}: {title}" if title else name, _s(pol.get("version")))
        policy_url = _s(pol.get("url"))
    elif isinstance(pol, str):
        policy = (pol, _s(doc.get("policy_version")))
    scanned = doc.get("inputs", doc.get("scanned"))
    return RunMeta(
        tool=tool_name,
        tool_version=tool_version,
        schema_version=_s(doc.get("schema_version")),
        started=_s(doc.get("started_at") or doc.get("started") or doc.get("time")),
        finished=_s(doc.get("finished_at") or doc.get("finished")),
        scanned=[_s(s if not isinstance(s, dict) else s.get("path")) or "" for s in _l(scanned)]
        if isinstance(scanned, list) else ([scanned] if isinstance(scanned, str) else []),
        rules=_versioned(doc.get("rules")),
        policy=policy,
        policy_url=policy_url,
        interrupted=doc.get("interrupted") is True,
        policies=policy_names(doc),
    )


def rule_catalog(doc: dict, rows: list[AppRow]) -> dict[str, dict]:
    """Rule id -> description, from the rule packs in the metadata, then from findings."""
    catalog: dict[str, dict] = {}
    rules = _d(doc).get("rules")
    for pack in _l(_d(rules).get("packs")) if isinstance(rules, dict) else []:
        for r in _l(_d(pack).get("rules")):
            r = _d(r)
            rid = _s(r.get("id") or r.get("rule"))
            if rid:
                catalog[rid] = {"id": rid, "vendor": _s(r.get("vendor") or _d(pack).get("vendor")),
                                "description": _s(r.get("description") or r.get("name")),
                                "pack": _s(_d(pack).get("name")),
                                "pack_version": _s(_d(pack).get("version"))}
    for row in rows:
        for f in row.findings:
            catalog.setdefault(f.rule, {"id": f.rule, "vendor": f.vendor, "description": f.app,
                                        "pack": None, "pack_version": None})
    return catalog


def counts(rows: list[AppRow], errs: list[ErrorRow]) -> dict[str, int]:
    out = {v: 0 for v in VERDICTS}
    for r in rows:
        out[r.verdict] = out.get(r.verdict, 0) + 1
    out["errors"] = len(errs)
    out["total"] = len(rows) + len(errs)
    return out
