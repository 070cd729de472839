"""APK Signing Block, single-pass digests, v2/v3/v3.1 verifiers and lineage vs. apksigner.

Ground truth: /work/shared/corpus/{apksig,androguard}/ground_truth.jsonl (apksigner
31.0.2) and, where that apksigner is outdated, the expectations of apksig's own
``ApkVerifierTest`` (``expected_by_apksig_tests``). Verity content digests and the v4
Merkle root are checked against files signed by the installed apksigner.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import struct
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from apkscan.apk.signing import digests
from apkscan.apk.signing import signing_block
from apkscan.apk.signing.common import BlockId, SchemePlan, Sdk
from apkscan.apk.signing.v2v3 import verifier as v2v3
from apkscan.apk.crypto.algorithms import ContentDigest
from apkscan.apk.io.bytesource import ByteSource, BytesSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkScanError

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
V2, V3, V31 = BlockId.V2, BlockId.V3, BlockId.V31
MAX_SDK = 2**31 - 1

# Files where Debian's apksigner 31.0.2 predates current apksig (corpus README): it
# ignores v3.1 blocks and the 10-signer limit. For these we follow ApkVerifierTest.
APKSIGNER_OUTDATED = {
    "v2-only-11-signers.apk": "apksigner 31 lacks the 10-signer limit (V2_SIG_MAX_SIGNATURES_EXCEEDED)",
    "v31-block-stripped-v3-attr-value-33.apk": "apksigner 31 ignores v3.1; current apksig reports V31_BLOCK_MISSING",
    "v31-2elem-incorrect-lineage.apk": "v3.1 block (ignored by apksigner 31)",
    "v31-2elem-lineage-incorrect-digest.apk": "v3.1 block (ignored by apksigner 31)",
    "v31-ec-p256-2-tgt-33-1-tgt-28-targetSdk-30.apk": "v3.1 block (ignored by apksigner 31)",
    "v31-empty-lineage-no-v3.apk": "v3.1 block without v3 (ignored by apksigner 31)",
    "v31-rsa-2048_2-tgt-10000-1-tgt-28.apk": "v3.1 block (ignored by apksigner 31)",
    "v31-rsa-2048_2-tgt-10000-dev-release.apk": "v3.1 block (ignored by apksigner 31)",
    "v31-rsa-2048_2-tgt-33-1-tgt-28.apk": "v3.1 block (ignored by apksigner 31)",
    "v41-digest-mismatched-with-v31.apk": "v3.1 block (ignored by apksigner 31); the v4 mismatch is v4's business",
    "stamp-2-v31-tgt-signers.apk": "v3.1 block (ignored by apksigner 31)",
}


def _records() -> list[tuple[str, dict]]:
    out = []
    for folder in ("apksig", "androguard"):
        gt = CORPUS / folder / "ground_truth.jsonl"
        if gt.exists():
            for line in gt.read_text().splitlines():
                rec = json.loads(line)
                out.append((f"{folder}/{rec['file']}", rec))
    return out


RECORDS = _records()
BY_NAME = {name: rec for name, rec in RECORDS}
needs_corpus = pytest.mark.skipif(not RECORDS, reason="shared corpus not available")


@dataclass
class Analysis:
    block: signing_block.SigningBlock
    parsed: dict
    results: dict
    digest_pass: digests.DigestPass


def analyse(path, min_sdk: int = 24, max_sdk: int = MAX_SDK, use_v31: bool = True, verity_root: bool = False) -> Analysis:
    """Drive the two-phase API as ApkVerifier does: v3.1, v3, v2, then one file pass."""
    source = ByteSource(path) if not isinstance(path, bytes) else BytesSource(path)
    zip = ZipArchive.open(source)
    block = signing_block.find_signing_block(zip)
    parsed: dict[str, v2v3.ParsedScheme] = {}
    rotation = 0
    plan = SchemePlan.for_range(min_sdk, max_sdk, {b for b in block.pairs if use_v31 or b != V31})
    if plan.counts("v31"):
        parsed["v31"] = v2v3.parse_scheme(block.pairs[V31], "v31", max(min_sdk, Sdk.T), max_sdk)
        rotation = parsed["v31"].rotation_min_sdk()
    if plan.counts("v3"):
        parsed["v3"] = v2v3.parse_scheme(block.pairs[V3], "v3", max(min_sdk, Sdk.P), max_sdk, rotation_min_sdk=rotation)
    if V2 in block.pairs:
        parsed["v2"] = v2v3.parse_scheme(block.pairs[V2], "v2", max(min_sdk, Sdk.N), max_sdk,
                                         found_scheme_ids=plan.v2_found_ids)
    wanted: set[ContentDigest] = set()
    for p in parsed.values():
        wanted |= p.required_digests()
    dp = digests.compute_digests(zip, block.offset if block.found else None, wanted, want_verity_root=verity_root)
    results = {name: v2v3.finish_scheme(p, dp.content) for name, p in parsed.items()}
    return Analysis(block, parsed, results, dp)


def verdict(a: Analysis, min_sdk: int) -> tuple[bool, list[str]]:
    """apksig's v3.1 -> v3 -> v2 order over the signing-block schemes only."""
    used = []
    for name in ("v31", "v3"):
        if name in a.results:
            used.append(name)
            if not a.results[name].verified:
                return False, used
    if "v2" in a.results and (min_sdk < 28 or not used):
        used.append("v2")
        if not a.results["v2"].verified:
            return False, used
    return bool(used), used


