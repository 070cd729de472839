"""The AXML string pool decodes each string once, and at most DECODE_BUDGET (64 MiB) in all.

A reviewer built a 10 KB APK whose manifest's string offset table points 400 indices (element
names) at one 4M-character string: each index decoded and kept its own 8 MB copy (3 GB, and
more per walk of the tree). Each case runs in a child under CPU and memory limits, so the old
behaviour fails the test instead of exhausting the machine.
"""

from __future__ import annotations

import struct
import subprocess
import sys

from apkscan.apk.manifest.android_manifest import read_manifest
from apkscan.apk.manifest.axml import AxmlError, iter_start_elements


def _chunk(ctype: int, extra: bytes, body: bytes) -> bytes:
    return struct.pack("<HHI", ctype, 8 + len(extra), 8 + len(extra) + len(body)) + extra + body


def _utf16(s: str) -> bytes:
    n = len(s)
    head = struct.pack("<HH", 0x8000 | (n >> 16), n & 0xFFFF) if n >= 0x8000 else struct.pack("<H", n)
    return head + s.encode("utf-16-le") + b"\0\0"


def _pool(raw: bytes, offsets: list[int]) -> bytes:
    table = b"".join(struct.pack("<I", o) for o in offsets)
    return _chunk(0x0001, struct.pack("<5I", len(offsets), 0, 0, 28 + len(table), 0), table + raw)


def _element(name: int, end: bool = False) -> bytes:
    if end:
        return _chunk(0x0103, struct.pack("<II", 1, 0xFFFFFFFF), struct.pack("<II", 0xFFFFFFFF, name))
    body = struct.pack("<IIHHHHHH", 0xFFFFFFFF, name, 20, 20, 0, 0, 0, 0)
    return _chunk(0x0102, struct.pack("<II", 1, 0xFFFFFFFF), body)


def one_long_string_many_names(n: int, length: int) -> bytes:
    """n + 1 elements, each named by its own index, every index at offset 0 of one long string."""
    nodes = [_element(0)] + [part for i in range(1, n + 1) for part in (_element(i), _element(i, end=True))]
    return _chunk(0x0003, b"", _pool(_utf16("\u0101" * length), [0] * (n + 1)) + b"".join(nodes)
                  + _element(0, end=True))


def test_many_indices_of_one_string_share_one_decoded_copy():
    xml = one_long_string_many_names(50, 1000)
    names = [el.name for el in iter_start_elements(xml)]
    assert len(names) == 51 and all(n == "\u0101" * 1000 for n in names)
    assert len({id(n) for n in names}) == 1  # one decoded string, not one per index


_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_CPU, (30, 30))
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
sys.path.insert(0, sys.argv[1])
from test_axml_bounds import one_long_string_many_names
from apkscan.apk.manifest.android_manifest import read_manifest
info = read_manifest(one_long_string_many_names(400, 4_000_000), None)
print(sorted({i.code for i in info.errors}))
"""


def test_hostile_pool_reads_in_bounded_memory():
    done = subprocess.run([sys.executable, "-c", _CHILD, str(__import__("pathlib").Path(__file__).parent)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]  # MemoryError under the 1 GiB limit before the fix
    # nothing wrong with it once each string is decoded once (its root is no <manifest>: Android refuses it)
    assert done.stdout.strip() == "['MANIFEST_NOT_FRAMEWORK_READABLE']"


def nested_strings(n: int, length: int = 0x7FFF) -> bytes:
    """One UTF-16 string whose every code unit is a valid length: unit j is ``length - j - 1``,
    so an offset at unit j reads a NUL-terminated string of everything after it. n elements name
    distinct such offsets: ~n * length decoded characters from a pool of 2 * length bytes."""
    units = [length - j - 1 for j in range(length)]
    raw = struct.pack("<H", length) + struct.pack(f"<{length}H", *units) + b"\0\0"
    offsets = [0] + [2 + 2 * j for j in range(n)]
    nodes = [_element(0)] + [part for i in range(1, n + 1) for part in (_element(i), _element(i, end=True))]
    return _chunk(0x0003, b"", _pool(raw, offsets) + b"".join(nodes) + _element(0, end=True))


_CHILD_NESTED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_CPU, (30, 30))
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
sys.path.insert(0, sys.argv[1])
from test_axml_bounds import nested_strings
from apkscan.apk.manifest.android_manifest import read_manifest
info = read_manifest(nested_strings(16000), None)
print(sorted({i.code for i in info.errors}), any("overlapping strings" in i.message for i in info.errors))
"""


def test_overlapping_strings_past_the_budget_are_malformed():
    done = subprocess.run([sys.executable, "-c", _CHILD_NESTED, str(__import__("pathlib").Path(__file__).parent)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]  # ~1 GB of decoded names before the fix
    codes, budget = done.stdout.strip().rsplit(" ", 1)
    assert "MANIFEST_MALFORMED" in codes and budget == "True"


def test_overlapping_strings_android_allows_are_read():
    """Offsets into the middle of a string are legal (aapt2 reads such a manifest): 200 element
    names inside one 8,000-character string are read, not refused (a 2x-the-pool budget did)."""
    info = read_manifest(nested_strings(200, 8000), None)
    assert [i.code for i in info.errors] == ["MANIFEST_NOT_FRAMEWORK_READABLE"]  # its root is no <manifest>


def test_a_few_overlapping_strings_within_the_budget_still_read():
    xml = nested_strings(1, 100)
    names = [el.name for el in iter_start_elements(xml)]
    assert names == ["".join(map(chr, range(99, -1, -1))), "".join(map(chr, range(98, -1, -1)))]


def test_real_manifests_read_as_before():
    from pathlib import Path
    import zipfile

    apks = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
    read = 0
    for apk in sorted(apks.glob("*.apk")):
        try:
            with zipfile.ZipFile(apk) as z:
                xml = z.read("AndroidManifest.xml")
        except (zipfile.BadZipFile, KeyError, RuntimeError):  # BadPack fixtures Python's zipfile refuses
            continue
        info = read_manifest(xml, None)
        assert info.package and not any("overlapping" in i.message for i in info.errors), apk.name
        read += 1
    assert read >= 15


def many_empty_chunks_then_trees(empty: int, trees: int = 16) -> bytes:
    """``empty`` 8-byte chunks of no known type, then ``trees`` copies of a real manifest."""
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures"))
    from axml_writer import manifest

    return struct.pack("<HHI", 0x0200, 8, 8) * empty + manifest("com.example.chunks") * trees


def test_top_level_chunks_are_walked_once_per_manifest():
    info = read_manifest(many_empty_chunks_then_trees(1000, 3), None)
    assert info.package == "com.example.chunks"  # apksig's first RES_XML; the framework's first chunk is no tree
    assert "MANIFEST_NOT_FRAMEWORK_READABLE" in {i.code for i in info.errors}


_CHILD_CHUNKS = """
import resource, sys
resource.setrlimit(resource.RLIMIT_CPU, (6, 6))
sys.path.insert(0, sys.argv[1])
from test_axml_bounds import many_empty_chunks_then_trees
from apkscan.apk.manifest.android_manifest import read_manifest
info = read_manifest(many_empty_chunks_then_trees(2 << 20), None)
print(info.package)
"""


def test_millions_of_empty_chunks_are_not_walked_for_every_tree():
    """16 MiB of empty chunks before 16 trees: walked ~20 times before (11.6 s), once now."""
    done = subprocess.run([sys.executable, "-c", _CHILD_CHUNKS, str(__import__("pathlib").Path(__file__).parent)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]  # killed by the CPU limit before
    assert done.stdout.strip() == "com.example.chunks"
