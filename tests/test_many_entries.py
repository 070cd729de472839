"""APKs of many entries: the state v1 and the single pass keep per entry (MANIFEST.MF's
sections as one ``Sections`` table, the pass's verdicts as ``EntryDigests``), and the edge
cases of those structures: duplicate names, non-ASCII names, entries without a section,
sections without an entry, the plan's entry cap. Real bytes, signed by apksigner."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tracemalloc
import zipfile

import pytest

from apkscan.apk.identify import identify
from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.signing import digests
from apkscan.apk.signing.v1 import entry_digests
from apkscan.apk.signing.v1 import jar_manifest as jm
from apkscan.apk.signing.v1.entry_digests import plan_entry_digests

from conftest import APKS, KEYS

NON_ASCII = "assets/données/café-文件.txt"
COUNT = 6000
# identify's traced peak on the fixture below: 10.6 MB before the per-entry state was made compact
# (a dict of digests per entry, a tuple per MANIFEST.MF attribute, ...), 7.0 MB after
PEAK = 8_800_000


def _sign(unsigned, signed, key="tencent-like"):
    subprocess.run(["apksigner", "sign", "--key", str(KEYS / f"{key}.pk8"), "--cert", str(KEYS / f"{key}.pem"),
                    "--min-sdk-version", "18", "--v4-signing-enabled", "false", "--out", str(signed), str(unsigned)],
                   check=True, capture_output=True, timeout=300)


def _cert_sha256(key: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_pem_x509_certificate((KEYS / f"{key}.pem").read_bytes())
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """A Tencent-keyed APK of COUNT small deflated entries plus a non-ASCII name, v1+v2+v3."""
    if not shutil.which("apksigner"):
        pytest.skip("apksigner not installed")
    folder = tmp_path_factory.mktemp("many")
    unsigned, signed = folder / "u.apk", folder / "s.apk"
    with zipfile.ZipFile(APKS / "unsigned.apk") as src, zipfile.ZipFile(unsigned, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr(NON_ASCII, "non-ASCII name\n" * 50)
        for k in range(COUNT):
            dst.writestr(f"assets/d{k // 1000}/file-{k:06d}.txt", f"x{k}".encode())
    _sign(unsigned, signed)
    return signed


def _v1_codes(identity):
    return [i.code for i in identity.verification.schemes["v1"].errors]


def _rewritten(src, dst, *, drop=(), extra=()):
    """The APK's entries (bytes as stored) without ``drop``, plus ``extra`` (name, data) entries."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename not in drop:
                zout.writestr(info, zin.read(info))
        for name, data in extra:
            zout.writestr(name, data)
    return dst


# ---------------------------------------------------------------------- the whole APK
def test_a_banned_vendor_apk_of_many_entries_verifies_within_bounded_memory(many):
    """Regression (issue 12): the pass kept a dict of digests per entry, MANIFEST.MF's sections
    as tuples of (name, value) strings, the plan and a digest state per entry at once: ~1.4 KB
    an entry (65,000 entries: 93 MB traced). Now well under half of that."""
    tracemalloc.start()
    try:
        identity = identify(many)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert identity.verified and identity.verification.schemes["v1"].verified
    assert [c.sha256 for c in identity.verification.signers] == [_cert_sha256("tencent-like")]  # verified, not just present
    assert peak < PEAK, f"{peak / COUNT:.0f} bytes traced per entry"


def test_a_changed_non_ascii_entry_is_caught_by_the_pass(many, tmp_path):
    with ByteSource(many) as src:
        archive = ZipArchive.open(src)
        entry = archive.entry(NON_ASCII)
        assert entry.raw_name == NON_ASCII.encode()
        assert entry.index in plan_entry_digests(archive, 21, 23)  # the pass checks it, not v1 alone
    bad = _rewritten(many, tmp_path / "bad.apk", drop=(NON_ASCII,), extra=((NON_ASCII, b"changed\n"),))
    identity = identify(bad, min_sdk=21, max_sdk=23)  # only v1 counts below N
    assert not identity.verified
    assert _v1_codes(identity) == ["JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY"]
    assert NON_ASCII in identity.verification.schemes["v1"].errors[0].message


def test_an_entry_without_a_section_is_an_error_and_the_rest_still_checked(many, tmp_path):
    bad = _rewritten(many, tmp_path / "extra.apk", extra=(("assets/added.txt", b"not signed\n"),))
    identity = identify(bad, min_sdk=21, max_sdk=23)
    assert not identity.verified
    assert _v1_codes(identity) == ["JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_MANIFEST"]


def test_a_section_without_an_entry_is_an_error(many, tmp_path):
    bad = _rewritten(many, tmp_path / "fewer.apk", drop=("assets/d3/file-003333.txt",))
    identity = identify(bad, min_sdk=21, max_sdk=23)
    assert not identity.verified
    assert _v1_codes(identity) == ["JAR_SIG_MISSING_ZIP_ENTRY_REFERENCED_IN_MANIFEST"]
    assert "assets/d3/file-003333.txt" in identity.verification.schemes["v1"].errors[0].message


