"""v3 proof-of-rotation: the SigningCertificateLineage attribute, parsed and verified.

Mirrors apksig's ``V3SigningCertificateLineage.readSigningCertificateLineage`` and the
parts of ``SigningCertificateLineage`` the verifier uses (``getSubLineage``,
``mergeLineageWith``). Each node's signed data (certificate + algorithm id) is signed
by the *previous* node's key with the algorithm the previous node names, so a valid
lineage proves every newer key was endorsed by the older one. The first node is the
original signer and is not signed by anyone.

apksig reports three different issues depending on the Java exception raised; we keep
that mapping through :class:`LineageError.kind`:
``"did_not_verify"`` (SecurityException) -> ``V3_SIG_POR_DID_NOT_VERIFY``,
``"cert_mismatch"`` (IllegalArgumentException) -> ``V3_SIG_POR_CERT_MISMATCH``,
``"malformed"`` (anything else) -> ``V3_SIG_MALFORMED_LINEAGE``.
"""

from __future__ import annotations

from dataclasses import dataclass

from apkscan.apk.crypto import algorithms, jdk_cert
from apkscan.apk.crypto import signatures as crypto
from apkscan.apk.crypto.certificates import apksig_public_key_der, certificate_from_der
from apkscan.apk.model import LineageNode
from apkscan.issues import ApkScanError
from apkscan.apk.signing.common import Buf, Malformed, Sdk

LINEAGE_VERSION = 1
MAX_NODES = 1000  # real lineages have a handful of nodes; apksig has no cap: past it, an input limit



class LineageError(Exception):
    """The lineage could not be accepted; ``nodes`` holds what verified before the failure."""

    def __init__(self, kind: str, message: str, nodes: list[LineageNode] | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.nodes = nodes or []


@dataclass(slots=True)
class Lineage:
    """Verified nodes, oldest first, with the DER of each certificate for comparisons."""

    nodes: list[LineageNode]
    min_sdk: int = Sdk.P

    @property
    def ders(self) -> list[bytes]:
        return [n.certificate.der for n in self.nodes]

    def __len__(self) -> int:
        return len(self.nodes)


class _Reader(Buf):
    """The common reader, failing as ``LineageError('malformed')`` as apksig's lineage parser does."""

    __slots__ = ()

    def u32(self) -> int:
        try:
            return super().u32()
        except Malformed as exc:
            raise LineageError("malformed", f"Failed to parse V3SigningCertificateLineage object: {exc}") from None

    def prefixed(self) -> bytes:
        try:
            return self.prefixed_bytes()
        except Malformed as exc:
            raise LineageError("malformed", f"Failed to parse V3SigningCertificateLineage object: {exc}") from None


def parse_lineage(value: bytes) -> Lineage:
    """Parse and verify a lineage attribute value; raise :class:`LineageError` on failure."""
    if not value:
        raise LineageError("cert_mismatch", "empty SigningCertificateLineage")
    r = _Reader(value)
    if r.u32() != LINEAGE_VERSION:
        raise LineageError("cert_mismatch", "Encoded SigningCertificateLineage has an unknown version")
    nodes: list[LineageNode] = []
    seen: set[bytes] = set()
    last_der: bytes | None = None
    last_alg_id = 0
    min_sdk = Sdk.P
    while r.remaining():
        number = len(nodes) + 1
        if number > MAX_NODES:
            raise LineageError("limit", f"SigningCertificateLineage has more than {MAX_NODES} nodes", nodes)
        node = _Reader(r.prefixed())
        signed_data = node.prefixed()
        flags = node.u32()
        alg_id = node.u32()
        signature = node.prefixed()
        if last_der is not None:
            alg = algorithms.by_id(last_alg_id)
            if alg is None:
                raise LineageError("malformed", f"certificate #{number}: unknown signature algorithm {last_alg_id:#x} of the previous node", nodes)
            key = apksig_public_key_der(last_der)
            try:
                ok = key is not None and crypto.verify_signature(key, alg.jca, signed_data, signature, in_certificate=True)
            except ApkScanError:
                ok = False
            if not ok:
                raise LineageError("did_not_verify", f"Unable to verify signature of certificate #{number} using {alg.jca}", nodes)
        signed = _Reader(signed_data)
        der = signed.prefixed()
        signed_alg_id = signed.u32()
        if last_der is not None and signed_alg_id != last_alg_id:
            raise LineageError("did_not_verify", f"Signing algorithm ID mismatch for certificate #{number}", nodes)
        if jdk_cert.refusal(der) is not None:  # apksig: generateCertificate (OpenJDK's rule)
            raise LineageError("did_not_verify", f"Failed to decode certificate #{number}", nodes)
        if der in seen:
            raise LineageError("did_not_verify", f"Encountered duplicate entries in SigningCertificateLineage at certificate #{number}", nodes)
        seen.add(der)
        parent_alg = algorithms.by_id(signed_alg_id)
        if parent_alg is not None:
            min_sdk = max(min_sdk, parent_alg.min_sdk)
        nodes.append(LineageNode(certificate_from_der(der), flags, parent_alg.name if parent_alg else None, verified=True))
        last_der, last_alg_id = der, alg_id
    return Lineage(nodes, min_sdk)


def sub_lineage(lineage: Lineage, cert_der: bytes) -> Lineage:
    """The nodes up to and including ``cert_der``; ``cert_mismatch`` if it is not in the lineage."""
    for i, der in enumerate(lineage.ders):
        if der == cert_der:
            return Lineage(lineage.nodes[: i + 1], lineage.min_sdk)
    raise LineageError("cert_mismatch", "Certificate not found in SigningCertificateLineage")


def merge(a: Lineage, b: Lineage) -> Lineage:
    """apksig's ``mergeLineageWith``: one lineage must continue the other, without divergence."""
    if not a.nodes or not b.nodes:
        raise LineageError("cert_mismatch", "empty lineage cannot be merged")
    if a.ders[0] in b.ders:
        descendant, ancestor = a, b
    else:
        descendant, ancestor = b, a
    anc, desc = ancestor.nodes, descendant.nodes
    merged: list[LineageNode] = []
    ai, di = 0, 1
    first = desc[0]
    while ai < len(anc):
        node = anc[ai]
        ai += 1
        if node.certificate.der == first.certificate.der:
            break
        merged.append(node)
    if ai == len(merged):
        raise LineageError("cert_mismatch", "The provided lineage is not a descendant or an ancestor of this lineage")
    merged.append(first)
    while ai < len(anc) and di < len(desc):
        x, y = anc[ai], desc[di]
        ai += 1
        di += 1
        if x.certificate.der != y.certificate.der:
            raise LineageError("cert_mismatch", "The provided lineage diverges from this lineage")
        merged.append(y)
    merged.extend(anc[ai:])
    merged.extend(desc[di:])
    return Lineage(merged, min(a.min_sdk, b.min_sdk))


def consolidate(lineages: list[Lineage]) -> Lineage | None:
    """Merge the lineages of all v3 signers into one (apksig ``consolidateLineages``)."""
    if not lineages:
        return None
    out = lineages[0]
    for other in lineages[1:]:
        out = merge(out, other)
    return out
