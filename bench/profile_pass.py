"""Where the single pass spends its CPU, part by part, and how the lanes share it.

    python bench/profile_pass.py APK [--min-sdk 21]

In-process, CPU time (steady on a shared machine, unlike wall time), best of 3 per line:
the read alone, then the read with each consumer alone (file SHA-256, the v2/v3 chunked
SHA-256, v1's stored entries, v1's deflated entries), then everything; last, each lane's
CPU time in one full pass (a well-balanced pass has lanes of equal CPU). Run it with
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


def _lane_cpu(zip: ZipArchive, offset: int | None, plan) -> list[float]:
    """CPU seconds each lane spent in one full pass (wraps Lane.feed with thread_time)."""
    spent: dict[int, float] = defaultdict(float)
    feed = lanes.Lane.feed

    def timed(self, view, pos):
        t = time.thread_time()
        feed(self, view, pos)
        spent[id(self)] += time.thread_time() - t

    lanes.Lane.feed = timed
    try:
        digests.compute_digests(zip, offset, {ContentDigest.CHUNKED_SHA256}, entries=plan)
    finally:
        lanes.Lane.feed = feed
    return sorted(spent.values())


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
        print("\nCPU per lane in one full pass (s):", ", ".join(f"{c:.3f}" for c in _lane_cpu(zip, offset, plan)))


if __name__ == "__main__":
    main()
