"""CPU of ``identify`` over a folder of APKs, and the share of the manifest/resources step.

    python bench/profile_identify.py [--corpus ../shared/corpus] [--rounds 5] [--synthetic 4000x40]

In-process (imports are paid once before the first round, so bytecode caching does not
matter here), ``time.process_time``. Each round identifies every APK twice, interleaved so
both see the same machine load: once as shipped (resources.arsc references resolved by
``apkscan/apk/manifest/arsc.py``), once with that fast path switched off (androguard's
``ARSCParser`` for every table: the behaviour before it). Per mode it prints the total, the
part spent in ``identify._read_manifest`` (reading AndroidManifest.xml and resources.arsc out
of the ZIP and ``read_manifest``) and within it the resource resolution, each as the median
over rounds; last, how many tables the fast path declined (androguard built anyway).

The corpus's tables are small (the largest 340 KB). ``--synthetic KEYSxLOCALES`` also
builds a store-app-sized table in memory (``fixtures/arsc_writer.py``: KEYS strings in
LOCALES locales) and times resolving its first string both ways, best of --rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from apkscan.apk import identify as identify_mod
from apkscan.apk.manifest import android_manifest
from apkscan.apk.manifest.arsc import ArscTable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fixtures"))
CORPUS = HERE.parents[1] / "shared" / "corpus"


class _Clock:
    """Accumulates process CPU spent inside wrapped functions (outermost call only)."""

    def __init__(self):
        self.spent, self.depth = 0.0, 0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            self.depth += 1
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.spent += time.process_time() - start
        return timed


def _round(apks: list[Path], fast: bool) -> tuple[float, float, float, int]:
    manifest, resources, built = _Clock(), _Clock(), [0]
    saved = (identify_mod._read_manifest, android_manifest._Resources.resolve,
             android_manifest._Resources._get, ArscTable.open)
    get = saved[2]

    def counting_get(self):
        if not self._tried and self._raw is not None:
            built[0] += 1
        return get(self)

    identify_mod._read_manifest = manifest.wrap(saved[0])
    android_manifest._Resources.resolve = resources.wrap(saved[1])
    android_manifest._Resources._get = counting_get
    if not fast:
        ArscTable.open = classmethod(lambda cls, raw: None)
    try:
        start = time.process_time()
        for apk in apks:
            identify_mod.identify(apk)
        total = time.process_time() - start
    finally:
        (identify_mod._read_manifest, android_manifest._Resources.resolve,
         android_manifest._Resources._get) = saved[:3]
        ArscTable.open = saved[3]
    return total, manifest.spent, resources.spent, built[0]


def _synthetic(spec: str, rounds: int) -> None:
    from arsc_writer import resource_id, string_table

    keys, locales = (int(x) for x in spec.split("x"))
    names = [""] + [f"l{chr(97 + i // 26)}{chr(97 + i % 26)}"[1:] for i in range(locales - 1)]
    raw = string_table("com.example.big", {f"key_{k}": {loc: f"Value {k} in {loc or 'default'}"
                                                       for loc in names} for k in range(keys)})
    print(f"\nsynthetic resources.arsc: {keys} strings x {locales} locales, {len(raw) / 2**20:.1f} MiB"
          f" (best of {rounds}, CPU seconds)\n")
    print("| path | open + resolve one label |\n|---|---:|")
    best = {}
    for label, fast in (("androguard ARSCParser", False), ("arsc.py", True)):
        runs = []
        for _ in range(rounds):
            res = android_manifest._Resources(raw, [])
            start = time.process_time()
            values = res.resolve(resource_id(0)) if fast else res.resolve_with_androguard(resource_id(0))
            runs.append(time.process_time() - start)
        assert values and res._parser is None if fast else values
        best[fast] = min(runs)
        print(f"| {label} | {best[fast]:.3f} |")
    print(f"\narsc.py / androguard: {best[True] / best[False]:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--synthetic", metavar="KEYSxLOCALES")
    args = ap.parse_args()
    apks = sorted(args.corpus.rglob("*.apk"))
    if not apks:
        raise SystemExit(f"no APKs under {args.corpus}")
    _round(apks[:5], True)  # warm imports (androguard included) and caches
    _round(apks[:5], False)
    results: dict[bool, list[tuple[float, float, float, int]]] = {True: [], False: []}
    for _ in range(args.rounds):
        for fast in (False, True):
            results[fast].append(_round(apks, fast))
    print(f"{len(apks)} APKs under {args.corpus}, {args.rounds} rounds, CPU seconds (median)\n")
    print("| resources.arsc | identify total | manifest step | of which resolution | androguard built |")
    print("|---|---:|---:|---:|---:|")
    medians = {}
    for fast, label in ((False, "androguard only (before)"), (True, "arsc.py, androguard fallback")):
        rows = results[fast]
        med = [statistics.median(r[i] for r in rows) for i in range(3)]
        medians[fast] = med
        share = 100 * med[1] / med[0] if med[0] else 0.0
        print(f"| {label} | {med[0]:.3f} | {med[1]:.3f} ({share:.0f} %) | {med[2]:.3f} | {rows[-1][3]} |")
    before, after = medians[False], medians[True]
    print(f"\nidentify CPU after/before: {after[0] / before[0]:.2f}; "
          f"resolution after/before: {after[2] / before[2]:.3f}" if before[2] else "")
    if args.synthetic:
        _synthetic(args.synthetic, args.rounds)
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
