"""A stored entry whose bytes do not match its local CRC-32, on the stream's way to a local-only entry.

``java.util.zip.ZipInputStream`` (OpenJDK and Android's libcore alike) checks a stored entry's CRC-32
once it is read to its end and throws "invalid entry CRC": SAI and ackpine abort the install there.
Readers by the central directory do not check it (``java.util.zip.ZipFile``; Android's libziparchive
has ``kCrcChecksEnabled`` false; apksig verifies a v1 signature over a stored entry whose CRC is
wrong in both records), so the readers disagree. The walk never looked: a stored TikTok ``base.apk``
put between two listed entries of ``v1-only.apk`` with a wrong CRC, or put before the directory
behind a listed stored entry whose CRC is wrong (the stream throws there, before it), was scanned
with no word that the stream throws. Now the stored entries the stream reads, up to the last local-only
one, have their CRC-32 checked (streamed) and a mismatch is said, ``TAMPER_CONTAINER_STREAM_CRC``;
the entry is scanned all the same (review 91 B).
"""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from tests.apksigner_helper import apksigner_available, apksigner_verify
from tests.test_apk_local_coverage import (LOCAL_ONLY, TIKTOK, V1, apps_of, codes_in, container_codes, directory,
                                          insert, offset_of, scan_file, stored)
from tests.test_apk_local_descriptor import JAVA_LIST

STREAM_CRC = "TAMPER_CONTAINER_STREAM_CRC"


def _carrier(bad: str | None) -> bytes:
    """``v1-only.apk`` with a stored TikTok ``base.apk`` no central record lists: after the stored
    ``res/raw/notes.txt`` when ``bad`` is None or "hidden" (its own CRC then wrong), before the
    directory when "listed" (``notes.txt``'s CRC then wrong, in both its records: apksig still
    verifies the v1 signature, which digests the bytes, not the CRC)."""
    entry = bytearray(stored(b"base.apk", TIKTOK))
    if bad == "hidden":
        struct.pack_into("<I", entry, 14, struct.unpack_from("<I", entry, 14)[0] ^ 1)
    if bad != "listed":
        return insert(V1, offset_of(V1, "res/raw/notes.txt"), bytes(entry))
    apk = bytearray(V1)
    at = offset_of(V1, "res/raw/notes.txt")
    struct.pack_into("<I", apk, at + 14, struct.unpack_from("<I", apk, at + 14)[0] ^ 1)
    _end, n, p = directory(V1)
    for _ in range(n):
        nlen, xlen, clen = struct.unpack_from("<HHH", apk, p + 28)
        if apk[p + 46:p + 46 + nlen] == b"res/raw/notes.txt":
            struct.pack_into("<I", apk, p + 16, struct.unpack_from("<I", apk, p + 16)[0] ^ 1)
        p += 46 + nlen + xlen + clen
    return insert(bytes(apk), directory(V1)[2], bytes(entry))


@pytest.mark.parametrize("bad, named", [("hidden", "base.apk"), ("listed", "res/raw/notes.txt")])
@pytest.mark.parametrize("name", ["crc.apk", "crc.apks"])
def test_a_wrong_crc_is_said_and_the_entry_scanned(scan_path, tmp_path, name, bad, named):
    doc = scan_file(scan_path, tmp_path, name, _carrier(bad))
    assert apps_of(doc)["com.example.v1only"]["verdict"] == "allowed"
    tiktok = apps_of(doc)["com.zhiliaoapp.musically"]
    assert tiktok["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(tiktok["identity"])
    assert {LOCAL_ONLY, STREAM_CRC} <= container_codes(doc)
    fact = next(i["message"] for e in doc["errors"] for i in e["errors"] if i["code"] == STREAM_CRC)
    assert fact.startswith(f"1 stored entries ({named!r} at ")


@pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed")
def test_the_listed_wrong_crc_verifies(tmp_path):
    path = tmp_path / "crc.apk"
    path.write_bytes(_carrier("listed"))
    assert apksigner_verify(path)["verified"]


def test_a_right_crc_says_nothing(scan_path, tmp_path):
    doc = scan_file(scan_path, tmp_path, "crc.apk", _carrier(None))
    assert apps_of(doc)["com.zhiliaoapp.musically"]["verdict"] == "prohibited"
    assert STREAM_CRC not in container_codes(doc) and STREAM_CRC not in codes_in(doc)


@pytest.mark.parametrize("bad", ["hidden", "listed", None])
def test_java_zipinputstream_throws_at_the_wrong_crc(tmp_path, bad):
    """The oracle: Java's ZipInputStream lists base.apk with its right CRC and throws at the wrong one."""
    if not shutil.which("java"):
        pytest.skip("no java")
    path, src = tmp_path / "crc.zip", tmp_path / "ZisList.java"
    path.write_bytes(_carrier(bad))
    src.write_text(JAVA_LIST)
    run = subprocess.run(["java", str(src), str(path)], capture_output=True, text=True, timeout=120)
    if run.returncode and "error:" in run.stderr:
        pytest.skip("java cannot run a source file here (a JRE without its compiler)")
    if bad:
        assert "invalid entry CRC" in run.stdout and "base.apk" not in run.stdout.split(), run.stdout
    else:
        assert "base.apk" in run.stdout.split() and "THROWS" not in run.stdout, run.stdout
