"""Packages written with ASCII confusables of a banned package (review 64 F8 note).

UTS #39's confusables.txt maps ASCII ``I``, ``1`` and ``|`` to ``l``, ``0`` to ``O`` and ``m`` to
``rn``: ``com.zhiliaoapp.musicaIly`` (capital I) is another package Android installs that reads as
TikTok's. It was no ``package-lookalike`` (the skeleton maps non-ASCII only). Now the package's
look-alike form covers these, the same in the indexed matcher, the reference matcher and the
prefilter; ``i`` for ``l`` and ``vv`` for ``w`` are not in the table and stay other packages. Every
APK is built here and signed by apksigner with a fixture key.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apkscan.rules.matcher import match_identity
from apkscan.rules.prefilter import facts_of, prefilter_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

FOOLING = {  # package -> (rule, the banned package it reads as)
    "com.zhiliaoapp.musicaIly": ("bytedance.tiktok", "com.zhiliaoapp.musically"),
    "com.zhiliaoapp.musica1ly": ("bytedance.tiktok", "com.zhiliaoapp.musically"),
    "c0m.tencent.mm": ("tencent.wechat", "com.tencent.mm"),
    "com.tencent.rnm": ("tencent.wechat", "com.tencent.mm"),
}
DISTINCT = {"com.zhiliaoapp.musicaliy": "bytedance.tiktok", "com.tencent.vvework": "tencent.wework"}


@pytest.fixture(scope="module")
def apks(tmp_path_factory) -> dict[str, Path]:
    sys.path.insert(0, str(FIXTURES))
    import generate as g

    work = tmp_path_factory.mktemp("lookalikes")
    out = {}
    for i, package in enumerate([*FOOLING, *DISTINCT]):
        data = g.sign(g.build_unsigned(g.App(package, None)), work, ["test-rsa"], v1=False, v2=True, v3=False, min_sdk=24)
        out[package] = work / f"app{i}.apk"
        out[package].write_bytes(data)
    return out


@pytest.mark.parametrize("package", list(FOOLING))
def test_ascii_confusable_of_a_banned_package_is_a_lookalike(rules, scan_path, apks, package):
    rule, banned = FOOLING[package]
    identity = identify(str(apks[package]))
    assert identity.manifest.package == package and prefilter_of(rules).could_match(facts_of(identity))
    for indexed in (True, False):
        [f] = [f for f in match_identity(identity, rules, indexed=indexed) if f.rule == rule]
        [e] = [e for e in f.evidence if e.field == "package"]
        assert (f.strength, e.basis, e.value, e.matched) == ("weak", "package-lookalike", package, banned)
    app = scan_path(apks[package])["apps"][0]
    assert app["verdict"] == "review"  # a claim to be the banned app: never prohibited, never allowed


@pytest.mark.parametrize("package", list(DISTINCT))
def test_a_distinct_package_is_not_a_lookalike(rules, apks, package):
    identity = identify(str(apks[package]))
    for indexed in (True, False):
        assert [f for f in match_identity(identity, rules, indexed=indexed) if f.rule == DISTINCT[package]] == []
