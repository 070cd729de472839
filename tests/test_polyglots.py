"""A file read two ways (review 54 leftovers P1, P2): a tar or a gzip stream by its first bytes,
and a ZIP from its end record (offsets moved as ``zip -A`` moves them; apksigner signs and verifies
such a file, prefix and all). Both readings are made and the file says it is a polyglot
(``CONTAINER_POLYGLOT``); bytes that merely hold an end-record signature are no ZIP."""

from __future__ import annotations

import gzip
import io
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import prefixed_apk

from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
KEYS = REPO / "fixtures" / "keys"
WECHAT = (APKS / "wechat-tencent-subject.apk").read_bytes()
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
POLYGLOT = "CONTAINER_POLYGLOT"


def tar_of(members: list[tuple[str, bytes]]) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return bio.getvalue()


PREFIXES = {"tar": tar_of([("readme.txt", b"hello\n")]), "gzip": gzip.compress(b"hello\n")}


def run(rules, policy, tmp_path, path: Path) -> dict:
    opts = WalkOptions(tmp_dir=str(tmp_path / "spool"))
    return scan([FileSource([str(path)], opts)], rules, policy).to_dict()


def codes(doc) -> list[str]:
    return sorted(i["code"] for e in doc["errors"] for i in e["errors"])


def tampers(app) -> set[str]:
    return {t["code"] for t in app["identity"]["tamper"]}


@pytest.mark.parametrize("head", ["tar", "gzip"])
def test_signed_apk_behind_a_container_head_is_read_both_ways(rules, policy, tmp_path, head):
    """P1/P2: apksigner verifies the file; the APK is scanned (verified, flagged) and the head is
    still read as what it is (the tar's text member a skip, the bytes after it said as before)."""
    unsigned = tmp_path / "unsigned.apk"
    unsigned.write_bytes(prefixed_apk(WECHAT, PREFIXES[head]))
    path = tmp_path / "polyglot.apk"
    subprocess.run(["apksigner", "sign", "--key", str(KEYS / "tencent-like.pk8"), "--cert",
                    str(KEYS / "tencent-like.pem"), "--v4-signing-enabled", "false", "--out", str(path),
                    str(unsigned)], check=True, capture_output=True)
    subprocess.run(["apksigner", "verify", str(path)], check=True, capture_output=True)
    doc = run(rules, policy, tmp_path, path)
    (app,) = doc["apps"]
    assert app["package"] == "com.tencent.mm" and app["verdict"] == "prohibited" and app["identity"]["verified"]
    assert POLYGLOT in tampers(app)
    assert [f["kind"] for f in doc["input_files"]] == [head]  # one custody record, of the file as first read
    if head == "tar":
        assert codes(doc) == ["CONTAINER_TAR_TRAILING_DATA"]
        assert [s["examples"] for s in doc["skipped"]] == [["readme.txt"]]
    else:
        assert codes(doc) == ["CONTAINER_TRAILING_DATA", "TEXT_EVIDENCE_NOT_FOUND"]  # "hello", given


def test_zip_of_apks_behind_a_tar_is_walked_and_the_file_says_so(rules, policy, tmp_path):
    """A ZIP from the end that is no APK (a ZIP holding one): walked, the fact on the file itself."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("wechat.apk", WECHAT)
    folder = tmp_path / "pulls"
    folder.mkdir()
    (folder / "pull.bin").write_bytes(prefixed_apk(inner.getvalue(), PREFIXES["tar"]))
    doc = run(rules, policy, tmp_path, folder)
    assert [(a["package"], a["verdict"]) for a in doc["apps"]] == [("com.tencent.mm", "prohibited")]
    assert codes(doc) == [POLYGLOT, "CONTAINER_TAR_TRAILING_DATA"]


def _fake_end_record(cd_offset: int) -> bytes:
    """An end record whose comment reaches the file's end, but whose directory is nowhere."""
    return b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, cd_offset, 0)


@pytest.mark.parametrize("shape", ["end record after the tar", "end record in a member", "tar of an apk"])
def test_tar_that_only_looks_like_a_zip_from_its_end_is_one_tar(rules, policy, tmp_path, shape):
    """Built to fool the look from the end: an end-record signature whose directory is garbage, one
    inside a member's data, and an honest tar whose last member is an APK (its end record is followed
    by the tar's padding): no second reading, nothing said of a polyglot."""
    if shape == "end record after the tar":
        data = tar_of([("readme.txt", b"hello\n")]) + _fake_end_record(3)
    elif shape == "end record in a member":
        data = tar_of([("notes.bin", b"x" * 100 + _fake_end_record(0))])
    else:
        data = tar_of([("wechat.apk", WECHAT)])
    path = tmp_path / "pull.tar"
    path.write_bytes(data)
    doc = run(rules, policy, tmp_path, path)
    assert POLYGLOT not in codes(doc) and all(POLYGLOT not in tampers(a) for a in doc["apps"])
    assert [a["package"] for a in doc["apps"]] == (["com.tencent.mm"] if shape == "tar of an apk" else [])
