"""Review 89: five ways a resources.arsc hid a TikTok label that ``aapt dump badging`` (and some
Android versions) show. Where Android versions read the same bytes two ways, both readings are
kept and matched, and ``TAMPER_MANIFEST_AMBIGUOUS_LABEL`` says so:

- F3: one configuration's entry offset past its type chunk (Android skips that configuration)
  made the reader drop every configuration: the default "TikTok" was lost;
- F4: an ordinary entry flagged compact (0x08): Android 14+ reads it compact, Android 13 and
  older and aapt read the value after the entry's header;
- F5: a type chunk flagged for 16-bit offsets (0x02): Android 14+ reads them so, 13 and older
  and aapt read 32-bit offsets;
- F2: a label referring to package byte 0x00 in a table whose package id is 0x80 or 0x02:
  ``DynamicRefTable`` gives 0x00 the loading package's id, not always 0x7f;
- F1: a table whose top chunk is not of type RES_TABLE: Android 8 and older and aapt read it.

Each case is a real APK, v2-signed with the fixtures' test key: the label TikTok is among
apkscan's readings with the fact, the scan under us-no-tiktok-gov-devices-2022 is ``review``
as for the control (a plain TikTok label), and aapt (when installed) shows TikTok.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import arsc_builder as b
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import axml_writer  # noqa: E402

LABEL = b.rid(0x7F, 1, 0)
PKG = "com.example.notes"


def _spec(n: int = 1) -> bytes:
    """The typeSpec chunk aapt needs before it reads a type."""
    return struct.pack("<HHIBBHI", 0x0202, 16, 16 + 4 * n, 1, 0, 0, n) + b"\x00\x00\x00\x00" * n


def _table(strings: list[str], chunks: list[bytes], package_id: int = 0x7F) -> bytes:
    return b.table(strings, [b.package(package_id, PKG, ["string"], ["app_name"], [_spec(), *chunks])])


def _manifest(ref: int = LABEL, vtype: int = 0x01, min_sdk: int = 21) -> bytes:
    manifest = axml_writer.manifest(PKG, label=0x7F0A0B0C, min_sdk=min_sdk)
    return manifest.replace(struct.pack("<BI", 0x01, 0x7F0A0B0C), struct.pack("<BI", vtype, ref))


def _f3() -> tuple[bytes, bytes]:
    """An ``fr`` configuration whose entry offset is 1 MiB, before an intact default "TikTok"."""
    fr = bytearray(b.type_chunk(1, {0: b.string(0, 1)}, 1, cfg=b.config("fr")))
    struct.pack_into("<I", fr, struct.unpack_from("<H", fr, 2)[0], 0x00100000)
    return _manifest(), _table(["TikTok", "Notes"], [bytes(fr), b.type_chunk(1, {0: b.string(0, 0)}, 1)])


def _f4() -> tuple[bytes, bytes]:
    """Flags 0x0308 (compact, type string) with data 0: "Notes"; the Res_value after the 8-byte
    header (what Android 13 and older read): string 1, "TikTok"."""
    entry = struct.pack("<HHI", 8, 0x0308, 0) + struct.pack("<HBBI", 8, 0, 3, 1)
    return _manifest(), _table(["Notes", "TikTok"], [b.type_chunk(1, {0: entry}, 1)])


def _f5() -> tuple[bytes, bytes]:
    """Offset word 0x10 in a chunk flagged OFFSET16: 16-bit, 0x10 * 4 = 64 ("Notes"); 32-bit, 16 ("TikTok")."""
    cfg, entries = b.config(), bytearray(80)
    entries[16:32], entries[64:80] = b.string(0, 1), b.string(0, 0)
    header = 20 + len(cfg)
    start = header + 4
    chunk = struct.pack("<HHIBBHII", 0x0201, header, start + len(entries), 1, 0x02, 0, 1, start)
    return _manifest(), _table(["Notes", "TikTok"], [chunk + cfg + struct.pack("<I", 0x10) + bytes(entries)])


def _f2(package_id: int, vtype: int) -> tuple[bytes, bytes]:
    """The label refers to 0x00010000 (package byte 0x00); the table's package has ``package_id``."""
    return _manifest(0x00010000, vtype), _table(["TikTok"], [b.type_chunk(1, {0: b.string(0, 0)}, 1)], package_id)


def _f1() -> tuple[bytes, bytes]:
    """The table's top chunk retyped 0x0402 (not RES_TABLE)."""
    table = _table(["TikTok"], [b.type_chunk(1, {0: b.string(0, 0)}, 1)])
    return _manifest(), struct.pack("<H", 0x0402) + table[2:]


CASES = {"F3 an offset past the chunk in one configuration": _f3, "F4 an entry flagged compact": _f4,
         "F5 a chunk flagged OFFSET16": _f5, "F2 package 0x80, a reference to 0x00": lambda: _f2(0x80, 0x01),
         "F2 package 0x02, a dynamic reference to 0x00": lambda: _f2(0x02, 0x07),
         "F1 a top chunk that is not RES_TABLE": _f1}


