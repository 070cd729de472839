"""Benchmark: `apkscan inspect` on a big APK beside androguard, apksigner and sha256.

Builds a signed APK of --size-mib (default 1024) in a temporary folder (never in the
repo): the entries of a small fixture plus one incompressible stored asset, signed
v1+v2+v3 by Debian's apksigner with the committed test key. Then runs, each in its own
process so peak RSS is that tool's alone:

  sha256      a plain streaming sha256 pass over the file (the I/O floor)
  apkscan     apkscan inspect --json FILE
  androguard  androguard.core.apk.APK(FILE) + get_certificates() (no signature checks)
  apksigner   apksigner verify -v --print-certs FILE (the JVM reference)

and prints wall time, peak RSS and the ratio to sha256 for each, as a Markdown table.

    python bench/bench_inspect.py [--size-mib 1024] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
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


def build_apk(folder: Path, size_mib: int) -> Path:
    unsigned = folder / "big-unsigned.apk"
    with zipfile.ZipFile(BASE_APK) as src, zipfile.ZipFile(unsigned, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        info = zipfile.ZipInfo("assets/big.bin", date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        with dst.open(info, "w", force_zip64=False) as out:
            block = os.urandom(1 << 20)
            for i in range(size_mib):
                out.write(block[i % 97 :] + block[: i % 97])  # varied, incompressible
    signed = folder / "big.apk"
    subprocess.run(
        ["apksigner", "sign", "--key", str(KEY), "--cert", str(CERT), "--v1-signing-enabled", "true",
         "--v2-signing-enabled", "true", "--v3-signing-enabled", "true",
         "--v4-signing-enabled", "false", "--out", str(signed), str(unsigned)],
        check=True,
    )
    unsigned.unlink()
    return signed


CHILD = {
    "sha256": "import hashlib,sys\nh=hashlib.sha256()\nf=open(sys.argv[1],'rb')\nfor b in iter(lambda:f.read(1<<20),b''): h.update(b)\nprint(h.hexdigest())",
    "androguard": "import sys\nfrom loguru import logger\nlogger.remove()\nfrom androguard.core.apk import APK\na=APK(sys.argv[1])\nprint(a.get_package(), len(a.get_certificates()))",
}


def measure_one(tool: str, apk: Path) -> tuple[float, float, int]:
    """Run each tool in a fresh interpreter so RUSAGE_CHILDREN's max is its own."""
    if tool == "apkscan":
        cmd = [sys.executable, "-m", "apkscan", "inspect", "--json", str(apk)]
    elif tool == "apksigner":
        cmd = ["apksigner", "verify", "-v", "--print-certs", str(apk)]
    else:
        cmd = [sys.executable, "-c", CHILD[tool], str(apk)]
    wrapper = [sys.executable, "-c",
               "import resource,subprocess,sys,time\nt=time.perf_counter()\nr=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL).returncode\n"
               "e=time.perf_counter()-t\nprint(e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024, r)"] + cmd
    out = subprocess.run(wrapper, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--keep", action="store_true", help="keep the temporary APK")
    ap.add_argument("--apk", type=Path, help="benchmark this APK instead of building one")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="apkscan-bench-"))
    try:
        apk = args.apk or build_apk(tmp, args.size_mib)
        size = apk.stat().st_size
        tools = ["sha256", "apkscan", "androguard"] + (["apksigner"] if shutil.which("apksigner") else [])
        results = {t: measure_one(t, apk) for t in tools}
        base = results["sha256"][0]
        print(f"\nAPK: {size / (1 << 20):.0f} MiB ({apk.name}), Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
        print("| tool | wall time (s) | x sha256 time | peak RSS (MiB) | exit |")
        print("|---|---:|---:|---:|---:|")
        for t, (sec, rss, rc) in results.items():
            print(f"| {t} | {sec:.2f} | {sec / base:.2f} | {rss:.0f} | {rc} |")
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
