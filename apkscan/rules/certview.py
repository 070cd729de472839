"""The certificates of one identity, split by what they prove.

Only a verified key is an identity. The apk layer already decided what verified; here the
certificates are sorted into the roles the matcher needs:

- ``signers``/``lineage``: verified signers of an APK that verifies (apksigner's list), and
  the verified lineage that counted;
- ``others``: every other verified key of such an APK: a signer of a scheme that counted that
  apksigner does not print (a v3 signer for older Android versions, one beside a v3.1 signer),
  a node of another verified lineage (review 75 F1: their names read as merely present);
- ``present``: every other place a certificate sits (:class:`Seen`), with the location and
  whether the signature carrying it verified (a foreign certificate *planted* in a valid
  signature is not the same fact as one in a signature that fails);
- ``recorded``: certificates a device recorded for an app (no APK bytes: never verified here);
  one its recorder says did not verify (AndroidQF) is ``present`` instead, role ``recorded``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apkscan.apk.model import ApkIdentity, Certificate, VerificationResult
from apkscan.apk.signing.outcome import SCHEME_LABEL


BUNDLE_UPLOAD_KEY = ("its JAR signature is not checked, and an upload key is not the key devices see "
                     "(Play re-signs the APKs it builds)")


@dataclass(slots=True)
class Seen:
    """A certificate that is not a verified signer, and where it was found."""

    certificate: Certificate
    location: str
    role: str  # signer | extra | lineage | stamp | file
    carrier_verified: bool  # the signature (signer, node) carrying it verified (--quick: over the signed data)
    apk_verified: bool = False  # the APK as a whole verified (apksigner's verdict)
    signature_only: bool = False  # --quick: the carrier's signature checked out, the content was not checked
    why: str = ""  # role "recorded": why its recorder could not verify it (review 88 F2); an app bundle's: why never checked

    @property
    def planted(self) -> bool:
        """Carried by a signature that verified, signing nothing itself."""
        return self.role == "extra" and self.carrier_verified

    @property
    def unverified_record(self) -> bool:
        """A device record's certificate its recorder could not verify: neither forged nor planted
        as far as apkscan knows (it read no signature), only not verified."""
        return self.role == "recorded"

    def describe(self) -> str:
        if self.unverified_record:
            return f"{self.location}; not verified: {self.why}"
        if self.why and not self.carrier_verified:  # an app bundle's upload signature: not checked, not failed
            return f"{self.location}; {self.why}"
        if not self.carrier_verified:
            return f"{self.location} (that signature does not verify)"
        if self.signature_only:
            return f"{self.location} (that signature checked out over the signed data; content not checked: --quick)"
        if not self.apk_verified:
            return (f"{self.location} (that signature verified, but the APK does not verify "
                    "for its SDK range)")
        return f"{self.location} (that signature verified)"


@dataclass(slots=True, frozen=True)
class NamedKey:
    """A verified key and how evidence on it is named: ``field`` prefix (``signer``,
    ``lineage[0]``, ``v3signer[1]``: :mod:`apkscan.key_fields`) and where it signed."""

    certificate: Certificate
    field: str
    where: str


@dataclass(slots=True)
class CertView:
    """The certificates of one identity, split by the role the verifier gave them."""

    origin: str = "apk"
    signers: list[Certificate] = field(default_factory=list)  # verified signers
    lineage: list[tuple[int, Certificate]] = field(default_factory=list)  # verified lineage nodes
    others: list[NamedKey] = field(default_factory=list)  # every other verified key (:func:`_other_keys`)
    present: list[Seen] = field(default_factory=list)  # everything else, first sighting each
    recorded: list[Certificate] = field(default_factory=list)
    recorded_by: str | None = None
    stamp: Certificate | None = None
    stamp_verified: bool = False
    places: dict[str, list[str]] = field(default_factory=dict)  # sha256 -> verified sightings
    _digests: list[tuple[str, str]] | None = field(default=None, repr=False, compare=False)

    def digests(self) -> list[tuple[str, str]]:
        """(algorithm, hex) of every certificate in any role, computed once per view: a known
        certificate index is asked with them ~20 times per match (the view is not changed once built)."""
        if self._digests is None:
            certs = [*self.verified_keys, *(s.certificate for s in self.present), *self.recorded]
            self._digests = [(algo, v) for c in certs for algo in ("sha256", "sha1", "md5")
                             if (v := getattr(c, algo, None))]
        return self._digests

    def place(self, cert: Certificate, default: str) -> str:
        """Where a verified certificate signed, e.g. "verified signer (v2 signer #1, v3 signer #1)"."""
        where = self.places.get(cert.sha256)
        return f"{default} ({', '.join(where)})" if where else default

    def own_place(self, cert: Certificate, place: str, note: str) -> str:
        """Where one of :attr:`others` signed: "verified v3 signer #1 (SDK 28)", with any other
        verified place it holds ("verified v3 lineage node 0 (a key rotated away from; also v2 signer #1)")."""
        also = [p for p in self.places.get(cert.sha256, []) if p != place]
        notes = [note] if note else []
        notes += [f"also {', '.join(also)}"] if also else []
        return f"verified {place}" + (f" ({'; '.join(notes)})" if notes else "")

    @property
    def verified_keys(self) -> list[Certificate]:
        return self.signers + [c for _, c in self.lineage] + [k.certificate for k in self.others]

    def named_keys(self) -> list[NamedKey]:
        """Every verified key whose names a matcher reads, once each: the signers, then the
        verified lineage nodes the app rotated away from (review 73 F5: a key rotated away from
        keeps its name; it verifiably signed this app), then the other verified keys (review 75 F1)."""
        out = [NamedKey(c, "signer", self.place(c, "verified signer")) for c in self.signers]
        done = {c.sha256 for c in self.signers}
        for i, c in self.lineage:
            if c.sha256 not in done:
                done.add(c.sha256)
                out.append(NamedKey(c, f"lineage[{i}]", self.place(
                    c, f"verified lineage node {i}, a key this app rotated away from")))
        return out + [k for k in self.others if k.certificate.sha256 not in done]

    def all_certificates(self) -> list[tuple[str, Certificate]]:
        """(where, certificate) for every certificate of the identity, in any role."""
        out = [("verified signer", c) for c in self.signers]
        out += [(f"verified lineage node {i}", c) for i, c in self.lineage]
        out += [(k.where, k.certificate) for k in self.others]
        out += [(s.location, s.certificate) for s in self.present]
        out += [(f"recorded by {self.recorded_by or 'the device'}", c) for c in self.recorded]
        return out

    @classmethod
    def of(cls, identity: ApkIdentity) -> CertView:
        view = cls(origin=identity.origin, recorded=list(identity.recorded_certificates),
                   recorded_by=identity.recorded_by)
        by = f"recorded by {identity.recorded_by or 'the device'}"
        view.present = [Seen(c, by, "recorded", False, why=why) for c, why in identity.recorded_unverified]
        v = identity.verification
        if v is None:
            return view
        ok = identity.verified  # no verified role at all when the APK does not verify
        if ok:
            view.signers = list(v.signers)
            view.lineage = [(i, n.certificate) for i, n in enumerate(v.lineage) if n.verified]
        others = _other_keys(v, {c.sha256 for c in view.verified_keys}) if ok else []
        trusted = {c.sha256 for c in view.verified_keys} | {c.sha256 for c, _f, _p, _s in others}
        seen: dict[str, Seen] = {}
        for s in v.sightings:
            sha = s.certificate.sha256
            if sha in trusted and s.verified and s.role in ("signer", "lineage"):
                view.places.setdefault(sha, []).append(s.location.replace(", signing certificate", ""))
            if sha in trusted or s.role == "stamp":
                continue
            prior = seen.get(sha)
            # keep the most telling sighting: a failed signature over a valid carrier
            carried = s.verified or s.signature_only
            if prior is None or (prior.carrier_verified and not carried):
                seen[sha] = Seen(s.certificate, s.location, s.role, carried, ok, s.signature_only)
        for c in v.certificates_present:  # anything the sightings do not place
            if c.sha256 not in trusted and c.sha256 not in seen:
                seen[c.sha256] = Seen(c, "elsewhere in the signatures", "file", False)
        view.present = list(seen.values())
        if identity.origin == "bundle":
            for s in view.present:
                s.why = BUNDLE_UPLOAD_KEY
        view.others = [NamedKey(c, prefix, view.own_place(c, place, note)) for c, prefix, place, note in others]
        view.stamp, view.stamp_verified = v.source_stamp, _stamp_counts(identity)
        return view


def _other_keys(v: VerificationResult, named: set[str]) -> list[tuple[Certificate, str, str, str]]:
    """(certificate, field prefix, place, note: a signer's SDK range) of every verified key of a verified APK not
    already ``named`` (apksigner's signers, the lineage that counted), once each: every verified
    signer and verified lineage node of each scheme that counted and verified (``verified_using``,
    newest scheme first). apksigner prints the newest v3.1/v3 signer only, but a v3 signer for
    Android 9, or beside a v3.1 signer, verifiably signed the app: Android installs it under that
    key on those versions (review 75 F1)."""
    out: list[tuple[Certificate, str, str, str]] = []
    seen = set(named)
    for name in v.verified_using:
        scheme = v.schemes.get(name)
        if scheme is None or not scheme.verified:
            continue
        label = SCHEME_LABEL.get(name, name)  # as the sightings name places: "v3.1 signer #1"
        keys = [(s.certificate, f"{name}signer[{n}]", f"{label} {s.name}", _sdk_range(s.min_sdk, s.max_sdk))
                for n, s in enumerate(scheme.signers, 1) if s.verified and s.certificate is not None]
        keys += [(node.certificate, f"{name}lineage[{i}]", f"{label} lineage node {i}", "a key rotated away from")
                 for i, node in enumerate(scheme.lineage) if node.verified]
        for cert, prefix, place, note in keys:
            if cert.sha256 not in seen:
                seen.add(cert.sha256)
                out.append((cert, prefix, place, note))
    return out


def _sdk_range(lo: int | None, hi: int | None) -> str:
    """A v3/v3.1 signer's SDK range as a reader says it: "SDK 28", "SDK 29 and later", "SDK 24-32"."""
    if lo is None or hi is None:
        return ""
    if hi >= 0x7FFFFFFF:
        return f"SDK {lo} and later"
    return f"SDK {lo}" if lo == hi else f"SDK {lo}-{hi}"


def _stamp_counts(identity: ApkIdentity) -> bool:
    """A source stamp signs the digests of the schemes apksig used; it vouches for nothing
    unless the APK verified and every one of those schemes verified itself."""
    v = identity.verification
    if v is None or not identity.verified or not v.source_stamp_verified:
        return False
    covered = [n for n in v.verified_using if n in ("v1", "v2", "v3")]
    return bool(covered) and all(v.schemes[n].verified for n in covered)
