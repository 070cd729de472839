"""Benchmark: apkscan on a big APK and a small one, beside apksigner, sha256 and androguard.

Builds a signed APK of --size-mib (default 1024) in a temporary folder (never in the
repo), signed v1+v2+v3+v4 by Debian's apksigner with the committed test key (minSdk 21 from
the fixture manifest, so v1 digests are SHA-256; the .idsig lies beside it). LAYOUTS:

  realistic (default)  laid out like a big real app: 6 deflated classesN.dex and 4 deflated
                       scripts (16 MiB each), ~2,048 small deflated res/ files (4-60 KiB),
                       all code-like bytes deflating ~2.3:1 (~220 MiB inflated); stored
                       lib/*.so (4 x 48 MiB), a stored 8 MiB resource pack, and stored packed
                       game assets filling the rest (incompressible, as Unity data is)
  stored               one incompressible stored asset (the bench before 29 Nov 2026): v1
                       then costs one hash of one entry and nothing is inflated

Then runs, each in its own process so peak RSS and CPU time are that tool's alone:

  sha256          a plain streaming sha256 pass over the file (the I/O floor)
  apkscan         apkscan inspect --json FILE (full verification, file SHA-256)
  apkscan-no-v4   the same with --no-idsig (no fs-verity tree of the file to build)
  apkscan-quick   apkscan inspect --quick --json FILE (signatures only, content not checked)
  androguard      androguard.core.apk.APK(FILE) + get_certificates() (no signature checks)
  apksigner       apksigner verify -v --print-certs FILE (the JVM reference; checks the .idsig)
  apksigner-no-v4 the same on a hard link without the .idsig (v1+v2+v3 only)
  apkscan-scan-store  apkscan scan --store S --json F on that hard link (the store is skipped
                  when an .idsig lies beside the APK), S and F fresh each run: a cold store miss
                  (not in the default list: ask for it with --tools)

and on one small fixture APK the whole process of `apkscan inspect`, `apkscan scan` and
`apksigner verify`. Every round runs every tool once, so ratios compare tools under the
same machine load; the table shows the median over --repeat rounds.

    python bench/bench_inspect.py [--size-mib 1024] [--repeat 3] [--layout realistic|stored]
        [--keep] [--apk FILE] [--tools sha256,apkscan-no-v4,apksigner-no-v4] [--no-small]
        [--baseline-src DIR]   # each apkscan tool once more from another source tree, same rounds
    python bench/bench_inspect.py --build-only DIR     # just build the APK (and .idsig)

Python children run without PYTHONDONTWRITEBYTECODE (users have bytecode), after a warm-up
run that filled __pycache__, in the temporary folder (``python -m`` would put the working folder
first on sys.path); the load average before and after is printed. With ``--baseline-src`` the
per-round ratios of each apkscan tool to its baseline row are printed too (CPU, then wall).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_APK = ROOT / "fixtures" / "apks" / "unsigned.apk"
KEY = ROOT / "fixtures" / "keys" / "test-rsa.pk8"
CERT = ROOT / "fixtures" / "keys" / "test-rsa.pem"


def _pools() -> tuple[bytes, bytes]:
    """8 MiB of code-like bytes (a 2,048-token vocabulary: deflates ~2.3:1, like dex and
    resources) and 8 MiB of incompressible bytes (media, packed game data)."""
    rng = random.Random(11)
    vocab = [rng.randbytes(rng.randint(2, 12)) for _ in range(2048)]
    text = b"".join(rng.choices(vocab, k=1_300_000))[: 8 << 20]
    return text, rng.randbytes(8 << 20)


def _piece(pool: bytes, i: int, size: int) -> bytes:
    """``size`` bytes of ``pool`` rotated by entry number: entries differ, compressibility does not."""
    k = (i * 7919) % len(pool)
    out = (pool[k:] + pool[:k]) * (size // len(pool) + 1)
    return out[:size]


def _write(dst: zipfile.ZipFile, name: str, method: int, pool: bytes, i: int, size: int) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = method
    with dst.open(info, "w", force_zip64=False) as out:
        for start in range(0, size, 8 << 20):
            out.write(_piece(pool, i + start, min(8 << 20, size - start)))


def build_apk(folder: Path, size_mib: int, layout: str = "realistic") -> Path:
    """A signed APK of about ``size_mib`` MiB (see LAYOUTS in the module docstring)."""
    unsigned = folder / "big-unsigned.apk"
    text, noise = _pools()
    rng = random.Random(5)
    mib = 1 << 20
    with zipfile.ZipFile(BASE_APK) as src, zipfile.ZipFile(unsigned, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        if layout == "stored":
            _write(dst, "assets/big.bin", zipfile.ZIP_STORED, noise, 0, size_mib * mib)
        else:
            scale = size_mib / 1024
            deflated = [(f"classes{n + 2}.dex", int(16 * mib * scale)) for n in range(6)]
            deflated += [(f"assets/scripts/s{n}.lua", int(16 * mib * scale)) for n in range(4)]
            deflated += [(f"res/drawable/r{n}.xml", rng.randint(4 << 10, 60 << 10)) for n in range(int(2048 * scale))]
            stored = [("assets/packed.res", int(8 * mib * scale))]
            stored += [(f"lib/arm64-v8a/lib{n}.so", int(48 * mib * scale)) for n in range(4)]
            left = size_mib * mib - sum(s for _, s in stored) - sum(s for _, s in deflated) * 10 // 23
            stored += [(f"assets/bin/Data/d{n}.unity3d", left // 8) for n in range(8)]
            for i, (name, size) in enumerate(deflated):
                _write(dst, name, zipfile.ZIP_DEFLATED, text, i, size)
            for i, (name, size) in enumerate(stored):
                _write(dst, name, zipfile.ZIP_STORED, noise, i, size)
    signed = folder / "big.apk"
    subprocess.run(
        ["apksigner", "sign", "--key", str(KEY), "--cert", str(CERT), "--v1-signing-enabled", "true",
         "--v2-signing-enabled", "true", "--v3-signing-enabled", "true",
         "--v4-signing-enabled", "true", "--out", str(signed), str(unsigned)],
        check=True,
    )
    unsigned.unlink()
    return signed


CHILD = {
    "sha256": "import hashlib,sys\nh=hashlib.sha256()\nf=open(sys.argv[1],'rb')\nfor b in iter(lambda:f.read(1<<20),b''): h.update(b)\nprint(h.hexdigest())",
    "androguard": "import sys\nfrom loguru import logger\nlogger.remove()\nfrom androguard.core.apk import APK\na=APK(sys.argv[1])\nprint(a.get_package(), len(a.get_certificates()))",
}


# Users have bytecode: children run without PYTHONDONTWRITEBYTECODE (a warm-up round fills __pycache__).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
SMALL_APK = ROOT / "fixtures" / "apks" / "clean-v1v2v3.apk"


BASELINE = " [baseline]"
FRESH: list[str] = []  # folders made for one run's store and report, removed at the end


def _apkscan(tool: str) -> list[str]:
    """The console script, as users run it; a ``[baseline]`` tool runs the baseline tree's CLI."""
    if tool.endswith(BASELINE):
        return [sys.executable, "-c", "import sys; from apkscan.cli import main; sys.argv[0] = 'apkscan'; sys.exit(main())"]
    script = Path(sys.executable).parent / "apkscan"
    return [str(script)] if script.exists() else [sys.executable, "-m", "apkscan"]


