"""The apksigner output parser on real apksigner output (tests/apksigner_output/).

``current-*`` is apksigner built from apksig at the corpus commit (184702d, cloud-KMS signers and
Conscrypt left out) run as ``apksigner verify -v --print-certs`` on the corpus files of the same
name; ``debian-*`` is Debian's apksigner 31.0.2. Where the shared corpus is present, the parse is
also held against apksigner_current.jsonl (recorded by another parser) and apkscan's own
reading of the same APK's certificates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apksigner_helper import apkscan_signer_blocks, parse_signer_blocks

OUTPUTS = Path(__file__).resolve().parent / "apksigner_output"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _blocks(name: str) -> list[dict]:
    return parse_signer_blocks((OUTPUTS / name).read_text())


def test_sdk_targeted_blocks_keep_ranges_and_print_order():
    """Two v3.1 signers (35+, 33-34) then the v3 signer (24-32); the stamp is not a signer."""
    blocks = _blocks("current-stamp-2-v31-tgt-signers.txt")
    assert [(b["min_sdk"], b["max_sdk"], b["dev_release"], b["index"]) for b in blocks] == [
        (35, 2147483647, False, None), (33, 34, False, None), (24, 32, False, None)]
    for b in blocks:
        assert set(b) >= {"dn", "cert_sha256", "cert_sha1", "cert_md5", "key_algorithm", "key_size",
                          "public_key_sha256", "public_key_sha1", "public_key_md5"}
        assert len(b["cert_sha256"]) == 64 and isinstance(b["key_size"], int)
    stamp = [ln for ln in (OUTPUTS / "current-stamp-2-v31-tgt-signers.txt").read_text().splitlines()
             if ln.startswith("Source Stamp Signer certificate SHA-256 digest: ")]
    assert stamp and stamp[0].rsplit(" ", 1)[1] not in {b["cert_sha256"] for b in blocks}


def test_dev_release_flag_is_parsed_apart_from_the_range():
    blocks = _blocks("current-v31-rsa-2048_2-tgt-10000-dev-release.txt")
    assert [(b["min_sdk"], b["max_sdk"], b["dev_release"]) for b in blocks] == [
        (10000, 2147483647, True), (24, 10000, False)]
    assert blocks[0]["label"] == "Signer (minSdkVersion=10000 (dev release=true), maxSdkVersion=2147483647)"


def test_numbered_blocks_from_debian_apksigner():
    blocks = _blocks("debian-v1-only-two-signers.txt")
    assert [b["index"] for b in blocks] == [1, 2]
    assert all(b["min_sdk"] is None and b["dev_release"] is None for b in blocks)
    assert blocks[0]["cert_sha256"] != blocks[1]["cert_sha256"]


def test_a_repeated_label_is_two_blocks():
    """Two signers under one label (the same range for a v3.1 and a v3 signer) stay two."""
    text = (OUTPUTS / "current-v31-rsa-2048_2-tgt-10000-dev-release.txt").read_text()
    first = [ln for ln in text.splitlines() if ln.startswith("Signer (minSdkVersion=10000 ")]
    blocks = parse_signer_blocks("\n".join(first + first))
    assert len(blocks) == 2 and blocks[0] == blocks[1]


def _current_record(file: str) -> dict | None:
    path = SHARED / "apksigner_current.jsonl"
    if not path.is_file():
        return None
    return next((r for r in map(json.loads, path.read_text().splitlines()) if r["file"] == file), None)


@pytest.mark.parametrize("name, file", [
    ("current-stamp-2-v31-tgt-signers.txt", "apksig/stamp-2-v31-tgt-signers.apk"),
    ("current-v31-rsa-2048_2-tgt-10000-dev-release.txt", "apksig/v31-rsa-2048_2-tgt-10000-dev-release.apk"),
    ("debian-v1-only-two-signers.txt", "apksig/v1-only-two-signers.apk"),
])
def test_parse_agrees_with_the_corpus_record_and_apkscan(name, file):
    record = _current_record(file)
    if record is None:
        pytest.skip("shared corpus (../shared/corpus) not available")
    blocks = _blocks(name)
    assert [(b["label"], b["cert_sha256"]) for b in blocks] == [
        (s["label"], s["sha256"]) for s in record["default_range"]["signers"]]
    ours = apkscan_signer_blocks(identify(SHARED / file, idsig=False).verification)
    assert [{k: v for k, v in b.items() if k != "dn"} for b in blocks] == ours
