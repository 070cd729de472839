"""v4 (.idsig) and source stamp verification against apksig's corpus and ground truth.

Inputs are built here independently of the shared digest pass: the signing block via
``signing_block.find_signing_block``, the signed v2/v3/v3.1 digests via
``v2v3.parse_scheme``, MANIFEST.MF's SHA-256 and the fs-verity root of the whole APK
with a small reference implementation below.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from apkscan.apk.signing.common import BlockId, SchemePlan, Sdk
from apkscan.apk.signing.stamp import verifier as source_stamp
from apkscan.apk.signing.v2v3 import verifier as v2v3
from apkscan.apk.signing.v4 import verifier as v4
from apkscan.apk.crypto.algorithms import ContentDigest
from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.signing.signing_block import find_signing_block
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkScanError

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus" / "apksig"
MAX_SDK = 2**31 - 1
V2_ID, V3_ID, V31_ID = BlockId.V2, BlockId.V3, BlockId.V31
STAMP_V2_ID, STAMP_V1_ID = BlockId.STAMP_V2, BlockId.STAMP_V1

# apksigner 31.0.2 (the ground truth) reported unknown stamp attributes -- including the
# timestamp attribute it predates -- and unknown signature algorithms as WARNINGs, so it did
# not verify these stamps. Current apksig treats both as info messages and verifies them
# (SourceStampVerifierTest: unknownAttribute/unknownSigAlgorithm_verificationSucceeds,
# multipleV31Signers, ApkVerifierTest: validTimestampLargerBuffer). We follow current apksig.
CURRENT_APKSIG_VERIFIES = {
    "stamp-2-v31-tgt-signers.apk",
    "stamp-unknown-attr.apk",
    "stamp-unknown-sig.apk",
    "stamp-valid-timestamp-16-byte-buffer.apk",
}


def _need_corpus() -> None:
    if not (CORPUS / "ground_truth.jsonl").is_file():
        pytest.skip("shared corpus not available")


def _ground_truth() -> dict[str, dict]:
    _need_corpus()
    out = {}
    with open(CORPUS / "ground_truth.jsonl", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            out[rec["file"]] = rec
    return out


STAMP_FILES = [
    "original-with-stamp-file.apk",
    "stamp-2-v31-tgt-signers.apk",
    "stamp-apk-hash-mismatch-v1.apk",
    "stamp-apk-hash-mismatch-v2.apk",
    "stamp-apk-hash-mismatch-v3.apk",
    "stamp-apk-hash-mismatch.apk",
    "stamp-certificate-mismatch.apk",
    "stamp-int-timestamp-value.apk",
    "stamp-lineage-valid.apk",
    "stamp-lineage-with-3-signers.apk",
    "stamp-malformed-signature.apk",
    "stamp-only-unknown-sigs.apk",
    "stamp-timestamp-in-last-8-of-16-byte-buffer.apk",
    "stamp-unknown-attr.apk",
    "stamp-unknown-sig.apk",
    "stamp-valid-timestamp-16-byte-buffer.apk",
    "stamp-valid-timestamp-value-modified.apk",
    "stamp-without-block.apk",
    "v1-only-with-stamp.apk",
    "v2-only-with-stamp.apk",
    "valid-stamp.apk",
]


# ----------------------------------------------------------------------- helpers
class Apk:
    """The pieces of one corpus APK the stamp/v4 verifiers need, computed here."""

    def __init__(self, name: str):
        self.path = CORPUS / name
        self.zip = ZipArchive.open(ByteSource(str(self.path)))
        block = find_signing_block(self.zip)
        self.pairs = block.pairs if block.found else {}
        entry = self.zip.entry(source_stamp.STAMP_CERT_ENTRY)
        self.stamp_entry = self.zip.read(entry, 1 << 16) if entry is not None else None
        manifest = self.zip.entry("META-INF/MANIFEST.MF")
        self.manifest_sha256 = hashlib.sha256(self.zip.read(manifest, 1 << 24)).digest() if manifest else None

    def scheme_digests(self, min_sdk: int, max_sdk: int) -> dict[int, dict[ContentDigest, bytes]]:
        """apksig ``ApkVerifier``: digests of the schemes it checks over [min_sdk, max_sdk]."""
        out: dict[int, dict[ContentDigest, bytes]] = {}
        plan = SchemePlan.for_range(min_sdk, max_sdk, self.pairs.keys())
        for name, block_id, sdk, scheme_id in (("v31", V31_ID, Sdk.T, 31), ("v3", V3_ID, Sdk.P, 3), ("v2", V2_ID, Sdk.N, 2)):
            if plan.counts(name):
                out[scheme_id] = v2v3.parse_scheme(self.pairs[block_id], name, max(min_sdk, sdk), max_sdk).signed_digests()
        if plan.counts("v1"):
            out[1] = {ContentDigest.SHA256: self.manifest_sha256} if self.manifest_sha256 else {}
        return out

    def stamp(self, min_sdk: int, max_sdk: int, stamp_min_sdk: int | None = None) -> source_stamp.StampResult:
        return source_stamp.verify_source_stamp(
            self.pairs.get(STAMP_V2_ID),
            self.stamp_entry,
            self.scheme_digests(min_sdk, max_sdk),
            stamp_min_sdk if stamp_min_sdk is not None else min_sdk,
            max_sdk,
        )


def _apk_min_sdk(rec: dict) -> int:
    return int(rec["min_sdk_version"]) if rec.get("min_sdk_version") else 1


def _main_path_stamp(apk: Apk, rec: dict) -> source_stamp.StampResult:
    """``ApkVerifier.verify`` over the APK's own range: the stamp gets max(minSdk, R)."""
    lo = _apk_min_sdk(rec)
    return apk.stamp(lo, MAX_SDK, stamp_min_sdk=max(lo, 30))


