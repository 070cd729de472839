"""APKs whose ZIP64 end records name another central directory than the classic EOCD (review 59 F1).

* :func:`two_directories`: one file, two apps. The classic EOCD says 0xFFFF entries and names
  CD_A: app A's records (``wechat-impostor.apk``'s entries, its v1 signature kept, v2 and v3
  signed here over this layout with the same key, ``impostor``) plus directory records up to 65,535 in all (apksig skips them; they need no
  local header). A's APK Signing Block sits right before CD_A, as apksig finds it. The last
  record's comment ends with a ZIP64 locator pointing at a ZIP64 end record in the content,
  which names CD_B: app B (``v1-only.apk``'s entries, v1-signed by test-rsa). Only A's publisher
  (the key that signs the layout) can build it.
* :func:`zip64_only`: review 59's "simple variant": ``v1-only.apk`` with its EOCD in the ZIP64
  form (the classic fields 0xFFFF/0xFFFFFFFF placeholders), the true values in a ZIP64 record.
* :func:`decoy`: ``v1-only.apk`` with ZIP64 end records that agree with the classic fields.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from v2_resign import KEY, fixture_certificate, fixture_spki, lp

APKS = Path(__file__).resolve().parent.parent / "fixtures" / "apks"
_CD = struct.Struct("<IHHHHHHIIIHHHHHII")
_EOCD = struct.Struct("<IHHHHIIH")


def _records(apk: Path, out: bytearray, skip_meta: bool) -> list[bytes]:
    """Copy ``apk``'s local records (header and data, as they are) to ``out``; their central
    records, pointing at the copies."""
    raw = apk.read_bytes()
    cds = []
    with zipfile.ZipFile(apk) as z:
        for info in z.infolist():
            if skip_meta and info.filename.startswith("META-INF/"):
                continue
            lho = info.header_offset
            nlen, xlen = struct.unpack_from("<HH", raw, lho + 26)
            start = len(out)
            out += raw[lho : lho + 30 + nlen + xlen + info.compress_size]
            name = info.filename.encode()
            cds.append(_CD.pack(0x02014B50, 20, 20, info.flag_bits, info.compress_type, 0, 0x21, info.CRC,
                                info.compress_size, info.file_size, len(name), 0, 0, 0, 0, 0, start) + name)
    return cds


def _dir(i: int, comment: bytes = b"") -> bytes:
    name = b"%05d/" % i  # unique: libziparchive refuses duplicate names
    return _CD.pack(0x02014B50, 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0, len(comment), 0, 0, 0, 0) + name + comment


def _zip64(count: int, size: int, offset: int) -> bytes:
    return struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, size, offset)


def _locator(z64_offset: int) -> bytes:
    return struct.pack("<IIQI", 0x07064B50, 0, z64_offset, 1)


def _digest(sections: list[bytes]) -> bytes:
    """apksig's chunked SHA-256 content digest over the three sections."""
    chunks = [s[i : i + (1 << 20)] for s in sections for i in range(0, len(s), 1 << 20)]
    inner = b"".join(hashlib.sha256(b"\xa5" + struct.pack("<I", len(c)) + c).digest() for c in chunks)
    return hashlib.sha256(b"\x5a" + struct.pack("<I", len(chunks)) + inner).digest()


def _signing_block(content: bytes, cd: bytes, eocd: bytes, key_name: str) -> bytes:
    """An APK Signing Block with one v2 and one v3 signer (RSA PKCS#1 SHA-256, 0x0103) over these
    sections (the EOCD's CD offset is the block's start while digesting, as apksig does)."""
    eocd = eocd[:16] + struct.pack("<I", len(content)) + eocd[20:]
    digests = lp(lp(struct.pack("<I", 0x0103) + lp(_digest([content, cd, eocd]))))
    certs, spki = lp(lp(fixture_certificate(key_name))), fixture_spki(key_name)
    key = serialization.load_der_private_key((KEY.parent / f"{key_name}.pk8").read_bytes(), None)

    def signer(signed: bytes, sdk: bytes) -> bytes:
        sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return lp(lp(lp(signed) + sdk + lp(lp(struct.pack("<I", 0x0103) + lp(sig))) + lp(spki)))

    sdk = struct.pack("<II", 24, 0x7FFFFFFF)
    pairs = b""
    for block_id, value in ((0x7109871A, signer(digests + certs + lp(b""), b"")),
                            (0xF05368C0, signer(digests + certs + sdk + lp(b""), sdk))):
        pairs += struct.pack("<QI", len(value) + 4, block_id) + value
    size = struct.pack("<Q", len(pairs) + 24)
    return size + pairs + size + b"APK Sig Block 42"


def two_directories(*, padded: bool = True) -> bytes:
    """App A by the classic EOCD fields, app B by the ZIP64 end record. ``padded``: CD_A holds
    65,535 records and the EOCD says 0xFFFF of them (the marker ZIP64 readers follow); else only
    entries-on-this-disk says 0xFFFF, the total being true (docs/security.md: libziparchive looks for a
    ZIP64 record then, a third reading apksig and apkscan never made)."""
    out = bytearray()
    cd_b = b"".join(_records(APKS / "v1-only.apk", out, False))
    cdb_offset, count_b = len(out), 7
    out += cd_b
    z64_offset = len(out)
    out += _zip64(count_b, len(cd_b), cdb_offset)
    cd_a = _records(APKS / "wechat-impostor.apk", out, False)
    pad = 0xFFFF - len(cd_a) if padded else 1
    cd_a += [_dir(i) for i in range(pad - 1)] + [_dir(pad - 1, _locator(z64_offset))]
    cd = b"".join(cd_a)
    eocd = _EOCD.pack(0x06054B50, 0, 0, 0xFFFF, len(cd_a), len(cd), len(out), 0)
    block = _signing_block(bytes(out), cd, eocd, "impostor")
    eocd = eocd[:16] + struct.pack("<I", len(out) + len(block)) + eocd[20:]
    return bytes(out) + block + cd + eocd


def _v1_only_ends() -> tuple[bytes, int, int, int]:
    data = (APKS / "v1-only.apk").read_bytes()
    eocd = data.rindex(b"PK\x05\x06")
    _sig, _d, _cd, _n, count, size, offset, _c = _EOCD.unpack_from(data, eocd)
    return data[:eocd], count, size, offset


def zip64_only() -> bytes:
    """``v1-only.apk``, its EOCD in the ZIP64 form: only the ZIP64 record says where the CD is."""
    head, count, size, offset = _v1_only_ends()
    return head + _zip64(count, size, offset) + _locator(len(head)) + \
        _EOCD.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)


def decoy() -> bytes:
    """``v1-only.apk`` with ZIP64 end records that say what the classic fields say."""
    head, count, size, offset = _v1_only_ends()
    return head + _zip64(count, size, offset) + _locator(len(head)) + \
        _EOCD.pack(0x06054B50, 0, 0, count, count, size, offset, 0)


def unparsable() -> bytes:
    """``v1-only.apk`` whose ZIP64 end record names a "central directory" at offset 0 (a local
    header, no central record): there is no second reading."""
    head, count, size, offset = _v1_only_ends()
    return head + _zip64(count, size, 0) + _locator(len(head)) + \
        _EOCD.pack(0x06054B50, 0, 0, count, count, size, offset, 0)
