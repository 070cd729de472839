"""``X-Android-APK-Signed`` read as Java's ``Integer.parseInt`` reads it (review 89 F1, F3), and
``inspect``'s exit code when a reading stops on a fault (F2).

F1: 5,000 leading zeros before ``2`` are 2 for Java; Python's ``int()`` refuses over 4,300 digits,
so the signature reading stopped with ``INTERNAL_ERROR``: no signer, no certificate, not even as
present (a Kaspersky-signed app went from ``prohibited`` to an error). F3: ``𝟚`` (U+1D7DA) is a
surrogate pair in Java's UTF-16, no digit, so apksig ignores the token; Python read it as 2 and
called a v1-only APK stripped of its v2 signature. Each JAR is signed here (v1 only, SHA-1, as
``test_v1_java_reading`` signs) with the header in its ``.SF`` and judged by the installed apksigner.
"""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from apkscan.apk.identify import identify
from apksigner_helper import apksigner_available, apksigner_verify
from test_v1_java_reading import _b64, _both, _key, _pkcs7_sha1, _section, _unsigned_entries

CASES = {  # header value -> (apksig verifies the v1-only JAR, what Java reads)
    "2": (False, "v2 referenced, none there: stripped"),
    "0" * 5000 + "2": (False, "2 after 5,000 zeros"),
    "-" + "0" * 5000 + "2": (True, "-2: an unknown scheme id, a warning"),
    "\U0001D7DA": (True, "no digit in UTF-16: ignored"),
    "\u0662": (False, "Arabic-Indic 2 is 2"),
    "\u0660" * 5000 + "\u0662": (False, "Arabic-Indic zeros, then 2"),
    "0" * 5000: (True, "0: an unknown scheme id"),
    "1" * 11: (True, "out of int range: ignored"),
}


def _signed_jar(header: str) -> bytes:
    """The fixture app's entries signed v1 with ``X-Android-APK-Signed: header`` in the .SF."""
    import io
    import zipfile

    entries = _unsigned_entries()
    sections = {n: _section(n, _both(d)) for n, d in entries.items()}
    manifest = b"Manifest-Version: 1.0\r\nCreated-By: apkscan-test\r\n\r\n" + b"".join(sections.values())
    main = (b"Signature-Version: 1.0\r\nCreated-By: 1.0 (Android)\r\nX-Android-APK-Signed: "
            + header.encode("utf-8") + b"\r\nSHA1-Digest-Manifest: "
            + _b64(hashlib.sha1(manifest).digest()).encode() + b"\r\n\r\n")
    sf = main + b"".join(s[:s.index(b"\r\n") + 2] + b"SHA1-Digest: " + _b64(hashlib.sha1(s).digest()).encode()
                         + b"\r\n\r\n" for s in sections.values())
    key, cert = _key()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("META-INF/MANIFEST.MF", manifest)
        out.writestr("META-INF/CERT.SF", sf)
        out.writestr("META-INF/CERT.RSA", _pkcs7_sha1(sf, key, cert))
        for name, data in entries.items():
            out.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("header", list(CASES), ids=[f"case{i}" for i in range(len(CASES))])
def test_the_header_is_read_as_java_reads_it(tmp_path, header):
    verifies, why = CASES[header]
    path = tmp_path / "v1.apk"
    path.write_bytes(_signed_jar(header))
    identity = identify(str(path), min_sdk=9, idsig=False)
    codes = {i.code for i in identity.errors}
    assert "INTERNAL_ERROR" not in codes
    assert identity.completeness.has("signatures")
    assert identity.verification.verified is verifies, (why, codes)
    assert identity.verification.certificates_present  # the signer's certificate is there whatever the verdict
    if apksigner_available():
        assert apksigner_verify(path, min_sdk=9)["verified"] is verifies, why


def test_inspect_exits_3_when_a_reading_stops_on_a_fault(tmp_path, monkeypatch):
    """F2: an identity whose signatures stopped on INTERNAL_ERROR exited 0 ("read and verified");
    now 3, as ``scan`` counts it. The fault is injected into the v1 reading of a real JAR."""
    from apkscan.apk.signing.v1 import signature_file
    from apkscan.cli import main

    path = tmp_path / "v1.apk"
    path.write_bytes(_signed_jar("2"))

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(signature_file, "apk_signed_ids", broken)
    monkeypatch.setattr(signature_file, "java_int", broken)
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert "INTERNAL_ERROR" in result.output
    assert result.exit_code == 3, result.output
