"""Match one ``ApkIdentity`` against a ``RuleSet``: findings with evidence and strength.

The matcher never decides what a certificate *means*; the apk layer already split
certificates into verified signers, verified lineage, and merely present ones
(:mod:`apkscan.rules.certview`). Here a known vendor certificate earns ``confirmed`` only in
a verified role (:mod:`apkscan.rules.keys` says what it means anywhere else); a subject,
label or package is a claim. Names are compared raw, normalised and as confusable
skeletons (:mod:`apkscan.rules.normalise`), and against every reading of the manifest's
package, not only the one Android installs.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
from collections.abc import Callable, Iterable

from apkscan.apk.model import ApkIdentity, Certificate
from apkscan.rules.certview import CertView
from apkscan.rules.index import KnownIndex, candidates, index_of, vendor_index
from apkscan.rules.keys import cert_evidence, counterfeit_findings, misplaced_findings
from apkscan.rules.model import (
    KINDS,
    STRENGTH_RANK,
    Evidence,
    Finding,
    KnownCert,
    Rule,
    RulePack,
    RuleSet,
)
from apkscan.rules.names import as_claim, foreign_keys, name_evidence, own_keys, publisher_evidence
from apkscan.rules.label_words import label_location
from apkscan.rules.normalise import bounded_text, form_patterns, form_search, package_forms
from apkscan.rules.prefilter import facts_of, prefilter_of, publishers_of
from apkscan.rules.shared_keys import backing, held_back, shared_ids
from apkscan.rules.vendor_text import self_asserted, vendor_message

__all__ = ["CertView", "match_identity"]


def match_identity(identity: ApkIdentity, rules: RuleSet,
                   dex_classes: Iterable[str] | None = None, *, indexed: bool = True,
                   facts: dict | None = None) -> list[Finding]:
    """Every finding for one APK, strongest first. ``dex_classes`` enables SDK rules (--deep).

    ``indexed=False`` asks every rule, and every known certificate about every certificate
    (the reference the rule and certificate indexes and the prefilter are tested against).
    ``facts``: the identity's :func:`facts_of`, when the caller has them (the scan store keeps them)."""
    if indexed and dex_classes is None and not prefilter_of(rules).could_match(
            facts_of(identity) if facts is None else facts):
        return []  # no rule can say anything about it: known from a few facts (apkscan.rules.prefilter)
    view = CertView.of(identity)
    classes = sorted(set(dex_classes)) if dex_classes is not None else None
    by_vendor: dict[str, list[KnownCert]] = {}
    for pack in rules.packs if not indexed else ():
        by_vendor.setdefault(pack.vendor, []).extend(pack.certificates.values())
    findings: list[Finding] = []
    readings = _package_values(identity)  # read once, asked by every pack and rule
    for pack in rules.packs:
        vendor_known = vendor_index(rules, pack.vendor) if indexed else by_vendor[pack.vendor]
        names_known = vendor_known if names_are_claims(rules, pack) else []
        findings.extend(_match_pack(pack, identity, view, classes, vendor_known, indexed, readings, names_known))
    ambiguity = _ambiguity(identity)
    if ambiguity is not None:
        findings.append(ambiguity)
    # strongest first; among equals in the order of KINDS (app, impersonation, then what the
    # certificates and manifest say), so rows list kinds by meaning, not by rule-id spelling
    findings.sort(key=lambda f: (-STRENGTH_RANK[f.strength], KINDS.index(f.kind), f.rule))
    return findings


def names_are_claims(rules: RuleSet | None, pack: RulePack) -> bool:
    """Whether the vendor's name on a key none of its packs lists is only a claim in ``pack``'s
    findings: when ``pack`` lists keys, or a pack at least as trusted does (a shipped pack is
    trusted over a user's, a user pack trusts every pack). A vendor whose shipped packs list no key
    (Kaspersky) is identified by name, and a user file adding one "Kaspersky" key does not change
    that (review 64 F2); a user pack without keys for a vendor whose shipped packs list keys
    (ByteDance, Tencent) never makes a self-signed ``O=`` the vendor's (final review 5 F1)."""
    if pack.certificates or rules is None:
        return bool(pack.certificates)
    return any(p.certificates for p in rules.packs if p.vendor == pack.vendor and (p.shipped or not pack.shipped))


