"""Benchmark: read a multi-GB encrypted, compressed adb backup with the streaming reader.

Writes a backup of --size-mib (default 3072) of incompressible app data plus a few
fixture APKs and _manifests, AES-256 + zlib (v5), streamed to a temporary folder (never
the repo) by the fixture writer. Then, each in its own process so peak RSS is its own:

  sha256   a plain streaming sha256 pass over the .ab (the I/O floor)
  reader   AdbBackupReader over the file, reading every yielded member to the end
  scan     (--scan) `apkscan scan FILE` with APKSCAN_BACKUP_PASSWORD set: the full
           pipeline (custody hash, reader, walker, identify, rules, terminal report)

and prints wall time, MB/s, peak RSS and peak temporary-disk use (the child's TMPDIR is a
fresh folder polled during the run) as a Markdown table.

    python bench/bench_adb_backup.py [--size-mib 3072] [--scan] [--keep] [--ab FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fixtures" / "backups"))
from adb_writer import AbWriter, manifest  # noqa: E402

PASSWORD = "apkscan-bench"
APKS = ["wechat-tencent-subject.apk", "tiktok-bytedance-subject.apk", "clean-v1v2v3.apk"]
MEMBER_MIB = 256


class _Noise:
    """``size`` bytes of incompressible data, produced per read (never held whole)."""

    def __init__(self, size: int):
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def build_backup(path: Path, size_mib: int) -> None:
    with path.open("wb") as out, AbWriter(out, version=5, compress=True, password=PASSWORD, level=1) as w:
        for i, name in enumerate(APKS):
            data = (ROOT / "fixtures" / "apks" / name).read_bytes()
            w.add(f"apps/com.bench.app{i}/_manifest", manifest(f"com.bench.app{i}", 1, [], True))
            w.add(f"apps/com.bench.app{i}/a/base.apk", data)
        left, k = size_mib, 0
        while left > 0:
            mib = min(MEMBER_MIB, left)
            w.add_stream(f"apps/com.bench.data/f/blob{k:03d}.bin", mib << 20, _Noise(mib << 20))
            left, k = left - mib, k + 1


READER = """
import sys
from apkscan.sources.adb_backup import AdbBackupReader
from apkscan.sources.interface import Member
n = members = 0
with open(sys.argv[1], 'rb') as f:
    for item in AdbBackupReader(f, (sys.argv[1],), sys.argv[2]).entries():
        if isinstance(item, Member):
            members += 1
            with item.open() as m:
                while chunk := m.read(1 << 20):
                    n += len(chunk)
        else:
            print(type(item).__name__, getattr(item, 'issues', ''), file=sys.stderr)
print(members, n)
"""
SHA256 = "import hashlib,sys\nh=hashlib.sha256()\nf=open(sys.argv[1],'rb')\nfor b in iter(lambda:f.read(1<<20),b''): h.update(b)\nprint(h.hexdigest())"


def _du(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def measure(tool: str, ab: Path, work: Path) -> tuple[float, float, int, str]:
    """(seconds, peak RSS MiB, peak temp bytes, child's output) for one tool in a fresh interpreter."""
    if tool == "sha256":
        cmd = [sys.executable, "-c", SHA256, str(ab)]
    elif tool == "reader":
        cmd = [sys.executable, "-c", READER, str(ab), PASSWORD]
    else:
        cmd = [sys.executable, "-m", "apkscan", "scan", str(ab)]
    tmp = work / f"tmp-{tool}"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), APKSCAN_BACKUP_PASSWORD=PASSWORD)
    wrapper = [sys.executable, "-c",
               "import resource,subprocess,sys,time\nt=time.perf_counter()\n"
               "r=subprocess.run(sys.argv[1:],capture_output=True,text=True)\n"
               "e=time.perf_counter()-t\nprint(e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024, r.returncode)\n"
               "print((r.stdout+r.stderr)[-400:])"] + cmd
    peak, done = [0], threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _du(tmp))

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out = subprocess.run(wrapper, capture_output=True, text=True, env=env, check=True).stdout
    done.set()
    watcher.join()
    first, _, rest = out.partition("\n")
    sec, rss, _rc = first.split()
    return float(sec), float(rss), peak[0], rest.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=3072)
    ap.add_argument("--scan", action="store_true", help="also measure `apkscan scan FILE`")
    ap.add_argument("--keep", action="store_true", help="keep the temporary backup")
    ap.add_argument("--ab", type=Path, help="benchmark this backup (password " + PASSWORD + ")")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="apkscan-bench-ab-"))
    try:
        ab = args.ab
        if ab is None:
            ab = work / "big.ab"
            t = time.perf_counter()
            build_backup(ab, args.size_mib)
            print(f"built {ab.stat().st_size / (1 << 20):.0f} MiB in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        size = ab.stat().st_size
        tools = ["sha256", "reader"] + (["scan"] if args.scan else [])
        results = {t: measure(t, ab, work) for t in tools}
        base = results["sha256"][0]
        print(f"\nbackup: {size / (1 << 20):.0f} MiB (AES-256, zlib, v5), Python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs\n")
        print("| measured | wall time (s) | MB/s | x sha256 time | peak RSS (MiB) | peak temp disk (MiB) |")
        print("|---|---:|---:|---:|---:|---:|")
        for t, (sec, rss, temp, _out) in results.items():
            print(f"| {t} | {sec:.2f} | {size / 1e6 / sec:.0f} | {sec / base:.2f} | {rss:.0f} | {temp / (1 << 20):.1f} |")
        for t, (_s, _r, _t, out) in results.items():
            print(f"\n{t} output: {out}", file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