def codes(a: Analysis) -> set[str]:
    return {i.code for r in a.results.values() for i in r.all_errors()}


def verdict_signers(a: Analysis, used: list[str]) -> set[str]:
    for name in ("v31", "v3"):
        if name in used:
            return {s.certificate.sha256 for s in a.results[name].signers}
    return {s.certificate.sha256 for s in a.results["v2"].signers}


def _path(name: str) -> Path:
    return CORPUS / name


# --------------------------------------------------------------------------- file facts
@needs_corpus
def test_file_facts_match_ground_truth():
    checked = 0
    for name, rec in RECORDS:
        try:
            zip = ZipArchive.open(ByteSource(_path(name)))
        except ApkScanError:
            continue  # not a ZIP archive: FileFacts come from the caller, not from this pass
        data = _path(name).read_bytes()
        facts = digests.compute_digests(zip, None, set(), file_hashes=("sha1", "md5")).file
        checked += 1
        assert facts.sha256 == rec["sha256"], name
        assert facts.size == rec["size"] == len(data), name
        assert facts.sha1 == hashlib.sha1(data).hexdigest(), name
        assert facts.md5 == hashlib.md5(data).hexdigest(), name
    assert checked > 300


@needs_corpus
def test_file_facts_same_with_content_digests():
    """Whole-file hashes are unaffected by computing content digests in the same pass."""
    name = "androguard/APK/com.example.android.wearable.wear.weardrawers.apk"  # > 2 MiB: several chunks and reads
    a = analyse(_path(name), 24, verity_root=True)
    assert a.digest_pass.file.sha256 == BY_NAME[name]["sha256"]
    assert a.results["v2"].verified and a.digest_pass.file.size > (1 << 20)


# --------------------------------------------------------------------------- corpus vs apksigner
def _signing_block_files() -> list[str]:
    out = []
    for name, rec in RECORDS:
        if Path(name).name in APKSIGNER_OUTDATED:
            continue
        try:
            zip = ZipArchive.open(ByteSource(_path(name)))
        except ApkScanError:
            continue
        block = signing_block.find_signing_block(zip)
        if (V2 in block.pairs or V3 in block.pairs) or block.tamper:
            out.append(name)
    return out


