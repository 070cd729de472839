"""Device backups scanned end to end: every app of every backup fixture, hostile backups, reports.

The fixtures are real formats built by ``fixtures/backups/generate.py`` (password
``apkscan-test``); hostile variants are cut or wrapped from them in ``tmp_path``. The
backup APKs are fixture APKs signed by test keys that copy the vendors' *names*
(``wechat-tencent-subject.apk``: package ``com.tencent.mm``, signer subject "Tencent
Technology", not Tencent's key), so a genuine key never confirms anything here and an
impersonation is expected wherever a rule lists the vendor's real certificates.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.cli import main as cli_main
from apkscan.scan import RECORD_OF_SCANNED_APK, scan
from apkscan.sources.files import FileSource
from apkscan.sources.interface import chain_display
from apkscan.sources.walker import WalkOptions
from backup_helpers import (APKS, BACKUPS, PASSWORD, apk_sha256, backup_generator, build_ab, manifest, pem_sha256,
                            zip_folder)

UUID = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"
ACQ = BACKUPS / "androidqf" / UUID
WECHAT_KEY = "0fe4ff85c215918396dadc7cd8ce6963339af33d37751a56e54c7206b63a3c7c"  # tencent.yaml TENCENT_WECHAT
IMPERSONATED = {("app", "weak"), ("impersonation", "strong")}  # vendor package, a key that is not the vendor's
BY_NAME = {("app", "weak")}  # a package name from a list or a backup app's record
ADB_SKIPS = {"app data (not scanned)": 3, "OBB expansion files (not scanned)": 1,
             "key-value backup data (not scanned)": 1, "shared storage (not scanned)": 1,
             RECORD_OF_SCANNED_APK: 1}  # WeChat's _manifest: its APK is listed instead


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(*paths, password=PASSWORD, **opts):
        opts.setdefault("tmp_dir", str(tmp_path / "spool"))
        opts.setdefault("password", (lambda: password))
        doc = scan([FileSource([str(p) for p in paths], WalkOptions(**opts))], rules, policy).to_dict()
        spool = tmp_path / "spool"
        assert not spool.exists() or list(spool.iterdir()) == []  # spooled APKs are gone
        return doc
    return go


def summary(doc, strip: int = 1) -> dict[tuple[str, ...], tuple]:
    """chain below the outermost input -> (package, origin, verdict, {(kind, strength)})."""
    out = {}
    for a in doc["apps"]:
        key = tuple(a["source"]["chain"][strip:])
        assert key not in out, f"listed twice: {key}"
        out[key] = (a["package"], a["identity"]["origin"], a["verdict"],
                    {(f["kind"], f["strength"]) for f in a["findings"]})
    return out


def skips(doc) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in doc["skipped"]:
        out[s["reason"]] = out.get(s["reason"], 0) + s["count"]
    return out


def codes(doc) -> list[str]:
    return [e["code"] for e in doc["errors"]]


# --- adb backups -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["adb-v5-compressed.ab", "adb-v5-aes.ab", "adb-v1-aes-uncompressed.ab"])
def test_adb_backup_apps_records_and_skips(run, name):
    path = BACKUPS / name
    doc = run(path)
    assert summary(doc) == {
        ("apps/com.tencent.mm/a/base.apk",): ("com.tencent.mm", "apk", "prohibited", IMPERSONATED),
        ("apps/com.zhiliaoapp.musically/_manifest",): ("com.zhiliaoapp.musically", "recorded", "prohibited",
                                                       IMPERSONATED),
    }
    # a backed-up install is assembled when it ends (base and splits compared): apps by package
    wechat, tiktok = sorted(doc["apps"], key=lambda a: a["package"] != "com.tencent.mm")
    assert chain_display(tuple(wechat["source"]["chain"])) == f"{path} ▸ apps/com.tencent.mm/a/base.apk"
    assert wechat["source"]["outermost"] == str(path) and wechat["sha256"] == apk_sha256("wechat-tencent-subject.apk")
    # the _manifest of an app whose APK is in the backup is not listed a second time
    assert [a["package"] for a in doc["apps"]].count("com.tencent.mm") == 1
    # the recorded app: the device's certificate, said to be recorded, never verified nor confirmed
    ident = tiktok["identity"]
    assert ident["recorded_by"] == "adb backup _manifest" and ident["signers"] == []
    assert [c["sha256"] for c in ident["recorded_certificates"]] == [pem_sha256("bytedance-like")]
    evidence = [e for f in tiktok["findings"] for e in f["evidence"]]
    assert any("recorded by adb backup _manifest" in (e.get("location") or "") for e in evidence)
    assert not any(e["basis"] in ("certificate", "certificate-present") for e in evidence)  # never verified
    assert skips(doc) == ADB_SKIPS and doc["errors"] == []
    (custody,) = doc["input_files"]
    assert custody["kind"] == "adb-backup" and custody["sha256"] == __import__("hashlib").sha256(
        path.read_bytes()).hexdigest()


def test_password_is_asked_once_and_only_for_encrypted_backups(rules, policy, tmp_path):
    asked = []

    def ask():
        asked.append(1)
        return PASSWORD

    opts = WalkOptions(tmp_dir=str(tmp_path / "t"), password=ask)
    scan([FileSource([str(BACKUPS / "adb-v5-compressed.ab")], opts)], rules, policy)
    assert asked == []  # a plain backup never prompts
    doc = scan([FileSource([str(BACKUPS / "adb-v5-aes.ab"), str(BACKUPS / "adb-v1-aes-uncompressed.ab")],
                           WalkOptions(tmp_dir=str(tmp_path / "t"), password=ask))], rules, policy).to_dict()
    assert asked == [1] and len(doc["apps"]) == 4 and doc["errors"] == []


def _cli(args, env=None):
    return CliRunner().invoke(cli_main, ["scan", "--no-color", "-q", *map(str, args)], env=env or {})


def test_cli_password_option_file_and_environment(tmp_path):
    out = tmp_path / "r.json"
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\nignored second line\n")
    env_off = {"APKSCAN_BACKUP_PASSWORD": ""}
    for extra, env in (([ "--password", PASSWORD], env_off), (["--password-file", pw], env_off),
                       ([], {"APKSCAN_BACKUP_PASSWORD": PASSWORD})):
        res = _cli([BACKUPS / "adb-v5-aes.ab", *extra, "--json", out, "--force"], env)
        assert res.exit_code == 1, res.output  # prohibited apps, nothing failed
        doc = json.loads(out.read_text())
        assert codes(doc) == [] and len(doc["apps"]) == 2


def test_missing_or_wrong_password_is_one_error_and_the_run_goes_on(tmp_path):
    out = tmp_path / "r.json"
    given = [BACKUPS / "adb-v5-aes.ab", BACKUPS / "adb-v1-aes-uncompressed.ab", APKS / "v1v2.apk"]
    # no password anywhere and stdin is no terminal: no prompt, one error per encrypted backup
    res = _cli([*given, "--json", out], {"APKSCAN_BACKUP_PASSWORD": ""})
    doc = json.loads(out.read_text())
    assert res.exit_code == 3, res.output
    assert [(e["code"], e["source"]["chain"]) for e in doc["errors"]] == [
        ("BACKUP_PASSWORD_REQUIRED", [str(given[0])]), ("BACKUP_PASSWORD_REQUIRED", [str(given[1])])]
    assert [a["package"] for a in doc["apps"]] == ["com.example.v1v2"]
    res = _cli([*given, "--password", "not-it", "--json", out, "--force"])
    doc = json.loads(out.read_text())
    assert res.exit_code == 3 and codes(doc) == ["BACKUP_PASSWORD_WRONG"] * 2
    assert [a["package"] for a in doc["apps"]] == ["com.example.v1v2"]
    assert "Traceback" not in res.output


def _plain_ab() -> bytes:
    """The fixtures' backup content, uncompressed and unencrypted (the generator's own entries)."""
    return build_ab(backup_generator().adb_entries(), version=5, compress=False)


@pytest.mark.parametrize("layer,source,fraction,words", [
    ("cipher", "adb-v5-aes.ab", 0.5, "encrypted body"),
    ("zlib", "adb-v5-compressed.ab", 0.5, "zlib stream"),
    ("tar", None, 0.3, "tar stream"),
])
def test_truncated_backup_says_where_and_keeps_what_was_read(run, tmp_path, layer, source, fraction, words):
    data = (BACKUPS / source).read_bytes() if source else _plain_ab()
    cut = tmp_path / f"cut-{layer}.ab"
    cut.write_bytes(data[: int(len(data) * fraction)])
    doc = run(cut, APKS / "v1v2.apk")
    assert set(codes(doc)) == {"BACKUP_TRUNCATED"}
    backup_errors = [e for e in doc["errors"] if e["source"]["chain"] == [str(cut)]]
    assert len(backup_errors) == 1 and words in backup_errors[0]["message"]
    # the APK being read when the stream ended is named too; nothing after it is invented
    assert all(e["source"]["chain"][:1] == [str(cut)] for e in doc["errors"])
    # WeChat's _manifest was read before its APK was cut short: with no APK scanned, the record is listed
    assert [(a["package"], a["identity"]["origin"]) for a in doc["apps"]] == [
        ("com.tencent.mm", "recorded"), ("com.example.v1v2", "apk")]  # and the batch went on


def test_truncated_after_the_apk_keeps_the_apk(run, tmp_path):
    data = (BACKUPS / "adb-v5-compressed.ab").read_bytes()
    cut = tmp_path / "late.ab"
    cut.write_bytes(data[: int(len(data) * 0.9)])
    doc = run(cut)
    assert codes(doc) == ["BACKUP_TRUNCATED"]
    assert list(summary(doc)) == [("apps/com.tencent.mm/a/base.apk",)]


@pytest.mark.parametrize("name", ["adb-v5-compressed.ab", "adb-v5-aes.ab"])
def test_a_backup_with_crlf_header_lines_is_read_as_the_same_backup(run, tmp_path, name):
    """Review 71 F4: the header reader took CR LF lines, the walker's detection did not, so a backup
    that passed through a Windows tool was a ZIP error and its banned apps went unreported."""
    data = (BACKUPS / name).read_bytes()
    lines = 4 if b"\nnone\n" in data[:64] else 9
    end = 0
    for _ in range(lines):
        end = data.index(b"\n", end) + 1
    crlf = tmp_path / "crlf.ab"
    crlf.write_bytes(data[:end].replace(b"\n", b"\r\n") + data[end:])
    assert summary(run(crlf)) == summary(run(BACKUPS / name))


def test_garbage_after_the_magic_never_crashes(run, tmp_path):
    for i, body in enumerate([b"", b"5\n", b"5\n1\nAES-256\n", b"5\n1\nnone\n" + b"\x78\x9c" + bytes(50),
                              b"99\n0\nnone\n", b"5\n0\nrot13\n"]):
        (tmp_path / f"bad{i}.ab").write_bytes(b"ANDROID BACKUP\n" + body)
    doc = run(*sorted(tmp_path.glob("bad*.ab")))
    assert len(doc["errors"]) == 6 and doc["apps"] == []
    assert all(c.startswith("BACKUP_") for c in codes(doc))


def test_backup_inside_a_tar_gz_and_the_depth_bound(run, tmp_path):
    tgz = tmp_path / "pull.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(BACKUPS / "adb-v5-aes.ab", arcname="phone/device.ab")
    doc = run(tgz)
    assert summary(doc) == {
        ("phone/device.ab", "apps/com.tencent.mm/a/base.apk"): ("com.tencent.mm", "apk", "prohibited", IMPERSONATED),
        ("phone/device.ab", "apps/com.zhiliaoapp.musically/_manifest"): ("com.zhiliaoapp.musically", "recorded",
                                                                          "prohibited", IMPERSONATED),
    }
    assert {a["source"]["outermost"] for a in doc["apps"]} == {str(tgz)}
    # gzip (1) + tar (2) + adb backup (3): a bound of 2 stops at the backup, with a reason
    doc = run(tgz, max_depth=2)
    assert doc["apps"] == [] and codes(doc) == ["CONTAINER_TOO_DEEP"]
    assert doc["errors"][0]["source"]["chain"] == [str(tgz), "phone/device.ab"]


def test_a_backup_that_lies_about_its_folders(run, tmp_path):
    """A _manifest filed under another package's folder, an APK outside apps/<pkg>/a/, a `..` name."""
    wechat = (APKS / "wechat-tencent-subject.apk").read_bytes()
    ab = tmp_path / "liar.ab"
    ab.write_bytes(build_ab([
        ("apps/com.example.clean/_manifest", manifest("com.zhiliaoapp.musically", 1, [], False)),
        ("apps/com.example.clean/db/hidden.apk", wechat),  # data folder, but an APK by content: scanned
        ("apps/com.example.clean/db/notes.db", b"SQLite format 3\0"),  # real data: skipped
        ("apps/../../evil.apk", wechat),
        ("junk/wechat.bin", wechat),
    ], version=5, compress=True))
    doc = run(ab)
    got = summary(doc)
    # APKs under odd names are still found by content, whatever they are called
    assert got[("apps/../../evil.apk",)][0] == "com.tencent.mm"
    assert got[("junk/wechat.bin",)][0] == "com.tencent.mm"
    assert got[("apps/com.example.clean/db/hidden.apk",)][0] == "com.tencent.mm"
    # the mismatched record is listed (under the package it names) and the mismatch is reported
    rec = [a for a in doc["apps"] if a["identity"]["origin"] != "apk"]
    assert [(a["package"], a["identity"]["origin"]) for a in rec] == [("com.zhiliaoapp.musically", "listed")]
    assert "BACKUP_MANIFEST_MISMATCH" in codes(doc)
    assert skips(doc)["app data (not scanned)"] == 1


