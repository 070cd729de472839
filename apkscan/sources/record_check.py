"""A device's record against the APK scanned beside it: does the recorded signer agree?

A backup's ``_manifest`` or an AndroidQF ``packages.json`` record is not listed when an APK of
its package (one of its recorded files, when it names their SHA-256s) was scanned from the
same container and agrees with it: the verified APK says more. When the record names signing
certificates and that APK *verifies* under none of them, the two contradict each other (a
tampered record or a swapped APK): that is said, as the tamper fact
``BACKUP_RECORD_SIGNER_MISMATCH``, and the record stays listed as its own app, decided on its
recorded certificates (review 60 F2: one swapped APK of the package, anywhere in the backup,
made a TikTok-signed record vanish and left only an ``allowed`` app). An APK that does not
verify has no identity to contradict a record with; nothing is claimed then, and the record
stays listed beside it (its recorded certificates say more than certificates merely present in
a copy that fails). Under ``--quick`` nothing verifies, so a record naming certificates is never
retired: a certificate merely present can be pasted by anyone (review 60 F2b).

A rotated app's key history is its own: Android's ``PackageInfo.signatures`` gives the oldest
certificate of a rotated app, and tools that read only v1/v2 see the signer for older SDKs. So
the keys a record may name are the verified signers, the *verified* nodes of the verified
lineage, and the verified signers of each scheme that verified (v1/v2 for older SDKs); a
certificate merely present (an unverified node, an extra certificate of a set) is none of them.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

from apkscan.issues import Issue, tamper
from apkscan.sources.interface import LISTINGS, RecordedApp, RecordedCertificate, chain_display

MAX_NAMED = 3  # certificates named in one message
RECORD_OF_SCANNED_APK = "package record whose APK was scanned (listed once, as the APK)"
RECORD_TIED_BY_PACKAGE = ("package record whose APK was scanned (listed once, as the APK; --quick hashes no file and "
                          "verifies no key: tied by package, the record naming no certificate)")

UNREAD = ""  # in ``placed``: the file could not be read (no package is empty): it says nothing of a swap
NO_PACKAGE = "(no package Android reads)"  # in ``placed``: an APK read whose manifest gives Android none
Key = tuple[str, str, str]  # (SHA-256, SHA-1, MD5) of a certificate, lower-case hex ("" when unknown)


class ScannedApk(NamedTuple):
    """A scanned APK as records are tied to it."""

    chain: tuple[str, ...]
    sha256: str | None  # None under --quick (no file hashed)
    signers: frozenset[Key] | None  # verified keys; None when it did not verify (or nothing verified)
    failed: bool  # read in full and did not verify


def remember_scanned(scanned: dict[str, list[ScannedApk]], r: Any,
                     placed: dict[tuple[str, ...], set[str]] | None = None) -> None:
    """Note a scanned APK (an app's result, or its line answered by the store) for record matching;
    ``placed``: the packages read from each file and container of its chain (:func:`swapped_apk`)."""
    identity = getattr(r, "identity", None)
    if type(r).__name__ == "AppResult" and identity.manifest and identity.origin == "apk" and (
            identity.file or identity.verification):
        sha = identity.file.sha256 if identity.file else None
        signers = verified_signers(identity)
        package, apk = identity.manifest.package, ScannedApk(tuple(r.chain), sha, signers,
                                                             sha is not None and signers is None)
    elif type(r).__name__ == "KnownApp" and r.package:  # an app as its line (apkscan.batch.known)
        package, apk = r.package, ScannedApk(tuple(r.chain), r.sha256, None, r.verified is False)
    else:
        if type(r).__name__ == "InputError" and not r.partial and placed is not None:
            placed.setdefault(tuple(r.chain), set()).add(UNREAD)  # e.g. INPUT_OPEN_FOR_WRITING (review 72 F6)
        return
    scanned.setdefault(package, []).append(apk)
    for depth in range(1, len(apk.chain) + 1) if placed is not None else ():
        placed.setdefault(apk.chain[:depth], set()).add(package or NO_PACKAGE)  # None: a swap's message named it


def scanned_here(record: RecordedApp, scanned: dict[str, list[ScannedApk]]) -> list[ScannedApk]:
    """The scanned APKs of the record's package from the record's own container (backup,
    acquisition, backup folder) that, when the record names its files' SHA-256s, are one of them.
    An APK with no file SHA-256 (``--quick``) is tied only when the record names no certificate:
    nothing verifies under ``--quick``, and a certificate merely present never retires a record
    naming certificates (anyone can paste one; review 60 F2b): both are listed.

    The package is the one Android reads from the scanned APK, never a folder or file name:
    an APK of another app filed under a banned app's name does not hide the banned app's record.
    Nor, when the record names certificates, does a package whose APK (any APK of a split set)
    was read in full and does not verify: its certificates are only present (weak), the record's
    are what the device recorded (strong); both are listed (review 38 R2-2, review 39 #3). A record
    without certificates (a name and a label) says nothing more and is not listed twice (#4).
    """
    container = tuple(record.chain[:-1])
    if not container:  # a record read from a given file (text evidence): no container to look in
        return []
    recorded = [d for d in (_digests(c) for c in record.certificates) if any(d)]
    here = [apk for apk in scanned.get(record.package, ()) if apk.chain[:len(container)] == container
            and _beside(record, apk.chain[len(container):])]
    if recorded and any(apk.failed and (not record.apk_sha256s or apk.sha256 in record.apk_sha256s) for apk in here):
        return []  # an APK of it (a split set's base, say) does not verify: the recorded keys say more
    return [apk for apk in here if (not recorded if apk.sha256 is None  # --quick: no hash, no verified key
                                    else not record.apk_sha256s or apk.sha256 in record.apk_sha256s)]


def _beside(record: RecordedApp, rest: tuple[str, ...]) -> bool:
    """A listing (``pm list``, ``dumpsys``) speaks for the device it was taken on: only an APK in
    its own folder or below it says the same, never one of another device's folder in the same
    archive (review 69 F3 note: in a ZIP of a fleet, one device's APK hid another's listed
    WeChat; given as a folder, a listing is never tied). A backup's own records keep its scope."""
    if record.recorded_by not in LISTINGS:
        return True
    folder = record.chain[-1].replace("\\", "/").rpartition("/")[0]
    return not folder or bool(rest) and rest[0].replace("\\", "/").startswith(folder + "/")


def tied_reason(matched: list[ScannedApk]) -> str:
    return RECORD_TIED_BY_PACKAGE if any(apk.sha256 is None for apk in matched) else RECORD_OF_SCANNED_APK


def verified_signers(identity: Any) -> frozenset[Key] | None:
    """(SHA-256, SHA-1, MD5) of the APK's verified keys (signers, verified lineage nodes, verified
    signers of the schemes that verified); None when it did not verify."""
    v = getattr(identity, "verification", None)
    if v is None or not v.verified or not v.signers:
        return None
    certs = list(v.signers) + [n.certificate for n in v.lineage if n.verified]
    for scheme in v.schemes.values():
        if scheme.verified:
            certs += [s.certificate for s in scheme.signers if s.verified and s.certificate is not None]
    return frozenset(((c.sha256 or "").lower(), (c.sha1 or "").lower(), (c.md5 or "").lower()) for c in certs)


def record_contradiction(record: RecordedApp, matched: list[ScannedApk]) -> list[Issue]:
    """One tamper fact per scanned APK that verifies under none of the certificates ``record``
    names; [] when they agree or cannot be compared. A contradicted record stays listed."""
    recorded = [d for d in (_digests(c) for c in record.certificates) if any(d)]
    if not recorded:
        return []
    issues = []
    for apk in matched:
        if apk.signers is None or any(_same(d, s) for d in recorded for s in apk.signers):
            continue
        said = ", ".join(next(x for x in d if x) for d in recorded[:MAX_NAMED])
        verified = ", ".join(sorted(s[0] for s in apk.signers)[:MAX_NAMED])
        issues.append(tamper("BACKUP_RECORD_SIGNER_MISMATCH",
                             f"{record.recorded_by} records {record.package} as signed by {said}, but the APK "
                             f"scanned from this input ({chain_display(apk.chain)}) verifies under {verified}: "
                             "a tampered record or a swapped APK"))
    return issues


def swapped_apk(record: RecordedApp, placed: dict[tuple[str, ...], set[str]]) -> list[Issue]:
    """A tamper fact for each file the layout names as the record's APK (Swift's ``<pkg>.app``) that
    was read only as other packages, when no APK of the record's package was (the caller asks then):
    a swapped APK or a mislabelled backup. The record stays listed (review 69 F7). Nothing is
    claimed when one of those files could not be read: the package's APK may be the unread one."""
    if any(UNREAD in placed.get(chain, ()) for chain in record.apk_files):
        return []
    issues = []
    for chain in record.apk_files:
        others = sorted(placed.get(chain, set()) - {record.package, UNREAD})
        if others:
            more = ", ..." if len(others) > MAX_NAMED else ""
            issues.append(tamper("BACKUP_APK_PACKAGE_MISMATCH",
                                 f"{chain_display(chain)} is named as {record.package}'s APK but was read as "
                                 f"{', '.join(others[:MAX_NAMED])}{more}, and no APK of {record.package} was "
                                 "scanned from this backup: a swapped APK or a mislabelled backup"))
    return issues


def _digests(cert: RecordedCertificate) -> Key:
    if cert.der:
        return (hashlib.sha256(cert.der).hexdigest(), hashlib.sha1(cert.der).hexdigest(),
                hashlib.md5(cert.der).hexdigest())
    return ((cert.sha256 or "").lower(), (cert.sha1 or "").lower(), (cert.md5 or "").lower())


def _same(recorded: Key, signer: Key) -> bool:
    """The same certificate when a digest both sides know is equal (the strongest one known)."""
    for mine, theirs in zip(recorded, signer):
        if mine and theirs:
            return mine == theirs
    return False
