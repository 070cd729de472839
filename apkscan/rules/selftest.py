"""Run a rule file's own examples (``apkscan rules test``).

Each example describes an APK by its facts (package, label, verified signers, lineage,
merely present certificates, DEX class names) and the finding it must produce. A rule
author can thus pin "this hash is confirmed, that one is only forged" next to the rule,
and a later edit that breaks it fails ``rules test`` in CI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apkscan.apk.crypto.interop import read_androidqf_name
from apkscan.apk.model import (
    ApkIdentity,
    Certificate,
    CertificateSighting,
    LineageNode,
    ManifestInfo,
    PackageReading,
    SchemeResult,
    SignerResult,
    VerificationResult,
)
from apkscan.rules.attrs import attribute_name
from apkscan.rules.matcher import match_identity
from apkscan.rules.model import Rule, RuleSet
from apkscan.rules.yamlsrc import normalise_hash


@dataclass(slots=True)
class ExampleResult:
    rule: str
    index: int
    passed: bool
    detail: str


def example_certificate(spec: dict[str, Any]) -> Certificate:
    """A Certificate carrying only what the example states (digests, subject attributes, and
    the serial and validity dates a counterfeit copies)."""
    attrs: dict[str, list[str]] = {}  # keyed as the certificate reader keys them (o -> O)
    for k, v in (spec.get("subject") or {}).items():
        attrs.setdefault(attribute_name(str(k)) or str(k), []).append(str(v))
    # a packages.json record's text, read by the scan's own reader (unreadable: no attributes, as a scan)
    reading = read_androidqf_name(str(spec["subject_androidqf"])) if spec.get("subject_androidqf") else None
    for k, values in (reading.attrs if reading else {}).items():
        attrs.setdefault(k, []).extend(values)
    return Certificate(sha256=normalise_hash(spec.get("sha256", "")), sha1=normalise_hash(spec.get("sha1", "")),
                       md5=normalise_hash(spec.get("md5", "")),
                       subject=",".join(f"{k}={v[0]}" for k, v in attrs.items()), issuer="",
                       subject_attrs=attrs, serial=str(spec.get("serial", "")).lower(),
                       not_before=spec.get("not_before"), not_after=spec.get("not_after"))


def example_identity(ex: dict[str, Any]) -> ApkIdentity:
    """An ApkIdentity as the apk layer (or a device record) would report it for the facts.

    ``package_readings`` adds the readings other parsers make of the manifest (Android's is
    ``package``); ``recorded`` certificates make a device record (origin ``recorded``, no APK
    bytes), ``origin: listed`` a package known only from a device's list, as the sources
    layer builds them.
    """
    recorded = [example_certificate(c) for c in ex.get("recorded", [])]
    if recorded or ex.get("origin") in ("recorded", "listed"):
        label = ex.get("label")
        manifest = ManifestInfo(package=ex.get("package"), label=label,
                                labels={"": label} if label else {})
        return ApkIdentity(path=f"example:{ex.get('package')}", manifest=manifest,
                           origin="recorded" if recorded else "listed",
                           recorded_by="example device record", recorded_certificates=recorded)
    identity = build_identity(
        ex.get("package"), ex.get("label"),
        signers=[example_certificate(c) for c in ex.get("signers", [])],
        present=[example_certificate(c) for c in ex.get("present", [])],
        lineage=[(example_certificate(c), True) for c in ex.get("lineage", [])])
    readings = [PackageReading(str(r.get("value", "")), str(r.get("how", "other parser")))
                for r in ex.get("package_readings", [])]
    if readings and identity.manifest is not None:
        identity.manifest.package_readings = [PackageReading(ex.get("package") or "", "framework"),
                                              *readings]
    return identity


def build_identity(package: str | None, label: str | None = None, *,
                   signers: list[Certificate] = (), present: list[Certificate] = (),
                   lineage: list[tuple[Certificate, bool]] = (),
                   stamp: tuple[Certificate, bool] | None = None,
                   verified: bool | None = None) -> ApkIdentity:
    """An identity shaped like the apk layer's: verified ``signers``, merely ``present`` ones.

    ``verified`` defaults to "there is a signer"; pass False to model an APK whose signers
    were all read but did not verify (then ``signers`` are reported only as present).
    """
    signers, present = list(signers), list(present)
    ok = bool(signers) if verified is None else verified
    sightings = [CertificateSighting(c, f"v2 signer #{i + 1}, signing certificate", "signer", ok)
                 for i, c in enumerate(signers)]
    if ok:  # extra certificates carried by the verified signature, signing nothing
        sightings += [CertificateSighting(c, f"v2 signer #1, extra certificate {i + 2} of the "
                                          "certificate list", "extra", True)
                      for i, c in enumerate(present)]
    else:
        sightings += [CertificateSighting(c, f"v2 signer #{len(signers) + i + 1}, signing "
                                          "certificate", "signer", False)
                      for i, c in enumerate(present)]
        present, signers = signers + present, []
    sightings += [CertificateSighting(c, f"v3 lineage node {i}", "lineage", good)
                  for i, (c, good) in enumerate(lineage)]
    scheme = SchemeResult("v2", present=bool(signers or present), verified=ok,
                          signers=[SignerResult(f"signer #{i + 1}", c, verified=c in signers)
                                   for i, c in enumerate(signers + present)])
    v = VerificationResult(verified=ok, min_sdk=24, max_sdk=2147483647, schemes={"v2": scheme},
                           signers=signers, certificates_present=signers + present,
                           lineage=[LineageNode(c, flags=0, verified=good) for c, good in lineage],
                           source_stamp=stamp[0] if stamp else None,
                           source_stamp_verified=bool(stamp and stamp[1]),
                           verified_using=["v2"] if ok else [], sightings=sightings)
    manifest = ManifestInfo(package=package, label=label, labels={"": label} if label else {})
    return ApkIdentity(path=f"example:{package}", manifest=manifest, verification=v)


def run_examples(rules: RuleSet, only: str | None = None) -> list[ExampleResult]:
    """Check every example of every rule (or of rule ids starting with ``only``)."""
    results = []
    for rule in rules.rules:
        if only and not rule.id.startswith(only):
            continue
        for i, ex in enumerate(rule.examples):
            results.append(_check(rule, i, ex, rules))
    return results


def _check(rule: Rule, index: int, ex: dict[str, Any], rules: RuleSet) -> ExampleResult:
    classes = ex.get("dex_classes")
    expect = ex.get("expect")
    want_rule = expect.get("rule", rule.id) if isinstance(expect, dict) else rule.id
    findings = [f for f in match_identity(example_identity(ex), rules, classes)
                if f.rule == want_rule]
    got = ", ".join(f"{f.kind}/{f.strength}" for f in findings) or "no finding"
    if expect == "none":
        return ExampleResult(rule.id, index, not findings, f"expected no finding, got {got}")
    want_kind, want_strength = expect.get("kind", "app"), expect.get("strength")
    ok = any(f.kind == want_kind and (want_strength is None or f.strength == want_strength)
             for f in findings)
    return ExampleResult(rule.id, index, ok, f"expected {want_kind}/{want_strength or 'any'}, got {got}")
