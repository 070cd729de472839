"""``--deep`` DEX type tables are read in bounded work (reviewer's r06).

``parse_types`` found and decoded a type's string once per type id: 2^20 ids naming one
4 KiB string cost ~3 s per DEX file, 3 minutes for an APK of 64 such files (270 KB). And
``dex_class_names`` opened its own ``ByteSource`` without the input's deadline. Now each
distinct string is read once, the descriptor bytes read per APK are capped, and the input's
deadline applies. Class names come out exactly as before (checked against the old reader).
"""

from __future__ import annotations

import json
import random
import struct
import time
import zipfile

import pytest

from apkscan.rules import dex as dexmod
from apkscan.rules.dex import dex_class_names, parse_types
from conftest import CORPUS
from limited_child import assert_finished, run_limited


def _old_parse_types(dex: bytes) -> set[str]:
    """The reader before the fix, as the oracle for what the names are."""
    string_count, string_off, type_count, type_off = struct.unpack_from("<4I", dex, 0x38)
    out = set()
    for (idx,) in struct.iter_unpack("<I", dex[type_off:type_off + 4 * type_count]):
        if idx >= string_count:
            continue
        (pos,) = struct.unpack_from("<I", dex, string_off + 4 * idx)
        for _ in range(5):
            if pos >= len(dex):
                break
            pos += 1
            if dex[pos - 1] < 0x80:
                break
        end = dex.find(b"\x00", pos, pos + 4096) if pos < len(dex) else -1
        desc = dex[pos:end].decode("utf-8", "replace") if end >= 0 else ""
        if desc.startswith("L") and desc.endswith(";"):
            out.add(desc[1:-1].replace("/", "."))
    return out


def _dex(strings: list[bytes], type_indexes: list[int], offsets: list[int] | None = None) -> bytes:
    """A DEX header, string_ids, type_ids and string data (each ULEB length + bytes + NUL)."""
    string_off = 0x70
    type_off = string_off + 4 * len(strings if offsets is None else offsets)
    data_off = type_off + 4 * len(type_indexes)
    data, starts = b"", []
    for s in strings:
        starts.append(data_off + len(data))
        data += bytes([min(len(s), 0x7F)]) + s + b"\x00"
    offsets = starts if offsets is None else [data_off + o for o in offsets]
    header = bytearray(0x70)
    header[:8] = b"dex\n035\x00"
    struct.pack_into("<4I", header, 0x38, len(offsets), string_off, len(type_indexes), type_off)
    return (bytes(header) + struct.pack(f"<{len(offsets)}I", *offsets)
            + struct.pack(f"<{len(type_indexes)}I", *type_indexes) + data)


def _apk(path, dex_files: list[bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for i, body in enumerate(dex_files):
            z.writestr("classes.dex" if i == 0 else f"classes{i + 1}.dex", body)
    return path


@pytest.mark.parametrize("seed", range(6))
def test_random_type_tables_give_the_old_names(seed):
    rng = random.Random(seed)
    pieces = [b"L", b";", b"/", b"a", b"com", b"\xc3\xa9", b"\xe4\xb8", b"\xff", b"\x80", b"\x00", b"$"]
    for _ in range(200):
        strings = [b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 8))) for _ in range(rng.randrange(1, 20))]
        types = [rng.randrange(0, len(strings) + 3) for _ in range(rng.randrange(0, 40))]  # repeats, out of range
        data = _dex(strings, types)
        data += bytes(rng.randrange(256) for _ in range(rng.randrange(0, 8)))
        assert parse_types(data) == _old_parse_types(data)


def test_real_dex_files_give_the_old_names():
    apks = sorted((CORPUS / "androguard" / "APK").glob("*.apk")) if CORPUS.is_dir() else []
    if not apks:
        pytest.skip("shared corpus absent")
    seen = 0
    for apk in apks:
        try:
            z = zipfile.ZipFile(apk)
        except zipfile.BadZipFile:
            continue
        with z:
            for name in z.namelist():
                if dexmod._DEX_NAME.match(name):
                    data = z.read(name)
                    assert parse_types(data) == _old_parse_types(data), (apk.name, name)
                    seen += 1
    assert seen >= 10
    for name in ("multidex.apk", "a2dp.Vol_137.apk"):  # real DEX files: no warning from the new checks
        names, issues = dex_class_names(str(CORPUS / "androguard" / "APK" / name))
        assert issues == [] and "java.lang.Object" in names


_CHILD = """
import json, sys
from apkscan.rules.dex import dex_class_names
names, issues = dex_class_names(sys.argv[1])
print(json.dumps([len(names), sorted({len(n) for n in names})[:3], sorted({i.code for i in issues}), len(issues)]))
"""


def test_one_string_named_by_every_type_id(tmp_path):
    """The reviewer's APK at 8 DEX files: the old reader needs ~25 s of CPU (killed at 10 s)."""
    body = _dex([b"L" + b"a/" * 2046 + b";"], [0] * (1 << 20))
    apk = _apk(tmp_path / "deep.apk", [body] * 8)
    out = assert_finished(run_limited(_CHILD, str(apk), cpu=10, mem_mb=800))
    assert json.loads(out) == [1, [4092], ["DEX_MALFORMED"], 8]  # one warning per DEX file


def test_overlapping_strings_stop_at_the_descriptor_budget(tmp_path):
    """2^18 distinct string ids, each a suffix of one 4 KiB run: 1 GiB of scanning per DEX file
    for the old reader (killed); now the budget ends it with a DEX_LIMIT_EXCEEDED warning."""
    run = b"L" * 4094 + b";"
    count = 1 << 18
    body = _dex([run], list(range(count)), offsets=[i % 4000 for i in range(count)])
    apk = _apk(tmp_path / "overlap.apk", [body] * 2)
    out = assert_finished(run_limited(_CHILD, str(apk), cpu=10, mem_mb=800))
    names, shortest, codes, issues = json.loads(out)
    assert codes == ["DEX_LIMIT_EXCEEDED"] and issues == 1 and names == 4000 and shortest == [94, 95, 96]


def test_the_input_deadline_stops_the_dex_reading(tmp_path):
    apk = _apk(tmp_path / "one.apk", [_dex([b"Lcom/a/B;"], [0])])
    assert dex_class_names(str(apk)) == ({"com.a.B"}, [])
    names, issues = dex_class_names(str(apk), deadline=time.monotonic() - 1)
    assert names == set() and [i.code for i in issues] == ["INPUT_TIMEOUT"]


def test_scan_passes_the_deadline_to_the_dex_reader(tmp_path):
    from apkscan.apk.identify import identify
    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import evaluate
    from conftest import APKS

    apk = APKS / "clean-v1v2v3.apk"
    identity = identify(str(apk))
    rules, policy = load_ruleset(), load_policy()
    app = evaluate(identity, rules, policy, source=str(apk), dex_path=str(apk), dex_deadline=time.monotonic() - 1)
    assert [w.code for w in app.warnings] == ["INPUT_TIMEOUT"]
    app = evaluate(identity, rules, policy, source=str(apk), dex_path=str(apk))
    assert "INPUT_TIMEOUT" not in [w.code for w in app.warnings]