def _apk(tmp_path: Path, manifest: bytes, table: bytes, sign: bool = False) -> Path:
    path = tmp_path / "case.apk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("AndroidManifest.xml", manifest)
        zf.writestr("classes.dex", b"dex\n035\x00" + b"\x00" * 104)
        zf.writestr(zipfile.ZipInfo("resources.arsc"), table)  # stored, as aapt wants it
    if sign:
        from cli_helpers import generate_module

        signed = generate_module().sign(path.read_bytes(), tmp_path, ["test-rsa"], v1=False, v2=True, v3=False,
                                        min_sdk=21)
        path.write_bytes(signed)
    return path


def _readings(info) -> set[str]:
    return {info.label, *info.labels.values(), *info.other_labels} - {None}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tiktok_is_a_reading_and_the_fact_is_said(name):
    from apkscan.apk.manifest.android_manifest import label_ambiguity, read_manifest

    info = read_manifest(*CASES[name]())
    assert "TikTok" in _readings(info), (info.label, info.labels, info.other_labels)
    fact = label_ambiguity(info)
    assert fact is not None and fact.code == "TAMPER_MANIFEST_AMBIGUOUS_LABEL"
    assert "'TikTok'" in fact.message, fact.message


def test_each_fact_names_its_reading():
    from apkscan.apk.manifest.android_manifest import label_ambiguity, read_manifest

    words = {"F3": "past its type chunk", "F4": "flagged compact", "F5": "16-bit offsets",
             "F2 package 0x80": "0x80", "F1": "not a table"}
    for name, make in CASES.items():
        want = next((w for k, w in words.items() if name.startswith(k)), "package byte 0x00")
        message = label_ambiguity(read_manifest(*make())).message
        assert want in message, (name, message)


def test_the_android_14_readings_stay_the_shown_label():
    """Android 14+'s reading is ``label``; the older one is another reading, not the other way round."""
    from apkscan.apk.manifest.android_manifest import read_manifest

    for make in (_f4, _f5):
        info = read_manifest(*make())
        assert info.label == "Notes" and info.other_labels == ["TikTok"]
    assert read_manifest(*_f3()).labels == {"": "TikTok"}  # the broken fr entry is skipped, not shown


@pytest.mark.parametrize("name", ["control", *sorted(CASES)])
def test_a_scan_under_the_tiktok_policy_is_review(tmp_path, name):
    from apkscan.apk.identify import identify
    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import evaluate

    manifest, table = (_manifest(), _table(["TikTok"], [b.type_chunk(1, {0: b.string(0, 0)}, 1)])) \
        if name == "control" else CASES[name]()
    identity = identify(str(_apk(tmp_path, manifest, table, sign=True)))
    app = evaluate(identity, load_ruleset(), load_policy("us-no-tiktok-gov-devices-2022"), source="case.apk")
    assert app.verdict == "review" and "bytedance.tiktok" in {f.rule for f in app.findings}, app.verdict
    flagged = "TAMPER_MANIFEST_AMBIGUOUS_LABEL" in {t.code for t in identity.tamper}
    assert flagged == (name != "control")


@pytest.mark.skipif(shutil.which("aapt") is None, reason="aapt (Debian package) not installed")
@pytest.mark.parametrize("name", sorted(CASES))
def test_aapt_shows_tiktok(tmp_path, name):
    path = _apk(tmp_path, *CASES[name]())
    out = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True, timeout=60).stdout
    assert re.search(r"^application-label:'TikTok'$", out.decode("utf-8", "replace"), re.M)


def test_an_ordinary_table_reads_one_way():
    """A control: an intact table, a 0x7f reference, no flags: no other reading, no fact."""
    from apkscan.apk.manifest.android_manifest import label_ambiguity, read_manifest

    info = read_manifest(_manifest(), _table(["TikTok", "TikTok FR"], [
        b.type_chunk(1, {0: b.string(0, 0)}, 1), b.type_chunk(1, {0: b.string(0, 1)}, 1, cfg=b.config("fr"))]))
    assert info.label == "TikTok" and info.other_labels == [] and label_ambiguity(info) is None


def test_a_table_whose_package_id_is_0x00_is_read_once():
    """A shared library's table (package 0x00) and a 0x00 reference: read as the table's own
    package, not sent back to the 0x00 rule (it would recurse); aapt shows the label."""
    from apkscan.apk.manifest.android_manifest import read_manifest

    for vtype in (0x01, 0x07):
        info = read_manifest(*_f2(0x00, vtype))
        assert info.label == "TikTok", (info.label, info.other_labels)


@pytest.mark.parametrize("make", [_f4, _f5], ids=["compact", "offset16"])
def test_an_apk_only_android_14_installs_reads_those_forms_once(make):
    """minSdk 34: no Android 13 or older installs the APK, so the older reading of compact entries
    and 16-bit offsets (aapt2 writes them for Android 14+ tables, where that reading is the next
    entry's bytes) is no reading: one label, no fact. The same table at minSdk 33 reads both ways."""
    from apkscan.apk.manifest.android_manifest import label_ambiguity, read_manifest

    _, table = make()
    info = read_manifest(_manifest(min_sdk=34), table)
    assert info.min_sdk == 34
    assert info.label == "Notes" and info.other_labels == [] and label_ambiguity(info) is None
    info = read_manifest(_manifest(min_sdk=33), table)
    assert info.label == "Notes" and info.other_labels == ["TikTok"] and label_ambiguity(info) is not None
