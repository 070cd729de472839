"""A deflate stream behind a data descriptor that does not end at its listed size, in an APK.

``java.util.zip.ZipInputStream`` (SAI once the file is named ``.apks``, ackpine) inflates an entry
flagged with a data descriptor to the end of its deflate stream, reads the descriptor there and the
next local header after it. The walker took the central record's compressed size as that end when
the local header and the central record both said "deflated, descriptor", so an adversary's stream
that ends elsewhere sent the stream, unseen, to a local ``base.apk`` (TikTok) inside listed bytes:

- early: the layout's stream ends inside its own listed bytes, then a descriptor and ``base.apk``
  (unsigned: the same with a descriptor without its optional signature, review 91);
- late: the stream runs on through a final stored block over the layout's listed descriptor and
  the next entry's local header, and ends inside that stored entry's data; a descriptor and
  ``base.apk`` follow there (that entry's CRC is 0 in both its records: nothing reads its bytes).

Both carriers are v2-signed here by apksigner (``fixtures/generate.py``), verify, and were allowed
under any name but an archive's; Java 17's ``ZipInputStream`` lists ``base.apk`` in both (checked
here when ``java`` can run a source file). Now the bytes after the first such entry are searched
for a local header where no listed one starts (:func:`apkscan.sources.zip_cover._stray_header`),
and one found has the local headers walked.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from apkscan.apk.io.bytesource import ByteSource
from tests.apksigner_helper import apksigner_verify
from tests.cli_helpers import generate_module
from tests.test_apk_local_coverage import LOCAL_ONLY, TIKTOK, _uncovered, apps_of, codes_in, container_codes
from zip_helpers import Unseekable

LAYOUT, BLOB = b"res/layout/main.xml", b"res/raw/blob.bin"
CONTENT = b"placeholder layout (not compiled)\n" * 4
_LOC = struct.Struct("<IHHHHHIIIHH")
_CEN = struct.Struct("<IHHHHHHIIIHHHHHII")
_DESC = struct.Struct("<IIII")
JAVA_LIST = """
import java.io.*; import java.util.zip.*;
public class ZisList { public static void main(String[] a) throws Exception {
  try (ZipInputStream z = new ZipInputStream(new BufferedInputStream(new FileInputStream(a[0])))) {
    ZipEntry e; byte[] b = new byte[8192];
    while ((e = z.getNextEntry()) != null) { while (z.read(b) > 0) { } System.out.println(e.getName()); }
  } catch (IOException ex) { System.out.println("THROWS " + ex); } } }
