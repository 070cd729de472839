"""Generated corpora for bench_batch.py: many distinct, still validly signed APKs, cheaply.

Signing 1,000 APKs with apksigner costs a JVM each (minutes). Instead each copy gets one
extra ID-value pair in its APK Signing Block: the v2/v3 digests do not cover the signing
block, so the copy still verifies, but its bytes and SHA-256 differ (apkscan lists the
pair under ``unknown_signing_blocks``, as it would for any vendor's extra block). The
central directory offset in the EOCD moves by the pair's size, as apksig expects.
Bases: the fixture APKs that carry a signing block. Big APKs: one signed by apksigner
(bench_inspect.build_apk), then varied the same way.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAGIC = b"APK Sig Block 42"
EXTRA_ID = 0x62656E63  # "benc": an ID no scheme uses


def _layout(path: Path) -> tuple[int, int, int] | None:
    """(signing block start, central directory offset, EOCD offset) or None without a block."""
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - 65557))
        tail = f.read()
        eocd = tail.rfind(b"PK\x05\x06")
        if eocd < 0:
            return None
        eocd_off = size - len(tail) + eocd
        cd = struct.unpack_from("<I", tail, eocd + 16)[0]
        if not 24 <= cd <= eocd_off:
            return None
        f.seek(cd - 24)
        footer = f.read(24)
        if footer[8:] != MAGIC:
            return None
        block_size = struct.unpack_from("<Q", footer)[0]
        if block_size + 8 > cd:
            return None
        return cd - block_size - 8, cd, eocd_off


def vary(base: Path, out: Path, n: int) -> None:
    """Copy ``base`` to ``out`` with an extra signing-block pair holding ``n``."""
    start, cd, eocd = _layout(base)
    pair = struct.pack("<QI", 4 + 8, EXTRA_ID) + struct.pack("<Q", n)
    with base.open("rb") as src, out.open("wb") as dst:
        dst.write(src.read(start))
        old_size = struct.unpack("<Q", src.read(8))[0]
        new_size = old_size + len(pair)
        pairs = src.read(old_size - 24)
        src.read(24)
        dst.write(struct.pack("<Q", new_size) + pairs + pair + struct.pack("<Q", new_size) + MAGIC)
        shutil.copyfileobj(src, dst, 1 << 20)  # central directory up to the EOCD
    with out.open("r+b") as f:
        f.seek(eocd + len(pair) + 16)
        f.write(struct.pack("<I", cd + len(pair)))


def signed_bases() -> list[Path]:
    skip = ("badpack", "tampered", "v2-stripped")  # bases should be APKs a user would meet
    return [p for p in sorted((ROOT / "fixtures" / "apks").glob("*.apk"))
            if not p.name.startswith(skip) and _layout(p)]


def small_corpus(folder: Path, count: int = 1000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    bases = signed_bases()
    out = []
    for i in range(count):
        p = folder / f"app-{i:05d}.apk"
        vary(bases[i % len(bases)], p, i)
        out.append(p)
    return out


def big_corpus(folder: Path, count: int, size_mib: int) -> list[Path]:
    import bench_inspect

    folder.mkdir(parents=True, exist_ok=True)
    base = bench_inspect.build_apk(folder, size_mib)
    out = []
    for i in range(count):
        p = folder / f"big-{i:03d}.apk"
        vary(base, p, i)
        out.append(p)
    base.unlink()
    return out