def _codes(issues) -> list[str]:
    return [i.code for i in issues]


def fsverity_root(data: bytes) -> bytes:
    """Reference fs-verity root (SHA-256, 4 KiB pages, no salt), whole file in memory."""
    level = data
    while True:
        pages = [level[i : i + 4096] for i in range(0, max(len(level), 1), 4096)]
        digests = b"".join(hashlib.sha256(p.ljust(4096, b"\0")).digest() for p in pages)
        if len(digests) <= 4096:
            return hashlib.sha256(digests.ljust(4096, b"\0")).digest()
        level = digests


# ----------------------------------------------------------------------- source stamp vs ground truth
@pytest.mark.parametrize("name", STAMP_FILES)
def test_stamp_matches_ground_truth(name: str) -> None:
    gt = _ground_truth()
    rec = gt[name]
    result = _main_path_stamp(Apk(name), rec)
    expected_verified = True if name in CURRENT_APKSIG_VERIFIES else bool(rec["source_stamp_verified"])
    assert result.scheme.name == "source_stamp"
    assert result.scheme.present
    assert result.scheme.verified is expected_verified, _codes(result.scheme.warnings)
    assert result.scheme.all_errors() == []  # apksig: stamp problems are warnings only
    signer = rec["source_stamp_signer"]
    if signer is not None:
        assert result.certificate is not None
        assert result.certificate.sha256 == signer["cert_sha256"]
        assert result.scheme.signers[0].certificate.sha256 == signer["cert_sha256"]
    else:
        assert result.certificate is None
    if not expected_verified:
        assert result.scheme.warnings, "an unverified stamp must say why"


def _expectations():
    if not (CORPUS / "ground_truth.jsonl").is_file():
        return []
    out = []
    for name, rec in _ground_truth().items():
        for exp in rec.get("expected_by_apksig_tests") or []:
            if exp["outcome"] in ("stamp-verified", "stamp-rejected"):
                out.append(pytest.param(name, exp, id=f"{name}-{exp['test']}-{exp['min_sdk']}"))
    return out


@pytest.mark.parametrize("name,exp", _expectations())
def test_stamp_matches_apksig_tests(name: str, exp: dict) -> None:
    rec = _ground_truth()[name]
    apk = Apk(name)
    lo = exp["min_sdk"] if exp["min_sdk"] is not None else _apk_min_sdk(rec)
    hi = exp["max_sdk"] if exp["max_sdk"] is not None else MAX_SDK
    if exp["test"].startswith("verifySourceStamp"):
        result = apk.stamp(lo, hi)  # ApkVerifier.verifySourceStamp: the APK's own min SDK
    else:
        result = apk.stamp(lo, hi, stamp_min_sdk=max(lo, 30))  # ApkVerifier.verify
    if exp["outcome"] == "stamp-verified":
        assert result.scheme.verified, _codes(result.scheme.warnings)
    else:
        assert not result.scheme.verified
        assert exp["issue"] in _codes(result.scheme.warnings)


