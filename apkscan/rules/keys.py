"""Keys over names: what a vendor's known certificates say about one identity.

A known certificate earns ``confirmed`` only as a verified signing key: a verified signer (one
apksigner prints, or another of a scheme that counted) or verified lineage node.
Anywhere else it proves nothing about who made the APK, and the finding says what happened:

- ``forged-certificate``: it sits in a signature that does not verify (pasted in);
- ``planted-certificate``: it rides along in a signature that *does* verify, signing nothing
  (an extra certificate of a PKCS#7 set or v2/v3 certificate list);
- ``counterfeit-certificate``: another key's certificate reproducing a known vendor
  certificate's subject with its serial or validity dates, wherever it appears.

None of these identifies the app as the vendor's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from apkscan.apk.model import Certificate
from apkscan.rules.certview import CertView
from apkscan.rules.index import DIGESTS, KnownIndex
from apkscan.rules.model import Evidence, Finding, KnownCert, RulePack
from apkscan.rules.normalise import skeleton


def _digests_of(cert: Certificate) -> list[tuple[str, str]]:
    return [(algo, value) for algo in DIGESTS if (value := getattr(cert, algo, None))]


def _asked(certs: Iterable[KnownCert] | KnownIndex, view: CertView) -> Iterable[KnownCert]:
    """The known certificates to ask about the view's: through an index, only those one of the
    view's certificates is (in their order); from a plain list, every one (the reference)."""
    if isinstance(certs, KnownIndex):
        return certs.sighted(view.digests())
    return certs


def is_known(cert: Certificate, known: Iterable[KnownCert] | KnownIndex) -> bool:
    if isinstance(known, KnownIndex):
        return bool(known.sighted(_digests_of(cert)))
    return any(k.matches(cert) for k in known)


def cert_evidence(certs: Iterable[KnownCert] | KnownIndex, view: CertView) -> list[Evidence]:
    """Every sighting of a known certificate, with its role and location. ``certs`` indexed
    (:class:`~apkscan.rules.index.KnownIndex`) or a plain list: the same evidence."""
    out: list[Evidence] = []
    for kc in _asked(certs, view):
        for cert in view.signers:
            algo = kc.matches(cert)
            if algo:
                out.append(Evidence(f"signer.{algo}", getattr(cert, algo), "certificate",
                                    kc.id, True, kc.confidence,
                                    location=view.place(cert, "verified signer")))
        for i, cert in view.lineage:
            algo = kc.matches(cert)
            if algo:
                out.append(Evidence(f"lineage[{i}].{algo}", getattr(cert, algo), "certificate",
                                    kc.id, True, kc.confidence,
                                    location=f"verified lineage node {i}"))
        for key in view.others:  # a verified signer apksigner does not print, another lineage's node
            algo = kc.matches(key.certificate)
            if algo:
                out.append(Evidence(f"{key.field}.{algo}", getattr(key.certificate, algo), "certificate",
                                    kc.id, True, kc.confidence, location=key.where))
        for seen in view.present:
            algo = kc.matches(seen.certificate)
            if algo:
                out.append(Evidence(f"{'recorded' if seen.unverified_record else 'present'}.{algo}",
                                    getattr(seen.certificate, algo),
                                    "certificate-present", kc.id, False, kc.confidence,
                                    location=seen.describe()))
        for cert in view.recorded:
            algo = kc.matches(cert)
            if algo:
                out.append(Evidence(f"recorded.{algo}", getattr(cert, algo),
                                    "certificate-recorded", kc.id, False, kc.confidence,
                                    location=f"recorded by {view.recorded_by or 'the device'}, "
                                             "not verified by apkscan"))
    return out


def misplaced_findings(pack: RulePack, view: CertView, known: KnownIndex | None = None) -> list[Finding]:
    """``planted-certificate`` / ``forged-certificate`` for known certificates found only
    outside a verified signing role. ``known``: the pack's certificates, indexed."""
    if not view.present:  # both come from certificates present only
        return []
    certs = known if known is not None else list(pack.certificates.values())
    planted_view = CertView(present=[s for s in view.present if s.planted])
    # a record's certificate its recorder could not verify: apkscan saw no signature to call forged
    forged_view = CertView(present=[s for s in view.present if not s.planted and not s.unverified_record])
    planted = cert_evidence(certs, planted_view)
    forged = cert_evidence(certs, forged_view)
    out = []
    if forged:
        out.append(_finding(pack, "forged-certificate", forged,
                            f"a {pack.vendor} certificate sits in a signature that does not "
                            "verify: pasted in, it proves nothing about who made the APK"))
    if planted:
        out.append(_finding(pack, "planted-certificate", planted,
                            f"a {pack.vendor} certificate rides along in a valid signature but "
                            "signs nothing: the APK was signed by another key"))
    return out


