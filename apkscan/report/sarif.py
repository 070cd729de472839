"""SARIF 2.1.0 output: one result per finding, for code-scanning dashboards and SIEMs.

Why SARIF for binaries: pipelines already ingest it, dedupe it and track it over time.
Mapping: a rule of a vendor pack is a ``reportingDescriptor``; a finding is a
``result`` whose level follows the app's verdict (prohibited -> error, review ->
warning, allowed -> note); its location names the APK and, when the APK came out of
a backup or archive, the container as the artifact's parent (SARIF's nested
artifacts). Inputs that could not be scanned (level ``error``) or were read with warnings only
(level ``warning``: a listing past its cap), and files skipped (per place and reason), become
tool execution notifications, so "not scanned" is never mistaken for "clean". An app that is
not allowed without any finding (a policy's ``default``, e.g. an allow-list) is one result of
the rule ``apkscan.policy-default``: pipelines gate on results, and a banned app must be one.
Artifacts: every outermost input file with its size and SHA-256 (custody), each container along an
APK's chain nested in the one it came out of, then each APK keyed by its bytes too (two members of one name are two artifacts, each with its own hash).
With several policies, a result's ``properties.verdicts`` carries every policy's verdict
for the app (and for the finding, with its decision); ``level`` follows the most severe
of them (``properties.verdictWorst``, the JSON's ``verdict_worst``), and ``properties.verdict``
stays the first policy's. A recorded app (a device's record, no APK) has no verified signer: its
result names the recorded certificate (``properties.recordedCertificate`` and the message), whose
word it is and that apkscan never verified it (:mod:`apkscan.report.recorded_view`, review 90).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from apkscan.document import Decision, ScanDocument
from apkscan.document.codec import encode
from apkscan.report import caveats, recorded_view, view
from apkscan.report.paths import folder_file
from apkscan.report.policy_view import finding_verdicts
from apkscan.report.sarif_text import plain_text, uri

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"prohibited": "error", "review": "warning", "allowed": "note"}
RANK = {"confirmed": 95.0, "strong": 75.0, "weak": 40.0}  # SARIF rank: 0..100, higher = surer


def _rules(catalog: dict[str, view.RuleRow]) -> tuple[list[dict], dict[str, int]]:
    rules, index = [], {}
    for rid in sorted(catalog):
        r = catalog[rid]
        desc = r.description or rid
        rules.append({
            "id": rid,
            "name": rid.replace(".", "_").replace("-", "_"),
            "shortDescription": {"text": f"{r.vendor}: {desc}" if r.vendor else desc},
            "properties": {k: v for k, v in (("vendor", r.vendor), ("pack", r.pack),
                                             ("packVersion", r.pack_version)) if v},
        })
        index[rid] = len(rules) - 1
    return rules, index


POLICY_DEFAULT = "apkscan.policy-default"  # the rule of a result for a verdict no finding gave
SKIPPED = "apkscan.input-skipped"  # the descriptor of a notification for skipped files


def _apk_key(a: view.AppRow) -> tuple:
    return ("apk", a.container, a.source, a.sha256)


def _artifacts(apps: list[view.AppRow], inputs: list[view.InputFileRow],
               app_codes: dict[int, dict[str, list[str]]]) -> tuple[list[dict], dict[tuple, int]]:
    """Input files first (custody: size and SHA-256), then containers that are no input file,
    then APKs with ``parentIndex`` pointing at their container (an APK given itself is its
    input file's artifact when the bytes agree)."""
    artifacts: list[dict] = []
    index: dict[tuple, int] = {}
    for f in inputs:
        art: dict[str, Any] = {"location": {"uri": uri(f.path)}, "roles": ["analysisTarget"]}
        if f.size is not None and f.size >= 0:
            art["length"] = f.size
        if f.sha256:
            art["hashes"] = {"sha-256": f.sha256}
        art["properties"] = {"kind": f.kind, **({"hashed": f.hashed} if f.hashed else {})}
        index.setdefault(("container", f.path), len(artifacts))
        index.setdefault(("input", f.path), len(artifacts))
        artifacts.append(art)
    for a in apps:
        codes = app_codes[a.index]  # an allowed app with tamper indicators has no result: its artifact says them
        if not (a.findings or a.worst != "allowed" or codes):
            continue
        key = _apk_key(a)
        if key in index:
            continue
        chain = a.app.where.chain
        same = (index.get(("container", a.source)) if a.container is None
                else _custody_index(chain, index) if len(chain) == 2 else None)
        if same is not None and not _same_bytes(artifacts[same], a):
            same = None
        parent = None if a.container is None or same is not None else _container(a, artifacts, index)
        if same is not None:
            if a.sha256 or a.container is None:
                artifacts[same]["mimeType"] = "application/vnd.android.package-archive"
            artifacts[same]["properties"].update(codes)
            index[key] = same
            continue
        art = {"location": {"uri": uri(a.source, a.container is not None)}, "roles": ["analysisTarget"],
               "mimeType": "application/vnd.android.package-archive"}
        if parent is not None:
            art["parentIndex"] = parent
        if a.sha256:
            art["hashes"] = {"sha-256": a.sha256}
        if codes:
            art["properties"] = dict(codes)
        index[key] = len(artifacts)
        artifacts.append(art)
    return artifacts, index


def _container(a: view.AppRow, artifacts: list[dict], index: dict[tuple, int]) -> int:
    """The artifact index of ``a``'s container, made when missing: each container along the
    provenance chain is its own artifact, a member named relative to the one it came out of
    (``parentIndex``), so ``backup.zip ▸ data/x.tar ▸ a.apk`` is three nested artifacts, not one
    URI holding the chain separator. A saved document without a chain: the container as named."""
    chain = a.app.where.chain
    if len(chain) < 2 or view.CHAIN_SEPARATOR.join(chain[:-1]) != a.container:
        return _artifact(("container", a.container), {"uri": uri(a.container)}, None, artifacts, index)
    at, start = _custody_index(chain, index), 2  # a backup folder's file: its custody artifact
    if at is None:
        at, start = _artifact(("container", chain[0]), {"uri": uri(chain[0])}, None, artifacts, index), 1
    for depth in range(start, len(chain) - 1):
        key = ("container", view.CHAIN_SEPARATOR.join(chain[:depth + 1]))
        at = _artifact(key, {"uri": uri(chain[depth], True)}, at, artifacts, index)
    return at


def _same_bytes(art: dict, a: view.AppRow) -> bool:
    """An app's own input file artifact: an APK given itself whose bytes agree (or were not
    hashed), an APK met in a backup folder with the same SHA-256, or a record (no APK bytes)
    read from that file (``packages.json``)."""
    sha = art.get("hashes", {}).get("sha-256")
    if a.container is None:
        return sha in (None, a.sha256)
    return sha == a.sha256 if a.sha256 else a.app.identity.origin != "apk"


def _custody_index(chain: tuple[str, ...], index: dict[tuple, int]) -> int | None:
    """The input-file artifact of a file met in a backup folder along ``chain`` (a folder has no
    custody record), joined as :func:`paths.custody_of` joins it, so SARIF and CSV name the same
    hashed file (review 62 M2); None when the chain starts at an input file."""
    if len(chain) < 2 or ("input", chain[0]) in index:
        return None
    return index.get(("input", folder_file(chain)))


def _artifact(key: tuple, location: dict, parent: int | None, artifacts: list[dict],
              index: dict[tuple, int]) -> int:
    if key not in index:
        index[key] = len(artifacts)
        art: dict[str, Any] = {"location": location, "roles": ["analysisTarget"]}
        if parent is not None:
            art["parentIndex"] = parent
        artifacts.append(art)
    return index[key]


def _message(a: view.AppRow, f: view.FindingRow) -> str:
    """The alert text dashboards show: the most severe verdict first, with the policy that gives it
    when there are several (review 46 #5: the first policy's "Allowed" under level ``error``)."""
    who = a.publisher_shown or (f"unverified ({a.present_shown})" if a.present_publisher else
                                 f"unverified ({recorded_view.said_with_key(a)})" if a.recorded else "unverified")
    where = f"found in split APK {f.split} of this bundle" if f.split else f"signer {who}"  # a split has its own signer
    by = next((pv.policy for pv in a.verdicts if pv.verdict == a.worst), None) if len(a.verdicts) > 1 else None
    verdict = a.worst.capitalize() + (f" (policy {by})" if by else "")
    return plain_text(f"{verdict}: {a.label_shown or '(no label)'} ({a.package_shown or 'no package'}) "
                      f"{f.kind or 'match'} of {f.vendor or '?'} {f.app or ''} rule {f.rule}, "
                      f"strength {f.strength or '?'}, {where}").replace("  ", " ")


def _utc_time(value: str | None) -> bool:
    """An ISO 8601 date-time with its offset (what apkscan writes), as SARIF's ``date-time`` wants."""
    from datetime import datetime

    try:
        return bool(value) and datetime.fromisoformat(value).tzinfo is not None
    except (TypeError, ValueError):
        return False


def _location(a: view.AppRow, art_index: int) -> dict[str, Any]:
    return {
        "physicalLocation": {"artifactLocation": {"uri": uri(a.source, a.container is not None), "index": art_index}},
        "logicalLocations": [{"name": a.package or a.source, "kind": "module",
                              **({"fullyQualifiedName": f"{a.container}!/{a.source}"}
                                 if a.container else {})}],
    }


def _result(a: view.AppRow, f: view.FindingRow, rule_index: int, art_index: int, codes: dict[str, list[str]]) -> dict:
    loc = _location(a, art_index)
    props: dict[str, Any] = {"verdict": a.verdict, "verdictWorst": a.worst, "strength": f.strength, "kind": f.kind,
                             "vendor": f.vendor, "app": f.app, "package": a.package,
                             "label": a.label, "signerVerified": a.verified,
                             "signerSha256": a.signer_sha256, "publisher": a.publisher,
                             "recordedCertificate": recorded_view.properties(a),  # never verified (review 90)
                             "evidence": encode(f.record.evidence) if isinstance(f.record.evidence, tuple)
                             else [{"field": k, "value": v} for k, v, _ in f.evidence]}
    if a.container:
        props["container"] = a.container
    if f.split:  # a split's finding carried to its bundle's app: which split
        props["split"] = f.split
    props["verdicts"] = _verdicts(a, f)
    props.update(codes)  # tamper indicators, signature errors: as CSV's columns
    chain = a.app.where.chain
    if len(chain) > 1:
        props["chain"] = list(chain)  # outermost input first, then member names
    if isinstance(f.record.policy, Decision):
        props["policy"] = encode(f.record.policy)
    elif f.policy_text or a.policy_text or a.policy_ref:
        props["policy"] = {"text": f.policy_text or a.policy_text,
                           "url": f.policy_url or a.policy_url, "decision": a.policy_ref}
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": LEVELS.get(a.worst, "warning"),
        "message": {"text": _message(a, f)},
        "locations": [loc],
        "partialFingerprints": {"apkSha256/v1": a.sha256 or "", "rule/v1": f.rule},
        "properties": {k: v for k, v in props.items() if v is not None},
    }
    if f.split:  # two splits may match one rule: each its own result
        result["partialFingerprints"]["split/v1"] = f.split
    if f.strength in RANK:
        result["rank"] = RANK[f.strength]
    if not a.sha256:
        del result["partialFingerprints"]["apkSha256/v1"]
    return result


