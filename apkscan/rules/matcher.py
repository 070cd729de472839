"""Match one ``ApkIdentity`` against a ``RuleSet``: findings with evidence and strength.

The matcher never decides what a certificate *means*; the apk layer already split
certificates into verified signers, verified lineage, and merely present ones. Here a
known vendor certificate earns ``confirmed`` only in a verified role; the same
certificate merely present earns ``weak`` plus a ``forged-certificate`` finding, because
a signature that does not verify proves nothing about who made it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from apkscan.apk.model import ApkIdentity, Certificate
from apkscan.rules.model import (
    STRENGTH_RANK,
    Evidence,
    Finding,
    KnownCert,
    NamePattern,
    Rule,
    RulePack,
    RuleSet,
)


@dataclass(slots=True)
class CertView:
    """The certificates of one APK, split by the role the verifier gave them."""

    signers: list[Certificate] = field(default_factory=list)  # verified signers
    lineage: list[tuple[int, Certificate]] = field(default_factory=list)  # verified lineage nodes
    present: list[tuple[str, Certificate]] = field(default_factory=list)  # (where, cert) unverified
    stamp: Certificate | None = None
    stamp_verified: bool = False

    @classmethod
    def of(cls, identity: ApkIdentity) -> CertView:
        view = cls()
        v = identity.verification
        if v is None:
            return view
        ok = identity.verified  # no verified role at all when the APK does not verify
        if ok:
            view.signers = list(v.signers)
            view.lineage = [(i, n.certificate) for i, n in enumerate(v.lineage) if n.verified]
        trusted = {c.sha256 for c in view.signers} | {c.sha256 for _, c in view.lineage}
        seen: set[str] = set()
        candidates = [("present", c) for c in v.certificates_present]
        candidates += [(f"lineage[{i}]", n.certificate) for i, n in enumerate(v.lineage)]
        for name, scheme in v.schemes.items():
            for s in scheme.signers:
                for c in ([s.certificate] if s.certificate else []) + list(s.chain):
                    candidates.append((f"{name}.{s.name}", c))
        for where, cert in candidates:
            if cert.sha256 not in trusted and cert.sha256 not in seen:
                seen.add(cert.sha256)
                view.present.append((where, cert))
        # a stamp only vouches for an APK that verifies as a whole
        view.stamp, view.stamp_verified = v.source_stamp, bool(v.source_stamp_verified) and ok
        return view


def match_identity(identity: ApkIdentity, rules: RuleSet,
                   dex_classes: Iterable[str] | None = None) -> list[Finding]:
    """Every finding for one APK, strongest first. ``dex_classes`` enables SDK rules (--deep)."""
    view = CertView.of(identity)
    classes = sorted(set(dex_classes)) if dex_classes is not None else None
    findings: list[Finding] = []
    for pack in rules.packs:
        findings.extend(_match_pack(pack, identity, view, classes))
    findings.sort(key=lambda f: (-STRENGTH_RANK[f.strength], f.kind != "app", f.rule))
    return findings


def _match_pack(pack: RulePack, identity: ApkIdentity, view: CertView,
                classes: list[str] | None) -> list[Finding]:
    vendor_certs = _cert_evidence(pack.certificates.values(), view)
    publisher = _publisher_evidence(pack.publishers, view)
    out: list[Finding] = []
    for rule in pack.rules:
        if rule.kind == "sdk":
            if classes is not None:
                f = _match_sdk(rule, classes)
                if f:
                    out.append(f)
            continue
        own = _rule_evidence(rule, identity, view)
        if not own:
            continue
        extra = [e for e in vendor_certs + publisher if e not in own]
        evidence = own + extra
        out.append(_finding(rule, pack, "app", evidence))
        impostor = _impersonation(rule, pack, own, vendor_certs, publisher, view)
        if impostor:
            out.append(impostor)
    if not any(f.kind == "app" for f in out) and (vendor_certs or publisher):
        out.append(Finding(rule=f"{pack.name}.vendor", vendor=pack.vendor,
                           app=f"{pack.vendor} (app not identified)", kind="app",
                           strength=_strength(vendor_certs + publisher),
                           evidence=vendor_certs + publisher, pack=pack.name,
                           message=f"signed with or carrying a known {pack.vendor} identity"))
    forged = [e for e in vendor_certs if e.basis == "certificate-present"]
    if forged:
        owner = next((f.rule for f in out if f.kind == "app"), f"{pack.name}.vendor")
        out.append(Finding(
            rule=owner, vendor=pack.vendor, app=_app_of(out, owner, pack), kind="forged-certificate",
            strength="weak", evidence=forged, pack=pack.name,
            message=f"a {pack.vendor} certificate is present in a signature that does not verify"))
    return out


def _app_of(findings: list[Finding], rule_id: str, pack: RulePack) -> str:
    return next((f.app for f in findings if f.rule == rule_id), f"{pack.vendor} (app not identified)")


def _finding(rule: Rule, pack: RulePack, kind: str, evidence: list[Evidence]) -> Finding:
    return Finding(rule=rule.id, vendor=rule.vendor, app=rule.app, kind=kind,
                   strength=_strength(evidence), evidence=evidence, pack=pack.name,
                   references=list(rule.references), message=rule.description)


def _strength(evidence: list[Evidence]) -> str:
    """Best strength the evidence supports; low-confidence certificate facts cap at strong."""
    best = "weak"
    for e in evidence:
        if e.basis == "certificate" and e.verified:
            s = "strong" if e.confidence == "low" else "confirmed"
        elif e.basis in ("subject", "issuer") and e.verified or e.basis == "source-stamp" and e.verified:
            s = "strong"
        else:
            s = "weak"
        if STRENGTH_RANK[s] > STRENGTH_RANK[best]:
            best = s
    return best


def _cert_evidence(certs: Iterable[KnownCert], view: CertView) -> list[Evidence]:
    out: list[Evidence] = []
    for kc in certs:
        for cert in view.signers:
            algo = kc.matches(cert)
            if algo:
                out.append(Evidence(f"signer.{algo}", getattr(cert, algo), "certificate",
                                    kc.id, True, kc.confidence))
        for i, cert in view.lineage:
            algo = kc.matches(cert)
            if algo:
                out.append(Evidence(f"lineage[{i}].{algo}", getattr(cert, algo), "certificate",
                                    kc.id, True, kc.confidence))
        for where, cert in view.present:
            algo = kc.matches(cert)
            if algo:
                out.append(Evidence(f"present[{where}].{algo}", getattr(cert, algo),
                                    "certificate-present", kc.id, False, kc.confidence))
    return out


def _name_evidence(patterns: list[NamePattern], view: CertView, which: str) -> list[Evidence]:
    out: list[Evidence] = []
    for pattern in patterns:
        for cert in view.signers:
            attrs = cert.subject_attrs if which == "subject" else cert.issuer_attrs
            hits = pattern.match(attrs)
            if hits:
                for attr, value in hits:
                    out.append(Evidence(f"signer.{which}.{attr}", value, which,
                                        pattern.attrs[attr].pattern, True))
                break  # one signer per pattern is enough evidence
    return out


def _publisher_evidence(patterns: list[NamePattern], view: CertView) -> list[Evidence]:
    return _name_evidence(patterns, view, "subject")


def _rule_evidence(rule: Rule, identity: ApkIdentity, view: CertView) -> list[Evidence]:
    out: list[Evidence] = []
    pkg = identity.manifest.package if identity.manifest else None
    if pkg:
        if pkg in rule.packages:
            out.append(Evidence("package", pkg, "package", pkg))
        out += [Evidence("package", pkg, "package", g) for g in rule.package_globs
                if fnmatch.fnmatchcase(pkg, g)]
        out += [Evidence("package", pkg, "package", p.pattern) for p in rule.package_regexes
                if p.search(pkg)]
    labels = _labels(identity)
    for pattern in rule.labels:
        hit = next((lab for lab in labels if pattern.search(lab)), None)
        if hit is not None:
            out.append(Evidence("label", hit, "label", pattern.pattern))
    package_matched = bool(out) and out[0].basis == "package"
    own_certs = [rc.cert for rc in rule.certificates if package_matched or not rc.shared]
    out += _cert_evidence(own_certs, view)
    out += _name_evidence(rule.subjects, view, "subject")
    out += _name_evidence(rule.issuers, view, "issuer")
    if view.stamp is not None:
        for kc in rule.source_stamps:
            algo = kc.matches(view.stamp)
            if algo:
                out.append(Evidence(f"source_stamp.{algo}", getattr(view.stamp, algo),
                                    "source-stamp", kc.id, view.stamp_verified, kc.confidence))
    return out


def _labels(identity: ApkIdentity) -> list[str]:
    m = identity.manifest
    if m is None:
        return []
    values = ([m.label] if m.label else []) + [v for v in m.labels.values() if v]
    return list(dict.fromkeys(values))


def _impersonation(rule: Rule, pack: RulePack, own: list[Evidence], vendor_certs: list[Evidence],
                   publisher: list[Evidence], view: CertView) -> Finding | None:
    """A vendor package whose verified signer is neither a known vendor key nor its publisher."""
    if not rule.certificates or not any(e.basis == "package" for e in own):
        return None
    if any(e.basis == "certificate" and e.verified for e in own + vendor_certs):
        return None
    if any(e.basis in ("subject", "issuer") and e.verified for e in own + publisher):
        return None
    evidence = [e for e in own if e.basis == "package"]
    for cert in view.signers:
        evidence.append(Evidence("signer.sha256", cert.sha256, "certificate", "not a known "
                                 f"{pack.vendor} certificate", True))
    if not view.signers:
        evidence.append(Evidence("signer", "none verified", "certificate", "no verified signer"))
    known = ", ".join(rc.cert.id for rc in rule.certificates)
    return Finding(rule=rule.id, vendor=rule.vendor, app=rule.app, kind="impersonation",
                   strength="strong" if view.signers else "weak", evidence=evidence,
                   pack=pack.name, references=list(rule.references),
                   message=f"uses {rule.app}'s package name but is not signed by a known "
                           f"{pack.vendor} key ({known})")


def _match_sdk(rule: Rule, classes: list[str]) -> Finding | None:
    """SDK prefix rule over dotted class names; ``dex_exclude`` prefixes never count."""
    hits: list[Evidence] = []
    for prefix in rule.dex_prefixes:
        for name in classes:
            if name.startswith(prefix) and not any(name.startswith(x) for x in rule.dex_exclude):
                hits.append(Evidence("dex.class", name, "dex", prefix))
                break
    if not hits:
        return None
    return Finding(rule=rule.id, vendor=rule.vendor, app=rule.app, kind="sdk", strength="weak",
                   evidence=hits, pack=rule.pack, references=list(rule.references),
                   message=rule.description or f"embeds {rule.app}")