def command(tool: str, apk: Path) -> list[str]:
    apkscan = _apkscan(tool)
    tool = tool.removesuffix(BASELINE)
    if tool == "apkscan-scan-store":
        FRESH.append(tempfile.mkdtemp(prefix="apkscan-bench-store-"))
        return apkscan + ["scan", "-q", "--store", f"{FRESH[-1]}/S.sqlite", "--json", f"{FRESH[-1]}/F.json",
                          str(no_v4_link(apk))]
    if tool == "apkscan":
        return apkscan + ["inspect", "--json", "-", str(apk)]
    if tool == "apkscan-no-v4":
        return apkscan + ["inspect", "--no-idsig", "--json", "-", str(apk)]
    if tool == "apkscan-quick":
        return apkscan + ["inspect", "--quick", "--json", "-", str(apk)]
    if tool == "apkscan-scan":
        return apkscan + ["scan", "-q", "--json", "-", str(apk)]
    if tool == "apksigner":
        return ["apksigner", "verify", "-v", "--print-certs", str(apk)]
    if tool == "apksigner-no-v4":  # a hard link without the .idsig beside it: v1+v2+v3 only
        return ["apksigner", "verify", "-v", "--print-certs", str(no_v4_link(apk))]
    return [sys.executable, "-c", CHILD[tool], str(apk)]


def no_v4_link(apk: Path) -> Path:
    """The same bytes under another name in a fresh folder, so apksigner finds no .idsig."""
    folder = Path(tempfile.gettempdir()) / f"apkscan-bench-nov4-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    link = folder / apk.name
    if not link.exists():
        try:
            os.link(apk, link)
        except OSError:
            shutil.copyfile(apk, link)
    return link