def test_timestamp_and_info_messages_follow_current_apksig() -> None:
    _need_corpus()
    r = Apk("stamp-valid-timestamp-16-byte-buffer.apk").stamp(24, MAX_SDK)
    assert r.scheme.verified and r.timestamp == 1645126786
    r = Apk("stamp-unknown-attr.apk").stamp(24, MAX_SDK)
    assert r.scheme.verified and "SOURCE_STAMP_UNKNOWN_ATTRIBUTE" in _codes(r.info)
    r = Apk("stamp-unknown-sig.apk").stamp(24, MAX_SDK)
    assert r.scheme.verified and "SOURCE_STAMP_UNKNOWN_SIG_ALGORITHM" in _codes(r.info)
    r = Apk("stamp-only-unknown-sigs.apk").stamp(24, MAX_SDK)
    assert not r.scheme.verified and _codes(r.scheme.warnings) == ["SOURCE_STAMP_NO_SIGNATURE"]
    # SourceStampVerifierTest.verifySourceStamp_multipleV31Signers_expectedTargetedSignerReturned
    for lo, hi in ((23, MAX_SDK), (23, 32), (34, 34), (35, 35)):
        r = Apk("stamp-2-v31-tgt-signers.apk").stamp(lo, hi)
        assert r.scheme.verified, (lo, hi, _codes(r.scheme.warnings))
        assert ("SOURCE_STAMP_SIGNATURE_SCHEME_NOT_AVAILABLE" in _codes(r.info)) == (hi >= 33)


def test_stamp_lineage() -> None:
    gt = _ground_truth()
    # SourceStampVerifierTest.verifySourceStamp_multipleSignersInLineage (rsa-2048 -> _2 -> _3)
    r = Apk("stamp-lineage-with-3-signers.apk").stamp(18, 28)
    assert r.scheme.verified
    assert len(r.lineage) == 3 and all(n.verified for n in r.lineage)
    assert r.lineage[-1].certificate.sha256 == r.certificate.sha256
    assert r.lineage[-1].certificate.sha256 == gt["stamp-lineage-with-3-signers.apk"]["source_stamp_signer"]["cert_sha256"]
    assert r.lineage[0].signature_algorithm is None and r.lineage[1].signature_algorithm
    r = Apk("stamp-lineage-valid.apk").stamp(24, MAX_SDK)
    assert r.scheme.verified and len(r.lineage) == 2 and r.scheme.lineage == r.lineage
    # verifySourceStamp_noSignersInLineage_returnsEmptyLineage
    assert Apk("valid-stamp.apk").stamp(24, MAX_SDK).lineage == []


def test_only_v2_stamp_block_counts() -> None:
    _need_corpus()
    apk = Apk("stamp-apk-hash-mismatch.apk")  # carries only the V1 stamp block, which apksig discards
    assert STAMP_V1_ID in apk.pairs and STAMP_V2_ID not in apk.pairs
    r = apk.stamp(24, MAX_SDK)
    assert not r.scheme.verified and _codes(r.scheme.warnings) == ["SOURCE_STAMP_SIG_MISSING"]
    assert r.certificate is None


def test_stamp_block_without_entry_and_missing_scheme() -> None:
    _need_corpus()
    apk = Apk("valid-stamp.apk")
    block = apk.pairs[STAMP_V2_ID]
    digests = apk.scheme_digests(24, MAX_SDK)
    r = source_stamp.verify_source_stamp(block, None, digests, 30, MAX_SDK)
    assert not r.scheme.verified
    assert _codes(r.scheme.warnings) == ["SOURCE_STAMP_SIGNATURE_BLOCK_WITHOUT_CERT_DIGEST"]
    assert r.certificate is not None  # present, not verified
    # the stamp of a v1-only APK does not sign v2 digests
    v1 = Apk("v1-only-with-stamp.apk")
    r = source_stamp.verify_source_stamp(v1.pairs[STAMP_V2_ID], v1.stamp_entry, {2: digests[3]}, 30, MAX_SDK)
    assert _codes(r.scheme.warnings) == ["SOURCE_STAMP_NO_SIGNATURE"]
    # a v1 digest over a missing MANIFEST.MF is empty, and then cannot match (apksig)
    r = source_stamp.verify_source_stamp(v1.pairs[STAMP_V2_ID], v1.stamp_entry, {1: {}}, 30, MAX_SDK)
    assert _codes(r.scheme.warnings) == ["SOURCE_STAMP_DID_NOT_VERIFY"]
    # a different stamp-cert-sha256 entry
    r = source_stamp.verify_source_stamp(block, bytes(32), digests, 30, MAX_SDK)
    assert _codes(r.scheme.warnings) == ["SOURCE_STAMP_CERTIFICATE_MISMATCH_BETWEEN_SIGNATURE_BLOCK_AND_APK"]
    # nothing at all
    r = source_stamp.verify_source_stamp(None, None, digests, 30, MAX_SDK)
    assert not r.scheme.present and not r.scheme.verified and not r.scheme.warnings