def _match_pack(pack: RulePack, identity: ApkIdentity, view: CertView, classes: list[str] | None,
                vendor_known: list[KnownCert] | KnownIndex, indexed: bool = True,
                readings: list[tuple[str, str]] | None = None,
                names_known: list[KnownCert] | KnownIndex | None = None) -> list[Finding]:
    readings = _package_values(identity) if readings is None else readings
    known = index_of(pack).certificates if indexed else None
    # --quick (content not checked) or signatures never read (timeout, limit): nothing could be
    # verified, so "no verified vendor key" proves nothing: no impersonation, forged or planted
    # claim (counterfeit needs no verdict); a known key present is then weak evidence, saying why
    unverified = _unverified_because(identity)
    all_certs = cert_evidence(known if known is not None else list(pack.certificates.values()), view)
    vendor_certs = _usable(all_certs, unverified)
    counterfeit = counterfeit_findings(pack, view, known)
    if names_known is None:
        names_known = vendor_known if names_are_claims(None, pack) else []
    foreign = foreign_keys(names_known, view)
    publisher = (publisher_evidence(pack, view, foreign, own_keys(names_known, view))
                 if not indexed or _named_by(pack, view) else [])
    if counterfeit:  # the vendor's name on a counterfeit certificate is only a claim
        publisher = [as_claim(e) for e in publisher]
    vendor_keys = cert_evidence(vendor_known, view)
    if indexed:  # only the rules that could match (apkscan.rules.index); the same code decides
        ix = index_of(pack)
        exact, rules = ix.exact, candidates(pack, ix, [v for _, v in readings], view,
                                            sdk=classes is not None, labels=[v for _, v in _labels(identity)])
    else:
        exact, rules = {p for r in pack.rules for p in r.packages}, pack.rules
    unchecked = unverified is not None
    shared = shared_ids(pack) if vendor_certs else frozenset()
    out: list[Finding] = []
    held = False  # a shared key only present, held back from a rule not matched by its package (review 87 F5)
    for rule in rules:
        if rule.kind == "sdk":
            f = _match_sdk(rule, classes) if classes is not None else None
            out += [f] if f else []
            continue
        own = _rule_evidence(rule, identity, view, exact, foreign, unverified, readings)
        if not own:
            continue
        impostor = None if unchecked else _impersonation(rule, pack, own, vendor_keys, view)
        if impostor is not None:
            own = [as_claim(e) for e in own]
        # the vendor's other keys and names back an app rule (a shared key merely present only one
        # matched by its package: apkscan.rules.shared_keys); an indicator stands alone (MVT): another malware
        # object's certificate must not raise this one's finding (review 39 #2)
        extra, kept_back = ([], []) if rule.indicator else backing(
            [e for e in vendor_certs + publisher if e not in own], own,
            frozenset() if any(e.basis == "package" for e in own) else shared)
        held = held or bool(kept_back)
        out.append(_finding(rule, pack, "app", own + (extra if impostor is None
                                                      else [as_claim(e) for e in extra])))
        out += [impostor] if impostor else []
    apps = [f for f in out if f.kind == "app"]
    if (vendor_certs or publisher) and (not apps or held and not any(
            held_back(e, shared) for f in apps for e in f.evidence)):
        out.append(_vendor_finding(pack, vendor_certs + publisher))
    return out + ([] if unchecked else misplaced_findings(pack, view, known)) + counterfeit


def _vendor_finding(pack: RulePack, evidence: list[Evidence]) -> Finding:
    """``<pack>.vendor``: the vendor's keys or names, and no rule naming the app they back (or
    only rules a shared key merely present cannot back: a label names no app a pasted key signs)."""
    return Finding(rule=f"{pack.name}.vendor", vendor=pack.vendor, app=f"{pack.vendor} (app not identified)",
                   kind="app", strength=_strength(evidence), evidence=evidence, pack=pack.name,
                   message=vendor_message(pack, evidence))


def _named_by(pack: RulePack, view: CertView) -> bool:
    """Whether a certificate :func:`publisher_evidence` reads (verified keys, present, recorded)
    could carry the pack's publisher names (:class:`apkscan.rules.prefilter.Publishers`); False: it finds none."""
    could = publishers_of(pack).could
    return (any(could(c.subject_attrs) for c in view.verified_keys)
            or any(could(s.certificate.subject_attrs) for s in view.present)
            or any(could(c.subject_attrs) for c in view.recorded))


def _unverified_because(identity: ApkIdentity) -> str | None:
    """Why nothing could be verified (``--quick``, signatures never read), or None."""
    c = identity.completeness
    if identity.origin == "bundle":
        return "an app bundle: its upload key's JAR signature is not verified, and Play re-signs with the app-signing key"
    if c.state.get("content_digests") == "not checked":
        return "--quick (content digests not checked)"
    if identity.origin == "apk" and "signatures" in c.why:
        return f"signatures not read ({c.why['signatures']})"
    return None


