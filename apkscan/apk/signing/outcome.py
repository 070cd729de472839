"""What a verification says, read off the schemes that counted: apksigner's signer list, the
rotation lineage that may vouch for a past key, every certificate present and every place one
sits; and under ``--quick`` that nothing checked out beyond the signed data.

Apart from :mod:`apkscan.apk.signing.verifier` (which decides) so the decision reads as apksig's
order of checks and this as the report of it.
"""

from __future__ import annotations

from apkscan.apk.model import Certificate, CertificateSighting, SchemeResult, VerificationResult


def _scheme_places(schemes: dict[str, SchemeResult]) -> list:
    """Every scheme, signer and lineage node: each says whether it verified."""
    return [*schemes.values(), *(s for sc in schemes.values() for s in sc.signers),
            *(n for sc in schemes.values() for n in sc.lineage)]


def mark_signature_only(result: VerificationResult) -> None:
    """``--quick``: what checked out did so over the signed data only, so no scheme, signer,
    lineage node or sighting is called verified; each says ``signature_only`` instead (review 62
    M1: a tampered APK's schemes read "verified" under ``--quick``)."""
    for p in [*_scheme_places(result.schemes), *result.lineage, *result.sightings]:
        if p.verified:
            p.verified, p.signature_only = False, True
    result.source_stamp_verified = False


def mark_range_refused(schemes: dict[str, SchemeResult]) -> None:
    """An SDK range apksigner refuses (minSdkVersion above ``--max-sdk-version``): apksig throws
    before verifying anything, so every scheme is present, never verified, as v1 is (review 71
    F2: v3 read "present, verified" and its key "verified as v3 signer" over such a range)."""
    for p in _scheme_places(schemes):
        p.verified = False


def verdict_signers(schemes: dict[str, SchemeResult], used: list[str]) -> list[Certificate]:
    """apksigner's signer list: newest v3.1/v3 signer, else all v2, else all v1 signers."""
    for name in ("v31", "v3"):
        if name in used and schemes[name].verified and schemes[name].signers:
            cert = schemes[name].signers[-1].certificate
            return [cert] if cert else []
    for name in ("v2", "v1"):
        if name in used and schemes[name].verified:
            return [s.certificate for s in schemes[name].signers if s.verified and s.certificate]
    return []


def counted_lineage(schemes: dict[str, SchemeResult], used: list[str]):
    """The rotation lineage, only from a v3.1/v3 scheme that counted and verified.

    A lineage inside a scheme that failed or did not count for the SDK range stays in that
    scheme's own result for the report; it must never vouch for a past key.
    """
    for name in ("v31", "v3"):
        if name in used and schemes[name].verified and schemes[name].lineage:
            return schemes[name].lineage
    return []


def certificates_present(schemes: dict[str, SchemeResult]) -> list[Certificate]:
    seen: dict[str, Certificate] = {}
    for s in schemes.values():
        for signer in s.signers:
            for c in ([signer.certificate] if signer.certificate else []) + signer.chain:
                seen.setdefault(c.sha256, c)
        for node in s.lineage:
            seen.setdefault(node.certificate.sha256, node.certificate)
    return list(seen.values())


SCHEME_LABEL = {"v1": "v1 JAR", "v2": "v2", "v3": "v3", "v31": "v3.1", "v4": "v4",
                "source_stamp": "source stamp"}


def sightings(schemes: dict[str, SchemeResult]) -> list[CertificateSighting]:
    """Every place a certificate sits, in scheme order, with whether that place verified."""
    out: list[CertificateSighting] = []
    for name, s in schemes.items():
        label = SCHEME_LABEL.get(name, name)
        for signer in s.signers:
            role = "stamp" if name == "source_stamp" else "signer"
            if signer.certificate is not None:
                out.append(CertificateSighting(signer.certificate, f"{label} {signer.name}, signing "
                                               "certificate", role, signer.verified))
            where = "PKCS#7 certificate set" if name == "v1" else "certificate list"
            for i, c in enumerate(signer.chain):
                if signer.certificate is not None and c.sha256 == signer.certificate.sha256:
                    continue
                out.append(CertificateSighting(c, f"{label} {signer.name}, extra certificate "
                                               f"{i + 1} of the {where}", "extra", signer.verified))
        for i, node in enumerate(s.lineage):
            out.append(CertificateSighting(node.certificate, f"{label} lineage node {i}",
                                           "lineage", node.verified))
    return out
