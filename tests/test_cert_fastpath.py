"""The strict certificate reader (``x509_fast``) against the parsers it stands in for.

Differential: every certificate gets described twice, with the fast path and with it
switched off (``cryptography`` then ``asn1crypto``, exactly as before), and the whole
``Certificate`` must be equal field for field (``parse_errors`` included), as must the key
apksig compares. Certificates: every one parsed while identifying each APK under
``fixtures/`` (adversarial and hostile ones included) and the shared corpus, the fixture
keys' certificates, the vendor reference, and hand-built ones at the edges (``der_build``).
Mutations (truncation at every offset, byte flips) check that the fast path never raises and
never answers differently. Each group also asserts that the fast path *did* answer for the
certificates it is meant for, so a reader that always declines fails here.
"""

from __future__ import annotations

import base64
import json
import random
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest

import der_build as d
from conftest import APKS, CORPUS, FIXTURES, SHARED
from apkscan.apk.crypto import jdk_key, x509_fast
from apkscan.apk.crypto.certificates import _describe, apksig_public_key_der, certificate_from_der, spki_der
from apkscan.apk.identify import identify

VENDORS = SHARED / "reference" / "vendor-identities.json"


@contextmanager
def _fast_path_off():
    with mock.patch.object(x509_fast, "certificate_fields", lambda der: None), \
            mock.patch.object(x509_fast, "key_facts", lambda spki: None):
        yield


def _old(der: bytes):  # _describe: certificate_from_der remembers descriptions (one path would answer both)
    with _fast_path_off():
        return _describe(der), apksig_public_key_der(der)


def _new(der: bytes):
    return _describe(der), apksig_public_key_der(der)


def _compare(der: bytes) -> bool:
    """Assert fast == old for ``der``; True when the fast path answered the fields itself."""
    new, old = _new(der), _old(der)
    assert new[0] == old[0], der.hex()
    assert new[0].to_dict() == old[0].to_dict()
    assert new[1] == old[1], der.hex()
    return x509_fast.certificate_fields(der) is not None


def _certificates_seen_identifying(paths: list[Path]) -> dict[str, bytes]:
    """Every certificate apkscan parses while identifying ``paths`` (v1, v2, v3, lineage, stamp, v4)."""
    seen: dict[str, bytes] = {}
    real = x509_fast.certificate_fields

    def record(der: bytes):
        seen[der.hex()] = der
        return real(der)

    from apkscan.apk.crypto import certificates

    # no remembered descriptions: every certificate is described (and seen) again
    with mock.patch.object(x509_fast, "certificate_fields", record), mock.patch.object(certificates, "MEMO_MAX_DER", -1):
        for path in paths:
            identify(path, quick=True, timeout=30)
    return seen


def _pem_certificates(folder: Path) -> list[bytes]:
    out = []
    for pem in sorted(folder.glob("*.pem")):
        text = pem.read_text()
        body = text.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        out.append(base64.b64decode("".join(body.split())))
    return out


def test_every_fixture_certificate_reads_the_same():
    apks = sorted(FIXTURES.rglob("*.apk"))
    assert len(apks) > 80
    certs = list(_certificates_seen_identifying(apks).values()) + _pem_certificates(FIXTURES / "keys")
    answered = [der for der in certs if _compare(der)]
    assert len(certs) >= 15
    assert len(answered) >= len(_pem_certificates(FIXTURES / "keys"))  # the clean ones: all fast


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
def test_every_corpus_certificate_reads_the_same():
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".apk", ".APK"))
    certs = _certificates_seen_identifying(files)
    results = {h: _compare(der) for h, der in certs.items()}
    assert len(results) > 40
    assert sum(results.values()) > len(results) // 2  # most real signers take the fast path
    declined = {h for h, fast in results.items() if not fast}
    assert declined  # ... and the corpus's odd ones (PSS, BER, negative modulus...) do not


@pytest.mark.skipif(not VENDORS.exists(), reason="vendor reference not available")
def test_vendor_reference_certificates_read_the_same():
    entries = json.loads(VENDORS.read_text())["certificates"].values()
    ders = [bytes.fromhex(e["der_hex"]) for e in entries if e.get("der_hex")]
    answered = [der for der in ders if _compare(der)]
    assert ders and answered


# --- hand-built edges ---------------------------------------------------------------------------

BASE = d.Cert()


def _body(tlv: bytes) -> bytes:
    """The contents of a DER element (its header dropped)."""
    return tlv[2 + (tlv[1] & 0x7F if tlv[1] & 0x80 else 0):]