"""


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _local(name: bytes, method: int, crc: int, csize: int, size: int, flags: int = 0) -> bytes:
    return _LOC.pack(0x04034B50, 20, flags, method, 0, 0x21, crc, csize, size, len(name), 0) + name


def _hidden() -> bytes:
    packed = _deflate(TIKTOK)
    return _local(b"base.apk", 8, zlib.crc32(TIKTOK), len(packed), len(TIKTOK)) + packed


def _early(signed: bool = True) -> list[tuple[bytes, bytes, tuple]]:
    """The layout's listed bytes: its own stream, a descriptor of it (``signed``: with its optional
    signature, else the 12 bytes ``readEnd`` takes when the first 4 are no signature), then ``base.apk``."""
    packed = _deflate(CONTENT)
    own = _DESC.pack(0x08074B50, zlib.crc32(CONTENT), len(packed), len(CONTENT))
    blob = packed + (own if signed else own[4:]) + _hidden()
    listed = _DESC.pack(0x08074B50, zlib.crc32(CONTENT), len(blob), len(CONTENT))
    return [(_local(LAYOUT, 8, 0, 0, 0, flags=8) + blob + listed, LAYOUT, (8, 8, zlib.crc32(CONTENT), len(blob),
                                                                        len(CONTENT)))]


def _late() -> list[tuple[bytes, bytes, tuple]]:
    """The layout's listed bytes end in a final stored block's header; the block's raw bytes are
    the layout's listed descriptor, the blob's local header and 40 bytes of its data, where the
    stream ends; the stream's own descriptor and ``base.apk`` follow in the blob's data."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(CONTENT) + c.flush(zlib.Z_SYNC_FLUSH)  # byte-aligned, not final
    pad, hidden = bytes(40), _hidden()
    blob_size = len(pad) + _DESC.size + len(hidden)
    blob_head = _local(BLOB, 0, 0, blob_size, blob_size)
    raw = _DESC.size + len(blob_head) + len(pad)
    listed = head + b"\x01" + struct.pack("<HH", raw, raw ^ 0xFFFF)
    listed_desc = _DESC.pack(0x08074B50, zlib.crc32(CONTENT), len(listed), len(CONTENT))
    out = CONTENT + listed_desc + blob_head + pad
    assert zlib.decompressobj(-15).decompress(listed + listed_desc + blob_head + pad) == out
    real = _DESC.pack(0x08074B50, zlib.crc32(out), len(listed) + raw, len(out))
    return [(_local(LAYOUT, 8, 0, 0, 0, flags=8) + listed + listed_desc, LAYOUT,
             (8, 8, zlib.crc32(CONTENT), len(listed), len(CONTENT))),
            (blob_head + pad + real + hidden, BLOB, (0, 0, 0, blob_size, blob_size))]


SHAPES = ["early", "unsigned", "late"]


def _carrier(gen, work: Path, shape: str) -> bytes:
    return carrier_of(gen, work, {"early": _early, "unsigned": lambda: _early(False), "late": _late}[shape]())


def carrier_of(gen, work: Path, crafted: list[tuple[bytes, bytes, tuple]]) -> bytes:
    """A clean app's entries after the ``crafted`` ones (local record, name, central flags, method,
    CRC and sizes), the ZIP written here, v2-signed by apksigner."""
    app = zipfile.ZipFile(io.BytesIO(gen.build_unsigned(gen.App("com.example.carrier", "Notes", min_sdk=24))))
    body, cd = bytearray(), bytearray()
    for record, name, (flags, method, crc, csize, size) in crafted:
        cd += _CEN.pack(0x02014B50, 20, 20, flags, method, 0, 0x21, crc, csize, size, len(name), 0, 0, 0, 0, 0,
                        len(body)) + name
        body += record
    for info in app.infolist():
        if info.filename.encode() == LAYOUT:
            continue
        data, name = app.read(info), info.filename.encode()
        packed = _deflate(data) if info.compress_type == 8 else data
        crc = zlib.crc32(data)
        cd += _CEN.pack(0x02014B50, 20, 20, 0, info.compress_type, 0, 0x21, crc, len(packed), len(data), len(name),
                        0, 0, 0, 0, 0, len(body)) + name
        body += _local(name, info.compress_type, crc, len(packed), len(data)) + packed
    n = len(crafted) + len(app.infolist()) - 1
    unsigned = bytes(body + cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd), len(body), 0))
    work.mkdir(exist_ok=True)
    return gen.sign(unsigned, work, ["test-rsa"], v1=False, v2=True, v3=False, min_sdk=24)


@pytest.fixture(scope="module")
def carriers(tmp_path_factory) -> dict[str, Path]:
    gen, root = generate_module(), tmp_path_factory.mktemp("carriers")
    out = {}
    for shape in SHAPES:
        out[shape] = root / f"{shape}.apk"
        out[shape].write_bytes(_carrier(gen, root / f"work-{shape}", shape))
    return out


@pytest.mark.parametrize("shape", SHAPES)
def test_the_carrier_verifies_and_reads_as_the_clean_app(carriers, shape):
    """The oracle's side: apksigner verifies the carrier and aapt reads the clean app."""
    assert apksigner_verify(carriers[shape])["verified"]
    if shutil.which("aapt"):
        out = subprocess.run(["aapt", "dump", "badging", str(carriers[shape])], capture_output=True, text=True)
        assert "name='com.example.carrier'" in out.stdout


