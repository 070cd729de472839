"""Source stamp: a second, distributor-held key signing the APK's signature digests.

Mirrors apksig's ``V2SourceStampVerifier``, ``SourceStampVerifier.verifyV2SourceStamp``
and ``SourceStampCertificateLineage``. Only the V2 stamp block (id 0x6dff800d) is
verified; apksig discards the older V1 stamp block (0x2b09189e), so an APK carrying only
that one has "no SourceStamp signature".

Block layout (little-endian, every "bytes" is uint32 length + data)::

    bytes stampBlock:
        bytes certificate                       # the stamp signer's X.509 DER
        bytes signedSchemes: sequence of bytes { uint32 schemeId; bytes signatures }
        [bytes attributes: bytes sequence of bytes { uint32 id; value }]   # optional
        [bytes attributeSignatures]
    signatures: sequence of bytes { uint32 algorithmId; bytes signature }

For each scheme the APK was verified with (1 = JAR: SHA-256 of MANIFEST.MF; 2, 3: the
signers' content digests), the stamp signs that scheme's digests encoded as a sorted
sequence of (digest algorithm id, digest). The ZIP entry ``stamp-cert-sha256`` holds the
SHA-256 of the stamp certificate and must match it.

As in apksig every stamp problem is a *warning*: a broken stamp never fails the APK's
own verification, it only leaves the stamp unverified (``scheme.verified`` False). A
certificate read from the block is reported as present even when it did not verify.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from apkscan.apk.crypto import algorithms, jdk_cert
from apkscan.apk.crypto import signatures as crypto
from apkscan.apk.crypto.algorithms import ContentDigest, SignatureAlgorithm
from apkscan.apk.crypto.certificates import apksig_public_key_der, certificate_from_der
from apkscan.apk.signing.common import Buf, Malformed
from apkscan.apk.signing.v2v3.lineage import LineageError, parse_lineage
from apkscan.apk.model import Certificate, LineageNode, SchemeResult, SignerResult
from apkscan.issues import ApkScanError, Issue, warning

STAMP_CERT_ENTRY = "stamp-cert-sha256"
PROOF_OF_ROTATION_ATTR_ID = 0x9D6303F7
STAMP_TIME_ATTR_ID = 0xE43C5946
SCHEME_V31 = 31
MAX_LINEAGE_NODES = 64
MAX_SIGNATURES = 64  # per signature list; real stamps carry one or two


@dataclass(slots=True)
class StampResult:
    scheme: SchemeResult  # name "source_stamp"; signers[0].certificate is the stamp certificate
    certificate: Certificate | None  # present in the block (verified only if scheme.verified)
    lineage: list[LineageNode] = field(default_factory=list)  # stamp key rotation, oldest first
    timestamp: int | None = None  # epoch seconds from the signed timestamp attribute
    info: list[Issue] = field(default_factory=list)  # apksig "info messages": never fatal


class _Stop(Exception):
    """A warning was recorded; apksig returns at this point."""


class _Ctx:
    def __init__(self, min_sdk: int, max_sdk: int):
        self.min_sdk, self.max_sdk = min_sdk, max_sdk
        self.warnings: list[Issue] = []
        self.info: list[Issue] = []
        self.certificate: Certificate | None = None
        self.cert_der: bytes = b""
        self.lineage: list[LineageNode] = []
        self.timestamp: int | None = None

    def stop(self, code: str, message: str) -> None:
        self.warnings.append(warning(code, message))
        raise _Stop


def encode_digests(digests: Mapping[ContentDigest, bytes]) -> bytes:
    """apksig's sequence of (uint32 len, uint32 digest id, bytes digest), sorted by id."""
    out = bytearray()
    for alg in sorted(digests, key=int):
        value = digests[alg]
        out += struct.pack("<III", 8 + len(value), int(alg), len(value)) + value
    return bytes(out)


