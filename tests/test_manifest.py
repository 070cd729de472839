"""manifest.py against aapt's ground truth for every corpus APK, plus hand-built binary
XML for the apksig minSdkVersion rules the corpus does not exercise."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apkscan.apk.manifest.android_manifest import (
    ATTR_LABEL,
    ATTR_MIN_SDK,
    ATTR_TARGET_SANDBOX,
    ATTR_TARGET_SDK,
    ATTR_VERSION_CODE,
    CUR_DEVELOPMENT,
    MAX_INPUT_SIZE,
    MIN_SDK_BLOCKING_CODES,
    apksig_target_sandbox_version,
    apksig_target_sdk,
    min_sdk_for_codename,
    read_manifest,
)
from apkscan.apk.manifest.axml import AxmlRuntimeError

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"

# Files Python's zipfile refuses (the test extracts with zipfile); apkscan's own ZIP reader
# follows the central directory as Android does and is tested elsewhere.
ZIPFILE_REFUSES = {
    "incorrect-manifest-size.apk": "CRC of AndroidManifest.xml does not match (by design)",
    "v2-only-truncated-cd.apk": "central directory truncated (by design)",
    "v3-only-with-rsa-pkcs1-sha512-8192-digest-mismatch.apk": "local header name differs from CD",
}


def _codes(info) -> set[str]:
    return {i.code for i in info.errors}


def _corpus_apks():
    if not CORPUS.exists():
        return []
    out = []
    for folder in ("apksig", "androguard"):
        with open(CORPUS / folder / "ground_truth.jsonl", encoding="utf-8") as fh:
            out += [(CORPUS / folder / json.loads(line)["file"], json.loads(line)) for line in fh]
    return out


def _extract(path: Path) -> tuple[bytes | None, bytes | None]:
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        manifest = zf.read("AndroidManifest.xml") if "AndroidManifest.xml" in names else None
        arsc = zf.read("resources.arsc") if "resources.arsc" in names else None
    return manifest, arsc


def test_corpus_matches_aapt():
    apks = _corpus_apks()
    if not apks:
        pytest.skip("corpus not available")
    compared = 0
    for path, rec in apks:
        try:
            manifest, arsc = _extract(path)
        except (zipfile.BadZipFile, OSError):
            assert path.name in ZIPFILE_REFUSES or not rec.get("package"), path.name
            continue
        info = read_manifest(manifest, arsc)
        if manifest is None:
            assert _codes(info) == {"MANIFEST_MISSING"}
            assert not rec.get("package")
            continue
        assert not (_codes(info) & MIN_SDK_BLOCKING_CODES), (path.name, info.errors)
        got = {
            "package": info.package,
            "version_code": None if info.version_code is None else str(info.version_code),
            "version_name": info.version_name,
            "min_sdk_version": None if info.min_sdk is None else str(info.min_sdk),
            "target_sdk_version": None if info.target_sdk is None else str(info.target_sdk),
        }
        for key, value in got.items():
            expected = rec.get(key) or None  # aapt prints '' for an absent versionCode/Name
            if expected is not None:
                assert value == expected, (path.name, key, value, expected)
                compared += 1
            elif key in ("version_code", "version_name"):
                assert value is None, (path.name, key, value)
            elif key == "min_sdk_version":  # <uses-sdk> without the attribute: apksig says 1
                assert value in (None, "1"), (path.name, value)
    assert compared > 1200


def test_labels_agree_with_androguard():
    """Second opinion on label resolution: androguard's own APK.get_app_name()."""
    apks = [(p, r) for p, r in _corpus_apks() if "androguard" in p.parts]
    if not apks:
        pytest.skip("corpus not available")
    from loguru import logger

    logger.disable("androguard")
    from androguard.core.apk import APK

    checked = 0
    for path, _ in apks:
        try:
            manifest, arsc = _extract(path)
            expected = APK(str(path)).get_app_name() if manifest else None
        except Exception:  # noqa: BLE001 - files androguard cannot open
            continue
        info = read_manifest(manifest, arsc)
        if arsc is None and expected and expected.startswith("@"):
            assert info.label is None and "MANIFEST_ARSC_MISSING" in _codes(info)
            continue
        assert info.label == (expected or None), path.name
        if info.label is not None:
            assert info.labels[""] == info.label
        checked += 1
    assert checked > 40


