"""Banned apps hidden behind a decoy: an empty manifest, an acquisition.json, a bundle member's name.

Each test builds the adversary's file from the shipped fixtures (real bytes) and checks
that the banned app inside IS reported with its chain, or a coded error is recorded, and
that the rest of the batch goes on.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.apk.identify import identify
from conftest import prefixed_apk
from apkscan.cli import main as cli_main
from apkscan.scan import scan, unscannable
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
WECHAT = APKS / "wechat-impostor.apk"
TIKTOK = APKS / "tiktok-bytedance-subject.apk"
CLEAN = APKS / "clean-v1v2v3.apk"


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(*paths, **opts):
        opts.setdefault("tmp_dir", str(tmp_path / "spool"))
        doc = scan([FileSource([str(p) for p in paths], WalkOptions(**opts))], rules, policy).to_dict()
        spool = tmp_path / "spool"
        assert not spool.exists() or list(spool.iterdir()) == []  # temporary files are gone
        return doc
    return go


def verdicts(doc) -> dict[tuple[str, ...], tuple[str | None, str]]:
    return {tuple(a["source"]["chain"][1:]): (a["package"], a["verdict"]) for a in doc["apps"]}


def error_codes(doc) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in doc["errors"]:
        out.setdefault(" ▸ ".join(e["source"]["chain"]), set()).update(i["code"] for i in e["errors"])
    return out


def _decoy_zip(path: Path, *extra: str, compress=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compress) as z:
        z.writestr("AndroidManifest.xml", b"")
        for name in extra:
            z.writestr(name, b"{}")
        z.write(WECHAT, "wechat.apk")
        z.write(TIKTOK, "tiktok.apk")
    return path


# ---------------------------------------------------------------- 2: empty manifest, nested APKs
def test_an_empty_manifest_is_no_scanned_app(tmp_path):
    ident = identify(_decoy_zip(tmp_path / "decoy.zip"))
    assert ident.manifest is not None and ident.manifest.package is None
    assert ident.completeness.to_dict()["manifest"] == "not read"
    assert ident.completeness.why["manifest"] == "MANIFEST_MALFORMED"
    assert unscannable(ident)


@pytest.mark.parametrize("name,extra,compress", [
    ("decoy.zip", (), zipfile.ZIP_STORED),
    ("decoy.apks", ("meta.sai_v2.json",), zipfile.ZIP_DEFLATED),
])
def test_zip_with_an_empty_manifest_hides_no_banned_app(run, tmp_path, name, extra, compress):
    decoy = _decoy_zip(tmp_path / name, *extra, compress=compress)
    doc = run(decoy, CLEAN)
    got = verdicts(doc)
    assert got[("wechat.apk",)] == ("com.tencent.mm", "prohibited")
    assert got[("tiktok.apk",)] == ("com.zhiliaoapp.musically", "prohibited")
    assert got[()] == ("com.example.clean", "allowed")  # the batch went on
    # the stored APKs' end records read in the decoy's own bytes: a tamper fact kept with its error
    seen = {"TAMPER_MULTIPLE_EOCD"} if compress == zipfile.ZIP_STORED else set()
    assert error_codes(doc)[str(decoy)] == {"MANIFEST_MALFORMED"} | seen
    assert [a for a in doc["apps"] if a["source"]["chain"] == [str(decoy)]] == []  # never "allowed"


def test_cli_exit_code_for_the_empty_manifest_decoy(tmp_path):
    decoy = _decoy_zip(tmp_path / "decoy.zip")
    res = CliRunner().invoke(cli_main, ["scan", str(decoy), "--no-color", "--tmp-dir", str(tmp_path / "t")])
    assert res.exit_code == 1, res.output  # prohibited apps inside
    only = tmp_path / "only.zip"
    with zipfile.ZipFile(only, "w") as z:
        z.writestr("AndroidManifest.xml", b"")
    res = CliRunner().invoke(cli_main, ["scan", str(only), "--no-color"])
    assert res.exit_code == 3 and "MANIFEST_MALFORMED" in res.output, res.output


def test_a_manifest_without_package_is_coded(monkeypatch):
    """A manifest read without error that names no package: MANIFEST_NO_PACKAGE, not a scanned app."""
    import apkscan.apk.identify as ident_mod
    from apkscan.apk.model import ManifestInfo
    assert identify(CLEAN).completeness.has("manifest")
    monkeypatch.setattr(ident_mod, "read_manifest", lambda axml, arsc, **_: ManifestInfo())
    ident = identify(CLEAN)
    assert [i.code for i in ident.manifest.errors] == ["MANIFEST_NO_PACKAGE"]
    assert unscannable(ident) and ident.completeness.why["manifest"] == "MANIFEST_NO_PACKAGE"


def test_real_apk_carrying_apks_and_containers_gets_them_walked(run, tmp_path):
    """A dropper: a real, readable APK with a banned APK under an innocent name and a tar.gz of one."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        t.add(TIKTOK, "payload/tiktok.apk")
    dropper = tmp_path / "dropper.apk"
    shutil.copy(CLEAN, dropper)
    with zipfile.ZipFile(dropper, "a", zipfile.ZIP_DEFLATED) as z:
        z.write(WECHAT, "res/raw/logo.png")  # by head bytes, not by name
        z.writestr("assets/update.bin", buf.getvalue())
        z.writestr("assets/readme.txt", "package:com.tencent.mm\n" * 4)  # text is not evidence inside an APK
    doc = run(dropper)
    got = verdicts(doc)
    assert got[()][0] == "com.example.clean"
    assert got[("res/raw/logo.png",)] == ("com.tencent.mm", "prohibited")
    assert got[("assets/update.bin", "payload/tiktok.apk")] == ("com.zhiliaoapp.musically", "prohibited")
    assert len(doc["apps"]) == 3


