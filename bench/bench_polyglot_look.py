"""Benchmark: the look from the end at every in-place container (review 54 P1/P2: polyglots).

Why: a file known by its head (tar, gzip, adb backup ...) is now also opened as a ZIP from its
end record, one read of its last 65,557 bytes at most, so a tar or gzip head in front of an APK
no longer hides it. This prices that read where it is paid most often: a folder of N small
``.tar.gz`` pulls (each a tar holding one text file, --size-kib of it), only walked (the walker's
items listed, nothing scanned), each walk in its own process with a cold start. Every round
walks with this tree and, with ``--baseline-src DIR`` (``git archive REV | tar -x -C DIR``), the
baseline's, alternated; prints each walk's time and the median ratio (the figure to read on a
shared machine), then the look alone, timed in this process over the same files.

    python bench/bench_polyglot_look.py [--files 2000] [--size-kib 256] [--rounds 5] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WALK = """
import sys
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions
items = list(FileSource([sys.argv[1]], WalkOptions(tmp_dir=sys.argv[2])).inputs())
print(len(items))
"""


def build(folder: Path, files: int, size: int) -> None:
    text = b"".join(b"line %08d of a pulled log file, not a listing\n" % i for i in range(size // 48 + 1))[:size]
    for i in range(files):
        bio = io.BytesIO()
        with tarfile.open(fileobj=bio, mode="w:gz") as tf:
            info = tarfile.TarInfo(f"logs/{i}.txt")
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
        (folder / f"pull-{i:05d}.tar.gz").write_bytes(bio.getvalue())


def walk(src: Path, folder: Path, spool: Path) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WALK, str(folder), str(spool)], env=env, capture_output=True,
                          text=True, check=True)
    return time.perf_counter() - start, done.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size-kib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--baseline-src", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, spool = Path(tmp) / "pulls", Path(tmp) / "spool"
        folder.mkdir()
        spool.mkdir()
        build(folder, args.files, args.size_kib << 10)
        size = sum(p.stat().st_size for p in folder.iterdir())
        trees = [("this tree", ROOT)] + ([("baseline", args.baseline_src)] if args.baseline_src else [])
        times: dict[str, list[float]] = {name: [] for name, _ in trees}
        for r in range(args.rounds):
            for name, src in trees if r % 2 == 0 else trees[::-1]:
                took, items = walk(src, folder, spool)
                times[name].append(took)
                print(f"round {r + 1} {name}: {took:.2f} s ({items} items)", flush=True)
        print(f"\n{args.files} .tar.gz files ({size / args.files / 1024:.0f} KiB each on disk), "
              f"load {os.getloadavg()[0]:.1f}")
        for name, ts in times.items():
            print(f"{name}: median {statistics.median(ts):.2f} s")
        if args.baseline_src:
            ratios = [a / b for a, b in zip(times["this tree"], times["baseline"])]
            print(f"this tree / baseline: median {statistics.median(ratios):.3f}x")
        look_alone(folder)


def look_alone(folder: Path, passes: int = 3) -> None:
    """The look itself, in this process, over the same files from the page cache: µs a file."""
    sys.path.insert(0, str(ROOT))
    from apkscan.sources import detect

    paths = sorted(str(p) for p in folder.iterdir())
    for _ in range(passes):
        start = time.perf_counter()
        for path in paths:
            assert detect.opened_as_zip(path, 0, os.path.getsize(path)) is None
        print(f"the look alone (detect.opened_as_zip): {(time.perf_counter() - start) / len(paths) * 1e6:.1f} us a file")


if __name__ == "__main__":
    main()
