"""The single pass over a file: whole-file hashes agree with hashlib, also on the threaded path."""

from __future__ import annotations

import hashlib
import os
import zipfile

from apkscan.apk.signing import digests
from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.zipreader import ZipArchive


def test_file_facts_on_a_file_large_enough_for_the_helper_thread(tmp_path):
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00" * 16)
        zf.writestr(zipfile.ZipInfo("assets/blob.bin"), os.urandom(digests.PARALLEL_MIN_SIZE + 12345))
    data = path.read_bytes()
    assert len(data) > digests.PARALLEL_MIN_SIZE
    with ByteSource(path) as src:
        result = digests.compute_digests(ZipArchive.open(src), None, set(), file_hashes=("sha1", "md5"))
    assert result.file.size == len(data)
    assert result.file.sha256 == hashlib.sha256(data).hexdigest()
    assert result.file.sha1 == hashlib.sha1(data).hexdigest()
    assert result.file.md5 == hashlib.md5(data).hexdigest()
