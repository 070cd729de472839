"""Scanning containers end to end: every app, its chain and verdict, skips, errors, custody."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.cli import main as cli_main
from apkscan.scan import scan, scan_item, ScanSettings
from apkscan.sources.files import FileSource
from apkscan.sources.interface import RecordedApp, RecordedCertificate
from apkscan.sources.walker import WalkOptions
from apkscan.splits import DUPLICATE

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
CONTAINERS = REPO / "fixtures" / "containers"
SCHEMA = REPO / "apkscan" / "report" / "schema" / "scan-result.schema.json"
INDEX = json.loads((APKS / "index.json").read_text())
KEYS = INDEX["keys"]


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(*paths, **opts):
        opts.setdefault("tmp_dir", str(tmp_path / "spool"))
        result = scan([FileSource([str(p) for p in paths], WalkOptions(**opts))], rules, policy)
        doc = result.to_dict()
        spool = tmp_path / "spool"
        assert not spool.exists() or list(spool.iterdir()) == []  # temporary files are gone
        return doc
    return go


def apps_by_chain(doc):
    return {tuple(a["source"]["chain"][1:]): a for a in doc["apps"]}


def skipped(doc):
    return {s["reason"]: s["count"] for s in doc["skipped"]}


def test_bundletool_apks_one_app_with_a_planted_split(run):
    doc = run(CONTAINERS / "bundletool.apks")
    assert [a["source"]["chain"][1] for a in doc["apps"]] == ["splits/base-master.apk"]
    app = doc["apps"][0]
    assert app["package"] == "com.example.clean" and app["identity"]["split"] is None
    assert app["source"]["outermost"] == str(CONTAINERS / "bundletool.apks")
    splits = {s["split"]: s for s in app["splits"]}
    assert set(splits) == {"config.en", "config.xxhdpi"}
    assert splits["config.en"]["mismatch"] == [] and splits["config.en"]["verified"]
    assert splits["config.en"]["signers"] == [KEYS["test-rsa"]["cert_sha256"]]
    assert splits["config.xxhdpi"]["signers"] == [KEYS["impostor"]["cert_sha256"]]
    assert splits["config.xxhdpi"]["mismatch"] == ["verified signers differ from the base's"]
    assert splits["config.xxhdpi"]["source"]["chain"][1] == "splits/base-xxhdpi.apk"
    mm = [f for f in app["findings"] if f["kind"] == "split-mismatch"]
    assert len(mm) == 1 and mm[0]["verdict"] == "review"
    # a bundle fact, never read as a package or certificate match by a policy
    assert {e["basis"] for e in mm[0]["evidence"]} == {"bundle"}
    assert app["verdict"] == "review" and app["policy"]["decision"] == "split-mismatch"
    # the standalone is a byte copy of the master: counted once, the copy listed as skipped
    assert skipped(doc)[DUPLICATE] == 1
    assert skipped(doc)["bundle metadata (a claim, not an identity)"] == 1  # toc.pb
    assert doc["errors"] == []


def test_sai_apks_wechat_is_prohibited_and_its_split_consistent(run):
    doc = run(CONTAINERS / "wechat-sai.apks")
    (app,) = doc["apps"]
    assert app["source"]["chain"][1:] == ["base.apk"]
    assert app["package"] == "com.tencent.mm" and app["verdict"] == "prohibited"
    assert [(s["split"], s["mismatch"]) for s in app["splits"]] == [("config.arm64_v8a", [])]
    assert skipped(doc) == {"bundle metadata (a claim, not an identity)": 2}


def test_xapk_lists_the_obb_and_does_not_scan_it(run):
    doc = run(CONTAINERS / "clean.xapk")
    (app,) = doc["apps"]
    assert app["source"]["chain"][1:] == ["com.example.clean.apk"] and app["verdict"] == "allowed"
    assert [s["split"] for s in app["splits"]] == ["config.en"]
    s = {x["reason"]: x for x in doc["skipped"]}
    assert s["OBB data, not an APK"]["examples"] == ["Android/obb/com.example.clean/main.1.com.example.clean.obb"]


@pytest.mark.parametrize("decoy", ["manifest.json", "icon.png", "Android/obb/com.x/main.1.com.x.obb"])
def test_a_corrupt_metadata_member_hides_no_later_apk_of_a_bundle(run, tmp_path, decoy):
    """Members skipped by name are checked by their first bytes; one whose deflate data is
    corrupt is that member's problem, not the bundle's: the TikTok APK after it is still
    scanned. (A review found a plain zlib.error ending the whole bundle walk.)"""
    xapk = tmp_path / "x.xapk"
    with zipfile.ZipFile(xapk, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(decoy, b'{"package_name": "com.zhiliaoapp.musically"}' * 40)
        z.write(APKS / "tiktok-bytedance-subject.apk", "base.apk")
    data = bytearray(xapk.read_bytes())
    info = zipfile.ZipFile(xapk).getinfo(decoy)
    start = info.header_offset + 30 + len(decoy.encode()) + len(info.extra)
    data[start] = 0xFF  # no valid deflate block starts with 0b11 as its type
    xapk.write_bytes(bytes(data))
    doc = run(xapk)
    assert [(a["package"], a["verdict"]) for a in doc["apps"]] == [("com.zhiliaoapp.musically", "prohibited")]
    assert "CONTAINER_CORRUPT" not in [e["code"] for e in doc["errors"]]


def test_apkm_bundle_signature_never_becomes_the_apps_certificate(run):
    """META-INF/APKMIRRO.RSA here holds WeChat's real certificate: it signs the bundle, not the app."""
    doc = run(CONTAINERS / "clean.apkm")
    (app,) = doc["apps"]
    assert app["package"] == "com.example.clean" and app["verdict"] == "allowed" and app["findings"] == []
    present = {c["sha256"] for c in app["identity"]["certificates_present"]}
    assert present == {KEYS["test-rsa"]["cert_sha256"]}
    assert skipped(doc)["the bundle's own signature (APKMirror), not the app's"] == 2


