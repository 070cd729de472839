"""v1 (JAR) signature verifier against apksigner's ground truth and apksig's own tests.

Corpus: /work/shared/corpus/{apksig,androguard} (ground truth from apksigner 31.0.2,
plus ``expected_by_apksig_tests`` copied from apksig's ApkVerifierTest with the SDK
range each test used). Crafted cases start from real signed corpus APKs and change
one thing (an entry's bytes, an extra entry, a stripped signing block, a mangled
signature block) so each rule is exercised on real signatures.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from functools import cache
from pathlib import Path

import pytest

from apkscan.apk.signing.v1 import jar_manifest
from apkscan.apk.crypto import asn1, pkcs7, pkcs7_algorithms
from apkscan.apk.signing import signing_block
from apkscan.apk.signing.v1 import verifier as v1
from apkscan.apk.io.bytesource import ByteSource, BytesSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkScanError

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
MAX_SDK = 2**31 - 1
V2_ID, V3_ID, V31_ID = 0x7109871A, 0xF05368C0, 0x1B93AD61

# Files where v1 decides by our criterion but apksigner's verdict is about something else,
# or where the Debian apksigner 31.0.2 predates current apksig (corpus README).
NOT_A_V1_VERDICT = {
    "stamp-malformed-signature.apk": "apksigner crashed on the source stamp (NullPointerException); the JAR signature itself verifies",
    "v1-only-targetSandboxVersion-2.apk": "rejected for targetSandboxVersion 2 (needs v2), not for the JAR signature",
    "v1-ec-p256-targetSdk-30.apk": "rejected for targetSdkVersion 30 (needs v2), not for the JAR signature",
}
FOLLOW_CURRENT_APKSIG = {
    "v1-only-11-signers.apk": "apksigner 31 lacks the 10-signer limit; current apksig rejects with JAR_SIG_MAX_SIGNATURES_EXCEEDED",
}


def _need_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip("shared corpus not available")


@cache
def _ground_truth() -> list[tuple[str, dict]]:
    rows = []
    for sub in ("apksig", "androguard"):
        path = CORPUS / sub / "ground_truth.jsonl"
        if path.is_file():
            rows += [(sub, json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    return rows


def _open(path: Path) -> ZipArchive | None:
    try:
        return ZipArchive.open(ByteSource(str(path)))
    except ApkScanError:
        return None


def _found_ids(z: ZipArchive) -> tuple[frozenset[int], set[int]]:
    block = signing_block.find_signing_block(z)
    pairs = block.pairs if block.found else {}
    return frozenset(i for i, k in ((2, V2_ID), (3, V3_ID)) if k in pairs), set(pairs)


def _min_sdk(gt: dict) -> int:
    return int(gt["min_sdk_version"]) if gt["min_sdk_version"] else 1


def _run(z: ZipArchive, min_sdk: int, max_sdk: int = MAX_SDK, ids: frozenset[int] | None = None) -> v1.V1Result:
    if ids is None:
        ids = _found_ids(z)[0]
    return v1.verify_v1(z, min_sdk, max_sdk, ids)


def _codes(result: v1.V1Result) -> list[str]:
    return [i.code for i in result.scheme.all_errors()]


def _verified_certs(result: v1.V1Result) -> list[str]:
    return [s.certificate.sha256 for s in result.scheme.signers if s.verified]


# ----------------------------------------------------------------------------- corpus
def test_corpus_v1_verdicts_match_apksigner():
    """Where v1 decides apksigner's verdict, verdict and signer certificates agree."""
    _need_corpus()
    checked, disagreements = 0, []
    for sub, gt in _ground_truth():
        z = _open(CORPUS / sub / gt["file"])
        if z is None:
            continue
        ids, pairs = _found_ids(z)
        ms = _min_sdk(gt)
        result = _run(z, ms, ids=ids)
        if not result.scheme.present:
            continue
        schemes = gt["schemes"] or {}
        decides = schemes.get("v1") is True or (not ids and V31_ID not in pairs)  # no v2+ block: JAR decides
        name = Path(gt["file"]).name
        if not decides or name in NOT_A_V1_VERDICT:
            continue
        checked += 1
        if name in FOLLOW_CURRENT_APKSIG:
            assert not result.scheme.verified and "JAR_SIG_MAX_SIGNATURES_EXCEEDED" in _codes(result)
            continue
        want = [s["cert_sha256"] for s in gt["signers"]]
        if schemes.get("v3"):  # apksigner prints the newest (v3) signer; the JAR signer is keytool's
            want = [s["cert_sha256"] for s in gt["keytool"]["signers"]]
        got = _verified_certs(result)
        if result.scheme.verified != gt["verified"] or got != want:
            disagreements.append((sub, gt["file"], result.scheme.verified, gt["verified"], _codes(result)[:3]))
    assert checked >= 150
    assert disagreements == []


