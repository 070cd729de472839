"""Entries apksig reads through a local header it refuses: apksigner verifies nothing (review 92 F1, F2).

apksig reads the manifest through its local record (``LocalFileRecord``), which refuses a local
name that differs from the central one and, without a data descriptor, a differing CRC-32 or size
(so does Android's libziparchive). ``ApkVerifier`` reads it for minSdkVersion when none is given
and for targetSandboxVersion from API 26: both throw, and apksigner verifies nothing. Its last
read, targetSdkVersion, catches the exception and skips the rule. apkscan read the manifest from
the central record's offset without that check, so a v2-only APK (v1 never reads the entry) with
such a header verified over 24+ and over the APK's own range (F1).

The source stamp's ``stamp-cert-sha256`` entry is read the same way, whenever present and once the
schemes verified, before apksig looks for the stamp block: a refused header, or data that does not
inflate, throws ("Failed to read APK"). apkscan read it without the check (and took unreadable
data for no digest), so such an entry verified with or without a block (F2).

Each APK is built here, its v2 signer (v2-only.apk's, test-rsa) re-signed over the changed bytes
(``test_apk_local_sizes._v2_signed``), and checked against Debian's apksigner where installed
(the same with current apksig, checked by hand in review 92).
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import axml_raw as ax
from apkscan.apk.identify import identify
from tests.apksigner_helper import apksigner_available

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_apk_local_sizes import _v2_signed  # noqa: E402

PACKAGE = ax.package_attr(9)
VERSION = ax.attr(3, 0, ax.NO, ax.TYPE_INT_DEC, 1)
SIGNER = "3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81"


def _manifest(min_sdk: int) -> bytes:
    pool = ax.pool(ax.BASE + ["com.example.refused"])
    return ax.document(pool, ax.resource_map(), ax.namespace(4, 3), ax.start(ax.MANIFEST, [VERSION, PACKAGE]),
                       ax.start(ax.USES_SDK, [ax.attr(3, 1, ax.NO, ax.TYPE_INT_DEC, min_sdk)]),
                       ax.end(ax.USES_SDK), ax.end(ax.MANIFEST), ax.namespace(4, 3, closing=True))


def _apk(tmp_path: Path, variant: str, min_sdk: int = 24, target: str = "AndroidManifest.xml") -> Path:
    """A v2-only APK (stored entries; a 32-byte stamp-cert-sha256 last) whose entry ``target`` has
    its local header changed by ``variant``: the name's last byte, or the CRC-32 (``inflate``: the
    stamp entry deflated, its data corrupt)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("AndroidManifest.xml", _manifest(min_sdk))
        z.writestr("classes.dex", b"dex\n035\0" + bytes(104))
        z.writestr("stamp-cert-sha256", bytes(32), zipfile.ZIP_DEFLATED if variant == "inflate" else zipfile.ZIP_STORED)
    data = out.getvalue()
    eocd = data.rfind(b"PK\x05\x06")
    count, cd_size, cd_offset = struct.unpack_from("<HII", data, eocd + 10)
    body = bytearray(data[:cd_offset])
    local = body.index(target.encode()) - 30  # the name in its local header
    assert body[local:local + 4] == b"PK\x03\x04"
    if variant == "name":
        body[local + 30 + len(target) - 1] = ord("X")  # AndroidManifest.xmX, stamp-cert-sha25X
    elif variant == "crc":
        struct.pack_into("<I", body, local + 14, struct.unpack_from("<I", body, local + 14)[0] ^ 1)
    elif variant == "inflate":  # the data's first byte: a final block of the reserved type 3
        body[local + 30 + len(target) + struct.unpack_from("<H", body, local + 28)[0]] = 0xFF
    path = tmp_path / f"{variant}-{min_sdk}-{target}.apk"
    path.write_bytes(_v2_signed(bytes(body), data[cd_offset:cd_offset + cd_size], count))
    return path


def _apksigner(path: Path, min_sdk: int | None, max_sdk: int | None) -> tuple[bool, str]:
    cmd = ["apksigner", "verify", "--print-certs"]
    cmd += [] if min_sdk is None else ["--min-sdk-version", str(min_sdk)]
    cmd += [] if max_sdk is None else ["--max-sdk-version", str(max_sdk)]
    proc = subprocess.run([*cmd, str(path)], capture_output=True, text=True, check=False, timeout=120)
    return proc.returncode == 0 and "DOES NOT VERIFY" not in proc.stdout, proc.stdout + proc.stderr


def _agree(path: Path, min_sdk: int | None, max_sdk: int | None, verified: bool, code: str | None = None) -> None:
    kwargs = {"idsig": False} | ({} if min_sdk is None else {"min_sdk": min_sdk}) | ({} if max_sdk is None else {"max_sdk": max_sdk})
    got = identify(str(path), **kwargs)
    assert got.verified is verified, got.to_dict()["errors"]
    if verified:
        assert [c.sha256 for c in got.verification.signers] == [SIGNER]
    else:
        assert code in [i.code for i in got.verification.errors]
    if apksigner_available():
        theirs, output = _apksigner(path, min_sdk, max_sdk)
        assert theirs is verified, output[-600:]
        assert verified or "Exception" in output


@pytest.mark.parametrize("variant", ["name", "crc"])
def test_a_refused_manifest_header_throws_reading_target_sandbox_from_api_26(tmp_path, variant):
    path = _apk(tmp_path, variant)
    _agree(path, 24, None, False, "MANIFEST_NOT_APKSIG_READABLE")
    _agree(path, 24, 26, False, "MANIFEST_NOT_APKSIG_READABLE")
    _agree(path, 24, 25, True)  # targetSandboxVersion not read; targetSdkVersion's exception is caught


@pytest.mark.parametrize("variant", ["name", "crc"])
def test_a_refused_manifest_header_leaves_min_sdk_unknown(tmp_path, variant):
    _agree(_apk(tmp_path, variant), None, None, False, "MIN_SDK_UNKNOWN")


@pytest.mark.parametrize("variant", ["name", "crc"])
def test_a_refused_stamp_entry_header_throws_without_a_stamp_block(tmp_path, variant):
    path = _apk(tmp_path, variant, target="stamp-cert-sha256")
    _agree(path, 24, None, False, "ZIP_LOCAL_HEADER_MISMATCH")
    _agree(path, 24, 25, False, "ZIP_LOCAL_HEADER_MISMATCH")


def test_a_stamp_entry_that_does_not_inflate_throws(tmp_path):
    _agree(_apk(tmp_path, "inflate", target="stamp-cert-sha256"), 24, None, False, "ZIP_ENTRY_INFLATE_FAILED")


def test_the_same_apk_with_honest_headers_verifies(tmp_path):
    path = _apk(tmp_path, "none")
    _agree(path, None, None, True)
    _agree(path, 24, None, True)
    got = identify(str(path), idsig=False)
    assert "SOURCE_STAMP_SIG_MISSING" in [i.code for i in got.verification.warnings]  # the entry was read
