"""An APK of many small entries (issue 12: peak RSS per worker under 100 MB; issue 11: not
slower than apksigner): `inspect` and `scan --no-store -j1` against `apksigner verify`.

    python bench/bench_many.py [--entries 65000] [--name-pad 0] [--repeat 3] [--baseline-src DIR]

Builds, in a temporary folder, the APK of review 18: `fixtures/apks/clean-v1v2v3.apk`'s
entries outside META-INF/ plus N deflated entries of a few bytes, signed by apksigner (v1,
v2, v3; min-sdk 18, so v1 is fully verified). `--name-pad 170` gives the long-name variant
(190-byte names). Each command runs in its own process; `wait4` gives wall time, CPU and
peak RSS. `--baseline-src DIR` runs the apkscan rows from another tree in the same rounds
(`git archive <commit> | tar -x -C DIR`). Every run must verify (exit 0), else it stops.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = ROOT / "fixtures" / "keys"


def build(folder: Path, entries: int, pad: int) -> Path:
    unsigned, signed = folder / "u.apk", folder / "s.apk"
    with zipfile.ZipFile(ROOT / "fixtures" / "apks" / "clean-v1v2v3.apk") as src, \
            zipfile.ZipFile(unsigned, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if not info.filename.startswith("META-INF/"):
                dst.writestr(info, src.read(info.filename))
        for k in range(entries):
            dst.writestr(f"assets/d{k // 1000}/{'n' * pad}file-{k:06d}.txt", f"x{k}".encode())
    subprocess.run(["apksigner", "sign", "--key", str(KEYS / "android-debug.pk8"), "--cert", str(KEYS / "android-debug.pem"),
                    "--min-sdk-version", "18", "--v4-signing-enabled", "false", "--out", str(signed), str(unsigned)],
                   check=True, capture_output=True)
    unsigned.unlink()
    return signed


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS KiB) of one process, which must exit 0."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)}: exit {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def commands(apk: Path, baseline: Path | None) -> dict[str, tuple[list[str], str]]:
    apkscan = [sys.executable, "-m", "apkscan"]
    cmds = {"apksigner verify": (["apksigner", "verify", str(apk)], ""),
            "apkscan inspect": (apkscan + ["inspect", str(apk)], str(ROOT)),
            "apkscan scan --no-store -j1": (apkscan + ["scan", "--no-store", "-j1", str(apk)], str(ROOT))}
    if baseline is not None:
        for name in [n for n in cmds if n.startswith("apkscan")]:
            cmds[f"{name} [baseline]"] = (cmds[name][0], str(baseline))
    return cmds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=65_000)
    ap.add_argument("--name-pad", type=int, default=0, help="extra bytes in each entry name (170: review 18's long names)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-src", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        folder = Path(tmp)
        apk = build(folder, args.entries, args.name_pad)
        cmds = commands(apk, args.baseline_src)
        results: dict[str, list[tuple[float, float, int]]] = {n: [] for n in cmds}
        load = os.getloadavg()[0]
        for _ in range(args.repeat):
            for name, (cmd, path) in cmds.items():
                env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache"), "PYTHONPATH": path}
                env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as an installed apkscan's is
                results[name].append(run(cmd, env, folder))
        print(f"{args.entries} entries, names padded by {args.name_pad}, {apk.stat().st_size / 1e6:.1f} MB, "
              f"{args.repeat} rounds, load average {load:.2f} -> {os.getloadavg()[0]:.2f}\n")
        print("| command | wall median (s) | CPU median (s) | x apksigner (wall) | peak RSS max (MiB) |\n|---|---:|---:|---:|---:|")
        base = statistics.median(r[0] for r in results["apksigner verify"])
        for name, rows in results.items():
            wall = statistics.median(r[0] for r in rows)
            print(f"| {name} | {wall:.2f} | {statistics.median(r[1] for r in rows):.2f} | {wall / base:.2f} | "
                  f"{max(r[2] for r in rows) / 1024:.0f} |")


if __name__ == "__main__":
    main()
