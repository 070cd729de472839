"""ZIP structure read as apksig reads it (review 18): fixture APKs changed a few bytes after
signing, then verified by apkscan and, where it is installed, by apksigner.

- EOCD disk fields (F3): apksig and libziparchive ignore them; apkscan verifies and records
  ``TAMPER_EOCD_DISK_FIELDS`` instead of refusing the file.
- Local header vs central directory (F2): a different name, or a CRC-32/size that differs
  while the local header flags no data descriptor, is refused by apksig
  (``LocalFileRecord.getRecord``) and by libziparchive (``FindEntry``: kInconsistentInformation):
  v1 fails with ``ZIP_LOCAL_HEADER_MISMATCH``, the tamper fact stays, the identity is read.
  A data-descriptor flag in one header only is refused by apksig but read by libziparchive
  (a warning): apkscan reads it, a difference listed in test_apksigner_crosscheck.py.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apkscan.apk.io.bytesource import BytesSource
from apkscan.apk.io.zipreader import ZipArchive, read_local_header
from apkscan.issues import ApkFormatError

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
sys.path.insert(0, str(REPO / "fixtures"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tamper  # noqa: E402
from apksigner_helper import apksigner_available, apksigner_verify  # noqa: E402

TEST_RSA = "3400f8cb"  # fixtures/keys/test-rsa, the signer of v1-only.apk


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _apksigner_agrees(path: Path, verified: bool) -> None:
    if not apksigner_available():
        return
    ref = apksigner_verify(path)
    assert ref["verified"] is verified, ref["errors"][:3]


def _eocd_field(data: bytes, offset: int, value: int) -> bytes:
    """Set a 16-bit EOCD field (4: this disk, 6: CD start disk, 8: entries on this disk)."""
    eocd = tamper.find_eocd(data)
    out = bytearray(data)
    struct.pack_into("<H", out, eocd + offset, value)
    return bytes(out)


@pytest.mark.parametrize("field,delta", [(4, 1), (6, 1), (8, -1)], ids=["disk-number", "cd-start-disk", "entries-on-disk"])
def test_eocd_disk_fields_are_a_tamper_fact_and_the_apk_verifies(tmp_path, field, delta):
    data = (APKS / "v1-only.apk").read_bytes()
    eocd = tamper.find_eocd(data)
    (current,) = struct.unpack_from("<H", data, eocd + field)
    path = _write(tmp_path, "spanned.apk", _eocd_field(data, field, current + delta))
    ident = identify(path, idsig=False)
    assert not ident.errors, ident.errors
    assert ident.verified and ident.completeness.complete
    assert [c.sha256[:8] for c in ident.verification.signers] == [TEST_RSA]
    assert ident.manifest.package == "com.example.v1only"
    assert "TAMPER_EOCD_DISK_FIELDS" in {t.code for t in ident.tamper}
    _apksigner_agrees(path, True)


# --- local header vs central directory (F2) -------------------------------------------------

NOTES = "res/raw/notes.txt"  # stored, outside META-INF: v1 digests it


def _lfh_patch(data: bytes, name: str, offset: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, tamper.record(data, name).local_offset + offset, value)
    return bytes(out)


def _lfh_flags(data: bytes, name: str, bits: int) -> bytes:
    flags = struct.unpack_from("<H", data, tamper.record(data, name).local_offset + 6)[0]
    return _lfh_patch(data, name, 6, "<H", flags | bits)


def _lfh_name(data: bytes, name: str, new: bytes) -> bytes:
    assert len(new) == len(name.encode())
    pos = tamper.record(data, name).local_offset + 30
    return data[:pos] + new + data[pos + len(new):]


def _cd_crc(data: bytes, name: str) -> bytes:
    rec = tamper.record(data, name)
    out = bytearray(data)
    struct.pack_into("<I", out, rec.offset + 16, rec.crc32 ^ 1)
    return bytes(out)


def _into_the_cd(data: bytes) -> bytes:
    """The last entry's sizes (central and local alike) grown by 64 bytes: its data runs into
    the central directory."""
    last = max(tamper.central_directory(data), key=lambda r: r.local_offset)
    out = bytearray(data)
    for at in (last.offset + 20, last.local_offset + 18):
        struct.pack_into("<II", out, at, last.compressed_size + 64, last.uncompressed_size + 64)
    return bytes(out)


V1 = (APKS / "v1-only.apk").read_bytes()
REFUSED = {  # change -> tamper fact; apksig and libziparchive both refuse the entry
    "lfh-data-descriptor-flag": (lambda d: _lfh_flags(d, NOTES, 0x08), "TAMPER_DATA_DESCRIPTOR_MISMATCH"),
    # review 24: local sizes of 0xFFFFFFFF exempted the comparison, so a wrong CRC went unseen
    "lfh-sizes-ffffffff-crc": (lambda d: _lfh_patch(_lfh_patch(d, NOTES, 18, "<Q", (1 << 64) - 1), NOTES, 14, "<I",
                                                    tamper.record(d, NOTES).crc32 ^ 1), "TAMPER_LOCAL_SIZE_MISMATCH"),
    "data-into-the-cd": (_into_the_cd, "TAMPER_ENTRY_OVERLAPS_CD"),
    "lfh-name": (lambda d: _lfh_name(d, NOTES, b"RES/raw/notes.txt"), "TAMPER_LOCAL_NAME_MISMATCH"),
    "lfh-crc": (lambda d: _lfh_patch(d, NOTES, 14, "<I", tamper.record(d, NOTES).crc32 ^ 1), "TAMPER_LOCAL_SIZE_MISMATCH"),
    "cd-crc": (lambda d: _cd_crc(d, NOTES), "TAMPER_LOCAL_SIZE_MISMATCH"),
    "lfh-sizes": (lambda d: _lfh_patch(d, NOTES, 18, "<I", 7), "TAMPER_LOCAL_SIZE_MISMATCH"),
    "manifest-mf-name": (lambda d: _lfh_name(d, "META-INF/MANIFEST.MF", b"META-INF/manifest.mf"), "TAMPER_LOCAL_NAME_MISMATCH"),
    "sf-crc": (lambda d: _lfh_patch(d, "META-INF/TEST-RSA.SF", 14, "<I", 0), "TAMPER_LOCAL_SIZE_MISMATCH"),
}


@pytest.mark.parametrize("change", sorted(REFUSED))
def test_local_header_lies_apksig_and_android_refuse_fail_v1(tmp_path, change):
    edit, fact = REFUSED[change]
    path = _write(tmp_path, f"{change}.apk", edit(V1))
    ident = identify(path, idsig=False)
    assert not ident.verified
    v1 = ident.verification.schemes["v1"]
    assert "ZIP_LOCAL_HEADER_MISMATCH" in {i.code for i in v1.all_errors()}, v1.all_errors()
    assert fact in {t.code for t in ident.tamper}
    assert ident.manifest.package == "com.example.v1only" and not ident.errors  # read, not an input error
    _apksigner_agrees(path, False)


def test_data_descriptor_flag_in_the_central_directory_only_is_read_as_android_does(tmp_path):
    """apksig refuses it; libziparchive logs it and compares CRC/sizes as the local flag says. (In
    the local header only, libziparchive wants the descriptor on extraction and fails: refused
    above, review 24.)"""
    path = _write(tmp_path, "dd-central.apk", tamper.set_central_flags(V1, NOTES, 0x08))
    ident = identify(path, idsig=False)
    assert ident.verified and [c.sha256[:8] for c in ident.verification.signers] == [TEST_RSA]
    assert "TAMPER_DATA_DESCRIPTOR_MISMATCH" in {t.code for t in ident.tamper}
    _apksigner_agrees(path, False)  # the listed difference


def test_the_data_descriptor_difference_is_listed():
    from test_apksigner_crosscheck import FIXTURE_DIFFERENCES

    assert FIXTURE_DIFFERENCES["badpack-cd-data-descriptor-flag.apk"][0] is True
    assert "badpack-local-sizes.apk" not in FIXTURE_DIFFERENCES  # apksig and Android both refuse it


def test_local_header_refusal_is_kept_apart_from_the_facts():
    """Only signature readers raise it: the manifest and containers read on."""
    archive = ZipArchive.open(BytesSource(REFUSED["lfh-name"][0](V1)))
    entry = archive.entry(NOTES)
    assert archive.read(entry, 1 << 20).startswith(b"apkscan fixture")  # lenient readers go on
    with pytest.raises(ApkFormatError) as exc:
        archive.check_local_header(entry)
    assert exc.value.code == "ZIP_LOCAL_HEADER_MISMATCH"
    dd = ZipArchive.open(BytesSource(tamper.set_central_flags(V1, NOTES, 0x08)))
    local = read_local_header(dd.source, dd.entry(NOTES), dd.cd_offset)
    assert local.refusal is None and [f.code for f in local.facts] == ["TAMPER_DATA_DESCRIPTOR_MISMATCH"]


def _zip64_offset(data: bytes, name: str) -> bytes:
    """``name``'s central record with its local-header offset moved into a ZIP64 extra (the 32-bit
    field 0xFFFFFFFF), the central directory's size grown to match."""
    rec = tamper.record(data, name)
    eocd = tamper.find_eocd(data)
    cd_size = struct.unpack_from("<I", data, eocd + 12)[0]
    r = bytearray(data[rec.offset:rec.offset + rec.size])
    nlen, xlen = struct.unpack_from("<HH", r, 28)
    extra = struct.pack("<HHQ", 1, 8, rec.local_offset)
    struct.pack_into("<I", r, 42, 0xFFFFFFFF)
    struct.pack_into("<H", r, 30, xlen + len(extra))
    r[46 + nlen + xlen:46 + nlen + xlen] = extra
    out = bytearray(data[:rec.offset] + bytes(r) + data[rec.offset + rec.size:])
    struct.pack_into("<I", out, tamper.find_eocd(bytes(out)) + 12, cd_size + len(extra))
    return bytes(out)


