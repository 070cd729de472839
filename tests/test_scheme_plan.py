"""SchemePlan.for_range: apksig's "which schemes count for [min_sdk, max_sdk]" written once.

The verifier follows it and the tests that drive schemes by hand use it; here it is pinned
against the rules of ``ApkVerifier.verify`` case by case, including block sets built to make
a verifier count a scheme the platform would not (or skip one it would)."""

from __future__ import annotations

import pytest

from apkscan.apk.signing.common import MAX_SDK, BlockId, SchemePlan, Sdk

ALL = {BlockId.V2, BlockId.V3, BlockId.V31}


@pytest.mark.parametrize(("lo", "hi", "blocks", "counted"), [
    (21, MAX_SDK, ALL, ("v31", "v3", "v2", "v1")),      # a range from before N checks every scheme
    (28, MAX_SDK, ALL, ("v31", "v3")),                  # no v1 once the range starts at N+
    (24, 27, ALL, ("v2",)),                             # platforms before P know neither v3 nor v3.1
    (21, 23, ALL, ("v1",)),                             # before N only JAR signing exists
    (28, 32, ALL, ("v3",)),                             # v3.1 only from T
    (24, MAX_SDK, {BlockId.V2}, ("v2",)),
    (28, MAX_SDK, {BlockId.V2}, ("v2",)),               # v2 counts when nothing newer does
    (24, MAX_SDK, set(), ("v1",)),                      # no signing block: v1 decides
    (33, MAX_SDK, {BlockId.V31, BlockId.V2}, ("v31",)),  # v3.1 without v3: refused (flag below)
    (1, MAX_SDK, {BlockId.STAMP_V2, 0x12345678}, ("v1",)),  # other blocks never count as schemes
])
def test_counted_schemes(lo, hi, blocks, counted):
    assert SchemePlan.for_range(lo, hi, blocks).counted == counted


def test_v31_without_v3_is_flagged_only_when_v31_counts():
    assert SchemePlan.for_range(33, MAX_SDK, {BlockId.V31}).v31_without_v3
    assert not SchemePlan.for_range(28, 32, {BlockId.V31}).v31_without_v3  # v3.1 is not looked at there


def test_found_ids_feed_stripping_protection():
    plan = SchemePlan.for_range(21, MAX_SDK, ALL)
    assert plan.found_ids == {31, 3, 2}
    assert SchemePlan.for_range(28, MAX_SDK, ALL).found_ids == {31, 3}
    assert plan.v2_found_ids == {31, 3}
    assert SchemePlan.for_range(24, 27, ALL).found_ids == {2}
    assert SchemePlan.for_range(24, 27, ALL).supported_ids == {2}
    assert SchemePlan.for_range(1, Sdk.N - 1, ALL).supported_ids == frozenset()


def test_plain_ints_from_a_signing_block_work_as_block_ids():
    raw = {0x7109871A, 0xF05368C0}  # ids as find_signing_block returns them
    assert SchemePlan.for_range(24, MAX_SDK, raw).counted == ("v3", "v2")
