"""Benchmark: ``apkscan diff`` of two documents with N inputs and N input errors each.

Why: each error's place is found among the scan's recorded inputs; done by walking every input
for every error it was O(N^2) (review 55 F6: 8,000 of each took minutes). The documents are
the report tests' pipeline document with N input folders and N errors, one below each folder
(a batch over N devices where every pull failed). Every round runs this tree's ``apkscan
diff`` and, with ``--baseline-src DIR`` (e.g. ``git archive REV | tar -x -C DIR``), the
baseline's, alternated, each in its own process; prints each run's wall time and the
median ratio, the figure to read on a shared machine.

    python bench/bench_diff.py [--inputs 8000] [--rounds 3] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_report_doc import pipeline_document  # noqa: E402


def document(tag: str, n: int) -> dict:
    doc = pipeline_document()
    error = doc["errors"][0]
    doc["inputs"] = [f"/evidence/{tag}/device-{i:06d}" for i in range(n)]
    doc["errors"] = []
    for i in range(n):
        e = json.loads(json.dumps(error))
        path = f"/evidence/{tag}/device-{i:06d}/data/app/base.apk"
        e["source"] = {"path": path, "container": None, "chain": [path], "outermost": path}
        doc["errors"].append(e)
    doc.pop("counts", None)
    return doc


def run(src: Path, folder: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(src))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "apkscan", "diff", "old.json", "new.json"], cwd=folder, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"{src}: diff exit {done.returncode}: {done.stderr}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=8000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline-src", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for tag in ("old", "new"):
            (folder / f"{tag}.json").write_text(json.dumps(document(tag, args.inputs)))
        trees = [("this tree", ROOT)] + ([("baseline", args.baseline_src)] if args.baseline_src else [])
        times: dict[str, list[float]] = {name: [] for name, _ in trees}
        for r in range(args.rounds):
            for name, src in trees if r % 2 == 0 else trees[::-1]:
                times[name].append(run(src, folder))
                print(f"round {r + 1} {name}: {times[name][-1]:.2f} s", flush=True)
        print(f"\n{args.inputs} inputs x {args.inputs} errors per document, load {os.getloadavg()[0]:.1f}")
        for name, ts in times.items():
            print(f"{name}: median {statistics.median(ts):.2f} s")
        if args.baseline_src:
            ratios = [b / a for a, b in zip(times["this tree"], times["baseline"])]
            print(f"baseline / this tree: median {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