@pytest.mark.parametrize("shape", SHAPES)
def test_java_zipinputstream_lists_the_hidden_base_apk(carriers, shape, tmp_path):
    """What the check models: Java's own ZipInputStream reads ``base.apk`` out of the carrier."""
    if not shutil.which("java"):
        pytest.skip("no java")
    src = tmp_path / "ZisList.java"
    src.write_text(JAVA_LIST)
    run = subprocess.run(["java", str(src), str(carriers[shape])], capture_output=True, text=True, timeout=120)
    if run.returncode and "error:" in run.stderr:
        pytest.skip("java cannot run a source file here (a JRE without its compiler)")
    names = run.stdout.split()
    assert names[:2] == [LAYOUT.decode(), "base.apk"], run.stdout + run.stderr


@pytest.mark.parametrize("shape", SHAPES)
def test_the_stream_is_found_to_reach_a_header_no_entry_lists(carriers, shape):
    assert _uncovered(carriers[shape])[0]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["hidden.apk", "hidden.bin"])
def test_the_hidden_base_apk_is_scanned_under_any_name(carriers, scan_path, tmp_path, shape, name):
    """Was: one app, com.example.carrier, allowed, no fact. Now TikTok from the local headers too."""
    path = tmp_path / name
    path.write_bytes(carriers[shape].read_bytes())
    doc = scan_path(path)
    apps = apps_of(doc)
    assert apps["com.example.carrier"]["verdict"] == "allowed"
    tiktok = apps["com.zhiliaoapp.musically"]
    assert tiktok["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(tiktok["identity"])
    assert tiktok["source"]["chain"][-1] == "base.apk"
    assert LOCAL_ONLY in container_codes(doc)


def test_a_stored_jar_behind_a_descriptor_is_read_as_androids_stream_reads_it(tmp_path, scan_path):
    """A stored JAR inside a ZIP written to a stream (every entry behind a descriptor, the stored one
    too): the search finds the inner JAR's local header and the walk runs. Android's stream reads
    the stored entry as empty and the JAR's ``a.txt`` where its data starts (review 91: the walk
    ended there, as OpenJDK throws). ``a.txt`` is the JAR's own entry, the JAR walked as the APK's
    nested container: nothing said of it, no local-only member (review 91 F3)."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("a.txt", b"inner")
    sink = io.BytesIO()
    with zipfile.ZipFile(io.BufferedWriter(Unseekable(sink)), "w") as z:  # unseekable: every entry behind a descriptor
        z.writestr(zipfile.ZipInfo("AndroidManifest.xml"), b"x" * 64, zipfile.ZIP_DEFLATED)
        z.writestr(zipfile.ZipInfo("assets/lib.jar"), inner.getvalue(), zipfile.ZIP_STORED)
    path = tmp_path / "plain.apk"
    path.write_bytes(sink.getvalue())
    assert _uncovered(path)[0] is True  # the inner JAR's header: looked at
    doc = scan_path(path)
    # the stand-in manifest's error and the JAR's end record as apksig reads the APK's end: nothing of the stream
    assert container_codes(doc) == {"MANIFEST_MALFORMED", "TAMPER_MULTIPLE_EOCD"}


def test_a_signature_across_two_reads_is_found(tmp_path, monkeypatch):
    """The search reads 3 bytes into the next read: a header split by the read size is found, and
    one at a listed offset is not stray."""
    from apkscan.sources import zip_cover

    monkeypatch.setattr(zip_cover, "SEARCH", 64)
    data = bytearray(200)
    data[62:66] = b"PK\x03\x04"
    path = tmp_path / "bytes"
    path.write_bytes(bytes(data))
    source = ByteSource(str(path))
    assert zip_cover._stray_header(source, 0, [0])
    assert not zip_cover._stray_header(source, 0, [0, 62])
    assert not zip_cover._stray_header(source, 62, [0])  # before where the search starts


# --- the stream past the end of the ZIP read as an APK (review of 9a02a1b) -------------------------
# A ZIP whose end record sits before the file's end (another reader's end record, the file's own
# not found) is read as that ZIP; the stream reads the whole file. The check read only the ZIP's
# bytes, so a local header after its end record was never looked for.

def _past_the_end_deflated() -> bytes:
    """One entry deflated behind a descriptor whose stream runs on through a (non-final) stored
    block over the listed descriptor, the directory and the end record, then ends (an empty final
    block); the stream's own descriptor and ``base.apk`` follow, past the ZIP's end."""
    name = b"AndroidManifest.xml"
    content = b"placeholder (not compiled)\n" * 4
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(content) + c.flush(zlib.Z_SYNC_FLUSH)
    header = _local(name, 8, 0, 0, 0, flags=8)
    raw = _DESC.size + _CEN.size + len(name) + 22
    listed = head + b"\x00" + struct.pack("<HH", raw, raw ^ 0xFFFF)
    listed_desc = _DESC.pack(0x08074B50, zlib.crc32(content), len(listed), len(content))
    cd_at = len(header) + len(listed) + len(listed_desc)
    cd = _CEN.pack(0x02014B50, 20, 20, 8, 8, 0, 0x21, zlib.crc32(content), len(listed), len(content), len(name),
                   0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), cd_at, 0)
    stream = listed + listed_desc + cd + end + b"\x03\x00"  # an empty final fixed-Huffman block
    inflated = content + listed_desc + cd + end
    assert zlib.decompressobj(-15).decompress(stream) == inflated
    real = _DESC.pack(0x08074B50, zlib.crc32(inflated), len(stream), len(inflated))
    return header + stream + real + _hidden() + bytes(64)


def _past_the_end_stored() -> bytes:
    """One stored entry whose LOCAL size runs over the directory and end record (the central
    record says its own size); ``base.apk`` follows the end record."""
    name, data = b"AndroidManifest.xml", b"not a manifest\n" * 4
    cd = _CEN.pack(0x02014B50, 20, 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data), len(name),
                   0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), 30 + len(name) + len(data), 0)
    whole = data + cd + end
    return _local(name, 0, zlib.crc32(whole), len(whole), len(whole)) + whole + _hidden() + bytes(64)


PAST_THE_END = {"deflated": _past_the_end_deflated, "stored": _past_the_end_stored}


@pytest.mark.parametrize("shape", list(PAST_THE_END))
def test_a_local_header_past_the_zips_end_record_is_found(scan_path, tmp_path, shape):
    """Was: the ZIP's manifest error, TikTok nowhere (exit 3); now TikTok from the local headers."""
    path = tmp_path / "pull.bin"
    path.write_bytes(PAST_THE_END[shape]())
    doc = scan_path(path)
    tiktok = apps_of(doc)["com.zhiliaoapp.musically"]
    assert tiktok["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(tiktok["identity"])
    assert tiktok["source"]["chain"][-1] == "base.apk"


@pytest.mark.parametrize("shape", list(PAST_THE_END))
def test_java_lists_base_apk_past_the_end_record(tmp_path, shape):
    if not shutil.which("java"):
        pytest.skip("no java")
    path, src = tmp_path / "pull.bin", tmp_path / "ZisList.java"
    path.write_bytes(PAST_THE_END[shape]())
    src.write_text(JAVA_LIST)
    run = subprocess.run(["java", str(src), str(path)], capture_output=True, text=True, timeout=120)
    if run.returncode and "error:" in run.stderr:
        pytest.skip("java cannot run a source file here (a JRE without its compiler)")
    assert run.stdout.split()[:2] == ["AndroidManifest.xml", "base.apk"], run.stdout + run.stderr