def test_stamp_never_raises_on_truncated_or_corrupted_blocks() -> None:
    _need_corpus()
    apk = Apk("stamp-lineage-valid.apk")
    block = apk.pairs[STAMP_V2_ID]
    digests = apk.scheme_digests(18, MAX_SDK)  # v1, v2 and v3: every signed byte is checked
    assert sorted(digests) == [1, 2, 3]
    assert source_stamp.verify_source_stamp(block, apk.stamp_entry, digests, 30, MAX_SDK).scheme.verified
    for cut in range(0, len(block), 7):
        r = source_stamp.verify_source_stamp(block[:cut], apk.stamp_entry, digests, 30, MAX_SDK)
        assert not r.scheme.verified
    for pos in range(0, len(block), 13):
        bad = bytearray(block)
        bad[pos] ^= 0x41
        r = source_stamp.verify_source_stamp(bytes(bad), apk.stamp_entry, digests, 30, MAX_SDK)
        assert not r.scheme.verified
        assert r.scheme.warnings


def test_stamp_digest_encoding() -> None:
    enc = source_stamp.encode_digests({ContentDigest.CHUNKED_SHA512: b"b" * 64, ContentDigest.CHUNKED_SHA256: b"a" * 32})
    assert enc[:12] == struct.pack("<III", 40, 1, 32)  # sorted by digest id
    assert enc[44:56] == struct.pack("<III", 72, 2, 64)
    assert len(enc) == 12 + 32 + 12 + 64


# ----------------------------------------------------------------------- v4
V4_FILES = ["v31-rsa-2048_2-tgt-10000-dev-release.apk", "v41-digest-mismatched-with-v31.apk"]


def _v4_inputs(name: str):
    apk = Apk(name)
    data = apk.path.read_bytes()
    parsed = {"v31": v2v3.parse_scheme(apk.pairs[V31_ID], "v31", 33, MAX_SDK)}
    parsed["v3"] = v2v3.parse_scheme(apk.pairs[V3_ID], "v3", 28, MAX_SDK, rotation_min_sdk=parsed["v31"].rotation_min_sdk())
    assert not any(p.has_parse_errors() for p in parsed.values())
    signers = v4.signers_from_parsed(parsed, ["v31", "v3"])
    return data, parsed, signers


def _verify(v4file, data, parsed, signers, **kw):
    args = dict(apk_size=len(data), signers=signers)
    args.update(kw)
    return v4.verify_v4(v4file, fsverity_root(data), parsed["v31"].signed_digests(), 24, MAX_SDK, **args)


@pytest.mark.parametrize("name", V4_FILES)
def test_v4_against_ground_truth(name: str) -> None:
    rec = _ground_truth()[name]
    idsig = CORPUS / rec["v4_signature_file"]
    parsed_file = v4.parse_idsig(str(idsig))
    assert parsed_file.version == 2 and len(parsed_file.signing_infos) == 2  # v3 + v3.1 signer
    assert parsed_file.tree_size == v4.expected_tree_size((CORPUS / name).stat().st_size)
    assert parsed_file.tree_consistent
    data, parsed, signers = _v4_inputs(name)
    result = _verify(parsed_file, data, parsed, signers)
    assert result.name == "v4" and result.present
    truth = rec["apksigner_with_v4_signature_file"]
    if name == "v41-digest-mismatched-with-v31.apk":
        # apksigner 31.0.2 predates v3.1 and accepted it; current apksig's
        # verify41_v41DigestMismatchedWithV31_reportsError expects this issue.
        assert truth["schemes"]["v4"] is True
        assert not result.verified
        assert _codes(result.all_errors()) == ["V4_SIG_V2_V3_DIGESTS_MISMATCH"]
    else:
        assert result.verified is truth["verified"] is True
        assert truth["schemes"]["v4"] is True
        assert result.signers[0].certificate.sha256 == truth["signers"][0]["cert_sha256"]
        assert all(s.verified for s in result.signers)