@needs_corpus
@pytest.mark.parametrize("name", _signing_block_files() or ["<none>"])
def test_v2v3_agree_with_apksigner(name):
    if name == "<none>":
        pytest.skip("no corpus")
    rec = BY_NAME[name]
    a = analyse(_path(name), 24, use_v31=False)
    schemes = rec["schemes"] or {}
    gt_signers = {s["cert_sha256"] for s in rec["signers"]}
    # "Verified using vN" lines printed by apksigner: that scheme verified for it.
    if schemes.get("v3"):
        assert a.results["v3"].verified, (name, codes(a))
        assert gt_signers <= {s.certificate.sha256 for s in a.results["v3"].signers}, name
    if schemes.get("v2"):
        assert a.results["v2"].verified, (name, codes(a))
        if not schemes.get("v3"):
            assert gt_signers == {s.certificate.sha256 for s in a.results["v2"].signers}, name
    if rec["verified"]:
        return
    g24 = rec["apksigner_min_sdk_24"] or {}
    exception = g24.get("exception") or ""
    if "NoSuchAlgorithmException" in exception:  # RSA-PSS on a JDK without it: Bouncy Castle run
        g24 = rec["apksigner_bouncycastle"]["min_sdk_24"]
    elif "AndroidManifest" in exception or rec["apksigner_exception"] and not g24:
        pytest.skip(f"apksigner failed outside v2/v3: {exception or rec['apksigner_exception']}")
    elif exception:
        pytest.skip(f"apksigner crashed: {exception}")
    ok, used = verdict(a, 24)
    assert ok == g24["verified"], (name, codes(a), g24.get("errors"))
    if ok:
        assert verdict_signers(a, used) == {s["cert_sha256"] for s in g24["signers"]}, name
    for exp in rec.get("expected_by_apksig_tests") or []:
        issues = exp.get("issue") or []
        issues = [issues] if isinstance(issues, str) else issues
        if exp["outcome"] == "rejected" and any(i.startswith(("V2_", "V3_", "V31_")) for i in issues):
            assert set(issues) & codes(a), (name, issues, codes(a))


# Failures v2/v3 must explain with apksig's issue (or, for a broken block, a tamper code).
EXPECTED_FAILURES = {
    "apksig/v2-only-with-ecdsa-sha256-p256-digest-mismatch.apk": "V2_SIG_APK_DIGEST_DID_NOT_VERIFY",
    "apksig/v2-only-with-rsa-pkcs1-sha512-4096-digest-mismatch.apk": "V2_SIG_APK_DIGEST_DID_NOT_VERIFY",
    "apksig/v3-only-with-rsa-pkcs1-sha512-8192-digest-mismatch.apk": "V3_SIG_APK_DIGEST_DID_NOT_VERIFY",
    "apksig/v2-only-with-dsa-sha256-1024-sig-does-not-verify.apk": "V2_SIG_DID_NOT_VERIFY",
    "apksig/v2-only-with-ecdsa-sha256-p256-sig-does-not-verify.apk": "V2_SIG_DID_NOT_VERIFY",
    "apksig/v2-only-with-rsa-pkcs1-sha256-2048-sig-does-not-verify.apk": "V2_SIG_DID_NOT_VERIFY",
    "apksig/v2-only-with-rsa-pss-sha256-2048-sig-does-not-verify.apk": "V2_SIG_DID_NOT_VERIFY",
    "apksig/v3-only-with-dsa-sha256-2048-sig-does-not-verify.apk": "V3_SIG_DID_NOT_VERIFY",
    "apksig/v3-only-with-ecdsa-sha512-p521-sig-does-not-verify.apk": "V3_SIG_DID_NOT_VERIFY",
    "apksig/two-signers-second-signer-v2-broken.apk": "V2_SIG_DID_NOT_VERIFY",
    "apksig/v2-only-cert-and-public-key-mismatch.apk": "V2_SIG_PUBLIC_KEY_MISMATCH_BETWEEN_CERTIFICATE_AND_SIGNATURES_RECORD",
    "apksig/v3-only-cert-and-public-key-mismatch.apk": "V3_SIG_PUBLIC_KEY_MISMATCH_BETWEEN_CERTIFICATE_AND_SIGNATURES_RECORD",
    "apksig/v2-only-no-certs-in-sig.apk": "V2_SIG_NO_CERTIFICATES",
    "apksig/v2-only-signatures-and-digests-block-mismatch.apk": "V2_SIG_SIG_ALG_MISMATCH_BETWEEN_SIGNATURES_AND_DIGESTS_RECORDS",
    "apksig/v3-only-signatures-and-digests-block-mismatch.apk": "V3_SIG_SIG_ALG_MISMATCH_BETWEEN_SIGNATURES_AND_DIGESTS_RECORDS",
    "apksig/v2-only-two-signers-second-signer-no-sig.apk": "V2_SIG_NO_SIGNATURES",
    "apksig/v2-only-two-signers-second-signer-no-supported-sig.apk": "V2_SIG_NO_SUPPORTED_SIGNATURES",
    "apksig/v3-only-no-supported-sig-algs.apk": "V3_SIG_NO_SUPPORTED_SIGNATURES",
    "apksig/v2v3-signed-v3-block-stripped.apk": "V2_SIG_MISSING_APK_SIG_REFERENCED",
    "apksig/v3-stripped.apk": "V2_SIG_MISSING_APK_SIG_REFERENCED",
}
BROKEN_BLOCKS = {  # apksig: "no signature" -> the APK falls back to v1 (JAR_SIG_NO_MANIFEST)
    "apksig/v2-only-apk-sig-block-size-mismatch.apk": "TAMPER_APK_SIG_BLOCK_MALFORMED",
    "apksig/v3-only-with-rsa-pkcs1-sha512-4096-apk-sig-block-size-mismatch.apk": "TAMPER_APK_SIG_BLOCK_MALFORMED",
}


