"""MANIFEST.MF and .SF files of large APKs (review 18, F6).

apksig has no size cap: a normally signed APK with 20,000 long-named entries has a 20 MB
MANIFEST.MF and .SF and verifies. apkscan verifies it too; its caps (``MAX_MANIFEST_SIZE``
bytes, ``MAX_ITEMS`` attributes per file) bound memory, and hitting one is an input-level
limit (input error, signatures not claimed read), never a plain "does not verify".
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apkscan.apk.signing.v1 import jar_manifest as jm
from apkscan.scan import incomplete

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from apksigner_helper import apksigner_available, apksigner_verify  # noqa: E402

TEST_RSA = "3400f8cb"


@pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed")
def test_v1_apk_with_a_20_mb_manifest_verifies(tmp_path):
    import generate

    app = generate.App("com.example.bigmanifest", "Big Manifest", min_sdk=21, target_sdk=29)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(generate.build_unsigned(app))) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        for i in range(20_000):  # names of ~900 bytes: MANIFEST.MF and .SF of ~20 MB each
            zout.writestr(zipfile.ZipInfo(f"assets/{'d' * 880}/{i:05d}", generate.ENTRY_DATE), b"")
    path = tmp_path / "big-manifest.apk"
    path.write_bytes(generate.sign(buf.getvalue(), tmp_path, ["test-rsa"], v1=True, v2=False, v3=False, min_sdk=21))
    with zipfile.ZipFile(path) as z:
        assert z.getinfo(jm.MANIFEST_NAME).file_size > 16 << 20  # over the old cap
    ident = identify(path, idsig=False)
    assert not ident.errors, ident.errors
    assert ident.verified and ident.completeness.complete
    assert ident.verification.verified_using == ["v1"]
    assert [c.sha256[:8] for c in ident.verification.signers] == [TEST_RSA]
    assert apksigner_verify(path)["verified"]


def _with_manifest(dst: Path, manifest: bytes) -> Path:
    """v1-only.apk with its MANIFEST.MF replaced (deflated: small on disk)."""
    with zipfile.ZipFile(FIXTURES / "apks" / "v1-only.apk") as zin, \
            zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, manifest if info.filename == jm.MANIFEST_NAME else zin.read(info),
                          compress_type=zipfile.ZIP_DEFLATED)
    return dst


def _assert_partly_read(ident, code: str) -> None:
    assert code in {e.code for e in ident.errors}, ident.errors
    assert code in {e.code for e in incomplete(ident)}  # listed as an input error: scanned in part
    assert not ident.verified
    assert ident.completeness.has("manifest") and ident.manifest.package == "com.example.v1only"
    assert not ident.completeness.has("signatures") and ident.completeness.why["signatures"] == code
    assert code in {e.code for e in ident.verification.schemes["v1"].errors}


def test_manifest_over_the_size_cap_is_an_input_limit(tmp_path):
    path = _with_manifest(tmp_path / "huge.apk", b"Manifest-Version: 1.0\r\n\r\n" + b"x" * jm.MAX_MANIFEST_SIZE)
    _assert_partly_read(identify(path, idsig=False), "ZIP_ENTRY_TOO_LARGE")


def test_manifest_over_the_attribute_cap_is_an_input_limit(tmp_path):
    path = _with_manifest(tmp_path / "many.apk", b"a\n" * (jm.MAX_ITEMS + 1))
    _assert_partly_read(identify(path, idsig=False), "INPUT_JAR_MANIFEST_LIMIT")


def test_inspect_says_the_signatures_were_not_read(tmp_path):
    """Review 24: inspect's text showed a plain "Verifies: NO" for a cap hit (the JSON said more)."""
    from cli_helpers import run

    path = _with_manifest(tmp_path / "many.apk", b"a\n" * (jm.MAX_ITEMS + 1))
    done = run("inspect", path)
    assert done.returncode == 3, done.stderr
    assert "signatures: not read (INPUT_JAR_MANIFEST_LIMIT)" in done.stdout


@pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed")
def test_entry_names_are_held_once(tmp_path):
    """A long entry name is held once: the ZIP entry keeps no byte copy of an ASCII name, and the
    MANIFEST.MF and .SF sections name the entry with the ZIP's own string (65,000 names of 190
    bytes held ~45 MB of copies). A non-ASCII name keeps its bytes, and both still verify."""
    import generate

    from apkscan.apk.io.bytesource import ByteSource
    from apkscan.apk.io.zipreader import ZipArchive
    from apkscan.apk.signing.v1 import signature_file

    app = generate.App("com.example.names", "Names", min_sdk=21, target_sdk=29)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(generate.build_unsigned(app))) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        for i in range(200):
            zout.writestr(zipfile.ZipInfo(f"assets/{'x' * 180}/{i:03d}", generate.ENTRY_DATE), b"%d" % i)
        zout.writestr(zipfile.ZipInfo("assets/caf\u00e9-\u5fae\u4fe1", generate.ENTRY_DATE), b"accent")
    path = tmp_path / "names.apk"
    path.write_bytes(generate.sign(buf.getvalue(), tmp_path, ["test-rsa"], v1=True, v2=False, v3=False, min_sdk=21))

    with ByteSource(str(path)) as source:
        archive = ZipArchive.open(source)
        with zipfile.ZipFile(path) as z:
            assert [e.name_bytes for e in archive.entries] == [i.orig_filename.encode() for i in z.infolist()]
        accented = archive.entry("assets/caf\u00e9-\u5fae\u4fe1")
        assert accented.raw_name == "assets/caf\u00e9-\u5fae\u4fe1".encode()
        assert all(e.raw_name is None for e in archive.entries if e.name.isascii())
        manifests = jm.ManifestOnce(archive)
        entry = archive.entry(jm.MANIFEST_NAME)
        main, sections = manifests.parse(entry, jm.MAX_MANIFEST_SIZE)
        by_name = {s.name: s for s in sections}
        assert len(by_name) > 200 and all(name is archive.entry(name).name for name in by_name)
        sf = archive.read(archive.entry("META-INF/TEST-RSA.SF"), jm.MAX_MANIFEST_SIZE)
        check = signature_file.verify_sf(sf, "META-INF/TEST-RSA.SF", manifests.read(entry, jm.MAX_MANIFEST_SIZE),
                                         main, by_name, 21, 29, frozenset())
        assert not check.errors and check.entries == set(by_name)
        assert all(name is by_name[name].name for name in check.entries)
    ident = identify(path, idsig=False)
    assert ident.verified and ident.verification.verified_using == ["v1"], ident.errors
    assert apksigner_verify(path)["verified"]