def test_v4_signer_count_and_certificate_checks() -> None:
    _need_corpus()
    name = V4_FILES[0]
    f = v4.parse_idsig(str(CORPUS / (name + ".idsig")))
    data, parsed, signers = _v4_inputs(name)
    # without the v3.1 signer, apksig wants exactly one v4 signer
    r = _verify(f, data, parsed, {"v3": signers["v3"]})
    assert _codes(r.all_errors()) == ["V4_SIG_MULTIPLE_SIGNERS"]
    # v3.1 verified but only one v4 signer
    one = v4.V4File(f.path, f.version, f.hashing, f.signing_infos[:1], f.tree_size, f.tree_top_hash, f.tree_consistent)
    r = _verify(one, data, parsed, signers)
    assert _codes(r.all_errors()) == ["V41_SIG_NEEDS_TWO_SIGNERS"]
    # v3 signer with another certificate
    other = v4.V2V3Signer(signers["v31"][0].certificate_der, signers["v3"][0].digests)
    r = _verify(f, data, parsed, {"v3": [other], "v31": signers["v31"]})
    assert _codes(r.all_errors()) == ["V4_SIG_V2_V3_SIGNERS_MISMATCH"]
    # fallback without signer details: digest-only comparison
    assert v4.verify_v4(f, fsverity_root(data), parsed["v3"].signed_digests(), 24, MAX_SDK, apk_size=len(data)).verified
    r = v4.verify_v4(f, fsverity_root(data), {ContentDigest.CHUNKED_SHA256: bytes(32)}, 24, MAX_SDK, apk_size=len(data))
    assert _codes(r.all_errors()) == ["V4_SIG_V2_V3_DIGESTS_MISMATCH"]


def test_v4_root_size_and_tree_checks(tmp_path: Path) -> None:
    _need_corpus()
    name = V4_FILES[0]
    src = CORPUS / (name + ".idsig")
    data, parsed, signers = _v4_inputs(name)
    f = v4.parse_idsig(str(src))
    # the APK changed: root differs
    r = v4.verify_v4(f, hashlib.sha256(b"x").digest(), {}, 24, MAX_SDK, apk_size=len(data), signers=signers)
    assert _codes(r.all_errors()) == ["V4_SIG_APK_ROOT_DID_NOT_VERIFY"]
    # the size is signed
    r = _verify(f, data, parsed, signers, apk_size=len(data) + 1)
    assert _codes(r.all_errors()) == ["V4_SIG_DID_NOT_VERIFY"]
    # the size is required
    r = _verify(f, data, parsed, signers, apk_size=None)
    assert not r.verified
    raw = src.read_bytes()
    (hlen,) = struct.unpack_from("<i", raw, 4)
    (slen,) = struct.unpack_from("<i", raw, 8 + hlen)
    tree_at = 8 + hlen + 4 + slen + 4
    # the tree is not signed but must equal the real one
    bad = bytearray(raw)
    bad[tree_at + 100] ^= 1
    p = tmp_path / "bad-tree.idsig"
    p.write_bytes(bad)
    r = _verify(v4.parse_idsig(str(p)), data, parsed, signers)
    assert _codes(r.all_errors()) == ["V4_SIG_APK_TREE_DID_NOT_VERIFY"]
    # no tree at all: apksig skips the comparison
    p.write_bytes(raw[: tree_at - 4])
    r = _verify(v4.parse_idsig(str(p)), data, parsed, signers)
    assert r.verified
    # a truncated tree is ignored too (apksig's readBytes returns null at EOF), flagged as tamper
    p.write_bytes(raw[:-10])
    g = v4.parse_idsig(str(p))
    assert g.tree_size is None and _codes(g.warnings) == ["TAMPER_V4_TREE_TRUNCATED"]
    # a flipped signature byte
    sig_end = 8 + hlen + 4 + slen
    bad = bytearray(raw)
    bad[sig_end - 400] ^= 0x10  # inside the primary signer's signature or its block
    p.write_bytes(bad)
    try:
        r = _verify(v4.parse_idsig(str(p)), data, parsed, signers)
        assert not r.verified
    except ApkScanError as exc:
        assert exc.code.startswith("V4_SIG_")


