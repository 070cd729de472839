"""AndroidQF acquisitions: a package's base and split APKs are one install set (closing notes 15/16).

AndroidQF pulls every file ``pm path <pkg>`` lists into ``apks/``, named from the package and the
device path (``<pkg>_<element [1] of the path split on "==/">.apk``, collisions numbered ``_1``,
``_2``; mvt-project/androidqf ``modules/packages.go``). The acquisition's own ``packages.json`` lists
those paths per package, so which files are one package's install is read from it: they are
assembled as a split bundle is (one app, its splits compared with the base: ``split-mismatch``). A
file the listing ties to no package is its own install set: a split there is scanned as its own app
with ``CONTAINER_BUNDLE_NO_BASE``. Real bytes: the signed fixture APKs and splits, apksigner for one
split of another package.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path

import pytest

from test_data_zip_by_content import run, zipped  # one ZIP-of-a-folder and one scan helper for both

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASE = (FIXTURES / "apks" / "clean-v1v2v3.apk").read_bytes()  # com.example.clean, test-rsa
EN = (FIXTURES / "containers" / "splits" / "clean-config.en.apk").read_bytes()  # its split, test-rsa
PLANTED = (FIXTURES / "containers" / "splits" / "clean-config.xxhdpi-impostor.apk").read_bytes()  # impostor key
WECHAT = (FIXTURES / "apks" / "wechat-tencent-subject.apk").read_bytes()
UUID = "5f0c2a9e-1b7d-4e55-8d1f-0a9b8c7d6e5f"
PKG = "com.example.clean"
DIR11 = f"/data/app/~~YWJj==/{PKG}-ZGVm==/"  # Android 11+: every file of the package is named <pkg>_<pkg>-ZGVm
DIR10 = f"/data/app/{PKG}-ZGVm==/"  # Android 8-10: <pkg>_base, <pkg>_split_config.en ...


def _record(name: str, files: dict[str, bytes]) -> dict:
    return {"name": name, "installer": "com.android.vending", "uid": 10300, "disabled": False, "system": False,
            "third_party": True,
            "files": [{"path": p, "local_name": "", "md5": "", "sha1": "", "sha512": "", "error": "",
                       "sha256": hashlib.sha256(d).hexdigest(), "verified_certificate": False,
                       "trusted_certificate": False, "certificate_error": "", "certificate": {}}
                      for p, d in files.items()]}


def acquisition(root: Path, records: list[dict], apks: dict[str, bytes]) -> Path:
    d = root / UUID
    (d / "apks").mkdir(parents=True)
    (d / "acquisition.json").write_text(json.dumps({"uuid": UUID, "androidqf_version": "1.7.0",
                                                    "started": "2026-11-30T10:00:00Z"}))
    (d / "packages.json").write_text(json.dumps(records))
    (d / "getprop.txt").write_text("[ro.build.version.sdk]: [33]\n")
    for name, data in apks.items():
        (d / "apks" / name).write_bytes(data)
    return d


def android11(planted: bytes = PLANTED) -> tuple[list[dict], dict[str, bytes]]:
    stem = f"{PKG}_{PKG}-ZGVm"
    files = {DIR11 + "base.apk": BASE, DIR11 + "split_config.en.apk": EN, DIR11 + "split_config.xxhdpi.apk": planted}
    return [_record(PKG, files)], {f"{stem}.apk": BASE, f"{stem}_1.apk": EN, f"{stem}_2.apk": planted}


def _only_app(doc: dict) -> dict:
    apps = [a for a in doc["apps"] if a["identity"]["origin"] == "apk"]
    assert [a["package"] for a in apps] == [PKG], [a["source"]["chain"] for a in apps]
    return apps[0]


@pytest.mark.parametrize("packing", ["folder", "zip"])
def test_split_set_of_one_package_is_one_app_with_the_planted_split_flagged(rules, policy, tmp_path, packing):
    records, apks = android11()
    path = acquisition(tmp_path / "acq", records, apks)
    if packing == "zip":
        path = zipped(path, tmp_path / "acq.zip", zipfile.ZIP_DEFLATED)
    doc = run(rules, policy, tmp_path, path)
    app = _only_app(doc)
    assert app["identity"]["split"] is None and app["source"]["chain"][-1].endswith(f"apks/{PKG}_{PKG}-ZGVm.apk")
    splits = {s["split"]: s for s in app["splits"]}
    assert set(splits) == {"config.en", "config.xxhdpi"}
    assert splits["config.en"]["mismatch"] == [] and splits["config.en"]["verified"]
    assert splits["config.xxhdpi"]["mismatch"] == ["verified signers differ from the base's"]
    assert splits["config.xxhdpi"]["source"]["chain"][-1].endswith(f"apks/{PKG}_{PKG}-ZGVm_2.apk")
    mm = [f for f in app["findings"] if f["kind"] == "split-mismatch"]
    assert len(mm) == 1 and mm[0]["verdict"] == "review"
    assert app["verdict"] == "review" and app["policy"]["decision"] == "split-mismatch"
    # the record is tied to the base by its SHA-256: listed once, as the APK
    assert not [a for a in doc["apps"] if a["identity"]["origin"] != "apk"]
    assert doc["errors"] == []


def test_android10_names_and_a_split_of_another_package(rules, policy, tmp_path, apk_of):
    """Android 8-10 names (``<pkg>_base.apk``, ``<pkg>_split_config.en.apk``); a split of another
    package pulled for this one is compared with the base: its package differs."""
    other = apk_of("com.example.other", "test-rsa", split="config.fr")
    files = {DIR10 + "base.apk": BASE, DIR10 + "split_config.en.apk": EN, DIR10 + "split_config.fr.apk": other}
    apks = {f"{PKG}_base.apk": BASE, f"{PKG}_split_config.en.apk": EN, f"{PKG}_split_config.fr.apk": other}
    doc = run(rules, policy, tmp_path, acquisition(tmp_path / "acq", [_record(PKG, files)], apks))
    app = _only_app(doc)
    splits = {s["split"]: s for s in app["splits"]}
    assert set(splits) == {"config.en", "config.fr"}
    assert splits["config.en"]["mismatch"] == []
    assert splits["config.fr"]["mismatch"][0] == "package 'com.example.other' differs from the base's 'com.example.clean'"
    assert app["verdict"] == "review" and app["policy"]["decision"] == "split-mismatch"


def test_split_the_listing_does_not_attribute_is_its_own_app_and_said(rules, policy, tmp_path):
    """A split under a name no listed path gives (renamed, or its package unlisted) cannot be tied to
    a base: scanned as its own app, with ``CONTAINER_BUNDLE_NO_BASE``; never dropped. Another app's
    files beside it are not drawn into any set."""
    records, apks = android11()
    apks.pop(f"{PKG}_{PKG}-ZGVm_2.apk")
    apks["stray.apk"] = PLANTED
    apks["com.tencent.mm.apk"] = WECHAT  # no record: its own app, as before
    doc = run(rules, policy, tmp_path, acquisition(tmp_path / "acq", records, apks))
    by_name = {a["source"]["chain"][-1]: a for a in doc["apps"] if a["identity"]["origin"] == "apk"}
    assert set(by_name) == {f"apks/{PKG}_{PKG}-ZGVm.apk", "apks/stray.apk", "apks/com.tencent.mm.apk"}
    assert [s["split"] for s in by_name[f"apks/{PKG}_{PKG}-ZGVm.apk"]["splits"]] == ["config.en"]
    stray = by_name["apks/stray.apk"]
    assert stray["identity"]["split"] == "config.xxhdpi"
    assert "CONTAINER_BUNDLE_NO_BASE" in [w["code"] for w in stray["warnings"]]
    assert by_name["apks/com.tencent.mm.apk"]["verdict"] == "prohibited"
    assert "CONTAINER_BUNDLE_NO_BASE" not in [w["code"] for w in by_name["apks/com.tencent.mm.apk"]["warnings"]]


def test_a_set_whose_files_sort_apart_is_still_one_set(rules, policy, tmp_path):
    """Names of another package sorting between a package's files (``_`` sorts after ``.`` and
    letters before it) do not split its set: each set is read together."""
    records, apks = android11(planted=EN)
    apks[f"{PKG}_{PKG}-ZGVm_1.apk"] = PLANTED
    apks[f"{PKG}_{PKG}-ZGVm.apk.apk"] = WECHAT  # sorts between the base and its splits; no record names it
    doc = run(rules, policy, tmp_path, acquisition(tmp_path / "acq", records, apks))
    apps = {a["source"]["chain"][-1]: a for a in doc["apps"] if a["identity"]["origin"] == "apk"}
    base = apps[f"apks/{PKG}_{PKG}-ZGVm.apk"]
    assert sorted(s["source"]["chain"][-1] for s in base["splits"]) == \
        [f"apks/{PKG}_{PKG}-ZGVm_1.apk", f"apks/{PKG}_{PKG}-ZGVm_2.apk"]
    assert base["verdict"] == "review"


def test_paths_past_the_cap_attribute_nothing(rules, policy, tmp_path, monkeypatch):
    """A listing's paths past ``MAX_PATHS`` (memory in the parent) tie no file: those files are sets
    of their own, a split there said (``CONTAINER_BUNDLE_NO_BASE``), never dropped."""
    from apkscan.sources import androidqf_sets

    monkeypatch.setattr(androidqf_sets, "MAX_PATHS", 1)
    files = {DIR10 + "base.apk": BASE, DIR10 + "split_config.en.apk": EN}
    apks = {f"{PKG}_base.apk": BASE, f"{PKG}_split_config.en.apk": EN}
    doc = run(rules, policy, tmp_path, acquisition(tmp_path / "acq", [_record(PKG, files)], apks))
    by_name = {a["source"]["chain"][-1]: a for a in doc["apps"] if a["identity"]["origin"] == "apk"}
    assert set(by_name) == {f"apks/{PKG}_base.apk", f"apks/{PKG}_split_config.en.apk"}
    assert "CONTAINER_BUNDLE_NO_BASE" in [w["code"] for w in by_name[f"apks/{PKG}_split_config.en.apk"]["warnings"]]


def test_numbered_names_past_the_listing_are_sets_of_their_own(rules, policy, tmp_path):
    """Review 67 F4: a set is held whole in the run's parent until it ends, and any ``_<n>`` name was
    taken into it (a crafted listing made all of ``apks/`` one set). AndroidQF numbers a name only
    when it is taken, so a package listing a name once ties one file to it: numbered copies are
    sets of their own, a split there said (``CONTAINER_BUNDLE_NO_BASE``)."""
    stem = f"{PKG}_{PKG}-ZGVm"
    apks = {f"{stem}.apk": BASE, f"{stem}_1.apk": EN, f"{stem}_7.apk": PLANTED}
    doc = run(rules, policy, tmp_path, acquisition(tmp_path / "acq", [_record(PKG, {DIR11 + "base.apk": BASE})], apks))
    by_name = {a["source"]["chain"][-1]: a for a in doc["apps"] if a["identity"]["origin"] == "apk"}
    assert set(by_name) == {f"apks/{name}" for name in apks}
    assert by_name[f"apks/{stem}.apk"]["splits"] == []
    for name in (f"apks/{stem}_1.apk", f"apks/{stem}_7.apk"):
        assert "CONTAINER_BUNDLE_NO_BASE" in [w["code"] for w in by_name[name]["warnings"]]


def test_a_set_past_its_cap_is_cut_and_said(rules, policy, tmp_path, monkeypatch):
    """Past ``MAX_SET`` files (a listing giving one package that many names) the rest are sets of
    their own and the cut is said (``ANDROIDQF_SET_TOO_LARGE``): the parent's memory stays bounded."""
    from apkscan.sources import androidqf_sets

    monkeypatch.setattr(androidqf_sets, "MAX_SET", 2)
    records, apks = android11()
    doc = run(rules, policy, tmp_path, acquisition(tmp_path / "acq", records, apks))
    by_name = {a["source"]["chain"][-1]: a for a in doc["apps"] if a["identity"]["origin"] == "apk"}
    assert set(by_name) == {f"apks/{PKG}_{PKG}-ZGVm.apk", f"apks/{PKG}_{PKG}-ZGVm_2.apk"}
    assert [s["split"] for s in by_name[f"apks/{PKG}_{PKG}-ZGVm.apk"]["splits"]] == ["config.en"]
    assert "CONTAINER_BUNDLE_NO_BASE" in [w["code"] for w in by_name[f"apks/{PKG}_{PKG}-ZGVm_2.apk"]["warnings"]]
    (said,) = [e for e in doc["errors"] if any(i["code"] == "ANDROIDQF_SET_TOO_LARGE" for i in e["errors"])]
    assert said["source"]["chain"][-1] == "packages.json" and f"{PKG} more than 2 files" in said["message"]


@pytest.fixture(scope="module")
def apk_of(tmp_path_factory):
    """``apk_of(package, key, split)`` -> a signed APK built by the fixture generator (needs apksigner)."""
    import shutil

    if shutil.which("apksigner") is None:
        pytest.skip("apksigner not installed")
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    import axml_writer as ax
    import generate as g

    work = tmp_path_factory.mktemp("sign")

    def build(package: str, key: str, split: str) -> bytes:
        attrs = [ax.Attr("package", package, android=False), ax.Attr("split", split, android=False)]
        app = g.App(package, None, version_code=1, version_name="1.0", package_attrs=attrs)
        return g.sign(g.build_unsigned(app), work, [key], v1=True, v2=True, v3=True, min_sdk=21)
    return build
