"""Android App Bundles (.aab) on real bytes: fixture APKs converted by aapt2 into bundles.

Before this reader an .aab was walked as a plain ZIP and every member skipped ("0 inputs", exit
0): a TikTok bundle was never matched. The bundle is one app; its proto manifests are read by a
bounded reader checked against ``aapt2 dump xmltree``; its upload signature's certificates are
present only, never a verified signer (Play re-signs with another key).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
CONTAINERS = REPO / "fixtures" / "containers"
CORPUS = REPO.parent / "shared" / "corpus"
SCHEMA = REPO / "apkscan" / "report" / "schema" / "scan-result.schema.json"
KEYS = json.loads((APKS / "index.json").read_text())["keys"]
sys.path.insert(0, str(REPO / "fixtures"))
import aab  # noqa: E402


def _build(*args, **kwargs) -> str:
    try:
        return aab.bundle_from(*args, **kwargs)
    except aab.Missing as exc:
        pytest.skip(str(exc))


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(*paths):
        result = scan([FileSource([str(p) for p in paths], WalkOptions(tmp_dir=str(tmp_path / "spool")))],
                      rules, policy)
        return result.to_dict()
    return go


def _oracle(converted: str) -> dict:
    """Package, versions, SDK levels and a literal label as ``aapt2 dump xmltree`` prints them."""
    text = aab.xmltree(converted)
    out = {}
    for key, pattern in (("package", r'A: package="(.*?)" \(Raw: '), ("version_code", r":versionCode\(0x0101021b\)=(-?\d+)"),
                         ("version_name", r':versionName\(0x0101021c\)="(.*?)" \(Raw: '),
                         ("min_sdk", r":minSdkVersion\(0x0101020c\)=(-?\d+)"),
                         ("target_sdk", r":targetSdkVersion\(0x01010270\)=(-?\d+)"),
                         ("label", r':label\(0x01010001\)="(.*?)" \(Raw: ')):
        # the label of <application>: its own attribute lines, up to its first child
        where = text.split("E: application", 1)[1].split("E: ", 1)[0] if key == "label" and "E: application" in text \
            else "" if key == "label" else text
        m = re.search(pattern, where)
        out[key] = None if m is None else int(m.group(1)) if key in ("version_code", "min_sdk", "target_sdk") \
            else m.group(1)
    return out


def _ours(converted: str) -> dict:
    from apkscan.apk.bundle import read_module
    from apkscan.apk.manifest.proto_xml import parse

    with zipfile.ZipFile(converted) as z:
        facts = read_module(parse(z.read("AndroidManifest.xml")), "AndroidManifest.xml", [])
    return {k: facts[k] for k in ("package", "version_code", "version_name", "min_sdk", "target_sdk", "label")}


def _oracle_inputs() -> list[Path]:
    picked = [APKS / n for n in ("tiktok-bytedance-subject.apk", "wechat-tencent-subject.apk", "clean-v1v2v3.apk",
                                 "label-arsc-locales.apk", "hostile-label.apk")]
    corpus = sorted(CORPUS.glob("androguard/APK/*.apk"))[:6] if CORPUS.is_dir() else []
    return picked + corpus


@pytest.mark.parametrize("apk", _oracle_inputs(), ids=lambda p: p.name)
def test_proto_manifest_reads_as_aapt2_dumps_it(apk, tmp_path):
    if shutil.which("aapt2") is None:
        pytest.skip("aapt2 not installed")
    try:
        converted = aab.proto_zip(str(apk), str(tmp_path))
    except subprocess.CalledProcessError:
        pytest.skip("aapt2 does not convert this APK")
    assert _ours(converted) == _oracle(converted)


def test_tiktok_bundle_is_prohibited_its_upload_key_present_only(run, tmp_path):
    """The committed fixture: one app, origin bundle, prohibited under the default policy; the
    certificate jarsigner put there is listed as present, never as a signer, though it verifies."""
    bundle = CONTAINERS / "tiktok.aab"
    if shutil.which("jarsigner"):
        assert subprocess.run(["jarsigner", "-verify", str(bundle)], capture_output=True, text=True).returncode == 0
    doc = run(bundle)
    assert len(doc["apps"]) == 1 and doc["errors"] == []
    app = doc["apps"][0]
    ident = app["identity"]
    assert app["verdict"] == "prohibited" and app["package"] == "com.zhiliaoapp.musically"
    assert ident["origin"] == "bundle" and ident["label"] == "TikTok" and ident["target_sdk"] == 33
    assert ident["verified"] is False and ident["signers"] == []
    assert [c["sha256"] for c in ident["certificates_present"]] == [KEYS["bytedance-like"]["cert_sha256"]]
    assert all(not s["verified"] and "upload" in s["location"] for s in ident["certificate_sightings"])
    assert "BUNDLE_UPLOAD_SIGNATURE_NOT_VERIFIED" in {w["code"] for w in ident["warnings"]}
    assert ident["completeness"]["signatures"] == "not checked"
    assert all(f["strength"] != "confirmed" for f in app["findings"])
    said = json.dumps(app["findings"])  # the evidence says it was never checked, not that it failed
    assert "not the key devices see" in said and "does not verify" not in said
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))


def test_clean_bundle_is_allowed(run, tmp_path):
    bundle = _build(str(APKS / "clean-v1v2v3.apk"), str(tmp_path / "clean.aab"), str(tmp_path), key="test-rsa")
    doc = run(bundle)
    assert [a["verdict"] for a in doc["apps"]] == ["allowed"]
    assert doc["apps"][0]["identity"]["origin"] == "bundle"
    assert doc["apps"][0]["package"] == "com.example.clean"


def test_a_module_of_another_package_is_matched_and_flagged(run, tmp_path):
    """A feature module naming TikTok's package in a clean bundle: a reading rules match too."""
    tiktok = aab.proto_zip(str(APKS / "tiktok-bytedance-subject.apk"), str(tmp_path)) if shutil.which("aapt2") \
        else pytest.skip("aapt2 not installed")
    with zipfile.ZipFile(tiktok) as z:
        feature = z.read("AndroidManifest.xml")
    bundle = _build(str(APKS / "clean-v1v2v3.apk"), str(tmp_path / "mixed.aab"), str(tmp_path),
                    extra={"feature/manifest/AndroidManifest.xml": feature})
    app = run(bundle)["apps"][0]
    assert app["package"] == "com.example.clean" and app["verdict"] != "allowed"  # as an APK's other reading
    assert any("com.zhiliaoapp.musically" in json.dumps(f) for f in app["findings"])
    assert "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE" in {t["code"] for t in app["identity"]["tamper"]}


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _deep(levels: int) -> bytes:
    node = _field(1, _field(3, b"x"))
    for _ in range(levels):
        node = _field(1, _field(3, b"x") + _field(5, node))
    return node