# --- AndroidQF ---------------------------------------------------------------------------------

QF_APPS = [  # (chain below the acquisition, package, origin, verdict, finding kinds/strengths)
    (("apks/com.example.clean_com.example.clean-ZGVm==.apk",), "com.tencent.mm", "apk", "prohibited",
     (("app", "weak"), ("impersonation", "strong"))),
    (("apks/com.example.unknown.apk",), "com.example.v2only", "apk", "allowed", ()),
    (("apks/com.tencent.mm_com.tencent.mm-Zm9v==.apk",), "com.example.clean", "apk", "allowed", ()),
    (("backup.ab", "apps/com.tencent.mm/a/base.apk"), "com.tencent.mm", "apk", "prohibited",
     (("app", "weak"), ("impersonation", "strong"))),
    (("backup.ab", "apps/com.zhiliaoapp.musically/_manifest"), "com.zhiliaoapp.musically", "recorded", "prohibited",
     (("app", "weak"), ("impersonation", "strong"))),
    (("packages.json",), "com.example.fast", "listed", "allowed", ()),  # -fast mode: no hash, no certificate
    (("packages.json",), "com.zhiliaoapp.musically", "recorded", "prohibited",
     (("app", "weak"), ("impersonation", "strong"))),
]


def summary_multi(doc, top: str = "") -> list[tuple]:
    """(chain below the acquisition, package, origin, verdict, finding kinds/strengths), sorted."""
    rows = []
    for a in doc["apps"]:
        key = [k for k in a["source"]["chain"][1:] if not top or k != top]  # a flat layout in top/ is read there
        key[0] = key[0][len(top):] if key[0].startswith(top) else key[0]
        rows.append((tuple(key), a["package"], a["identity"]["origin"], a["verdict"],
                     tuple(sorted((f["kind"], f["strength"]) for f in a["findings"]))))
    return sorted(rows)


