"""Rewrite the v2 signer of ``fixtures/apks/v2-only.apk`` (signed by test-rsa) and re-sign it.

The certificate list and public-key record are signed-data the signer controls, so only the
signer (the vendor) can build these files: the tests use them for "the vendor as adversary".
The signed data is re-signed with the fixture key (RSA PKCS#1 v1.5 SHA-256, algorithm 0x0103)
and the APK Signing Block rebuilt; the content digests stay valid (the block is not covered).
"""

from __future__ import annotations

import struct
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

ROOT = Path(__file__).resolve().parent.parent
V2_ONLY = ROOT / "fixtures" / "apks" / "v2-only.apk"
KEY = ROOT / "fixtures" / "keys" / "test-rsa.pk8"
CERT = ROOT / "fixtures" / "keys" / "test-rsa.pem"
SIGNER = "3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81"
V2 = 0x7109871A


def lp(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b


def split_lp(b: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(b):
        n = struct.unpack_from("<I", b, pos)[0]
        out.append(b[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def fixture_certificate(key_name: str = "test-rsa") -> bytes:
    from cryptography import x509
    pem = (CERT.parent / f"{key_name}.pem").read_bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def fixture_spki(key_name: str = "test-rsa") -> bytes:
    key = serialization.load_der_private_key((KEY.parent / f"{key_name}.pk8").read_bytes(), None)
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _block(data: bytes) -> tuple[int, int, int, list[list]]:
    eocd = data.rfind(b"PK\x05\x06")
    cdo = struct.unpack_from("<I", data, eocd + 16)[0]
    size = struct.unpack_from("<Q", data, cdo - 24)[0]
    start = cdo - size - 8
    pairs, pos = [], start + 8
    while pos < cdo - 24:
        ln, pid = struct.unpack_from("<QI", data, pos)
        pairs.append([pid, data[pos + 12:pos + 8 + ln]])
        pos += 8 + ln
    return eocd, cdo, start, pairs


def _with_block(data: bytes, eocd: int, cdo: int, start: int, pairs: list[list]) -> bytes:
    """``data`` with its APK Signing Block rebuilt from ``pairs`` and the EOCD's CD offset moved."""
    body = b"".join(struct.pack("<QI", len(v) + 4, pid) + v for pid, v in pairs)
    blk = struct.pack("<Q", len(body) + 24) + body + struct.pack("<Q", len(body) + 24) + b"APK Sig Block 42"
    out = bytearray(data[:start] + blk + data[cdo:])
    delta = len(blk) - (cdo - start)
    struct.pack_into("<I", out, eocd + delta + 16, cdo + delta)
    return bytes(out)


def v2_with(certs: list[bytes], public_key: bytes | None = None, key_name: str = "test-rsa") -> bytes:
    """v2-only.apk whose one signer lists ``certs`` and the key record ``public_key``, its
    signed data signed by fixtures/keys/<key_name> (RSA: 0x0103, EC: ECDSA-SHA256 0x0201)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    data = V2_ONLY.read_bytes()
    eocd, cdo, start, pairs = _block(data)
    key = serialization.load_der_private_key((KEY.parent / f"{key_name}.pk8").read_bytes(), None)
    is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
    for pair in pairs:
        if pair[0] != V2:
            continue
        signer = split_lp(split_lp(pair[1])[0])[0]
        digests, _certs, *rest = split_lp(split_lp(signer)[0])
        record = public_key if public_key is not None else fixture_spki()
        alg = 0x0201 if is_ec else 0x0103  # both digest the content with chunked SHA-256
        digests = b"".join(lp(struct.pack("<I", alg) + r[4:]) for r in split_lp(digests))
        signed = lp(digests) + lp(b"".join(lp(c) for c in certs)) + b"".join(lp(r) for r in rest)
        sig = key.sign(signed, ec.ECDSA(hashes.SHA256())) if is_ec else key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        pair[1] = lp(lp(lp(signed) + lp(lp(struct.pack("<I", alg) + lp(sig))) + lp(record)))
    return _with_block(data, eocd, cdo, start, pairs)


def v2_with_unknown_algorithms(count: int) -> bytes:
    """v2-only.apk whose signer lists ``count`` digest and signature records of an algorithm
    nobody knows (0x9999) before its real ones, signed data re-signed with test-rsa: only the
    signer (the vendor) can build it; apksig skips unknown algorithms (a warning) and verifies."""
    data = V2_ONLY.read_bytes()
    eocd, cdo, start, pairs = _block(data)
    key = serialization.load_der_private_key(KEY.read_bytes(), None)
    for pair in pairs:
        if pair[0] != V2:
            continue
        signed, signatures, record = split_lp(split_lp(split_lp(pair[1])[0])[0])
        digests, *rest = split_lp(signed)
        junk = lp(struct.pack("<I", 0x9999) + lp(b"\0" * 8)) * count
        signed = lp(junk + digests) + b"".join(lp(r) for r in rest)
        sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        pair[1] = lp(lp(lp(signed) + lp(junk + lp(struct.pack("<I", 0x0103) + lp(sig))) + lp(record)))
    return _with_block(data, eocd, cdo, start, pairs)


def _der(tag: bytes, body: bytes) -> bytes:
    n = len(body)
    head = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return tag + head + body


def replace_nested(buf: bytes, old: bytes, new: bytes) -> bytes:
    """``buf`` (DER) with the element ``old`` replaced by ``new``, every enclosing length redone."""
    from apkscan.apk.crypto.asn1 import children, read_tlv

    at = buf.index(old)

    def walk(el) -> bytes:
        if el.start == at and el.end == at + len(old):
            return new
        if not (el.start <= at < el.end) or not el.constructed:
            return bytes(buf[el.start:el.end])
        tag = bytes(buf[el.start:el.start + 1])
        return _der(tag, b"".join(walk(c) for c in children(buf, el)))

    return walk(read_tlv(buf, 0, len(buf)))


def cert_with_spki(cert: bytes, spki: bytes) -> bytes:
    """``cert`` with its SubjectPublicKeyInfo replaced (its own signature is not checked by anyone)."""
    from apkscan.apk.crypto.certificates import spki_der

    return replace_nested(cert, spki_der(cert), spki)


def v1_with_bag_certificate(certificate: bytes) -> bytes:
    """fixtures/apks/v1-only.apk with its bag's one certificate replaced (the bag is not signed)."""
    import io
    import zipfile

    src = ROOT / "fixtures" / "apks" / "v1-only.apk"
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".RSA"):
                data = replace_nested(data, fixture_certificate(), certificate)
            zout.writestr(info, data)
    return out.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def scheme_signers(path: Path, scheme: str):
    """(identity, whether ``scheme`` verified, the SHA-256 of its verified signers)."""
    from apkscan.apk.identify import identify

    ident = identify(str(path), idsig=False)
    result = ident.verification.schemes[scheme]
    return ident, result.verified, [s.certificate.sha256 for s in result.signers if s.verified and s.certificate]


def apksigner_agrees(path: Path, verified: bool) -> None:
    """When apksigner is installed, it gives the same verdict."""
    from apksigner_helper import apksigner_available, apksigner_verify

    if apksigner_available():
        assert apksigner_verify(path)["verified"] is verified


V3 = 0xF05368C0
V3_ONLY = ROOT / "fixtures" / "apks" / "v3-only.apk"


def v3_with_signers(count: int, first_sdk: int = 28) -> bytes:
    """v3-only.apk whose v3 block holds ``count`` copies of its signer, each for one SDK level
    from ``first_sdk`` on and the last for every later level, each signed data re-signed with
    test-rsa: a valid block with many signers (apksig has no cap on v3 signers)."""
    data = V3_ONLY.read_bytes()
    eocd, cdo, start, pairs = _block(data)
    key = serialization.load_der_private_key(KEY.read_bytes(), None)
    for pair in pairs:
        if pair[0] != V3:
            continue
        signed, _min, _max, signatures, record = _v3_signer(split_lp(split_lp(pair[1])[0])[0])
        digests, certs, _smin, _smax, attrs = _v3_signed(signed)
        signers = []
        for i in range(count):
            lo, hi = first_sdk + i, (first_sdk + i if i < count - 1 else 0x7FFFFFFF)
            body = lp(digests) + lp(certs) + struct.pack("<II", lo, hi) + lp(attrs)
            sig = key.sign(body, padding.PKCS1v15(), hashes.SHA256())
            signers.append(lp(lp(body) + struct.pack("<II", lo, hi) + lp(lp(struct.pack("<I", 0x0103) + lp(sig)))
                              + lp(record)))
        pair[1] = lp(b"".join(signers))
    return _with_block(data, eocd, cdo, start, pairs)


def _v3_signer(b: bytes) -> tuple[bytes, int, int, bytes, bytes]:
    (n,), signed = struct.unpack_from("<I", b, 0), None
    signed = b[4:4 + n]
    lo, hi = struct.unpack_from("<II", b, 4 + n)
    signatures, record = split_lp(b[12 + n:])
    return signed, lo, hi, signatures, record


def _v3_signed(b: bytes) -> tuple[bytes, bytes, int, int, bytes]:
    (n,) = struct.unpack_from("<I", b, 0)
    digests, pos = b[4:4 + n], 4 + n
    (m,) = struct.unpack_from("<I", b, pos)
    certs, pos = b[pos + 4:pos + 4 + m], pos + 4 + m
    lo, hi = struct.unpack_from("<II", b, pos)
    (k,) = struct.unpack_from("<I", b, pos + 8)
    return digests, certs, lo, hi, b[pos + 12:pos + 12 + k]


V31 = 0x1B93AD61
ROTATION_MIN_SDK_ATTR = 0x559F8B02
ROTATED = ROOT / "fixtures" / "apks" / "rotated-lineage.apk"


def _v3_signer_bytes(digests: bytes, cert: bytes, lo: int, hi: int, attrs: list[bytes], key_name: str) -> bytes:
    key = serialization.load_der_private_key((KEY.parent / f"{key_name}.pk8").read_bytes(), None)
    body = lp(digests) + lp(lp(cert)) + struct.pack("<II", lo, hi) + lp(b"".join(lp(a) for a in attrs))
    sig = key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    return lp(body) + struct.pack("<II", lo, hi) + lp(lp(struct.pack("<I", 0x0103) + lp(sig))) + lp(fixture_spki(key_name))


def v3_with_keys(keys: list[tuple[str, int]]) -> bytes:
    """v3-only.apk (no v1/v2) whose v3 block holds one signer per (fixture key, last SDK level),
    in order, without a lineage: the first from the original signer's minimum SDK, each next one
    from the level after the previous one's last (the last key's ``0x7FFFFFFF``: every later one).
    ``[("kaspersky-like", 28), ("test-rsa", 0x7FFFFFFF)]``: Android 9 installs the app under the
    first key, later versions under the second (the one apksigner prints)."""
    data = V3_ONLY.read_bytes()
    eocd, cdo, start, pairs = _block(data)
    v3 = next(p for p in pairs if p[0] == V3)
    signed, lo, _hi, _sigs, _rec = _v3_signer(split_lp(split_lp(v3[1])[0])[0])
    digests = _v3_signed(signed)[0]
    signers = []
    for key_name, hi in keys:
        signers.append(lp(_v3_signer_bytes(digests, fixture_certificate(key_name), lo, hi, [], key_name)))
        lo = hi + 1
    v3[1] = lp(b"".join(signers))
    return _with_block(data, eocd, cdo, start, pairs)


def v3_attributes(data: bytes) -> list[bytes]:
    """The additional attributes (id + value each) of an APK's first v3 signer: its lineage, as
    apksigner wrote it (``rotated-lineage.apk``'s: old -> new)."""
    _eocd, _cdo, _start, pairs = _block(data)
    v3 = next(p for p in pairs if p[0] == V3)
    return split_lp(_v3_signed(_v3_signer(split_lp(split_lp(v3[1])[0])[0])[0])[4])


def v31_rotation(bad_v31_digest: bool = False, rotation_sdk: int = 33, v3_key: str = "test-rsa-old",
                 v3_attrs: list[bytes] = ()) -> bytes:
    """rotated-lineage.apk (v1/v2 test-rsa-old, v3 test-rsa-new with lineage old -> new) made a
    v3.1 rotation as apksigner's ``--rotation-min-sdk-version`` lays it out: the v3 signer is the
    old key up to ``rotation_sdk`` - 1 with the rotation-min-sdk-version attribute, a v3.1 block's
    signer the new key (with the lineage) from ``rotation_sdk`` on. Content untouched (the block
    is not covered). ``bad_v31_digest``: the v3.1 signer's content digest altered and its signed
    data re-signed: only the new key's holder can build it (review 57 F1). ``v3_key``: another
    fixture key as the v3 signer (not in the lineage: apksig links only the v1/v2 signer to it);
    ``v3_attrs``: more attributes of the v3 signer, e.g. a lineage of its own (:func:`v3_attributes`)."""
    data = ROTATED.read_bytes()
    eocd, cdo, start, pairs = _block(data)
    v3 = next(p for p in pairs if p[0] == V3)
    signed, lo, _hi, _sigs, _rec = _v3_signer(split_lp(split_lp(v3[1])[0])[0])
    digests, _certs, _lo, _hi, attrs = _v3_signed(signed)
    v31_digests = digests
    if bad_v31_digest:
        (record,) = split_lp(digests)
        v31_digests = lp(record[:-1] + bytes([record[-1] ^ 1]))
    rotation = struct.pack("<II", ROTATION_MIN_SDK_ATTR, rotation_sdk)
    v3[1] = lp(lp(_v3_signer_bytes(digests, fixture_certificate(v3_key), lo, rotation_sdk - 1,
                                   [rotation, *v3_attrs], v3_key)))
    new = lp(lp(_v3_signer_bytes(v31_digests, fixture_certificate("test-rsa-new"), rotation_sdk, 0x7FFFFFFF,
                                 split_lp(attrs), "test-rsa-new")))
    pairs.insert(pairs.index(v3) + 1, [V31, new])
    return _with_block(data, eocd, cdo, start, pairs)