def test_corpus_matches_apksig_test_expectations():
    """Every JAR-related assertion of apksig's ApkVerifierTest, over the SDK range it used."""
    _need_corpus()
    checked, bad = 0, []
    for sub, gt in _ground_truth():
        for exp in gt.get("expected_by_apksig_tests") or []:
            issues = exp.get("issue") or []
            issues = issues if isinstance(issues, list) else [issues]
            jar_issue = any(i.startswith("JAR_SIG") for i in issues)
            v1_verified = exp["outcome"] == "verified" and gt["file"].startswith("v1")
            if not (jar_issue and exp["outcome"] == "rejected") and not v1_verified:
                continue
            z = _open(CORPUS / sub / gt["file"])
            if z is None:
                continue
            ms = exp["min_sdk"] if exp["min_sdk"] is not None else _min_sdk(gt)
            mx = exp["max_sdk"] if exp["max_sdk"] is not None else MAX_SDK
            result = _run(z, ms, mx)
            ok = result.scheme.verified if v1_verified else any(i in _codes(result) for i in issues)
            checked += 1
            if not ok:
                bad.append((gt["file"], ms, mx, exp["outcome"], issues, _codes(result)[:3]))
    assert checked >= 100
    assert bad == []


def _corpus_apk(name: str) -> Path:
    _need_corpus()
    path = CORPUS / "apksig" / name
    if not path.is_file():
        pytest.skip(f"{name} not in corpus")
    return path


def test_rejected_signers_keep_present_certificates():
    """DSA with SHA-384 is refused by Android, but the certificate is still reported."""
    z = _open(_corpus_apk("v1-only-with-dsa-sha384-2.16.840.1.101.3.4.3.3-1024.apk"))
    result = _run(z, 23)
    assert not result.scheme.verified and result.scheme.present
    assert "JAR_SIG_UNSUPPORTED_SIG_ALG" in _codes(result)
    (signer,) = result.scheme.signers
    assert signer.certificate is not None and signer.certificate.key_algorithm == "DSA"
    assert not signer.verified
    # ECDSA with SHA-1 under the bare EC key OID: Android accepts it from API 18 only.
    ec = _open(_corpus_apk("v1-only-with-ecdsa-sha1-1.2.840.10045.2.1-p256.apk"))
    early = _run(ec, 1)
    assert "JAR_SIG_UNSUPPORTED_SIG_ALG" in _codes(early) and "1-17" in early.scheme.all_errors()[0].message
    assert early.scheme.signers[0].certificate.key_algorithm == "EC"
    assert _run(ec, 18).scheme.verified


def test_cert_bag_and_non_der_certificates_keep_original_bytes():
    z = _open(_corpus_apk("v1-only-pkcs7-cert-bag-first-cert-not-used.apk"))
    result = _run(z, 23)
    assert _verified_certs(result) == ["fb5dbd3c669af9fc236c6991e6387b7f11ff0590997f22d0f5c74ff40e04fca8"]
    assert len(result.scheme.signers[0].chain) == 2  # both bag certificates are present
    for name, sha in (("v1-only-with-rsa-1024-cert-not-der.apk", "c5d4535a7e1c8111687a8374b2198da6f5ff8d811a7a25aa99ef060669342fa9"),
                      ("v1-only-with-rsa-1024-cert-not-der2.apk", "da3da398de674541313deed77218ce94798531ea5131bb9b1bb4063ba4548cfb")):
        assert _verified_certs(_run(_open(_corpus_apk(name)), 23)) == [sha]