def measure_one(tool: str, apk: Path) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB, exit code) of one fresh process; RUSAGE_CHILDREN is its own."""
    wrapper = [sys.executable, "-c",
               "import resource,subprocess,sys,time\nt=time.perf_counter()\nr=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL).returncode\n"
               "e=time.perf_counter()-t\nu=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
               "print(e, u.ru_utime+u.ru_stime, u.ru_maxrss/1024, r)"] + command(tool, apk)
    env = dict(CHILD_ENV, PYTHONPATH=BASELINE_SRC[0]) if tool.endswith(BASELINE) else CHILD_ENV
    out = subprocess.run(wrapper, capture_output=True, text=True, check=True, env=env,
                         cwd=tempfile.gettempdir()).stdout.split()
    while FRESH:
        shutil.rmtree(FRESH.pop(), ignore_errors=True)
    return float(out[0]), float(out[1]), float(out[2]), int(out[3])


BASELINE_SRC = [""]


def ratios(got: dict[str, list[tuple]]) -> None:
    """Per round, each apkscan tool's CPU and wall over its baseline row's (same round)."""
    for t in [t for t in got if t + BASELINE in got]:
        cpu = " ".join(f"{a[1] / b[1]:.2f}" for a, b in zip(got[t], got[t + BASELINE]))
        wall = " ".join(f"{a[0] / b[0]:.2f}" for a, b in zip(got[t], got[t + BASELINE]))
        print(f"{t} / baseline per round: CPU {cpu}; wall {wall}")


def rounds(tools: list[str], apk: Path, repeat: int) -> dict[str, list[tuple]]:
    got: dict[str, list[tuple]] = {t: [] for t in tools}
    for k in range(repeat):
        for t in (tools if k % 2 == 0 else tools[::-1]):  # alternated: neither side always runs first
            got[t].append(measure_one(t, apk))
    return got


def table(got: dict[str, list[tuple]], base_tool: str) -> None:
    base = statistics.median(r[0] for r in got[base_tool])
    print(f"| tool | wall (s) | CPU (s) | x {base_tool} wall | peak RSS (MiB) | exit |")
    print("|---|---:|---:|---:|---:|---:|")
    for t, runs in got.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        rss = statistics.median(r[2] for r in runs)
        print(f"| {t} | {wall:.3f} | {cpu:.2f} | {wall / base:.2f} | {rss:.0f} | {runs[-1][3]} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temporary APK")
    ap.add_argument("--apk", type=Path, help="benchmark this APK instead of building one")
    ap.add_argument("--no-androguard", action="store_true")
    ap.add_argument("--layout", choices=("realistic", "stored"), default="realistic",
                    help="realistic: deflated dex/res/scripts + stored libs/assets (default); stored: one stored asset (the old bench)")
    ap.add_argument("--tools", help="comma-separated subset of the big-APK tools (shorter rounds), e.g. sha256,apkscan-no-v4,apksigner-no-v4")
    ap.add_argument("--no-small", action="store_true", help="skip the small-APK table")
    ap.add_argument("--build-only", type=Path, metavar="DIR", help="build the APK (and .idsig) into DIR and stop")
    ap.add_argument("--baseline-src", type=Path, metavar="DIR", help="another apkscan source tree: its rows too")
    args = ap.parse_args()
    if args.baseline_src:
        BASELINE_SRC[0] = str(args.baseline_src.resolve())
    tmp = Path(tempfile.mkdtemp(prefix="apkscan-bench-"))
    try:
        if args.build_only:
            args.build_only.mkdir(parents=True, exist_ok=True)
            print(build_apk(args.build_only, args.size_mib, args.layout))
            return
        apk = args.apk or build_apk(tmp, args.size_mib, args.layout)
        size = apk.stat().st_size
        signer = ["apksigner"] if shutil.which("apksigner") else []
        tools = ["sha256", "apkscan", "apkscan-no-v4", "apkscan-quick"] + ([] if args.no_androguard else ["androguard"]) + signer
        if signer and Path(str(apk) + ".idsig").exists():
            tools.append("apksigner-no-v4")
        if args.tools:
            tools = [t for t in args.tools.split(",") if t in tools or t == "apkscan-scan-store"]
        if args.baseline_src:
            tools += [t + BASELINE for t in tools if t.startswith("apkscan")]
        for t in ("apkscan-quick", "apkscan-scan") + (("apkscan-quick" + BASELINE, "apkscan-scan" + BASELINE)
                                                     if args.baseline_src else ()):
            measure_one(t, SMALL_APK)  # warm-up: fill __pycache__ (users have bytecode)
        print("children run without PYTHONDONTWRITEBYTECODE, after a warm-up run that filled __pycache__")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"\nAPK: {size / (1 << 20):.0f} MiB ({apk.name}, .idsig beside: {Path(str(apk) + '.idsig').exists()}), "
              f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.repeat} rounds\n")
        base = next((t for t in ("apksigner", "apksigner-no-v4", "sha256") if t in tools), tools[0])
        got = rounds(tools, apk, args.repeat)
        table(got, base)
        ratios(got)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.no_small:
            return
        print(f"\nSmall APK: {SMALL_APK.name}, whole process\n")
        table(rounds(["apkscan", "apkscan-scan"] + signer, SMALL_APK, args.repeat), "apksigner" if signer else "apkscan")
    finally:
        shutil.rmtree(Path(tempfile.gettempdir()) / f"apkscan-bench-nov4-{os.getpid()}", ignore_errors=True)
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
