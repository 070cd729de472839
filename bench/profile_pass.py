"""Where the single pass spends its CPU, part by part, and how the lanes share it.

    python bench/profile_pass.py APK [--min-sdk 21]

In-process, CPU time (steady on a shared machine, unlike wall time), best of 3 per line:
the read alone, then the read with each consumer alone (file SHA-256, the v2/v3 chunked
SHA-256, v1's stored entries, v1's deflated entries), then everything; last, each lane's
CPU time in one full pass (a well-balanced pass has lanes of equal CPU) and, from each lane's
CPU per piece, the least wall time the split allows on two cores over windows of 1, RING and
4 x RING pieces (the reader runs at most RING pieces ahead: a lane busy alone within such a
window leaves a core idle; load-independent, unlike a wall-time timeline). Run it with
``env -u PYTHONDONTWRITEBYTECODE`` like the benchmarks.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import defaultdict

from apkscan.apk.crypto.algorithms import ContentDigest
from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.signing import digests, lanes, signing_block
from apkscan.apk.signing.v1.entry_digests import plan_entry_digests


class _Null:
    def update(self, view) -> None:
        pass


def _best(label: str, fn) -> None:
    runs = []
    for _ in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        fn()
        runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    cpu, wall = min(runs)
    print(f"| {label} | {cpu:.3f} | {wall:.3f} |")


def _lane_cpu(zip: ZipArchive, offset: int | None, plan) -> dict[int, dict[int, float]]:
    """CPU seconds each lane spent on each piece in one full pass (Lane.feed under thread_time)."""
    spent: dict[int, dict[int, float]] = defaultdict(dict)
    feed = lanes.Lane.feed

    def timed(self, view, pos):
        t = time.thread_time()
        feed(self, view, pos)
        spent[id(self)][pos] = time.thread_time() - t

    lanes.Lane.feed = timed
    try:
        digests.compute_digests(zip, offset, {ContentDigest.CHUNKED_SHA256}, entries=plan)
    finally:
        lanes.Lane.feed = feed
    return spent


def _windows(spent: dict[int, dict[int, float]], cores: int = 2) -> None:
    """How far the lanes' split alone keeps the pass from ``cores`` busy to the end, whatever
    the load: the reader runs at most ``RING`` pieces ahead of the slowest lane, so over each
    window of pieces the pass takes at least its busiest lane's CPU, and at least the window's
    CPU over the cores. Summed over windows, against the whole pass's CPU over the cores."""
    per_lane = list(spent.values())
    pieces = sorted({p for lane in per_lane for p in lane})
    ideal = sum(sum(lane.values()) for lane in per_lane) / cores
    for size in (1, lanes.RING, 4 * lanes.RING):
        bound = 0.0
        for i in range(0, len(pieces), size):
            loads = [sum(lane.get(p, 0.0) for p in pieces[i : i + size]) for lane in per_lane]
            bound += max(max(loads), sum(loads) / cores)
        print(f"windows of {size:2d} pieces: the split allows no less than {bound:.3f} s on {cores} cores "
              f"({100 * (bound / ideal - 1):+.1f}% over the lanes' CPU / {cores}, {ideal:.3f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("apk")
    ap.add_argument("--min-sdk", type=int, default=21)
    args = ap.parse_args()
    with ByteSource(args.apk) as src:
        zip = ZipArchive.open(src)
        block = signing_block.find_signing_block(zip)
        offset = block.offset if block.found else None
        plan = plan_entry_digests(zip, args.min_sdk, 2**31 - 1)
        stored = {i: r for i, r in plan.items() if not r.entry.compressed}
        deflated = {i: r for i, r in plan.items() if r.entry.compressed}
        mib = 1 << 20
        print(f"{src.size / mib:.0f} MiB; v1 entries: {len(stored)} stored "
              f"({sum(r.entry.stored_size for r in stored.values()) / mib:.0f} MiB), {len(deflated)} deflated "
              f"({sum(r.entry.compressed_size for r in deflated.values()) / mib:.0f} MiB -> "
              f"{sum(r.entry.uncompressed_size for r in deflated.values()) / mib:.0f} MiB)\n")
        print("| part (each line: the read plus that part) | CPU (s) | wall (s) |\n|---|---:|---:|")
        _best("read only (preadv into reused buffers)", lambda: lanes.read_once(src, [lanes.Span([(0, src.size)], _Null(), 0.1)], []))
        _best("file SHA-256", lambda: lanes.read_once(src, [lanes.Span([(0, src.size)], hashlib.sha256(), 1.0)], []))
        _best("v2/v3 chunked SHA-256", lambda: lanes.read_once(
            src, digests._Content(zip, offset, {ContentDigest.CHUNKED_SHA256}, []).spans(zip), []))
        _best("v1 stored entries (+ file SHA-256)", lambda: digests.compute_digests(zip, None, set(), entries=stored))
        _best("v1 deflated entries, inflated (+ file SHA-256)", lambda: digests.compute_digests(zip, None, set(), entries=deflated))
        _best("everything: file + chunked + v1", lambda: digests.compute_digests(zip, offset, {ContentDigest.CHUNKED_SHA256}, entries=plan))
        spent = _lane_cpu(zip, offset, plan)
        print("\nCPU per lane in one full pass (s):", ", ".join(f"{sum(c.values()):.3f}" for c in spent.values()))
        _windows(spent)


if __name__ == "__main__":
    main()