@needs_corpus
@pytest.mark.parametrize("name,code", sorted(EXPECTED_FAILURES.items()))
def test_failures_carry_apksig_issue(name, code):
    a = analyse(_path(name), 24, use_v31=False)
    ok, _ = verdict(a, 24)
    assert not ok
    assert code in codes(a), codes(a)


@needs_corpus
@pytest.mark.parametrize("name,code", sorted(BROKEN_BLOCKS.items()))
def test_broken_signing_block_hides_schemes(name, code):
    a = analyse(_path(name), 24)
    assert not a.block.found and not a.results
    assert code in {t.code for t in a.block.tamper}


@needs_corpus
def test_block_without_scheme_and_wrong_magic():
    a = analyse(_path("apksig/v1-with-apk-sig-block-but-without-apk-sig-scheme-v2-block.apk"))
    assert a.block.found and a.block.pair_ids and not a.results  # block present, no v2/v3 inside
    b = analyse(_path("apksig/v2-only-wrong-apk-sig-block-magic.apk"))
    assert not b.block.found and not b.results
    c = analyse(_path("apksig/v2-only-unknown-pair-in-apk-sig-block.apk"))
    assert c.results["v2"].verified and any(i not in (V2, V3) for i in c.block.pair_ids)


# --------------------------------------------------------------------------- newer apksig
@needs_corpus
def test_outdated_apksigner_files_follow_apksig_tests():
    def run(name, **kw):
        return analyse(_path("apksig/" + name), **kw)

    a = run("v2-only-11-signers.apk")
    assert "V2_SIG_MAX_SIGNATURES_EXCEEDED" in codes(a)
    assert len(a.results["v2"].signers) == 11

    a = run("v31-block-stripped-v3-attr-value-33.apk", min_sdk=23)
    assert "V31_BLOCK_MISSING" in codes(a)
    a = run("v31-block-stripped-v3-attr-value-33.apk", min_sdk=23, max_sdk=32)
    assert verdict(a, 23)[0], codes(a)

    for name in ("v31-rsa-2048_2-tgt-33-1-tgt-28.apk", "v31-ec-p256-2-tgt-33-1-tgt-28-targetSdk-30.apk"):
        a = run(name, min_sdk=33)
        ok, used = verdict(a, 33)
        assert ok and used[0] == "v31", (name, codes(a))
        # the v3.1 signer is the rotated key: last node of its lineage; v3 holds the original
        v31_cert = a.results["v31"].signers[0].certificate.sha256
        assert a.results["v31"].lineage[-1].certificate.sha256 == v31_cert
        assert a.results["v31"].lineage[0].certificate.sha256 == a.results["v3"].signers[0].certificate.sha256

    for name in ("v31-rsa-2048_2-tgt-10000-1-tgt-28.apk", "v31-rsa-2048_2-tgt-10000-dev-release.apk", "stamp-2-v31-tgt-signers.apk"):
        a = run(name, min_sdk=23)
        assert verdict(a, 23)[0], (name, codes(a))
        assert all(r.verified for r in a.results.values()), name
    a = run("v31-rsa-2048_2-tgt-10000-1-tgt-28.apk", min_sdk=23)
    assert a.parsed["v31"].rotation_min_sdk() == 10000
    assert a.results["v3"].signers[0].max_sdk == 9999

    a = run("v31-2elem-incorrect-lineage.apk", min_sdk=28)
    assert "V3_SIG_POR_DID_NOT_VERIFY" in codes(a) and not a.results["v31"].verified

    a = run("v31-2elem-lineage-incorrect-digest.apk", min_sdk=31)
    assert a.parsed["v31"].signed_digests()[ContentDigest.CHUNKED_SHA256].hex() == (
        "0a457e6dd7cc8d4dde28a4dae843032de5fbe58101eedd0a31e7f958f23e1626")
    # both blocks carry the wrong digest; apksigner (current) lists only v3's error: apksig checks
    # no v3.1 digest, and neither do we (a warning says so: review 57 F1); v3 fails the APK
    assert "V3_SIG_APK_DIGEST_DID_NOT_VERIFY" in {i.code for i in a.results["v3"].all_errors()}
    assert a.results["v31"].verified and not a.results["v31"].all_errors()
    assert "V31_SIG_APK_DIGEST_DID_NOT_VERIFY" in {i.code for i in a.results["v31"].warnings}

    a = run("v31-empty-lineage-no-v3.apk")
    assert "v3" not in a.results and a.results["v31"].verified
    assert a.parsed["v31"].signed_digests()[ContentDigest.CHUNKED_SHA256].hex() == (
        "0a457e6dd7cc8d4dde28a4dae843032de5fbe58123eedd0a31e7f958f23e1626")

    a = run("v31-rsa-2048_2-tgt-33-1-tgt-28.apk")
    for name in ("v3", "v2"):
        assert a.parsed[name].signed_digests()[ContentDigest.CHUNKED_SHA256].hex() == (
            "0a457e6dd7cc8d4dde28a4dae843032de5fbe58123eedd0a31e7f958f23e1626")
    assert len(a.results["v3"].lineage) <= 1

    a = run("v41-digest-mismatched-with-v31.apk", min_sdk=23)
    assert verdict(a, 23)[0]

    a = run("v3-rsa-2048_2-tgt-dev-release.apk", min_sdk=23)
    warnings = {w.code for s in a.results["v3"].signers for w in s.warnings}
    assert "V31_ROTATION_TARGETS_DEV_RELEASE_ATTR_ON_V3_SIGNER" in warnings
    assert len(a.results["v3"].lineage) == 2


