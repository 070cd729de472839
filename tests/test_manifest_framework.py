"""The package as Android's package manager reads it (framework_xml), on manifests built to be
read two ways (review 20): every case states Android's package and the other readings that
must be kept; ``aapt dump badging`` (Debian's, libandroidfw) must find its package among them.
"""

from __future__ import annotations

import re
import struct
import shutil
import subprocess
import sys

import pytest
from axml_raw import (
    APPLICATION,
    BASE,
    MANIFEST,
    TYPE_STRING,
    USES_SDK,
    apk,
    attr,
    end,
    manifest,
    package_attr,
    pool,
    start,
    utf16_entry,
    utf8_entry,
)

from apkscan.apk.manifest.android_manifest import read_manifest

WECHAT, DECOY = 9, 10  # pool indices of the usual pool plus these two
STRINGS = BASE + ["com.tencent.mm", "com.example.notes"]


def _odd(strings: list[str], index: int) -> bytes:
    """A UTF-16 pool whose entry ``index`` is declared one byte past where it starts: Android
    divides byte offsets by two and reads it; apksig and androguard read from the odd byte."""
    offsets, at = [], 0
    for s in strings:
        offsets.append(at)
        at += len(utf16_entry(s))
    offsets[index] += 1
    return pool(strings, offsets=offsets)


def _bad_namespace_string() -> bytes:
    """String 11 (a namespace) declares 0x7000 characters: Android gets NULL for it. Android 12
    on treats that as "no namespace"; older releases (and Debian's aapt) only when the length
    they decoded is 0."""
    strings: list[str | bytes] = [*STRINGS, b"\x00\x70" + "x".encode("utf-16-le") + b"\x00\x00"]
    return manifest([package_attr(WECHAT, ns=11), package_attr(DECOY)], pool_chunk=pool(strings))


def _utf8_raw(strings: list[str], raw: dict[int, bytes]) -> bytes:
    """A UTF-8 pool whose entries ``raw`` are written as given (lengths and all)."""
    return pool([raw.get(i, utf8_entry(t)) for i, t in enumerate(strings)], utf8=True)


CASES = {
    # name: (manifest, Android's package, other readings that must be kept)
    "plain": (manifest([package_attr(WECHAT)], pool_chunk=pool(STRINGS)), "com.tencent.mm", set()),
    "namespace index past the pool, decoy after it": (
        manifest([package_attr(WECHAT, ns=0x7FFFFFFF), package_attr(DECOY)], pool_chunk=pool(STRINGS)),
        "com.tencent.mm", {"com.example.notes"}),
    "namespace index past a UTF-8 pool, decoy after it": (
        manifest([package_attr(WECHAT, ns=200), package_attr(DECOY)], pool_chunk=pool(STRINGS, utf8=True)),
        "com.tencent.mm", {"com.example.notes"}),
    "namespace index past the pool, no decoy": (
        manifest([package_attr(WECHAT, ns=0x7FFFFFFF)], pool_chunk=pool(STRINGS)), "com.tencent.mm", set()),
    "namespace string Android cannot read": (_bad_namespace_string(), "com.tencent.mm", {"com.example.notes"}),
    "odd UTF-16 offset of the value": (
        manifest([package_attr(WECHAT)], pool_chunk=_odd(STRINGS, WECHAT)), "com.tencent.mm", set()),
    "odd UTF-16 offset of the name 'package', decoy after it": (
        manifest([package_attr(WECHAT), package_attr(DECOY)], pool_chunk=_odd(STRINGS, 6)),
        "com.tencent.mm", set()),
    "NUL inside a UTF-8 name": (
        manifest([package_attr(WECHAT)], pool_chunk=pool([*BASE, "com.tencent.mm\x00.x"], utf8=True)),
        "com.tencent.mm", {"com.tencent.mm\x00.x"}),
    "NUL inside a UTF-16 name": (  # Java keeps it (no valid name: no install); aapt prints up to it
        manifest([package_attr(WECHAT)], pool_chunk=pool([*BASE, "com.tencent.mm\x00.x"])),
        "com.tencent.mm\x00.x", {"com.tencent.mm"}),
    "two string pools (Android uses the last)": (
        manifest([package_attr(WECHAT)], pool_chunk=pool([*BASE, "com.example.notes"]) + pool(STRINGS)),
        "com.tencent.mm", set()),
    "attribute records of 16 bytes": (
        manifest([package_attr(WECHAT)], pool_chunk=pool(STRINGS), size=16), "com.tencent.mm", set()),
    "overlong UTF-8 in the name (ART decodes it, a strict decoder does not)": (
        manifest([package_attr(WECHAT)], pool_chunk=_utf8_raw(STRINGS, {WECHAT: bytes([14, 15]) + b"com.te\xc1\xaecent.mm\x00"})),
        "com.tencent.mm", {"com.te\ufffd\ufffdcent.mm"}),
    "the first attribute's name 'package' has no NUL (Android skips it), decoy in it": (
        manifest([package_attr(DECOY, name=11), package_attr(WECHAT)],
                 pool_chunk=_utf8_raw([*STRINGS, "packageX"], {11: bytes([7, 7]) + b"packageX\x00"})),
        "com.tencent.mm", set()),
    "a second <manifest> root after the first (Android 16 may skip the first by a feature flag)": (
        manifest([package_attr(DECOY)], pool_chunk=pool(STRINGS), after=start(MANIFEST, [package_attr(WECHAT)])
                 + end(MANIFEST)),
        "com.example.notes", {"com.tencent.mm"}),
    "an end tag before the root, a nested decoy <manifest>": (
        manifest([package_attr(WECHAT)], pool_chunk=pool(STRINGS), before=end(MANIFEST),
                 inside=start(MANIFEST, [package_attr(DECOY)]) + end(MANIFEST)),
        "com.tencent.mm", set()),
}


