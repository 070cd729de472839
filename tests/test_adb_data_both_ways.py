"""An adb backup's data file known by its head (a tar, a gzip) that also ends in a ZIP naming an APK
is read both ways, as the same bytes are anywhere else (closing notes 15/16 leftover).

Before, its ZIP reading was read again from the backup (``CONTAINER_POLYGLOT``) but its first-bytes
reading stayed the data skip: an APK inside the tar part was never scanned, and the tar's own errors
never said, while the same file in a backup folder (in place) was walked as a tar too. Now the bytes
read again are walked as any file: the ZIP from its end, then the tar (or gzip layer) with the same
bounds and errors as the forward path. Real bytes: the fixture APKs, one signed by apksigner after
its tar head was put in front of it.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from backup_helpers import AbWriter, manifest
from conftest import prefixed_apk
from test_polyglot_members import gzip_of
from test_polyglots import tar_of

from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

REPO = Path(__file__).resolve().parents[1]
APKS, KEYS = REPO / "fixtures" / "apks", REPO / "fixtures" / "keys"
WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()
TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
DATA = "apps/com.example.clean/f/cache.bin"
INSTANCE = "2024-05-01-10-00-00-000-user_0"


def _signed(work: Path, prefix: bytes, name: str) -> bytes:
    unsigned, out = work / f"{name}-unsigned.apk", work / f"{name}.apk"
    unsigned.write_bytes(prefixed_apk(WECHAT, prefix))
    subprocess.run(["apksigner", "sign", "--key", str(KEYS / "tencent-like.pk8"), "--cert",
                    str(KEYS / "tencent-like.pem"), "--v4-signing-enabled", "false", "--out", str(out),
                    str(unsigned)], check=True, capture_output=True)
    return out.read_bytes()


def _corrupt_second_header(tar: bytes) -> bytes:
    """The tar with its second member's header checksum broken: a garbled header between members."""
    first = 512 + ((len(TIKTOK) + 511) // 512) * 512
    return tar[:first + 148] + b"9999999\x00" + tar[first + 156:]


@pytest.fixture(scope="module")
def polyglots(tmp_path_factory) -> dict[str, bytes]:
    """WeChat (Tencent-like key) signed behind a tar holding TikTok, behind a gzip of that tar, and
    behind a tar whose second header is garbled (TikTok before it, the clean app after it)."""
    if shutil.which("apksigner") is None:
        pytest.skip("apksigner not installed")
    work = tmp_path_factory.mktemp("adbboth")
    tar = tar_of([("payload.apk", TIKTOK)])
    bad = _corrupt_second_header(tar_of([("payload.apk", TIKTOK), ("later.apk", CLEAN)]))
    return {"tar": _signed(work, tar, "tar"), "gzip": _signed(work, gzip_of(tar), "gzip"),
            "corrupt tar": _signed(work, bad, "bad")}


def adb(root: Path, data: bytes) -> Path:
    out = io.BytesIO()
    with AbWriter(out) as w:
        w.add("apps/com.example.clean/_manifest", manifest("com.example.clean", 1, [], True))
        w.add("apps/com.example.clean/a/base.apk", CLEAN)
        w.add(DATA, data)
    path = root / "phone.ab"
    path.write_bytes(out.getvalue())
    return path


def neo(root: Path, data: bytes) -> Path:
    """The same data file in a Neo Backup folder: read in place, the forward path."""
    inst = root / "neo" / "com.example.clean" / INSTANCE
    inst.mkdir(parents=True)
    (inst.parent / f"{INSTANCE}.properties").write_text(json.dumps({"packageName": "com.example.clean",
                                                                     "versionCode": 1}))
    (inst / "base.apk").write_bytes(CLEAN)
    (inst / "data.tar.gz").write_bytes(data)
    return root / "neo"


def run(rules, policy, tmp_path: Path, path: Path) -> dict:
    return scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()


def found(doc: dict) -> list[tuple[str, str, tuple[str, ...]]]:
    """(package, verdict, chain below the data file) of every app read inside the data file."""
    out = []
    for a in doc["apps"]:
        chain = a["source"]["chain"]
        at = [i for i, c in enumerate(chain) if c.endswith(("cache.bin", "data.tar.gz"))]
        if at:
            out.append((a["package"], a["verdict"], tuple(chain[at[0] + 1:])))
    return sorted(out)


def error_codes(doc: dict) -> list[str]:
    return sorted(i["code"] for e in doc["errors"] for i in e["errors"])


@pytest.mark.parametrize("head", ["tar", "gzip"])
def test_apk_in_the_tar_part_is_scanned(rules, policy, tmp_path, polyglots, head):
    doc = run(rules, policy, tmp_path, adb(tmp_path, polyglots[head]))
    assert found(doc) == [("com.tencent.mm", "prohibited", ()),
                          ("com.zhiliaoapp.musically", "prohibited", ("payload.apk",))]
    tiktok = [a for a in doc["apps"] if a["package"] == "com.zhiliaoapp.musically"][0]
    assert tiktok["identity"]["verified"] and tiktok["source"]["chain"][1:] == [DATA, "payload.apk"]


@pytest.mark.parametrize("head", ["tar", "gzip", "corrupt tar"])
def test_same_apps_and_errors_as_the_same_bytes_read_in_place(rules, policy, tmp_path, polyglots, head):
    """The forward path (the same bytes as a backup folder's data file, in place) and the adb backup
    find the same apps and say the same errors (a garbled tar header: ``CONTAINER_TAR_CORRUPT``)."""
    in_place = run(rules, policy, tmp_path, neo(tmp_path, polyglots[head]))
    streamed = run(rules, policy, tmp_path, adb(tmp_path, polyglots[head]))
    assert found(streamed) == found(in_place)
    assert error_codes(streamed) == error_codes(in_place)
    if head == "corrupt tar":
        assert "CONTAINER_TAR_CORRUPT" in error_codes(streamed)
        assert ("com.zhiliaoapp.musically", "prohibited", ("payload.apk",)) in found(streamed)
        assert "com.example.clean" not in [p for p, _, _ in found(streamed)]  # after the garbled header


def test_depth_bound_holds_for_the_tar_reading(rules, policy, tmp_path, polyglots):
    """``--max-depth`` counts the same levels as the forward path: the backup's data file is one
    container deep, so its tar is one too many at ``--max-depth 1`` (said; the ZIP read from its end,
    an APK, is no container and still scanned)."""
    path = adb(tmp_path, polyglots["tar"])
    doc = scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool"), max_depth=1))],
               rules, policy).to_dict()
    assert error_codes(doc) == ["CONTAINER_TOO_DEEP"]
    assert [e["source"]["chain"][1:] for e in doc["errors"]] == [[DATA]]
    assert found(doc) == [("com.tencent.mm", "prohibited", ())]
