"""atheris target: binary AndroidManifest.xml + resources.arsc reader (never raises)."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports():
    from apkscan.apk.manifest.android_manifest import read_manifest


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    split = fdp.ConsumeIntInRange(0, len(data))
    rest = fdp.ConsumeBytes(len(data))
    read_manifest(rest[:split], rest[split:] or None)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
