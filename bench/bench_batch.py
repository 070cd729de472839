"""Benchmark: `apkscan scan` at scale against the baselines, in one run.

Corpora (generated in a temporary folder, never in the repo; see batch_corpus.py):
  small   --count (1,000) distinct validly signed small APKs
  big     --big-count APKs of --big-mib MiB (0 = skipped)
  shared  ../shared/corpus (real APKs; skipped when absent)

For each corpus, each tool runs in its own process (peak RSS = that process; for apkscan
also the largest worker):
  sha256       one streaming sha256 pass over every file (the I/O floor)
  androguard   androguard APK() + get_certificates() per file, one process
  apksigner    `apksigner verify` one JVM per file, as users script it: on --sample files,
               extrapolated to the corpus (printed as such)
  apkscan      --jobs 1 and --jobs 2 (no store); store cold, warm, after a policy change and
               after a rule change (the built-in packs and one more that no app of the corpus
               matches, ``--rules DIR``: another rule set, the same findings)

    python bench/bench_batch.py [--count 1000] [--big-count 0 --big-mib 150] [--sample 20] [--queued 100000]
    python bench/bench_batch.py --scale 10000 [--repeat 3] [--corpus DIR] [--tree DIR]
    python bench/bench_batch.py --jobs-rounds 6 [--corpus DIR] [--tree DIR] [--baseline DIR ...]
    python bench/bench_batch.py --scale 10000 --warm-rounds 10 [--corpus DIR] [--tree DIR] --baseline DIR
    python bench/bench_batch.py --scale 10000 --phase-rounds 3 [--corpus DIR] [--tree DIR] --baseline DIR

``--phase-rounds R`` (with ``--scale N``): cold, warm, policy-change and rule-change runs at 1 and N
files, each tree's phases on copies of its own cold store of that round, the trees alternated in R
rounds: per-file wall and CPU of each phase and its per-round ratio to the same tree's cold run.

``--warm-rounds R`` (with ``--scale N``): only warm rescans, at 1 and N files, each tree's stores made
cold once, then R rounds with the trees alternated: per-file wall and CPU of a warm file, and each
tree's per-round ratio to the first (``--tree``).

``--jobs-rounds N``: only ``--jobs 1`` against ``--jobs 2`` on ``--count`` small APKs (``--no-store
--jsonl F -q``), the trees (``--tree`` and each ``--baseline``) alternated in each of N rounds: wall,
the parent's CPU and its workers' CPU (median and range), and the per-round ratio of the walls;
a round during which other processes used more than ``--quiet`` CPU seconds is dropped.

``--scale N``: only the store, at scale: N small APKs (generated once; kept in ``--corpus DIR``
for the next invocation) and one of them alone, each scanned cold, warm, after a policy change
and after a rule change (``--jobs 2 --store S --jsonl F -q``, a fresh store per repetition, the fastest of
``--repeat`` kept). Besides the whole-process ratios it prints the per-file marginal cost
((time at N - time at 1) / (N - 1), wall and CPU of the process and its workers) and its ratios:
what a 100,000-file pull costs per file once the process's fixed cost is paid.

Every process runs with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed from its
environment; one apkscan run first fills ``__pycache__``), as users run it. ``--queued N``:
N hard links to one small APK in one folder, scanned with ``--jobs 2 --no-store --jsonl -q``,
for the parent's peak RSS with N inputs queued.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "corpus"
WRAP = ("import json,resource,subprocess,sys,time\nt=time.perf_counter()\n"
        "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL).returncode\n"
        "print(json.dumps([time.perf_counter()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024,r]))")
# apkscan in-process so its own peak RSS and its workers' (children) are told apart
APKSCAN = ("import json,resource,sys,time\nfrom apkscan.cli import main\nt=time.perf_counter()\n"
           "try:\n main(sys.argv[1:])\nexcept SystemExit as e:\n code=e.code\n"
           "s=resource.getrusage(resource.RUSAGE_SELF);c=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
           "print(json.dumps([time.perf_counter()-t,s.ru_maxrss/1024,c.ru_maxrss/1024,code,"
           "s.ru_utime+s.ru_stime+c.ru_utime+c.ru_stime,s.ru_utime+s.ru_stime]),file=sys.stderr)")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # users have bytecode
TREE = [HERE.parent]  # the apkscan checkout measured (--tree): its folder is the apkscan processes' cwd and PYTHONPATH
SHA = ("import hashlib,sys\nfor p in sys.argv[1:]:\n h=hashlib.sha256()\n f=open(p,'rb')\n"
       " for b in iter(lambda:f.read(1<<20),b''): h.update(b)\n f.close()")
ANDRO = ("import sys\nfrom loguru import logger\nlogger.remove()\nfrom androguard.core.apk import APK\n"
         "for p in sys.argv[1:]:\n try:\n  a=APK(p); a.get_package(); a.get_certificates()\n except Exception: pass")


def timed(cmd: list[str]) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", WRAP, *cmd], capture_output=True, text=True, check=True,
                         env=ENV).stdout
    secs, rss, _ = json.loads(out)
    return secs, rss


CPU: dict[str, float] = {}  # tool -> CPU seconds of the process and its workers (steadier than wall time)


def apkscan(args: list[str], tree: Path | None = None) -> tuple[float, float, float, float, float]:
    """Wall time of the whole process, start-up included, like every other tool's; its CPU with
    its workers', and the parent's own CPU (what --jobs cannot spread). ``tree``: another checkout."""
    tree = tree or TREE[0]
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", APKSCAN, "scan", *args, "-q"], capture_output=True, text=True,
                       env={**ENV, "PYTHONPATH": str(tree)}, cwd=tree)  # `-c` imports from its cwd first
    secs = time.perf_counter() - t
    _inner, parent, children, _code, cpu, own = json.loads(r.stderr.strip().splitlines()[-1])
    return secs, parent, children, cpu, own


UPDATE = """\
schema: apkscan-rules/1
pack: bench-update
vendor: Bench
version: "{version}"
reviewed: "2026-11-30"
rules:
  - id: bench-update.never
    app: An app of no bench corpus
    match: {{package_glob: ["org.bench.never.*"]}}
    references: [bench]