def test_legacy_encrypted_apkm_is_a_clear_error(run):
    doc = run(CONTAINERS / "legacy.apkm", APKS / "v1v2.apk")
    assert [e["code"] for e in doc["errors"]] == ["CONTAINER_ENCRYPTED_APKM"]
    assert "re-download the bundle" in doc["errors"][0]["message"]  # the hint docs/inputs.md promises (review 37 F6)
    assert [a["package"] for a in doc["apps"]] == ["com.example.v1v2"]


def test_tar_gz_of_zip_of_apks_chains_verdicts_and_custody(run):
    doc = run(CONTAINERS / "pull.tar.gz")
    apps = apps_by_chain(doc)
    assert set(apps) == {("apps/tiktok.apk",), ("store/apps.zip", "v2-only.apk"), ("store/apps.zip", "wechat-impostor.apk")}
    assert apps[("apps/tiktok.apk",)]["verdict"] == "prohibited"
    impostor = apps[("store/apps.zip", "wechat-impostor.apk")]
    assert impostor["verdict"] == "prohibited" and "impersonation" in {f["kind"] for f in impostor["findings"]}
    assert impostor["source"]["container"] == f"{CONTAINERS / 'pull.tar.gz'} ▸ store/apps.zip"
    assert impostor["source"]["path"] == "wechat-impostor.apk"
    assert apps[("store/apps.zip", "v2-only.apk")]["verdict"] == "allowed"
    where = {(s["where_display"], s["reason"]): s["count"] for s in doc["skipped"]}
    assert where[(str(CONTAINERS / "pull.tar.gz"), "not an APK or a known container")] == 1
    assert where[(f"{CONTAINERS / 'pull.tar.gz'} ▸ store/apps.zip", "not an APK or a known container")] == 1
    (custody,) = doc["input_files"]
    assert custody["sha256"] == hashlib.sha256((CONTAINERS / "pull.tar.gz").read_bytes()).hexdigest()
    assert custody["kind"] == "gzip" and custody["size"] == (CONTAINERS / "pull.tar.gz").stat().st_size


