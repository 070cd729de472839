"""The label as Android reads it (framework_app, app_label), on manifests built to be read two ways
(review 58): every case states the label Android shows and the other readings that must be kept
and matched; ``aapt dump badging`` must find nothing apkscan does not (its ``application-label``
and ``launchable-activity label`` lines are among apkscan's readings). Controls: an ordinary
label is one reading and no flag.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from axml_raw import ANDROID_NS, NO, TYPE_INT_DEC, TYPE_STRING, apk, attr, document, end, namespace, node, pool
from axml_raw import resource_map, utf16_entry, utf8_entry

from apkscan.apk.manifest.android_manifest import label_ambiguity, read_manifest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from arsc_writer import string_table  # noqa: E402

MAIN, LAUNCHER = "android.intent.action.MAIN", "android.intent.category.LAUNCHER"
S = ["versionCode", "minSdkVersion", "label", "name", ANDROID_NS, "android", "manifest", "package", "uses-sdk",
     "application", "activity", "intent-filter", "action", "category", MAIN, LAUNCHER, "com.example.notes",
     "TikTok", "Notes", "activity-alias"]
IDS = (0x0101021B, 0x0101020C, 0x01010001, 0x01010003)
(NS, MANIFEST, USES_SDK, APPLICATION, ACTIVITY, FILTER, ACTION, CATEGORY, I_MAIN, I_LAUNCHER, PKG, TIKTOK, NOTES,
 ALIAS) = 4, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
REF, REF_TYPE = 0x7F010000, 0x01
TABLE = string_table("com.example.notes", {"app_name": {"": "TikTok"}})  # 0x7f010000 = "TikTok"


def start(name: int, attrs: list[bytes], *, ns: int = NO, size: int = 20) -> bytes:
    """A start tag with full 20-byte records that declares ``size`` (Android reads at that stride)."""
    return node(0x0102, struct.pack("<IIHHHHHH", ns, name, 20, size, len(attrs), 0, 0, 0) + b"".join(attrs))


def label(index: int = TIKTOK, *, raw: int | None = None, ns: int = NS) -> bytes:
    return attr(ns, 2, index if raw is None else raw, TYPE_STRING, index)


def ref(res_id: int = REF, vtype: int = REF_TYPE) -> bytes:
    return attr(NS, 2, NO, vtype, res_id)


def app(attrs: list[bytes], inside: bytes = b"", **kw) -> bytes:
    return start(APPLICATION, attrs, **kw) + inside + end(APPLICATION)


def activity(attrs: list[bytes], *, launcher: bool = True, name: int = ACTIVITY) -> bytes:
    items = start(ACTION, [attr(NS, 3, I_MAIN, TYPE_STRING, I_MAIN)]) + end(ACTION)
    if launcher:
        items += start(CATEGORY, [attr(NS, 3, I_LAUNCHER, TYPE_STRING, I_LAUNCHER)]) + end(CATEGORY)
    return start(name, attrs) + start(FILTER, []) + items + end(FILTER) + end(name)


def doc(*apps: bytes, strings: list | None = None, utf8: bool = False, pool_chunk: bytes | None = None,
        maps: bytes | None = None, bad_end: bool = False) -> bytes:
    """``<manifest package=com.example.notes versionCode=1><uses-sdk minSdk=21/>`` + ``apps``;
    ``bad_end``: ``</uses-sdk>`` names a string past the pool (Android does not read it, apksig stops)."""
    head = pool_chunk if pool_chunk is not None else pool(strings or S, utf8=utf8)
    root = start(MANIFEST, [attr(NS, 0, NO, TYPE_INT_DEC, 1), attr(NO, 7, PKG, TYPE_STRING, PKG)])
    sdk = start(USES_SDK, [attr(NS, 1, NO, TYPE_INT_DEC, 21)]) + end(0x7FFF if bad_end else USES_SDK)
    return document(head, maps if maps is not None else resource_map(IDS), namespace(5, NS), root, sdk, *apps,
                    end(MANIFEST), namespace(5, NS, closing=True))


def _utf8(raw: dict[int, bytes]) -> bytes:
    return pool([raw.get(i, utf8_entry(t)) for i, t in enumerate(S)], utf8=True)


def _odd(index: int) -> bytes:
    """A UTF-16 pool whose entry ``index`` is declared one byte past its start (Android halves it)."""
    offsets, at = [], 0
    for s in S:
        offsets.append(at)
        at += len(utf16_entry(s))
    offsets[index] += 1
    return pool(S, offsets=offsets)


CASES = {
    # name: (manifest, the label Android shows, other labels that must be kept, flagged, launcher labels)
    "control: a literal label": (doc(app([label()])), "TikTok", set(), False, set()),
    "control: a reference": (doc(app([ref()])), "TikTok", set(), False, set()),
    "control: the launcher activity has the app's label": (
        doc(app([label()], activity([label()]))), "TikTok", set(), False, set()),
    "control: an activity that is no launcher": (
        doc(app([label(NOTES)], activity([label()], launcher=False))), "Notes", set(), False, set()),
    "F1 NUL inside a UTF-8 label": (
        doc(app([label()]), pool_chunk=_utf8({TIKTOK: bytes([12, 12]) + b"TikTok\x00 Note\x00"})),
        "TikTok", {"TikTok\x00 Note"}, True, set()),
    "F1 overlong UTF-8 'o' (ART reads o)": (
        doc(app([label()]), pool_chunk=_utf8({TIKTOK: bytes([6, 7]) + b"TikT\xc1\xafk\x00"})),
        "TikTok", {"TikT\ufffd\ufffdk"}, True, set()),
    "F1 odd UTF-16 offset of the label": (doc(app([label()]), pool_chunk=_odd(TIKTOK)), "TikTok", set(), True, set()),
    "F1 overlong UTF-8 in the name 'application'": (
        doc(app([ref()])), "TikTok", set(), True, set()),  # pool replaced below
    "F2 a namespaced <application> alone": (doc(app([label()], ns=NS)), "TikTok", set(), True, set()),
    "F2 a namespaced <application> first": (
        doc(app([label()], ns=NS), app([label(NOTES)])), "TikTok", {"Notes"}, True, set()),
    "F3 attribute records of 8 bytes, literal": (doc(app([label()], size=8)), "TikTok", set(), True, set()),
    "F3 attribute records of 8 bytes, reference": (doc(app([ref()], size=8)), "TikTok", set(), True, set()),
    "F4 an end tag whose name is past the pool": (
        doc(app([label()]), bad_end=True), "TikTok", set(), True, set()),
    "F4 two resource maps (Android uses the last)": (
        doc(app([label()]), maps=resource_map((0x01010003,) * 4) + resource_map(IDS)), "TikTok", set(), True, set()),
    "F5 a reference with package byte 0x00": (doc(app([ref(0x00010000)])), "TikTok", set(), True, set()),
    "F5 a dynamic reference with package byte 0x00": (
        doc(app([ref(0x00010000, 0x07)])), "TikTok", set(), True, set()),
    "F6 a second <application>": (doc(app([label(NOTES)]), app([label()])), "Notes", {"TikTok"}, True, set()),
    "F7 raw TikTok, typed Notes": (doc(app([label(NOTES, raw=TIKTOK)])), "Notes", {"TikTok"}, True, set()),
    "F7 typed index past the pool, raw TikTok": (doc(app([label(400, raw=TIKTOK)])), None, {"TikTok"}, True, set()),
    "F10 the launcher activity's label": (
        doc(app([label(NOTES)], activity([label()]))), "Notes", set(), False, {"TikTok"}),
    "F10 a launcher activity-alias, its label a reference": (
        doc(app([label(NOTES)], activity([ref()], name=ALIAS))), "Notes", set(), False, {"TikTok"}),
    # aapt compares a tag name as a C string (String8 of the UTF-16 name stops at its NUL), Java the
    # whole name: Android skips this tag (no label shown, no launcher), aapt prints its labels (aapt92)
    "F11 a UTF-16 name 'application' up to a NUL (aapt's alone)": (
        doc(app([label()], activity([label(NOTES)])), strings=[*S[:APPLICATION], "application\x00", *S[APPLICATION + 1:]]),
        None, {"TikTok"}, True, {"Notes"}),
    "F11 a UTF-16 'category' up to a NUL: aapt's launcher alone": (
        doc(app([label(NOTES)], activity([label()])), strings=[*S[:CATEGORY], "category\x00", *S[CATEGORY + 1:]]),
        "Notes", set(), False, {"TikTok"}),
    "F11 a UTF-16 MAIN up to a NUL: aapt's launcher alone": (
        doc(app([label(NOTES)], activity([label()])), strings=[*S[:I_MAIN], MAIN + "\x00x", *S[I_MAIN + 1:]]),
        "Notes", set(), False, {"TikTok"}),
}
_NAME = bytes([11, 12]) + b"applic\xc1\xa1tion\x00"  # overlong 'a': ART reads "application"
CASES["F1 overlong UTF-8 in the name 'application'"] = (
    doc(app([ref()]), pool_chunk=_utf8({APPLICATION: _NAME})), *CASES["F1 overlong UTF-8 in the name 'application'"][1:])


def _info(name: str):
    return read_manifest(CASES[name][0], TABLE)


@pytest.mark.parametrize("name", sorted(CASES))
def test_label_as_android_reads_it(name):
    _, shown, others, flagged, launchers = CASES[name]
    info = _info(name)
    assert info.label == shown, (info.label, info.other_labels)
    assert others <= set(info.other_labels), info.other_labels
    assert (label_ambiguity(info) is not None) == flagged, (info.other_labels, getattr(info, "label_notes", None))
    assert set(getattr(info, "launcher_labels", ())) == launchers
    if name.startswith("control"):
        assert info.other_labels == [] and getattr(info, "label_notes", []) == []


def _aapt(path) -> list[str]:
    out = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True, timeout=60).stdout
    text = out.decode("utf-8", "replace")
    return re.findall(r"^application-label:'(.*)'$", text, re.M) + re.findall(
        r"^launchable-activity: .*label='(.*?)'", text, re.M)


@pytest.mark.skipif(shutil.which("aapt") is None, reason="aapt (Debian package) not installed")
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_label_aapt_prints_is_a_reading(tmp_path, name):
    path = tmp_path / "case.apk"
    path.write_bytes(apk(CASES[name][0], {"resources.arsc": TABLE}))
    info = _info(name)
    ours = {info.label, *info.labels.values(), *info.other_labels, *getattr(info, "launcher_labels", ())}
    shown = [v for v in _aapt(path) if v]
    assert shown, "aapt reads a label in every case"
    assert set(shown) <= ours, (shown, ours)


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """Each case as a v2-signed APK (the fixtures' test key), with the table."""
    from cli_helpers import generate_module

    generate = generate_module()
    work = tmp_path_factory.mktemp("signed")

    def build(name: str) -> Path:
        out = work / f"{abs(hash(name))}.apk"
        unsigned = apk(CASES[name][0], {"resources.arsc": TABLE})
        out.write_bytes(generate.sign(unsigned, work, ["test-rsa"], v1=False, v2=True, v3=False, min_sdk=21))
        return out
    return build


@pytest.mark.parametrize("name", ["F1 overlong UTF-8 'o' (ART reads o)", "F2 a namespaced <application> alone",
                                  "F3 attribute records of 8 bytes, reference", "F5 a reference with package byte 0x00",
                                  "F6 a second <application>", "F10 the launcher activity's label",
                                  "F4 two resource maps (Android uses the last)",
                                  "F11 a UTF-16 name 'application' up to a NUL (aapt's alone)"])
def test_a_tiktok_label_is_review_under_the_tiktok_policy(signed, name):
    """Review 58: each went from `review` to `allowed`; the label rule now matches a reading."""
    from apkscan.apk.identify import identify
    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import evaluate

    identity = identify(str(signed(name)))
    app_ = evaluate(identity, load_ruleset(), load_policy("us-no-tiktok-gov-devices-2022"), source="case.apk")
    assert app_.verdict == "review" and "bytedance.tiktok" in {f.rule for f in app_.findings}
    assert ("TAMPER_MANIFEST_AMBIGUOUS_LABEL" in {t.code for t in identity.tamper}) == CASES[name][3]


def test_the_ambiguity_names_both_readings():
    fact = label_ambiguity(_info("F1 overlong UTF-8 'o' (ART reads o)"))
    assert "'TikTok'" in fact.message and "TikT\ufffd\ufffdk" in fact.message and "apksig" in fact.message
    fact = label_ambiguity(_info("F6 a second <application>"))
    assert "<application> tag 2" in fact.message and "'TikTok'" in fact.message


def test_attribute_records_are_bounded():
    """A flood of attribute records on activities stops the walk (said), it does not stall it."""
    from apkscan.apk.manifest import framework_app

    many = b"".join(activity([label(NOTES)] * 2000) for _ in range(600))
    info = read_manifest(doc(app([label()], many)), TABLE)
    assert info.label == "TikTok"
    assert any("more attribute records" in n for n in info.label_notes) and framework_app.MAX_RECORDS < 2000 * 600


def _noisy_table() -> bytes:
    """A bag in the string type whose count overruns its chunk: the fast path declines, androguard
    parses the whole table and ``print``s "We are out of bound ..." (review 58 F9)."""
    import arsc_builder as b

    bag = bytearray(b.complex_(0, [(0x01000000, b.TYPE_STRING, 0)]))
    struct.pack_into("<I", bag, 12, 5000)  # the map count
    pkg = b.package(0x7F, "com.example", ["string"], ["k0", "k1"], [b.type_chunk(1, {0: b.string(0, 0), 1: bytes(bag)})])
    return b.table(["TikTok"], [pkg])


@pytest.mark.parametrize("command", [["scan", "--no-store"], ["inspect"]])
def test_json_on_stdout_survives_androguards_print(tmp_path, command):
    """``--json -`` is the whole of stdout: androguard's print went in front of it (json.load failed)."""
    import json
    import os

    path = tmp_path / "noisy.apk"
    path.write_bytes(apk(doc(app([ref()])), {"resources.arsc": _noisy_table()}))
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "apkscan", *command, str(path), "--json", "-"], capture_output=True,
                          text=True, env=env, timeout=120, cwd=tmp_path)
    document = json.loads(proc.stdout)
    assert "TikTok" in json.dumps(document)


