"""atheris target: ZIP reader + APK Signing Block + manifest, as identify drives them.

Anything but an ``ApkScanError`` escaping is a finding (atheris reports it as a crash).
Run: python fuzz/fuzz_zip.py fuzz/corpus_zip -runs=100000   (see fuzz/README.md)
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports():
    from apkscan.apk.io.bytesource import BytesSource
    from apkscan.apk.manifest.android_manifest import read_manifest
    from apkscan.apk.signing.signing_block import find_signing_block
    from apkscan.apk.io.zipreader import ZipArchive
    from apkscan.issues import ApkScanError

MAX_ENTRY = 1 << 20


def TestOneInput(data: bytes) -> None:
    try:
        zip = ZipArchive.open(BytesSource(data))
    except ApkScanError:
        return
    find_signing_block(zip)
    axml = None
    for entry in zip.entries[:32]:
        try:
            payload = zip.read(entry, MAX_ENTRY)
        except ApkScanError:
            continue
        if entry.name == "AndroidManifest.xml" and axml is None:
            axml = payload
    read_manifest(axml, None)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
