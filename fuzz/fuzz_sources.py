"""atheris target: the sources on arbitrary bytes: classification by content, every container
reader (ZIP, tar and its compressions, split bundles, adb backups with a password to try,
AndroidQF and app-backup layouts inside archives), then identify, match and decide.

The scan promises never to raise for a bad input and never to hit a catch-all: an exception
escaping ``scan``, or an ``INTERNAL_ERROR`` issue anywhere in its document, is a finding.
Seeds are the container and backup fixtures (``seeds.py sources``).
Run: python fuzz/fuzz_sources.py CORPUS -runs=100000   (see fuzz/README.md)
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports():
    from apkscan.policy.loader import DEFAULT_POLICY, load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource
    from apkscan.sources.walker import WalkOptions

PASSWORD = "apkscan-test"  # the fixtures' encrypted backups (fixtures/backups/generate.py)
RULES = load_ruleset()
POLICY = load_policy(DEFAULT_POLICY)
_DIR = tempfile.mkdtemp(prefix="apkscan-fuzz-sources-")
_INPUT = os.path.join(_DIR, "input")
_SPOOL = os.path.join(_DIR, "spool")
# bounded so that one input cannot hold the fuzzer: 64 MiB spooled, 256 MiB inflated, 20 s walked
_OPTIONS = dict(max_depth=4, tmp_dir=_SPOOL, tmp_limit=64 << 20, max_inflate=256 << 20,
                walk_timeout=20, password=lambda: PASSWORD)


def _internal(node) -> str | None:
    """The message of the first INTERNAL_ERROR issue anywhere in the document, or None."""
    if isinstance(node, dict):
        if node.get("code") == "INTERNAL_ERROR":
            return str(node.get("message", node))
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            found = _internal(child)
            if found is not None:
                return found
    return None


def TestOneInput(data: bytes) -> None:
    with open(_INPUT, "wb") as fh:
        fh.write(data)
    os.makedirs(_SPOOL, exist_ok=True)
    result = scan([FileSource([_INPUT], WalkOptions(**_OPTIONS))], RULES, POLICY)
    found = _internal(result.to_dict())
    if found is not None:
        raise RuntimeError(f"the scan swallowed an unexpected exception: {found}")
    left = os.listdir(_SPOOL)
    if left:  # every spooled member is deleted when its input is done
        shutil.rmtree(_SPOOL)
        raise RuntimeError(f"spooled files left behind: {left[:5]}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