def test_given_apk_custody_reuses_its_own_hash(run):
    doc = run(APKS / "v1v2.apk")
    assert doc["input_files"] == [{"path": str(APKS / "v1v2.apk"), "size": (APKS / "v1v2.apk").stat().st_size,
                                   "kind": "apk", "sha256": doc["apps"][0]["sha256"], "hashed": "this run"}]


def test_hostile_tar_flags_names_and_counts_links(run):
    doc = run(CONTAINERS / "hostile.tar")
    apps = apps_by_chain(doc)
    assert set(apps) == {("../../escape.apk",), ("/abs/v1v2.apk",), ("ok/v3-only.apk",)}
    tampers = {k: [t["code"] for t in a["identity"]["tamper"]] for k, a in apps.items()}
    assert "TAMPER_MEMBER_NAME" in tampers[("../../escape.apk",)]
    assert "TAMPER_MEMBER_NAME" not in tampers[("ok/v3-only.apk",)]
    assert skipped(doc)["tar link or special file (symlink, hardlink, device, FIFO): not followed"] == 4


def test_bomb_and_depth_are_errors_and_the_batch_goes_on(run):
    doc = run(CONTAINERS / "bomb.zip", CONTAINERS / "deep.zip", APKS / "v1v2.apk")
    codes = [e["code"] for e in doc["errors"]]
    assert set(codes) == {"CONTAINER_BOMB", "CONTAINER_TOO_DEEP"}
    assert [a["package"] for a in doc["apps"]] == ["com.example.v1v2"]


def split_folder(tmp_path, split_bytes: bytes, base: str = "clean-v1v2v3.apk") -> Path:
    d = tmp_path / "data" / "app" / "com.example.clean-1"
    d.mkdir(parents=True)
    shutil.copy(APKS / base, d / "base.apk")
    (d / "split_config.en.apk").write_bytes((CONTAINERS / "splits" / "clean-config.en.apk").read_bytes())
    (d / "split_config.x.apk").write_bytes(split_bytes)
    return tmp_path / "data"


def test_split_folder_consistent(run, tmp_path):
    root = split_folder(tmp_path, (CONTAINERS / "splits" / "clean-config.en.apk").read_bytes() + b"")
    doc = run(root)
    # split_config.x.apk is a byte copy of config.en: deduplicated
    (app,) = doc["apps"]
    assert app["verdict"] == "allowed" and [s["split"] for s in app["splits"]] == ["config.en"]


def test_split_of_another_package_is_a_mismatch(run, tmp_path):
    """A WeChat split planted beside a clean base: package and signer differ."""
    with zipfile.ZipFile(CONTAINERS / "wechat-sai.apks") as z:
        wechat_split = z.read("split_config.arm64_v8a.apk")
    doc = run(split_folder(tmp_path, wechat_split))
    (app,) = doc["apps"]
    assert app["package"] == "com.example.clean"
    bad = [s for s in app["splits"] if s["mismatch"]]
    assert [s["package"] for s in bad] == ["com.tencent.mm"]
    assert bad[0]["mismatch"][0].startswith("package 'com.tencent.mm' differs")
    assert "split-mismatch" in {f["kind"] for f in app["findings"]}
    # the split is itself WeChat (by package and signer subject): its verdict carries to the app
    assert bad[0]["verdict"] == "prohibited" and app["verdict"] == "prohibited"


