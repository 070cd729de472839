"""Review 65 M3: Douyin's Douyin-branded apps and a Douyin name as the label are Douyin's claims.

The House of Commons and EU policies review Douyin and Douyin Lite (``*-tiktok-family``), yet
Douyin Huoshan (``com.ss.android.ugc.live``) and Douyin live companion (``...livepro``), both
"Douyin ..." in the reference, came out ``allowed``; so did a repackage labelled ``抖音`` or
``Douyin``: the label matched only the ByteDance brand rule, which those policies do not cover.
"""

from __future__ import annotations

from test_label_names import POLICIES
from test_match_strength import _apk, _app, _scan, gen  # noqa: F401

P, R, A = "prohibited", "review", "allowed"
# package or label -> verdict per shipped policy (tbs, hoc, eu, nttgda, tx, dhs, doc, watch)
PACKAGE = dict(zip(POLICIES, [R, R, R, P, R, A, A, R]))  # a ByteDance app by its package, fresh key
LABEL = dict(zip(POLICIES, [R, R, R, R, R, A, A, R]))  # a claim: never prohibited
CASES = {  # file -> (package, label, rule of the claim, verdicts)
    "huoshan.apk": ("com.ss.android.ugc.live", "Video", "bytedance.ss-android-ugc-live", PACKAGE),
    "livepro.apk": ("com.ss.android.ugc.livepro", "Live", "bytedance.ss-android-ugc-livepro", PACKAGE),
    "lite.apk": ("com.ss.android.ugc.aweme.lite", "Video", "bytedance.ss-android-ugc-aweme-lite", PACKAGE),
    "dy-cjk.apk": ("com.example.renamed", "抖音", "bytedance.ss-android-ugc-aweme", LABEL),
    "dy-latin.apk": ("com.example.renamed", "Douyin", "bytedance.ss-android-ugc-aweme", LABEL),
    "huoshan-label.apk": ("com.example.renamed", "抖音火山版", "bytedance.ss-android-ugc-live", LABEL),
}
FAMILY = {"canada-house-of-commons-2023": "hoc-2023-tiktok-family", "eu-commission-tiktok-2023": "ec-2023-tiktok-family"}


def test_douyin_branded_apps_and_labels_are_reviewed_where_douyin_is(gen, tmp_path):  # noqa: F811
    """Real APKs (fixtures/generate.py, apksigner) signed by a key no pack knows, one scan under
    all eight shipped policies."""
    for name, (package, label, _, _) in CASES.items():
        _apk(gen, tmp_path, name, package, label, "unlisted-new")
    _, doc = _scan(tmp_path, tmp_path / "in", *[a for p in POLICIES for a in ("--policy", p)])
    for name, (package, label, rule, want) in CASES.items():
        app = _app(doc, name)
        assert (app["package"], app["label"]) == (package, label)
        assert {p: v["verdict"] for p, v in app["verdicts"].items()} == want, name
        assert rule in [f["rule"] for f in app["findings"]], name
        for policy, decision in FAMILY.items():
            assert app["verdicts"][policy]["decision"] == decision, (name, policy)
