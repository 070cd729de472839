"""Shared test helpers: where the repository's fixtures and the shared corpus are, and
small helpers every test file wrote again (issue codes of a list, skipping without corpus).

Plain functions and constants are imported from here (``from conftest import APKS``);
pytest puts this folder on ``sys.path`` because it holds ``conftest.py``.
"""

from __future__ import annotations

import re

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
APKS = FIXTURES / "apks"
KEYS = FIXTURES / "keys"
SHARED = REPO.parent / "shared"  # /work/shared beside the worktree; tests skip when absent
CORPUS = SHARED / "corpus"

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")


def aged_copies(folder: Path, names, mtime_ns: int = 1_600_000_000 * 10**9) -> Path:
    """``folder`` made and given copies of the fixture APKs ``names``, each with an mtime long past
    (a scan store trusts a stat key only outside the racy window of a file just written)."""
    import os
    import shutil

    folder.mkdir()
    for name in names:
        shutil.copy(APKS / name, folder / name)
        os.utime(folder / name, ns=(mtime_ns, mtime_ns))
    return folder


def prefixed_apk(apk: bytes, prefix: bytes) -> bytes:
    """``apk`` after ``prefix`` with every offset moved by it, as ``zip -A`` leaves a self-extractor:
    its first bytes are no ZIP, yet it opens as one from its end (apksigner signs and verifies such
    a file, prefix and all; the Janus family put a DEX file there)."""
    import struct

    eocd = apk.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack_from("<II", apk, eocd + 12)
    cd, i = bytearray(apk[cd_off:cd_off + cd_size]), 0
    while i < len(cd):
        struct.pack_into("<I", cd, i + 42, struct.unpack_from("<I", cd, i + 42)[0] + len(prefix))
        i += 46 + sum(struct.unpack_from("<HHH", cd, i + 28))
    tail = bytearray(apk[eocd:])
    struct.pack_into("<I", tail, 16, cd_off + len(prefix))
    return prefix + apk[:cd_off] + bytes(cd) + bytes(tail)


def codes(issues) -> set[str]:
    """The codes of a list of ``Issue`` objects (or of their dicts)."""
    return {i["code"] if isinstance(i, dict) else i.code for i in issues}


def as_schema_1_1(doc: dict) -> dict:
    """``doc`` (a 1.3 scan document) as a 1.1 one, in place: no ``policies``, no ``verdicts``,
    no ``verdict_worst``/``counts_by_policy`` (1.3; the counts are recomputed when read)."""
    doc["schema_version"] = "1.1"
    doc.pop("policies")
    doc.pop("counts_by_policy", None)
    for a in doc["apps"]:
        a.pop("verdicts")
        a.pop("verdict_worst", None)
        for f in a["findings"]:
            f.pop("verdicts")
        for s in a.get("splits", []):
            s.pop("verdicts", None)
    return doc


def fixture_tools():
    """``fixtures/tamper.py``: byte-level edits of APKs (lying headers, flipped bytes, ...)."""
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    import tamper

    return tamper

# Every test gets its own cache folder, so the default scan store (XDG cache) of one test
# or of the developer's own runs never answers for another.
@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


# The shipped rule packs and default policy, loaded once per test module (most scan tests use them).
@pytest.fixture(scope="module")
def rules():
    from apkscan.rules.loader import load_ruleset

    return load_ruleset()


@pytest.fixture(scope="module")
def policy():
    from apkscan.policy.loader import load_policy

    return load_policy()


@pytest.fixture()
def scan_path(rules, policy, tmp_path):
    """Scan one path (a file or a folder) under the shipped rules and default policy; the scan
    document as a dict. Containers spool into the test's own folder."""
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource
    from apkscan.sources.walker import WalkOptions

    def go(path):
        return scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()
    return go


# A one-rule pack whose "vendor key" is the fixtures' test-rsa key: lets a test see a genuine
# vendor-signed app (confirmed) without any real vendor's key.
TEST_VENDOR_RULES = """schema: apkscan-rules/1
pack: testvendor
vendor: TestVendor
version: "2026.11.29"
reviewed: "2026-11-29"
sources:
  S1: "fixtures/keys/test-rsa.pem: the vendor key in this test"
certificates:
  - id: TV_KEY
    sha256: 3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81
    confidence: high
    references: [S1]
rules:
  - id: testvendor.clean
    app: Clean Notes
    match:
      package: [com.example.clean]
      certificates: [TV_KEY]
    references: [S1]
"""


_HASHED = re.compile(r', "hashed": "(?:this run|store)"(?=\}$)')


def without_hashed(record):
    """A JSON document, or a JSONL line, without the custody entries' ``hashed`` marks: where a
    hash comes from ("this run" / "store") rightly differs between a cold and a warm run, which
    tests/test_report_custody.py checks; everything else must be equal."""
    if isinstance(record, str):
        return _HASHED.sub("", record)
    out = dict(record)
    if "input_files" in out:
        out["input_files"] = [{k: v for k, v in f.items() if k != "hashed"} for f in out["input_files"]]
    return out