def counterfeit_findings(pack: RulePack, view: CertView, known: KnownIndex | None = None) -> list[Finding]:
    """Certificates copying a known certificate's subject and serial or dates with another key.
    ``known``: the pack's certificates, indexed (None: each asked about each, the reference)."""
    evidence: list[Evidence] = []
    keys = known if known is not None else list(pack.certificates.values())
    # each certificate's subject and whether it is one of the pack's keys, once (not per known one)
    certs = [(where, cert, dn_of_attrs(cert.subject_attrs), is_known(cert, keys))
             for where, cert in view.all_certificates()]
    for kc in pack.certificates.values():
        want = counterfeit_subject(kc)
        if want is None:
            continue  # known by hash only: a counterfeit subject cannot be recognised
        for where, cert, dn, known_key in certs:
            if known_key or dn != want:
                continue  # a known key (maybe another of the vendor's), or another subject
            copied = [f for f, mine, theirs in (
                ("serial", cert.serial, kc.serial),
                ("validity", (cert.not_before, cert.not_after), (kc.not_before, kc.not_after)))
                if theirs and theirs != (None, None) and mine == theirs]
            if copied:
                # the vendor's subject on another key is a claim (subject-present), even on a
                # verified signer: no policy selecting on ``subject`` may take it as proof
                evidence.append(Evidence("certificate.sha256", cert.sha256, "subject-present", kc.id,
                                         where.startswith("verified"), kc.confidence,
                                         location=f"{where}; copies subject and "
                                                  f"{' and '.join(copied)} of {kc.id}"))
    if not evidence:
        return []
    return [_finding(pack, "counterfeit-certificate", evidence,
                     f"a certificate copies a known {pack.vendor} certificate's subject, serial "
                     "or dates but is another key: a counterfeit", strength="strong")]


def _finding(pack: RulePack, kind: str, evidence: list[Evidence], message: str,
             strength: str = "weak") -> Finding:
    ids = ", ".join(dict.fromkeys(e.matched for e in evidence))
    return Finding(rule=f"{pack.name}.{kind}", vendor=pack.vendor,
                   app=f"{pack.vendor} certificate {ids}", kind=kind, strength=strength,
                   evidence=evidence, pack=pack.name, message=message)


@functools.lru_cache(maxsize=4096)
def _dn(rfc4514: str) -> frozenset[tuple[str, str]]:
    """Attribute/value pairs of a DN written as ``CN=a,O=b`` (order-free, as a reader sees them:
    :func:`skeleton`, so ``O=musicаl.ly`` with a Cyrillic ``а`` copies ``O=musical.ly``; review 53 F1)."""
    parts, cur, esc = [], "", False
    for ch in rfc4514:
        if esc:
            cur, esc = cur + ch, False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    pairs = [p.split("=", 1) for p in parts if "=" in p]
    return frozenset((k.strip().upper(), skeleton(v.strip())) for k, v in pairs)


def counterfeit_subject(kc: KnownCert) -> frozenset[tuple[str, str]] | None:
    """The subject a counterfeit of ``kc`` copies (as :func:`dn_of_attrs` reads one), or None when
    ``kc`` is known by hash only (no subject, or neither serial nor dates a copy could repeat).
    The prefilter (:mod:`apkscan.rules.prefilter`) asks this too, so both look for the same ones."""
    if not kc.subject or not (kc.serial or kc.not_before):
        return None
    return _dn(kc.subject)


def dn_of_attrs(attrs: dict[str, list[str]]) -> frozenset[tuple[str, str]]:
    """A certificate's subject or issuer attributes as :func:`counterfeit_subject` compares them
    (the matcher's certificates and the prefilter's stored facts alike)."""
    return frozenset((k.upper(), skeleton(v)) for k, vs in attrs.items() for v in vs)
