"""``identify`` per APK, two source trees alternated round by round (A/B on a shared machine).

    python bench/bench_identify_ab.py --tree BASE --tree . [--rounds 5] [--small 1000] [--shared DIR] [--manifest]

Each round runs, for each tree in turn, one child process (that tree first on ``PYTHONPATH``)
which identifies every APK of the corpus once to warm up, then again timed: CPU (process time)
and wall per APK. Corpora: ``--small`` distinct signed small APKs made by ``batch_corpus`` (the
batch bench's), and the shared corpus of real APKs. Compare the ratio within a round, not
single timings across minutes (other jobs share the cores). ``--manifest``: only
``read_manifest`` (the manifest and label step) on the shared corpus's members, read into memory
first, CPU per APK over 3 passes: the step alone, without the I/O and signature work around it.
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

MANIFEST_CHILD = r"""
import json, sys, time, zipfile
from apkscan.apk.manifest.android_manifest import read_manifest
xs = []
for p in sys.argv[1:]:
    try:
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
            xs.append((z.read("AndroidManifest.xml"), z.read("resources.arsc") if "resources.arsc" in names else None))
    except Exception:
        pass
for m, a in xs:
    read_manifest(m, a)
cpu = time.process_time()
for _ in range(3):
    for m, a in xs:
        read_manifest(m, a)
print(json.dumps({"cpu": (time.process_time() - cpu) / 3, "wall": 0.0, "n": len(xs)}))
"""


def run(tree: Path, paths: list[str], child: str = CHILD) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-c", child, *paths], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", action="append", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "corpus")
    ap.add_argument("--manifest", action="store_true", help="only read_manifest, shared corpus")
    a = ap.parse_args()
    if a.manifest:
        paths = sorted(str(p) for p in a.shared.rglob("*.apk"))
        print(f"read_manifest, {len(paths)} APKs; per APK, CPU us, tree by tree")
        for r in range(a.rounds):
            cells = [run(tree, paths, MANIFEST_CHILD) for tree in a.tree]
            print(f"  round {r + 1}: " + "  |  ".join(f"{1e6 * c['cpu'] / c['n']:.0f}" for c in cells), flush=True)
        return
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
