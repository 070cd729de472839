"""Live cross-check with the real ``apksigner``: every fixture and every corpus APK.

Runs Debian's apksigner (installed by .ci/run), or the one ``$APKSIGNER`` names, on each file
and compares its verdict and every printed signer block (certificate and key digests, key
algorithm and size, and for v3.1 APKs under current apksigner each signer's SDK range) with
apkscan's. Skips where apksigner is absent.
Differences are allowed only where listed, each with its reason.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apksigner_helper import apkscan_signer_blocks, apksigner_available, apksigner_knows_v31, apksigner_verify
from test_conformance import FOLLOW_APKSIG, PRINTED, SHARED

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "fixtures" / "apks").glob("*.apk"))
CORPUS = sorted(SHARED.rglob("*.apk")) if SHARED.is_dir() else []

# Where apkscan deliberately differs from apksigner on our own fixtures.
FIXTURE_DIFFERENCES = {
    "badpack-cd-data-descriptor-flag.apk": (True, "apksig (LocalFileRecord.getRecord) refuses a data-descriptor flag that differs between local header and central directory; libziparchive's FindEntry only logs a warning, compares CRC/sizes as the local header's flag says (here: equal) and reads on, and so do we (tamper indicator TAMPER_DATA_DESCRIPTOR_MISMATCH). A different name, CRC or size both refuse, and so do we (ZIP_LOCAL_HEADER_MISMATCH; badpack-local-sizes.apk agrees)"),
}

pytestmark = pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed (apt-get install apksigner)")


def _compare(paths: list[Path], differences: dict[str, tuple[bool, str]], key, keep_printed: bool = False) -> list[str]:
    """Verdict, and every signer block apksigner printed (label with any SDK range, certificate
    and public-key digests, key algorithm and size) against the blocks apkscan's verdict gives.
    A listed difference overrides the verdict; its signers are then checked elsewhere, unless
    ``keep_printed`` (apksigner printed them before failing: they are compared here)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = list(pool.map(lambda p: apksigner_verify(p), paths))
    problems = []
    for path, ref in zip(paths, theirs):
        ours = identify(path, idsig=False)
        our_blocks = apkscan_signer_blocks(ours.verification)
        want_verified = ref["verified"]
        printed = [{k: v for k, v in b.items() if k != "dn"} for b in ref["signer_blocks"]]
        want_blocks = printed if want_verified else []
        if key(path) in differences:
            want_verified = differences[key(path)][0]
            # Debian's differences: the signer is checked in the conformance test
            want_blocks = (printed if keep_printed else our_blocks) if want_verified else []
        if ours.verified != want_verified or our_blocks != want_blocks:
            problems.append(f"{key(path)}: apksigner verified={ref['verified']} {_short(want_blocks)} {ref['errors'][:2]}; "
                            f"apkscan verified={ours.verified} {_short(our_blocks)}")
    return problems


def _short(blocks: list[dict]) -> list[str]:
    return [f"{b['label']}:{b['cert_sha256'][:12]}:{b['key_algorithm']}/{b['key_size']}:{(b['public_key_sha256'] or '')[:8]}"
            for b in blocks]


def test_fixtures_agree_with_apksigner():
    assert FIXTURES, "fixtures/apks is empty"
    problems = _compare(FIXTURES, FIXTURE_DIFFERENCES, lambda p: p.name)
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(not CORPUS, reason="shared corpus (../shared/corpus) not available")
def test_corpus_agrees_with_apksigner():
    """Against Debian's 31.0.2 the files where current apksig says otherwise are listed (with
    their reasons in FOLLOW_APKSIG); a current apksigner (``$APKSIGNER``) is followed on every
    file but one, and its v3.1 signer blocks are compared with their SDK ranges."""
    current = apksigner_knows_v31(ROOT / "fixtures" / "apks" / "clean-v1v2v3.apk")
    if current:
        differences = {"apksig/stamp-malformed-signature.apk": (True, "apksigner prints Verifies and the signer, then throws (NullPointerException) printing the malformed stamp's certificate: exit 1")}
    else:
        differences = {k: (v[0], v[2]) for k, v in FOLLOW_APKSIG.items()}
    # Debian's apksigner has no RSA-PSS on this JDK (NoSuchAlgorithmException): those files
    # are checked against the Bouncy Castle rerun in test_conformance.
    paths = [p for p in CORPUS if "rsa-pss" not in p.name]
    problems = _compare(paths, differences, lambda p: str(p.relative_to(SHARED)), keep_printed=current)
    assert not problems, f"{len(problems)} of {len(paths)} differ:\n" + "\n".join(problems)
    assert PRINTED  # the subject -> certificate map used for the listed differences is populated
