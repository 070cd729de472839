"""Review 83 F2: a pax ``size`` record of 5,000 leading zeros, then the APK's size.

AOSP's restore (``Long.parseLong``) and GNU tar (``strtoumax``) read 8,663 bytes; Python's ``int()``
refuses a string of more than 4,300 digits, so apkscan's model of restore "stopped" with Python's
error text as the reason, ``tarfile`` took size 0, and TikTok in the backup was never identified
(three errors, no app). The backup is built here from the shipped TikTok fixture.
"""

from __future__ import annotations

import tarfile

import pytest
from conftest import APKS

from apkscan.scan import scan
from apkscan.sources.adb_restore_tar import _java_long
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

TIKTOK = (APKS / "tiktok-bytedance-subject.apk").read_bytes()
PKG = "com.zhiliaoapp.musically"


def _ustar(name: str, size: int, kind: bytes = b"0") -> bytes:
    t = tarfile.TarInfo(name)
    t.size, t.type, t.mode, t.mtime = size, kind, 0o644, 0
    return t.tobuf(format=tarfile.USTAR_FORMAT)


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 512)


def _pax(key: str, value: str) -> bytes:
    rec = f" {key}={value}\n"
    n = len(rec) + 1
    while len(str(n)) + len(rec) != n:
        n += 1
    body = f"{n}{rec}".encode()
    return _ustar("././@PaxHeader", len(body), b"x") + _pad(body)


def _backup(zeros: int) -> bytes:
    tar = _pax("size", "0" * zeros + str(len(TIKTOK)))
    tar += _ustar(f"apps/{PKG}/a/base.apk", 0) + _pad(TIKTOK)  # ustar size 0: the pax record gives it
    return b"ANDROID BACKUP\n5\n0\nnone\n" + tar + b"\0" * 1024


@pytest.mark.parametrize("zeros", [0, 5000])
def test_a_pax_size_with_thousands_of_leading_zeros_is_read_as_restore_and_tar_read_it(rules, policy, tmp_path, zeros):
    path = tmp_path / "device.ab"
    path.write_bytes(_backup(zeros))
    doc = scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()
    assert [a["verdict"] for a in doc["apps"]] == ["prohibited"], doc["errors"]
    messages = [i["message"] for e in doc["errors"] for i in e["errors"]]
    assert not any("4300" in m or "integer string conversion" in m for m in messages), messages


def test_java_long_reads_leading_zeros_and_refuses_what_parselong_refuses():
    assert _java_long("0" * 5000 + "8663") == 8663 and _java_long("-0007") == -7 and _java_long("+0") == 0
    for bad in ("", "+", "12a", "9223372036854775808", "1" + "0" * 5000, "٣"):
        with pytest.raises(ValueError) as exc:
            _java_long(bad)
        assert "integer string conversion" not in str(exc.value)
