"""Benchmark: the look from the end at every member known by its head (polyglots inside containers).

Why: a member of a container whose head says tar, gzip, adb backup ... is now looked at from its
end too (a tar-headed APK as a member of a tar, a ZIP, a backup). In place (a plain tar's member on
disk) that is one read of its last 65,557 bytes before it is read as a container; a streamed member
keeps its last 65,557 bytes as it passes and is read to its end. This prices both where they are
paid most: one container of N members that are containers themselves (each a small tar or
``.tar.gz`` holding one text file of --size-kib), only walked (the walker's items listed, nothing
scanned), each walk in its own process with a cold start. Shapes:

- ``tar-of-targz``: a plain ``.tar`` on disk of N ``.tar.gz`` members (the in-place look);
- ``targz-of-tar``: a ``.tar.gz`` of N ``.tar`` members (streamed: the kept tail);
- ``zip-of-tar``: a deflated ZIP of N ``.tar`` members (streamed: the kept tail, read to its end).

Every round walks each shape with this tree and, with ``--baseline-src DIR`` (``git archive REV |
tar -x -C DIR``), the baseline's, alternated; prints each walk's time, the median ratio (the figure
to read on a shared machine) and the median difference per member.

    python bench/bench_polyglot_members.py [--members 2000] [--size-kib 64] [--rounds 5] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from walk_rounds import ROOT, add_round_args, alternate, compared, log_text, tar_of, walk  # noqa: E402

SHAPES = ("tar-of-targz", "targz-of-tar", "zip-of-tar")


def build(folder: Path, members: int, size: int) -> dict[str, Path]:
    text = log_text(size)
    inner = [(f"logs/{i}.tar", tar_of([(f"logs/{i}.txt", text)])) for i in range(members)]
    paths = {shape: folder / f"pull-{shape}" for shape in SHAPES}
    paths["tar-of-targz"].write_bytes(tar_of([(n + ".gz", gzip.compress(d, mtime=0)) for n, d in inner]))
    paths["targz-of-tar"].write_bytes(gzip.compress(tar_of(inner), mtime=0))
    with zipfile.ZipFile(paths["zip-of-tar"], "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in inner:
            z.writestr(name, data)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--size-kib", type=int, default=64)
    add_round_args(ap, rounds=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, spool = Path(tmp) / "pulls", Path(tmp) / "spool"
        folder.mkdir()
        spool.mkdir()
        paths = build(folder, args.members, args.size_kib << 10)
        times = alternate(args, SHAPES, lambda src, shape: walk(src, paths[shape], spool))
        print(f"\n{args.members} members of {args.size_kib} KiB text each, load {os.getloadavg()[0]:.1f}")
        for shape in SHAPES:
            print(f"{shape} ({paths[shape].stat().st_size >> 10} KiB): "
                  + compared(times, shape, per=(args.members, "a member")))
        parts_alone(args.size_kib << 10)


def parts_alone(size: int, members: int = 2000) -> None:
    """The parts alone, in this process (best of 5): a member read through the kept tail against
    read plainly (64 KiB reads, as the tar and decompression readers read), the tail's judgement,
    and the in-place look (``detect.opened_as_zip``) at a member window of a file in the page cache."""
    sys.path.insert(0, str(ROOT))
    from apkscan.sources import detect, polyglot

    data = log_text(size)

    def read(wrap) -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(members):
                stream = wrap(io.BytesIO(data))
                while stream.read(1 << 16):
                    pass
                if isinstance(stream, polyglot.TailKept):
                    polyglot.zip_end_in_tail(stream.tail(), stream.total)
            best = min(best, (time.perf_counter() - start) / members)
        return best * 1e6

    plain, kept = read(lambda s: s), read(polyglot.TailKept)
    print(f"a {size >> 10} KiB member read: plainly {plain:.1f} us, through the kept tail and judged {kept:.1f} us "
          f"({kept - plain:+.1f} us a member)")
    with tempfile.NamedTemporaryFile() as fh:
        fh.write(tar_of([(f"m{i}", data) for i in range(20)]))
        fh.flush()
        step = 512 + len(data) + (-len(data)) % 512
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for i in range(members):
                assert detect.opened_as_zip(fh.name, 512 + (i % 20) * step, len(data)) is None
            best = min(best, (time.perf_counter() - start) / members)
        print(f"the in-place look at a {size >> 10} KiB tar member on disk: {best * 1e6:.1f} us a member")


if __name__ == "__main__":
    main()