sources:
  bench: bench/bench_batch.py's rule change
"""


def changed_rules(tmp: Path) -> list[str]:
    """A rule change: the built-in packs and one more of this bench's own (a rule no app of its
    corpora matches), as after a routine pack update: another rule set (every stored finding
    misses) whose findings are the same. (Until 30 Nov the built-in packs were copied with each
    ``version:`` bumped and given with ``--no-builtin-rules``; since review 64 F6 a file may take a
    shipped pack's name only with its content, so that run stopped at once with
    ``RULES_ID_RESERVED``, exit 2, and measured nothing.) Parsed once here (a run whose rule packs
    changed parses and validates them once, then reads them from the cache), so the rescan
    measures the store, not the first parse; a run that fails here stops the bench."""
    out = tmp / "rules-changed"
    out.mkdir(exist_ok=True)
    (out / "bench-update.yaml").write_text(UPDATE.format(version=1), encoding="utf-8")
    apk = next((HERE.parent / "fixtures" / "apks").glob("*.apk"))
    r = subprocess.run([sys.executable, "-m", "apkscan", "scan", str(apk), "--no-store", "--rules", str(out),
                        "--jsonl", str(tmp / "r.jsonl"), "--force", "-q"], capture_output=True, text=True,
                       env={**ENV, "PYTHONPATH": str(TREE[0])}, cwd=TREE[0])
    if r.returncode not in (0, 1):
        sys.exit(f"the rule change is refused (exit {r.returncode}): {r.stderr.strip()}")
    return ["--rules", str(out)]


def generate(kind: str, folder: Path, *args: int) -> None:
    """In a child process: a process's peak RSS is inherited by the processes it starts, so
    the runner itself must stay small for the tools' figures to be their own."""
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import batch_corpus; from pathlib import Path; "
            f"batch_corpus.{kind}_corpus(Path({str(folder)!r}), *{args!r})")
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)


