"""The cost of spooling one member (review 66 F2: the private folder held open, each copy made
through it and checked before it is handed on): ``TempSpace.spool`` + ``release`` of an
8,663-byte APK, N times, in microseconds per member.

    PYTHONPATH=TREE python bench/bench_spool.py FOLDER [--count 3000]

Run it with the baseline tree and this one alternately (``PYTHONPATH`` picks the tree) and
compare the same round's figures; FOLDER is the parent of the private folder (made if missing).
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

from apkscan.sources.tempspace import TempSpace, release

APK = Path(__file__).resolve().parent.parent / "fixtures" / "apks" / "clean-v1v2v3.apk"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--count", type=int, default=3000)
    args = ap.parse_args()
    data = APK.read_bytes()
    space = TempSpace(args.folder)
    try:
        release(space.spool(io.BytesIO(data), "warm-up"))  # the folder is made on the first copy
        start = time.perf_counter()
        for _ in range(args.count):
            release(space.spool(io.BytesIO(data), "member"))
        print(f"{(time.perf_counter() - start) / args.count * 1e6:.1f} us/member")
    finally:
        space.close()


if __name__ == "__main__":
    main()
