"""An APK whose central directory names AndroidManifest.xml twice (review 73 F4).

Android's ZIP reader refuses such an archive (``aapt dump badging``: "Duplicate entries in
archive", no package) and ``apksigner`` neither signs nor verifies it ("Duplicate entry"), but
apksig reads the first record and Python's zipfile (androguard) the last: WeChat's package in
either record is matched, and ``TAMPER_MANIFEST_AMBIGUOUS_PACKAGE`` names both packages.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
import zipfile

import pytest

from apkscan.apk import manifest_records
from apkscan.apk.identify import identify
from cli_helpers import generate_module

NOTES, WECHAT = "com.example.notes", "com.tencent.mm"


def _with_records(tmp_path, packages: list[str]):
    """A fixture APK whose manifest declares ``packages[0]``, with one more AndroidManifest.xml
    record per further package appended to the archive."""
    gen = generate_module()
    import axml_writer

    buf = io.BytesIO(gen.build_unsigned(gen.App(packages[0], "Notes")))
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "a") as z:
        warnings.simplefilter("ignore")  # zipfile warns of a repeated name: the point of this file
        for package in packages[1:]:
            info = zipfile.ZipInfo("AndroidManifest.xml", gen.ENTRY_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, axml_writer.manifest(package, version_code=1, version_name="1.0", min_sdk=21,
                                                  target_sdk=33, label="Notes"))
    path = tmp_path / "two-manifests.apk"
    path.write_bytes(buf.getvalue())
    return path


def _app(doc: dict) -> dict:
    (app,) = doc["apps"]
    return app


def _ambiguity(app: dict) -> str:
    return next(t["message"] for t in app["identity"]["tamper"] if t["code"] == "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE")


@pytest.mark.parametrize("packages", [[NOTES, WECHAT], [WECHAT, NOTES]], ids=["wechat-second", "wechat-first"])
def test_wechat_in_either_record_is_matched(scan_path, tmp_path, packages):
    path = _with_records(tmp_path, packages)
    app = _app(scan_path(path))
    assert app["identity"]["package"] == packages[0]  # the first record, as apksig reads it
    assert {r["value"] for r in app["identity"]["package_readings"]} == {NOTES, WECHAT}
    assert any(f["rule"] == "tencent.wechat" and f["kind"] == "app" for f in app["findings"]), app["findings"]
    assert app["verdict"] != "allowed"
    message = _ambiguity(app)
    assert NOTES in message and WECHAT in message and "2 central-directory records" in message
    assert "TAMPER_DUPLICATE_ENTRY" in {t["code"] for t in app["identity"]["tamper"]}
    _oracles_refuse(path, packages[-1])


def _oracles_refuse(path, last: str) -> None:
    """What the readings are measured against: aapt reads no package, apksigner fails the file,
    Python's zipfile (androguard's reader) takes the last record."""
    if shutil.which("aapt"):
        aapt = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True, text=True, check=False)
        assert aapt.returncode != 0 and "package: name=" not in aapt.stdout
    from apksigner_helper import apksigner_verify

    got = apksigner_verify(path, min_sdk=21)
    assert not got["verified"] and any("Duplicate entry: AndroidManifest.xml" in e for e in got["errors"]), got
    with zipfile.ZipFile(path) as z:
        assert last.encode("utf-16-le") in z.read("AndroidManifest.xml")


def test_many_records_are_read_up_to_the_cap_and_the_last_always(tmp_path, monkeypatch):
    parsed = []
    real = manifest_records.read_manifest
    monkeypatch.setattr(manifest_records, "read_manifest", lambda *a, **k: parsed.append(1) or real(*a, **k))
    decoys = [f"com.example.decoy{i}" for i in range(40)]
    ident = identify(_with_records(tmp_path, [NOTES, *decoys, WECHAT]), idsig=False)
    assert len(parsed) == manifest_records.MAX_RECORDS - 1  # the first record is the manifest itself
    values = [r.value for r in ident.manifest.package_readings]
    assert WECHAT in values and decoys[0] in values and decoys[-1] not in values
    (capped,) = [e for e in ident.errors if e.code == "INPUT_MANIFEST_TOO_MANY_RECORDS"]
    assert "42 central-directory records" in capped.message
    parsed.clear()
    same = identify(_with_records(tmp_path, [NOTES, NOTES, NOTES]), idsig=False)  # copies: parsed once, no reading
    assert parsed == [] and [r.value for r in same.manifest.package_readings] == [NOTES]
    assert "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE" not in {t.code for t in same.tamper}