def test_v4_parse_errors(tmp_path: Path) -> None:
    _need_corpus()
    raw = (CORPUS / (V4_FILES[0] + ".idsig")).read_bytes()
    p = tmp_path / "x.idsig"
    (hlen,) = struct.unpack_from("<i", raw, 4)
    (slen,) = struct.unpack_from("<i", raw, 8 + hlen)
    signing_field = raw[8 + hlen : 8 + hlen + 4 + slen]
    cases = {
        b"": "V4_SIG_NO_SIGNATURES",
        struct.pack("<i", 3) + raw[4:]: "V4_SIG_VERSION_NOT_CURRENT",
        raw[:6]: "V4_SIG_NO_SIGNATURES",
        raw[:60]: "V4_SIG_NO_SIGNATURES",
        raw[:4] + struct.pack("<i", 3) + b"\1\0\0" + signing_field: "V4_SIG_MALFORMED_HASHING_INFO",
        raw[: 8 + hlen] + struct.pack("<i", 5) + b"\0" * 5: "V4_SIG_MALFORMED_SIGNERS",
        raw[:4] + struct.pack("<i", -5): "V4_SIG_MALFORMED_SIGNERS",
    }
    for content, code in cases.items():
        p.write_bytes(content)
        with pytest.raises(ApkScanError) as exc:
            v4.parse_idsig(str(p))
        assert exc.value.code == code
    with pytest.raises(ApkScanError) as exc:
        v4.parse_idsig(str(tmp_path / "missing.idsig"))
    assert exc.value.code == "INPUT_V4_FILE_UNREADABLE"
    # every truncation either parses or raises a coded error, never anything else
    for cut in range(0, len(raw), 97):
        p.write_bytes(raw[:cut])
        try:
            v4.parse_idsig(str(p))
        except ApkScanError as exc2:
            assert exc2.code.startswith(("V4_SIG_", "INPUT_"))


def test_expected_tree_size_matches_reference() -> None:
    for size in (1, 4096, 4097, 128 * 4096, 128 * 4096 + 1, 129 * 128 * 4096):
        levels, n = [], size
        while True:
            chunks = -(-n // 4096)
            levels.append(-(-chunks * 32 // 4096) * 4096)
            if chunks * 32 <= 4096:
                break
            n = chunks * 32
        assert v4.expected_tree_size(size) == sum(levels)


def test_v4_tree_scan_on_generated_multi_level_tree(tmp_path: Path) -> None:
    """A 3-level tree (file > 64 MiB would be needed for real data; we build the tree directly)."""
    _need_corpus()
    raw = (CORPUS / (V4_FILES[0] + ".idsig")).read_bytes()
    (hlen,) = struct.unpack_from("<i", raw, 4)
    (slen,) = struct.unpack_from("<i", raw, 8 + hlen)
    head = raw[: 8 + hlen + 4 + slen]
    data_pages = 129 * 128 + 5  # needs three levels
    bottom = b"".join(hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(data_pages))
    bottom = bottom.ljust(-(-len(bottom) // 4096) * 4096, b"\0")

    def parent(level: bytes) -> bytes:
        out = b"".join(hashlib.sha256(level[i : i + 4096]).digest() for i in range(0, len(level), 4096))
        return out.ljust(-(-len(out) // 4096) * 4096, b"\0")

    mid = parent(bottom)
    top = parent(mid)
    assert len(top) == 4096
    tree = top + mid + bottom
    p = tmp_path / "big.idsig"
    p.write_bytes(head + struct.pack("<i", len(tree)) + tree)
    g = v4.parse_idsig(str(p))
    assert g.tree_consistent and g.tree_top_hash == hashlib.sha256(top).digest()
    assert g.tree_size == v4.expected_tree_size(data_pages * 4096)
    broken = bytearray(tree)
    broken[4096 + len(mid) + 5000] ^= 1  # a bottom-level byte
    p.write_bytes(head + struct.pack("<i", len(tree)) + bytes(broken))
    assert not v4.parse_idsig(str(p)).tree_consistent