def verify_source_stamp(
    block_value: bytes | None,
    stamp_cert_entry: bytes | None,
    scheme_digests: Mapping[int, Mapping[ContentDigest, bytes]],
    min_sdk: int,
    max_sdk: int,
) -> StampResult:
    """Verify the V2 source stamp block against the ``stamp-cert-sha256`` entry and digests.

    ``block_value``: value of signing-block pair 0x6dff800d (not the V1 block), or None.
    ``stamp_cert_entry``: uncompressed ``stamp-cert-sha256`` entry, or None if absent.
    ``scheme_digests``: per scheme apksig used (1, 2, 3; 31 is skipped like apksig), the
    digests the stamp must have signed. ``min_sdk`` is apksig's ``max(minSdk, 30)`` in
    the full verification and the APK's own in ``verifySourceStamp``.
    """
    scheme = SchemeResult("source_stamp", present=block_value is not None or stamp_cert_entry is not None)
    ctx = _Ctx(min_sdk, max_sdk)
    if block_value is None:
        if stamp_cert_entry is not None:
            ctx.warnings.append(warning("SOURCE_STAMP_SIG_MISSING", "No SourceStamp signature"))
    else:
        try:
            _verify_block(block_value, stamp_cert_entry, scheme_digests, ctx)
        except _Stop:
            pass
        except Malformed:
            ctx.warnings.append(warning("SOURCE_STAMP_MALFORMED_SIGNATURE", "Malformed SourceStamp signature"))
    scheme.warnings.extend(ctx.warnings)
    if block_value is not None:
        scheme.signers.append(SignerResult(
            name="source stamp",
            certificate=ctx.certificate,
            chain=[ctx.certificate] if ctx.certificate else [],
            warnings=[],
        ))
    scheme.lineage = list(ctx.lineage)
    scheme.verified = block_value is not None and stamp_cert_entry is not None and not ctx.warnings and ctx.certificate is not None
    for s in scheme.signers:
        s.verified = scheme.verified
    for node in scheme.lineage:
        node.verified = node.verified and scheme.verified
    return StampResult(scheme, ctx.certificate, list(ctx.lineage), ctx.timestamp, ctx.info)


def _verify_block(value: bytes, entry: bytes | None, scheme_digests: Mapping[int, Mapping[ContentDigest, bytes]], ctx: _Ctx) -> None:
    data = Buf(value).slice()  # the pair value is itself one length-prefixed stamp block
    cert_der = data.slice().rest()
    if jdk_cert.refusal(cert_der) is not None:  # apksig: generateCertificate (OpenJDK's rule)
        ctx.stop("SOURCE_STAMP_MALFORMED_CERTIFICATE", "Malformed certificate: no readable X.509 certificate in the stamp block")
    ctx.cert_der = cert_der
    ctx.certificate = certificate_from_der(cert_der)
    if entry is None:
        # apksig's full verification skips the stamp without the entry; its stamp-only API says:
        ctx.stop("SOURCE_STAMP_SIGNATURE_BLOCK_WITHOUT_CERT_DIGEST", "A source stamp signature block was found without a corresponding certificate digest in the APK")
    actual = hashlib.sha256(cert_der).digest()
    if actual != entry:
        ctx.stop("SOURCE_STAMP_CERTIFICATE_MISMATCH_BETWEEN_SIGNATURE_BLOCK_AND_APK",
                 f"Certificate mismatch between SourceStamp block in APK signing block and SourceStamp file in APK: <{actual.hex()}> vs <{entry.hex()}>")
    signed_schemes = data.slice()
    signed: dict[int, Buf] = {}
    while signed_schemes.remaining():
        item = signed_schemes.slice()
        scheme_id = item.u32()
        signed[scheme_id] = item.slice()  # a later duplicate replaces the earlier one (HashMap.put)
    for scheme_id in sorted(scheme_digests):
        if scheme_id == SCHEME_V31:
            ctx.info.append(warning("SOURCE_STAMP_SIGNATURE_SCHEME_NOT_AVAILABLE", f"No digests are available in the source stamp for signature scheme: {SCHEME_V31}"))
            continue
        if scheme_id not in signed:
            ctx.stop("SOURCE_STAMP_NO_SIGNATURE", f"No signature (the stamp does not sign scheme v{scheme_id})")
        sigs = signed[scheme_id]
        _verify_signatures(encode_digests(scheme_digests[scheme_id]), Buf(sigs.data, sigs.pos, sigs.end), ctx)
    if data.remaining():
        attrs = data.slice()
        attr_sigs = data.slice()
        attr_bytes = attrs.data[attrs.pos : attrs.end]
        _verify_signatures(attr_bytes, attr_sigs, ctx)
        _parse_attributes(attrs, ctx)