def _relength(tlv: bytes, octets: int) -> bytes:
    """The same element with its length written in ``octets`` long-form bytes (BER, not DER)."""
    body = _body(tlv)
    return bytes([tlv[0], 0x80 | octets]) + len(body).to_bytes(octets, "big") + body


def _name1(value, tag=0x0C, attr=d.CN):
    return BASE.with_(subject=d.name(d.atv(attr, value, tag)))


def _key(algorithm: str, params: bytes | None, key: bytes) -> d.Cert:
    return BASE.with_(spki=d.seq(d.alg(algorithm, params), d.bitstring(key)))


def _exts(*extensions: bytes) -> d.Cert:
    return BASE.with_(tail=d.tlv(0xA3, d.seq(*extensions)))


DSA = "1.2.840.10040.4.1"
BC = d.oid("2.5.29.19")  # basicConstraints
RSA_KEY = d.seq(d.integer(d.RSA_N), d.integer(3))


EDGES = {
    "base": BASE,
    "v1 (no version)": BASE.with_(version=b""),
    "v1 written out (DER default)": BASE.with_(version=d.tlv(0xA0, d.integer(0))),
    "v2": BASE.with_(version=d.tlv(0xA0, d.integer(1))),
    "v4": BASE.with_(version=d.tlv(0xA0, d.integer(3))),
    "serial zero": BASE.with_(serial=d.integer(0)),
    "serial negative": BASE.with_(serial=d.integer(-5)),
    "serial -128": BASE.with_(serial=d.integer(-128)),
    "serial huge": BASE.with_(serial=d.integer(1 << 400)),
    "serial huge negative": BASE.with_(serial=d.integer(-(1 << 300) - 7)),
    "serial zero-padded": BASE.with_(serial=d.tlv(0x02, b"\x00\x05")),
    "serial ff-padded": BASE.with_(serial=d.tlv(0x02, b"\xff\x85")),
    "serial empty": BASE.with_(serial=d.tlv(0x02, b"")),
    "empty subject": BASE.with_(subject=d.seq()),
    "empty RDN": BASE.with_(subject=d.seq(d.set_())),
    "multi-valued sorted": BASE.with_(subject=d.name(sorted([d.atv(d.O, "b"), d.atv(d.CN, "a")]))),
    "multi-valued unsorted": BASE.with_(subject=d.name([d.atv(d.O, "b"), d.atv(d.CN, "a")])),
    "multi-valued repeated": BASE.with_(subject=d.name([d.atv(d.CN, "a"), d.atv(d.CN, "a")])),
    "repeated value, two types": BASE.with_(subject=d.name(sorted([d.atv(d.CN, "a", 0x13), d.atv(d.CN, "a")]))),
    "two CNs in one RDN": BASE.with_(subject=d.name(sorted([d.atv(d.CN, "Tencent"), d.atv(d.CN, "WeChat")]))),
    "Android Debug as one multi-valued RDN": BASE.with_(subject=d.name(sorted(
        [d.atv(d.C, "US", 0x13), d.atv(d.O, "Android"), d.atv(d.CN, "Android Debug")]))),
    "same attribute in two RDNs": BASE.with_(subject=d.name(d.atv(d.OU, "x"), d.atv(d.OU, "y"))),
    "escapes": _name1(',+"\\<>;#= x '),
    "leading hash and spaces": _name1("# a "),
    "NUL in UTF8": _name1("a\x00b"),
    "emoji UTF8": _name1("微信 😀"),
    "bad UTF8": _name1(b"\xc0\xaf"),
    "UTF8 surrogate": _name1(b"\xed\xa0\x80"),
    "printable": _name1("Ab 0'()+,-./:=?", 0x13),
    "printable with @": _name1("a@b", 0x13),
    "printable with *": _name1("a*b", 0x13),
    "IA5 ascii": _name1("a@b.c", 0x16),
    "IA5 control": _name1("a\x01b", 0x16),
    "IA5 latin1": _name1(b"caf\xe9", 0x16),
    "IA5 utf8": _name1("café", 0x16),
    "teletex ascii": _name1("Tele tex", 0x14),
    "teletex latin1": _name1(b"caf\xe9", 0x14),
    "teletex utf8": _name1("café", 0x14),
    "visible": _name1("a~b", 0x1A),
    "visible control": _name1("a\tb", 0x1A),
    "numeric": _name1("0123 45", 0x12),
    "numeric letters": _name1("12a", 0x12),
    "BMP": _name1("é中".encode("utf-16-be"), 0x1E),
    "BMP surrogate pair": _name1("😀".encode("utf-16-be"), 0x1E),
    "BMP lone surrogate": _name1(b"\xd8\x00", 0x1E),
    "BMP odd length": _name1(b"\x00a\x00", 0x1E),
    "universal": _name1("é😀".encode("utf-32-be"), 0x1C),
    "universal surrogate": _name1(b"\x00\x00\xd8\x00", 0x1C),
    "universal past U+10FFFF": _name1(b"\x00\x11\x00\x00", 0x1C),
    "universal short": _name1(b"ab", 0x1C),
    "octet string value": _name1(b"ab", 0x04),
    "bit string uid": _name1(b"\x00\xab", 0x03, "2.5.4.45"),
    "bit string CN": _name1(b"\x00\xab", 0x03),
    "UTCTime as a value": _name1("200101000000Z", 0x17),
    "constructed value": BASE.with_(subject=d.name(d.seq(d.oid(d.CN), d.seq()))),
    "C of 3 letters": _name1("USA", 0x13, d.C),
    "empty CN": _name1(""),
    "unknown attribute": _name1("x", 0x0C, "1.3.6.1.4.1.99999.1"),
    "OID 2.999": _name1("x", 0x0C, "2.999.1"),
    "OID 1.39": _name1("x", 0x0C, "1.39.5"),
    "OID arc 2^55": _name1("x", 0x0C, "1.2." + str(1 << 55)),
    "OID arc 2^70": _name1("x", 0x0C, "1.2." + str(1 << 70)),
    "OID arc 2^130": _name1("x", 0x0C, "1.2." + str(1 << 130)),
    "OID 63 bytes": _name1("x", 0x0C, "1.2" + ".5" * 62),
    "OID 64 bytes": _name1("x", 0x0C, "1.2" + ".5" * 63),
    "OID non-minimal arc": BASE.with_(subject=d.name(d.seq(d.tlv(6, b"\x55\x04\x80\x03"), d.tlv(12, b"x")))),
    "OID unfinished arc": BASE.with_(subject=d.name(d.seq(d.tlv(6, b"\x55\x04\x83"), d.tlv(12, b"x")))),
    "OID empty": BASE.with_(subject=d.name(d.seq(d.tlv(6, b""), d.tlv(12, b"x")))),
    "UTCTime 1950/2049": BASE.with_(validity=d.seq(d.utc("500101000000Z"), d.utc("491231235959Z"))),
    "UTCTime 1999/2000": BASE.with_(validity=d.seq(d.utc("991231235959Z"), d.utc("000101000000Z"))),
    "UTCTime no seconds": BASE.with_(validity=d.seq(d.utc("5001010000Z"), d.utc("491231235959Z"))),
    "UTCTime offset": BASE.with_(validity=d.seq(d.utc("500101000000+0100"), d.utc("491231235959Z"))),
    "UTCTime second 60": BASE.with_(validity=d.seq(d.utc("200101000060Z"), d.utc("491231235959Z"))),
    "UTCTime Feb 30": BASE.with_(validity=d.seq(d.utc("200230000000Z"), d.utc("491231235959Z"))),
    "UTCTime Feb 29 leap": BASE.with_(validity=d.seq(d.utc("200229000000Z"), d.utc("491231235959Z"))),
    "UTCTime sign": BASE.with_(validity=d.seq(d.utc("2+0101000000Z"), d.utc("491231235959Z"))),
    "GeneralizedTime 2049/2050": BASE.with_(validity=d.seq(d.gen("20491231235959Z"), d.gen("20500101000000Z"))),
    "GeneralizedTime 1949": BASE.with_(validity=d.seq(d.gen("19491231235959Z"), d.gen("99991231235959Z"))),
    "GeneralizedTime fraction": BASE.with_(validity=d.seq(d.gen("20490101000000.5Z"), d.gen("20500101000000Z"))),
    "GeneralizedTime no Z": BASE.with_(validity=d.seq(d.gen("20490101000000"), d.gen("20500101000000Z"))),
    "GeneralizedTime year 0": BASE.with_(validity=d.seq(d.gen("00000101000000Z"), d.gen("99991231235959Z"))),
    "GeneralizedTime 2100-02-29": BASE.with_(validity=d.seq(d.gen("21000229000000Z"), d.gen("99991231235959Z"))),
    "GeneralizedTime 2400-02-29": BASE.with_(validity=d.seq(d.gen("24000229000000Z"), d.gen("99991231235959Z"))),
    "time of another type": BASE.with_(validity=d.seq(d.tlv(0x13, b"200101000000Z"), d.utc("300101000000Z"))),
    "sha1WithRSA": BASE.with_(inner_alg=d.alg("1.2.840.113549.1.1.5"), outer_alg=d.alg("1.2.840.113549.1.1.5")),
    "md5WithRSA": BASE.with_(inner_alg=d.alg("1.2.840.113549.1.1.4"), outer_alg=d.alg("1.2.840.113549.1.1.4")),
    "md2WithRSA no params": BASE.with_(outer_alg=d.alg("1.2.840.113549.1.1.2", None)),
    "RSA sig no params": BASE.with_(inner_alg=d.alg(d.SHA256_RSA, None), outer_alg=d.alg(d.SHA256_RSA, None)),
    "RSA sig INTEGER params": BASE.with_(outer_alg=d.alg(d.SHA256_RSA, d.integer(5))),
    "inner differs from outer": BASE.with_(outer_alg=d.alg("1.2.840.113549.1.1.5")),
    "ECDSA sig": BASE.with_(inner_alg=d.alg("1.2.840.10045.4.3.2", None), outer_alg=d.alg("1.2.840.10045.4.3.2", None)),
    "ECDSA sig with NULL": BASE.with_(outer_alg=d.alg("1.2.840.10045.4.3.2")),
    "ECDSA-SHA1 sig with NULL": BASE.with_(outer_alg=d.alg("1.2.840.10045.4.1")),
    "DSA sig": BASE.with_(outer_alg=d.alg("2.16.840.1.101.3.4.3.2", None)),
    "DSA sig with NULL": BASE.with_(outer_alg=d.alg("2.16.840.1.101.3.4.3.2")),
    "Ed25519 sig": BASE.with_(outer_alg=d.alg("1.3.101.112", None)),
    "Ed25519 sig with NULL": BASE.with_(outer_alg=d.alg("1.3.101.112")),
    "PSS sig": BASE.with_(outer_alg=d.alg("1.2.840.113549.1.1.10", d.seq())),
    "unknown sig": BASE.with_(outer_alg=d.alg("1.2.3.4", None)),
    "RSA key without NULL": BASE.with_(spki=d.rsa_spki(params=None)),
    "RSA key negative modulus": BASE.with_(spki=d.rsa_spki(n=d.RSA_N - (1 << 1024))),
    "RSA key zero exponent": BASE.with_(spki=d.rsa_spki(e=0)),
    "RSA key negative exponent": BASE.with_(spki=d.rsa_spki(e=-3)),
    "RSA key padded modulus": BASE.with_(spki=d.seq(d.alg(d.RSA), d.bitstring(d.seq(
        d.tlv(2, b"\x00\x00" + d.RSA_N.to_bytes(128, "big")), d.integer(65537))))),
    "RSA key trailing": _key(d.RSA, d.NULL, RSA_KEY + b"\x00"),
    "RSA key INTEGER params": BASE.with_(spki=d.rsa_spki(params=d.integer(1))),
    "PSS key": _key("1.2.840.113549.1.1.10", None, RSA_KEY),
    "EC P-256": BASE.with_(spki=d.ec_spki()),
    "EC P-384 claims": BASE.with_(spki=d.ec_spki(97, d.oid("1.3.132.0.34"))),
    "EC unknown curve": BASE.with_(spki=d.ec_spki(65, d.oid("1.3.132.0.99"))),
    "EC implicit curve": BASE.with_(spki=d.ec_spki(65, d.NULL)),
    "EC explicit curve": BASE.with_(spki=d.ec_spki(
        65, d.seq(d.integer(1), d.seq(d.oid("1.2.840.10045.1.1"), d.integer(7))))),
    "EC explicit curve compressed": _key(d.EC, d.seq(d.integer(1)), b"\x02abc"),
    "EC no params": _key(d.EC, None, b"\x04ab"),
    "DSA key": _key(DSA, d.seq(d.integer((1 << 1023) + 5), d.integer(7), d.integer(3)), d.integer(12345)),
    "DSA key negative p": _key(DSA, d.seq(d.integer(-5), d.integer(7), d.integer(3)), d.integer(1)),
    "DSA key no params": _key(DSA, None, d.integer(5)),
    "Ed25519 key": BASE.with_(spki=d.seq(d.alg("1.3.101.112", None), d.bitstring(b"k" * 32))),
    "Ed448 key": BASE.with_(spki=d.seq(d.alg("1.3.101.113", None), d.bitstring(b"k" * 57))),
    "X25519 key": BASE.with_(spki=d.seq(d.alg("1.3.101.110", None), d.bitstring(b"k" * 32))),
    "X448 key": BASE.with_(spki=d.seq(d.alg("1.3.101.111", None), d.bitstring(b"k" * 56))),
    "Ed25519 key with NULL": BASE.with_(spki=d.seq(d.alg("1.3.101.112"), d.bitstring(b"k" * 32))),
    "unknown key": BASE.with_(spki=d.seq(d.alg("1.2.3.4", None), d.bitstring(b"k"))),
    "key bit string padding": BASE.with_(spki=d.seq(d.alg(d.RSA), d.bitstring(b"\x01", 1))),
    "key bit string empty": BASE.with_(spki=d.seq(d.alg(d.RSA), d.tlv(3, b""))),
    "signature padding bits": BASE.with_(signature=d.bitstring(b"\x03", 1)),
    "unique ids": BASE.with_(tail=d.tlv(0x81, b"\x00ab") + d.tlv(0x82, b"\x00cd")),
    "unique ids swapped": BASE.with_(tail=d.tlv(0x82, b"\x00ab") + d.tlv(0x81, b"\x00cd")),
    "unique id constructed": BASE.with_(tail=d.tlv(0xA1, b"\x03\x02\x00a")),
    "extensions": _exts(d.seq(BC, b"\x01\x01\xff", d.tlv(4, d.seq()))),
    "extensions empty": BASE.with_(tail=d.tlv(0xA3, d.seq())),
    "extension critical FALSE": _exts(d.seq(BC, b"\x01\x01\x00", d.tlv(4, b""))),
    "extension critical 01": _exts(d.seq(BC, b"\x01\x01\x01", d.tlv(4, b""))),
    "extension repeated": _exts(*[d.seq(BC, d.tlv(4, d.seq()))] * 2),
    "extension garbage value": _exts(d.seq(BC, d.tlv(4, b"\xff\xff"))),
    "extensions twice": BASE.with_(tail=d.tlv(0xA3, d.seq()) * 2),
    "field after extensions": BASE.with_(tail=d.tlv(0xA3, d.seq()) + d.NULL),
    "trailing byte": BASE.der() + b"\x00",
    "long-form length": _relength(BASE.der(), 4),
    "non-minimal length inside": d.seq(_relength(BASE.tbs(), 3), BASE.outer_alg, BASE.signature),
    "indefinite length": b"\x30\x80" + _body(BASE.der()) + b"\x00\x00",
    "indefinite length inside": d.seq(b"\x30\x80" + _body(BASE.tbs()) + b"\x00\x00", BASE.outer_alg, BASE.signature),
    "high tag number form": b"\x3f\x10" + BASE.der()[1:],
}


