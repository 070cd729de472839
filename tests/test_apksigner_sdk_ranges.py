"""apksigner ``--min-sdk-version`` / ``--max-sdk-version`` against apkscan over the same ranges,
on the corpus's v3.1 and SDK-targeted v3 APKs: the verdict and every signer block (SDK range,
dev-release flag, certificate and key digests).

Needs an apksigner that knows v3.1 (``$APKSIGNER``, e.g. one built from current apksig): Debian's
31.0.2 ignores v3.1 blocks, so over these files it answers another question; the test skips then.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from apkscan.apk.identify import identify
from apksigner_helper import apkscan_signer_blocks, apksigner_available, apksigner_knows_v31, apksigner_verify
from test_conformance import SHARED

FILES = [p for p in sorted((SHARED / "apksig").glob("*.apk")) if "v31" in p.name or "tgt" in p.name] if SHARED.is_dir() else []
# (min, max): below v3.1 (v3 decides), across the v3/v3.1 boundary, v3.1 only, and one release.
RANGES = [(24, None), (28, 32), (None, 32), (24, 33), (33, None), (34, 34), (10000, None)]


pytestmark = [pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed"),
              pytest.mark.skipif(not FILES, reason="shared corpus (../shared/corpus) not available")]


def test_sdk_ranges_agree_with_current_apksigner():
    if not apksigner_knows_v31(FILES[0]):
        pytest.skip("this apksigner predates APK Signature Scheme v3.1; set APKSIGNER to a current one")
    cases = [(p, lo, hi) for p in FILES for lo, hi in RANGES]
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = list(pool.map(lambda c: apksigner_verify(c[0], c[1], max_sdk=c[2]), cases))
    problems, sdk_targeted = [], 0
    for (path, lo, hi), ref in zip(cases, theirs):
        kwargs = {k: v for k, v in (("min_sdk", lo), ("max_sdk", hi)) if v is not None}
        got = identify(path, idsig=False, **kwargs)
        ours = apkscan_signer_blocks(got.verification)
        want = [{k: v for k, v in b.items() if k != "dn"} for b in ref["signer_blocks"]] if ref["verified"] else []
        sdk_targeted += any(b["min_sdk"] is not None for b in want)
        if got.verified != ref["verified"] or ours != want:
            problems.append(f"{path.name} [{lo}..{hi}]: apksigner {ref['verified']} {[b['label'] for b in want]} "
                            f"{ref['errors'][:2]}; apkscan {got.verified} {[b['label'] for b in ours]}")
    assert sdk_targeted >= 10
    assert not problems, f"{len(problems)} of {len(cases)} differ:\n" + "\n".join(problems)
