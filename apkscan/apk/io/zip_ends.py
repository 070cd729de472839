"""The ZIP end records, read as apksig reads them: the End of Central Directory found from the
file's end, the ZIP64 EOCD it points to, and the ZIP64 extra field of a central record
(:mod:`apkscan.apk.io.zipreader` uses them).

apksig (and Android's Java v2/v3 verifier) never read the ZIP64 end records: the classic EOCD
fields are the archive they verify. ZIP64-aware readers (libziparchive 11 and later) may follow
the ZIP64 record to another central directory: :func:`zip64_values` gives it, a second reading
(review 59 F1)."""

from __future__ import annotations

import struct

from apkscan.apk.io.bytesource import ByteSource
from apkscan.issues import ApkFormatError, Issue, tamper

EOCD_MIN = 22
MAX_COMMENT = 0xFFFF
ZIP64_EOCD_SIG = 0x06064B50
ZIP64_LOCATOR_SIG = 0x07064B50


def _find_eocd(source: ByteSource) -> tuple[int, bytes, int, bytes]:
    """Find the EOCD as apksig does: scanning back, the record whose comment ends the file.

    Returns (offset, record bytes, number of EOCD signatures seen in the tail, the 20 bytes
    before the record when the tail holds them: where a ZIP64 locator sits, read for free).
    """
    tail_len = min(source.size, EOCD_MIN + MAX_COMMENT)
    tail_start = source.size - tail_len
    tail = source.read(tail_start, tail_len)
    candidates = 0
    chosen = -1
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0:
        if pos + EOCD_MIN <= tail_len:
            candidates += 1
            (comment_len,) = struct.unpack_from("<H", tail, pos + 20)
            if chosen < 0 and pos + EOCD_MIN + comment_len == tail_len:
                chosen = pos
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    if chosen < 0:
        raise ApkFormatError("ZIP_EOCD_NOT_FOUND", "no end-of-central-directory record: not a ZIP archive, or truncated")
    return tail_start + chosen, tail[chosen:], candidates, tail[chosen - 20 : chosen] if chosen >= 20 else b""


def classic_values(eocd: bytes) -> tuple[int, int, int]:
    """(entry count, CD size, CD offset): the EOCD's own fields, as apksig reads them."""
    n_total, cd_size, cd_offset = struct.unpack_from("<HII", eocd, 10)
    return n_total, cd_size, cd_offset


def zip64_values(source: ByteSource) -> tuple[int, int, int] | None:
    """The ZIP64 end record's (entry count, CD size, CD offset) when it names another central
    directory than the classic fields do; None when there is none, it cannot be read, or it
    agrees (then nothing reads the archive another way)."""
    try:
        eocd_offset, eocd, _n, before = _find_eocd(source)
        z = _read_zip64(source, eocd_offset, before)
    except ApkFormatError:
        return None
    return z if z is not None and z != classic_values(eocd) else None


def _read_zip64(source: ByteSource, eocd_offset: int, before: bytes = b"") -> tuple[int, int, int] | None:
    """(entry count, CD size, CD offset) from the ZIP64 EOCD, or None if there is none.
    ``before``: the 20 bytes before the EOCD when already read."""
    if eocd_offset < 20:
        return None
    loc = before if len(before) == 20 else source.read(eocd_offset - 20, 20)
    sig, _disk, z64_offset, _disks = struct.unpack("<IIQI", loc)
    if sig != ZIP64_LOCATOR_SIG:
        return None
    if z64_offset + 56 > eocd_offset - 20:
        raise ApkFormatError("ZIP_ZIP64_MALFORMED", "ZIP64 end-of-central-directory offset is out of range")
    rec = source.read(z64_offset, 56)
    (sig, _size, _vm, _vn, _d, _cdd, _nd, n_total, cd_size, cd_offset) = struct.unpack("<IQHHIIQQQQ", rec)
    if sig != ZIP64_EOCD_SIG:
        raise ApkFormatError("ZIP_ZIP64_MALFORMED", "ZIP64 end-of-central-directory record has a bad signature")
    return n_total, cd_size, cd_offset


def _zip64_extra(extra: bytes, csize: int, usize: int, lho: int) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF sizes/offset by the ZIP64 extended-information extra field."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        if tag == 0x0001:
            vals = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            it = iter(vals)
            try:
                if usize == 0xFFFFFFFF:
                    usize = next(it)
                if csize == 0xFFFFFFFF:
                    csize = next(it)
                if lho == 0xFFFFFFFF:
                    lho = next(it)
            except StopIteration:
                raise ApkFormatError("ZIP_ZIP64_MALFORMED", "ZIP64 extra field is too short") from None
            return csize, usize, lho
        pos += 4 + size
    return csize, usize, lho


def zip64_record(source: ByteSource, eocd_offset: int, before: bytes, eocd: bytes, found: list[Issue],
                 required: bool) -> tuple[int, int, int] | None:
    """The ZIP64 end record's values. Read for the ZIP64 reading (``required``: its errors
    raise), else only noted (``TAMPER_ZIP64`` in ``found``): a malformed one does not stop the
    classic reading, as apksig never reads it."""
    try:
        z = _read_zip64(source, eocd_offset, before)
    except ApkFormatError as exc:
        if required:
            raise
        found.append(tamper("TAMPER_ZIP64", f"ZIP64 end records that do not parse ({exc.message}); read with the classic EOCD fields, as apksig does"))
        return None
    if z is None and required:
        raise ApkFormatError("ZIP_ZIP64_MALFORMED", "no ZIP64 end-of-central-directory locator before the EOCD")
    if z is not None and not required:
        same = z == classic_values(eocd)
        found.append(tamper("TAMPER_ZIP64", "ZIP64 end records " + ("agree with the classic EOCD fields" if same else
                            f"name another central directory ({z[0]} entries, {z[2]}+{z[1]}): a second reading, "
                            "scanned as its own app where it parses") + "; this archive is read with the classic fields, as "
                            "apksig and Android's v2/v3 verifier read it (they never read ZIP64)"))
    return z
