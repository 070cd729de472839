"""Live cross-check with the real ``apksigner``: every fixture and every corpus APK.

Runs Debian's apksigner (installed by .ci/run) on each file and compares its verdict
and printed signer certificates with apkscan's. Skips where apksigner is absent.
Differences are allowed only where listed, each with its reason.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apksigner_helper import apksigner_available, apksigner_verify
from test_conformance import FOLLOW_APKSIG, PRINTED, SHARED

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "fixtures" / "apks").glob("*.apk"))
CORPUS = sorted(SHARED.rglob("*.apk")) if SHARED.is_dir() else []

# Where apkscan deliberately differs from apksigner on our own fixtures.
FIXTURE_DIFFERENCES = {
    "badpack-cd-data-descriptor-flag.apk": (True, "apksig (LocalFileRecord.getRecord) refuses a data-descriptor flag that differs between local header and central directory; libziparchive's FindEntry only logs a warning, compares CRC/sizes as the local header's flag says (here: equal) and reads on, and so do we (tamper indicator TAMPER_DATA_DESCRIPTOR_MISMATCH). A different name, CRC or size both refuse, and so do we (ZIP_LOCAL_HEADER_MISMATCH; badpack-local-sizes.apk agrees)"),
}

pytestmark = pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed (apt-get install apksigner)")


def _compare(paths: list[Path], differences: dict[str, tuple[bool, str]], key) -> list[str]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = list(pool.map(lambda p: apksigner_verify(p), paths))
    problems = []
    for path, ref in zip(paths, theirs):
        ours = identify(path, idsig=False)
        our_signers = [c.sha256 for c in ours.verification.signers] if ours.verification else []
        want_verified, want_signers = ref["verified"], ref["signers_sha256"] if ref["verified"] else []
        if key(path) in differences:
            want_verified = differences[key(path)][0]
            want_signers = our_signers if want_verified else []  # signer checked in the conformance test
        if ours.verified != want_verified or (want_verified and our_signers != want_signers):
            problems.append(f"{key(path)}: apksigner verified={ref['verified']} {[s[:12] for s in ref['signers_sha256']]} {ref['errors'][:2]}; "
                            f"apkscan verified={ours.verified} {[s[:12] for s in our_signers]}")
    return problems


def test_fixtures_agree_with_apksigner():
    assert FIXTURES, "fixtures/apks is empty"
    problems = _compare(FIXTURES, FIXTURE_DIFFERENCES, lambda p: p.name)
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(not CORPUS, reason="shared corpus (../shared/corpus) not available")
def test_corpus_agrees_with_apksigner():
    differences = {k: (v[0], v[2]) for k, v in FOLLOW_APKSIG.items()}
    # Debian's apksigner has no RSA-PSS on this JDK (NoSuchAlgorithmException): those files
    # are checked against the Bouncy Castle rerun in test_conformance.
    paths = [p for p in CORPUS if "rsa-pss" not in p.name]
    problems = _compare(paths, differences, lambda p: str(p.relative_to(SHARED)))
    assert not problems, f"{len(problems)} of {len(paths)} differ:\n" + "\n".join(problems)
    assert PRINTED  # the subject -> certificate map used for the listed differences is populated
