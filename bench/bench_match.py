"""Benchmark: matching one identity in-process, this tree beside a baseline source tree.

CPU time (``time.process_time``) per identity, best of 5 passes, of: ``match_identity`` as a
scan calls it (the prefilter first), ``Prefilter.could_match`` alone on the identity's facts,
and ``match_identity(indexed=False)`` (every rule asked: the label and name evidence of every
pattern rule). Identities: the first 200 APKs of the shared corpus and ``fixtures/apks``, read
once per process; the built-in packs. Each tree runs in its own process (PYTHONPATH), the
trees alternated in every round, so the ratios compare them under the same load.

    python bench/bench_match.py --baseline DIR [--rounds 4] [--corpus DIR]

``DIR``: ``git archive <commit> | tar -x -C DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

CHILD = """
import glob, json, sys, time
from apkscan.apk.identify import identify
from apkscan.rules.loader import load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.prefilter import facts_of, prefilter_of
rules = load_ruleset()
files = sorted(glob.glob(sys.argv[1] + "/**/*.apk", recursive=True))[:200]
files += sorted(glob.glob(sys.argv[2] + "/*.apk"))
ids = [identify(f) for f in files]
facts = [facts_of(i) for i in ids]
pf = prefilter_of(rules)
for i in ids:
    match_identity(i, rules)
best = {"match_identity": 1e9, "could_match": 1e9, "every rule asked": 1e9}
for _ in range(5):
    for name, run in (("match_identity", lambda: [match_identity(i, rules) for i in ids]),
                      ("could_match", lambda: [pf.could_match(f) for f in facts]),
                      ("every rule asked", lambda: [match_identity(i, rules, indexed=False) for i in ids])):
        t = time.process_time()
        run()
        best[name] = min(best[name], (time.process_time() - t) / len(ids) * 1e6)
print(json.dumps({"identities": len(ids), "could": sum(map(pf.could_match, facts)), **best}))
"""


def run(tree: Path, corpus: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(tree)
    out = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(ROOT / "fixtures" / "apks")],
                         env=env, capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="a source tree to compare with")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args()
    trees = {"this tree": ROOT, "baseline": args.baseline.resolve()}
    print(f"load {os.getloadavg()[0]:.1f}")
    for r in range(args.rounds):
        order = list(trees.items()) if r % 2 == 0 else list(trees.items())[::-1]
        for name, tree in order:
            res = run(tree, args.corpus)
            print(f"round {r + 1} {name:9} " + ", ".join(
                f"{k} {v:.1f} us" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()), flush=True)
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