def test_dropper_inside_a_compressed_stream_is_spooled_walked_and_released(run, tmp_path):
    decoy = _decoy_zip(tmp_path / "decoy.zip")
    gz = tmp_path / "decoy.zip.gz"
    gz.write_bytes(gzip.compress(decoy.read_bytes()))
    doc = run(gz)
    got = verdicts(doc)
    assert got[("wechat.apk",)][1] == got[("tiktok.apk",)][1] == "prohibited"
    assert error_codes(doc)[str(gz)] == {"MANIFEST_MALFORMED", "TAMPER_MULTIPLE_EOCD"}  # the stored APKs' end records


def test_nested_members_respect_max_depth(run, tmp_path):
    doc = run(_decoy_zip(tmp_path / "decoy.zip"), max_depth=0)
    assert doc["apps"] == []
    assert {"CONTAINER_TOO_DEEP", "MANIFEST_MALFORMED"} <= set().union(*error_codes(doc).values())


def test_real_apks_results_unchanged(run):
    doc = run(CLEAN, WECHAT)
    assert sorted((a["package"], a["verdict"]) for a in doc["apps"]) == [("com.example.clean", "allowed"), ("com.tencent.mm", "prohibited")]
    assert doc["errors"] == [] and doc["skipped"] == []


# ---------------------------------------------------------------- 8: bundle members skipped by name
def test_apkm_members_named_like_its_signature_or_an_obb_are_scanned_by_content(run, tmp_path):
    apkm = tmp_path / "decoy.apkm"
    real_obb = b"\x00OBB game data " * 100
    with zipfile.ZipFile(apkm, "w") as z:
        z.write(CLEAN, "base.apk")
        z.write(WECHAT, "META-INF/APKMIRRO.wechat.apk")  # stored: checked in place
        z.write(WECHAT, "Android/obb/main.obb", compress_type=zipfile.ZIP_DEFLATED)  # inflated head
        z.writestr("META-INF/APKMIRRO.RSA", b"0\x82\x01\x00 not a zip")
        z.writestr("Android/obb/data.obb", real_obb, compress_type=zipfile.ZIP_DEFLATED)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as inner:  # a ZIP-format OBB without a manifest: data
            inner.writestr("assets/level1.dat", b"x" * 100)
        z.writestr("Android/obb/patch.obb", buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        z.write(TIKTOK, "icon.png")  # metadata name, APK bytes
    doc = run(apkm, CLEAN)
    banned = {(tuple(a["source"]["chain"][1:]), a["package"]) for a in doc["apps"] if a["verdict"] == "prohibited"}
    banned |= {(("split",), s["package"]) for a in doc["apps"] for s in a.get("splits", [])
               if s["verdict"] == "prohibited"}
    packages = {p for _, p in banned}
    assert {"com.tencent.mm", "com.zhiliaoapp.musically"} <= packages, doc["apps"]
    assert any(a["verdict"] == "prohibited" and "Android/obb/main.obb" in a["source"]["chain"] for a in doc["apps"])
    skips = {s["reason"]: s for s in doc["skipped"]}
    assert skips["OBB data, not an APK"]["count"] == 2  # real OBB data stays skipped, unread
    assert skips["the bundle's own signature (APKMirror), not the app's"]["examples"] == ["META-INF/APKMIRRO.RSA"]
    assert any(a["package"] == "com.example.clean" and a["source"]["chain"] == [str(CLEAN)] for a in doc["apps"])


def test_swift_and_titanium_data_named_files_that_are_apks_are_scanned(run, tmp_path):
    backups = REPO / "fixtures" / "backups"
    swift = tmp_path / "swift"
    shutil.copytree(backups / "swift", swift)
    shutil.copy(WECHAT, swift / "com.example.game.exp")
    titanium = tmp_path / "titanium"
    shutil.copytree(backups / "titanium", titanium)
    shutil.copy(TIKTOK, titanium / "com.example.notes-20240501-100000.tar.gz")
    doc = run(swift, titanium)
    chains = {tuple(a["source"]["chain"][1:]): (a["package"], a["verdict"]) for a in doc["apps"]
              if a["identity"]["origin"] == "apk"}
    assert chains[("com.example.game.exp",)] == ("com.tencent.mm", "prohibited")
    assert chains[("com.example.notes-20240501-100000.tar.gz",)] == ("com.zhiliaoapp.musically", "prohibited")
    reasons = {s["reason"] for s in doc["skipped"]}
    assert "app data archive (not scanned)" in reasons  # the real data archives stay skipped


# ---------------------------------------------------------------- 3: acquisition.json hides a folder
QF = REPO / "fixtures" / "backups" / "androidqf" / "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"


def _zip_of(folder: Path, out: Path, compress=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(out, "w", compress) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(folder).as_posix())
    return out


def test_an_empty_acquisition_json_hides_nothing(run, tmp_path):
    dl = tmp_path / "dl"
    (dl / "sub").mkdir(parents=True)
    (dl / "acquisition.json").write_text("{}")
    shutil.copy(WECHAT, dl / "sub" / "wechat.apk")
    shutil.copy(TIKTOK, dl / "tiktok.apk")
    doc = run(dl)
    got = {(a["source"]["chain"][-1], a["package"], a["verdict"]) for a in doc["apps"]}
    assert got == {(str(dl / "sub" / "wechat.apk"), "com.tencent.mm", "prohibited"),
                   (str(dl / "tiktok.apk"), "com.zhiliaoapp.musically", "prohibited")}
    assert doc["skipped"] == [] or all("AndroidQF" not in s["reason"] for s in doc["skipped"])
    z = tmp_path / "acq.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("acquisition.json", "{}")
        zf.write(WECHAT, "wechat.apk")
    assert verdicts(run(z)) == {("wechat.apk",): ("com.tencent.mm", "prohibited")}


def test_acquisition_json_is_read_not_trusted_by_name(tmp_path):
    from apkscan.sources.androidqf import is_androidqf
    from apkscan.sources.files import FolderTree
    assert is_androidqf(FolderTree(QF))
    for text in ("{}", "[]", "not json", '{"uuid": 5, "started": "x"}', '{"uuid": "u"}'):
        d = tmp_path / f"d{len(text)}{text[:2]}"
        d.mkdir()
        (d / "acquisition.json").write_text(text)
        assert not is_androidqf(FolderTree(d)), text


@pytest.mark.parametrize("zipped", [False, True])
def test_a_real_acquisition_walks_files_it_did_not_write(run, tmp_path, zipped):
    acq = tmp_path / "acq"
    shutil.copytree(QF, acq)
    (acq / "sub").mkdir()
    shutil.copy(WECHAT, acq / "sub" / "wechat.apk")
    shutil.copy(TIKTOK, acq / "notes.bin")  # a name AndroidQF never writes
    (acq / "logs").mkdir()
    shutil.copy(WECHAT, acq / "logs" / "kernel.log")  # a known place, APK bytes
    (acq / "logs" / "main.log").write_text("I/ActivityManager: start\n")
    target = _zip_of(acq, tmp_path / "acq.zip") if zipped else acq
    doc = run(target)
    got = verdicts(doc)
    assert got[("sub/wechat.apk",)] == ("com.tencent.mm", "prohibited")
    assert got[("notes.bin",)] == ("com.zhiliaoapp.musically", "prohibited")
    assert got[("logs/kernel.log",)] == ("com.tencent.mm", "prohibited")
    # the acquisition is still read as one: its apks/ and backup.ab as before, its own text files skipped
    assert any(c and c[0].startswith("apks/") for c in got)
    skips = {s["reason"]: s for s in doc["skipped"]}
    assert skips["AndroidQF acquisition file (not scanned)"]["count"] >= 3  # getprop.txt, command.log, logs/main.log


def test_an_apk_carried_by_a_bundles_base_does_not_break_the_bundle(run, tmp_path):
    base = tmp_path / "base.apk"
    shutil.copy(CLEAN, base)
    with zipfile.ZipFile(base, "a") as z:
        z.write(WECHAT, "assets/plugin.apk")
    bundle = tmp_path / "app.apks"
    with zipfile.ZipFile(bundle, "w") as z:
        z.write(base, "base.apk")
        z.write(REPO / "fixtures" / "containers" / "splits" / "clean-config.en.apk", "split_config.en.apk")
        z.writestr("meta.sai_v2.json", "{}")
    doc = run(bundle)
    got = verdicts(doc)
    assert set(got) == {("base.apk",), ("base.apk", "assets/plugin.apk")}  # one bundle app, one carried app
    assert got[("base.apk", "assets/plugin.apk")] == ("com.tencent.mm", "prohibited")
    (app,) = [a for a in doc["apps"] if a["package"] == "com.example.clean"]  # the base (re-zipped: unverified)
    assert [s["split"] for s in app["splits"]] == ["config.en"]
    assert "CONTAINER_BUNDLE_NO_BASE" not in json.dumps(doc)


def test_an_apk_behind_a_prefix_under_any_name_is_read(run, tmp_path):
    """Review 13: a pull named by hash, no extension, whose bytes are TikTok behind a JPEG header,
    was skipped as 'not an APK or a known container' (exit 0); so was the same bytes stored as
    ``a.dat`` in a ZIP. Both open as a ZIP from their end, as Android opens them: scanned. The
    same APK merely appended to junk (offsets not moved) opens as no ZIP for Android, but
    java.util.zip.ZipFile and Python's zipfile read it with its offsets moved: scanned so, and
    said (review 78 F3; before, it was skipped)."""
    pulls = tmp_path / "pulls"
    pulls.mkdir()
    (pulls / "3f2a9c0d").write_bytes(prefixed_apk(TIKTOK.read_bytes(), b"\xff\xd8\xff\xe0" + b"J" * 60))
    (pulls / "appended.bin").write_bytes(b"JUNK" * 4 + TIKTOK.read_bytes())
    with zipfile.ZipFile(pulls / "box.zip", "w") as z:
        z.writestr(zipfile.ZipInfo("a.dat"), prefixed_apk(WECHAT.read_bytes(), b"JUNK" * 4))
    doc = run(pulls)
    assert {a["source"]["chain"][-1].rsplit("/", 1)[-1]: (a["package"], a["verdict"]) for a in doc["apps"]} == {
        "3f2a9c0d": ("com.zhiliaoapp.musically", "prohibited"), "a.dat": ("com.tencent.mm", "prohibited"),
        "appended.bin": ("com.zhiliaoapp.musically", "prohibited")}
    assert doc["skipped"] == []
    assert [(e["source"]["path"].rsplit("/", 1)[-1], [i["code"] for i in e["errors"]]) for e in doc["errors"]] == [
        ("appended.bin", ["TAMPER_ZIP_OFFSETS_SHIFTED"])]


def test_bytes_before_the_first_entry_are_a_tamper_fact_and_the_signature_still_counts(tmp_path):
    """Review 15: a prefixed APK was scanned with no tamper indicator. apksigner signs and
    verifies such a file, prefix and all (a DEX file there was Janus, CVE-2017-13156), so its
    verdict is apksigner's and the prefix is a fact beside it; a plain APK has none."""
    import shutil as sh
    import subprocess

    plain = identify(str(CLEAN))
    assert "TAMPER_DATA_BEFORE_FIRST_ENTRY" not in {i.code for i in plain.tamper}
    prefixed = tmp_path / "prefixed.apk"
    prefixed.write_bytes(prefixed_apk(TIKTOK.read_bytes(), b"dex\n035\x00" + bytes(56)))
    facts = [i for i in identify(str(prefixed)).tamper if i.code == "TAMPER_DATA_BEFORE_FIRST_ENTRY"]
    assert [i.message.split()[0] for i in facts] == ["64"]
    if sh.which("apksigner") is None:
        pytest.skip("apksigner not installed")
    keys = REPO / "fixtures" / "keys"
    signed = tmp_path / "signed.apk"
    subprocess.run(["apksigner", "sign", "--key", str(keys / "android-debug.pk8"), "--cert",
                    str(keys / "android-debug.pem"), "--v4-signing-enabled", "false", "--out", str(signed),
                    str(prefixed)], check=True, capture_output=True)
    assert signed.read_bytes().startswith(b"dex\n035\x00")
    oracle = subprocess.run(["apksigner", "verify", str(signed)], capture_output=True, text=True)
    identity = identify(str(signed))
    assert oracle.returncode == 0 and identity.verified
    assert "TAMPER_DATA_BEFORE_FIRST_ENTRY" in {i.code for i in identity.tamper}
