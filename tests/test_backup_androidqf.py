"""AndroidQF reader on the generated acquisition (folder, ZIP, ZIP with a top folder) and hostile variants."""

from __future__ import annotations

import json
import shutil

import pytest

from apkscan.sources.androidqf import AndroidQFReader, acquisition_root, is_androidqf, looks_like_age
from backup_helpers import BACKUPS, Collected, FolderTree, ZipTree, apk_sha256, cert_sha256s, pem_sha256, zip_folder

UUID = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"
ACQ = BACKUPS / "androidqf" / UUID
EXPECTED_MEMBERS = {
    "apks/com.tencent.mm_com.tencent.mm-Zm9v==.apk": apk_sha256("clean-v1v2v3.apk"),
    "apks/com.example.clean_com.example.clean-ZGVm==.apk": apk_sha256("wechat-tencent-subject.apk"),
    "apks/com.example.unknown.apk": apk_sha256("v2-only.apk"),
}


def check_acquisition(got: Collected, prefix: str = "") -> None:
    backup = (BACKUPS / "adb-v5-compressed.ab").read_bytes()
    import hashlib
    expected = {prefix + k: v for k, v in EXPECTED_MEMBERS.items()}
    expected[prefix + "backup.ab"] = hashlib.sha256(backup).hexdigest()
    assert got.members == expected
    assert got.problems == []
    # every record carries the SHA-256s of its files: the scan ties them to the scanned APKs by hash
    # (despite the swapped names) and lists a record only when none of its APKs was scanned
    assert sorted(a.package for a in got.recorded) == ["com.example.clean", "com.example.fast", "com.tencent.mm",
                                                       "com.zhiliaoapp.musically"]
    assert got.app("com.tencent.mm").apk_sha256s == {apk_sha256("wechat-tencent-subject.apk")}
    assert got.app("com.example.clean").apk_sha256s == {apk_sha256("clean-v1v2v3.apk")}
    assert got.app("com.example.fast").apk_sha256s == frozenset()
    tiktok = got.app("com.zhiliaoapp.musically")
    assert tiktok.recorded_by == "AndroidQF packages.json"
    assert cert_sha256s(tiktok) == [pem_sha256("bytedance-like")]
    cert = tiktok.certificates[0]
    assert cert.subject and "musical.ly" in cert.subject and cert.sha1 and cert.md5 and cert.der is None
    assert "trusted" in tiktok.note
    assert got.app("com.example.fast").certificates == []
    assert got.skip_counts == {"AndroidQF acquisition file (not scanned)": 3}


def test_folder():
    tree = FolderTree(ACQ)
    assert is_androidqf(tree)
    check_acquisition(Collected(AndroidQFReader(tree).entries()))


@pytest.mark.parametrize("top", [None, UUID])
def test_zip_with_and_without_top_folder(top):
    tree = ZipTree(zip_folder(ACQ, top))
    assert is_androidqf(tree)
    check_acquisition(Collected(AndroidQFReader(tree).entries()), f"{top}/" if top else "")


def test_records_of_present_apks_stay_reachable():
    reader = AndroidQFReader(FolderTree(ACQ))
    Collected(reader.entries())
    assert cert_sha256s(reader.recorded["com.tencent.mm"]) == [pem_sha256("tencent-like")]


def test_a_file_named_after_a_package_does_not_hide_its_record(tmp_path):
    acq = tmp_path / "acq"
    shutil.copytree(ACQ, acq)
    (acq / "apks" / "com.example.unknown.apk").rename(
        acq / "apks" / "com.zhiliaoapp.musically_com.zhiliaoapp.musically-MTIz==.apk")
    got = Collected(AndroidQFReader(FolderTree(acq)).entries())
    assert "com.zhiliaoapp.musically" in [a.package for a in got.recorded]


def test_not_androidqf():
    assert not is_androidqf(FolderTree(BACKUPS / "neo"))
    assert acquisition_root(["a/acquisition.json", "b/x"]) is None  # two top folders: not one acquisition
    assert acquisition_root(["x/y/acquisition.json"]) is None