def test_tinyapp_labels_debuggable_and_apksig_values():
    if not CORPUS.exists():
        pytest.skip("corpus not available")
    manifest, arsc = _extract(CORPUS / "apksig" / "debuggable-boolean.apk")
    info = read_manifest(manifest, arsc)
    assert info.label == "Tiny App for CTS" and info.debuggable is True
    assert info.labels[""] == "Tiny App for CTS" and {"en-XA", "ar-XB"} <= set(info.labels)
    assert (info.min_sdk, info.target_sdk, apksig_target_sdk(manifest)) == (7, 25, 25)
    manifest, arsc = _extract(CORPUS / "apksig" / "debuggable-resource.apk")
    assert read_manifest(manifest, arsc).debuggable is not None  # resolved through the ARSC
    manifest, _ = _extract(CORPUS / "apksig" / "v1-only-no-uses-sdk.apk")
    info = read_manifest(manifest, None)
    assert info.min_sdk is None and info.target_sdk is None
    assert apksig_target_sdk(manifest) == 1 and apksig_target_sandbox_version(manifest) == 1
    manifest, _ = _extract(CORPUS / "apksig" / "original-with-versionCodeMajor.apk")
    assert read_manifest(manifest, None).version_code == 25


# --- hand-built binary XML -----------------------------------------------------------------


def _chunk(ctype: int, header_extra: bytes, body: bytes) -> bytes:
    hsize = 8 + len(header_extra)
    return struct.pack("<HHI", ctype, hsize, hsize + len(body)) + header_extra + body


def build_axml(elements, attr_ids=(ATTR_MIN_SDK, ATTR_TARGET_SDK, ATTR_LABEL, ATTR_VERSION_CODE,
                                   ATTR_TARGET_SANDBOX)) -> bytes:
    """elements: (depth-ordered) list of ("start", name, [(attr_name, vtype, value)]) or ("end", name).

    Attribute names listed in NAMES get the framework IDs in ``attr_ids`` via the resource map.
    """
    names = ["minSdkVersion", "targetSdkVersion", "label", "versionCode", "targetSandboxVersion"]
    strings = list(names)

    def idx(s: str) -> int:
        if s not in strings:
            strings.append(s)
        return strings.index(s)

    body = b""
    for ev in elements:
        if ev[0] == "end":
            body += _chunk(0x0103, b"\0" * 8, struct.pack("<II", 0xFFFFFFFF, idx(ev[1])))
            continue
        _, name, attrs = ev
        encoded = b""
        for aname, vtype, value in attrs:
            data = idx(value) if vtype == 0x03 else value
            raw = idx(value) if vtype == 0x03 else 0xFFFFFFFF
            ns = 0xFFFFFFFF if aname in ("package", "split") else idx("http://schemas.android.com/apk/res/android")
            encoded += struct.pack("<IIIHBBi", ns, idx(aname), raw, 8, 0, vtype, data)
        head = struct.pack("<IIHHHHHH", 0xFFFFFFFF, idx(name), 20, 20, len(attrs), 0, 0, 0)
        body += _chunk(0x0102, b"\0" * 8, head + encoded)
    offsets, data = b"", b""
    for s in strings:
        offsets += struct.pack("<I", len(data))
        data += struct.pack("<H", len(s)) + s.encode("utf-16-le") + b"\0\0"
    data += b"\0" * (-len(data) % 4)
    pool = _chunk(0x0001, struct.pack("<5I", len(strings), 0, 0, 28 + len(offsets), 0), offsets + data)
    resmap = _chunk(0x0180, b"", b"".join(struct.pack("<I", i) for i in attr_ids))
    return _chunk(0x0003, b"", pool + resmap + body)


def _doc(*children, root_attrs=()):
    return [("start", "manifest", [("package", 0x03, "com.example"), *root_attrs]), *children,
            ("end", "manifest")]


def _uses_sdk(*attrs):
    return [("start", "uses-sdk", list(attrs)), ("end", "uses-sdk")]


def test_min_sdk_rules_like_apksig():
    info = read_manifest(build_axml(_doc(*_uses_sdk(("minSdkVersion", 0x10, 21)))), None)
    assert (info.package, info.min_sdk, info.errors) == ("com.example", 21, [])
    # several <uses-sdk>: the largest wins; one without the attribute counts as 1
    xml = build_axml(_doc(*_uses_sdk(("minSdkVersion", 0x10, 9)), *_uses_sdk(("minSdkVersion", 0x11, 24)),
                          *_uses_sdk()))
    assert read_manifest(xml, None).min_sdk == 24
    assert read_manifest(build_axml(_doc(*_uses_sdk())), None).min_sdk == 1
    assert read_manifest(build_axml(_doc(*_uses_sdk(("minSdkVersion", 0x10, 0)))), None).min_sdk == 1
    # only children of the root count
    nested = _doc(("start", "application", []), *_uses_sdk(("minSdkVersion", 0x10, 30)), ("end", "application"))
    assert read_manifest(build_axml(nested), None).min_sdk is None
    # a codename is "the release before it ships"
    info = read_manifest(build_axml(_doc(*_uses_sdk(("minSdkVersion", 0x03, "O")))), None)
    assert info.min_sdk == 25 and _codes(info) == {"MANIFEST_MIN_SDK_CODENAME"}
    # apksig refuses numeric strings, references and booleans
    for attr in (("minSdkVersion", 0x03, "21"), ("minSdkVersion", 0x01, 0x7F010000),
                 ("minSdkVersion", 0x12, 1)):
        info = read_manifest(build_axml(_doc(*_uses_sdk(attr))), None)
        assert info.min_sdk is None and "MANIFEST_MIN_SDK_UNSUPPORTED" in _codes(info), attr
    # matched by resource ID, not by name: without the ID the attribute is invisible
    xml = build_axml(_doc(*_uses_sdk(("minSdkVersion", 0x10, 21))), attr_ids=())
    assert read_manifest(xml, None).min_sdk == 1