@pytest.mark.parametrize("case", list(EDGES))
def test_edge_case_reads_the_same(case):
    item = EDGES[case]
    der = item.der() if isinstance(item, d.Cert) else item
    _compare(der)


def test_the_edges_the_fast_path_must_take_it_takes():
    """Not a fallback in disguise: the usual forms are answered by the strict reader itself."""
    for case in ("base", "v1 (no version)", "serial negative", "serial huge", "printable", "BMP", "universal",
                 "IA5 ascii", "teletex ascii", "multi-valued sorted", "UTCTime 1950/2049", "GeneralizedTime 2049/2050",
                 "ECDSA sig", "EC P-256", "Ed25519 key", "DSA key", "extensions", "unique ids", "empty subject"):
        der = EDGES[case].der()
        assert x509_fast.certificate_fields(der) is not None, case
    spki = d.rsa_spki(n=d.RSA_N - (1 << 1024))
    fixed = jdk_key.apksig_encoded(spki)
    assert fixed is not None and fixed != spki and bytes.fromhex("0281810" + "0") in fixed  # 0x00-led 1024-bit n


def test_a_lenient_read_never_becomes_a_strict_identity():
    """The same subject once in DER and once with a BER long-form length: the fast path
    must not read the BER one, or a forged certificate could borrow a clean identity."""
    der = BASE.der()
    ber = EDGES["long-form length"]
    assert x509_fast.certificate_fields(der) is not None
    assert x509_fast.certificate_fields(ber) is None
    assert certificate_from_der(ber).parse_errors  # the fallback reads it, and says so
    assert certificate_from_der(ber).parse_errors == _old(ber)[0].parse_errors