def test_a_duplicate_entry_name_is_an_error(many, tmp_path):
    with pytest.warns(UserWarning):  # zipfile: "Duplicate name"
        bad = _rewritten(many, tmp_path / "dup.apk", extra=((NON_ASCII, b"a second one\n"),))
    identity = identify(bad, min_sdk=21, max_sdk=23)
    assert not identity.verified
    assert _v1_codes(identity) == ["JAR_SIG_DUPLICATE_ZIP_ENTRY"]
    assert "TAMPER_DUPLICATE_ENTRY" in {i.code for i in identity.tamper}


def test_entries_past_the_plan_cap_are_verified_by_v1_itself(many, tmp_path, monkeypatch):
    """The plan checks at most MAX_ENTRIES entries in the pass; v1 streams the others: a change
    past the cap is found all the same, and the batch goes on with the same verdict."""
    monkeypatch.setattr(entry_digests, "MAX_ENTRIES", 100)
    with ByteSource(many) as src:
        archive = ZipArchive.open(src)
        plan = plan_entry_digests(archive, 21, 23)
        assert len(plan) == 100
        last = max((e for e in archive.entries if not e.name.startswith("META-INF/")), key=lambda e: e.local_header_offset)
        assert last.index not in plan
    assert identify(many, min_sdk=21, max_sdk=23).verified
    bad = _rewritten(many, tmp_path / "late.apk", drop=(last.name,), extra=((last.name, b"changed"),))
    identity = identify(bad, min_sdk=21, max_sdk=23)
    assert not identity.verified
    assert _v1_codes(identity) == ["JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY"]


# ---------------------------------------------------------------------- the structures
MANIFEST = ("Manifest-Version: 1.0\r\nCreated-By: t\r\n\r\n"
            "Name: a.txt\r\nSHA-256-Digest: AAAA\r\n\r\n"
            "Name: caf\u00e9/\u6587\u4ef6.txt\r\nSHA-256-Digest: BBBB\r\n\r\n"
            "SHA-256-Digest: CCCC\r\n\r\n"  # a section without a name
            "Name: a.txt\r\nSHA1-Digest: DDDD\r\n\r\n"  # a second section of one name
            "Name: long/na\r\n me.txt\r\nSHA-256-Digest: EE\r\n EE\r\n\r\n").encode()


def test_the_sections_table_reads_as_the_eager_sections():
    main, eager = jm.parse(MANIFEST)
    lazy_main, table = jm.parse(MANIFEST, lazy=True)
    assert lazy_main == main and list(table) == eager and table[1:3] == eager[1:3]
    assert table.names == ["a.txt", "caf\u00e9/\u6587\u4ef6.txt", None, "a.txt", "long/name.txt"]
    assert table.first("a.txt") == 0 and table.get("a.txt").get("SHA-256-Digest") == "AAAA"  # the first of a name
    assert table.get("long/name.txt").get("sha-256-digest") == "EEEE"  # continuation lines joined
    assert table.get("missing") is None and "a.txt" in table and "missing" not in table


def test_digests_to_verify_on_a_lazy_section_as_on_an_eager_one():
    _main, eager = jm.parse(MANIFEST)
    _main, table = jm.parse(MANIFEST, lazy=True)
    for lo, hi in ((1, 17), (18, 40), (1, 40)):
        for i, section in enumerate(eager):
            assert jm.digests_to_verify(table[i], "-Digest", lo, hi) == jm.digests_to_verify(section, "-Digest", lo, hi)


def test_the_entry_verdict_table():
    table = digests.EntryDigests(4)
    table.put(0, ())
    table.put(2, ("sha256",))
    error = digests.ApkFormatError("ZIP_ENTRY_INFLATE_FAILED", "x")
    table.put(3, error)
    table.put(3, ())  # an index is put once
    table.put(9, ())  # out of range: ignored
    assert dict(table) == {0: (), 2: ("sha256",), 3: error}
    assert 1 not in table and table.get(1) is None and len(table) == 3


def test_a_digest_state_hands_on_only_a_verdict(many):
    from apkscan.apk.signing import lanes

    with ByteSource(many) as src:
        archive = ZipArchive.open(src)
        entry = archive.entry(NON_ASCII)
        start = archive.data_offset(entry)
        data = src.read(start, entry.stored_size)
    right = hashlib.sha256("non-ASCII name\n".encode() * 50).digest()
    for expected, verdict in ((right, ()), (bytes(32), ("sha256",)), (right[:20], None)):
        table = digests.EntryDigests(len(archive.entries))
        d = lanes.EntryDigest(entry, start, ("sha256",), lambda: None, table, expected)
        d.update(memoryview(data))
        d.close()
        d.close()  # closed once: nothing more
        assert table.get(entry.index) == verdict and d.hashers is None
