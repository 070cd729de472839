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
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from walk_rounds import ROOT, add_round_args, alternate, compared, log_text, walk  # noqa: E402

SHAPE = "tar.gz pulls"


def build(folder: Path, files: int, size: int) -> None:
    text = log_text(size)
    for i in range(files):
        bio = io.BytesIO()
        with tarfile.open(fileobj=bio, mode="w:gz") as tf:
            info = tarfile.TarInfo(f"logs/{i}.txt")
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
        (folder / f"pull-{i:05d}.tar.gz").write_bytes(bio.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size-kib", type=int, default=256)
    add_round_args(ap, rounds=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, spool = Path(tmp) / "pulls", Path(tmp) / "spool"
        folder.mkdir()
        spool.mkdir()
        build(folder, args.files, args.size_kib << 10)
        size = sum(p.stat().st_size for p in folder.iterdir())
        times = alternate(args, (SHAPE,), lambda src, _: walk(src, folder, spool, cpu=False), unit="s")
        print(f"\n{args.files} .tar.gz files ({size / args.files / 1024:.0f} KiB each on disk), "
              f"load {os.getloadavg()[0]:.1f}")
        print(f"{SHAPE}: " + compared(times, SHAPE, unit="s", per=(args.files, "a file")))
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