def _table_without_label() -> bytes:
    import arsc_builder as b

    return b.table(["Notes"], [b.package(0x7F, "com.example", ["string"], ["k0"], [b.type_chunk(1, {})])])


F8 = {
    # name: (resources.arsc, flagged): the label 0x7f010000 is only in a table no reader here reads
    "a second RES_TABLE holds the label": (_table_without_label() + TABLE, True),
    "an 8-byte RES_NULL chunk before the table": (struct.pack("<HHI", 0, 8, 8) + TABLE, True),
    "control: the first table holds the label, a second one follows": (TABLE + _table_without_label(), False),
    "control: one table": (TABLE, False),
}


@pytest.mark.parametrize("name", sorted(F8))
def test_a_label_only_an_unread_top_level_table_may_hold_is_said(name):
    """Review 58 F8 (a lead: Android 9+'s LoadedArsc loads every top-level RES_TABLE; no tool here
    does): a label that resolves to nothing while such a table exists is flagged, not guessed."""
    raw, flagged = F8[name]
    info = read_manifest(doc(app([ref()])), raw)
    fact = label_ambiguity(info)
    assert (fact is not None and "RES_TABLE" in fact.message) == flagged, (info.label, info.label_notes)
    if not flagged:
        assert info.label == "TikTok"


