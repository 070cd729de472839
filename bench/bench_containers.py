"""Benchmark: scanning one big APK as a file, inside a ZIP (read in place) and inside a tar.gz (spooled).

Builds a signed APK of --size-mib (default 512, like bench_inspect.py) in a temporary
folder, wraps it as ``big.zip`` (stored: the walker reads it through a window, no copy)
and ``big.tar.gz`` (compressed stream: the APK is copied to the private temporary folder,
scanned, deleted), then runs ``apkscan scan FILE --json`` on each in its own process and
prints wall time, peak RSS and the most temporary disk space held (sampled every 20 ms).

    python bench/bench_containers.py [--size-mib 512] [--apk FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inspect import build_apk  # noqa: E402


def du(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass
    return total


def measure(target: Path, spool: Path, out: Path) -> tuple[float, float, int, int]:
    """(wall s, peak RSS MiB, peak temporary bytes, exit code) of one scan in a fresh process."""
    cmd = [sys.executable, "-m", "apkscan", "scan", str(target), "-q", "--json", str(out), "--tmp-dir", str(spool)]
    wrapper = [sys.executable, "-c",
               "import resource,subprocess,sys,time\nt=time.perf_counter()\nr=subprocess.run(sys.argv[1:]).returncode\n"
               "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024, r)"] + cmd
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], du(spool))
            time.sleep(0.02)

    t = threading.Thread(target=watch)
    t.start()
    try:
        res = subprocess.run(wrapper, capture_output=True, text=True, check=True).stdout.split()
    finally:
        done.set()
        t.join()
    return float(res[0]), float(res[1]), peak[0], int(res[2])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--apk", type=Path, help="use this APK instead of building one")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="apkscan-bench-"))
    try:
        apk = args.apk or build_apk(tmp, args.size_mib)
        with zipfile.ZipFile(tmp / "big.zip", "w") as z:
            z.write(apk, "pull/big.apk", compress_type=zipfile.ZIP_STORED)
        with tarfile.open(tmp / "big.tar.gz", "w:gz", compresslevel=1) as tf:
            tf.add(apk, "pull/big.apk")
        print(f"\nAPK: {apk.stat().st_size / (1 << 20):.0f} MiB, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
        print("| input | wall time (s) | peak RSS (MiB) | peak temporary disk (MiB) | exit |")
        print("|---|---:|---:|---:|---:|")
        for target in (apk, tmp / "big.zip", tmp / "big.tar.gz"):
            spool = tmp / f"spool-{target.name}"
            sec, rss, disk, rc = measure(target, spool, tmp / "out.json")
            left = du(spool) if spool.exists() else 0
            print(f"| {target.name} | {sec:.2f} | {rss:.0f} | {disk / (1 << 20):.0f} | {rc} |" + (f" LEFT {left} bytes" if left else ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
