"""bench_batch.py's alternated rounds at scale (``--scale N`` with ``--warm-rounds R`` or
``--phase-rounds R``): each tree's runs in the same rounds, so a baseline and this tree meet the
same load (see bench_batch.py's docstring for the options, bench/README.md for the figures)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench_batch import _one_of, _scale_corpus, apkscan, changed_rules, warm_up


def warm_rounds(n: int, rounds: int, trees: list[Path], tmp: Path, corpus: Path | None) -> str:
    """``--warm-rounds R`` with ``--scale N``: warm rescans alone, each tree's store made cold once at
    1 and N files, then R rounds of a warm run of each (trees alternated, order reversed every other
    round): per-file wall and CPU ((at N - at 1) / (N - 1), medians and ranges) and the per-round ratios of
    each tree to the first (a change that only moves a warm file's cost, measured under one load)."""
    folder = _scale_corpus(n, corpus, tmp)
    one = _one_of(folder, tmp)
    runs: dict[Path, list[tuple[float, float]]] = {t: [] for t in trees}

    def warm(tree: Path, i: int, where: Path) -> tuple[float, float]:
        secs, _p, _c, cpu, _own = apkscan([str(where), "--jobs", "2", "--store", str(tmp / f"warm-{i}-{where.name}.sqlite"),
                                           "--jsonl", str(tmp / "warm.jsonl"), "--force"], tree)
        return secs, cpu

    for i, tree in enumerate(trees):
        warm_up(tmp, tree)
        for where in (one, folder):
            warm(tree, i, where)  # cold: the store and its rows
    for r in range(rounds):
        for i, tree in (list(enumerate(trees)) if r % 2 == 0 else list(enumerate(trees))[::-1]):
            (w1, c1), (wn, cn) = warm(tree, i, one), warm(tree, i, folder)
            runs[tree].append(((wn - w1) / max(1, n - 1) * 1e6, (cn - c1) / max(1, n - 1) * 1e6))
    span = lambda xs: f"{sorted(xs)[len(xs) // 2]:.0f} ({min(xs):.0f}–{max(xs):.0f})"  # noqa: E731
    ratio = lambda xs: f"{sorted(xs)[len(xs) // 2]:.2f} ({min(xs):.2f}–{max(xs):.2f})"  # noqa: E731
    out = [f"{rounds} rounds, warm, per file at {n}", "| tree | wall µs | CPU µs | wall / first tree's | CPU / first tree's |",
           "|---|---|---|---|---|"]
    for tree in trees:
        v, b = runs[tree], runs[trees[0]]
        out.append(f"| {tree} | {span([x[0] for x in v])} | {span([x[1] for x in v])} | "
                   f"{ratio([x[0] / y[0] for x, y in zip(v, b)])} | {ratio([x[1] / y[1] for x, y in zip(v, b)])} |")
    return "\n".join(out)


def _fresh(src: Path, dst: Path) -> Path:
    """A copy of the store ``src`` (and its WAL) at ``dst``, so each phase starts from the same rows."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
        if Path(f"{src}{suffix}").exists():
            shutil.copy2(f"{src}{suffix}", f"{dst}{suffix}")
    return dst


def phase_rounds(n: int, rounds: int, trees: list[Path], tmp: Path, corpus: Path | None) -> str:
    """``--phase-rounds R`` with ``--scale N``: in each of R rounds, for each tree (alternated, order
    reversed every other round), a cold run at 1 and N files on a fresh store, then warm, policy-change
    and rule-change runs each on its own copy of that cold store: per-file wall and CPU
    ((at N - at 1) / (N - 1)) of each phase, and per round each phase's ratio to that round's cold
    run of the same tree (medians and ranges), with the load average at each round's start."""
    folder = _scale_corpus(n, corpus, tmp)
    one = _one_of(folder, tmp)
    phases = (("warm", []), ("policy change", ["--policy", "vendor-watch"]), ("rule change", changed_rules(tmp)))
    per: dict[tuple[Path, str], list[tuple[float, float]]] = {}
    loads = []

    def run(tree: Path, where: Path, db: Path, extra: list[str]) -> tuple[float, float]:
        secs, _p, _c, cpu, _own = apkscan([str(where), "--jobs", "2", "--store", str(db), "--jsonl",
                                           str(tmp / "phase.jsonl"), "--force", *extra], tree)
        return secs, cpu

    for tree in trees:
        warm_up(tmp, tree)
    for r in range(rounds):
        loads.append(os.getloadavg()[0])
        for tree in trees if r % 2 == 0 else trees[::-1]:
            got = {}
            for where in (one, folder):
                cold = _fresh(tmp / "none.sqlite", tmp / f"cold-{where.name}.sqlite")
                got[("cold", where)] = run(tree, where, cold, [])
                for phase, extra in phases:
                    got[(phase, where)] = run(tree, where, _fresh(cold, tmp / f"phase-{where.name}.sqlite"), extra)
            for phase in ("cold", *(p for p, _ in phases)):
                per.setdefault((tree, phase), []).append(
                    tuple((got[(phase, folder)][k] - got[(phase, one)][k]) / max(1, n - 1) * 1e3 for k in (0, 1)))
    span = lambda xs: f"{sorted(xs)[len(xs) // 2]:.3f} ({min(xs):.3f}–{max(xs):.3f})"  # noqa: E731
    ratio = lambda xs: f"{sorted(xs)[len(xs) // 2]:.1f}× ({min(xs):.1f}–{max(xs):.1f})"  # noqa: E731
    out = [f"{rounds} rounds, per file at {n}; load average at each round's start: "
           + ", ".join(f"{x:.1f}" for x in loads),
           "| tree | phase | wall ms | CPU ms | × cold (wall) | × cold (CPU) |", "|---|---|---|---|---|---|"]
    for tree in trees:
        cold = per[(tree, "cold")]
        for phase in ("cold", *(p for p, _ in phases)):
            v = per[(tree, phase)]
            out.append(f"| {tree} | {phase} | {span([x[0] for x in v])} | {span([x[1] for x in v])} | "
                       f"{ratio([c[0] / x[0] for c, x in zip(cold, v)])} | {ratio([c[1] / x[1] for c, x in zip(cold, v)])} |")
    return "\n".join(out)