# --------------------------------------------------------------------------- lineage
LINEAGE_FILES = [n for n, _ in RECORDS if "lineage-out" in n or "lineage-3-signers.apk" in n]


@needs_corpus
@pytest.mark.parametrize("name", LINEAGE_FILES or ["<none>"])
def test_lineage_matches_ground_truth(name):
    if name == "<none>":
        pytest.skip("no corpus")
    rec = BY_NAME[name]
    a = analyse(_path(name), 24, use_v31=False)
    v3 = a.results["v3"]
    assert v3.verified
    nodes = v3.lineage
    expected_len = 3 if "3-signers" in name else 2
    assert len(nodes) == expected_len and all(n.verified for n in nodes)
    signer = v3.signers[0].certificate.sha256
    assert nodes[-1].certificate.sha256 == signer
    printed = rec["signers"] or (rec["apksigner_min_sdk_24"] or {}).get("signers") or []
    assert {s["cert_sha256"] for s in printed} == {signer}
    oldest = nodes[0].certificate.sha256
    if "v2" in a.results:  # v1/v2 are signed by the original key, the lineage root
        assert {s.certificate.sha256 for s in a.results["v2"].signers} == {oldest}
    kt = rec["keytool"] or {}
    if kt.get("signers"):
        assert {s["cert_sha256"] for s in kt["signers"]} == {oldest}
    assert nodes[-1].signature_algorithm  # signed by its predecessor's key


