"""The APK Signing Block's entries: every one read (a scheme's block is found wherever it sits),
few remembered. A 64 MiB block holds 5.6 million 12-byte entries; one tamper fact per
repeated id made 1.2 GB of objects (a reviewer's DoS finding). The big case runs in a child
under a memory limit, so the old parser fails the test.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

from apkscan.apk.identify import identify
from apkscan.apk.signing.signing_block import MAX_LISTED_IDS

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "apks"
MAGIC = b"APK Sig Block 42"


def with_pairs_first(base: Path, out: Path, extra: bytes) -> Path:
    """``base`` with ``extra`` (whole entries) inserted before its signing block's own entries;
    the central directory offset in the EOCD moves by their size. The v2/v3 digests do not cover
    the block, so the signatures still verify."""
    data = base.read_bytes()
    eocd = data.rfind(b"PK\x05\x06")
    cd = struct.unpack_from("<I", data, eocd + 16)[0]
    assert data[cd - 16:cd] == MAGIC
    size = struct.unpack_from("<Q", data, cd - 24)[0]
    start = cd - size - 8
    new_size = size + len(extra)
    block = struct.pack("<Q", new_size) + extra + data[start + 8:cd - 24] + struct.pack("<Q", new_size) + MAGIC
    new = bytearray(data[:start] + block + data[cd:])
    struct.pack_into("<I", new, eocd + len(extra) + 16, cd + len(extra))
    out.write_bytes(bytes(new))
    return out


def _entries(ids) -> bytes:
    return b"".join(struct.pack("<QI", 4, i) for i in ids)


def test_scheme_blocks_after_many_unknown_entries_are_still_found(tmp_path):
    apk = with_pairs_first(FIXTURES / "clean-v1v2v3.apk", tmp_path / "junk-first.apk",
                           _entries(range(1000, 1000 + 3 * MAX_LISTED_IDS)))
    identity = identify(str(apk))
    v = identity.verification
    assert v.verified and {"v2", "v3"} <= set(v.verified_using)  # hidden behind 768 entries, still read
    assert len(v.unknown_blocks) == MAX_LISTED_IDS
    assert [t.code for t in identity.tamper if t.code == "TAMPER_APK_SIG_BLOCK_ENTRIES"]


def test_repeated_ids_give_bounded_facts(tmp_path):
    apk = with_pairs_first(FIXTURES / "v2-only.apk", tmp_path / "dups.apk", _entries([7] * 5000 + [8] * 3))
    identity = identify(str(apk))
    dup = [t for t in identity.tamper if t.code == "TAMPER_APK_SIG_BLOCK_DUPLICATE_ID"]
    assert len(dup) == 3  # id 7, id 8, and the count
    assert "5001 entries repeat an id" in dup[-1].message  # 4,999 of id 7 and 2 of id 8
    assert identity.verification.verified


_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20))
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import test_signing_block_bounds as t
apk = t.with_pairs_first(t.FIXTURES / "v2-only.apk", Path(sys.argv[2]) / "big.apk", t._entries([7]) * (24 << 20 // 12))
from apkscan.apk.identify import identify
identity = identify(str(apk))
print(sorted({i.code for i in identity.errors}), len(identity.tamper) < 10, identity.verification.verified)
"""


def test_a_block_of_millions_of_repeated_entries_fits_in_memory(tmp_path):
    done = subprocess.run([sys.executable, "-c", _CHILD, str(HERE), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[] True True"  # no INPUT_LIMIT_EXCEEDED (MemoryError) as before
