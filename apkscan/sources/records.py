"""Identities of apps known only from a device's records, not from APK bytes.

A backup's ``_manifest`` or an AndroidQF ``packages.json`` names a package and the
signing certificates the device recorded for it. apkscan cannot verify those (there is
no signed APK to check), so the identity says where it came from: ``origin="recorded"``
with the certificates in ``recorded_certificates`` (never in ``verification``), or
``origin="listed"`` when only a package name is known (``pm list``, ``dumpsys``).
"""

from __future__ import annotations

from apkscan.apk.crypto.certificates import certificate_from_der
from apkscan.apk.model import ApkIdentity, Certificate, ManifestInfo
from apkscan.sources.interface import RecordedApp, RecordedCertificate


def recorded_identity(app: RecordedApp) -> ApkIdentity:
    """The identity a scan matches for ``app``: package and recorded certificates only."""
    read = [(cert, c.unverified) for c in app.certificates if (cert := _certificate(c)) is not None]
    certs = [c for c, why in read if not why]
    unverified = [(c, why) for c, why in read if why]  # its recorder could not verify it: present only
    manifest = ManifestInfo(package=app.package, version_code=app.version_code,
                            version_name=app.version_name, label=app.label,
                            labels={"": app.label} if app.label else {})
    identity = ApkIdentity(path=app.display, manifest=manifest,
                           origin="recorded" if read else "listed", recorded_by=app.recorded_by,
                           recorded_certificates=certs, recorded_unverified=unverified, record_note=app.note or None)
    identity.warnings.extend(app.warnings)
    identity.tamper.extend(app.flags)
    # nothing of an APK was there to read: each part says why, not an empty ``why`` (review 62 L7)
    identity.completeness.stopped(f"no APK bytes: {identity.origin} app")
    return identity


def _certificate(rec: RecordedCertificate) -> Certificate | None:
    if rec.der:
        return certificate_from_der(rec.der)
    if not (rec.sha256 or rec.sha1 or rec.md5):
        return None
    # names as the record wrote them, their attributes as its source read them: rules match those as a claim
    return Certificate(sha256=(rec.sha256 or "").lower(), sha1=(rec.sha1 or "").lower(),
                       md5=(rec.md5 or "").lower(), subject=rec.subject or "", issuer=rec.issuer or "",
                       subject_attrs={k: list(v) for k, v in rec.subject_attrs.items()},
                       issuer_attrs={k: list(v) for k, v in rec.issuer_attrs.items()})