def test_androidqf_folder_every_app(run):
    doc = run(ACQ)
    assert summary_multi(doc) == QF_APPS and doc["errors"] == []
    # the names lie (Android 11+): the records of the two APKs present are tied to them by hash, listed once
    # (and WeChat's _manifest in the nested backup, by package)
    assert skips(doc)[RECORD_OF_SCANNED_APK] == 3
    tiktok = next(a for a in doc["apps"] if a["source"]["chain"][1:] == ["packages.json"]
                  and a["package"] == "com.zhiliaoapp.musically")
    assert tiktok["identity"]["recorded_by"] == "AndroidQF packages.json"
    assert [c["sha256"] for c in tiktok["identity"]["recorded_certificates"]] == [pem_sha256("bytedance-like")]
    assert all(f["strength"] != "confirmed" for a in doc["apps"] for f in a["findings"])
    assert skips(doc)["AndroidQF acquisition file (not scanned)"] == 3
    assert {f["kind"] for f in doc["input_files"]} == {"apk", "adb-backup", "backup-file"}  # packages.json too
    assert all(f["sha256"] for f in doc["input_files"])  # APKs of the folder included: custody of every file


@pytest.mark.parametrize("top", [None, UUID])
def test_androidqf_zip_gives_the_same_apps_as_the_folder(run, tmp_path, top):
    archive = tmp_path / "acquisition.zip"
    archive.write_bytes(zip_folder(ACQ, top))
    zipped = run(archive)
    folder = run(ACQ)
    assert summary_multi(zipped, f"{top}/" if top else "") == summary_multi(folder) == QF_APPS
    assert len(zipped["apps"]) == 7 and zipped["errors"] == []
    assert skips(zipped)[RECORD_OF_SCANNED_APK] == 3