def _verdicts(a: view.AppRow, f: view.FindingRow) -> dict[str, dict[str, Any]]:
    """Each policy: the app's verdict and its citation, and what this finding got under it."""
    of_finding = finding_verdicts(f.record)
    out = {}
    for pv in a.verdicts:
        entry = {"verdict": pv.verdict, "decision": pv.decision, "url": pv.url}
        if pv.policy in of_finding:
            entry["findingVerdict"], entry["findingDecision"] = of_finding[pv.policy]
        out[pv.policy] = {k: v for k, v in entry.items() if v is not None}
    return out


def _default_result(a: view.AppRow, rule_index: int, art_index: int, codes: dict[str, list[str]]) -> dict:
    """The one result of an app that is not allowed with no finding: its verdict is a policy's
    ``default`` (an allow-list's ``default: prohibited``), or a decision that needs no finding."""
    by = next((pv for pv in a.verdicts if pv.verdict == a.worst), None)
    how = (f"by policy {by.policy} " + (f"decision {by.decision}" if by.decision else "default")) if by else "by the policy"
    text = (f"{a.worst.capitalize()}: {a.label_shown or '(no label)'} ({a.package_shown or 'no package'}) "
            f"{how} (no finding)" + (f"; {recorded_view.said_with_key(a)}" if a.recorded else ""))
    props: dict[str, Any] = {"verdict": a.verdict, "verdictWorst": a.worst, "package": a.package, "label": a.label,
                             "signerVerified": a.verified, "signerSha256": a.signer_sha256,
                             "publisher": a.publisher, "container": a.container,
                             "recordedCertificate": recorded_view.properties(a),
                             "verdicts": {pv.policy: {k: v for k, v in (("verdict", pv.verdict), ("decision", pv.decision),
                                                                        ("url", pv.url)) if v is not None}
                                          for pv in a.verdicts}}
    props.update(codes)
    result: dict[str, Any] = {
        "ruleId": POLICY_DEFAULT, "ruleIndex": rule_index, "kind": "fail",
        "level": LEVELS.get(a.worst, "warning"), "message": {"text": plain_text(text)},
        "locations": [_location(a, art_index)],
        "partialFingerprints": {"rule/v1": POLICY_DEFAULT, **({"apkSha256/v1": a.sha256} if a.sha256 else {})},
        "properties": {k: v for k, v in props.items() if v is not None},
    }
    return result


