"""A backup layout names a file as an app's APK, and that APK's manifest gives Android no package
(found by fuzz/fuzz_sources.py): the check for a swapped APK joined the packages read from the
file, one of them None, and the whole scan died with a TypeError, no report. Now such an APK is
read as "(no package Android reads)": a swap is said, and the batch goes on."""

from __future__ import annotations

import shutil
from pathlib import Path

from axml_raw import APPLICATION, BASE, MANIFEST, apk, end, manifest, package_attr, pool, start

ROOT = Path(__file__).resolve().parents[1]
WECHAT = 9  # pool index of com.tencent.mm in STRINGS
STRINGS = BASE + ["com.tencent.mm", "com.example.notes"]


def _no_package_for_android() -> bytes:
    """<application package=...> first, then <manifest package="com.tencent.mm">: Android reads no
    package; other readers read WeChat's (tests/test_manifest_framework.py, review 23)."""
    axml = manifest([], pool_chunk=pool(STRINGS), root_name=APPLICATION,
                    after=start(MANIFEST, [package_attr(WECHAT)]) + end(MANIFEST))
    return apk(axml)


def test_a_layouts_apk_whose_manifest_gives_android_no_package(scan_path, tmp_path):
    folder = tmp_path / "swift"
    shutil.copytree(ROOT / "fixtures" / "backups" / "swift", folder)
    (folder / "com.tencent.mm.app").write_bytes(_no_package_for_android())
    for zipped in (False, True):
        target = folder
        if zipped:
            target = Path(shutil.make_archive(str(tmp_path / "swift-backup"), "zip", tmp_path, "swift"))
        doc = scan_path(target)  # raised TypeError before
        codes = {i["code"] for e in doc["errors"] for i in e["errors"]}
        assert "BACKUP_APK_PACKAGE_MISMATCH" in codes
        said = next(i["message"] for e in doc["errors"] for i in e["errors"] if i["code"] == "BACKUP_APK_PACKAGE_MISMATCH")
        assert "(no package Android reads)" in said and "com.tencent.mm" in said