def test_recorded_known_vendor_key_is_strong_never_confirmed(run, tmp_path):
    """packages.json claims WeChat's real certificate: the device said so, apkscan did not verify it."""
    acq = tmp_path / "acq"
    acq.mkdir()
    (acq / "acquisition.json").write_text("{}")
    (acq / "packages.json").write_text(json.dumps([
        {"name": "com.tencent.mm", "files": [{"sha256": "ab" * 32, "certificate": {"Sha256": WECHAT_KEY.upper()}}]},
        {"name": "com.example.innocent", "files": [{"sha256": "cd" * 32, "certificate": {"Sha256": WECHAT_KEY}}]},
    ]))
    (acq / "getprop.txt").write_text("[ro.build.version.sdk]: [33]\n")
    doc = run(acq)
    apps = {a["package"]: a for a in doc["apps"]}
    for pkg in apps:
        assert apps[pkg]["identity"]["origin"] == "recorded" and apps[pkg]["verdict"] == "prohibited"
        strengths = {f["strength"] for f in apps[pkg]["findings"]}
        assert strengths and "confirmed" not in strengths and "strong" in strengths
        bases = {e["basis"] for f in apps[pkg]["findings"] for e in f["evidence"]}
        assert "certificate-recorded" in bases and "certificate" not in bases


def test_a_record_is_tied_only_to_an_apk_of_its_own_acquisition(run, tmp_path):
    """The same APK scanned from elsewhere in the run does not hide a record whose APK is missing here."""
    acq = tmp_path / "acq"
    shutil.copytree(ACQ, acq)
    (acq / "apks" / "com.example.clean_com.example.clean-ZGVm==.apk").unlink()  # WeChat's APK: gone
    (acq / "backup.ab").unlink()  # (the nested backup holds the same bytes: that would tie it, rightly)
    doc = run(APKS / "wechat-tencent-subject.apk", acq)
    wechat_record = [a for a in doc["apps"] if a["package"] == "com.tencent.mm"
                     and a["source"]["chain"][1:] == ["packages.json"]]
    assert len(wechat_record) == 1 and wechat_record[0]["identity"]["origin"] == "recorded"
    assert skips(doc)[RECORD_OF_SCANNED_APK] == 1  # only the clean app's record


def test_age_encrypted_acquisition_is_one_clear_error(run, tmp_path):
    age = tmp_path / "0b6c.zip.age"
    age.write_bytes(b"age-encryption.org/v1\n-> X25519 abc\n" + bytes(100))
    doc = run(age, APKS / "v1v2.apk")
    assert codes(doc) == ["CONTAINER_AGE_ENCRYPTED"] and "age --decrypt" in doc["errors"][0]["message"]
    assert [a["package"] for a in doc["apps"]] == ["com.example.v1v2"]


# --- backup apps and text evidence ---------------------------------------------------------------

