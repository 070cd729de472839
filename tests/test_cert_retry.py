"""Certificates as apksig's BER-to-DER retry reads them (review 31 F1-F5).

apksig parses every certificate with ``X509CertificateUtils.generateCertificate``: OpenJDK's
CertificateFactory, and when that refuses, again after re-encoding through its own asn1 classes
(``Certificate``, ``TBSCertificate``, ``Validity``, ``SubjectPublicKeyInfo``,
``AttributeTypeAndValue``...). Those read the fields they declare, in order, matching each by
tag class and number only, and ignore whatever follows; a constructed element's content bytes
are its value; OIDs come back minimal. A certificate the retry reads is not refused here (one
extra certificate in the unsigned v1 bag hid a vendor's signer), and one neither reads (a
multi-byte tag in a Name) is refused.

``JAVA``: apksig's ``generateCertificate`` on OpenJDK 17 for each certificate of
``tests/cert_retry_variants.py`` (accepted, and then ``getPublicKey().getEncoded()`` was the
canonical key in every case); ``NAMES``: ``new X500Principal(si).equals(cert.getIssuerX500Principal())``
(None: the SignerInfo issuer is refused). Recorded with review 31's oracle (java/Oracle.java);
its fuzz (``fuzz_certs.py``) found the shapes.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
import io
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import der_build as d  # noqa: E402
from cert_retry_variants import CN, PRINT, V, ava_raw  # noqa: E402
from v2_resign import SIGNER, cert_with_spki, fixture_certificate, fixture_spki, replace_nested, v2_with  # noqa: E402

from apkscan.apk.crypto import jdk_cert, jdk_key, pkcs7, x500  # noqa: E402
from apkscan.apk.crypto.certificates import apksig_public_key_der, certificate_from_der  # noqa: E402
from apkscan.apk.identify import identify  # noqa: E402
from apkscan.scan import incomplete  # noqa: E402

JAVA = {
    "base": True,
    "outer-4-elements": True, "outer-4-null": True, "outer-5-elements": True, "outer-4-truncated": True,
    "validity-3-times": True, "validity-3-null": True, "validity-3-truncated": True,
    "spki-3-elements": True, "spki-3-truncated": True, "spki-padded-oid": True,
    "version-2-integers": True, "version-constructed": True,
    "version-empty": False,  # NullPointerException
    "version-utf8": True, "version-context": True, "version-multibyte-tag": True,  # [0] EXPLICIT: inner tag unchecked
    "serial-utf8": False,
    "time-z-space": False, "time-offset": True, "time-offset-short": False,  # DerInputBuffer.getTime
    "issuer-ava-context-middle": False,  # the retry's value (ANY) is universal only
    "issuer-ava-context-value": True,  # no retry needed: OpenJDK takes any value
    "issuer-ava-context-value-padded-oid": False,  # the padded OID needs the retry, which refuses the value
    "alg-context-then-null": True,  # the optional parameters skip a non-universal element
    "alg-null-constructed": True,  # tag 0x25 is not NULL (0x05): kept as parameters
    "version-constructed-chunks": False, "version-over-int": False,  # content 02 00 02 01 02: not an int
    "serial-constructed": True, "serial-constructed-empty": True,
    "issuer-constructed-oid": True, "issuer-constructed-oid-2-oids": True,
    "issuer-constructed-oid-empty": False,  # CertificateException
    "issuer-ava-3-elements": True, "issuer-ava-null-middle": True, "issuer-ava-3-truncated": True,
    "issuer-ava-1-element": False,  # CertificateException
    "issuer-padded-oid": True,
    "spki-constructed-oid": True,  # an unknown key algorithm (the OID of bytes 06 09 2a ...): a generic key
    "algs-constructed-oid": True,
    "ec-padded-key-oid": True,  # getEncoded(): the key OID re-encoded minimally
    "ec-padded-curve-oid": False,  # CertificateException: the parameters (ANY) are kept as written
    "issuer-multibyte-tag-128": False, "issuer-multibyte-tag-31": False,  # CertificateException
    "issuer-multibyte-context-128": False, "subject-multibyte-tag-128": False,
}
PLAIN = d.seq(d.set_(ava_raw(d.oid(CN), PRINT)))
AS_OID = d.seq(d.set_(ava_raw(d.tlv(6, bytes.fromhex("0603550403")), PRINT)))  # OID 0.6.3.85.4.3
MULTIBYTE = d.seq(d.set_(ava_raw(d.oid(CN), b"\x1f\x81\x00\x01A")))
NAMES = {  # (certificate, SignerInfo issuer) -> X500Principal.equals
    ("issuer-constructed-oid", "plain"): False, ("issuer-constructed-oid", "as-oid"): True,
    ("issuer-ava-3-elements", "plain"): True, ("issuer-ava-3-elements", "as-oid"): False,
    ("issuer-ava-null-middle", "plain"): False, ("issuer-ava-3-truncated", "plain"): True,
    ("issuer-padded-oid", "plain"): True, ("issuer-padded-oid", "as-oid"): False,
    ("issuer-constructed-oid-2-oids", "plain"): False, ("base", "plain"): False,
    ("issuer-padded-oid", "multibyte"): None, ("base", "multibyte"): None,
}
SIGNER_INFO = {"plain": PLAIN, "as-oid": AS_OID, "multibyte": MULTIBYTE}


def test_the_table_covers_every_variant():
    assert set(JAVA) == set(V)


@pytest.mark.parametrize("name", list(V))
def test_accepted_as_apksig_accepts(name):
    assert (jdk_cert.refusal(V[name]) is None) is JAVA[name]


OTHER_KEY = {"ec-padded-key-oid", "spki-constructed-oid", "alg-null-constructed"}  # checked on their own below


@pytest.mark.parametrize("name", [n for n, ok in JAVA.items() if ok and n not in OTHER_KEY])
def test_the_key_is_what_getencoded_returns(name):
    """F4: getEncoded() after the retry is the canonical SPKI (a padded key OID re-encoded)."""
    assert jdk_key.java_key(jdk_cert.parse(V[name]).spki, in_certificate=True).encoded == d.rsa_spki()


def test_a_constructed_key_oid_is_its_content_bytes_reencoded():
    spki = jdk_cert.parse(V["spki-constructed-oid"]).spki
    assert jdk_key.java_key(spki, in_certificate=True).encoded == d.seq(d.seq(d.tlv(6, d.oid(d.RSA)), d.NULL), d.bitstring(
        d.seq(d.integer(d.RSA_N), d.integer(65537))))


def test_an_ec_key_with_a_padded_algorithm_oid_is_read_canonical():
    assert jdk_key.java_key(jdk_cert.parse(V["ec-padded-key-oid"]).spki, in_certificate=True).encoded == \
        d.seq(d.seq(d.oid(d.EC), d.oid(d.P256)), d.bitstring(b"\x04" + bytes(range(1, 65))))


@pytest.mark.parametrize("cert, si", list(NAMES))
def test_the_signer_issuer_names_the_certificate_as_x500principal(cert, si):
    """F3: the certificate's issuer as the retry leaves it; the SignerInfo's as written."""
    expected = NAMES[(cert, si)]
    issuer = SIGNER_INFO[si]
    assert pkcs7.Names().names(issuer, jdk_cert.parse(V[cert]).issuer) is bool(expected)
    if expected is None:
        assert x500.canonical(issuer) is None


def test_a_constructed_serial_is_its_content_bytes():
    """apksig reads the INTEGER's content as written: 22 03 02 01 07 is 0x020107."""
    assert jdk_cert.parse(V["serial-constructed"]).serial == 0x020107
    assert jdk_cert.parse(V["serial-constructed-empty"]).serial == 0


