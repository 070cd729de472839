"""The certificates of one identity, split by what they prove.

Only a verified key is an identity. The apk layer already decided what verified; here the
certificates are sorted into the roles the matcher needs:

- ``signers``/``lineage``: verified signers of an APK that verifies, and verified lineage;
- ``present``: every other place a certificate sits (:class:`Seen`), with the location and
  whether the signature carrying it verified (a foreign certificate *planted* in a valid
  signature is not the same fact as one in a signature that fails);
- ``recorded``: certificates a device recorded for an app (no APK bytes: never verified here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apkscan.apk.model import ApkIdentity, Certificate


@dataclass(slots=True)
class Seen:
    """A certificate that is not a verified signer, and where it was found."""

    certificate: Certificate
    location: str
    role: str  # signer | extra | lineage | stamp | file
    carrier_verified: bool  # the signature (signer, node) carrying it verified (--quick: over the signed data)
    apk_verified: bool = False  # the APK as a whole verified (apksigner's verdict)
    signature_only: bool = False  # --quick: the carrier's signature checked out, the content was not checked

    @property
    def planted(self) -> bool:
        """Carried by a signature that verified, signing nothing itself."""
        return self.role == "extra" and self.carrier_verified

    def describe(self) -> str:
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
    ``lineage[0]``) and where it signed."""

    certificate: Certificate
    field: str
    where: str


def on_verified_key(field: str | None) -> bool:
    """Whether an evidence field was read from a verified key (a signer or a lineage node)."""
    return (field or "").startswith(("signer.", "lineage["))


@dataclass(slots=True)
class CertView:
    """The certificates of one identity, split by the role the verifier gave them."""

    origin: str = "apk"
    signers: list[Certificate] = field(default_factory=list)  # verified signers
    lineage: list[tuple[int, Certificate]] = field(default_factory=list)  # verified lineage nodes
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
            certs = [*self.signers, *(c for _, c in self.lineage), *(s.certificate for s in self.present),
                     *self.recorded]
            self._digests = [(algo, v) for c in certs for algo in ("sha256", "sha1", "md5")
                             if (v := getattr(c, algo, None))]
        return self._digests

    def place(self, cert: Certificate, default: str) -> str:
        """Where a verified certificate signed, e.g. "verified signer (v2 signer #1, v3 signer #1)"."""
        where = self.places.get(cert.sha256)
        return f"{default} ({', '.join(where)})" if where else default

    @property
    def verified_keys(self) -> list[Certificate]:
        return self.signers + [c for _, c in self.lineage]

    def named_keys(self) -> list[NamedKey]:
        """Every verified key whose names a matcher reads, once each: the signers, then the
        verified lineage nodes the app rotated away from (review 73 F5: a key rotated away from
        keeps its name; it verifiably signed this app)."""
        out = [NamedKey(c, "signer", self.place(c, "verified signer")) for c in self.signers]
        done = {c.sha256 for c in self.signers}
        for i, c in self.lineage:
            if c.sha256 not in done:
                done.add(c.sha256)
                out.append(NamedKey(c, f"lineage[{i}]", self.place(
                    c, f"verified lineage node {i}, a key this app rotated away from")))
        return out

    def all_certificates(self) -> list[tuple[str, Certificate]]:
        """(where, certificate) for every certificate of the identity, in any role."""
        out = [("verified signer", c) for c in self.signers]
        out += [(f"verified lineage node {i}", c) for i, c in self.lineage]
        out += [(s.location, s.certificate) for s in self.present]
        out += [(f"recorded by {self.recorded_by or 'the device'}", c) for c in self.recorded]
        return out

    @classmethod
    def of(cls, identity: ApkIdentity) -> CertView:
        view = cls(origin=identity.origin, recorded=list(identity.recorded_certificates),
                   recorded_by=identity.recorded_by)
        v = identity.verification
        if v is None:
            return view
        ok = identity.verified  # no verified role at all when the APK does not verify
        if ok:
            view.signers = list(v.signers)
            view.lineage = [(i, n.certificate) for i, n in enumerate(v.lineage) if n.verified]
        trusted = {c.sha256 for c in view.verified_keys}
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
        view.stamp, view.stamp_verified = v.source_stamp, _stamp_counts(identity)
        return view


def _stamp_counts(identity: ApkIdentity) -> bool:
    """A source stamp signs the digests of the schemes apksig used; it vouches for nothing
    unless the APK verified and every one of those schemes verified itself."""
    v = identity.verification
    if v is None or not identity.verified or not v.source_stamp_verified:
        return False
    covered = [n for n in v.verified_using if n in ("v1", "v2", "v3")]
    return bool(covered) and all(v.schemes[n].verified for n in covered)