def test_neo_backup(run):
    doc = run(BACKUPS / "neo")
    assert summary(doc) == {
        ("com.tencent.mm/2024-05-01-10-00-00-000-user_0/base.apk",): ("com.tencent.mm", "apk", "prohibited",
                                                                       IMPERSONATED),
        ("com.zhiliaoapp.musically/2024-05-02-11-00-00-user_0/backup.properties",): (
            "com.zhiliaoapp.musically", "listed", "prohibited", BY_NAME),
    }
    listed = next(a for a in doc["apps"] if a["package"] == "com.zhiliaoapp.musically")
    assert listed["label"] == "TikTok" and listed["identity"]["recorded_by"] == "Neo Backup properties"
    assert skips(doc) == {"app data archive (not scanned)": 2, RECORD_OF_SCANNED_APK: 1} and doc["errors"] == []
    assert {a["source"]["outermost"] for a in doc["apps"]} == {str(BACKUPS / "neo")}


def test_oandbackup(run):
    doc = run(BACKUPS / "oandbackup")
    assert summary(doc) == {("com.example.clean/base.apk",): ("com.example.clean", "apk", "allowed", set())}
    assert skips(doc) == {"app data archive (not scanned)": 1, RECORD_OF_SCANNED_APK: 1} and doc["errors"] == []


def test_swift_backup(run):
    doc = run(BACKUPS / "swift")
    assert summary(doc) == {
        # .app and .splits are one install: the whole other app in .splits is flagged on WeChat's base
        ("com.tencent.mm.app",): ("com.tencent.mm", "apk", "prohibited", IMPERSONATED | {("split-mismatch", "strong")}),
        ("com.tencent.mm.splits", "split_config.arm64_v8a.apk"): ("com.example.v2only", "apk", "allowed", set()),
        ("com.zhiliaoapp.musically.dat",): ("com.zhiliaoapp.musically", "listed", "prohibited", BY_NAME),
    }
    # WeChat's file-name record is retired by its APK read as com.tencent.mm (review 69 F7)
    assert skips(doc) == {"app data archive (not scanned)": 2, "Swift Backup metadata (obfuscated, not read)": 1,
                          RECORD_OF_SCANNED_APK: 1}


def test_titanium_backup_md5_mismatch_is_a_tamper_fact_of_the_apk(run):
    doc = run(BACKUPS / "titanium")
    got = summary(doc)
    notes = "com.example.notes-93fcd5a94670611d2307945547e3cc06.apk.bz2"
    wechat = "com.tencent.mm-b4781525a3f847bfe5c10d6360f265ed.apk.gz"
    assert got == {
        (notes,): ("com.example.notes", "apk", "prohibited", {("app", "strong")}),  # Kaspersky-named signer
        (wechat,): ("com.tencent.mm", "apk", "prohibited", IMPERSONATED),
        ("com.zhiliaoapp.musically-20240502-110000.properties",): ("com.zhiliaoapp.musically", "listed",
                                                                    "prohibited", BY_NAME),
    }
    tamper = {a["source"]["chain"][-1]: [t["code"] for t in a["identity"]["tamper"]] for a in doc["apps"]}
    assert tamper[notes] == ["BACKUP_APK_MD5_MISMATCH"] and tamper[wechat] == []
    assert doc["errors"] == [] and skips(doc) == {"app data archive (not scanned)": 2, RECORD_OF_SCANNED_APK: 2}
    apps = {a["package"]: a for a in doc["apps"]}
    assert apps["com.example.notes"]["sha256"] == apk_sha256("kaspersky-subject-notes.apk")  # decompressed


@pytest.mark.parametrize("name,recorded_by", [("dumpsys-package.txt", "dumpsys package"),
                                              ("pm-list-packages.txt", "pm list packages")])
def test_text_evidence_lists_packages_by_name_only(run, name, recorded_by):
    doc = run(BACKUPS / name)
    got = {a["package"]: (a["identity"]["origin"], a["verdict"], {(f["kind"], f["strength"]) for f in a["findings"]})
           for a in doc["apps"]}
    want = {"com.tencent.mm": ("listed", "prohibited", BY_NAME),
            "com.zhiliaoapp.musically": ("listed", "prohibited", BY_NAME),
            "com.android.shell": ("listed", "allowed", set())}
    if name.startswith("dumpsys"):  # a hidden system package (an updated system app's original) is read too: a
        want["com.google.android.hidden"] = ("listed", "allowed", set())  # field can print that header (review 40 F1)
    assert got == want
    assert {a["identity"]["recorded_by"] for a in doc["apps"]} == {recorded_by}
    assert all(a["identity"]["recorded_certificates"] == [] for a in doc["apps"])


# --- several backups at once, reports ----------------------------------------------------------------

def _copy_backups(dest: Path) -> Path:
    dest.mkdir()
    for p in BACKUPS.iterdir():
        if p.is_dir() and p.name != "__pycache__":
            shutil.copytree(p, dest / p.name)
        elif p.suffix in (".ab", ".txt"):
            shutil.copy(p, dest / p.name)
    return dest