def bench(name: str, folder: Path, sample: int, tmp: Path) -> list[tuple]:
    files = sorted(p for p in folder.rglob("*.apk") if p.is_file())
    mb = sum(p.stat().st_size for p in files) / 1e6
    rows = []

    def row(tool: str, secs: float, rss: float, worker: float | None = None, note: str = ""):
        rows.append((name, tool, len(files), mb, secs, rss, worker, note))

    row("sha256", *timed([sys.executable, "-c", SHA, *map(str, files)]))
    row("androguard", *timed([sys.executable, "-c", ANDRO, *map(str, files)]))
    step = max(1, len(files) // sample)
    picked = files[::step][:sample]
    t, rss = timed(["sh", "-c", 'for f in "$@"; do apksigner verify "$f"; done', "sh", *map(str, picked)])
    row("apksigner (1 JVM/file)", t * len(files) / len(picked), rss, note=f"{len(picked)} files, extrapolated")
    store = tmp / f"{name}.sqlite"
    base = [*map(str, files), "--jsonl", str(tmp / "out.jsonl"), "--force"]  # streamed: the C JSON encoder
    changed = changed_rules(tmp)
    for tool, extra in [("apkscan --jobs 1", ["--jobs", "1", "--no-store"]),
                        ("apkscan --jobs 2", ["--jobs", "2", "--no-store"]),
                        ("apkscan -j2 store cold", ["--jobs", "2", "--store", str(store)]),
                        ("apkscan -j2 store warm", ["--jobs", "2", "--store", str(store)]),
                        ("apkscan -j2 policy changed", ["--jobs", "2", "--store", str(store),
                                                        "--policy", "vendor-watch"]),
                        ("apkscan -j2 rule changed", ["--jobs", "2", "--store", str(store), *changed])]:
        secs, parent, children, cpu, own = apkscan(base + extra)
        row(tool, secs, parent, children if "--jobs 1" not in tool else None,
            note=f"CPU {cpu:.2f} s (parent {own:.2f})")
    return rows


def queued(n: int, tmp: Path) -> list[tuple]:
    """The parent's peak RSS with ``n`` inputs queued: hard links to one small APK (cheap to make)."""
    folder = tmp / "queued"
    generate("small", tmp / "one", 1)
    base = next((tmp / "one").glob("*.apk"))
    folder.mkdir()
    for i in range(n):
        if i % 50_000 == 0 and i:  # ext4 allows 65,000 links to one file: a fresh copy every 50,000
            shutil.copy(base, tmp / "one" / f"copy-{i}.apk")
            base = tmp / "one" / f"copy-{i}.apk"
        os.link(base, folder / f"q{i:06d}.apk")
    secs, parent, children, cpu, _own = apkscan([str(folder), "--jobs", "2", "--no-store", "--force",
                                           "--jsonl", str(tmp / "queued.jsonl")])
    shutil.rmtree(folder)
    return [("queued", "apkscan -j2 --no-store --jsonl", n, n * base.stat().st_size / 1e6, secs, parent, children,
             f"CPU {cpu:.2f} s")]


def _scale_corpus(n: int, corpus: Path | None, tmp: Path) -> Path:
    folder = corpus or tmp / "scale"
    if len(list(folder.glob("app-*.apk"))) != n:
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        generate("small", folder, n)
        print(f"generated {n} small APKs in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    return folder


def _one_of(folder: Path, tmp: Path) -> Path:
    one = tmp / "one-of-scale"
    one.mkdir(exist_ok=True)
    shutil.copy2(next(iter(sorted(folder.glob("app-*.apk")))), one / "app.apk")
    time.sleep(2.1)  # past the store's racy window (2 s since the last mtime or ctime change)
    return one


def scale(n: int, repeat: int, tmp: Path, corpus: Path | None) -> str:
    """The store's cold, warm, policy-change and rule-change runs at 1 and ``n`` files: whole and
    per file."""
    folder = _scale_corpus(n, corpus, tmp)
    one = _one_of(folder, tmp)
    phases = (("cold", []), ("warm", []), ("policy change", ["--policy", "vendor-watch"]),
              ("rule change", changed_rules(tmp)))
    best: dict[tuple[int, str], tuple[float, float]] = {}
    for _ in range(repeat):
        for size, where in ((1, one), (n, folder)):
            store = tmp / f"scale-{size}.sqlite"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store}{suffix}").unlink(missing_ok=True)
            for phase, extra in phases:
                secs, _parent, _children, cpu, _own = apkscan([str(where), "--jobs", "2", "--store", str(store),
                                                               "--jsonl", str(tmp / "scale.jsonl"), "--force", *extra])
                old = best.get((size, phase))
                best[(size, phase)] = (min(secs, old[0]), min(cpu, old[1])) if old else (secs, cpu)
    out = ["| files | phase | wall s | CPU s | wall ratio | per file: wall ms | CPU ms | ratio (wall) |",
           "|---:|---|---:|---:|---:|---:|---:|---:|"]
    marginal = {p: tuple((best[(n, p)][k] - best[(1, p)][k]) / max(1, n - 1) * 1000 for k in (0, 1))
                for p, _ in phases}
    for phase, _ in phases:
        for size in (1, n):
            wall, cpu = best[(size, phase)]
            ratio = best[(size, "cold")][0] / wall
            per = marginal[phase] if size == n else None
            out.append(f"| {size} | {phase} | {wall:.3f} | {cpu:.3f} | {ratio:.1f}x | "
                       + (f"{per[0]:.3f} | {per[1]:.3f} | {marginal['cold'][0] / per[0]:.1f}x |" if per else " | | |"))
    return "\n".join(out)


def _busy() -> float | None:
    """CPU seconds the whole machine has spent busy (``/proc/stat``), or None where it is not there."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def _round(trees: list[Path], folder: Path, tmp: Path) -> tuple[dict, float]:
    """One run of each tree with ``--jobs 1`` then ``--jobs 2``; the most CPU anything else used meanwhile."""
    got, other = {}, 0.0
    for tree in trees:
        for jobs in ("1", "2"):
            before = _busy()
            secs, _rss, _wrss, cpu, own = apkscan([str(folder), "--jobs", jobs, "--no-store", "--force",
                                                   "--jsonl", str(tmp / "jobs.jsonl")], tree)
            after = _busy()
            if before is not None and after is not None:
                other = max(other, after - before - cpu - 0.03)  # 0.03: the bench's own python -c
            got[(tree, jobs)] = (secs, own, cpu - own)
    return got, other


def jobs_rounds(rounds: int, trees: list[Path], folder: Path, tmp: Path, quiet: float) -> str:
    """``--jobs 1`` and ``--jobs 2`` (``--no-store --jsonl F -q``) of each tree, alternated in every
    round, so a baseline and this tree meet the same load: wall, the parent's own CPU (start-up,
    walk, pool, sink: what ``--jobs`` cannot spread) and its workers' CPU, and per round the
    ratio of the two walls (the issue's 1.8x). A round in which other processes used more than
    ``quiet`` CPU seconds during any of its runs is dropped (``/proc/stat``; 0: none is)."""
    runs: dict[tuple[Path, str], list[tuple[float, float, float]]] = {}
    for tree in trees:
        warm_up(tmp, tree)
    dropped = 0
    for r in range(rounds):
        got, other = _round(trees if r % 2 == 0 else trees[::-1], folder, tmp)
        if quiet and other > quiet:
            dropped += 1
            continue
        for key, value in got.items():
            runs.setdefault(key, []).append(value)
    if not runs:
        return f"every one of {rounds} rounds dropped: other processes used the CPU (--quiet)"
    out = [f"{rounds - dropped} rounds kept of {rounds} (dropped: other processes used more than {quiet:g} s "
           "of CPU during one of its runs)\n",
           "| tree | --jobs | wall s (median, range) | parent CPU s | workers CPU s | j1/j2 wall per round (median, range) |",
           "|---|---:|---|---|---|---|"]
    span = lambda xs: f"{sorted(xs)[len(xs) // 2]:.2f} ({min(xs):.2f}–{max(xs):.2f})"  # noqa: E731
    for tree in trees:
        ratios = [a[0] / b[0] for a, b in zip(runs[(tree, "1")], runs[(tree, "2")])]
        for jobs in ("1", "2"):
            v = runs[(tree, jobs)]
            out.append(f"| {tree} | {jobs} | {span([x[0] for x in v])} | {span([x[1] for x in v])} | "
                       f"{span([x[2] for x in v])} | {span(ratios) if jobs == '2' else ''} |")
    return "\n".join(out)


def jobs_only(a: argparse.Namespace, tmp: Path) -> None:
    """``--jobs-rounds``: the small corpus (made once in ``--corpus``), then the rounds."""
    folder = a.corpus or tmp / "small"
    if len(list(folder.glob("app-*.apk"))) != a.count:
        shutil.rmtree(folder, ignore_errors=True)
        generate("small", folder, a.count)
    print(jobs_rounds(a.jobs_rounds, [TREE[0], *(b.resolve() for b in a.baseline)], folder, tmp, a.quiet))
    print(f"\nmachine: {os.cpu_count()} cores; load average at end: {os.getloadavg()[0]:.2f}")


def warm_up(tmp: Path, tree: Path | None = None) -> None:
    """One apkscan run so every module's bytecode is cached before anything is timed."""
    apk = next((HERE.parent / "fixtures" / "apks").glob("*.apk"))
    apkscan([str(apk), "--no-store", "--jsonl", str(tmp / "warm-up.jsonl"), "--force"], tree)


def render(rows: list[tuple]) -> str:
    out = ["| corpus | tool | files | MB | s | files/s | MB/s | peak RSS MB (parent) | worker MB | note |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, tool, n, mb, secs, rss, worker, note in rows:
        out.append(f"| {name} | {tool} | {n} | {mb:.0f} | {secs:.2f} | {n / secs:.1f} | {mb / secs:.1f} | "
                   f"{rss:.0f} | {'' if worker is None else f'{worker:.0f}'} | {note} |")
    by = {(r[0], r[1]): r[4] for r in rows}
    for name in dict.fromkeys(r[0] for r in rows if r[0] != "queued"):
        g = lambda tool: by.get((name, tool))  # noqa: E731
        out.append(f"\n{name}: --jobs 1 -> 2: {g('apkscan --jobs 1') / g('apkscan --jobs 2'):.2f}x; "
                   f"cold -> warm store: {g('apkscan -j2 store cold') / g('apkscan -j2 store warm'):.1f}x; "
                   f"cold -> after policy change: {g('apkscan -j2 store cold') / g('apkscan -j2 policy changed'):.1f}x; "
                   f"cold -> after rule change: {g('apkscan -j2 store cold') / g('apkscan -j2 rule changed'):.1f}x; "
                   f"apksigner / apkscan -j2: {g('apksigner (1 JVM/file)') / g('apkscan --jobs 2'):.0f}x")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--big-count", type=int, default=0)
    ap.add_argument("--big-mib", type=int, default=150)
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--queued", type=int, default=0, help="also: the parent's RSS with N inputs queued")
    ap.add_argument("--only", choices=("small", "big", "shared", "queued"), action="append")
    ap.add_argument("--scale", type=int, default=0, help="only the store at N files: per-file marginal costs")
    ap.add_argument("--repeat", type=int, default=3, help="--scale: runs of each phase (the fastest kept)")
    ap.add_argument("--corpus", type=Path, help="--scale: keep the generated APKs here (reused when complete)")
    ap.add_argument("--tree", type=Path, default=HERE.parent,
                    help="the apkscan checkout to measure (default: this one), e.g. a `git archive` of a baseline")
    ap.add_argument("--jobs-rounds", type=int, default=0,
                    help="only --jobs 1 vs 2 on --count small APKs (kept in --corpus), N alternated rounds")
    ap.add_argument("--warm-rounds", type=int, default=0,
                    help="with --scale N: only warm rescans at 1 and N files, the trees alternated in R rounds")
    ap.add_argument("--phase-rounds", type=int, default=0,
                    help="with --scale N: cold, warm, policy-change and rule-change runs at 1 and N files, "
                         "the trees alternated in R rounds")
    ap.add_argument("--baseline", type=Path, action="append", default=[],
                    help="--jobs-rounds, --warm-rounds, --phase-rounds: another checkout measured in the same rounds (repeatable)")
    ap.add_argument("--quiet", type=float, default=0.15,
                    help="--jobs-rounds: drop a round where other processes used more CPU seconds (0: keep all)")
    a = ap.parse_args()
    TREE[0] = a.tree.resolve()
    sys.modules.setdefault("bench_batch", sys.modules[__name__])  # bench_rounds sees this TREE, not a second copy
    print(f"apkscan measured: {TREE[0]}", file=sys.stderr)
    print(f"load average at start: {os.getloadavg()[0]:.2f}; bytecode cached (PYTHONDONTWRITEBYTECODE unset "
          "for every process, one warm-up run first)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="apkscan-bench-") as d:
        tmp = Path(d)
        warm_up(tmp)
        if a.jobs_rounds:
            jobs_only(a, tmp)
            return
        if a.scale and a.phase_rounds:
            from bench_rounds import phase_rounds

            print(phase_rounds(a.scale, a.phase_rounds, [TREE[0], *(b.resolve() for b in a.baseline)], tmp, a.corpus))
            print(f"\nmachine: {os.cpu_count()} cores; load average at end: {os.getloadavg()[0]:.2f}")
            return
        if a.scale and a.warm_rounds:
            from bench_rounds import warm_rounds

            print(warm_rounds(a.scale, a.warm_rounds, [TREE[0], *(b.resolve() for b in a.baseline)], tmp, a.corpus))
            print(f"\nmachine: {os.cpu_count()} cores; load average at end: {os.getloadavg()[0]:.2f}")
            return
        if a.scale:
            print(scale(a.scale, a.repeat, tmp, a.corpus))
            print(f"\nmachine: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
                  f"load average at end: {os.getloadavg()[0]:.2f}")
            return
        rows = []
        if not a.only or "small" in a.only:
            t = time.perf_counter()
            generate("small", tmp / "small", a.count)
            print(f"generated {a.count} small APKs in {time.perf_counter() - t:.1f}s", file=sys.stderr)
            rows += bench("small", tmp / "small", a.sample, tmp)
        if a.big_count and (not a.only or "big" in a.only):
            generate("big", tmp / "big", a.big_count, a.big_mib)
            rows += bench("big", tmp / "big", min(a.sample, a.big_count), tmp)
        if SHARED.is_dir() and (not a.only or "shared" in a.only):
            rows += bench("shared", SHARED, a.sample, tmp)
        if a.queued and (not a.only or "queued" in a.only):
            print(render(rows), flush=True)  # the corpora's figures are kept if the long run fails
            rows += queued(a.queued, tmp)
        print(render(rows))
        print("\nCPU = user + system seconds of the process and its workers; "
              "bytecode cached for every process (as users run it)")
    print(f"\nmachine: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
          f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