# --------------------------------------------------------------------------- verity and v4 root
def _sign_with_apksigner(tmp: Path, payload: bytes) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apkscan test")])
    start = datetime.datetime(2024, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    (tmp / "key.pk8").write_bytes(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    src = zipfile.ZipFile(CORPUS / "apksig" / "golden-unaligned-in.apk")
    unsigned = tmp / "in.apk"
    with zipfile.ZipFile(unsigned, "w") as z:
        for info in src.infolist():
            z.writestr(info, src.read(info.filename))
        z.writestr(zipfile.ZipInfo("assets/blob.bin"), payload, compress_type=zipfile.ZIP_STORED)
    out = tmp / "out.apk"
    subprocess.run(["apksigner", "sign", "--key", str(tmp / "key.pk8"), "--cert", str(tmp / "cert.der"),
                    "--min-sdk-version", "24", "--verity-enabled", "true", "--v4-signing-enabled", "true",
                    "--out", str(out), str(unsigned)], check=True, capture_output=True)
    return out


def _idsig_root(path: Path) -> bytes:
    data = path.read_bytes()
    (hashing_len,) = struct.unpack_from("<i", data, 4)
    hashing = data[8 : 8 + hashing_len]
    (salt_len,) = struct.unpack_from("<i", hashing, 5)
    (root_len,) = struct.unpack_from("<i", hashing, 9 + salt_len)
    return hashing[13 + salt_len : 13 + salt_len + root_len]


@needs_corpus
@pytest.mark.skipif(shutil.which("apksigner") is None, reason="apksigner not installed")
@pytest.mark.parametrize("payload_size", [1000, 3 * (1 << 20) + 12345])
def test_verity_content_digest_and_v4_root(tmp_path, payload_size):
    apk = _sign_with_apksigner(tmp_path, random.Random(payload_size).randbytes(payload_size))
    a = analyse(apk, 24, verity_root=True)
    for name in ("v2", "v3"):
        r = a.results[name]
        assert r.verified, codes(a)
        assert "VERITY_ECDSA_WITH_SHA256" in r.signers[0].signature_algorithms
    assert ContentDigest.VERITY_CHUNKED_SHA256 in a.digest_pass.content
    assert ContentDigest.CHUNKED_SHA256 in a.digest_pass.content
    assert a.digest_pass.verity_root == _idsig_root(Path(str(apk) + ".idsig"))


def _reference_merkle_root(data: bytes, salt: bytes | None) -> bytes:
    """Straightforward whole-tree construction, as VerityTreeBuilder describes it."""
    def h(x):
        return hashlib.sha256((salt or b"") + x).digest()

    def pad(x):
        return x + bytes(-len(x) % 4096)

    level = b"".join(h(pad(data)[i : i + 4096]) for i in range(0, max(len(pad(data)), 4096), 4096))
    while len(level) > 4096:
        level = pad(level)
        level = b"".join(h(level[i : i + 4096]) for i in range(0, len(level), 4096))
    return h(pad(level))


@pytest.mark.parametrize("size", [1, 4095, 4096, 4097, 128 * 4096, 128 * 4096 + 1, 700_000])
def test_streaming_merkle_matches_reference(size):
    data = random.Random(size).randbytes(size)
    for salt in (None, bytes(8)):
        tree = digests.MerkleTree(size, salt)
        rnd = random.Random(1)
        pos = 0
        while pos < size:  # odd piece sizes exercise the partial-block paths
            n = rnd.randint(1, 70_000)
            tree.update(memoryview(data)[pos : pos + n])
            pos += n
        assert tree.root() == _reference_merkle_root(data, salt)


# --------------------------------------------------------------------------- hostile input
@needs_corpus
def test_mutated_blocks_never_raise():
    """Random corruption of real v2/v3 blocks yields issues, never exceptions."""
    a = analyse(_path("apksig/golden-aligned-v1v2v3-lineage-out.apk"))
    rnd = random.Random(1234)
    for block_id, scheme in ((V2, "v2"), (V3, "v3")):
        value = a.block.pairs[block_id]
        for _ in range(300):
            buf = bytearray(value)
            for _ in range(rnd.randint(1, 4)):
                i = rnd.randrange(len(buf))
                buf[i] = rnd.choice([0, 0xFF, rnd.randrange(256), buf[i] ^ 0x80])
            if rnd.random() < 0.2:
                buf = buf[: rnd.randrange(len(buf))]
            parsed = v2v3.parse_scheme(bytes(buf), scheme, 24, MAX_SDK)
            result = v2v3.finish_scheme(parsed, a.digest_pass.content)
            if bytes(buf) != value:  # every byte of a signer block is signed or cross-checked
                assert not result.verified


@needs_corpus
def test_lying_pair_length_becomes_tamper_issue():
    data = bytearray(_path("apksig/v2-only-with-rsa-pkcs1-sha256-2048.apk").read_bytes())
    zip = ZipArchive.open(BytesSource(bytes(data)))
    block = signing_block.find_signing_block(zip)
    struct.pack_into("<Q", data, block.offset + 8, 2**40)  # first pair claims 1 TiB
    bad = signing_block.find_signing_block(ZipArchive.open(BytesSource(bytes(data))))
    assert bad.found and not bad.pairs
    assert "TAMPER_APK_SIG_BLOCK_MALFORMED" in {t.code for t in bad.tamper}