def test_folder_of_several_backups_scans_each_once(run, tmp_path):
    root = _copy_backups(tmp_path / "device-07")
    together = run(root)
    apart = [run(p) for p in sorted(root.iterdir())]

    def rows(doc):  # chain made relative to the copy, so the two runs compare
        out = []
        for a in doc["apps"]:
            chain = [c.replace(str(root) + "/", "") for c in a["source"]["chain"]]
            out.append((tuple(chain), a["package"], a["identity"]["origin"], a["verdict"]))
        return sorted(out)

    expected = sorted(r for d in apart for r in rows(d))
    assert rows(together) == expected and len(expected) == 29  # 3 adb x 2, QF 7, Neo 2, OAB 1, Swift 3, TB 3, text 3 + 4
    assert len(together["errors"]) == 0
    assert sum(s["count"] for s in together["skipped"]) == sum(sum(s["count"] for s in d["skipped"]) for d in apart)


def test_html_groups_apps_by_device_backup(run, tmp_path):
    from apkscan.report import html

    doc = run(BACKUPS / "adb-v5-aes.ab", BACKUPS / "neo", BACKUPS / "titanium", APKS / "v1v2.apk")
    out = tmp_path / "r.html"
    with open(out, "w", encoding="utf-8") as fh:
        html.render(doc, fh)
    page = out.read_text(encoding="utf-8")
    section = page[page.index('<section id="sources">'):page.index("</section>", page.index('<section id="sources">'))]
    rows = {}
    for tr in section.split("<tr>")[2:]:
        cells = [c.split("</td>")[0] for c in tr.split("<td>")[1:]]
        rows[cells[0].removeprefix("<code>").removesuffix("</code>")] = cells[1:5]
    assert rows == {str(BACKUPS / "adb-v5-aes.ab"): ["2", "2", "0", "0"],
                    str(BACKUPS / "neo"): ["2", "2", "0", "0"],
                    str(BACKUPS / "titanium"): ["3", "3", "0", "0"]}
    assert str(APKS / "v1v2.apk") not in section  # an APK given directly is no source row
    assert "apps/com.tencent.mm/a/base.apk" in page and "_manifest" in page


def test_a_flat_backup_folder_does_not_swallow_what_lies_beside_or_below_it(run, tmp_path):
    """One Titanium record in a downloads folder: its own files are read as Titanium, the rest as usual."""
    dl = tmp_path / "Download"
    (dl / "sub").mkdir(parents=True)
    shutil.copy(BACKUPS / "titanium" / "com.tencent.mm-20240501-100000.properties", dl)
    shutil.copy(BACKUPS / "adb-v5-compressed.ab", dl / "x.ab")
    shutil.copy(APKS / "v1v2.apk", dl / "sub" / "v1v2.apk")
    shutil.copytree(BACKUPS / "neo", dl / "sub" / "neo")
    doc = run(dl)
    got = sorted((tuple(a["source"]["chain"]), a["package"], a["identity"]["origin"]) for a in doc["apps"])
    neo = str(dl / "sub" / "neo")
    assert got == sorted([
        # (the Titanium record of WeChat is not listed: a WeChat APK was scanned from this folder, in x.ab)
        ((str(dl), "x.ab", "apps/com.tencent.mm/a/base.apk"), "com.tencent.mm", "apk"),
        ((str(dl), "x.ab", "apps/com.zhiliaoapp.musically/_manifest"), "com.zhiliaoapp.musically", "recorded"),
        ((str(dl / "sub" / "v1v2.apk"),), "com.example.v1v2", "apk"),
        ((neo, "com.tencent.mm/2024-05-01-10-00-00-000-user_0/base.apk"), "com.tencent.mm", "apk"),
        ((neo, "com.zhiliaoapp.musically/2024-05-02-11-00-00-user_0/backup.properties"), "com.zhiliaoapp.musically",
         "listed"),
    ])
    assert doc["errors"] == []


# --- property: mutated real backups never crash the scan -----------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SEEDS = {name: (BACKUPS / name).read_bytes() for name in ("adb-v5-compressed.ab", "adb-v5-aes.ab",
                                                           "adb-v1-aes-uncompressed.ab")}


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(_SEEDS)),
       flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4),
       cut=st.integers(0, 1 << 16))
def test_mutated_backups_give_records_never_exceptions(rules, policy, tmp_path_factory, name, flips, cut):
    data = bytearray(_SEEDS[name])
    for pos, val in flips:
        data[60 + pos % (len(data) - 60)] = val  # past the magic, so the backup reader gets it
    data = data[: max(1, cut % (len(data) + 1))] if cut % 2 == 0 else data
    d = tmp_path_factory.mktemp("ab")
    (d / name).write_bytes(bytes(data))
    doc = scan([FileSource([str(d / name)], WalkOptions(tmp_dir=str(d / "t"), password=lambda: PASSWORD))],
               rules, policy).to_dict()
    assert doc["apps"] or doc["errors"]  # something to say about every backup
    assert all(e["code"] != "INTERNAL_ERROR" for e in doc["errors"])
    assert not (d / "t").exists() or list((d / "t").iterdir()) == []