def test_codename_table_matches_apksig_tests():
    expected = {"AAAA": 1, "CUPCAKE": 2, "FROYO": 7, "N": 23, "NMR1": 23, "OMG": 25, "QQQ": 27,
                "Baklava": 34}
    assert {k: min_sdk_for_codename(k) for k in expected} == expected
    for bad in ("", "1ABC", "q"):
        with pytest.raises(Exception):
            min_sdk_for_codename(bad)


def test_target_sdk_and_sandbox_like_apksig():
    xml = build_axml(_doc(*_uses_sdk(("minSdkVersion", 0x10, 21), ("targetSdkVersion", 0x10, 30)),
                          root_attrs=[("targetSandboxVersion", 0x10, 2), ("versionCode", 0x10, 7)]))
    info = read_manifest(xml, None)
    assert (info.target_sdk, info.version_code) == (30, 7)
    assert apksig_target_sdk(xml) == 30 and apksig_target_sandbox_version(xml) == 2
    # a codename target: apksig falls back to minSdkVersion; Android calls it CUR_DEVELOPMENT
    xml = build_axml(_doc(*_uses_sdk(("minSdkVersion", 0x10, 21), ("targetSdkVersion", 0x03, "Tiramisu"))))
    assert apksig_target_sdk(xml) == 21 and read_manifest(xml, None).target_sdk == CUR_DEVELOPMENT


def test_literal_label_and_missing_inputs():
    xml = build_axml(_doc(("start", "application", [("label", 0x03, "Hello")]), ("end", "application")))
    info = read_manifest(xml, None)
    assert (info.label, info.labels, info.errors) == ("Hello", {"": "Hello"}, [])
    info = read_manifest(None, None)
    assert _codes(info) == {"MANIFEST_MISSING"} and info.package is None
    info = read_manifest(b"\0" * (MAX_INPUT_SIZE + 1), None)
    assert _codes(info) == {"MANIFEST_TOO_LARGE"}
    ref = build_axml(_doc(("start", "application", [("label", 0x01, 0x7F010000)]), ("end", "application")))
    info = read_manifest(ref, b"garbage, not an ARSC table")
    assert info.label is None and "MANIFEST_ARSC_MALFORMED" in _codes(info)
    assert info.package == "com.example"


def test_malformed_never_raises_and_stays_quiet(capfd):
    if CORPUS.exists():
        manifest, arsc = _extract(CORPUS / "apksig" / "original.apk")
    else:
        manifest, arsc = build_axml(_doc(*_uses_sdk(("minSdkVersion", 0x10, 21)))), None
    samples = [b"", b"\x03\x00\x08\x00", os.urandom(3000)]
    samples += [manifest[:n] for n in range(0, len(manifest), 37)]
    samples += [manifest[:n] + b"\xff\xff" + manifest[n + 2:] for n in range(0, len(manifest), 29)]
    for data in samples:
        info = read_manifest(data, arsc)
        for read in (apksig_target_sdk, apksig_target_sandbox_version):
            try:  # only where apksig's parser throws unchecked, which ends its verify (review 73 F3)
                read(data)
            except AxmlRuntimeError:
                pass
        if info.min_sdk is None and info.package is None:
            assert info.errors or data[:2] == b"\x03\x00"
    for n in range(0, len(arsc or b""), max(1, len(arsc or b"") // 40)):
        read_manifest(manifest, arsc[:n])
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    info = read_manifest(b"\x03\x00\x08\x00\x10\x00\x00\x00" + b"\x01\x00\x04\x00\x08\x00\x00\x00", None)
    assert "MANIFEST_MALFORMED" in _codes(info)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.one_of(st.none(), st.binary(max_size=200)))
def test_random_bytes_never_raise(manifest, arsc):
    info = read_manifest(manifest, arsc)
    assert isinstance(info.errors, list)
