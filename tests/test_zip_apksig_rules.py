"""ZIP structure read as apksig reads it (review 18): fixture APKs changed a few bytes after
signing, then verified by apkscan and, where it is installed, by apksigner.

- EOCD disk fields (F3): apksig and libziparchive ignore them; apkscan verifies and records
  ``TAMPER_EOCD_DISK_FIELDS`` instead of refusing the file.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from apkscan.apk.identify import identify

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
