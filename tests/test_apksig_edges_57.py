"""Review 57's disagreements with apksigner, found by differential mutation, on bytes built here.

- A v3.1 signer whose content digest is wrong: apksig's integrity check adds issues for v2 and
  v3 only, so apksigner verifies the APK; apkscan failed it, and every key that had verified
  over the content (v1, v2, v3) was then called "pasted in" (forged-certificate, weak). Only the
  v3.1 key's holder can build such a block: the vendor as adversary. Now: verified as apksigner
  says, with the warning ``V31_SIG_APK_DIGEST_DID_NOT_VERIFY`` (Android 13+ would refuse it).
- Directory records (names ending in ``/``) are no entries to apksig's v1 verifier: two
  ``assets/`` records are no duplicate, and a MANIFEST.MF section naming ``assets/`` names a
  missing entry (apksigner, current and Debian's 31.0.2, rejects that file).
"""

from __future__ import annotations

import zipfile

import pytest
from conftest import APKS, KEYS
from v2_resign import v31_rotation, write

from apkscan.apk.identify import identify
from apkscan.evaluate import evaluate
from apkscan.policy.loader import load_policy
from apkscan.rules.loader import load_ruleset

OLD_KEY = "6612220891738c127f61a8e7c04ad54172f3347940beeaf2859281128cecf09f"  # fixtures/keys/test-rsa-old
NEW_KEY = "539231dfabe39d306e3fd51713bb3fb3f00ee1a9e28b3389b97cbe58972cf1d9"
PACK = f"""schema: apkscan-rules/1
pack: oldvendor
vendor: OldVendor
version: "2026.11.30"
reviewed: "2026-11-30"
sources:
  S1: "fixtures/keys/test-rsa-old.pem: the vendor key in this test"
certificates:
  - id: OLD_KEY
    sha256: {OLD_KEY}
    confidence: high
    references: [S1]
rules:
  - id: oldvendor.lineage
    app: Rotated
    match:
      package: [com.example.lineage]
      certificates: [OLD_KEY]
    references: [S1]
"""


def _codes(issues) -> set[str]:
    return {i.code for i in issues}


@pytest.mark.parametrize("bad", [False, True])
def test_a_v31_signer_over_a_wrong_digest_verifies_as_apksigner_says_with_a_warning(tmp_path, bad):
    path = write(tmp_path, "v31.apk", v31_rotation(bad_v31_digest=bad))
    ident = identify(str(path), idsig=False)
    v = ident.verification
    assert ident.verified and v.verified_using and "v31" in v.verified_using
    v31 = v.schemes["v31"]
    assert v31.verified and not v31.all_errors()
    assert ("V31_SIG_APK_DIGEST_DID_NOT_VERIFY" in _codes(v31.warnings)) is bad
    assert {s.certificate.sha256 for s in v31.signers if s.verified} == {NEW_KEY}
    assert {s.certificate.sha256 for s in v.schemes["v3"].signers if s.verified} == {OLD_KEY}
    if bad:  # a v3 signer over a wrong digest still fails: only v3.1 is apksig's exception
        assert "V3_SIG_APK_DIGEST_DID_NOT_VERIFY" not in _codes(ident.errors)


def test_the_vendors_key_stays_a_confirmed_match_when_only_its_v31_digest_is_wrong(tmp_path):
    """The vendor signs v1/v2/v3 with its listed key and breaks its own v3.1 digest: the listed
    key verified over the content, so the app is the vendor's (confirmed), never "pasted in"."""
    rules = tmp_path / "oldvendor.yaml"
    rules.write_text(PACK)
    ruleset = load_ruleset([rules], builtin=False)
    for bad in (False, True):
        path = write(tmp_path, f"v31-{bad}.apk", v31_rotation(bad_v31_digest=bad))
        result = evaluate(identify(str(path), idsig=False), ruleset, load_policy("vendor-watch"), source=str(path))
        assert [(f.kind, f.strength) for f in result.findings] == [("app", "confirmed")], bad


