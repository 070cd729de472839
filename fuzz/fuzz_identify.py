"""atheris target: the whole identity pipeline (every scheme verifier) on arbitrary bytes.

``identify`` promises never to raise and never to hit its catch-all: an exception
escaping, or an ``INTERNAL_ERROR`` issue (an unexpected exception it had to swallow),
is a finding. Seeds are whole APKs (``seeds.py identify``).
Run: python fuzz/fuzz_identify.py CORPUS -runs=100000   (see fuzz/README.md)
"""

import os
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports():
    from apkscan.apk.identify import identify

_FD, _NAME = tempfile.mkstemp(prefix="apkscan-fuzz-", suffix=".apk")
os.unlink(_NAME)  # libFuzzer ends the process with exit(): no cleanup would run, and every run left a file
_PATH = f"/dev/fd/{_FD}"  # the open, nameless file (identify opens it by path)


def TestOneInput(data: bytes) -> None:
    os.ftruncate(_FD, 0)
    os.pwrite(_FD, data, 0)
    identity = identify(_PATH, idsig=False, timeout=20)
    identity.to_dict()
    internal = [i for i in identity.errors if i.code == "INTERNAL_ERROR"]
    if internal:
        raise RuntimeError(f"identify swallowed an unexpected exception: {internal[0].message}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
