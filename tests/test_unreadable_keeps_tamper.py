"""An APK that cannot be read keeps the tamper facts met before it failed (issue 11: "tamper facts
are collected whatever happens afterwards"). ``inspect`` listed them; ``scan``'s error record kept
only the error: a local header that lies about the manifest's method beside a corrupt deflate stream
(the BadPack shape that explains the failure) was ZIP_ENTRY_INFLATE_FAILED alone, and a member named
``../evil.apk`` that is a cut APK lost TAMPER_MEMBER_NAME (the name said only on readable members)."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest
from cli_helpers import run

WECHAT = Path(__file__).resolve().parents[1] / "fixtures" / "apks" / "wechat-tencent-subject.apk"


def _lying_local_method(dest: Path) -> Path:
    """WeChat with the manifest's local header saying "stored" over a deflated entry whose stream is corrupt."""
    data = bytearray(WECHAT.read_bytes())
    info = zipfile.ZipFile(WECHAT).getinfo("AndroidManifest.xml")
    assert info.compress_type == zipfile.ZIP_DEFLATED
    at = info.header_offset
    struct.pack_into("<H", data, at + 8, zipfile.ZIP_STORED)
    name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
    start = at + 30 + name_len + extra_len
    for i in range(start + 2, start + 40):
        data[i] ^= 0x5A
    dest.write_bytes(bytes(data))
    return dest


def _cut_member_with_odd_name(dest: Path) -> Path:
    whole = WECHAT.read_bytes()
    with zipfile.ZipFile(dest, "w") as z:
        z.writestr("../evil.apk", whole[: len(whole) // 2])
    return dest


CASES = {"lying local method": (_lying_local_method, "mm.apk", "ZIP_ENTRY_INFLATE_FAILED", "TAMPER_LOCAL_METHOD_MISMATCH"),
         "cut member, odd name": (_cut_member_with_odd_name, "pull.zip", "ZIP_EOCD_NOT_FOUND", "TAMPER_MEMBER_NAME")}


@pytest.mark.parametrize("store", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_error_record_keeps_tamper_facts(tmp_path, case, store):
    build, name, error, fact = CASES[case]
    path = build(tmp_path / name)
    opts = ["--store", str(tmp_path / "s.sqlite")] if store else ["--no-store"]
    for _ in range(2 if store else 1):  # with a store: the cold run, then the run that finds it stored
        proc = run("scan", str(path), *opts, "--json", str(tmp_path / "r.json"), "-q", "--force")
        assert proc.returncode == 3, proc.stderr
        doc = json.loads((tmp_path / "r.json").read_text())
        assert doc["apps"] == []
        (err,) = doc["errors"]
        assert err["code"] == error
        assert [(i["code"], i["severity"]) for i in err["errors"]] == [(error, "error"), (fact, "tamper")]