def _verify_signatures(data: bytes, signatures: Buf, ctx: _Ctx) -> None:
    """apksig ``verifySourceStampSignature``: best known algorithm per platform, all must verify."""
    supported: list[tuple[SignatureAlgorithm, bytes]] = []
    count = 0
    while signatures.remaining():
        count += 1
        if count > MAX_SIGNATURES:
            ctx.stop("SOURCE_STAMP_MALFORMED_SIGNATURE", f"more than {MAX_SIGNATURES} stamp signatures")
        try:
            sig = signatures.slice()
            alg_id = sig.u32()
            sig_bytes = sig.slice().rest()
        except Malformed:
            ctx.stop("SOURCE_STAMP_MALFORMED_SIGNATURE", f"Malformed SourceStamp signature #{count}")
        alg = algorithms.by_id(alg_id)
        if alg is None:
            ctx.info.append(warning("SOURCE_STAMP_UNKNOWN_SIG_ALGORITHM", f"Unknown signature algorithm: {alg_id:#x}"))
            continue
        supported.append((alg, sig_bytes))
    if not supported:
        ctx.stop("SOURCE_STAMP_NO_SIGNATURE", "No signature")
    chosen = algorithms.signatures_to_verify(supported, ctx.min_sdk, ctx.max_sdk, jca_only=True)
    if not chosen:
        names = ", ".join(a.name for a, _ in supported)
        ctx.stop("SOURCE_STAMP_NO_SUPPORTED_SIGNATURE", f"Signature(s) {{{names}}} not supported: none usable on SDK {ctx.min_sdk}")
    key = apksig_public_key_der(ctx.cert_der)
    for alg, sig_bytes in chosen:
        try:
            ok = key is not None and crypto.verify_signature(key, alg.jca, data, sig_bytes, in_certificate=True)
        except ApkScanError as exc:
            ctx.stop("SOURCE_STAMP_VERIFY_EXCEPTION", f"Failed to verify {alg.name} signature: {exc.message}")
        if not ok:
            ctx.stop("SOURCE_STAMP_DID_NOT_VERIFY", f"{alg.name} signature over signed-data did not verify")


def _parse_attributes(attrs: Buf, ctx: _Ctx) -> None:
    """Signed stamp attributes: lineage, timestamp; unknown ones are only informational."""
    seq = attrs.slice()  # outer malformation -> SOURCE_STAMP_MALFORMED_SIGNATURE, as in apksig
    count = 0
    while seq.remaining():
        count += 1
        try:
            attr = seq.slice()
            attr_id = attr.u32()
            value = attr.rest()
            if attr_id == PROOF_OF_ROTATION_ATTR_ID:
                _read_lineage(value, ctx)
            elif attr_id == STAMP_TIME_ATTR_ID:
                if len(value) < 8:
                    raise Malformed("timestamp shorter than 8 bytes")
                (ts,) = struct.unpack_from("<q", value, 0)
                if ts > 0:
                    ctx.timestamp = ts
                else:
                    ctx.stop("SOURCE_STAMP_INVALID_TIMESTAMP", f"The source stamp timestamp attribute has an invalid value: {ts}")
            else:
                ctx.info.append(warning("SOURCE_STAMP_UNKNOWN_ATTRIBUTE", f"Unknown stamp attribute: ID {attr_id:#x}"))
        except Malformed:
            ctx.stop("SOURCE_STAMP_MALFORMED_ATTRIBUTE", f"Malformed stamp attribute #{count}")


class _LineageFail(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


_MALFORMED_LINEAGE = "Failed to parse the SigningCertificateLineage structure in the source stamp attributes section."
_POR_DID_NOT_VERIFY = "Source stamp SigningCertificateLineage attribute contains a proof-of-rotation record with signature(s) that did not verify."
_POR_CERT_MISMATCH = "APK signing certificate differs from the associated certificate found in the signer's SigningCertificateLineage."


def _read_lineage(value: bytes, ctx: _Ctx) -> None:
    """apksig ``readStampCertificateLineage``; its exception types map to three issues."""
    try:
        nodes = _parse_lineage(value)
    except _LineageFail as exc:
        ctx.stop(exc.code, exc.message)
    ctx.lineage.extend(nodes)
    if nodes[-1].certificate.der != ctx.cert_der:
        ctx.stop("SOURCE_STAMP_POR_CERT_MISMATCH", _POR_CERT_MISMATCH)


_LINEAGE_ISSUES = {  # lineage.LineageError kinds -> the stamp's own issues and texts
    "malformed": ("SOURCE_STAMP_MALFORMED_LINEAGE", _MALFORMED_LINEAGE),
    "limit": ("SOURCE_STAMP_MALFORMED_LINEAGE", _MALFORMED_LINEAGE),  # 1,000 nodes: the stamp decides no verdict
    "did_not_verify": ("SOURCE_STAMP_POR_DID_NOT_VERIFY", _POR_DID_NOT_VERIFY),
    "cert_mismatch": ("SOURCE_STAMP_POR_CERT_MISMATCH", _POR_CERT_MISMATCH),
}


def _parse_lineage(value: bytes) -> list[LineageNode]:
    """The stamp's lineage has the v3 lineage's format and checks (apksig keeps two copies
    of that parser; we keep one), with the stamp's issue names."""
    if not value:
        raise _LineageFail(*_LINEAGE_ISSUES["malformed"])  # apksig: null list -> NPE
    try:
        nodes = parse_lineage(value).nodes
    except LineageError as exc:
        raise _LineageFail(*_LINEAGE_ISSUES[exc.kind]) from None
    if not nodes:  # apksig: get(size - 1) on an empty list
        raise _LineageFail(*_LINEAGE_ISSUES["malformed"])
    return nodes
