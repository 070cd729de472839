"""A v1 digest that is not valid Base64 as Java reads it (review 73 F2).

apksig's ``getDigestsToVerify`` decodes each digest it picks for the SDK range with
``java.util.Base64.getDecoder()``, which throws IllegalArgumentException on a stray or URL-safe
character, padding that is wrong or followed by more, or one character left over: the exception
leaves ``ApkVerifier.verify`` and apksigner verifies nothing. apkscan verified such a JAR when the
bad value was the .SF's digest of the whole MANIFEST.MF (a mismatch there is only a warning).
Only the digests picked for the range are decoded: a bad SHA1 beside a good SHA-256 matters
below API 18 alone, and v1 is not read at all from API 24 when a v2 signature is there.

Each APK is built and signed here (v1 by ``openssl smime`` over the chosen .SF, v2 by a small
signer below with the same fixture key) and checked against the installed apksigner.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apksigner_helper import apksigner_available, apksigner_verify
from test_v1_java_reading import _b64, _both, _pkcs7_sha1, _section, _unsigned_entries

ROOT = Path(__file__).resolve().parent.parent
KEY_NAME = "test-rsa"  # fixtures/keys: v1 and v2 signed by the same key, so both schemes agree
CODE = "JAR_SIG_MALFORMED_DIGEST"


def _fixture_key():
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    keys = ROOT / "fixtures" / "keys"
    key = serialization.load_der_private_key((keys / f"{KEY_NAME}.pk8").read_bytes(), None)
    return key, x509.load_pem_x509_certificate((keys / f"{KEY_NAME}.pem").read_bytes())


def _jar(sf_main: str = "", sf_entry: dict[str, str] | None = None, mf_entry: dict[str, str] | None = None) -> bytes:
    """A v1-only APK (minSdkVersion 9) whose .SF main section holds ``sf_main`` (a function of
    MANIFEST.MF's bytes when callable), its per-entry sections SHA1 digests unless ``sf_entry``
    gives the lines, and MANIFEST.MF's sections SHA1+SHA-256 unless ``mf_entry`` gives them."""
    entries = _unsigned_entries()
    sections = {n: _section(n, (mf_entry or {}).get(n) or _both(d)) for n, d in entries.items()}
    manifest = b"Manifest-Version: 1.0\r\nCreated-By: apkscan-test\r\n\r\n" + b"".join(sections.values())
    main = sf_main(manifest) if callable(sf_main) else sf_main
    sf = b"Signature-Version: 1.0\r\nCreated-By: 1.0 (Android)\r\n" + main.encode() + b"\r\n"
    for name, s in sections.items():
        line = (sf_entry or {}).get(name) or f"SHA1-Digest: {_b64(hashlib.sha1(s).digest())}\r\n"
        sf += s[:s.index(b"\r\n") + 2] + line.encode() + b"\r\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("META-INF/MANIFEST.MF", manifest)
        out.writestr("META-INF/CERT.SF", sf)
        out.writestr("META-INF/CERT.RSA", _pkcs7_sha1(sf, *_fixture_key()))
        for name, data in entries.items():
            out.writestr(name, data)
    return buf.getvalue()


def _lp(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b


def _chunked_sha256(parts: list[bytes]) -> bytes:
    """The v2 content digest (CHUNKED_SHA256) of the ZIP's three sections."""
    chunks = [p[i:i + (1 << 20)] for p in parts for i in range(0, len(p), 1 << 20)]
    tops = b"".join(hashlib.sha256(b"\xa5" + struct.pack("<I", len(c)) + c).digest() for c in chunks)
    return hashlib.sha256(b"\x5a" + struct.pack("<I", len(chunks)) + tops).digest()


def _with_v2(apk: bytes) -> bytes:
    """``apk`` with an APK Signature Scheme v2 block (RSA PKCS #1 SHA-256, 0x0103) over its bytes
    as they are: apksigner's own signer would drop the crafted .SF."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key, cert = _fixture_key()
    eocd = apk.rfind(b"PK\x05\x06")
    cdo = struct.unpack_from("<I", apk, eocd + 16)[0]
    digest = _chunked_sha256([apk[:cdo], apk[cdo:eocd], apk[eocd:]])
    signed = _lp(_lp(struct.pack("<I", 0x0103) + _lp(digest))) + _lp(_lp(cert.public_bytes(serialization.Encoding.DER))) + _lp(b"")
    sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    signer = _lp(signed) + _lp(_lp(struct.pack("<I", 0x0103) + _lp(sig))) + _lp(spki)
    value = _lp(_lp(signer))
    pairs = struct.pack("<QI", len(value) + 4, 0x7109871A) + value
    block = struct.pack("<Q", len(pairs) + 24) + pairs + struct.pack("<Q", len(pairs) + 24) + b"APK Sig Block 42"
    out = bytearray(apk[:cdo] + block + apk[cdo:])
    struct.pack_into("<I", out, eocd + len(block) + 16, cdo + len(block))
    return bytes(out)


def _agree(tmp_path: Path, apk: bytes, min_sdk: int | None, verified: bool) -> None:
    """apkscan's verdict over [min_sdk or the manifest's 9, max] is ``verified``, with the code
    when not; apksigner says the same (an IllegalArgumentException when not)."""
    path = tmp_path / "crafted.apk"
    path.write_bytes(apk)
    kwargs = {"idsig": False} if min_sdk is None else {"idsig": False, "min_sdk": min_sdk}
    got = identify(str(path), **kwargs)
    assert got.verified is verified, got.to_dict()["errors"]
    codes = [i.code for i in got.verification.errors]
    assert (CODE in codes) is (not verified)
    if apksigner_available():
        theirs = apksigner_verify(path, min_sdk=min_sdk)
        assert theirs["verified"] is verified, theirs["output"][-400:]
        assert verified or "IllegalArgumentException" in theirs["output"]


def _whole(value) -> object:
    return lambda manifest: f"SHA1-Digest-Manifest: {value(manifest)}\r\n"


def _sha1(manifest: bytes) -> str:
    return _b64(hashlib.sha1(manifest).digest())


def _sha256(manifest: bytes) -> str:
    return _b64(hashlib.sha256(manifest).digest())


DEFECTS = {  # each a SHA1-Digest-Manifest value Python's lenient b64decode would read
    "padding-past-the-unit": lambda m: _sha1(m) + "=",
    "data-after-padding": lambda m: _sha1(m) + "QQ==",
    "url-safe-alphabet": lambda m: "_" + _sha1(m)[1:],
    "inner-space": lambda m: _sha1(m)[:4] + " " + _sha1(m)[4:],
    "non-alphabet": lambda m: "*" + _sha1(m)[1:],
    "one-character-left-over": lambda m: _sha1(m).rstrip("=") + "QQ",
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_a_whole_manifest_digest_java_cannot_decode_fails_the_apk(tmp_path, defect):
    # the .SF's per-entry sections all verify: before, the bad whole-manifest digest was a warning
    _agree(tmp_path, _jar(_whole(DEFECTS[defect])), None, False)
    # what Java decodes still verifies: the digest padded or not
    _agree(tmp_path, _jar(_whole(_sha1)), None, True)
    _agree(tmp_path, _jar(_whole(lambda m: _sha1(m).rstrip("="))), None, True)


def test_a_bad_sha1_beside_a_good_sha256_counts_below_api_18_only(tmp_path):
    # below 18 Android walks Digest-Algorithms (default "SHA SHA1"): SHA1 is decoded; from 18 the
    # strongest present (SHA-256) is, and the SHA1 value is never read
    apk = _jar(lambda m: f"SHA1-Digest-Manifest: {_sha1(m)}=\r\nSHA-256-Digest-Manifest: {_sha256(m)}\r\n")
    for min_sdk, verified in [(9, False), (17, False), (18, True), (24, True)]:
        _agree(tmp_path, apk, min_sdk, verified)


@pytest.mark.parametrize("min_sdk", [9, 18, 24])
def test_a_bad_sha256_beside_a_good_sha1_counts_from_api_18(tmp_path, min_sdk):
    main = lambda m: f"SHA1-Digest-Manifest: {_sha1(m)}\r\nSHA-256-Digest-Manifest: {_sha256(m)}=\r\n"
    _agree(tmp_path, _jar(main), min_sdk, False)  # the range 9.. spans 18: both are decoded


def test_with_v2_the_bad_digest_counts_only_where_v1_is_read(tmp_path):
    # apksig reads v1 below API 24 (or with no v2/v3 signature): from 24 the .SF is never decoded
    honest, bad = (_with_v2(_jar(_whole(v))) for v in (_sha1, DEFECTS["padding-past-the-unit"]))
    for min_sdk, verified in [(None, False), (23, False), (24, True), (28, True)]:
        _agree(tmp_path, honest, min_sdk, True)  # the v2 signer here is sound at every level
        _agree(tmp_path, bad, min_sdk, verified)


def test_main_attributes_and_per_entry_digests_are_decoded_too(tmp_path):
    # the main-attributes digest is always decoded; a .SF entry's only when the whole digest differs
    bad_main = _jar(lambda m: f"SHA1-Digest-Manifest: {_sha1(m)}\r\nSHA1-Digest-Manifest-Main-Attributes: *AAA\r\n")
    _agree(tmp_path, bad_main, None, False)
    whole_differs = lambda m: f"SHA1-Digest-Manifest: {_b64(bytes(20))}\r\n"
    _agree(tmp_path, _jar(whole_differs, sf_entry={"classes.dex": "SHA1-Digest: *AAA\r\n"}), None, False)
    _agree(tmp_path, _jar(_whole(_sha1), sf_entry={"classes.dex": "SHA1-Digest: *AAA\r\n"}), None, True)


def test_a_manifest_entry_digest_java_cannot_decode(tmp_path):
    # MANIFEST.MF's own entry digests, picked for the range as the .SF's are: SHA1 below 18 only
    dex = _unsigned_entries()["classes.dex"]
    lines = f"SHA1-Digest: *AAA\r\nSHA-256-Digest: {_b64(hashlib.sha256(dex).digest())}\r\n"
    apk = _jar(_whole(_sha1), mf_entry={"classes.dex": lines})
    for min_sdk, verified in [(9, False), (18, True)]:
        _agree(tmp_path, apk, min_sdk, verified)
