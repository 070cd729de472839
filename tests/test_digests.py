"""The single pass over a file: whole-file hashes agree with hashlib, also on the threaded path."""

from __future__ import annotations

import hashlib
import os
import zipfile

import pytest

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


def _reference_verity_root(data: bytes, salt: bytes = b"") -> bytes:
    """fs-verity root the plain way: hash every 4 KiB page of each level, pad, repeat."""
    def h(b: bytes) -> bytes:
        return hashlib.sha256(salt + b).digest()

    def pad(b: bytes) -> bytes:
        return b + bytes(-len(b) % 4096) if b else bytes(4096)

    level = b"".join(h(pad(data[i:i + 4096])) for i in range(0, max(len(data), 1), 4096))
    while len(level) > 4096:
        level = b"".join(h(level[i:i + 4096].ljust(4096, b"\0")) for i in range(0, len(level), 4096))
    return h(pad(level))


@pytest.mark.parametrize("size", [1, 4095, 4096, 4097, 512 * 1024, 512 * 1024 + 1, (2 << 20) + 123])
@pytest.mark.parametrize("salt", [None, bytes(8)])
def test_merkle_tree_matches_the_plain_construction(size, salt):
    """Pieces of odd sizes (a reader's pieces never align with pages) give the same root."""
    data = os.urandom(size)
    tree = digests.MerkleTree(size, salt)
    pos, step = 0, 1
    while pos < size:
        n = min(size - pos, 4096 * 37 + step)
        tree.update(memoryview(data[pos:pos + n]))
        pos, step = pos + n, step * 7 % 9001
    assert tree.root() == _reference_verity_root(data, salt or b"")
