"""Benchmark: data names looked at from their end (review 60 F1), in backup folders, ZIPs and adb backups.

Why: a file a backup layout skips by its name as app data (Neo ``data.tar.gz``, Swift ``.dat``, adb
``apps/<pkg>/f/...``) was judged by its first 4 bytes. It is now looked at from its end as any file
or member is: in place (a folder's file, a stored ZIP member: one read of its last 65,557 bytes,
whatever its head), or, streamed with a head the walker knows (a deflated ZIP member, an adb
backup's member), read to its end with its tail kept. This prices both on backups of N packages,
each an APK (the clean fixture) and one data file of --size-kib (random bytes: incompressible, as
real archives are), only walked (the walker's items listed, nothing scanned), each walk in its own
process with a cold start. Shapes:

- ``neo-folder``: a Neo Backup folder, ``data.tar.gz`` per instance (a gzip head: in place);
- ``swift-folder``: a Swift Backup folder, ``<pkg>.dat`` of random bytes (a head nothing known: in place);
- ``neo-zip``: that Neo folder as a deflated ZIP (the data inflated to its end, its tail kept);
- ``adb``: an adb backup (zlib), ``apps/<pkg>/f/data.gz`` per package (through the walker, tail kept).

Every round walks each shape with this tree and, with ``--baseline-src DIR`` (``git archive REV |
tar -x -C DIR``), the baseline's, alternated; prints each walk's CPU time, the median ratio (the
figure to read on a shared machine) and the median difference per data file.

    python bench/bench_data_names.py [--packages 300] [--size-kib 256] [--rounds 3] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from walk_rounds import ROOT, add_round_args, alternate, compared, tar_of, walk  # noqa: E402

sys.path.insert(0, str(ROOT / "fixtures" / "backups"))
from adb_writer import AbWriter, manifest  # noqa: E402

SHAPES = ("neo-folder", "swift-folder", "neo-zip", "adb")
CLEAN = (ROOT / "fixtures" / "apks" / "clean-v1v2v3.apk").read_bytes()
INSTANCE = "2024-05-01-10-00-00-000-user_0"


def build(folder: Path, packages: int, size: int) -> dict[str, Path]:
    rnd = random.Random(60)
    data = [gzip.compress(tar_of([("files/blob", rnd.randbytes(size))]), mtime=0, compresslevel=1)
            for _ in range(packages)]
    neo, swift = folder / "neo", folder / "swift"
    swift.mkdir()
    for i in range(packages):
        pkg = f"com.example.app{i:04}"
        inst = neo / pkg / INSTANCE
        inst.mkdir(parents=True)
        (inst.parent / f"{INSTANCE}.properties").write_text(json.dumps({"packageName": pkg, "versionCode": 1}))
        (inst / "base.apk").write_bytes(CLEAN)
        (inst / "data.tar.gz").write_bytes(data[i])
        (swift / f"{pkg}.app").write_bytes(CLEAN)
        (swift / f"{pkg}.dat").write_bytes(rnd.randbytes(size))
    with zipfile.ZipFile(folder / "neo.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for p in sorted(neo.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(neo).as_posix())
    with open(folder / "phone.ab", "wb") as out, AbWriter(out) as w:
        for i in range(packages):
            pkg = f"com.example.app{i:04}"
            w.add(f"apps/{pkg}/_manifest", manifest(pkg, 1, [], True))
            w.add(f"apps/{pkg}/a/base.apk", CLEAN)
            w.add(f"apps/{pkg}/f/data.gz", data[i])
    return {"neo-folder": neo, "swift-folder": swift, "neo-zip": folder / "neo.zip", "adb": folder / "phone.ab"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packages", type=int, default=300)
    ap.add_argument("--size-kib", type=int, default=256)
    add_round_args(ap, rounds=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, spool = Path(tmp) / "backups", Path(tmp) / "spool"
        folder.mkdir()
        spool.mkdir()
        paths = build(folder, args.packages, args.size_kib << 10)
        times = alternate(args, SHAPES, lambda src, shape: walk(src, paths[shape], spool))
        print(f"\n{args.packages} packages, a data file of {args.size_kib} KiB each, load {os.getloadavg()[0]:.1f}")
        for shape in SHAPES:
            print(f"{shape}: " + compared(times, shape, per=(args.packages, "a data file")))

if __name__ == "__main__":
    main()