def test_a_zip64_extra_does_not_move_apksigs_bounds(tmp_path):
    """Review 26: with the offset in a ZIP64 extra, apksig still checks the record's own 32-bit
    field (0xFFFFFFFF: 'extends beyond start of Central Directory') and refuses the entry;
    apkscan checked the extra's value and verified a v1-only APK anyone can edit so."""
    path = _write(tmp_path, "zip64-offset.apk", _zip64_offset(V1, NOTES))
    ident = identify(path, idsig=False)
    assert not ident.verified
    assert "ZIP_LOCAL_HEADER_MISMATCH" in {i.code for i in ident.verification.schemes["v1"].all_errors()}
    assert ident.manifest.package == "com.example.v1only"
    _apksigner_agrees(path, False)


# --- a deflate stream the declared compressed size cuts short (review 26, Z2) ----------------

def _compressed_size_minus(data: bytes, name: str, delta: int) -> bytes:
    """``name``'s compressed size made ``delta`` bytes smaller in both headers (v1 signs neither)."""
    rec = tamper.record(data, name)
    out = bytearray(data)
    for at in (rec.offset + 20, rec.local_offset + 18):
        struct.pack_into("<I", out, at, rec.compressed_size - delta)
    return bytes(out)


def test_a_deflate_stream_cut_one_byte_short_verifies_as_apksig_reads_it(tmp_path):
    """apksig inflates the declared compressed bytes and checks only the count of bytes they give
    (``LocalFileRecord.outputUncompressedData``); the stream need not reach its end marker. apkscan
    refused it: a header edit made a v1 signer apksigner verifies "does not verify"."""
    path = _write(tmp_path, "short.apk", _compressed_size_minus(V1, "classes.dex", 1))
    ident = identify(path, idsig=False)
    assert ident.verified, ident.verification.schemes["v1"].errors
    assert [c.sha256[:8] for c in ident.verification.signers] == [TEST_RSA]
    _apksigner_agrees(path, True)


def test_a_deflate_stream_cut_short_of_its_bytes_still_fails(tmp_path):
    """Cut further, the stream gives fewer bytes than declared: both refuse, with the two counts."""
    path = _write(tmp_path, "shorter.apk", _compressed_size_minus(V1, "classes.dex", 8))
    ident = identify(path, idsig=False)
    assert not ident.verified
    errors = [e for e in ident.verification.schemes["v1"].errors if e.code == "ZIP_ENTRY_SIZE_MISMATCH"]
    assert errors and "declares 140" in errors[0].message and "inflated to 140" not in errors[0].message
    _apksigner_agrees(path, False)
