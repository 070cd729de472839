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


# Names another reader reads as AndroidManifest.xml (review 75 F3): Python's zipfile cuts a name at its
# first NUL; androguard 4.1 (apkInspector) decodes names as UTF-8 dropping invalid bytes (an overlong
# NUL, C0 80, passes libziparchive's check, so aapt and Android read the exact record).
NUL_NAME, OVERLONG_NAME = b"AndroidManifest.xml\x00", b"AndroidManifest.xml\xc0\x80"


def _with_named(tmp_path, packages: list[str], names: list[bytes], min_sdk: int = 21) -> bytes:
    """Like ``_with_records``, each further record under the name in ``names`` (its bytes, in the
    central directory and the local header alike): the archive's bytes."""
    gen = generate_module()
    import axml_writer

    buf = io.BytesIO(gen.build_unsigned(gen.App(packages[0], "Notes", min_sdk=min_sdk)))
    placeholders = [(b"QZ%03d" % i).ljust(len(name), b"Q") for i, name in enumerate(names)]
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "a") as z:  # one session: zipfile rewrites odd names it reopens
        warnings.simplefilter("ignore")
        for package, placeholder in zip(packages[1:], placeholders):
            info = zipfile.ZipInfo(placeholder.decode(), gen.ENTRY_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, axml_writer.manifest(package, version_code=1, version_name="1.0", min_sdk=min_sdk,
                                                  target_sdk=33, label="Notes"))
    data = buf.getvalue()
    for placeholder, name in zip(placeholders, names):
        assert data.count(placeholder) == 2  # the central directory's and the local header's
        data = data.replace(placeholder, name)
    return data


def _androguard_package(path) -> str:
    from androguard.core.apk import APK
    from loguru import logger

    logger.disable("androguard")
    return APK(str(path)).get_package()


def test_wechat_in_a_nul_named_record_is_matched(scan_path, tmp_path):
    path = tmp_path / "nul-named.apk"
    path.write_bytes(_with_named(tmp_path, [NOTES, WECHAT], [NUL_NAME]))
    with zipfile.ZipFile(path) as z:  # Python's zipfile reads WeChat's manifest as AndroidManifest.xml
        assert WECHAT.encode("utf-16-le") in z.read("AndroidManifest.xml")
    if shutil.which("aapt"):  # libziparchive refuses the archive ("invalid file name")
        aapt = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True, text=True, check=False)
        assert aapt.returncode != 0 and "package: name=" not in aapt.stdout
    app = _app(scan_path(path))
    assert app["identity"]["package"] == NOTES
    assert {r["value"] for r in app["identity"]["package_readings"]} == {NOTES, WECHAT}
    assert any(f["rule"] == "tencent.wechat" and f["kind"] == "app" for f in app["findings"]), app["findings"]
    assert app["verdict"] != "allowed"
    message = _ambiguity(app)
    assert "2 central-directory records" in message and WECHAT in message
    assert "named b'AndroidManifest.xml\\x00', which Python's zipfile cuts at its first NUL" in message


@pytest.mark.parametrize("name", [NUL_NAME, OVERLONG_NAME], ids=["nul", "overlong-nul"])
def test_signed_apk_with_wechat_under_a_name_another_reader_takes(scan_path, tmp_path, name):
    gen = generate_module()
    signed = gen.sign(_with_named(tmp_path, [NOTES, WECHAT], [name], min_sdk=24), tmp_path, ["test-rsa"],
                      v1=False, v2=True, v3=True, min_sdk=24)
    path = tmp_path / "signed.apk"
    path.write_bytes(signed)
    from apksigner_helper import apksigner_verify

    got = apksigner_verify(path)
    assert got["verified"], got  # apksig reads the exact record (Notes) and verifies the file
    if name == OVERLONG_NAME:  # libziparchive accepts C0 80, so aapt (and Android) read Notes; androguard WeChat
        aapt = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True, text=True, check=False)
        assert f"package: name='{NOTES}'" in aapt.stdout
        assert _androguard_package(path) == WECHAT
    app = _app(scan_path(path))
    assert app["identity"]["package"] == NOTES
    assert any(f["rule"] == "tencent.wechat" and f["kind"] == "app" for f in app["findings"]), app["findings"]
    assert app["verdict"] != "allowed"
    assert repr(name) in _ambiguity(app)


def test_records_other_readers_take_are_read_past_the_cap(tmp_path):
    """apksig's record, androguard's (the last it reads as the manifest) and Python's zipfile's are
    always parsed, whatever the number of records: WeChat under the overlong name is matched."""
    decoys = [f"com.example.decoy{i}" for i in range(5)]
    names = [b"AndroidManifest.xml"] * 5 + [OVERLONG_NAME, NUL_NAME]
    path = tmp_path / "many.apk"
    path.write_bytes(_with_named(tmp_path, [NOTES, *decoys, WECHAT, "com.example.last"], names))
    ident = identify(path, idsig=False)
    hows = {r.value: r.how for r in ident.manifest.package_readings}
    assert ident.manifest.package == NOTES and WECHAT in hows and "com.example.last" in hows
    assert "the last: androguard reads it" in hows[WECHAT]
    assert "the last: Python's zipfile reads it" in hows["com.example.last"]
    assert decoys[0] in hows and decoys[-1] not in hows
    (capped,) = [e for e in ident.errors if e.code == "INPUT_MANIFEST_TOO_MANY_RECORDS"]
    assert "8 central-directory records: 4 are read" in capped.message