def _malformed() -> dict[str, bytes]:
    real = zipfile.ZipFile(CONTAINERS / "tiktok.aab").read("base/manifest/AndroidManifest.xml")
    return {"truncated": real[: len(real) // 2], "huge-length": b"\x0a\xff\xff\xff\xff\x0f" + real[6:],
            "deep": _deep(5000), "group": b"\x0b" + real, "not-manifest": _field(1, _field(3, b"application"))}


@pytest.mark.parametrize("case", sorted(_malformed()))
def test_a_malformed_proto_manifest_is_a_coded_error_and_the_batch_goes_on(case, run, tmp_path):
    from apkscan.apk.bundle import read_module
    from apkscan.apk.manifest.proto_xml import ProtoXmlError, parse

    data = _malformed()[case]
    bad = _build(str(APKS / "clean-v1v2v3.apk"), str(tmp_path / "bad.aab"), str(tmp_path), manifest=data)
    doc = run(bad, APKS / "clean-v1v2v3.apk")
    assert [e["code"] for e in doc["errors"]] == ["BUNDLE_MANIFEST_MALFORMED"]
    assert [a["package"] for a in doc["apps"]] == ["com.example.clean"]  # the next input was scanned
    with pytest.raises(ProtoXmlError) as caught:
        read_module(parse(data), "m", [])
    assert caught.value.code == "BUNDLE_MANIFEST_MALFORMED"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, NO_COLOR="1"), timeout=120)