def test_malformed_packages_json_rest_goes_on(tmp_path):
    acq = tmp_path / "acq"
    shutil.copytree(ACQ, acq)
    (acq / "packages.json").write_text('[{"name": "com.x", "files": [')
    got = Collected(AndroidQFReader(FolderTree(acq)).entries())
    assert got.codes == ["ANDROIDQF_PACKAGES_INVALID"]
    assert len(got.members) == 4 and got.recorded == []


def test_hostile_package_entries(tmp_path):
    acq = tmp_path / "acq"
    shutil.copytree(ACQ, acq)
    (acq / "packages.json").write_text(json.dumps([
        {"name": "../../evil", "files": []},
        "not an object",
        {"name": "com.ok", "files": [{"sha256": "zz", "certificate": {"Sha256": "12:34", "Md5": "x" * 32}}]},
        {"name": "com.deep", "files": "nope"},
    ]))
    got = Collected(AndroidQFReader(FolderTree(acq)).entries())
    assert got.codes == ["ANDROIDQF_PACKAGES_INVALID"]
    assert "2 package entries" in got.problems[0].issues[0].message
    assert got.app("com.ok").certificates == []  # malformed digests are dropped, not trusted
    (acq / "packages.json").write_text("[" * 100_000 + "]" * 100_000)
    assert Collected(AndroidQFReader(FolderTree(acq)).entries()).codes == ["ANDROIDQF_PACKAGES_INVALID"]


def test_age_encrypted(tmp_path):
    assert looks_like_age(b"age-encryption.org/v1\n-> X25519 abc\n")
    assert not looks_like_age(b"PK\x03\x04")
    acq = tmp_path / "acq"
    shutil.copytree(ACQ, acq)
    (acq / "extra.zip.age").write_bytes(b"age-encryption.org/v1\n-> X25519 abc\n")
    got = Collected(AndroidQFReader(FolderTree(acq)).entries())
    # the reader hands an age file on by content (an APK under an .age name is scanned: review 38);
    # the walker's age format says what it is (test_androidqf_hostile: once, with the hint)
    assert "extra.zip.age" in got.members and got.codes == []


def test_older_acquisition_without_acquisition_json(tmp_path):
    acq = tmp_path / "acq"
    shutil.copytree(ACQ, acq)
    (acq / "acquisition.json").unlink()
    shutil.rmtree(acq / "apks")
    tree = FolderTree(acq)
    assert is_androidqf(tree)  # packages.json + backup.ab/getprop.txt, as older androidqf wrote
    got = Collected(AndroidQFReader(tree).entries())
    assert list(got.members) == ["backup.ab"]
    assert sorted(a.package for a in got.recorded) == ["com.example.clean", "com.example.fast", "com.tencent.mm",
                                                       "com.zhiliaoapp.musically"]
    assert cert_sha256s(got.app("com.tencent.mm")) == [pem_sha256("tencent-like")]
    assert not is_androidqf(FolderTree(BACKUPS / "neo")) and acquisition_root(["packages.json"]) is None


def test_lone_surrogates_in_json_do_not_reach_reports(tmp_path):
    acq = tmp_path / "acq"
    shutil.copytree(ACQ, acq)
    (acq / "packages.json").write_text('[{"name": "com.x", "files": [{"sha256": "", "certificate": '
                                       '{"Sha256": "' + "ab" * 32 + '", "Subject": "CN=\\ud800"}}]}]')
    got = Collected(AndroidQFReader(FolderTree(acq)).entries())
    got.app("com.x").certificates[0].subject.encode("utf-8")


def test_digest_only_record_becomes_a_recorded_identity():
    from apkscan.sources.records import recorded_identity
    got = Collected(AndroidQFReader(FolderTree(ACQ)).entries())
    identity = recorded_identity(got.app("com.zhiliaoapp.musically"))
    assert identity.origin == "recorded"
    assert [c.sha256 for c in identity.recorded_certificates] == [pem_sha256("bytedance-like")]
    assert recorded_identity(got.app("com.example.fast")).origin == "listed"