def _usable(evidence: list[Evidence], unverified: str | None) -> list[Evidence]:
    """Known-certificate evidence a finding may rest on. A key merely present is a forged or
    planted finding when verification ran; when it could not run, the key is kept as weak
    ``certificate-present`` evidence saying why, never dropped (review 27 F2: under --quick a
    vendor key left no trace and the app was ``allowed``). A device record's certificate its
    recorder could not verify (``recorded.*``, review 88 F2) is kept so too: its location says why."""
    if unverified is None:
        return [e for e in evidence if e.basis != "certificate-present" or e.field.startswith("recorded.")]
    return [dataclasses.replace(e, location=f"{e.location}; not verified: {unverified}")
            if e.basis == "certificate-present" else e for e in evidence]


def _finding(rule: Rule, pack: RulePack, kind: str, evidence: list[Evidence]) -> Finding:
    note = self_asserted(rule.vendor, evidence)
    message = f"{rule.description}; {note}" if note and rule.description else note or rule.description
    return Finding(rule=rule.id, vendor=rule.vendor, app=rule.app, kind=kind,
                   strength=_strength(evidence), evidence=evidence, pack=pack.name,
                   references=list(rule.references), message=message)


def _strength(evidence: list[Evidence]) -> str:
    """Best strength the evidence supports; low-confidence certificate facts cap at strong,
    a certificate a device recorded (not verified here) caps at strong."""
    best = "weak"
    for e in evidence:
        if e.basis == "certificate" and e.verified:
            s = "strong" if e.confidence == "low" else "confirmed"
        elif e.basis in ("subject", "issuer", "source-stamp") and e.verified:
            s = "strong"
        elif e.basis == "certificate-recorded":
            s = "strong"
        elif e.basis == "file-hash":  # these very bytes are the indicator's file
            s = "confirmed"
        else:
            s = "weak"
        if STRENGTH_RANK[s] > STRENGTH_RANK[best]:
            best = s
    return best


def _package_values(identity: ApkIdentity) -> list[tuple[str, str]]:
    """(how, value) of every package reading; ``framework`` is what Android installs."""
    m = identity.manifest
    if m is None:
        return []
    readings = [(r.how, r.value) for r in m.package_readings]
    if m.package and all(v != m.package for _, v in readings):
        readings.insert(0, ("framework", m.package))
    return readings


def _package_evidence(rule: Rule, identity: ApkIdentity, exact: set[str],
                      readings: list[tuple[str, str]] | None = None) -> list[Evidence]:
    """Package evidence over every reading; a glob or regex never matches a package that
    another rule of the pack names exactly (namespace rules yield to the app's own rule).
    Only the installed package as written is ``package``: one that only case-folds or
    skeletons to a rule's (``com.Tencent.MM``) is another installable package, a claim
    (``package-lookalike``; review 27 F9)."""
    out: list[Evidence] = []
    for how, pkg in _package_values(identity) if readings is None else readings:
        field = "package" if how == "framework" else f"package ({how})"
        for form, value in package_forms(pkg):
            if any(fnmatch.fnmatchcase(value, g) for g in rule.package_exclude):
                break
            hit = _named(rule, value)
            same = form == "raw" and hit == value  # the rule's name as written, not a folded form of it
            if hit is None and value not in exact:
                hit = (next((g for g in rule.package_globs if fnmatch.fnmatchcase(value, g)), None)
                       or next((p.pattern for p in rule.package_regexes if p.search(bounded_text(value))), None))
                same = form == "raw"
            if hit:
                basis = "package-reading" if how != "framework" else "package" if same else "package-lookalike"
                out.append(Evidence(field, pkg, basis, hit, normalised=None if same else value))
                break
    return out


def _named(rule: Rule, value: str) -> str | None:
    """The package ``rule`` names that ``value`` is: as written, or one of its folded forms. A
    rule may name a package in capitals (an MVT feed's ``com.wSpyEra``): an APK ``com.wspyera``
    is then a look-alike of it, as ``com.wSpyEra`` is of a rule naming ``com.wspyera`` (MVT
    compares case-insensitively; review 38 R2-1)."""
    if value in rule.packages:
        return value
    return _folded(tuple(rule.packages)).get(value) if rule.packages else None


@functools.lru_cache(maxsize=4096)
def _folded(packages: tuple[str, ...]) -> dict[str, str]:
    """Folded form (:func:`package_forms`: NFKC/case fold, skeleton, ASCII look-alikes) -> the name as written."""
    out: dict[str, str] = {}
    for name in packages:
        for _how, value in package_forms(name)[1:]:
            out.setdefault(value, name)
    return out


def _label_evidence(rule: Rule, identity: ApkIdentity) -> list[Evidence]:
    if not rule.labels:
        return []
    out: list[Evidence] = []
    labels = _labels(identity)
    for pattern in rule.labels:
        asked = form_patterns(pattern)
        for locale, label in labels:
            found = form_search(asked, label, label=True)  # the prefilter's search too (apkscan.rules.prefilter)
            if found:
                form, value = found
                out.append(Evidence("label", label, "label", pattern.pattern,
                                    normalised=None if form == "raw" else value, locale=locale,
                                    location=label_location(form)))  # a reading or the words form says so
                break
    return out


