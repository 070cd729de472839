"""Do two versions of apkscan write the same `scan` outputs? A check for start-up and scan refactors.

``compare_reports.py`` renders saved documents with ``apkscan report``; this runs ``apkscan scan
--no-store`` itself, with this tree and with the baseline commit's ``apkscan/`` and
``signatures/`` (``git archive``), on each file of ``fixtures/apks``, ``fixtures/adversarial``
and ``fixtures/containers``, on each of those folders (also under two policies) and on two
clean APKs under two policies. Each case runs four ways: the terminal summary alone;
``--json FILE``; every format at once (``--json --jsonl --sarif --csv --html``); ``-q --json -``.
Compared byte for byte: stdout, stderr, exit code and every file written, with timestamps,
run ids and the two trees' paths (rule packs name their files) replaced by placeholders.
Exit 1 on any difference. ~130 process pairs: minutes on a busy machine.

``--store``: instead, the three folders together through one scan store per tree, phase after
phase (cold, warm, a policy change, one more rule pack, that and the policy, one pack alone, the
built-ins again), each phase as ``--jsonl F -q`` (the store's fast lane) then every format at once
(the usual path): for changes to the scan store (:mod:`apkscan.batch`).

    python bench/compare_scans.py [--baseline f5d0718] [--store]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures"
MULTI = ["--policy", "canada-tbs-2023", "--policy", "us-dhs-bod-17-01"]
MODES = {"summary": [], "json": ["--json", "{d}/r.json"], "quiet": ["-q", "--json", "-"],
         "all": ["--json", "{d}/r.json", "--jsonl", "{d}/r.jsonl", "--sarif", "{d}/r.sarif", "--csv", "{d}/r.csv",
                 "--html", "{d}/r.html"]}
_VARYING = re.compile(rb'"(?:started_at|finished_at|run_id|startTimeUtc|endTimeUtc)": "[^"]*"'
                      rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


def cases() -> list[list[str]]:
    files = [p for d in ("apks", "adversarial") for p in sorted((FIX / d).glob("*.apk"))]
    files += [p for p in sorted((FIX / "containers").iterdir()) if p.suffix != ".py"]
    folders = [FIX / "apks", FIX / "adversarial", FIX / "containers"]
    out = [[str(p)] for p in files + folders] + [[str(p), *MULTI] for p in folders]
    return out + [[str(FIX / "apks" / "clean-v1v2v3.apk"), str(FIX / "apks" / "v2-only.apk"), *MULTI]]


EXTRA = ROOT / "tests" / "extra_pack.yaml"  # the pack tests/test_rule_change_lane.py proves


def store_phases(tree: Path, tmp: Path) -> dict[str, bytes]:
    """``--store``: every output of each phase on one store, run from ``tree``, what varies replaced."""
    extra, policy = ["--rules", str(EXTRA)], ["--policy", "vendor-watch"]
    phases = {"cold": [], "warm": [], "policy change": policy, "rule change": extra,
              "rule and policy change": extra + policy, "one pack": ["--no-builtin-rules", "--rules",
                                                                   str(ROOT / "signatures" / "tencent.yaml")],
              "built-ins again": []}
    folders = [str(FIX / d) for d in ("apks", "adversarial", "containers")]
    modes = {"lane": ["-q", "--jsonl", "{d}/r.jsonl"], "all": MODES["all"]}
    out = {}
    for phase, flags in phases.items():
        for mode, extra_args in modes.items():
            got = outputs(tree, [*folders, *flags], tmp, {mode: extra_args}, ["--store", str(tmp / "s.sqlite")],
                          f"{phase}-")
            out.update({f"{phase}: {k}": v for k, v in got.items()})
    return out


def outputs(tree: Path, args: list[str], tmp: Path, modes: dict[str, list[str]] = MODES,
            store: list[str] | None = None, tag: str = "") -> dict[str, bytes]:
    """Every output of ``scan ARGS`` in each mode, run from ``tree``, with what varies replaced."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(tree), NO_COLOR="1", XDG_CACHE_HOME=str(tmp / "xdg"),
               APKSCAN_BACKUP_PASSWORD="apkscan-test")

    def same(data: bytes) -> bytes:
        for path, name in ((tmp, b"<tmp>"), (tree, b"<tree>"), (ROOT, b"<tree>")):  # fixtures: under ROOT
            data = data.replace(str(path).encode(), name)
        return _VARYING.sub(b"<varies>", data)

    out = {}
    for mode, extra in modes.items():
        d = tmp / (tag + mode)
        d.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "apkscan", "scan", *(store or ["--no-store"]), *args,
               *(a.format(d=d) for a in extra)]
        res = subprocess.run(cmd, env=env, capture_output=True, cwd=tmp)
        out[mode] = same(res.stdout + b"\n--- stderr\n" + res.stderr + f"\nexit {res.returncode}\n".encode())
        for f in sorted(d.glob("r.*")):
            out[f"{mode}/{f.name}"] = same(f.read_bytes())
            f.unlink()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="commit whose apkscan/ and signatures/ write the reference")
    parser.add_argument("--store", action="store_true", help="the store's phases instead (see above)")
    args = parser.parse_args()
    differ = 0
    with tempfile.TemporaryDirectory(prefix="apkscan-compare-scans-") as tmp:
        base = Path(tmp) / "baseline"
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "apkscan", "signatures"],
                                 check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(base, filter="data")
        all_cases = [["--store"]] if args.store else cases()
        for i, case in enumerate(all_cases):
            got = {}
            for name, tree in (("baseline", base), ("this tree", ROOT)):
                with tempfile.TemporaryDirectory(dir=tmp) as run_tmp:
                    got[name] = (store_phases(tree, Path(run_tmp)) if args.store
                                 else outputs(tree, case, Path(run_tmp)))
            bad = sorted(k for k in got["baseline"].keys() | got["this tree"].keys()
                         if got["baseline"].get(k) != got["this tree"].get(k))
            differ += bool(bad)
            for key in bad:
                print(f"DIFFERENT: scan {' '.join(Path(a).name if '/' in a else a for a in case)}: {key}")
    if args.store:
        print(f"store phases compared with {args.baseline}: {len(got['this tree'])} outputs, "
              + ("some differ" if differ else "all identical"))
    else:
        print(f"{len(all_cases)} scan cases x {len(MODES)} ways compared with {args.baseline}: "
              f"{len(all_cases) - differ} identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
