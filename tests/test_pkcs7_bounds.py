"""PKCS #7 signature blocks: hostile shapes cost bounded time and memory, and give a JAR
signature error (never INTERNAL_ERROR, which would drop the v2/v3 result too).

A reviewer measured, before these bounds: a 400 KB OBJECT IDENTIFIER (deflates to ~1 KB) took
10 s of CPU (the arc decoded as one ever-growing integer), and one over 4,300 digits raised a
bare ValueError; a 15 MiB certificate bag of two-byte elements became 1.5 GB of objects before
the 1,000-certificate limit was checked; a bag of 80 certificates with 2 KB names, ordered so
each chain step found its issuer last, took 14 s (every comparison re-parsed both names).
Each runs in a child under CPU and memory limits, so the old code fails instead of hanging.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from apkscan.apk.crypto import pkcs7
from apkscan.apk.crypto.asn1 import Asn1Error, read_tlv
from apkscan.apk.identify import identify

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "apks"


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def long_oid_block(arc_bytes: int) -> bytes:
    """A ContentInfo whose contentType is one arc of ``arc_bytes`` bytes."""
    return _der(0x30, _der(0x06, b"\xff" * (arc_bytes - 1) + b"\x01") + _der(0xA0, _der(0x30, b"")))


def big_bag_block(elements: int) -> bytes:
    """SignedData whose certificates [0] holds ``elements`` NULLs (two bytes each)."""
    signed = (_der(0x02, b"\x01") + _der(0x31, b"") + _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010701")))
              + _der(0xA0, b"\x05\x00" * elements) + _der(0x31, b""))
    return _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010702")) + _der(0xA0, _der(0x30, signed)))


def test_a_huge_oid_decodes_in_linear_time_and_matches_nothing():
    block = long_oid_block(400_000)
    with pytest.raises(Asn1Error, match="unsupported ContentInfo.contentType: (2.0x|long-oid)"):
        pkcs7.parse_signed_data(block)  # read whole (as apksig's BigInteger does), then not SignedData


def test_padded_arcs_are_the_same_oid():
    padded = bytes.fromhex("060b2a864886f70d01078080" "02")
    assert pkcs7.decode_oid(padded, read_tlv(padded, 0, len(padded))) == "1.2.840.113549.1.7.2"


def test_a_padded_content_type_still_verifies(tmp_path):
    """The ContentInfo wrapper is signed by nobody: padding its OID (value unchanged) must not
    turn a verified JAR signature into a parse error (apksigner verifies it; a reviewer's case)."""
    with zipfile.ZipFile(FIXTURES / "v1-only.apk") as z:
        block = next(z.read(n) for n in z.namelist() if n.endswith(".RSA"))
    plain = bytes.fromhex("06092a864886f70d010702")
    assert block[4:4 + len(plain)] == plain and block[:2] == b"\x30\x82"
    padded = bytes.fromhex("060a2a864886f70d01078002")
    length = int.from_bytes(block[2:4], "big") + 1
    apk = _apk_with_block(tmp_path, b"\x30\x82" + length.to_bytes(2, "big") + padded + block[4 + len(plain):])
    assert identify(str(apk)).verification.schemes["v1"].verified


def test_signer_issuer_padded_past_the_chain_limit_still_names_its_certificate():
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    plain = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Leaf")]).public_bytes()
    padded = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Leaf" + " " * 1100, _validate=False)]).public_bytes()
    assert pkcs7.Names().equal(plain, padded)  # X500Principal.equals: trailing spaces do not count


def test_real_oids_still_decode():
    block = big_bag_block(3)
    with pytest.raises(Asn1Error):  # NULLs are no certificates, but the OIDs decoded fine
        pkcs7.parse_certificate(pkcs7.parse_signed_data(block).certificates[0])


def test_a_bag_over_the_limit_is_refused_at_the_limit():
    with pytest.raises(pkcs7.Pkcs7Error, match="more than 1000 certificates"):
        pkcs7.parse_signed_data(big_bag_block(1001))
    assert len(pkcs7.parse_signed_data(big_bag_block(1000)).certificates) == 1000


def _apk_with_block(tmp_path: Path, block: bytes) -> Path:
    """v1-only.apk with its signature block replaced (the .SF and MANIFEST.MF stay)."""
    out = tmp_path / "hostile-block.apk"
    with zipfile.ZipFile(FIXTURES / "v1-only.apk") as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            name = info.filename
            is_block = name.startswith("META-INF/") and name.endswith((".RSA", ".DSA", ".EC"))
            zout.writestr(info, block if is_block else zin.read(info))
    return out


_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_CPU, (8, 8))
resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))
sys.path.insert(0, sys.argv[1])
import test_pkcs7_bounds as t
from apkscan.apk.identify import identify
block = getattr(t, sys.argv[2])(int(sys.argv[3]))
apk = t._apk_with_block(__import__("pathlib").Path(sys.argv[4]), block)
identity = identify(str(apk))
v1 = identity.verification.schemes["v1"]
print(sorted({i.code for i in identity.errors}), sorted({i.code for i in v1.all_errors()}), v1.verified)
"""


@pytest.mark.parametrize("builder, size, code", [
    ("long_oid_block", 400_000, None), ("long_oid_block", 5_000, None),  # huge OIDs: linear now, not refused
    ("big_bag_block", 4 << 20, "INPUT_TOO_MANY_CERTIFICATES"),  # our cap, not apksig's: an input error (review 31 F5)
])
def test_hostile_blocks_in_an_apk_are_bounded_jar_errors(tmp_path, builder, size, code):
    done = subprocess.run([sys.executable, "-c", _CHILD, str(HERE), builder, str(size), str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]  # killed (CPU, memory) or a traceback before
    errors, v1_errors, verified = done.stdout.strip().split("] ")
    assert verified == "False"
    if code is None:
        assert errors == "[" and "JAR_SIG_PARSE_EXCEPTION" in v1_errors
    else:
        assert errors == f"['{code}'" and code in v1_errors


_CHAIN = """
import resource, sys
resource.setrlimit(resource.RLIMIT_CPU, (8, 8))
sys.path.insert(0, sys.argv[1])
import test_pkcs7_bounds as t
bag, leaf = t.reversed_chain(int(sys.argv[2]))
from apkscan.apk.crypto import pkcs7
chain = pkcs7.certificate_chain(bag, leaf)
print(len(chain), [c.serial for c in chain] == list(range(1, len(chain) + 1)))
"""


def reversed_chain(n: int, pad: int = 900):
    """n certificates, each issued by the next, the issuer each step needs always last in the bag;
    names of ~``pad`` bytes (under the normalisation limit: compared as names, not bytes)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    when = datetime.datetime(2020, 1, 1)

    def name(i: int) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "o" * pad),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"node {i}")])

    ders = []
    for i in range(n):
        cert = (x509.CertificateBuilder().subject_name(name(i)).issuer_name(name(min(i + 1, n - 1)))
                .public_key(key.public_key()).serial_number(i + 1).not_valid_before(when)
                .not_valid_after(when + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
        ders.append(cert.public_bytes(serialization.Encoding.DER))
    bag = [pkcs7.parse_certificate(d) for d in ders]
    leaf = bag[0]
    return [leaf] + bag[1:][::-1], leaf  # node 1 last, node 2 second to last, ...


def test_chain_building_is_not_quadratic_in_name_comparisons():
    done = subprocess.run([sys.executable, "-c", _CHAIN, str(HERE), "300"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "300 True"


def test_chain_matches_names_equal_after_normalisation():
    """Issuer and subject differing only in case and spaces still chain (RFC 5280 equality)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    when = datetime.datetime(2020, 1, 1)

    def cert(subject: str, issuer: str, serial: int) -> bytes:
        sub = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        iss = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
        c = (x509.CertificateBuilder().subject_name(sub).issuer_name(iss).public_key(key.public_key())
             .serial_number(serial).not_valid_before(when).not_valid_after(when + datetime.timedelta(days=1))
             .sign(key, hashes.SHA256()))
        return c.public_bytes(serialization.Encoding.DER)

    leaf = pkcs7.parse_certificate(cert("Leaf", "Example  CA", 1))
    decoy = pkcs7.parse_certificate(cert("Other CA", "Other CA", 2))
    ca = pkcs7.parse_certificate(cert("example ca", "example ca", 3))
    chain = pkcs7.certificate_chain([leaf, decoy, ca], leaf)
    assert [c.serial for c in chain] == [1, 3]
    assert pkcs7.Names().equal(leaf.issuer, ca.subject) and not pkcs7.Names().equal(leaf.issuer, decoy.subject)


def test_unchanged_on_the_fixtures():
    for apk in ("v1-only.apk", "clean-v1v2v3.apk", "rotated-lineage.apk"):
        identity = identify(str(FIXTURES / apk))
        assert identity.verification.verified, apk


def test_certificates_of_at_most_ten_orphan_blocks_are_read(tmp_path):
    """Signature blocks without their .SF are parsed only to show their certificates: at most
    MAX_SIGNERS of them (each may be 16 MiB), the rest said, not silently dropped."""
    out = tmp_path / "orphans.apk"
    with zipfile.ZipFile(FIXTURES / "v1-only.apk") as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        block = next(zin.read(n) for n in zin.namelist() if n.startswith("META-INF/") and n.endswith(".RSA"))
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        for i in range(12):
            zout.writestr(f"META-INF/ORPHAN{i:02d}.RSA", block)
    v1 = identify(str(out)).verification.schemes["v1"]
    warned = [w for w in v1.warnings if w.code == "JAR_SIG_BLOCKS_NOT_READ"]
    assert len(warned) == 1 and warned[0].message.startswith("2 more signature blocks")
    assert sum(1 for s in v1.signers if s.chain) == 1 + 10  # the real signer, and ten orphans shown


def test_any_amount_of_arc_padding_is_the_same_oid():
    padded = bytes.fromhex("2a864886f70d0107") + b"\x80" * 100_000 + b"\x02"
    der = _der(0x06, padded)
    assert pkcs7.decode_oid(der, read_tlv(der, 0, len(der))) == "1.2.840.113549.1.7.2"


def test_a_long_unpadded_oid_is_named_by_its_digest():
    long = b"\x2a" + b"\x01" * 300_000
    der = _der(0x06, long)
    text = pkcs7.decode_oid(der, read_tlv(der, 0, len(der)))
    assert text.startswith("long-oid:300001:") and len(text) < 64  # reports stay small