def test_base_is_chosen_by_manifest_not_by_name(run, tmp_path):
    """A bundle whose "base.apk" is really a split: the APK without a split attribute is the base."""
    path = tmp_path / "swapped.apks"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("base.apk", (CONTAINERS / "splits" / "clean-config.en.apk").read_bytes())
        z.writestr("split_config.real.apk", (APKS / "clean-v1v2v3.apk").read_bytes())
    doc = run(path)
    (app,) = doc["apps"]
    assert app["source"]["chain"][1] == "split_config.real.apk"
    assert [s["source"]["chain"][1] for s in app["splits"]] == ["base.apk"]


def test_bundle_without_base_keeps_every_split_and_says_so(run, tmp_path):
    path = tmp_path / "nobase.apks"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta.sai_v1.json", b"{}")
        z.writestr("split_config.en.apk", (CONTAINERS / "splits" / "clean-config.en.apk").read_bytes())
    doc = run(path)
    (app,) = doc["apps"]
    assert "CONTAINER_BUNDLE_NO_BASE" in [w["code"] for w in app["warnings"]]


def test_recorded_app_goes_through_the_same_rules(rules, policy):
    settings = ScanSettings(rules, policy)
    rec = RecordedApp(("device-07.ab", "apps/com.tencent.mm/_manifest"), "com.tencent.mm", "adb backup _manifest",
                      certificates=[RecordedCertificate(sha256="0fe4ff85c215918396dadc7cd8ce6963339af33d37751a56e54c7206b63a3c7c")])
    (app,) = scan_item(rec, settings)
    d = app.to_dict()
    assert d["identity"]["origin"] == "recorded" and d["source"]["outermost"] == "device-07.ab"
    assert d["source"]["chain"] == ["device-07.ab", "apps/com.tencent.mm/_manifest"]
    assert app.verdict == "prohibited"
    assert all(f.strength != "confirmed" for f in app.findings)  # recorded, not verified


def test_container_scan_json_matches_the_schema(run):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    doc = run(CONTAINERS / "bundletool.apks", CONTAINERS / "pull.tar.gz", CONTAINERS / "hostile.tar",
              CONTAINERS / "legacy.apkm")
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(doc)))
    assert doc["counts"]["skipped"] == sum(s["count"] for s in doc["skipped"])


def test_cli_options_reports_and_exit_codes(tmp_path):
    runner = CliRunner()
    out = tmp_path / "r.json"
    html = tmp_path / "r.html"
    res = runner.invoke(cli_main, ["scan", str(CONTAINERS / "pull.tar.gz"), str(CONTAINERS / "deep.zip"),
                                   "--max-depth", "6", "--tmp-dir", str(tmp_path / "t"), "--tmp-limit", "10M",
                                   "--json", str(out), "--html", str(html), "--no-color"])
    assert res.exit_code == 1, res.output  # prohibited apps inside the tarball
    doc = json.loads(out.read_text())
    assert doc["errors"] == [] and len(doc["apps"]) == 4
    assert "files skipped" in res.output and "skipped 1 in" in res.output
    page = html.read_text()
    assert "Files not scanned (2)" in page and str(CONTAINERS / "pull.tar.gz") in page
    res = runner.invoke(cli_main, ["scan", str(APKS / "v1v2.apk"), "--tmp-limit", "lots"])
    assert res.exit_code == 2 and "--tmp-limit" in res.output
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(APKS / "v1v2.apk", folder / "a.apk")
    res = runner.invoke(cli_main, ["scan", str(folder), "--exclude", "*", "-q", "--json", str(out)])
    assert res.exit_code == 0 and json.loads(out.read_text())["apps"] == []
    res = runner.invoke(cli_main, ["scan", str(folder), "-q", "--json", str(folder / "r.json")])
    assert res.exit_code == 2  # a report inside an input folder is refused before any work