def _codes(a: view.AppRow) -> dict[str, list[str]]:
    """The app's tamper indicators and signature / read errors, each code once (as CSV lists them)."""
    d = a.detail()
    out = {"tamper": list(dict.fromkeys(i.code for i in d.tamper)),
           "errors": list(dict.fromkeys(i.code for i in d.errors))}
    return {k: v for k, v in out.items() if v}


def _skipped_notifications(skipped: list[view.SkippedRow]) -> list[dict]:
    """One warning per (place, reason) of files looked at and not scanned, with count and examples."""
    return [{"level": "warning", "descriptor": {"id": SKIPPED},
             "message": {"text": plain_text(f"skipped {s.count} in {s.where or '(inputs)'}: {s.reason}{s.examples_note}")},
             "properties": {"where": s.where, "reason": s.reason, "count": s.count, "examples": list(s.examples)}}
            for s in skipped]


def document(doc: ScanDocument | dict) -> dict:
    """The SARIF log (a dict) for a scan document (typed, or its JSON: checked first)."""
    doc = ScanDocument.of(doc)
    meta = view.meta(doc)
    apps = view.apps(doc)
    errors = view.errors(doc)
    rules, rule_index = _rules(view.rule_catalog(doc, apps))
    defaults = [a for a in apps if not a.findings and a.worst != "allowed"]
    if defaults:
        rules.append({"id": POLICY_DEFAULT, "name": "apkscan_policy_default",
                      "shortDescription": {"text": "Not allowed by a policy with no finding "
                                                   "(the policy's default, e.g. an allow-list)"}})
        rule_index[POLICY_DEFAULT] = len(rules) - 1
    codes = {a.index: _codes(a) for a in apps}  # each app's detail read once
    artifacts, art_index = _artifacts(apps, view.input_files(doc), codes)
    results = [_result(a, f, rule_index[f.rule], art_index[_apk_key(a)], codes[a.index])
               for a in apps for f in a.findings]
    results += [_default_result(a, rule_index[POLICY_DEFAULT], art_index[_apk_key(a)], codes[a.index])
                for a in defaults]
    for where in (r["locations"][0]["physicalLocation"]["artifactLocation"] for r in results):
        where["uri"] = artifacts[where["index"]]["location"]["uri"]  # SARIF 3.4.3: the indexed artifact's
    skipped = view.skipped(doc)  # read once: the notifications and the run's properties list it
    invocation = _invocation(meta, errors, skipped)
    driver: dict[str, Any] = {"name": meta.tool, "rules": rules}
    if meta.tool_version:
        driver["version"] = meta.tool_version
        driver["semanticVersion"] = meta.tool_version
    run_props = _run_properties(doc, meta, skipped)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "invocations": [invocation],
            "artifacts": artifacts,
            "results": results,
            "columnKind": "unicodeCodePoints",
            "properties": run_props,
        }],
    }