def test_inspect_prints_a_schemes_warnings(tmp_path):
    path = write(tmp_path, "v31.apk", v31_rotation(bad_v31_digest=True))
    from click.testing import CliRunner

    from apkscan.cli import main

    res = CliRunner().invoke(main, ["inspect", "--fail-on", "never", str(path)])
    assert res.exit_code == 0, res.output
    assert "WARNING (v31) V31_SIG_APK_DIGEST_DID_NOT_VERIFY" in res.output


def _jar(extra: list[tuple[str, bytes]], listed: tuple[str, ...] = ()) -> bytes:
    """fixtures' v1-only.apk's entries plus ``extra`` records (names may repeat), v1-signed here
    with fixtures/keys/test-rsa; MANIFEST.MF lists the plain entries and the ``listed`` names."""
    import base64
    import hashlib
    import io
    import warnings

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    def b64(data: bytes) -> str:
        return base64.b64encode(hashlib.sha256(data).digest()).decode()

    with zipfile.ZipFile(APKS / "v1-only.apk") as zf:
        entries = [(n, zf.read(n)) for n in zf.namelist() if not n.startswith("META-INF/")]
    named = entries + [(n, d) for n, d in extra if n in listed]
    sections = [f"Name: {n}\r\nSHA-256-Digest: {b64(d)}\r\n\r\n".encode() for n, d in named]
    manifest = b"Manifest-Version: 1.0\r\nCreated-By: apkscan-test\r\n\r\n" + b"".join(sections)
    sf = (f"Signature-Version: 1.0\r\nCreated-By: 1.0 (Android)\r\nSHA-256-Digest-Manifest: {b64(manifest)}\r\n\r\n"
          + "".join(f"Name: {n}\r\nSHA-256-Digest: {b64(sec)}\r\n\r\n" for (n, _), sec in zip(named, sections))).encode()
    key = serialization.load_der_private_key((KEYS / "test-rsa.pk8").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((KEYS / "test-rsa.pem").read_bytes())
    block = pkcs7.PKCS7SignatureBuilder().set_data(sf).add_signer(cert, key, hashes.SHA256()).sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoAttributes])
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        warnings.simplefilter("ignore")  # zipfile warns of a repeated name: the point of these files
        for name, data in [("META-INF/MANIFEST.MF", manifest), ("META-INF/CERT.SF", sf), ("META-INF/CERT.RSA", block),
                           *entries, *extra]:
            out.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("extra,listed,verifies", [
    ([("assets/", b""), ("assets/", b"")], (), True),  # two directory records: no duplicate entry
    ([("META-INF/", b""), ("META-INF/", b"")], (), True),
    ([("assets/", b"hello")], (), True),  # a directory record holding data: still no entry
    ([("assets/", b"")], ("assets/",), False),  # MANIFEST.MF names a directory record: a missing entry
    ([("a.txt", b"x"), ("a.txt", b"x")], ("a.txt",), False),  # the control: a file named twice is a duplicate
])
def test_directory_records_are_no_v1_entries_as_in_apksig(tmp_path, extra, listed, verifies):
    from apksigner_helper import apksigner_available, apksigner_verify

    path = write(tmp_path, "dirs.apk", _jar(extra, listed))
    ident = identify(str(path), idsig=False)
    v1 = ident.verification.schemes["v1"]
    assert v1.verified is verifies, [i.code for i in v1.all_errors()]
    if not verifies:
        want = "JAR_SIG_MISSING_ZIP_ENTRY_REFERENCED_IN_MANIFEST" if extra[0][0].endswith("/") else "JAR_SIG_DUPLICATE_ZIP_ENTRY"
        assert want in _codes(v1.all_errors())
    if len(extra) > 1:  # the archive's own fact stays: Android's ZIP reader refuses a repeated name
        assert "TAMPER_DUPLICATE_ENTRY" in _codes(ident.tamper)
    if apksigner_available():
        assert apksigner_verify(path, min_sdk=21)["verified"] is verifies
