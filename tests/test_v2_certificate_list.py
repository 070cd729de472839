"""v2/v3 signer certificate lists and keys as apksig reads them (review 28 F4-F8).

Each file is ``fixtures/apks/v2-only.apk`` with its signer's certificate list (and key record)
rewritten and re-signed with the fixture key (``tests/v2_resign.py``): the vendor as adversary.
Where apksigner is installed, each verdict is checked against it too.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apksigner_helper import apksigner_available, apksigner_verify  # noqa: E402
from v2_resign import SIGNER, fixture_certificate, v2_with  # noqa: E402

from apkscan.apk.identify import identify  # noqa: E402
from apkscan.apk.signing.v2v3 import signer as v2signer  # noqa: E402
from apkscan.scan import incomplete  # noqa: E402


def _extra(i: int) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.derive_private_key(1000 + i, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"extra {i}")])
    when = datetime.datetime(2024, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(i + 1).not_valid_before(when).not_valid_after(when + datetime.timedelta(days=9000))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _v2(path: Path):
    ident = identify(str(path), idsig=False)
    v2 = ident.verification.schemes["v2"]
    return ident, v2.verified, [s.certificate.sha256 for s in v2.signers if s.verified and s.certificate]


def _agrees(path: Path, verified: bool) -> None:
    if apksigner_available():
        assert apksigner_verify(path)["verified"] is verified


def test_a_signer_with_33_certificates_verifies(tmp_path):
    """F5: apksig has no cap; 32 extra certificates after the signer's own hid its key."""
    path = _write(tmp_path, "33.apk", v2_with([fixture_certificate()] + [_extra(i) for i in range(32)]))
    ident, verified, signers = _v2(path)
    assert verified and signers == [SIGNER] and ident.verified
    _agrees(path, True)


def test_past_the_certificate_cap_is_an_input_limit(tmp_path):
    """Past the cap (memory bound): an input error with the signatures not read, never a plain
    "does not verify" with complete coverage (the verdict must not read "allowed")."""
    extra = _extra(0)
    path = _write(tmp_path, "cap.apk", v2_with([fixture_certificate()] + [extra] * v2signer.MAX_CERTIFICATES_PER_SIGNER))
    ident, verified, _ = _v2(path)
    code = "INPUT_TOO_MANY_CERTIFICATES"
    assert not verified and not ident.verified
    assert code in {e.code for e in ident.errors} and code in {e.code for e in incomplete(ident)}
    assert not ident.completeness.has("signatures") and ident.completeness.why["signatures"] == code


def test_scan_exits_3_at_the_certificate_cap(tmp_path):
    from cli_helpers import run

    path = _write(tmp_path, "cap.apk", v2_with([fixture_certificate()] + [_extra(0)] * v2signer.MAX_CERTIFICATES_PER_SIGNER))
    done = run("inspect", path)
    assert done.returncode == 3, done.stderr
    assert "signatures: not read (INPUT_TOO_MANY_CERTIFICATES)" in done.stdout