# --- mutations ------------------------------------------------------------------------------------


def _mutation_seeds() -> list[bytes]:
    seeds = [BASE.der(), EDGES["EC P-256"].der(), EDGES["DSA key"].der(), EDGES["universal"].der(),
             EDGES["extensions"].der()]
    seeds += _pem_certificates(FIXTURES / "keys")[:2]
    return seeds


def test_truncation_at_every_offset_never_raises_nor_differs():
    for der in _mutation_seeds()[:2]:
        for n in range(len(der)):
            cut = der[:n]
            x509_fast.certificate_fields(cut)
            x509_fast.key_facts(cut)
            jdk_key.apksig_encoded(cut)
            _compare(cut)


def test_random_byte_flips_never_raise_nor_differ():
    rng = random.Random(11)
    for der in _mutation_seeds():
        for _ in range(150):
            data = bytearray(der)
            for _ in range(rng.choice((1, 1, 2, 3))):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
            x509_fast.certificate_fields(data)
            _compare(data)


def test_key_readers_on_mutated_keys_never_raise_nor_differ():
    """The key readers see the SubjectPublicKeyInfo alone (also from certificates the
    field reader declines): mutate keys directly and compare with asn1crypto's reading."""
    from apkscan.apk.crypto import certificates

    rng = random.Random(11)
    keys = [d.rsa_spki(), d.rsa_spki(n=d.RSA_N - (1 << 1024)), d.ec_spki(), EDGES["DSA key"].spki,
            EDGES["EC explicit curve"].spki, EDGES["Ed25519 key"].spki]
    for spki in keys:
        for _ in range(200):
            data = bytearray(spki)
            data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
            fast = x509_fast.key_facts(data)
            if fast is not None:
                assert fast == certificates._key_facts(data), data.hex()
            jdk_key.apksig_encoded(data)  # never raises