def test_password_sources_in_order(tmp_path, monkeypatch):
    from apkscan.cli.passwords import password_provider
    from apkscan.cli.scan_cmd import parse_size

    pw = tmp_path / "pw"
    pw.write_text("from-file\nsecond line\n")
    monkeypatch.setenv("APKSCAN_BACKUP_PASSWORD", "from-env")
    assert password_provider("opt", str(pw))() == "opt"
    assert password_provider(None, str(pw))() == "from-file"
    assert password_provider(None, None)() == "from-env"
    monkeypatch.delenv("APKSCAN_BACKUP_PASSWORD")
    assert password_provider(None, None)() is None  # stdin is not a terminal under pytest: no prompt
    assert parse_size("500M") == 500 << 20 and parse_size("8G") == 8 << 30 and parse_size("123") == 123
    assert os.environ.get("APKSCAN_BACKUP_PASSWORD") is None


def test_split_folder_custody_has_every_files_hash(run, tmp_path):
    root = split_folder(tmp_path, (CONTAINERS / "splits" / "clean-config.xxhdpi-impostor.apk").read_bytes())
    doc = run(root)
    files = {Path(f["path"]).name: f["sha256"] for f in doc["input_files"]}
    assert set(files) == {"base.apk", "split_config.en.apk", "split_config.x.apk"}
    for name, digest in files.items():
        assert digest == hashlib.sha256((root / "app" / "com.example.clean-1" / name).read_bytes()).hexdigest()
    assert doc["apps"][0]["verdict"] == "review"


def test_html_groups_by_outermost_input_and_lists_skips_and_custody(run, tmp_path):
    from apkscan.report import html

    doc = run(CONTAINERS / "pull.tar.gz", CONTAINERS / "bomb.zip", APKS / "v1v2.apk")
    ctx = html.context(doc)
    rows = {c["name"]: c for c in ctx["containers"]}
    pull = rows[str(CONTAINERS / "pull.tar.gz")]
    assert pull["total"] == 3 and pull["counts"]["prohibited"] == 2 and pull["errors"] == 0
    assert rows[str(CONTAINERS / "bomb.zip")]["errors"] == 10 and rows[str(CONTAINERS / "bomb.zip")]["total"] == 0
    assert str(APKS / "v1v2.apk") not in rows  # an APK given directly is not a "source" row
    assert sum(s.count for s in ctx["skipped"]) == 2
    out = tmp_path / "r.html"
    with open(out, "w", encoding="utf-8") as fh:
        html.render(doc, fh)
    page = out.read_text(encoding="utf-8")
    digest = hashlib.sha256((CONTAINERS / "pull.tar.gz").read_bytes()).hexdigest()
    assert digest in page and "Input files (3)" in page and "Files not scanned (2)" in page


def test_full_apk_named_like_a_split_stays_an_app_of_its_own(run, tmp_path):
    """Names are claims: a complete app hidden as ``split_*.apk`` is not folded into the base."""
    d = tmp_path / "pulled"
    d.mkdir()
    shutil.copy(APKS / "clean-v1v2v3.apk", d / "base.apk")
    shutil.copy(APKS / "wechat-impostor.apk", d / "split_config.en.apk")
    doc = run(d)
    apps = {a["package"]: a for a in doc["apps"]}
    assert set(apps) == {"com.example.clean", "com.tencent.mm"}
    assert apps["com.tencent.mm"]["verdict"] == "prohibited" and apps["com.example.clean"]["splits"] == []


def test_interrupted_scan_leaves_no_temporary_files(rules, policy, tmp_path):
    spool = tmp_path / "spool"
    calls = []

    def progress(name):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt

    result = scan([FileSource([str(CONTAINERS / "wechat-sai.apks"), str(CONTAINERS / "pull.tar.gz")],
                              WalkOptions(tmp_dir=str(spool)))], rules, policy, progress=progress)
    assert result.interrupted and result.to_dict()["interrupted"] is True  # what finished is kept
    assert len(calls) == 2
    assert list(spool.iterdir()) == []


