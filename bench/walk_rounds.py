"""What the walk benchmarks share: a cold walk in its own process, rounds alternated with a baseline.

Why one module: ``bench_polyglot_look``, ``bench_polyglot_members``, ``bench_data_names`` and
``bench_data_zips`` each price a look the walker makes by walking inputs (items listed, nothing
scanned) with this tree and with a baseline checkout (``--baseline-src DIR``, made by ``git archive
REV | tar -x -C DIR``), alternating which goes first each round, and reading the median ratio (the
figure to read on a shared machine). Only the inputs differ; the rounds and the arithmetic are here.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WALK = """
import sys
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions
items = list(FileSource([sys.argv[1]], WalkOptions(tmp_dir=sys.argv[2])).inputs())
print(len(items))
"""
THIS = "this tree"


def add_round_args(ap: argparse.ArgumentParser, rounds: int) -> None:
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--baseline-src", type=Path)


def trees(args: argparse.Namespace) -> list[tuple[str, Path]]:
    return [(THIS, ROOT)] + ([("baseline", args.baseline_src)] if args.baseline_src else [])


def log_text(size: int) -> bytes:
    """``size`` bytes of a pulled log's text (compressible, no ZIP or tar head anywhere)."""
    return b"".join(b"line %08d of a pulled log file, not a listing\n" % i for i in range(size // 48 + 1))[:size]


def tar_of(members: list[tuple[str, bytes]]) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return bio.getvalue()


def walk(src: Path, path: Path, spool: Path, cpu: bool = True) -> tuple[float, str]:
    """One cold walk of ``path`` by the tree at ``src``: its CPU seconds (user + system of its
    process: less swayed by other load than wall time), or its wall seconds, and its item count."""
    env = dict(os.environ, PYTHONPATH=str(src))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # each tree's bytecode cached, as an installed apkscan's is
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    # run in the tree: ``-c`` puts the working folder first on sys.path, so run from another checkout's
    # root both "trees" imported that checkout's apkscan (the baseline was this tree)
    done = subprocess.run([sys.executable, "-c", WALK, str(path), str(spool)], env=env, capture_output=True,
                          text=True, check=True, cwd=str(src))
    if not cpu:
        return time.perf_counter() - start, done.stdout.strip()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, done.stdout.strip()


def alternate(args: argparse.Namespace, shapes: Iterable[str], run: Callable[[Path, str], tuple[float, str]],
              unit: str = "s CPU") -> dict[tuple[str, str], list[float]]:
    """``args.rounds`` rounds of ``run(tree, shape)`` for every shape and tree, the trees' order
    swapped every other round, after one untimed walk by each tree; each walk printed as it ends."""
    both = trees(args)
    for name, src in both:  # warm-up, untimed: each tree's bytecode written, the inputs in the page cache
        run(src, next(iter(shapes)))
    times: dict[tuple[str, str], list[float]] = {(shape, name): [] for shape in shapes for name, _ in both}
    for r in range(args.rounds):
        for shape in shapes:
            for name, src in both if r % 2 == 0 else both[::-1]:
                took, items = run(src, shape)
                times[shape, name].append(took)
                print(f"round {r + 1} {shape} {name}: {took:.2f} {unit} ({items} items)", flush=True)
    return times


def compared(times: dict[tuple[str, str], list[float]], shape: str, unit: str = "s CPU",
             per: tuple[int, str] | None = None) -> str:
    """A shape's line: this tree's median and, with a baseline, its median, the median ratio of
    the rounds (their range) and the median difference, per ``per`` (count, "a member") if given."""
    mine = times[shape, THIS]
    line = f"this tree median {statistics.median(mine):.2f} {unit}"
    base = times.get((shape, "baseline"))
    if base:
        ratios = [a / b for a, b in zip(mine, base)]
        line += (f", baseline {statistics.median(base):.2f} s, ratio median {statistics.median(ratios):.3f}x "
                 f"({min(ratios):.2f}-{max(ratios):.2f})")
        if per:
            count, what = per
            line += f", {statistics.median(a - b for a, b in zip(mine, base)) / count * 1e6:+.0f} us {what}"
        else:
            line += f", {statistics.median(mine) - statistics.median(base):+.2f} s"
    return line
