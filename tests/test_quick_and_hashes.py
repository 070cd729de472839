"""--quick triage never claims a full verification; --hashes chooses the whole-file digests;
v1's large STORED entries are checked from the single file pass (issue 11, items 4 and 5)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cli_helpers import evidence_unchanged  # noqa: F401

from apkscan.apk.identify import identify
from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.signing import digests
from apkscan.apk.signing.v1.entry_digests import plan_entry_digests

from conftest import APKS, KEYS, REPO as ROOT, TEST_VENDOR_RULES  # noqa: E402
pytestmark = pytest.mark.usefixtures("evidence_unchanged")
BLOB = digests.PARALLEL_MIN_SIZE + (1 << 20)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("apk", sorted(p.name for p in APKS.glob("*.apk")))
def test_quick_never_claims_a_verification(apk):
    full = identify(APKS / apk)
    quick = identify(APKS / apk, quick=True)
    assert not quick.verified and quick.verification.signers == []
    assert quick.file is None  # the file was not read
    assert quick.completeness.state["content_digests"] == "not checked"
    assert quick.manifest.package == full.manifest.package
    assert {c.sha256 for c in quick.verification.certificates_present} == {c.sha256 for c in full.verification.certificates_present}


def test_quick_on_content_altered_after_signing_still_reads_the_signatures():
    """tampered-entry.apk: content changed after signing. Full: digest errors. Quick: signatures
    verify, yet nothing claims the APK verified and every scheme says what was skipped."""
    full = identify(APKS / "tampered-entry.apk")
    quick = identify(APKS / "tampered-entry.apk", quick=True)
    assert not full.verified
    assert any(i.code.endswith("DIGEST_DID_NOT_VERIFY") for s in full.verification.schemes.values() for i in s.all_errors())
    assert not quick.verified
    for name in ("v1", "v2", "v3"):
        assert "CONTENT_DIGESTS_NOT_CHECKED" in {i.code for i in quick.verification.schemes[name].warnings}
    assert "CONTENT_DIGESTS_NOT_CHECKED" in {i.code for i in quick.verification.warnings}


def test_inspect_quick_says_so_in_text_and_json():
    text = run("inspect", "--quick", str(APKS / "clean-v1v2v3.apk"))
    assert "content_digests: not checked" in text.stdout
    assert "Verifies: NO" in text.stdout and text.returncode == 1
    doc = json.loads(run("inspect", "--quick", "--json", "-", str(APKS / "clean-v1v2v3.apk")).stdout)[0]
    assert doc["completeness"]["content_digests"] == "not checked" and doc["verified"] is False


def test_hashes_default_sha256_only_and_on_request_sha1_md5():
    apk = APKS / "v2-only.apk"
    data = apk.read_bytes()
    plain = json.loads(run("inspect", "--json", "-", str(apk)).stdout)[0]
    assert plain["sha256"] == hashlib.sha256(data).hexdigest() and plain["sha1"] is None and plain["md5"] is None
    asked = json.loads(run("inspect", "--hashes", "sha1,MD5", "--json", "-", str(apk)).stdout)[0]
    assert asked["sha1"] == hashlib.sha1(data).hexdigest() and asked["md5"] == hashlib.md5(data).hexdigest()
    text = run("inspect", "--hashes", "sha1,md5", str(apk)).stdout  # README's example, as text (review 71 F1)
    assert f"SHA-1: {hashlib.sha1(data).hexdigest()}  MD5: {hashlib.md5(data).hexdigest()}" in text
    (size_line,) = [line for line in run("inspect", str(apk)).stdout.splitlines() if line.startswith("  Size:")]
    assert "SHA-1" not in size_line and "MD5" not in size_line
    bad = run("inspect", "--hashes", "sha1,crc32", str(apk))
    assert bad.returncode == 2 and "unknown hash crc32" in bad.stderr and "Traceback" not in bad.stderr


@pytest.fixture(scope="module")
def big_stored_apk(tmp_path_factory):
    """A real APK, signed v1+v2 by apksigner, with a STORED asset v1 must digest; large enough
    for the threaded path (entries hashed on the helper beside the file hashes)."""
    if not shutil.which("apksigner"):
        pytest.skip("apksigner not installed")
    folder = tmp_path_factory.mktemp("bigstored")
    unsigned, signed = folder / "u.apk", folder / "s.apk"
    with zipfile.ZipFile(APKS / "unsigned.apk") as src, zipfile.ZipFile(unsigned, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        info = zipfile.ZipInfo("assets/blob.bin", date_time=(2024, 1, 1, 0, 0, 0))
        dst.writestr(info, os.urandom(BLOB), compress_type=zipfile.ZIP_STORED)
    subprocess.run(["apksigner", "sign", "--key", str(KEYS / "test-rsa.pk8"), "--cert", str(KEYS / "test-rsa.pem"),
                    "--min-sdk-version", "21", "--v3-signing-enabled", "false", "--out", str(signed), str(unsigned)],
                   check=True, capture_output=True, timeout=120)
    return signed


def test_every_signed_entry_is_digested_in_the_single_pass(big_stored_apk):
    with ByteSource(big_stored_apk) as src:
        archive = ZipArchive.open(src)
        plan = plan_entry_digests(archive, 21, 2**31 - 1)
        blob = archive.entry("assets/blob.bin")
        signed = {e.index for e in archive.entries if not e.name.startswith("META-INF/")}
        assert set(plan) == signed and plan[blob.index].entry.stored_size == BLOB
        assert any(archive.entries[i].compressed for i in plan)  # deflated ones too
    ok = identify(big_stored_apk)
    assert ok.verified and ok.verification.schemes["v1"].verified


def test_a_byte_changed_in_a_large_stored_entry_fails_v1_from_the_pass(big_stored_apk, tmp_path):
    data = bytearray(big_stored_apk.read_bytes())
    with ByteSource(big_stored_apk) as src:
        archive = ZipArchive.open(src)
        start = archive.data_offset(archive.entry("assets/blob.bin"))
    data[start + (2 << 20)] ^= 1
    bad = tmp_path / "bad.apk"
    bad.write_bytes(bytes(data))
    identity = identify(bad, min_sdk=21, max_sdk=23)  # only v1 counts below N
    assert not identity.verified
    codes = {i.code for i in identity.verification.schemes["v1"].errors}
    assert "JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY" in codes


def _many_names_one_payload(tmp_path) -> Path:
    """Hostile: 40 central-directory names over ONE 2 MiB stored payload, each with a
    MANIFEST.MF digest, so a naive planner would hash the same bytes 40 times per pass."""
    import base64
    import struct

    from conftest import fixture_tools

    tools = fixture_tools()
    payload = os.urandom(2 << 20)
    digest = base64.b64encode(hashlib.sha256(payload).digest()).decode()
    names = [f"assets/n{i:02d}" for i in range(40)]
    mf = "Manifest-Version: 1.0\r\n\r\n" + "".join(f"Name: {n}\r\nSHA-256-Digest: {digest}\r\n\r\n" for n in names)
    path = tmp_path / "many-names.apk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", mf)
        for n in names:
            zf.writestr(zipfile.ZipInfo(n), payload if n == names[0] else b"x", compress_type=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    first = tools.record(bytes(data), names[0])
    for n in names[1:]:  # point every other name at the first payload, sizes and CRC included
        rec = tools.record(bytes(data), n)
        struct.pack_into("<III", data, rec.offset + 16, first.crc32, first.compressed_size, first.uncompressed_size)
        struct.pack_into("<I", data, rec.offset + 42, first.local_offset)
    path.write_bytes(bytes(data))
    return path


def test_many_names_over_one_payload_are_hashed_once_in_the_pass(tmp_path):
    path = _many_names_one_payload(tmp_path)
    with ByteSource(path) as src:
        archive = ZipArchive.open(src)
        assert "TAMPER_OVERLAPPING_ENTRIES" in {i.code for i in archive.tamper}
        plan = plan_entry_digests(archive, 24, 2**31 - 1)
    assert len(plan) == 1  # the rest stay with v1's own (bounded, reported) path
    identity = identify(path, min_sdk=21)
    assert not identity.verified and "TAMPER_OVERLAPPING_ENTRIES" in {i.code for i in identity.tamper}


@pytest.mark.parametrize("fmt", ["json", "csv", "sarif", "html"])
def test_scan_quick_says_content_digests_not_checked_in_every_format(fmt, tmp_path):
    out = tmp_path / f"report.{fmt}"
    proc = run("scan", "--quick", "-q", f"--{fmt}", str(out), str(APKS / "wechat-tencent-subject.apk"))
    assert proc.returncode in (0, 1), proc.stderr
    text = out.read_text(encoding="utf-8-sig")
    assert ("not checked" in text) or ("CONTENT_DIGESTS_NOT_CHECKED" in text)
    if fmt == "json":
        app = json.loads(text)["apps"][0]
        assert app["verified"] is False and app["identity"]["completeness"]["content_digests"] == "not checked"




def _findings(tmp_path, *extra: str) -> list[tuple[str, str]]:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "testvendor.yaml").write_text(TEST_VENDOR_RULES)
    proc = run("scan", *extra, "--no-builtin-rules", "--rules", str(rules), "--policy", "vendor-watch", "-q",
               "--json", "-", str(APKS / "clean-v1v2v3.apk"))
    app = json.loads(proc.stdout)["apps"][0]
    return sorted((f["kind"], f["strength"]) for f in app["findings"])


def test_quick_never_accuses_a_genuinely_signed_vendor_app(tmp_path):
    """Built to fool --quick: the vendor's own key signs the app. Nothing is verified in quick
    mode, so 'no verified vendor key' must not turn into impersonation or forged-certificate."""
    assert _findings(tmp_path) == [("app", "confirmed")]
    quick = _findings(tmp_path, "--quick")
    assert {k for k, _ in quick} == {"app"} and all(s != "confirmed" for _, s in quick)