@pytest.mark.parametrize("layout", ["neo", "oandbackup", "swift", "titanium"])
@pytest.mark.parametrize("top", [None, "Backups"])
def test_a_zipped_backup_folder_gives_the_same_apps(run, tmp_path, layout, top):
    archive = tmp_path / f"{layout}.zip"
    archive.write_bytes(zip_folder(BACKUPS / layout, top))
    zipped, folder = run(archive), run(BACKUPS / layout)
    assert summary_multi(zipped, f"{top}/" if top else "") == summary_multi(folder)
    assert zipped["errors"] == [] and len(zipped["apps"]) >= 1
    assert {a["source"]["outermost"] for a in zipped["apps"]} == {str(archive)}


def test_inspect_reads_an_encrypted_backup_with_the_environment_password(tmp_path):
    out = tmp_path / "ids.json"
    res = CliRunner().invoke(cli_main, ["inspect", str(BACKUPS / "adb-v5-aes.ab"), "--json", str(out)],
                             env={"APKSCAN_BACKUP_PASSWORD": PASSWORD})
    assert res.exit_code == 0, res.output
    assert [i["package"] for i in json.loads(out.read_text())] == ["com.tencent.mm"]
    res = CliRunner().invoke(cli_main, ["inspect", str(BACKUPS / "adb-v5-aes.ab"), "--json", str(out), "--force"],
                             env={"APKSCAN_BACKUP_PASSWORD": ""})
    assert res.exit_code == 3  # nothing read as an APK (as scan): 3, not 1 ("does not verify")
    assert [e["code"] for i in json.loads(out.read_text()) for e in i["errors"]] == ["BACKUP_PASSWORD_REQUIRED"]


def test_a_record_whose_hash_names_another_apps_apk_stays_listed(run, tmp_path):
    """packages.json gives WeChat the hash of the clean APK that is present: the WeChat record is not hidden."""
    acq = tmp_path / "acq"
    shutil.copytree(ACQ, acq)
    (acq / "backup.ab").unlink()
    packages = json.loads((acq / "packages.json").read_text())
    for p in packages:
        if p["name"] == "com.tencent.mm":
            p["files"][0]["sha256"] = apk_sha256("clean-v1v2v3.apk")
        if p["name"] == "com.example.clean":
            p["files"][0]["sha256"] = "00" * 32
    (acq / "packages.json").write_text(json.dumps(packages))
    doc = run(acq)
    records = sorted(a["package"] for a in doc["apps"] if a["identity"]["origin"] != "apk")
    assert records == ["com.example.clean", "com.example.fast", "com.tencent.mm", "com.zhiliaoapp.musically"]
    assert RECORD_OF_SCANNED_APK not in skips(doc)


def test_another_apk_filed_under_a_banned_apps_folder_does_not_hide_its_record(run, tmp_path):
    """Folder names are claims: the record is dropped only for a scanned APK *of that package*."""
    clean = (APKS / "clean-v1v2v3.apk").read_bytes()
    ab = tmp_path / "swap.ab"
    ab.write_bytes(build_ab([
        ("apps/com.tencent.mm/_manifest", manifest("com.tencent.mm", 2080, [], True)),
        ("apps/com.tencent.mm/a/base.apk", clean),
    ], version=5, compress=True))
    neo = tmp_path / "neo"
    shutil.copytree(BACKUPS / "neo", neo)
    (neo / "com.tencent.mm" / "2024-05-01-10-00-00-000-user_0" / "base.apk").write_bytes(clean)
    doc = run(ab, neo)
    got = sorted((a["source"]["chain"][0] == str(ab), a["package"], a["identity"]["origin"], a["verdict"])
                 for a in doc["apps"])
    assert got == sorted([
        (True, "com.example.clean", "apk", "allowed"), (True, "com.tencent.mm", "listed", "prohibited"),
        (False, "com.example.clean", "apk", "allowed"), (False, "com.tencent.mm", "listed", "prohibited"),
        (False, "com.zhiliaoapp.musically", "listed", "prohibited"),
    ])
    assert RECORD_OF_SCANNED_APK not in skips(doc)


@pytest.mark.parametrize("bad", [b"--5", "\u00b2".encode(), b"1" * 25])
def test_one_bad_manifest_number_drops_that_entry_only(run, tmp_path, bad):
    """'--5' and '²' passed the isdigit checks, then int() raised: the bare ValueError became one
    CONTAINER_CORRUPT and every app after it was lost ('0 prohibited, 1 error')."""
    evil = b"1\naaa.evil\n" + bad + b"\n30\n\n1\n0\n"
    (tmp_path / "evil.ab").write_bytes(build_ab([
        ("apps/aaa.evil/_manifest", evil),
        ("apps/com.tencent.mm/a/base.apk", (APKS / "wechat-tencent-subject.apk").read_bytes()),
        ("apps/com.zhiliaoapp.musically/a/base.apk", (APKS / "tiktok-bytedance-subject.apk").read_bytes()),
    ]))
    doc = run(tmp_path / "evil.ab")
    assert codes(doc) == ["BACKUP_MANIFEST_INVALID"]
    assert sorted(a["package"] for a in doc["apps"] if a["verdict"] == "prohibited") == \
        ["com.tencent.mm", "com.zhiliaoapp.musically"]


