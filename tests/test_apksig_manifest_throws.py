"""With a given minSdkVersion, where apksig still reads AndroidManifest.xml and throws (review 73 F3).

``apksigner verify --min-sdk-version N`` does not read minSdkVersion, but ``ApkVerifier`` still
reads the manifest twice: targetSandboxVersion from API 26 (once the signing-block schemes
verified; a missing manifest throws ``ApkFormatException`` there) and targetSdkVersion at the
end, whatever the range. ``ApkUtils`` catches its parser's ``XmlParserException`` (a default
value then), not the unchecked exceptions ``AndroidBinXmlParser`` also throws: short attribute
records (BufferUnderflowException), a string offset table shorter than the pool's count
(IndexOutOfBoundsException), a strings section outside the pool or a string running past it
(IllegalArgumentException, BufferUnderflowException).
Those end the verification and apksigner verifies nothing; apkscan verified these APKs.

Each APK is built here (``axml_raw``), signed v2 by apksigner, and checked against it.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import axml_raw as ax
from apkscan.apk.identify import identify
from apksigner_helper import apksigner_available, apksigner_verify
from cli_helpers import generate_module

CODE = "MANIFEST_NOT_APKSIG_READABLE"
POOL = ax.pool(ax.BASE + ["com.example.throws"])
PACKAGE = ax.package_attr(9)
VERSION = ax.attr(3, 0, ax.NO, ax.TYPE_INT_DEC, 1)


def _signed(tmp_path: Path, axml: bytes | None) -> Path:
    """An APK holding ``axml`` as AndroidManifest.xml (none when None) and a DEX, signed v2 only."""
    generate = generate_module()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        if axml is not None:
            z.writestr("AndroidManifest.xml", axml)
        z.writestr("classes.dex", generate.minimal_dex())
    path = tmp_path / "signed.apk"
    path.write_bytes(generate.sign(out.getvalue(), tmp_path, ["test-rsa"], v1=False, v2=True, v3=False, min_sdk=24))
    return path


def _agree(path: Path, max_sdk: int | None, verified: bool) -> None:
    """apkscan over [24, max_sdk] says ``verified`` (with the code when not); so does apksigner
    (an exception when not)."""
    kwargs = {"idsig": False, "min_sdk": 24} | ({} if max_sdk is None else {"max_sdk": max_sdk})
    got = identify(str(path), **kwargs)
    assert got.verified is verified, got.to_dict()["errors"]
    assert (CODE in [i.code for i in got.verification.errors]) is (not verified)
    if apksigner_available():
        cmd_max = [] if max_sdk is None else ["--max-sdk-version", str(max_sdk)]
        theirs = _apksigner(path, cmd_max)
        assert theirs[0] is verified, theirs[1][-400:]
        assert verified or "Exception" in theirs[1]


def _apksigner(path: Path, extra: list[str]) -> tuple[bool, str]:
    if not extra:
        result = apksigner_verify(path, min_sdk=24)
        return result["verified"], result["output"]
    import subprocess

    proc = subprocess.run(["apksigner", "verify", "--min-sdk-version", "24", *extra, str(path)],
                          capture_output=True, text=True, check=False, timeout=120)
    return proc.returncode == 0 and "DOES NOT VERIFY" not in proc.stdout, proc.stdout + proc.stderr


def _manifest(*, pool: bytes = POOL, root_size: int = 20, uses_sdk_size: int = 20, inside: bytes = b"") -> bytes:
    return ax.document(pool, ax.resource_map(), ax.namespace(4, 3),
                       ax.start(ax.MANIFEST, [VERSION, PACKAGE], size=root_size),
                       ax.start(ax.USES_SDK, [ax.attr(3, 1, ax.NO, ax.TYPE_INT_DEC, 21)], size=uses_sdk_size),
                       ax.end(ax.USES_SDK), inside, ax.end(ax.MANIFEST), ax.namespace(4, 3, closing=True))


def _pool_with(offset: int, value: int) -> bytes:
    """POOL with one u32 of its header replaced (8: string count, 20: strings start)."""
    chunk = bytearray(POOL)
    struct.pack_into("<I", chunk, offset, value)
    return bytes(chunk)


def test_a_missing_manifest_throws_from_api_26(tmp_path):
    path = _signed(tmp_path, None)
    _agree(path, None, False)
    _agree(path, 26, False)
    _agree(path, 25, True)  # below 26 targetSandboxVersion is not read; targetSdkVersion's miss is caught


def test_short_attribute_records_on_the_root_throw_reading_target_sandbox(tmp_path):
    path = _signed(tmp_path, _manifest(root_size=16))
    _agree(path, None, False)
    _agree(path, 25, True)  # the root's attributes are read only for targetSandboxVersion


def test_short_attribute_records_on_uses_sdk_throw_reading_target_sdk_at_any_range(tmp_path):
    path = _signed(tmp_path, _manifest(uses_sdk_size=16))
    _agree(path, None, False)
    _agree(path, 25, False)


def test_a_string_past_the_offset_table_throws_one_past_the_count_does_not(tmp_path):
    # an element named by index 200 of a 10-string pool: XmlParserException, caught (a default value)
    _agree(_signed(tmp_path, _manifest(inside=ax.start(200, []) + ax.end(200))), None, True)
    # the pool claims 100,000 strings: index 50,000 lies past its offset table, IndexOutOfBoundsException
    truncated = _manifest(pool=_pool_with(8, 100_000), inside=ax.start(50_000, []) + ax.end(50_000))
    _agree(_signed(tmp_path, truncated), None, False)


def test_a_strings_section_outside_the_pool_throws(tmp_path):
    _agree(_signed(tmp_path, _manifest(pool=_pool_with(20, 8))), None, False)  # starts inside the header


def _named_by(last: bytes, *, utf8: bool = False) -> bytes:
    """A manifest whose one child element is named by string 10, the entry ``last`` as it is."""
    strings = [ax.utf8_entry(s) if utf8 else ax.utf16_entry(s) for s in ax.BASE + ["com.example.throws"]]
    return _manifest(pool=ax.pool([*strings, last], utf8=utf8), inside=ax.start(10, []) + ax.end(10))


def test_a_string_running_past_the_pool_throws_one_too_long_to_be_a_string_does_not(tmp_path):
    # a length over 2^30 UTF-16 units is apksig's own "String too long": caught, a default value
    _agree(_signed(tmp_path, _named_by(b"\xff\xff\xff\xff" + "ab".encode("utf-16-le"))), None, True)
    # 50 characters claimed, 2 there: ByteBuffer.position past the section, IllegalArgumentException
    _agree(_signed(tmp_path, _named_by(struct.pack("<H", 50) + "ab".encode("utf-16-le"))), None, False)
    _agree(_signed(tmp_path, _named_by(bytes([50, 50]) + b"ab", utf8=True)), None, False)
    # the last string's offset leaves one byte for its two-byte length: BufferUnderflowException
    strings = [ax.utf16_entry(s) for s in [*ax.BASE, "com.example.throws", "x"]]
    offsets = [sum(len(e) for e in strings[:i]) for i in range(len(strings))]
    offsets[10] = -(-sum(len(e) for e in strings) // 4) * 4 - 1  # the padded section's last byte
    pool = ax.pool(strings, offsets=offsets)
    _agree(_signed(tmp_path, _manifest(pool=pool, inside=ax.start(10, []) + ax.end(10))), None, False)
