"""Do two versions of apkscan render the same reports? A check for report refactors.

Scans the fixture families once with this tree (``apkscan scan --json``), then renders every
document with ``apkscan report`` (HTML, SARIF, CSV, JSON and the terminal summary, plain and
at 80 columns) and with ``apkscan diff`` (text, JSON, HTML) twice: with this tree and with the
baseline commit's ``apkscan/`` (``git archive``), and compares the bytes. Exit 1 on any
difference. Each process runs with bytecode writing enabled, like a user's installation.

    python bench/compare_reports.py [--baseline d2e6115]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures"
SCANS = {"apks": [FIX / "apks"], "adversarial": [FIX / "adversarial"], "hostile": [FIX / "hostile" / "cases"],
         "containers": [FIX / "containers"], "backups": [FIX / "backups"],
         "multi": [FIX / "apks", FIX / "containers", "--policy", "canada-tbs-2023", "--policy", "us-dhs-bod-17-01"],
         "quick": [FIX / "apks", "--quick", "--hashes", "sha1,md5"]}
DIFFS = [("apks", "multi"), ("quick", "apks"), ("backups", "hostile")]


def _run(tree: Path, *args: object, out: Path | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(tree), APKSCAN_BACKUP_PASSWORD="apkscan-test", NO_COLOR="1", COLUMNS="80")
    res = subprocess.run([sys.executable, "-m", "apkscan", *map(str, args)], env=env, capture_output=True)
    if out is not None:
        out.write_bytes(res.stdout + res.stderr + f"rc={res.returncode}\n".encode())


def _render(tree: Path, docs: Path, out: Path) -> None:
    out.mkdir(parents=True)
    for doc in sorted(docs.glob("*.json")):
        n = doc.stem
        _run(tree, "report", doc, "--html", out / f"{n}.html", "--sarif", out / f"{n}.sarif", "--csv",
             out / f"{n}.csv", "--json", out / f"{n}.json", out=out / f"{n}.txt")
        _run(tree, "report", doc, "--fail-on", "review", out=out / f"{n}.fail-on.txt")
    for old, new in DIFFS:
        n = f"diff-{old}-{new}"
        _run(tree, "diff", docs / f"{old}.json", docs / f"{new}.json", "--json", out / f"{n}.json",
             "--html", out / f"{n}.html", out=out / f"{n}.txt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="commit whose apkscan/ renders the reference outputs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apkscan-compare-") as tmp:
        tmp = Path(tmp)
        base = tmp / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "apkscan"],
                                 check=True, capture_output=True).stdout
        (tmp / "base.tar").write_bytes(archive)
        with tarfile.open(tmp / "base.tar") as tar:
            tar.extractall(base, filter="data")
        docs = tmp / "docs"
        docs.mkdir()
        for name, inputs in SCANS.items():
            _run(ROOT, "scan", *inputs, "--json", docs / f"{name}.json", "--quiet")
        _render(base, docs, tmp / "before")
        _render(ROOT, docs, tmp / "after")
        names = sorted(p.name for p in (tmp / "before").iterdir())
        _, mismatch, errors = filecmp.cmpfiles(tmp / "before", tmp / "after", names, shallow=False)
        print(f"{len(names)} outputs of {len(SCANS)} scan documents compared with {args.baseline}: "
              f"{len(names) - len(mismatch) - len(errors)} identical")
        for name in mismatch + errors:
            print(f"DIFFERENT: {name}")
        return 1 if mismatch or errors else 0


if __name__ == "__main__":
    sys.exit(main())