def _invocation(meta: Any, errors: list[Any], skipped: list[view.SkippedRow]) -> dict[str, Any]:
    """The run's invocation: errors, skips and an interruption as notifications, its times."""
    notifications = [{
        "level": e.severity,  # "warning": an input read with warnings only (view.entry_severity)
        "message": {"text": f"{e.code}: {e.message}"},
        "descriptor": {"id": e.code},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(e.source, e.container is not None)}}}],
        **({"properties": {"container": e.container, "chain": list(e.chain)}} if e.container else {}),  # the device
    } for e in errors]
    notifications += _skipped_notifications(skipped)
    if meta.interrupted:  # stopped by Ctrl-C / SIGTERM: results cover only what finished
        notifications.insert(0, {"level": "error", "descriptor": {"id": "SCAN_INTERRUPTED"},
                                 "message": {"text": "the scan was interrupted; only inputs that finished are reported"}})
    invocation: dict[str, Any] = {"executionSuccessful": not errors and not meta.interrupted,
                                  "toolExecutionNotifications": notifications}
    for key, value in (("startTimeUtc", meta.started), ("endTimeUtc", meta.finished)):
        if _utc_time(value):  # an edited document's "yesterday" is no date-time the schema accepts
            invocation[key] = value
    return invocation


def _run_properties(doc: ScanDocument, meta: Any, skipped: list[view.SkippedRow]) -> dict[str, Any]:
    """What the run was made with (packs, policies) and what it does not cover (skips, --quick)."""
    run_props: dict[str, Any] = {"rulePacks": [{"name": n, "version": v} for n, v in meta.rules]}
    if meta.rule_notices:  # part of an indicator feed left out: the run's verdicts are without it
        run_props["ruleNotices"] = list(meta.rule_notices)
    if meta.policy:
        run_props["policy"] = {"name": meta.policy[0], "version": meta.policy[1],
                               "url": meta.policy_url}
    run_props["policies"] = list(meta.policies)
    uncertain = {n: t for n, t in ((p.name, caveats.items(p.uncertain)) for p in view.policy_records(doc) if p.name) if t}
    if uncertain:  # what each policy cannot detect or its sources leave open (review 65 H1)
        run_props["policyUncertain"] = uncertain
    if meta.schema_version:
        run_props["resultSchemaVersion"] = meta.schema_version
        if meta.schema_read_as and meta.schema_read_as != meta.schema_version:  # 1.2 read as 1.3 (tally.read_as)
            run_props["resultSchemaReadAs"] = meta.schema_read_as
    if doc.skipped:  # files looked at and not scanned: the results do not cover them
        run_props["skipped"] = [{"where": s.where, "reason": s.reason, "count": s.count,
                                 "examples": list(s.examples)} for s in skipped]
    if doc.quick:  # --quick: no content digest was checked
        run_props["content_digests"] = "not checked"
    return run_props


def render(doc: ScanDocument | dict, out: TextIO) -> None:
    json.dump(document(doc), out, indent=2, ensure_ascii=False)
    out.write("\n")