def _info(name: str):
    return read_manifest(CASES[name][0], None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_package_as_android_reads_it(name):
    _, package, others = CASES[name]
    info = _info(name)
    readings = {r.value for r in info.package_readings}
    assert info.package == package and package in readings
    assert [r.how for r in info.package_readings if r.value == package] == ["framework"]
    assert others <= readings, info.package_readings
    assert "MANIFEST_NOT_FRAMEWORK_READABLE" not in {i.code for i in info.errors}


def _aapt(path) -> str | None:
    out = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True, timeout=60).stdout
    m = re.search(rb"^package: name='([^']*)'", out, re.MULTILINE)
    return m.group(1).decode("utf-8", "replace") if m and m.group(1) else None


@pytest.mark.skipif(shutil.which("aapt") is None, reason="aapt (Debian package) not installed")
@pytest.mark.parametrize("name", sorted(CASES))
def test_aapts_package_is_one_of_the_readings(tmp_path, name):
    """aapt prints C strings (a name up to its NUL) and tests namespaces as older releases do."""
    path = tmp_path / "case.apk"
    path.write_bytes(apk(CASES[name][0]))
    want = _aapt(path)
    readings = {r.value for r in _info(name).package_readings}
    if name.startswith("an end tag before the root"):
        assert want is None  # aapt counts depth and finds <uses-sdk> first; the framework does not count
    else:
        assert want in readings


def test_two_readings_are_a_tamper_fact_and_both_are_matched(tmp_path):
    from apkscan.apk.identify import identify
    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import evaluate

    rules, policy = load_ruleset(), load_policy()
    verdicts = {}
    for name in ("namespace index past the pool, decoy after it", "NUL inside a UTF-8 name"):
        path = tmp_path / "case.apk"
        path.write_bytes(apk(CASES[name][0]))
        identity = identify(str(path))
        assert "TAMPER_MANIFEST_AMBIGUOUS_PACKAGE" in {t.code for t in identity.tamper}
        app = evaluate(identity, rules, policy, source="case.apk")
        verdicts[name] = (app.verdict, {f.rule for f in app.findings})
    for verdict, found in verdicts.values():
        assert verdict == "prohibited" and "tencent.wechat" in found, verdicts


def test_tiktok_with_a_nul_in_a_utf8_pool_is_tiktok():
    """Review 20: ``com.zhiliaoapp.musically\\0.x`` matched no rule exactly (verdict allowed)."""
    axml = manifest([package_attr(WECHAT)], pool_chunk=pool([*BASE, "com.zhiliaoapp.musically\x00.x"], utf8=True))
    assert read_manifest(axml, None).package == "com.zhiliaoapp.musically"