def _wrapped_table() -> bytes:
    """The label's entry offset is 2^32 - 16: entriesStart plus it passes 2^32 (LoadedArsc, Android
    9+: past the chunk, no entry); ResTable (Android 8.1 and older, aapt) adds in 32 bits and reads
    the entry at offset slot 1, where four slots hold one: "TikTok" (aapt92 differential run)."""
    from arsc_builder import package, string, table, type_chunk

    chunk = bytearray(type_chunk(1, {0: string(0, 0)}, count=5))
    header = struct.unpack_from("<H", chunk, 2)[0]
    chunk[header + 4:header + 20] = string(0, 1)
    struct.pack_into("<I", chunk, header, (4 - 20) & 0xFFFFFFFF)
    spec = struct.pack("<HHIBBHI", 0x0202, 16, 16 + 4 * 5, 1, 0, 0, 5) + b"\0" * 20
    return table(["Notes", "TikTok"], [package(0x7F, "com.example.notes", ["string"], ["app_name"], [spec, bytes(chunk)])])


def test_an_entry_offset_that_wraps_in_32_bits_is_read_as_aapt_reads_it(tmp_path):
    manifest, table_ = doc(app([ref()])), _wrapped_table()
    info = read_manifest(manifest, table_)
    assert info.label != "TikTok" and "TikTok" in info.other_labels, (info.label, info.other_labels)
    fact = label_ambiguity(info)
    assert fact is not None and "2^32" in fact.message
    if shutil.which("aapt") is not None:
        path = tmp_path / "case.apk"
        path.write_bytes(apk(manifest, {"resources.arsc": table_}))
        assert "TikTok" in _aapt(path)