# --- keys loaded for verification -----------------------------------------------------------------


def _same_key_as_the_der_loader(spki: bytes) -> bool:
    """When the numbers API loads ``spki``, the DER loader loads the very same key (when it loads
    it at all: OpenJDK's rules, which the numbers path follows, take e.g. a zero-padded modulus)."""
    from cryptography.hazmat.primitives import serialization

    from apkscan.apk.crypto import signatures

    java = jdk_key.java_key(spki)
    fast = signatures._from_numbers(java) if java is not None else None
    if fast is None:
        return False
    try:
        slow = serialization.load_der_public_key(spki)
    except ValueError:
        return False
    assert type(fast) is type(slow) and fast.public_numbers() == slow.public_numbers(), spki.hex()
    assert signatures.load_public_key(spki).public_numbers() == slow.public_numbers()
    return True


def test_verification_keys_from_numbers_are_the_der_loaders_keys():
    ders = list(_certificates_seen_identifying(sorted(FIXTURES.rglob("*.apk"))).values())
    if CORPUS.is_dir():
        ders += list(_certificates_seen_identifying(sorted(CORPUS.rglob("*.apk"))).values())
    spkis = {spki_der(der) for der in ders} - {None}
    spkis |= {EDGES[c].spki for c in ("EC P-256", "RSA key negative modulus", "RSA key zero exponent",
                                      "RSA key without NULL", "EC implicit curve")}
    loaded = [spki for spki in sorted(spkis) if _same_key_as_the_der_loader(spki)]
    assert len(loaded) >= 10  # RSA and P-256/384/521 keys: the numbers path is really taken
    rng = random.Random(5)
    for spki in loaded[:6]:
        for _ in range(150):
            data = bytearray(spki)
            data[rng.randrange(len(data))] = rng.randrange(256)
            _same_key_as_the_der_loader(bytes(data))


def test_remembered_descriptions_are_equal_and_each_callers_own():
    import zipfile

    from apkscan.apk.crypto import certificates, pkcs7

    with zipfile.ZipFile(APKS / "v1-only.apk") as z:
        block = next(z.read(n) for n in z.namelist() if n.endswith(".RSA"))
    der = pkcs7.parse_signed_data(block).certificates[0]
    certificates._MEMO.clear()
    first, second = certificate_from_der(der), certificate_from_der(der)
    assert first == second == _describe(der) and first is not second
    first.subject_attrs.setdefault("CN", []).append("changed by a caller")
    first.parse_errors.append("changed by a caller")
    third = certificate_from_der(der)
    assert third == _describe(der) and "changed by a caller" not in third.parse_errors
    assert len(certificates._MEMO) == 1