def test_an_aab_is_no_longer_skipped_as_a_plain_zip(tmp_path):
    """The gap: ``apkscan scan app.aab`` said "0 inputs" and exited 0. Its kind is said in every
    output: the terminal's row and signer, the HTML's tag, the JSON's origin."""
    out, html = tmp_path / "scan.json", tmp_path / "scan.html"
    res = _cli("scan", str(CONTAINERS / "tiktok.aab"), "--no-store", "--json", str(out), "--html", str(html))
    assert res.returncode == 1, res.stdout + res.stderr
    assert json.loads(out.read_text())["apps"][0]["verdict"] == "prohibited"
    assert "tiktok.aab [app bundle]" in res.stdout and "upload key, unverified: musical.ly Inc." in res.stdout
    assert ">app bundle</span>" in html.read_text()


def test_inspect_says_nothing_of_a_bundle_is_verified_and_exits_1():
    res = _cli("inspect", str(CONTAINERS / "tiktok.aab"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "upload key's JAR signature is NOT verified" in res.stdout
    assert "Certificate present (NOT verified)" in res.stdout and "Signer" not in res.stdout


@pytest.mark.parametrize("target", ["zip", "identify", "sources"])
def test_the_fuzz_seeds_hold_an_app_bundle(target, tmp_path):
    sys.path.insert(0, str(REPO / "fuzz"))
    from seeds import seed

    corpus = seed(target, tmp_path / target)
    assert (CONTAINERS / "tiktok.aab").read_bytes() in {f.read_bytes() for f in corpus.iterdir()}


def test_a_bundle_inside_containers_under_any_name_is_found_by_content(run, tmp_path):
    import io
    import tarfile

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("store/app.bin", (CONTAINERS / "tiktok.aab").read_bytes())
    outer = tmp_path / "pull.tar.gz"
    with tarfile.open(outer, "w:gz") as t:
        info = tarfile.TarInfo("apps.zip")
        info.size = len(inner.getvalue())
        t.addfile(info, io.BytesIO(inner.getvalue()))
    doc = run(outer)
    assert [(a["source"]["chain"][1:], a["verdict"], a["identity"]["origin"]) for a in doc["apps"]] == [
        (["apps.zip", "store/app.bin"], "prohibited", "bundle")]


_ANDROID = b"http://schemas.android.com/apk/res/android"


def _attr(ns: bytes, name: bytes, value: bytes | None = None, rid: int = 0, item: bytes = b"") -> bytes:
    body = _field(1, ns) + _field(2, name) + (_field(3, value) if value is not None else b"")
    return _field(4, body + (_varint(5 << 3) + _varint(rid) if rid else b"") + (_field(6, item) if item else b""))


def _two_readings() -> bytes:
    """versionCode: plain "5", compiled 1; package: plain com.example.clean, compiled string TikTok's."""
    el = _field(1, _field(1, b"android") + _field(2, _ANDROID)) + _field(3, b"manifest")
    el += _attr(_ANDROID, b"versionCode", b"5", 0x0101021B, _field(7, _varint(6 << 3) + _varint(1)))
    el += _attr(b"", b"package", b"com.example.clean", 0, _field(2, _field(1, b"com.zhiliaoapp.musically")))
    return _field(1, el)


def test_a_plain_string_and_a_compiled_value_that_differ_are_both_said(run, tmp_path):
    """aapt2 shows the compiled value (``=1 (Raw: "5")``); the package manager reads the raw string
    of ``package``, aapt2 the compiled one: the package is read from the plain string, and the
    compiled one is a second reading rules match (an adversary picks which one a reader sees)."""
    data = _two_readings()
    if shutil.which("aapt2"):
        converted = tmp_path / "proto.zip"
        with zipfile.ZipFile(converted, "w") as z:
            z.writestr("AndroidManifest.xml", data)
        dumped = aab.xmltree(str(converted))
        assert ':versionCode(0x0101021b)=1 (Raw: "5")' in dumped
        assert 'package="com.zhiliaoapp.musically" (Raw: "com.example.clean")' in dumped
    bundle = _build(str(APKS / "clean-v1v2v3.apk"), str(tmp_path / "two.aab"), str(tmp_path), manifest=data)
    app = run(bundle)["apps"][0]
    ident = app["identity"]
    assert app["package"] == "com.example.clean" and ident["version_code"] == 1
    assert [r["value"] for r in ident["package_readings"]] == ["com.example.clean", "com.zhiliaoapp.musically"]
    assert "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE" in {t["code"] for t in ident["tamper"]}
    assert "BUNDLE_MANIFEST_READINGS_DIFFER" in {w["code"] for w in ident["warnings"] + ident["errors"]}
    assert app["verdict"] != "allowed"


def test_a_label_that_is_a_resource_is_said_not_read(run, tmp_path):
    """resources.pb is not read: a referenced label is no label, and completeness says so."""
    bundle = _build(str(APKS / "label-arsc-locales.apk"), str(tmp_path / "labels.aab"), str(tmp_path))
    ident = run(bundle)["apps"][0]["identity"]
    assert ident["label"] is None and ident["completeness"]["resources"] == "not checked"
    assert ident["completeness"]["why"]["resources"] == "BUNDLE_LABEL_NOT_READ"
    assert "BUNDLE_LABEL_NOT_READ" in {w["code"] for w in ident["warnings"]}
    assert ident["certificates_present"] == [] and ident["schemes"]["v1"]["present"] is False  # unsigned


def test_quick_says_a_bundle_was_not_hashed():
    from apkscan.apk.identify import identify

    ident = identify(CONTAINERS / "tiktok.aab", quick=True)
    assert ident.origin == "bundle" and ident.file is None
    assert ident.completeness.state["file_hashes"] == "not checked" and ident.completeness.why["file_hashes"] == "--quick"


@pytest.mark.parametrize("order", ["decoy after", "decoy before"])
def test_a_root_element_given_twice_is_one_element_as_aapt2_merges_it(order, run, tmp_path):
    """Protobuf merges a message field met twice: aapt2 reads a root XmlNode with two ``element``
    fields as one element, the attributes of both in order, and ``dump badging`` takes the first
    ``package``. The reader kept the last element only: TikTok's manifest followed by an element
    naming ``com.example.benign`` read as the benign app alone, allowed. Now both packages are
    readings, in aapt2's order, and TikTok is matched whichever comes first."""
    if not shutil.which("aapt2"):
        pytest.skip("aapt2 not installed")
    with zipfile.ZipFile(aab.proto_zip(str(APKS / "tiktok-bytedance-subject.apk"), str(tmp_path))) as z:
        real = z.read("AndroidManifest.xml")
    decoy = _field(1, _field(3, b"manifest") + _attr(b"", b"package", b"com.example.benign"))
    data = real + decoy if order == "decoy after" else decoy + real
    converted = tmp_path / "proto.zip"
    with zipfile.ZipFile(converted, "w") as z:
        z.writestr("AndroidManifest.xml", data)
    dumped = re.findall(r'A: package="(.*?)" \(Raw: ', aab.xmltree(str(converted)))  # the oracle's order
    assert sorted(dumped) == ["com.example.benign", "com.zhiliaoapp.musically"]
    bundle = _build(str(APKS / "tiktok-bytedance-subject.apk"), str(tmp_path / "twice.aab"), str(tmp_path),
                    manifest=data)
    app = run(bundle)["apps"][0]
    assert app["package"] == dumped[0]
    assert [r["value"] for r in app["identity"]["package_readings"]] == dumped
    assert "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE" in {t["code"] for t in app["identity"]["tamper"]}
    assert app["verdict"] != "allowed"
    assert any("com.zhiliaoapp.musically" in json.dumps(f) for f in app["findings"])


def test_a_string_value_given_twice_is_read_as_its_last_as_aapt2_reads_it(run, tmp_path):
    """A singular field met twice counts as its last (protobuf): the compiled label String
    ``{value: "Calculator", value: "TikTok"}`` is "TikTok" to aapt2, and read as "Calculator"
    (the first) before; the plain string "Calculator" stays another reading."""
    strings = _field(1, b"Calculator") + _field(1, b"TikTok")
    app_el = _field(3, b"application") + _attr(_ANDROID, b"label", b"Calculator", 0x01010001, _field(2, strings))
    el = (_field(1, _field(1, b"android") + _field(2, _ANDROID)) + _field(3, b"manifest")
          + _attr(b"", b"package", b"com.example.clean") + _field(5, _field(1, app_el)))
    data = _field(1, el)
    if shutil.which("aapt2"):
        converted = tmp_path / "proto.zip"
        with zipfile.ZipFile(converted, "w") as z:
            z.writestr("AndroidManifest.xml", data)
        assert ':label(0x01010001)="TikTok" (Raw: "Calculator")' in aab.xmltree(str(converted))
    bundle = _build(str(APKS / "clean-v1v2v3.apk"), str(tmp_path / "label.aab"), str(tmp_path), manifest=data)
    ident = run(bundle)["apps"][0]["identity"]
    assert ident["label"] == "TikTok"
    said = [t["message"] for t in ident["tamper"] if t["code"] == "TAMPER_MANIFEST_AMBIGUOUS_LABEL"]
    assert said and "Calculator" in said[0]  # the other reading, named by the fact


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


@pytest.mark.parametrize("case", ["unknown group", "element as a varint"])
def test_what_protobuf_skips_is_skipped_as_aapt2_skips_it(case, run, tmp_path):
    """An unknown field written as a group (wire types 3 and 4), or a known field with another wire
    type than its own, is skipped by protobuf as an unknown field, and aapt2 reads TikTok past it;
    the reader refused both (``BUNDLE_MANIFEST_MALFORMED``): a TikTok bundle was an error, never
    matched. A group with no end, or an end with no group, stays malformed (aapt2 fails too)."""
    if not shutil.which("aapt2"):
        pytest.skip("aapt2 not installed")
    with zipfile.ZipFile(aab.proto_zip(str(APKS / "tiktok-bytedance-subject.apk"), str(tmp_path))) as z:
        real = z.read("AndroidManifest.xml")
    prefix = (_key(15, 3) + _key(1, 0) + _varint(7) + _key(16, 3) + _key(2, 5) + bytes(4) + _key(16, 4) + _key(15, 4)
              if case == "unknown group" else _key(1, 0) + _varint(5))
    data = prefix + real
    converted = tmp_path / "proto.zip"
    with zipfile.ZipFile(converted, "w") as z:
        z.writestr("AndroidManifest.xml", data)
    badging = subprocess.run(["aapt2", "dump", "badging", str(converted)], capture_output=True, text=True).stdout
    assert "package: name='com.zhiliaoapp.musically'" in badging  # the oracle reads past it
    bundle = _build(str(APKS / "tiktok-bytedance-subject.apk"), str(tmp_path / "skip.aab"), str(tmp_path),
                    manifest=data)
    app = run(bundle)["apps"][0]
    assert app["package"] == "com.zhiliaoapp.musically" and app["verdict"] == "prohibited"

    from apkscan.apk.manifest.proto_xml import ProtoXmlError, parse

    for broken in (_key(15, 3) + real, _key(15, 4) + real, _key(15, 3) + _key(16, 4) + real):
        with pytest.raises(ProtoXmlError):
            parse(broken)


@pytest.mark.parametrize("tiktok_last", [True, False])
def test_a_module_manifest_listed_twice_is_read_in_every_record(tiktok_last, run, tmp_path):
    """A bundle whose central directory names ``base/manifest/AndroidManifest.xml`` twice: Java's
    ``ZipFile`` (bundletool's reader) takes the last record, apkscan read the first only, so a
    benign manifest first and TikTok's second read as the benign app, allowed. Every record is a
    reading now, flagged, and TikTok is matched in either order."""
    if not shutil.which("aapt2"):
        pytest.skip("aapt2 not installed")
    with zipfile.ZipFile(aab.proto_zip(str(APKS / "tiktok-bytedance-subject.apk"), str(tmp_path))) as z:
        tiktok = z.read("AndroidManifest.xml")
    with zipfile.ZipFile(aab.proto_zip(str(APKS / "clean-v1v2v3.apk"), str(tmp_path))) as z:
        clean = z.read("AndroidManifest.xml")
    first, last = (clean, tiktok) if tiktok_last else (tiktok, clean)
    with pytest.warns(UserWarning, match="Duplicate name"):
        bundle = _build(str(APKS / "clean-v1v2v3.apk"), str(tmp_path / "twice.aab"), str(tmp_path), manifest=first,
                        extra={"base/manifest/AndroidManifest.xml": last})
    with zipfile.ZipFile(bundle) as z:
        assert [i.filename for i in z.infolist()].count("base/manifest/AndroidManifest.xml") == 2
    app = run(bundle)["apps"][0]
    readings = [r["value"] for r in app["identity"]["package_readings"]]
    assert sorted(readings) == ["com.example.clean", "com.zhiliaoapp.musically"]
    assert {"TAMPER_DUPLICATE_ENTRY", "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE"} <= {t["code"] for t in app["identity"]["tamper"]}
    assert app["verdict"] != "allowed"


def test_a_warm_run_says_a_bundle_is_a_bundle(monkeypatch, tmp_path):
    """The store's fast lane answers a plain APK by path and stat with custody kind ``apk``; a bundle is
    never that lane's (its cold line says ``aab``), so a warm run writes the same custody line."""
    from click.testing import CliRunner

    from apkscan.cli import main

    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)  # a file copied here has a fresh ctime
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(CONTAINERS / "tiktok.aab", folder / "app.aab")
    os.utime(folder / "app.aab", ns=(1_600_000_000 * 10**9,) * 2)
    kinds = []
    for run_name in ("cold", "warm"):
        out = tmp_path / f"{run_name}.jsonl"
        res = CliRunner().invoke(main, ["scan", str(folder), "--store", str(tmp_path / "s.sqlite"), "--jsonl", str(out),
                                        "--force", "-q"])
        assert res.exit_code == 1, res.output
        lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        kinds.append([x["kind"] for x in lines if x["type"] == "input_file"])
    assert kinds == [["aab"], ["aab"]]


def test_a_mutated_proto_manifest_is_read_or_refused_with_its_code():
    """Every field reader takes only the wire type it expects (the type checks in each loop, not
    a guard in the string and message helpers): 4,000 seeded mutations of the shipped TikTok
    bundle's base manifest (flips, wire types, cuts, repeated spans) each give an element or the
    coded error, never another exception."""
    import random

    from apkscan.apk.manifest.proto_xml import ProtoXmlError, parse

    with zipfile.ZipFile(CONTAINERS / "tiktok.aab") as z:
        base = z.read("base/manifest/AndroidManifest.xml")
    assert parse(base).name == "manifest"
    rnd, outcomes = random.Random(93), {"read": 0, "refused": 0}
    for _ in range(4000):
        data = bytearray(base)
        for _ in range(rnd.randint(1, 4)):
            at = rnd.randrange(len(data))
            kind = rnd.randrange(5)
            if kind == 4:  # another wire type for what may be a field's key (its low three bits)
                data[at] = (data[at] & ~7) | rnd.randrange(6)
            elif kind == 0:
                data[at] = rnd.randrange(256)
            elif kind == 1:
                del data[at:at + rnd.randint(1, 16)]
            elif kind == 2:
                data[at:at] = data[rnd.randrange(len(data)):][:rnd.randint(1, 32)]
            else:
                data[at] ^= 1 << rnd.randrange(8)
        try:
            parse(bytes(data))
            outcomes["read"] += 1
        except ProtoXmlError as exc:
            assert exc.code == "BUNDLE_MANIFEST_MALFORMED"
            outcomes["refused"] += 1
    assert outcomes["read"] and outcomes["refused"], outcomes