def _rule_evidence(rule: Rule, identity: ApkIdentity, view: CertView, exact: set[str],
                   foreign: Callable[[Certificate], bool] = lambda c: False,
                   unverified: str | None = None, readings: list[tuple[str, str]] | None = None) -> list[Evidence]:
    out = _package_evidence(rule, identity, exact, readings) + _label_evidence(rule, identity)
    out += _file_evidence(rule, identity)
    package_matched = any(e.basis == "package" for e in out)
    own_certs = [rc.cert for rc in rule.certificates if package_matched or not rc.shared]
    out += _usable(cert_evidence(own_certs, view), unverified)
    out += name_evidence(rule.subjects, view, "subject", foreign)
    out += name_evidence(rule.issuers, view, "issuer", foreign)
    if view.stamp is not None:
        for kc in rule.source_stamps:
            algo = kc.matches(view.stamp)
            if algo:
                out.append(Evidence(f"source_stamp.{algo}", getattr(view.stamp, algo),
                                    "source-stamp", kc.id, view.stamp_verified, kc.confidence))
    return out


def _file_evidence(rule: Rule, identity: ApkIdentity) -> list[Evidence]:
    """An ``--iocs`` file indicator whose digest is the whole APK file's: the file the identity was
    read from, a container's member too (MVT matches package file hashes: review 90 F2)."""
    f = identity.file
    return [Evidence(f"file.{algo}", digest, "file-hash", digest) for algo, digest in rule.file_hashes
            if f is not None and getattr(f, algo, None) == digest]


def _labels(identity: ApkIdentity) -> list[tuple[str, str]]:
    """(locale, label): the default label first, then every locale's."""
    m = identity.manifest
    if m is None:
        return []
    out = [("", m.label)] if m.label else []
    out += [(loc, v) for loc, v in m.labels.items() if v and (loc, v) not in out]
    out += [("as other parsers read it", v) for v in getattr(m, "other_labels", ()) if v]
    out += [("launcher activity", v) for v in getattr(m, "launcher_labels", ()) if v]
    return out


def _impersonation(rule: Rule, pack: RulePack, own: list[Evidence], vendor_keys: list[Evidence],
                   view: CertView) -> Finding | None:
    """The installed package of a vendor app whose known certificates are listed, not signed
    by any key the vendor's packs know. A copied subject does not excuse it; an MVT indicator
    never makes this claim; a device record without certificates cannot support it.
    The keys it names are ``certificate-unknown``: never read as the vendor's certificate."""
    if rule.indicator or not rule.certificates or not any(e.basis == "package" for e in own):
        return None
    if any(e.basis in ("certificate", "certificate-recorded") for e in vendor_keys):
        return None  # one of the vendor's keys (maybe another app's or region's): not an impostor
    evidence = [e for e in own if e.basis == "package"]
    if view.origin != "apk":
        if not view.recorded:
            return None  # a listed package name proves nothing about keys
        evidence += [Evidence("recorded.sha256", c.sha256, "certificate-unknown",
                              f"not a known {pack.vendor} certificate", False,
                              location=f"recorded by {view.recorded_by or 'the device'}, "
                                       "not verified by apkscan")
                     for c in view.recorded]
        strength = "strong"
    else:
        evidence += [Evidence("signer.sha256", c.sha256, "certificate-unknown",
                              f"not a known {pack.vendor} certificate", True,
                              location="verified signer") for c in view.signers]
        if not view.signers:
            evidence.append(Evidence("signer", "none verified", "certificate-unknown",
                                     "no verified signer"))
        strength = "strong" if view.signers else "weak"
    known = ", ".join(rc.cert.id for rc in rule.certificates)
    return Finding(rule=rule.id, vendor=rule.vendor, app=rule.app, kind="impersonation",
                   strength=strength, evidence=evidence, pack=pack.name,
                   references=list(rule.references),
                   message=f"uses {rule.app}'s package name but is not signed by a known "
                           f"{pack.vendor} key ({known})")


def _ambiguity(identity: ApkIdentity) -> Finding | None:
    """Android installs one package name while other parsers read another: a tamper sign."""
    m = identity.manifest
    if m is None or len(m.package_readings) < 2:
        return None
    evidence = [Evidence(f"package ({r.how})", r.value, "manifest", "package reading")
                for r in m.package_readings]
    return Finding(rule="apkscan.manifest-ambiguity", vendor="(manifest tamper)",
                   app=m.package or "(no package)", kind="manifest-ambiguity", strength="strong",
                   evidence=evidence,
                   message="the manifest's package reads differently to Android and to other "
                           "parsers (TAMPER_MANIFEST_AMBIGUOUS_PACKAGE): rules were matched "
                           "against every reading")


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
