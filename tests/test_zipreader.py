"""The ZIP reader on real archive bytes: normal, tampered the BadPack way, and broken."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from apkscan.apk.io.bytesource import BytesSource, ByteSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkFormatError, LimitExceeded

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def make_zip(entries: dict[str, bytes], *, method=zipfile.ZIP_DEFLATED, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        zf.comment = comment
    return buf.getvalue()


def open_bytes(data: bytes) -> ZipArchive:
    return ZipArchive.open(BytesSource(data))


def codes(archive: ZipArchive) -> set[str]:
    return {i.code for i in archive.tamper}


def local_header_offset(data: bytes, name: bytes) -> int:
    pos = data.index(b"PK\x03\x04" + data[4:4])  # first local header
    while True:
        nlen = struct.unpack_from("<H", data, pos + 26)[0]
        if data[pos + 30 : pos + 30 + nlen] == name:
            return pos
        pos = data.index(b"PK\x03\x04", pos + 4)


def test_reads_entries_like_zipfile():
    payload = {"AndroidManifest.xml": b"\x03\x00" * 500, "classes.dex": bytes(range(256)) * 40, "res/x": b""}
    archive = open_bytes(make_zip(payload))
    assert [e.name for e in archive.entries] == list(payload)
    for e in archive.entries:
        assert archive.read(e, 1 << 20) == payload[e.name]
    assert archive.tamper == []


def test_eocd_with_comment_containing_fake_eocd_signature():
    data = make_zip({"a": b"hello"}, comment=b"xx PK\x05\x06 fake " + b"\x00" * 30)
    archive = open_bytes(data)
    assert archive.read(archive.entry("a"), 100) == b"hello"
    assert "TAMPER_MULTIPLE_EOCD" in codes(archive)


def test_badpack_local_header_lies_use_central_directory():
    data = bytearray(make_zip({"AndroidManifest.xml": b"manifest" * 100, "b": b"second" * 50}))
    lho = local_header_offset(bytes(data), b"AndroidManifest.xml")
    struct.pack_into("<H", data, lho + 8, 0x4A4B)  # bogus local compression method
    struct.pack_into("<II", data, lho + 18, 0, 0xFFFFFFF0)  # absurd local sizes
    struct.pack_into("<H", data, lho + 6, 1)  # fake encryption flag, local only
    archive = open_bytes(bytes(data))
    entry = archive.entry("AndroidManifest.xml")
    assert archive.read(entry, 1 << 20) == b"manifest" * 100
    found = codes(archive)
    assert {"TAMPER_LOCAL_METHOD_MISMATCH", "TAMPER_LOCAL_SIZE_MISMATCH", "TAMPER_LOCAL_ENCRYPTION_FLAG"} <= found


def test_unknown_central_method_is_inflated_like_android():
    data = bytearray(make_zip({"a": b"x" * 1000}))
    cd = data.rindex(b"PK\x01\x02")
    struct.pack_into("<H", data, cd + 10, 21)
    lho = local_header_offset(bytes(data), b"a")
    struct.pack_into("<H", data, lho + 8, 21)
    archive = open_bytes(bytes(data))
    assert archive.read(archive.entry("a"), 2000) == b"x" * 1000
    assert "TAMPER_UNKNOWN_COMPRESSION_METHOD" in codes(archive)


def test_duplicate_and_empty_names_are_tamper_facts():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("classes.dex", b"first")
        with pytest.warns(UserWarning):
            zf.writestr("classes.dex", b"second")
        zf.writestr(zipfile.ZipInfo(""), b"nameless")
    archive = open_bytes(buf.getvalue())
    assert archive.read(archive.entry("classes.dex"), 10) == b"first"
    assert {"TAMPER_DUPLICATE_ENTRY", "TAMPER_EMPTY_NAME"} <= codes(archive)


def test_data_descriptor_entries():
    # zipfile writes data descriptors when writing to an unseekable stream
    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.buf = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.buf += b
            return len(b)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("streamed.bin", "w") as f:
            f.write(b"abc" * 10000)
    archive = open_bytes(bytes(sink.buf))
    entry = archive.entry("streamed.bin")
    assert entry.flags & 8
    assert archive.read(entry, 1 << 20) == b"abc" * 10000
    assert "TAMPER_LOCAL_SIZE_MISMATCH" not in codes(archive)


def test_inflation_is_capped_by_declared_size_and_limit():
    data = bytearray(make_zip({"bomb": b"\x00" * (4 << 20)}))
    archive = open_bytes(bytes(data))
    with pytest.raises(LimitExceeded) as exc:
        archive.read(archive.entry("bomb"), 1 << 20)
    assert exc.value.code == "ZIP_ENTRY_TOO_LARGE"
    # lie in the central directory: declare 1 KiB, inflate 4 MiB -> stopped at the declared size
    cd = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, 1024)
    archive = open_bytes(bytes(data))
    with pytest.raises(ApkFormatError) as exc:
        archive.read(archive.entry("bomb"), 1 << 30)
    assert exc.value.code == "ZIP_ENTRY_SIZE_MISMATCH"


@pytest.mark.parametrize("cut", [0, 1, 21, 100, -1, -22, -23])
def test_truncations_raise_format_errors(cut):
    data = make_zip({"a": b"hello" * 100, "b": b"world" * 100})
    data = data[:cut] if cut > 0 else data[: len(data) + cut] if cut < 0 else b""
    with pytest.raises(ApkFormatError) as exc:
        archive = open_bytes(data)
        for e in archive.entries:
            archive.read(e, 1 << 20)
    assert exc.value.code.startswith("ZIP_")


def test_random_bytes_are_not_a_zip():
    with pytest.raises(ApkFormatError) as exc:
        open_bytes(bytes(range(256)) * 10)
    assert exc.value.code == "ZIP_EOCD_NOT_FOUND"


def test_zip64_end_records():
    data = make_zip({"big": b"z" * 100})
    eocd = data.rindex(b"PK\x05\x06")
    n, cd_size, cd_offset = struct.unpack_from("<HII", data, eocd + 10)
    z64_offset = eocd
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, z64_offset, 1)
    classic = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    data = data[:eocd] + z64 + locator + classic
    with pytest.raises(ApkFormatError) as exc:  # apksig reads the classic fields: placeholders, no ZIP
        open_bytes(data)
    assert exc.value.code == "ZIP_CD_OUT_OF_RANGE"
    archive = ZipArchive.open(BytesSource(data), zip64=True)  # the second reading (review 59 F1)
    assert archive.zip64
    assert archive.read(archive.entry("big"), 1000) == b"z" * 100


def test_every_corpus_apk_opens_or_fails_with_a_code():
    apks = sorted(CORPUS.rglob("*.apk")) if CORPUS.is_dir() else []
    if not apks:
        pytest.skip("shared corpus not available")
    opened = 0
    for path in apks:
        with ByteSource(path) as src:
            try:
                archive = ZipArchive.open(src)
            except ApkFormatError as exc:
                assert exc.code.startswith("ZIP_"), path
                continue
            opened += 1
            assert archive.entries or "empty" in path.name, path
    assert opened >= len(apks) - 5
