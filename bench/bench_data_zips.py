"""Benchmark: a ZIP under a data name looked into by content (AndroidQF's bugreport.zip, closing notes 15/16).

Why: a ZIP skipped by its name as data (AndroidQF's ``bugreport.zip``, a backup's data ZIP) was judged by
its entry names only; an APK kept under a data name in it (``FS/data/app/.../base``) was never scanned.
Now its entries are followed (``apkscan/sources/data_zip.py``): in place, each entry's head is read and
a ZIP-headed one read through; streamed (the acquisition as a deflated ZIP), the entries are followed
in the one pass the look already made, a deflated entry passed over by its size or, behind a data
descriptor (as Java, Go and Android write them), inflated to its end. This prices that on one AndroidQF
acquisition whose ``bugreport.zip`` holds --entries text entries of --size-kib each (dumpsys-like
text, deflated, no APK: the look answers no, the worst case: every entry passed), only walked, each
walk in its own process. Shapes:

- ``folder-sizes`` / ``folder-descriptors``: the acquisition folder (bugreport.zip in place), its
  entries with sizes in their local headers (Python's zipfile) or behind data descriptors;
- ``zip-sizes`` / ``zip-descriptors``: the same acquisition as a deflated ZIP (bugreport.zip streamed).

Every round walks each shape with this tree and, with ``--baseline-src DIR`` (``git archive REV |
tar -x -C DIR``), the baseline's, alternated; prints each walk's CPU time and the median ratio.

    python bench/bench_data_zips.py [--entries 400] [--size-kib 256] [--rounds 5] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from walk_rounds import ROOT, add_round_args, alternate, compared, walk  # noqa: E402

SHAPES = ("folder-sizes", "folder-descriptors", "zip-sizes", "zip-descriptors")
UUID = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"
WORDS = [b"Package", b"userId=10123", b"versionCode=42", b"flags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ]",
         b"timeStamp=2026-11-30", b"com.example.app", b"permission", b"granted=true", b"\n", b"  "]


class _Unseekable(io.RawIOBase):
    def __init__(self, out):
        self.out = out

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        return self.out.write(b)


def bugreport(entries: int, size: int, descriptors: bool) -> bytes:
    rnd = random.Random(17)
    out = io.BytesIO()
    sink = _Unseekable(out) if descriptors else out
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for i in range(entries):
            text = b" ".join(rnd.choice(WORDS) for _ in range(size // 8))[:size]
            z.writestr(f"FS/data/misc/dump{i:04}.txt", text)
    return out.getvalue()


def build(folder: Path, entries: int, size: int) -> dict[str, Path]:
    paths = {}
    for kind in ("sizes", "descriptors"):
        acq = folder / kind / UUID
        shutil.copytree(ROOT / "fixtures" / "backups" / "androidqf" / UUID, acq)
        (acq / "backup.ab").unlink()
        (acq / "bugreport.zip").write_bytes(bugreport(entries, size, kind == "descriptors"))
        paths[f"folder-{kind}"] = acq
        with zipfile.ZipFile(folder / f"{kind}.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for p in sorted(acq.rglob("*")):
                if p.is_file():
                    z.write(p, f"{UUID}/{p.relative_to(acq).as_posix()}")
        paths[f"zip-{kind}"] = folder / f"{kind}.zip"
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=400)
    ap.add_argument("--size-kib", type=int, default=256)
    add_round_args(ap, rounds=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, spool = Path(tmp) / "acq", Path(tmp) / "spool"
        folder.mkdir()
        spool.mkdir()
        paths = build(folder, args.entries, args.size_kib << 10)
        report = (paths["folder-sizes"] / "bugreport.zip").stat().st_size
        times = alternate(args, SHAPES, lambda src, shape: walk(src, paths[shape], spool))
        print(f"\nbugreport.zip of {args.entries} entries of {args.size_kib} KiB text ({report >> 20} MiB deflated, "
              f"{args.entries * args.size_kib >> 10} MiB inflated), load {os.getloadavg()[0]:.1f}")
        for shape in SHAPES:
            print(f"{shape}: " + compared(times, shape))

if __name__ == "__main__":
    main()