# --- APKs -----------------------------------------------------------------------------------------

V1_ONLY = Path(__file__).resolve().parent.parent / "fixtures" / "apks" / "v1-only.apk"


def _v1_with_bag(certificates: list[bytes]) -> bytes:
    """v1-only.apk with its bag's certificate replaced by ``certificates`` (the bag is unsigned)."""
    out = io.BytesIO()
    with zipfile.ZipFile(V1_ONLY) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".RSA"):
                data = replace_nested(data, fixture_certificate(), b"".join(certificates))
            zout.writestr(info, data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


from v2_resign import apksigner_agrees as _agrees, scheme_signers, write as _write  # noqa: E402


def _v1(path: Path):
    return scheme_signers(path, "v1")


EXTRA = ["outer-4-elements", "validity-3-times", "spki-3-elements", "version-2-integers", "serial-constructed",
         "issuer-constructed-oid", "issuer-ava-3-truncated", "outer-4-truncated"]


@pytest.mark.parametrize("shape", EXTRA)
def test_an_extra_bag_certificate_the_retry_reads_keeps_the_signer(tmp_path, shape):
    """F1: anyone can append it to a vendor's v1 bag; apksigner still verifies the vendor."""
    path = _write(tmp_path, f"{shape}.apk", _v1_with_bag([fixture_certificate(), V[shape]]))
    ident, verified, signers = _v1(path)
    assert verified and signers == [SIGNER] and ident.verified
    _agrees(path, True)


@pytest.mark.parametrize("shape", ["issuer-multibyte-tag-128", "issuer-multibyte-tag-31", "subject-multibyte-tag-128"])
def test_an_extra_bag_certificate_with_a_multibyte_tag_fails_the_block(tmp_path, shape):
    """F2: OpenJDK's DerValue has no multi-byte tags: apksigner refuses the block, so no key is confirmed."""
    path = _write(tmp_path, f"{shape}.apk", _v1_with_bag([fixture_certificate(), V[shape]]))
    ident, verified, signers = _v1(path)
    assert not verified and signers == []
    codes = {i.code for s in ident.verification.schemes["v1"].signers for i in s.errors}
    assert "JAR_SIG_PARSE_EXCEPTION" in codes
    _agrees(path, False)


IOC = {"type": "bundle", "id": "bundle--1", "objects": [
    {"type": "malware", "id": "malware--1", "name": "Banned App"},
    {"type": "indicator", "id": "indicator--1", "pattern": f"[app:cert.sha256 = '{SIGNER}']"},
    {"type": "relationship", "id": "r1", "relationship_type": "indicates", "source_ref": "indicator--1",
     "target_ref": "malware--1"}]}


def _scan(tmp_path: Path, *paths: Path) -> dict:
    from cli_helpers import run

    iocs = tmp_path / "banned.stix2"
    iocs.write_text(json.dumps(IOC))
    done = run("scan", *paths, "--iocs", iocs, "--policy", "vendor-watch", "--json", "-", "--fail-on", "never",
               "-q", "--no-store")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_banned_signer_is_confirmed_behind_an_extra_certificate_and_the_batch_goes_on(tmp_path):
    """F1/F2 end to end: the vendor's key stays confirmed behind a retry-read extra certificate;
    behind a multi-byte-tag one apksigner refuses the block, so no confirmed key (and the next
    file is still scanned)."""
    ok = _write(tmp_path, "extra.apk", _v1_with_bag([fixture_certificate(), V["outer-4-elements"]]))
    refused = _write(tmp_path, "multibyte.apk", _v1_with_bag([fixture_certificate(), V["issuer-multibyte-tag-128"]]))
    apps = {a["sha256"]: a for a in _scan(tmp_path, ok, refused)["apps"]}
    extra = apps[hashlib.sha256(ok.read_bytes()).hexdigest()]
    multibyte = apps[hashlib.sha256(refused.read_bytes()).hexdigest()]
    assert extra["verified"] is True and extra["verdict"] == "review"
    assert [(f["rule"], f["strength"]) for f in extra["findings"]] == [("ioc.banned.banned-app", "confirmed")]
    assert multibyte["verified"] is False
    assert all(f["strength"] != "confirmed" for f in multibyte["findings"])


def _signer_issuer_rewritten(old: bytes, new: bytes) -> bytes:
    """test-rsa's certificate with ``old`` inside its issuer Name replaced by ``new``."""
    cert = fixture_certificate()
    issuer = jdk_cert.parse(cert).issuer
    return replace_nested(cert, issuer, replace_nested(issuer, old, new))


@pytest.mark.parametrize("old, new", [
    (d.oid(CN), d.tlv(6, b"\x55\x80\x04\x03")),  # the CN OID 0x80-padded
    (d.oid(CN), d.oid(CN)),  # control: unchanged
])
def test_the_signers_own_bag_certificate_reencoded_still_names_the_signer(tmp_path, old, new):
    """F3: the bag is unsigned; the SignerInfo (issuer as issued) still names the re-encoded
    certificate, as X500Principal.equals says after apksig's retry."""
    cert = _signer_issuer_rewritten(old, new)
    path = _write(tmp_path, "reissued.apk", _v1_with_bag([cert]))
    ident, verified, signers = _v1(path)
    assert verified and signers == [hashlib.sha256(cert).hexdigest()] and ident.verified
    _agrees(path, True)


def test_the_signers_bag_certificate_with_three_element_avas_names_the_signer(tmp_path):
    """F3: each AVA of the issuer given a 3rd element (NULL), which the retry drops."""
    cert = fixture_certificate()
    issuer = jdk_cert.parse(cert).issuer
    top = pkcs7.read_tlv(issuer, 0, len(issuer))
    rebuilt = []
    for rdn in pkcs7.children(issuer, top):
        avas = [d.tlv(0x30, issuer[a.content_start:a.content_end] + d.NULL) for a in pkcs7.children(issuer, rdn)]
        rebuilt.append(d.set_(*avas))
    new_issuer = d.seq(*rebuilt)
    cert = replace_nested(cert, issuer, new_issuer)
    path = _write(tmp_path, "ava3.apk", _v1_with_bag([cert]))
    ident, verified, signers = _v1(path)
    assert verified and signers == [hashlib.sha256(cert).hexdigest()]
    _agrees(path, True)


def _padded_oid_spki() -> bytes:
    spki = fixture_spki()
    rsa = d.oid(d.RSA)
    return replace_nested(spki, rsa, d.tlv(6, b"\x80" + rsa[2:]))


def test_a_padded_key_oid_in_the_certificate_matches_the_canonical_record(tmp_path):
    """F4: apksig's retry re-encodes the key's OID minimally, so getEncoded() is the record."""
    cert = cert_with_spki(fixture_certificate(), _padded_oid_spki())
    assert apksig_public_key_der(cert) == fixture_spki()
    assert certificate_from_der(cert).public_key_sha256 == hashlib.sha256(fixture_spki()).hexdigest()
    path = _write(tmp_path, "padded-key-oid.apk", v2_with([cert], public_key=fixture_spki()))
    ident = identify(str(path), idsig=False)
    v2 = ident.verification.schemes["v2"]
    assert v2.verified and [s.certificate.sha256 for s in v2.signers] == [hashlib.sha256(cert).hexdigest()]
    _agrees(path, True)


def test_a_padded_key_oid_in_the_record_too_is_refused(tmp_path):
    """A key record gets no retry: KeyFactory refuses the padded OID (all three tools agree)."""
    cert = cert_with_spki(fixture_certificate(), _padded_oid_spki())
    path = _write(tmp_path, "padded-both.apk", v2_with([cert], public_key=_padded_oid_spki()))
    assert not identify(str(path), idsig=False).verification.schemes["v2"].verified
    _agrees(path, False)


def _many(count: int) -> list[bytes]:
    return [fixture_certificate()] + [V["base"]] * count


def test_a_v1_bag_past_the_certificate_cap_is_an_input_limit(tmp_path):
    """F5: the bag is unsigned, anyone can fill it; past our cap (apksig has none) an input
    error with the signatures not read, never a plain "does not verify" (verdict "allowed")."""
    path = _write(tmp_path, "bag-1001.apk", _v1_with_bag(_many(pkcs7.MAX_CERTIFICATES)))
    ident, verified, _ = _v1(path)
    code = "INPUT_TOO_MANY_CERTIFICATES"
    assert not verified
    assert code in {e.code for e in ident.errors} and code in {e.code for e in incomplete(ident)}
    assert not ident.completeness.has("signatures") and ident.completeness.why["signatures"] == code
    _agrees(path, True)


def test_a_v1_bag_at_the_cap_verifies(tmp_path):
    path = _write(tmp_path, "bag-1000.apk", _v1_with_bag(_many(pkcs7.MAX_CERTIFICATES - 1)))
    _ident, verified, signers = _v1(path)
    assert verified and signers == [SIGNER]


def test_scan_exits_3_past_the_v1_certificate_cap(tmp_path):
    from cli_helpers import run

    path = _write(tmp_path, "bag-1001.apk", _v1_with_bag(_many(pkcs7.MAX_CERTIFICATES)))
    done = run("inspect", path)
    assert done.returncode == 3, done.stderr
    assert "signatures: not read (INPUT_TOO_MANY_CERTIFICATES)" in done.stdout


# --- cost (F6): the one-pass AVA count agrees with the general reading on every byte string ---

def _names() -> list[bytes]:
    plain = d.name(d.atv(d.C, "US", 0x13), [d.atv(d.O, "Example"), d.atv(CN, "Example CA")])
    padded = d.seq(d.set_(ava_raw(d.tlv(6, b"\x80\x55\x04\x03"), PRINT), ava_raw(d.tlv(6, b"\x55\x80\x04\x03"), PRINT)))
    odd = d.seq(d.set_(ava_raw(d.tlv(0x26, d.oid(CN)), PRINT, d.NULL)), d.set_(ava_raw(d.oid(CN), b"\x1f\x1f\x01A")))
    out = []
    indefinite = b"\x30\x80" + b"\x31\x80" + plain[4:][:11] + b"\x00\x00" + plain[15:] + b"\x00\x00"
    for name in (plain, padded, odd, indefinite, jdk_cert.parse(fixture_certificate()).issuer):
        out.append(name)
        for i in range(len(name)):
            out.append(name[:i])
            for flip in (0x80, 0x20, 0x01, 0x1f):
                out.append(name[:i] + bytes([name[i] ^ flip]) + name[i + 1:])
    return out


@pytest.mark.parametrize("in_certificate", [True, False])
def test_the_fast_ava_count_is_the_general_reading(in_certificate):
    for name in _names():
        canon = x500.canonical(name, in_certificate=in_certificate)
        assert x500.ava_count(name, in_certificate=in_certificate) == (None if canon is None else sum(canon[0])), name.hex()