def test_html_details_list_a_bundles_splits(run, tmp_path):
    from apkscan.report import html

    doc = run(CONTAINERS / "bundletool.apks")
    out = tmp_path / "r.html"
    with open(out, "w", encoding="utf-8") as fh:
        html.render(doc, fh)
    page = out.read_text(encoding="utf-8")
    assert "Split APKs of this bundle (2)" in page
    assert "no: verified signers differ from the base&#39;s" in page
    doc["apps"][0]["splits"] = "not a list"  # a hand-edited document is refused, naming the field
    from apkscan.document import DocumentError
    with pytest.raises(DocumentError, match="^DOCUMENT_MALFORMED: apps/0/splits: expected array"):
        html.render(doc, io.StringIO())


def test_custody_hash_of_a_given_file_that_is_no_apk(run, tmp_path):
    bad = tmp_path / "broken.apk"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    doc = run(bad)
    assert [e["code"] for e in doc["errors"]] and doc["apps"] == []
    assert doc["input_files"][0]["sha256"] == hashlib.sha256(bad.read_bytes()).hexdigest()


def _tar_member(name: str, data: bytes) -> bytes:
    import io
    import tarfile
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    raw = out.getvalue()
    return raw[: 512 + -(-len(data) // 512) * 512]  # header + padded body, no end marker


def test_plain_tar_garbled_header_between_members_is_an_error_not_a_silent_end(run, tmp_path):
    """stdlib tarfile in ``r|`` mode ends silently on a bad header after the first member:
    ``wechat.apk`` behind 512 bytes of X was lost with '1 allowed, 0 errors'."""
    banned = (APKS / "wechat-impostor.apk").read_bytes()
    raw = (_tar_member("innocent.apk", (APKS / "v1v2.apk").read_bytes()) + b"X" * 512
           + _tar_member("wechat.apk", banned) + bytes(1024))
    (tmp_path / "hide.tar").write_bytes(raw)
    doc = run(tmp_path / "hide.tar", APKS / "v1v2.apk")
    assert [e["code"] for e in doc["errors"]] == ["CONTAINER_TAR_CORRUPT"]
    assert len(doc["apps"]) == 2  # the member before the damage, and the batch went on
    # a clean archive (end-of-archive marker) records nothing
    (tmp_path / "clean.tar").write_bytes(_tar_member("wechat.apk", banned) + bytes(1024))
    doc = run(tmp_path / "clean.tar")
    assert doc["errors"] == [] and [a["verdict"] for a in doc["apps"]] == ["prohibited"]
    # an archive that just stops (no end marker) is truncated, said so
    (tmp_path / "cut.tar").write_bytes(_tar_member("wechat.apk", banned))
    doc = run(tmp_path / "cut.tar")
    assert [e["code"] for e in doc["errors"]] == ["CONTAINER_TAR_CORRUPT"]
    assert [a["verdict"] for a in doc["apps"]] == ["prohibited"]


@pytest.mark.parametrize("typeflag", [b"L", b"x"])
def test_plain_tar_huge_extended_header_is_refused_not_read_whole(run, tmp_path, typeflag):
    """A GNU long name / pax header declaring 1 GiB: tarfile read it whole (3.19 GB RSS).
    The header here declares 1 GiB but the file is a few KB: the cap refuses it unread."""
    import tarfile
    banned = (APKS / "wechat-impostor.apk").read_bytes()
    info = tarfile.TarInfo("././@LongLink")
    info.type = typeflag
    info.size = 1 << 30
    hdr = info.tobuf(format=tarfile.GNU_FORMAT if typeflag == b"L" else tarfile.USTAR_FORMAT)
    assert len(hdr) == 512
    raw = _tar_member("wechat.apk", banned) + hdr + b"A" * 4096 + bytes(1024)
    (tmp_path / "long.tar").write_bytes(raw)
    doc = run(tmp_path / "long.tar", APKS / "v1v2.apk")
    codes = [e["code"] for e in doc["errors"]]
    assert codes == ["CONTAINER_TAR_CORRUPT"]
    assert "extended header" in doc["errors"][0]["message"]
    assert sorted(a["verdict"] for a in doc["apps"])[-1] == "prohibited" and len(doc["apps"]) == 2