def test_manifest_digest_and_apk_signed_schemes():
    path = _corpus_apk("golden-aligned-v1v2-out.apk")  # .SF says X-Android-APK-Signed: 2
    z = _open(path)
    result = _run(z, 18)
    with zipfile.ZipFile(path) as zf:
        assert result.manifest_sha256 == hashlib.sha256(zf.read("META-INF/MANIFEST.MF")).digest()
    assert result.scheme.verified and result.apk_signed_schemes == {2}
    stripped = _run(z, 18, ids=frozenset())  # as if the v2 block had been stripped
    assert not stripped.scheme.verified
    assert "JAR_SIG_MISSING_APK_SIG_REFERENCED" in _codes(stripped)
    # Before Android N the stripping protection does not exist.
    assert _run(z, 18, 23, ids=frozenset()).scheme.verified


def test_oversized_manifest_is_an_error_not_an_oom():
    z = _open(_corpus_apk("incorrect-manifest-size.apk"))
    result = _run(z, 1)
    assert not result.scheme.verified
    assert any(c.startswith(("ZIP_", "JAR_SIG")) for c in _codes(result))


# ----------------------------------------------------------------------------- crafted from real APKs
def _rewrite(path: Path, change) -> ZipArchive:
    """Copy a signed APK entry by entry (no signing block), letting ``change`` edit entries."""
    src = zipfile.ZipFile(path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            data = change(info.filename, src.read(info.filename))
            if data is not None:
                dst.writestr(info, data)
        extra = change(None, None)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return ZipArchive.open(BytesSource(buf.getvalue()))


def _v1_only() -> Path:
    return _corpus_apk("v1-only-with-rsa-pkcs1-sha1-1.2.840.113549.1.1.1-2048.apk")


def test_rewritten_copy_still_verifies():
    z = _rewrite(_v1_only(), lambda name, data: data)
    assert _run(z, 1, ids=frozenset()).scheme.verified


def test_modified_entry_fails_entry_digest():
    def change(name, data):
        if name == "AndroidManifest.xml":
            return data[:-1] + bytes([data[-1] ^ 1])
        return data
    result = _run(_rewrite(_v1_only(), change), 1, ids=frozenset())
    assert not result.scheme.verified
    assert "JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY" in _codes(result)
    assert result.scheme.signers[0].certificate is not None  # present even though rejected


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_added_entry_and_duplicates():
    added = _run(_rewrite(_v1_only(), lambda n, d: {"classes9.dex": b"x"} if n is None else d), 1, ids=frozenset())
    assert "JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_MANIFEST" in _codes(added)
    meta = _run(_rewrite(_v1_only(), lambda n, d: {"META-INF/extra.txt": b"x"} if n is None else d), 1, ids=frozenset())
    assert meta.scheme.verified
    assert any(w.code == "JAR_SIG_UNPROTECTED_ZIP_ENTRY" for w in meta.scheme.warnings)
    dup = _run(_rewrite(_v1_only(), lambda n, d: {"AndroidManifest.xml": b"x"} if n is None else d), 1, ids=frozenset())
    assert "JAR_SIG_DUPLICATE_ZIP_ENTRY" in _codes(dup)


def test_missing_manifest_and_missing_sf():
    no_mf = _run(_rewrite(_v1_only(), lambda n, d: None if n == "META-INF/MANIFEST.MF" else d), 1, ids=frozenset())
    assert _codes(no_mf) == ["JAR_SIG_NO_MANIFEST"] and no_mf.scheme.present
    assert no_mf.scheme.signers[0].certificate is not None
    no_sf = _run(_rewrite(_v1_only(), lambda n, d: None if n and n.endswith(".SF") else d), 1, ids=frozenset())
    assert "JAR_SIG_NO_SIGNATURES" in _codes(no_sf)
    assert any(w.code == "JAR_SIG_MISSING_FILE" for s in no_sf.scheme.signers for w in s.warnings)


def test_edited_sf_breaks_the_block_signature():
    def change(name, data):
        if name and name.endswith(".SF"):
            return data.replace(b"Signature-Version", b"Signature-Vershun")
        return data
    result = _run(_rewrite(_v1_only(), change), 1, ids=frozenset())
    # The block no longer verifies the .SF first; that decides.
    assert not result.scheme.verified and "JAR_SIG_DID_NOT_VERIFY" in _codes(result)


def test_mangled_signature_blocks_never_crash():
    rng = random.Random(1234)
    with zipfile.ZipFile(_v1_only()) as zf:
        block_name = next(n for n in zf.namelist() if n.endswith(".RSA"))
        original = zf.read(block_name)
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.6:
                data[pos] = rng.randrange(256)
            elif op < 0.8:
                del data[pos:pos + rng.randint(1, 40)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        mangled = bytes(data)
        z = _rewrite(_v1_only(), lambda n, d, m=mangled: m if n == block_name else d)
        result = _run(z, 1, ids=frozenset())
        assert result.scheme.present
        if not result.scheme.verified:
            assert _codes(result)


# ----------------------------------------------------------------------------- units
def test_manifest_parser_sections_and_continuations():
    data = b"Manifest-Version: 1.0\r\nCreated-By: x\r\n\r\nName: a/very/long/na\r\n me.txt\r\nSHA1-Digest: AAAA\r\n\r\nName: b\rSHA-256-Digest: BBBB\n"
    main, sections = jar_manifest.parse(data)
    assert main.get("manifest-version") == "1.0"
    assert data[main.start:main.start + main.size] == b"Manifest-Version: 1.0\r\nCreated-By: x\r\n\r\n"
    assert [s.name for s in sections] == ["a/very/long/name.txt", "b"]
    assert sections[0].get("SHA1-Digest") == "AAAA"
    assert sections[1].get("SHA-256-Digest") == "BBBB"  # a lone CR ends a line too
    assert data[sections[1].start:sections[1].start + sections[1].size] == b"Name: b\rSHA-256-Digest: BBBB\n"


def test_digest_selection_by_sdk_range():
    section = jar_manifest.Section(0, 0, (("Name", "x"), ("SHA1-Digest", "AAAA"), ("SHA-256-Digest", "AAAB")))
    names = lambda lo, hi: [d.algorithm for d in jar_manifest.digests_to_verify(section, "-Digest", lo, hi)]
    assert names(1, 17) == ["SHA-1"]
    assert names(18, MAX_SDK) == ["SHA-256"]
    assert names(1, MAX_SDK) == ["SHA-1", "SHA-256"]
    only256 = jar_manifest.Section(0, 0, (("SHA-256-Digest", "AAAB"),))
    assert jar_manifest.digests_to_verify(only256, "-Digest", 1, MAX_SDK) == []  # pre-18 needs SHA1


def test_algorithm_sdk_ranges():
    sha384, dsa_sha384 = "2.16.840.1.101.3.4.2.2", "2.16.840.1.101.3.4.3.3"
    assert pkcs7_algorithms.supported_ranges(sha384, dsa_sha384) == []
    sha256, rsa = "2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.1"
    assert pkcs7_algorithms.unsupported_levels(1, MAX_SDK, pkcs7_algorithms.supported_ranges(sha256, rsa)) == [(9, 17)]
    assert pkcs7_algorithms.unsupported_levels(18, MAX_SDK, pkcs7_algorithms.supported_ranges(sha256, rsa)) == []
    assert pkcs7_algorithms.unsupported_levels(1, MAX_SDK, [(21, 23)]) == [(1, 20), (24, MAX_SDK)]


def test_ber_indefinite_and_long_form_lengths():
    # SEQUENCE (indefinite) { INTEGER 5 with a redundant long-form length, OID 1.2.840.113549.1.7.2 }
    oid = bytes.fromhex("06092a864886f70d010702")
    data = b"\x30\x80" + b"\x02\x82\x00\x01\x05" + oid + b"\x00\x00"
    top = asn1.read_tlv(data, 0, len(data))
    assert top.end == len(data)
    first, second = asn1.children(data, top)
    assert pkcs7.decode_int(data, first) == 5
    assert pkcs7.decode_oid(data, second) == pkcs7.OID_SIGNED_DATA
    with pytest.raises(asn1.Asn1Error):
        asn1.read_tlv(b"\x30\x84\xff\xff\xff\xff", 0, 6)


# ----------------------------------------------------------------------------- self-signed JARs
# A minimal JAR signer (cryptography's PKCS #7 builder) so .SF contents can be chosen freely;
# each crafted APK is also checked by the installed apksigner where that is meaningful.
def _keypair(cn: str, key_usage: bool = True):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(int.from_bytes(hashlib.sha256(cn.encode()).digest()[:8], "big"))
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650)))
    if not key_usage:  # keyUsage present but only keyCertSign: Android refuses it for signing
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, False, False, False), critical=True)
    return key, builder.sign(key, hashes.SHA256())