def test_one_bad_layout_version_code_drops_nothing(run, tmp_path):
    """Neo ``versionCode: "²"`` and Titanium ``app_version_code=²``: the record stays, without a version."""
    neo = tmp_path / "neo"
    shutil.copytree(BACKUPS / "neo", neo)
    props = neo / "com.zhiliaoapp.musically" / "2024-05-02-11-00-00-user_0" / "backup.properties"
    props.write_text(props.read_text().replace("310501", '"\u00b2"'))
    doc = run(neo)
    assert doc["errors"] == []
    assert sorted(a["package"] for a in doc["apps"] if a["verdict"] == "prohibited") == \
        ["com.tencent.mm", "com.zhiliaoapp.musically"]
    titanium = tmp_path / "titanium"
    shutil.copytree(BACKUPS / "titanium", titanium)
    for name, value in (("com.zhiliaoapp.musically-20240502-110000.properties", "\\u00b2"),
                        ("com.example.notes-20240501-100000.properties", "--5")):
        p = titanium / name
        p.write_text("".join(f"app_version_code={value}\n" if line.startswith("app_version_code=") else line
                             for line in p.read_text().splitlines(keepends=True)))
    doc = run(titanium)
    assert doc["errors"] == []
    assert sorted(a["package"] for a in doc["apps"] if a["verdict"] == "prohibited") == \
        ["com.example.notes", "com.tencent.mm", "com.zhiliaoapp.musically"]


def test_a_layout_folder_over_the_file_cap_says_so(run, tmp_path):
    """The layout listing stopped at 100,000 files without a word: acquisition.json + 100,000
    files + apks/zzz.apk lost zzz.apk with 0 errors. Same bound here, made small by the option."""
    acq = tmp_path / "acq"
    shutil.copytree(ACQ, acq)
    for i in range(40):
        (acq / f"filler-{i:03}.txt").write_text("x")
    shutil.copy(APKS / "wechat-impostor.apk", acq / "apks" / "zzz.apk")
    doc = run(acq, max_files=30)
    assert "INPUT_LIMIT_EXCEEDED" in codes(doc)
    assert doc["apps"]  # what was listed is still scanned; the cap is said, not silent
    doc = run(acq)  # under the default cap: the APK is found
    assert "INPUT_LIMIT_EXCEEDED" not in codes(doc)
    assert any(a["source"]["chain"][-1] == "apks/zzz.apk" and a["verdict"] == "prohibited" for a in doc["apps"])


def _gzip_zeros(size: int, head: bytes = b"") -> bytes:
    """A gzip stream of ``head`` + ``size`` zero bytes, built in 1 MiB steps (tiny on disk, never
    whole in memory)."""
    import gzip as _gzip
    out = io.BytesIO()
    with _gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as g:
        g.write(head)
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            g.write(block)
    return out.getvalue()


def test_titanium_compressed_apk_bomb_is_stopped_and_the_batch_goes_on(run, tmp_path):
    """Titanium's .apk.gz was decompressed outside the walker's budget: a 1 MB file inflating to
    1 GiB was spooled whole. Here 80 MiB of zeros (~80 KB on disk) must trip the ratio bound."""
    titanium = tmp_path / "titanium"
    shutil.copytree(BACKUPS / "titanium", titanium)
    bomb = _gzip_zeros(80 << 20, head=(APKS / "wechat-impostor.apk").read_bytes())  # looks like an APK: spooled
    assert len(bomb) < 300_000
    (titanium / f"com.evil.bomb-{'0' * 32}.apk.gz").write_bytes(bomb)
    doc = run(titanium)
    errs = [e for e in doc["errors"] if e["code"] == "CONTAINER_BOMB"]
    assert len(errs) == 1 and errs[0]["source"]["chain"][-1].startswith("com.evil.bomb-"), doc["errors"]
    assert sorted(a["package"] for a in doc["apps"] if a["verdict"] == "prohibited") == \
        ["com.example.notes", "com.tencent.mm", "com.zhiliaoapp.musically"]


def test_adb_payload_bomb_is_stopped_by_ratio_and_the_batch_goes_on(run, tmp_path):
    """The adb payload had a 1 TiB cap but no ratio check: 80 MiB of zeros (~80 KB in the file)
    behind WeChat's APK now stops with CONTAINER_BOMB; what came before it is kept."""
    bomb = build_ab([("apps/com.tencent.mm/a/base.apk", (APKS / "wechat-tencent-subject.apk").read_bytes()),
                     ("apps/a.b/f/zeros", bytes(80 << 20)),
                     ("apps/com.zhiliaoapp.musically/a/base.apk", (APKS / "tiktok-bytedance-subject.apk").read_bytes())])
    assert len(bomb) < 300_000
    (tmp_path / "bomb.ab").write_bytes(bomb)
    doc = run(tmp_path / "bomb.ab", APKS / "wechat-impostor.apk")
    assert codes(doc) == ["CONTAINER_BOMB"]
    assert [e["source"]["chain"] for e in doc["errors"]] == [[str(tmp_path / "bomb.ab")]]
    chains = {tuple(a["source"]["chain"]): a["verdict"] for a in doc["apps"]}
    assert chains[(str(tmp_path / "bomb.ab"), "apps/com.tencent.mm/a/base.apk")] == "prohibited"
    assert chains[(str(APKS / "wechat-impostor.apk"),)] == "prohibited"  # the batch went on
