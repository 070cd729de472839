"""v1 as apksig reads it, where Python's defaults differ (review 42).

F1: MANIFEST.MF digests of the wrong lengths whose bytes join up to the right ones must never read as
a match (apksig compares each digest whole). F2: an entry name holding a UTF-8-encoded surrogate is
one U+FFFD in Java (three in Python's "replace"): the entry must be the one its section names.
Each APK is signed here (a JAR signature made with cryptography's PKCS #7 builder, SHA-1 so that
every SDK level accepts it) and checked against the installed apksigner where there is one.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apksigner_helper import apksigner_available, apksigner_verify
from cli_helpers import generate_module


def _key():
    """An RSA key and self-signed certificate (test_v1's JAR signer keys, made once per run)."""
    from test_v1 import _signer_keys

    return _signer_keys(1)[0]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _section(name: str, lines: str) -> bytes:
    return f"Name: {name}\r\n{lines}\r\n".encode("utf-8", "surrogatepass")


def _jar(entries: dict[str, bytes], sections: dict[str, bytes]) -> bytes:
    """``entries`` (name -> data) signed v1 with MANIFEST.MF made of ``sections`` as given."""
    key, cert = _key()
    manifest = b"Manifest-Version: 1.0\r\nCreated-By: apkscan-test\r\n\r\n" + b"".join(sections.values())
    sf = (b"Signature-Version: 1.0\r\nCreated-By: 1.0 (Android)\r\nSHA1-Digest-Manifest: "
          + _b64(hashlib.sha1(manifest).digest()).encode() + b"\r\n\r\n"
          + b"".join(s[:s.index(b"\r\n") + 2] + b"SHA1-Digest: " + _b64(hashlib.sha1(s).digest()).encode() + b"\r\n\r\n"
                     for s in sections.values()))
    block = _pkcs7_sha1(sf, key, cert)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("META-INF/MANIFEST.MF", manifest)
        out.writestr("META-INF/CERT.SF", sf)
        out.writestr("META-INF/CERT.RSA", block)
        for name, data in entries.items():
            out.writestr(name, data)
    return buf.getvalue()


def _pkcs7_sha1(sf: bytes, key, cert) -> bytes:
    """A detached SHA-1 PKCS #7 signature of ``sf`` (every SDK level accepts it; cryptography's
    builder signs SHA-2 only): ``openssl smime``, as a JAR signer's."""
    import subprocess
    import tempfile

    from cryptography.hazmat.primitives import serialization

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
        (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / "sf").write_bytes(sf)
        subprocess.run(["openssl", "smime", "-sign", "-binary", "-noattr", "-md", "sha1", "-outform", "DER",
                        "-signer", folder / "cert.pem", "-inkey", folder / "key.pem", "-in", folder / "sf",
                        "-out", folder / "block"], check=True, capture_output=True)
        return (folder / "block").read_bytes()


def _unsigned_entries() -> dict[str, bytes]:
    generate = generate_module()
    with zipfile.ZipFile(io.BytesIO(generate.build_unsigned(generate.App("com.example.v1java", "V1", min_sdk=9, target_sdk=28)))) as z:
        return {n: z.read(n) for n in z.namelist()}


def _both(data: bytes) -> str:
    return f"SHA1-Digest: {_b64(hashlib.sha1(data).digest())}\r\nSHA-256-Digest: {_b64(hashlib.sha256(data).digest())}\r\n"


def _verdicts(tmp_path: Path, apk: bytes) -> tuple[bool, bool | None]:
    path = tmp_path / "crafted.apk"
    path.write_bytes(apk)
    ours = identify(str(path), min_sdk=9, idsig=False).verification.verified
    theirs = apksigner_verify(path, min_sdk=9)["verified"] if apksigner_available() else None
    return ours, theirs


@pytest.mark.parametrize("split", ["sha1+sha256", "sha1-twice"])
def test_digests_of_the_wrong_lengths_that_join_up_never_match(tmp_path, split):
    entries = _unsigned_entries()
    sections = {n: _section(n, _both(d)) for n, d in entries.items()}
    dex = entries["classes.dex"]
    sha1, sha256 = hashlib.sha1(dex).digest(), hashlib.sha256(dex).digest()
    if split == "sha1+sha256":  # SHA1-Digest is 32 bytes, SHA-256-Digest 20: joined, they are the real two
        lines = f"SHA1-Digest: {_b64(sha1 + sha256[:12])}\r\nSHA-256-Digest: {_b64(sha256[12:])}\r\n"
    else:
        lines = f"SHA-Digest: {_b64(sha1 + sha1)}\r\nSHA1-Digest: \r\nSHA-256-Digest: {_b64(sha256)}\r\n"
    sections["classes.dex"] = _section("classes.dex", lines)
    ours, theirs = _verdicts(tmp_path, _jar(entries, sections))
    assert ours is False  # before: verified (the pass compared the joined bytes)
    assert theirs in (None, False)


def test_the_same_jar_with_honest_digests_verifies(tmp_path):
    entries = _unsigned_entries()
    ours, theirs = _verdicts(tmp_path, _jar(entries, {n: _section(n, _both(d)) for n, d in entries.items()}))
    assert ours is True and theirs in (None, True)


def _with_raw_name(apk: bytes, placeholder: bytes, raw: bytes) -> bytes:
    assert len(placeholder) == len(raw) and apk.count(placeholder) == 2  # the local and the central name
    return apk.replace(placeholder, raw)


@pytest.mark.parametrize("section_name, verifies", [("res/\ufffd.bin", True), ("res/\ufffd\ufffd\ufffd.bin", False)],
                         ids=["java-reading", "python-reading"])
def test_an_entry_name_holding_an_encoded_surrogate_is_read_as_java_reads_it(tmp_path, section_name, verifies):
    entries = _unsigned_entries()
    sections = {n: _section(n, _both(d)) for n, d in entries.items()}
    body = b"surrogate named"
    sections["res/XYZ.bin"] = _section(section_name, _both(body))
    apk = _jar({**entries, "res/XYZ.bin": body}, sections)
    apk = _with_raw_name(apk, b"res/XYZ.bin", b"res/\xed\xa0\x80.bin")
    ours, theirs = _verdicts(tmp_path, apk)
    assert ours is verifies  # before: the other way round, both times
    assert theirs in (None, verifies)


# --- review 43: the next places Python and Java read v1 bytes apart ------------------------------

@pytest.mark.parametrize("raw, java", [
    (b"\xed\xa0\x80", "\ufffd"), (b"\xed\xa0A", "\ufffdA"), (b"a\xed\xa0", "a\ufffd"), (b"\xe2\x82", "\ufffd"),
    (b"\xe0\x80\x80", "\ufffd\ufffd\ufffd"), (b"\xe2A", "\ufffdA"), (b"\xe2\x82\xac", "\u20ac"), (b"\xff", "\ufffd"),
])
def test_utf8_is_decoded_as_javas_new_string(raw, java):
    from apkscan.apk.io.java_utf8 import java_utf8

    assert java_utf8(raw) == java  # what Java 17's new String(bytes, UTF_8) gives (checked with a JVM)


@pytest.mark.parametrize("a, b, equal", [("SHA-256-Dıgest", "SHA-256-Digest", True), ("Digeſt", "DIGEST", True),
                                         ("\u212aey", "key", True), ("Sİgnature", "signature", True),
                                         ("Straße", "STRASSE", False), ("Name", "Nam", False)])
def test_attribute_names_compare_as_javas_equals_ignore_case(a, b, equal):
    from apkscan.apk.signing.v1.jar_manifest import jfold

    assert (len(a) == len(b) and jfold(a) == jfold(b)) is equal


@pytest.mark.parametrize("value, ok", [("QUJD", True), ("QUI=", True), ("QUI", True), ("QQ==", True), ("QQ", True),
                                       ("QQ=", False), ("QUJD=", False), ("Q", False), ("QU=I", False)])
def test_base64_padding_as_javas_basic_decoder(value, ok):
    from apkscan.apk.signing.v1.jar_manifest import decode_base64

    assert (decode_base64(value) is not None) is ok


def test_x_android_apk_signed_tokens_as_java_trims_and_parses_them():
    from apkscan.apk.signing.v1.signature_file import java_int, java_trim

    assert [java_int(java_trim(t)) for t in ("2", " 2\x01", "\u0662", "+3", "x", "")] == [2, 2, 2, 3, None, None]


def _digest_case(entries: dict[str, bytes], lines: str) -> dict[str, bytes]:
    sections = {n: _section(n, _both(d)) for n, d in entries.items()}
    sections["classes.dex"] = _section("classes.dex", lines)
    return sections


@pytest.mark.parametrize("case", ["dotless-bad-first", "long-s-bad-first", "sha512-one-pad", "vt-separated"])
def test_manifests_java_reads_otherwise_get_apksigners_verdict(tmp_path, case):
    entries = _unsigned_entries()
    dex = entries["classes.dex"]
    sha1, sha256, sha512 = (_b64(hashlib.new(a, dex).digest()) for a in ("sha1", "sha256", "sha512"))
    lines = {
        "dotless-bad-first": f"SHA1-Digest: {sha1}\r\nSHA-256-D\u0131gest: {_b64(b'x' * 32)}\r\nSHA-256-Digest: {sha256}\r\n",
        "long-s-bad-first": f"SHA1-Digest: {sha1}\r\nSHA-256-Dige\u017ft: {_b64(b'x' * 32)}\r\nSHA-256-Digest: {sha256}\r\n",
        "sha512-one-pad": f"SHA1-Digest: {sha1}\r\nSHA-512-Digest: {sha512[:-1]}\r\n",
        "vt-separated": f"Digest-Algorithms: X\x0bSHA1\r\nSHA1-Digest: {sha1}\r\nSHA-256-Digest: {sha256}\r\n",
    }[case]
    ours, theirs = _verdicts(tmp_path, _jar(entries, _digest_case(entries, lines)))
    assert ours is False  # Java: the first (bad) digest counts / 'x=' is no base64 / one token, no digest
    assert theirs in (None, False)


def test_a_name_with_a_cut_surrogate_is_the_entry_java_names(tmp_path):
    entries = _unsigned_entries()
    sections = {n: _section(n, _both(d)) for n, d in entries.items()}
    body = b"cut surrogate"
    sections["res/XYZ.bin"] = _section("res/\ufffdx.bin", _both(body))  # Java: ED A0 'x' -> U+FFFD 'x'
    apk = _with_raw_name(_jar({**entries, "res/XYZ.bin": body}, sections), b"res/XYZ.bin", b"res/\xed\xa0x.bin")
    ours, theirs = _verdicts(tmp_path, apk)
    assert ours is True and theirs in (None, True)