@cache
def _signer_keys(n: int = 3):
    return [_keypair(f"apkscan-test-{i}") for i in range(n)]


def _pkcs7(sf: bytes, key, cert, signed_attrs: bool = False) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.hazmat.primitives.serialization import pkcs7 as cpkcs7

    opts = [cpkcs7.PKCS7Options.DetachedSignature]
    opts.append(cpkcs7.PKCS7Options.NoCapabilities if signed_attrs else cpkcs7.PKCS7Options.NoAttributes)
    return cpkcs7.PKCS7SignatureBuilder().set_data(sf).add_signer(cert, key, hashes.SHA256()).sign(Encoding.DER, opts)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _jar_sign(signers, *, covers=None, sf_edit=None, signed_attrs=False) -> tuple[bytes, list[str]]:
    """Sign the tinyapp's entries with ``signers`` [(name, key, cert)]; returns (apk, cert SHA-256s).

    ``covers[i]`` limits the entries signer i's .SF lists; ``sf_edit[i]`` rewrites its .SF text.
    """
    with zipfile.ZipFile(_v1_only()) as zf:
        entries = {n: zf.read(n) for n in zf.namelist() if not n.startswith("META-INF/")}
    sections = {n: f"Name: {n}\r\nSHA-256-Digest: {_b64(d)}\r\n\r\n".encode() for n, d in entries.items()}
    manifest = b"Manifest-Version: 1.0\r\nCreated-By: apkscan-test\r\n\r\n" + b"".join(sections.values())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("META-INF/MANIFEST.MF", manifest)
        for i, (name, key, cert) in enumerate(signers):
            names = covers[i] if covers and covers[i] is not None else list(entries)
            sf = (f"Signature-Version: 1.0\r\nCreated-By: 1.0 (Android)\r\nSHA-256-Digest-Manifest: {_b64(manifest)}\r\n\r\n"
                  + "".join(f"Name: {n}\r\nSHA-256-Digest: {_b64(sections[n])}\r\n\r\n" for n in names))
            if sf_edit and sf_edit[i]:
                sf = sf_edit[i](sf)
            out.writestr(f"META-INF/{name}.SF", sf.encode())
            out.writestr(f"META-INF/{name}.RSA", _pkcs7(sf.encode(), key, cert, signed_attrs))
        for n, d in entries.items():
            out.writestr(n, d)
    from cryptography.hazmat.primitives.serialization import Encoding

    return buf.getvalue(), [hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest() for _, _, c in signers]


