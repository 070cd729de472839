"""certificates.py against real certificates: corpus signers (apksigner ground truth) and
the Tencent/ByteDance certificates in the shared vendor reference."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apkscan.apk.crypto.certificates import (
    MAX_PARSE_SIZE,
    apksig_public_key_der,
    certificate_from_der,
    spki_der,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
VENDORS = SHARED / "reference" / "vendor-identities.json"


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not available")


def _records(folder: str):
    with open(CORPUS / folder / "ground_truth.jsonl", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _signers(rec: dict) -> list[dict]:
    out = list(rec.get("signers") or [])
    for alt in ("apksigner_min_sdk_24", "apksigner_min_sdk_28", "apksigner_bouncycastle"):
        if rec.get(alt):
            out += rec[alt].get("signers") or []
    return out


def _v1_certs(path: Path) -> dict[str, bytes]:
    """Certificates inside META-INF/*.RSA|DSA|EC PKCS#7 blocks, by SHA-256."""
    from asn1crypto import cms

    out: dict[str, bytes] = {}
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return out
    with zf:
        for name in zf.namelist():
            upper = name.upper()
            if not upper.startswith("META-INF/") or upper.rsplit(".", 1)[-1] not in ("RSA", "DSA", "EC"):
                continue
            try:
                info = cms.ContentInfo.load(zf.read(name))
                for choice in info["content"]["certificates"]:
                    der = choice.chosen.dump()
                    out[hashlib.sha256(der).hexdigest()] = der
            except Exception:  # noqa: BLE001 - a broken block is just not a source of certs
                continue
    return out


def _apk(path: Path):
    from loguru import logger

    logger.disable("androguard")
    from androguard.core.apk import APK

    try:
        return APK(str(path))
    except Exception:  # noqa: BLE001 - deliberately broken corpus files
        return None


def _block_certs(path: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    apk = _apk(path)
    if apk is None:
        return out
    for getter in (apk.get_certificates_der_v2, apk.get_certificates_der_v3):
        try:
            for der in getter():
                out[hashlib.sha256(der).hexdigest()] = der
        except Exception:  # noqa: BLE001
            continue
    return out


@pytest.fixture(scope="module")
def corpus_signers() -> list[tuple[str, dict, bytes]]:
    """(file, ground-truth signer, certificate DER) for every signer apksigner printed."""
    _need(CORPUS)
    out = []
    for folder in ("apksig", "androguard"):
        for rec in _records(folder):
            signers = _signers(rec)
            if not signers:
                continue
            path = CORPUS / folder / rec["file"]
            certs = _v1_certs(path)
            if any(s["cert_sha256"] not in certs for s in signers):
                certs.update(_block_certs(path))
            for s in signers:
                assert s["cert_sha256"] in certs, f"{rec['file']}: cert {s['cert_sha256']} not found"
                out.append((rec["file"], s, certs[s["cert_sha256"]]))
    return out


def _java_dn_to_rfc4514(dn: str) -> str:
    """apksigner prints X500Principal.toString(): ', ' separators, EMAILADDRESS=."""
    assert "\\" not in dn and '"' not in dn  # true for this corpus; keeps the mapping trivial
    return dn.replace(", ", ",").replace("EMAILADDRESS=", "E=")


def test_corpus_signers_match_apksigner(corpus_signers):
    assert len(corpus_signers) > 250
    for file, gt, der in corpus_signers:
        cert = certificate_from_der(der)
        assert cert.sha256 == gt["cert_sha256"], file
        assert cert.sha1 == gt["cert_sha1"], file
        assert cert.md5 == gt["cert_md5"], file
        assert cert.subject == _java_dn_to_rfc4514(gt["subject_dn"]), file
        if "key_algorithm" in gt:
            assert cert.key_algorithm == gt["key_algorithm"], file
            assert cert.key_size == gt["key_size"], file
            assert cert.public_key_sha256 == gt["public_key_sha256"], file
        assert cert.der == der


def test_attr_dict_and_debug_flag(corpus_signers):
    seen_debug = set()
    for file, gt, der in corpus_signers:
        cert = certificate_from_der(der)
        pairs = [p.split("=", 1) for p in _java_dn_to_rfc4514(gt["subject_dn"]).split(",")]
        for attr, value in pairs:
            assert value in cert.subject_attrs[attr], file
        is_debug = sorted(gt["subject_dn"].split(", ")) == ["C=US", "CN=Android Debug", "O=Android"]
        assert cert.is_android_debug == is_debug, file
        if is_debug:
            seen_debug.add(gt["subject_dn"])
    # both attribute orders occur in the corpus
    assert seen_debug == {"C=US, O=Android, CN=Android Debug", "CN=Android Debug, O=Android, C=US"}


def test_weaknesses_and_key_facts(corpus_signers):
    by_subject = {}
    for _, gt, der in corpus_signers:
        by_subject.setdefault(gt["subject_dn"], certificate_from_der(der))
    assert "rsa-1024" in by_subject["CN=rsa-1024"].weaknesses
    assert not any(w.startswith("rsa-") for w in by_subject["CN=rsa-2048"].weaknesses)
    assert "dsa" in by_subject["CN=dsa-2048"].weaknesses
    ec = by_subject["CN=ec-p256"]
    assert (ec.key_algorithm, ec.key_size, ec.ec_curve) == ("EC", 256, "secp256r1")
    assert by_subject["CN=ec-p521"].key_size == 521
    assert by_subject["CN=rsa-16384"].key_size == 16384
    for cert in by_subject.values():
        assert cert.self_signed == (cert.subject == cert.issuer)


def test_non_der_and_negative_modulus_certs(corpus_signers):
    files = {f: der for f, _, der in corpus_signers}
    for name in ("v1-only-with-rsa-1024-cert-not-der.apk",
                 "v2-only-with-rsa-pkcs1-sha256-1024-cert-not-der.apk"):
        cert = certificate_from_der(files[name])
        assert cert.parse_errors, name  # strict parser refused, lenient one read it
        assert cert.subject == "CN=rsa-1024" and cert.key_size == 1024 and cert.serial
        assert cert.not_before and cert.signature_algorithm
    neg = certificate_from_der(files["v1v2v3-rsa-2048-negmod-in-cert.apk"])
    assert (neg.key_algorithm, neg.key_size, neg.subject) == ("RSA", 2048, "CN=rsa-2048")


def test_apksig_public_key_matches_signer_records():
    """v2/v3 signer public-key records equal what apksig derives from the certificate."""
    _need(CORPUS)
    checked = 0
    for rec in _records("apksig"):
        schemes = rec["schemes"]
        if not rec["verified"] or not (schemes.get("v2") or schemes.get("v3")):
            continue
        apk = _apk(CORPUS / "apksig" / rec["file"])
        if schemes.get("v3"):
            keys, certs = apk.get_public_keys_der_v3(), apk.get_certificates_der_v3()
        else:
            keys, certs = apk.get_public_keys_der_v2(), apk.get_certificates_der_v2()
        for der in certs:
            assert apksig_public_key_der(der) in keys, rec["file"]
            checked += 1
        if rec["file"] == "v1v2v3-rsa-2048-negmod-in-cert.apk":
            assert spki_der(certs[0]) not in keys  # raw bytes differ; apksig fixes the sign
    assert checked >= 40


def test_spki_der_is_the_encoded_key():
    _need(VENDORS)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    for entry in json.loads(VENDORS.read_text())["certificates"].values():
        if not entry.get("der_hex"):
            continue
        der = bytes.fromhex(entry["der_hex"])
        expected = x509.load_der_x509_certificate(der).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert spki_der(der) == expected
        assert apksig_public_key_der(der) == expected


def test_vendor_certificates():
    _need(VENDORS)
    certs = json.loads(VENDORS.read_text(encoding="utf-8"))["certificates"]
    with_der = {k: v for k, v in certs.items() if v.get("der_hex")}
    assert {"TENCENT_WECHAT", "TENCENT_QQ"} <= set(with_der)
    for key, entry in with_der.items():
        der = bytes.fromhex(entry["der_hex"])
        assert len(der) == entry["der_len"]
        cert = certificate_from_der(der)
        assert (cert.sha256, cert.sha1, cert.md5) == (entry["sha256"], entry["sha1"], entry["md5"]), key
        assert cert.subject == entry["subject_dn"], key
        assert cert.issuer == entry["issuer_dn"], key
        assert cert.serial == entry["serial"].lower().lstrip("0"), key
        algo, size = entry["key"].split()
        assert (cert.key_algorithm, cert.key_size) == (algo, int(size)), key
        assert cert.signature_algorithm == entry["sig_alg"], key
        assert cert.self_signed and not cert.parse_errors and not cert.is_android_debug
    qq = certificate_from_der(bytes.fromhex(with_der["TENCENT_QQ"]["der_hex"]))
    assert qq.subject_attrs == {"C": ["China"], "ST": ["北京"], "L": ["北京"], "O": ["腾讯"],
                                "OU": ["无线业务系统"], "CN": ["QQ"]}
    assert qq.not_before == "2010-04-06T09:48:17Z" and qq.not_after == "2284-01-20T09:48:17Z"
    wechat = certificate_from_der(bytes.fromhex(with_der["TENCENT_WECHAT"]["der_hex"]))
    assert wechat.weaknesses == ["rsa-1024", "sha1-signature"]
    assert wechat.not_before == "2011-01-19T14:39:32Z"


def test_garbage_never_raises():
    real = None
    if VENDORS.exists():
        entry = json.loads(VENDORS.read_text())["certificates"]["TENCENT_WECHAT"]
        real = bytes.fromhex(entry["der_hex"])
    samples = [b"", b"\x30", b"\x30\x80", b"\x30\x84\xff\xff\xff\xff", b"\x00" * 50, os.urandom(2000)]
    if real:
        samples += [real[:n] for n in range(0, len(real), 7)]
        samples += [real[:n] + b"\xff" + real[n + 1:] for n in range(0, len(real), 5)]
    for data in samples:
        cert = certificate_from_der(data)
        assert cert.sha256 == hashlib.sha256(data).hexdigest()
        spki_der(data)
        apksig_public_key_der(data)
    empty = certificate_from_der(b"")
    assert empty.parse_errors and empty.subject == "" and empty.key_algorithm is None


def test_oversized_is_hashed_not_parsed():
    big = b"\x30\x83" + (MAX_PARSE_SIZE + 10).to_bytes(3, "big") + b"\x00" * (MAX_PARSE_SIZE + 10)
    cert = certificate_from_der(big)
    assert cert.sha256 == hashlib.sha256(big).hexdigest() and cert.parse_errors


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data):
    cert = certificate_from_der(data)
    assert cert.md5 == hashlib.md5(data).hexdigest()
    spki_der(data)
    apksig_public_key_der(data)