REFUSED = {
    # name: (manifest, the reason Android gives, in words)
    "root is <uses-sdk>": (manifest([package_attr(WECHAT)], pool_chunk=pool(STRINGS), root_name=USES_SDK),
                           "not <manifest>"),
    "root is <application>": (manifest([package_attr(WECHAT)], pool_chunk=pool(STRINGS), root_name=APPLICATION),
                              "not <manifest>"),
    "no string pool": (manifest([package_attr(WECHAT)], pool_chunk=b""), "string pool"),
    "value index past the pool": (manifest([attr(0xFFFFFFFF, 6, 400, TYPE_STRING, 400)], pool_chunk=pool(STRINGS)),
                                  "cannot be read"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_android_refuses_is_said_and_still_matched(name):
    """Android would not install these; the package other parsers read is kept (never hidden),
    and MANIFEST_NOT_FRAMEWORK_READABLE gives Android's reason. A first tag that is no <manifest>
    never stands in for Android's package (review 25: a decoy there read as "framework"): its
    package is a reading, and identify makes it an input error (INPUT_PACKAGE_ONLY_READ_BY_OTHERS)."""
    axml, why = REFUSED[name]
    info = read_manifest(axml, None)
    warned = [i for i in info.errors if i.code == "MANIFEST_NOT_FRAMEWORK_READABLE"]
    assert len(warned) == 1 and why in warned[0].message
    if name.startswith("root is"):
        assert info.package is None and [(r.value, r.how) for r in info.package_readings] == [
            ("com.tencent.mm", "first chunk")]


@pytest.mark.skipif(shutil.which("aapt") is None, reason="aapt (Debian package) not installed")
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_aapt_refuses_them_too(tmp_path, name):
    path = tmp_path / "case.apk"
    path.write_bytes(apk(REFUSED[name][0]))
    assert _aapt(path) is None


def test_split_as_android_reads_it():
    strings = [*STRINGS, "split", "config.arm64_v8a"]
    axml = manifest([package_attr(WECHAT), attr(0x7FFFFFFF, 11, 12, TYPE_STRING, 12)], pool_chunk=pool(strings))
    assert read_manifest(axml, None).split == "config.arm64_v8a"


def test_every_fixture_and_utf8_pool_reads_without_a_warning():
    """No false alarm on what aapt2 writes: the fixture manifests and a UTF-8 pool."""
    import zipfile
    from pathlib import Path

    axml = manifest([package_attr(WECHAT)], pool_chunk=pool([utf8_entry(s) for s in STRINGS], utf8=True))
    assert read_manifest(axml, None).errors == []
    for path in sorted((Path(__file__).resolve().parents[1] / "fixtures" / "apks").glob("*.apk")):
        try:
            xml = zipfile.ZipFile(path).read("AndroidManifest.xml")
        except (zipfile.BadZipFile, KeyError, RuntimeError):
            continue
        codes = {i.code for i in read_manifest(xml, None).errors}
        assert "MANIFEST_NOT_FRAMEWORK_READABLE" not in codes, path.name


_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (200 << 20, 200 << 20))
axml = open(sys.argv[1], "rb").read()
from apkscan.apk.manifest.android_manifest import apksig_target_sdk, read_manifest
print(len(axml) >> 20, read_manifest(axml, None).package, apksig_target_sdk(axml))
"""


def test_many_attributes_are_not_all_held(tmp_path):
    """Review 20: 24 elements of 65,535 attributes (a 31 MB manifest in a 78 KB APK) held 250 MB
    of decoded attributes; now what is read is decoded when asked (~50 MB in all)."""
    from pathlib import Path

    elements = b"".join(start(9 + i % 2, [attr(0xFFFFFFFF, 9, 9, TYPE_STRING, 9)] * 65535) + end(9) for i in range(24))
    path = tmp_path / "big.axml"
    path.write_bytes(manifest([package_attr(11)], pool_chunk=pool([*BASE, "x", "uses-sdk", "com.tencent.mm"]),
                              inside=elements))
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])  # this tree's apkscan, not an installed one
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["30", "com.tencent.mm", "21"]


def test_duplicate_package_attributes_give_a_bounded_number_of_readings():
    """Review 21: 13 roots of 65,000 ``package`` attributes made 845,001 readings (140 s, 1.4 GB to
    scan one 6 MB APK). The first 16 and the last of each root are read."""
    values = [f"com.example.n{i}" for i in range(300)]
    strings = [*BASE, "com.tencent.mm", *values]
    axml = manifest([package_attr(9)] + [package_attr(10 + i) for i in range(300)], pool_chunk=pool(strings))
    info = read_manifest(axml, None)
    got = [r.value for r in info.package_readings]
    assert info.package == "com.tencent.mm" and len(got) <= 2 * 17
    assert "com.example.n0" in got and "com.example.n299" in got and "com.example.n100" not in got


def test_a_later_manifest_tag_is_read_with_androids_rules():
    """Review 23: later roots were read with apksig's string rules; an odd UTF-16 offset of the
    later root's attribute name 'package' hid WeChat (scanned allowed)."""
    strings = [*STRINGS, "package"]
    axml = manifest([package_attr(DECOY)], pool_chunk=_odd(strings, 11),
                    after=start(MANIFEST, [package_attr(WECHAT, name=11)]) + end(MANIFEST))
    readings = {r.value: r.how for r in read_manifest(axml, None).package_readings}
    assert readings["com.example.notes"] == "framework" and "feature flag" in readings["com.tencent.mm"]


def test_a_first_tag_that_is_no_manifest_still_gives_the_later_manifests_package(tmp_path):
    """Review 23: <application package=...> first, then <manifest package="com.tencent.mm">: Android
    refuses it unless a feature flag skips the first tag; WeChat was read nowhere. Now it is a
    reading, matched, and (Android reading no package) an input error, never a silent pass."""
    from apkscan.apk.identify import identify
    from apkscan.scan import incomplete, unscannable

    axml = manifest([], pool_chunk=pool(STRINGS), root_name=APPLICATION,
                    after=start(MANIFEST, [package_attr(WECHAT)]) + end(MANIFEST))
    path = tmp_path / "case.apk"
    path.write_bytes(apk(axml))
    identity = identify(str(path))
    assert identity.manifest.package is None
    assert "com.tencent.mm" in {r.value for r in identity.manifest.package_readings}
    assert not unscannable(identity)
    assert [i.code for i in incomplete(identity)] == ["INPUT_PACKAGE_ONLY_READ_BY_OTHERS"]


_BUDGET_CHILD = """
import re, sys
axml = open(sys.argv[1], "rb").read()
from apkscan.apk.manifest.android_manifest import read_manifest
info = read_manifest(axml, None)
# VmHWM: this process's own peak (ru_maxrss keeps the parent's across fork and exec: pytest's)
with open("/proc/self/status") as status:
    print(info.package, int(re.search(r"VmHWM:\\s*(\\d+)", status.read()).group(1)) >> 10)
"""


def test_the_decode_budget_bounds_memory_not_bytes(tmp_path):
    """Review 23: the 64 MiB decode budget counted input bytes, but a decoded str takes up to 4
    bytes a character (invalid UTF-8 read as U+FFFD plus one astral character): 2,100 attribute
    names into overlapping 32,764-byte strings held 270 MB from a 92 KB manifest."""
    from pathlib import Path

    k = 2100
    region = bytearray(bytes([0x00, 0xFF, 0xFC, 0x00]) * ((32767 + 4 * k) // 4 + 8))
    astral = set(range(1000, len(region) // 4, 2048))
    for p in astral:
        region[4 * p:4 * p + 4] = "\U0001F600".encode("utf-8")
    starts, p = [], 0
    while len(starts) < k:  # strings at 4p: lengths 00 / FF FC (32,764 bytes), the NUL 32,767 bytes on
        if p not in astral and p + 8191 not in astral:
            starts.append(4 * p)
        p += 1
    entries = [utf8_entry(s) for s in STRINGS]
    base = sum(len(e) for e in entries)
    offsets = [sum(len(e) for e in entries[:i]) for i in range(len(entries))] + [base + s for s in starts]
    strings_chunk = pool([*entries, bytes(region) + b"\x00"], utf8=True)
    # the pool's offsets table: STRINGS, then the k overlapping starts (one data blob holds them all)
    count = len(offsets)
    head = struct.pack("<HHIIIIII", 0x0001, 28, 0, count, 0, 0x100, 28 + 4 * count, 0)
    data = strings_chunk[28 + 4 * (len(entries) + 1):]
    chunk = head + b"".join(struct.pack("<I", o) for o in offsets) + data
    chunk = chunk[:4] + struct.pack("<I", len(chunk)) + chunk[8:]
    spend = [attr(0xFFFFFFFF, len(STRINGS) + i, 0xFFFFFFFF, 0x10, 0) for i in range(k)]
    path = tmp_path / "budget.axml"
    path.write_bytes(manifest([package_attr(WECHAT), *spend], pool_chunk=chunk))
    done = subprocess.run([sys.executable, "-c", _BUDGET_CHILD, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    package, peak_mib = done.stdout.split()
    assert package == "com.tencent.mm" and int(peak_mib) < 150, done.stdout  # 270 MB before


def test_seventeen_decoy_manifest_tags_do_not_hide_the_last_one():
    """Review 25: 17 copies of a decoy <manifest> filled the 16 later readings; WeChat, the last
    top-level tag (aapt2's reading), was read nowhere and the scan said allowed."""
    decoys = b"".join(start(MANIFEST, [package_attr(DECOY)]) + end(MANIFEST) for _ in range(17))
    axml = manifest([package_attr(DECOY)], pool_chunk=pool(STRINGS),
                    after=decoys + start(MANIFEST, [package_attr(WECHAT)]) + end(MANIFEST))
    readings = {r.value for r in read_manifest(axml, None).package_readings}
    assert readings == {"com.example.notes", "com.tencent.mm"}


def test_a_decoy_first_tag_is_no_stand_in(tmp_path):
    """Review 25: <application package=decoy> first, <manifest package=WeChat> next: the decoy was
    the package ("framework") and no input error was raised."""
    from apkscan.apk.identify import identify
    from apkscan.scan import incomplete

    axml = manifest([package_attr(DECOY)], pool_chunk=pool(STRINGS), root_name=APPLICATION,
                    after=start(MANIFEST, [package_attr(WECHAT)]) + end(MANIFEST))
    path = tmp_path / "case.apk"
    path.write_bytes(apk(axml))
    identity = identify(str(path))
    assert identity.manifest.package is None
    assert {r.value: r.how for r in identity.manifest.package_readings}["com.example.notes"] == "first chunk"
    assert "com.tencent.mm" in {r.value for r in identity.manifest.package_readings}
    assert [i.code for i in incomplete(identity)] == ["INPUT_PACKAGE_ONLY_READ_BY_OTHERS"]


def test_inspect_says_does_not_verify_before_partly_read(tmp_path):
    """Review 25: an APK whose package only other parsers read (an input error) and that does not
    verify made inspect exit 3; 1 (does not verify) wins over 3, as README's table says."""
    from cli_helpers import run

    axml = manifest([], pool_chunk=pool(STRINGS), root_name=APPLICATION,
                    after=start(MANIFEST, [package_attr(WECHAT)]) + end(MANIFEST))
    path = tmp_path / "case.apk"
    path.write_bytes(apk(axml))  # unsigned
    done = run("inspect", path, "--json", tmp_path / "out.json")
    assert done.returncode == 1, (done.stdout, done.stderr)


def test_more_distinct_later_manifests_than_read_is_an_input_error(tmp_path):
    """Review 26: 17 distinct decoy <manifest> tags, then WeChat's, then one more top-level tag:
    WeChat was past the 16 read and not the last; now the input is said to be read in part."""
    from apkscan.apk.identify import identify
    from apkscan.scan import incomplete

    decoys = [f"com.example.d{i}" for i in range(17)]
    strings = [*STRINGS, *decoys]
    tags = b"".join(start(MANIFEST, [package_attr(11 + i)]) + end(MANIFEST) for i in range(17))
    axml = manifest([package_attr(DECOY)], pool_chunk=pool(strings),
                    after=tags + start(MANIFEST, [package_attr(WECHAT)]) + end(MANIFEST)
                    + start(MANIFEST, [package_attr(DECOY)]) + end(MANIFEST))
    path = tmp_path / "case.apk"
    path.write_bytes(apk(axml))
    identity = identify(str(path))
    hows = {r.value: r.how for r in identity.manifest.package_readings}
    assert "<manifest> tag 2 " in hows["com.example.d0"] and "<manifest> tag 17 " in hows["com.example.d15"]
    assert [i.code for i in incomplete(identity)] == ["INPUT_MANIFEST_TOO_MANY_TAGS"]


def test_a_huge_package_value_is_read_to_4096_characters():
    """Review 26: a 15-million-character package held 1.4 GB and wrote a 135 MB report; no package
    that long installs."""
    axml = manifest([package_attr(WECHAT)], pool_chunk=pool([*BASE, "com." + "a" * 30000]))
    info = read_manifest(axml, None)
    assert info.package == ("com." + "a" * 30000)[:4096]
    assert info.package_readings and all(len(r.value) <= 4096 for r in info.package_readings)