def _cross_check(apk: bytes, ours: v1.V1Result, min_sdk: int, tmp_path: Path) -> None:
    """apksigner (31.0.2) agrees on verdict and signers for v1-only APKs."""
    from tests.apksigner_helper import apksigner_available, apksigner_verify

    if not apksigner_available():
        return
    path = tmp_path / "crafted.apk"
    path.write_bytes(apk)
    ref = apksigner_verify(path, min_sdk=min_sdk)
    assert ref["verified"] == ours.scheme.verified, ref["output"]
    if ref["verified"]:
        assert ref["signers_sha256"] == _verified_certs(ours)


def _verify_bytes(apk: bytes, min_sdk: int) -> v1.V1Result:
    return _run(ZipArchive.open(BytesSource(apk)), min_sdk, ids=frozenset())


def test_self_signed_jar_verifies(tmp_path):
    _need_corpus()
    (key, cert), = _signer_keys(1)
    apk, shas = _jar_sign([("ONE", key, cert)])
    result = _verify_bytes(apk, 18)  # SHA-256 with rsaEncryption: Android 18+ (and 0-8)
    assert result.scheme.verified and _verified_certs(result) == shas
    _cross_check(apk, result, 18, tmp_path)
    early = _verify_bytes(apk, 14)
    assert "JAR_SIG_UNSUPPORTED_SIG_ALG" in _codes(early)
    _cross_check(apk, early, 14, tmp_path)


