"""``identify`` per APK, two source trees alternated round by round (A/B on a shared machine).

    python bench/bench_identify_ab.py --tree BASE --tree . [--rounds 5] [--small 1000] [--shared DIR]

Each round runs, for each tree in turn, one child process (that tree first on ``PYTHONPATH``)
which identifies every APK of the corpus once to warm up, then again timed: CPU (process time)
and wall per APK. Corpora: ``--small`` distinct signed small APKs made by ``batch_corpus`` (the
batch bench's), and the shared corpus of real APKs. Compare the ratio within a round, not
single timings across minutes (other jobs share the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = r"""
import json, sys, time
from apkscan.apk.identify import identify
paths = sys.argv[1:]
for p in paths:
    identify(p)
cpu, wall = time.process_time(), time.perf_counter()
for p in paths:
    identify(p)
print(json.dumps({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall, "n": len(paths)}))
"""


def run(tree: Path, paths: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", CHILD, *paths], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", action="append", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "corpus")
    a = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from batch_corpus import small_corpus

    with tempfile.TemporaryDirectory() as tmp:
        corpora = {"small": [str(p) for p in small_corpus(Path(tmp) / "small", a.small)]}
        if a.shared.is_dir():
            corpora["shared"] = sorted(str(p) for p in a.shared.rglob("*.apk"))
        for name, paths in corpora.items():
            print(f"{name}: {len(paths)} APKs; per APK, CPU ms (wall ms), tree by tree")
            for r in range(a.rounds):
                cells = []
                for tree in a.tree:
                    got = run(tree, paths)
                    cells.append(f"{1000 * got['cpu'] / got['n']:.3f} ({1000 * got['wall'] / got['n']:.3f})")
                print(f"  round {r + 1}: " + "  |  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
