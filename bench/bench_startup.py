"""Benchmark: whole-process start-up on one small APK, apkscan beside apksigner.

Each command runs in its own process; wall time, CPU time (user + system, the process and
its children) and peak RSS come from ``wait4``. Every round runs every command once, so the
ratios compare commands under the same machine load; the table shows median and minimum
over --repeat rounds and each median's ratio to ``apksigner verify``'s.

apkscan runs as the ``apkscan`` console script beside this Python (``python -m apkscan`` when
there is none). Python processes run with bytecode cached, as users have it: PYTHONDONTWRITEBYTECODE is
removed from their environment and one warm-up run of each command fills ``__pycache__``.
They use a private XDG_CACHE_HOME, warmed by that run (the rule packs' schema validation
is remembered there); the "cold validation" row gives every run a fresh one.

    python bench/bench_startup.py [--repeat 15] [--apk FILE] [--baseline-src DIR]

``--baseline-src DIR`` adds the apkscan rows once more, run from another source tree (e.g.
``git archive <commit> | tar -x -C DIR`` and a link ``DIR/apkscan/signatures -> ../signatures``)
through PYTHONPATH: before/after in one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL_APK = ROOT / "fixtures" / "apks" / "clean-v1v2v3.apk"


def commands(apk: Path, tmp: Path, baseline: Path | None) -> dict[str, list[str]]:
    py = [sys.executable]
    # the console script pip installs, as users run it (``python -m apkscan`` adds runpy, ~3 ms)
    script = Path(sys.executable).parent / "apkscan"
    apkscan = [str(script)] if script.exists() else py + ["-m", "apkscan"]
    cmds = {
        "python -c pass (floor)": py + ["-c", "pass"],
        "apksigner verify": ["apksigner", "verify", str(apk)],
        "apkscan inspect": apkscan + ["inspect", str(apk)],
        "apkscan inspect --quick": apkscan + ["inspect", "--quick", str(apk)],
        "apkscan scan --no-store": apkscan + ["scan", "--no-store", str(apk)],
        "apkscan scan --no-store --json FILE": apkscan + ["scan", "--no-store", str(apk), "--json",
                                                          str(tmp / "scan.json")],
        "apkscan scan --no-store (cold validation)": apkscan + ["scan", "--no-store", str(apk)],
    }
    if baseline is not None:  # that tree's own console-script entry (older trees: cli.main)
        entry = "run" if "def run(" in (baseline / "apkscan" / "cli" / "__init__.py").read_text() else "main"
        shim = py + ["-c", f"import sys; from apkscan.cli import {entry}; sys.argv[0] = 'apkscan'; sys.exit({entry}())"]
        for name in [n for n in cmds if n.startswith("apkscan")]:
            args = cmds[name][len(apkscan):]
            cmds[f"{name} [baseline]"] = ["env", f"PYTHONPATH={baseline}"] + shim + args
    return cmds


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, int]:
    """(wall s, CPU s, peak RSS KiB, exit code) of one process.

    It runs in the temporary folder: ``python -m`` puts its working folder first on sys.path,
    which must not pick a source tree by accident.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=env["XDG_CACHE_HOME"].rsplit("/", 1)[0],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--apk", type=Path, default=SMALL_APK)
    ap.add_argument("--baseline-src", type=Path, default=None, help="another apkscan source tree to compare")
    args = ap.parse_args()
    if shutil.which("apksigner") is None:
        sys.exit("apksigner not found (apt-get install apksigner)")
    tmp = Path(tempfile.mkdtemp(prefix="apkscan-bench-startup-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["XDG_CACHE_HOME"] = str(tmp / "cache")
    cmds = commands(args.apk, tmp, args.baseline_src.resolve() if args.baseline_src else None)
    try:
        for name, cmd in cmds.items():  # warm-up: __pycache__, the JVM's file cache, the validation cache
            run(cmd, env)
        results: dict[str, list[tuple[float, float, int, int]]] = {name: [] for name in cmds}
        load_before = load()
        for i in range(args.repeat):
            for k, (name, cmd) in enumerate(cmds.items()):
                run_env = env
                if "cold validation" in name:  # a fresh cache per row and round (the baseline's row
                    # shared this tree's, warmed a moment before)
                    run_env = dict(env, XDG_CACHE_HOME=str(tmp / f"cold-{i}-{k}"))
                results[name].append(run(cmd, run_env))
        report(results, args, load_before, load())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(results, args, load_before: str, load_after: str) -> None:
    print(f"# {args.apk.name}, {args.repeat} rounds, Python {sys.version.split()[0]} ({sys.executable})")
    print("# bytecode cached: PYTHONDONTWRITEBYTECODE removed for every process, one warm-up run each")
    print(f"# load average before {load_before}, after {load_after} ({os.cpu_count()} CPUs)")
    print("# x apksigner: this command's median (min) wall time over apksigner's median (min)")
    ref = results["apksigner verify"]
    ref_med, ref_min = statistics.median(r[0] for r in ref), min(r[0] for r in ref)
    print("| command | wall median (s) | wall min (s) | CPU median (s) | × apksigner (median) "
          "| × apksigner (min) | peak RSS (MiB) | exit codes |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, rows in results.items():
        walls = [w for w, _c, _r, _x in rows]
        cpu = statistics.median(c for _w, c, _r, _x in rows)
        rss = max(r for _w, _c, r, _x in rows) / 1024
        exits = ",".join(sorted({str(x) for *_rest, x in rows}))
        print(f"| {name} | {statistics.median(walls):.3f} | {min(walls):.3f} | {cpu:.3f} "
              f"| {statistics.median(walls) / ref_med:.2f} | {min(walls) / ref_min:.2f} | {rss:.0f} | {exits} |")


if __name__ == "__main__":
    main()