def test_signer_without_signature_version_is_ignored(tmp_path):
    _need_corpus()
    (k1, c1), (k2, c2) = _signer_keys(2)
    drop_version = lambda sf: sf.replace("Signature-Version: 1.0\r\n", "")
    apk, shas = _jar_sign([("ONE", k1, c1), ("TWO", k2, c2)], sf_edit=[None, drop_version])
    result = _verify_bytes(apk, 18)
    assert result.scheme.verified and _verified_certs(result) == shas[:1]
    ignored = next(s for s in result.scheme.signers if s.name == "META-INF/TWO.SF")
    assert not ignored.verified and ignored.certificate.sha256 == shas[1]
    assert [w.code for w in ignored.warnings] == ["JAR_SIG_MISSING_VERSION_ATTR_IN_SIG_FILE"]
    _cross_check(apk, result, 18, tmp_path)


def test_two_signers_and_signer_set_mismatch(tmp_path):
    _need_corpus()
    (k1, c1), (k2, c2) = _signer_keys(2)
    apk, shas = _jar_sign([("ONE", k1, c1), ("TWO", k2, c2)])
    both = _verify_bytes(apk, 18)
    assert both.scheme.verified and sorted(_verified_certs(both)) == sorted(shas)
    _cross_check(apk, both, 18, tmp_path)
    with zipfile.ZipFile(_v1_only()) as zf:
        first = next(n for n in zf.namelist() if not n.startswith("META-INF/"))
    apk, _ = _jar_sign([("ONE", k1, c1), ("TWO", k2, c2)], covers=[None, [first]])
    partial = _verify_bytes(apk, 18)
    assert not partial.scheme.verified
    assert "JAR_SIG_ZIP_ENTRY_SIGNERS_MISMATCH" in _codes(partial)
    _cross_check(apk, partial, 18, tmp_path)


def test_signed_attributes_need_kitkat(tmp_path):
    _need_corpus()
    (key, cert), = _signer_keys(1)
    apk, shas = _jar_sign([("ONE", key, cert)], signed_attrs=True)
    assert "JAR_SIG_VERIFY_EXCEPTION" in _codes(_verify_bytes(apk, 18))
    result = _verify_bytes(apk, 19)
    assert result.scheme.verified and _verified_certs(result) == shas
    _cross_check(apk, result, 19, tmp_path)


def test_key_usage_without_digital_signature_is_refused(tmp_path):
    _need_corpus()
    key, cert = _keypair("apkscan-test-keycertsign-only", key_usage=False)
    apk, _ = _jar_sign([("ONE", key, cert)])
    result = _verify_bytes(apk, 18)
    assert "JAR_SIG_VERIFY_EXCEPTION" in _codes(result)
    assert result.scheme.signers[0].certificate is not None  # present, not verified
    _cross_check(apk, result, 18, tmp_path)
