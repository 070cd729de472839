"""Review 60 F5: a repackage (renamed package, fresh key) showing a banned app's other real name.

Only the label exactly ``TikTok`` (and ``WeChat``/``微信``) was claimed: ``TikTok Lite``,
``Tik Tok``, ``musical.ly``, ``Lemon8``, ``Weixin`` and nearly every ByteDance app's name came
out ``allowed`` with no finding, although a claim to be an app a measure covers is never
silently allowed. Each banned app's rule now carries its names (whole label, in every form a
reader sees), so the claim takes that app's rule and tags: each policy decides it as it
decides that app's claims.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import SHARED
from test_match_strength import _apk, _app, _scan, gen  # noqa: F401, F811

from apkscan.policy.decide import decide
from apkscan.policy.loader import builtin_policies, load_policy
from apkscan.rules.matcher import match_identity
from apkscan.rules.selftest import example_identity

R, A = "review", "allowed"
POLICIES = ["canada-tbs-2023", "canada-house-of-commons-2023", "eu-commission-tiktok-2023",
            "us-no-tiktok-gov-devices-2022", "texas-prohibited-tech", "us-dhs-bod-17-01",
            "us-commerce-kaspersky-2024", "vendor-watch"]
TIKTOK = dict(zip(POLICIES, [R, R, R, R, R, A, A, R]))  # a TikTok claim: every TikTok measure
BYTEDANCE = dict(zip(POLICIES, [R, A, A, R, R, A, A, R]))  # another ByteDance app's claim
WECHAT = dict(zip(POLICIES, [R, A, A, A, A, A, A, R]))
NONE = dict.fromkeys(POLICIES, A)
# label shown by the repackage -> (rule whose claim it is, verdict per shipped policy)
CASES = {
    "TikTok Lite": ("bytedance.tiktok-lite", TIKTOK),
    "Tik Tok": ("bytedance.tiktok", TIKTOK),
    "musical.ly": ("bytedance.tiktok", TIKTOK),
    "ＴｉｋＴｏｋ Ｌｉｔｅ": ("bytedance.tiktok-lite", TIKTOK),  # full width, as a launcher shows it
    "TikTok Now": ("bytedance.ss-android-ugc-now", TIKTOK),  # a companion: review under every TikTok measure
    "Lemon8": ("bytedance.bd-nproject", BYTEDANCE),
    "CapCut": ("bytedance.lemon-lvoverseas", BYTEDANCE),
    "Lark": ("bytedance.larksuite-suite", BYTEDANCE),
    "飞书": ("bytedance.ss-android-lark", BYTEDANCE),
    "Weixin": ("tencent.wechat", WECHAT),
    # all in lower case: its own normalised form, asked with case ignored too (review 65 H2: no finding)
    "tiktok": ("bytedance.tiktok", TIKTOK),
    "tiktok lite": ("bytedance.tiktok-lite", TIKTOK),
    "wechat": ("tencent.wechat", WECHAT),
    "lemon8": ("bytedance.bd-nproject", BYTEDANCE),
    # decorations a reader looks past (review 82 F3: no finding): trademark signs, Unicode dashes and dots
    "TikTok™": ("bytedance.tiktok", TIKTOK),
    "TikTok®": ("bytedance.tiktok", TIKTOK),
    "Tik\u2010Tok": ("bytedance.tiktok", TIKTOK),
    "Tik•Tok": ("bytedance.tiktok", TIKTOK),
    "Tiktok\u20dd": ("bytedance.tiktok", TIKTOK),
    "We–Chat": ("tencent.wechat", WECHAT),
    "W℮Chat": ("tencent.wechat", WECHAT),
    "We·Chat": ("tencent.wechat", WECHAT),
    "Lark Player": (None, NONE),  # the name inside a longer label: no claim (the bound, pack comment)
    "Skylark": (None, NONE),
}


def test_repackages_with_a_banned_apps_names_are_claims_under_every_shipped_policy(gen, tmp_path):
    """Real APKs (fixtures/generate.py, apksigner), package renamed, signed by a key no pack
    knows, each labelled with one name; one scan under all eight shipped policies."""
    assert set(POLICIES) == set(builtin_policies())
    names = {}
    for i, label in enumerate(CASES):
        names[label] = f"app{i}.apk"
        _apk(gen, tmp_path, names[label], "com.example.video", label, "unlisted-new")
    _, doc = _scan(tmp_path, tmp_path / "in", *[a for p in POLICIES for a in ("--policy", p)])
    for label, (rule, want) in CASES.items():
        app = _app(doc, names[label])
        assert app["label"] == label
        got = {p: v["verdict"] for p, v in app["verdicts"].items()}
        assert got == want, label
        if rule is None:
            assert app["findings"] == [], label
            continue
        (f,) = app["findings"]
        assert (f["rule"], f["kind"], f["strength"]) == (rule, "app", "weak"), label
        assert [e["basis"] for e in f["evidence"]] == ["label"]
        for p, v in app["verdicts"].items():  # a claim is never prohibited, and review only by a decision
            assert v["verdict"] != "prohibited" and (v["verdict"] == A or v["decision"]), (label, p)


# --- every name the reference gives a banned app --------------------------------------------------

REFERENCE = SHARED / "reference" / "vendor-identities.json"
# parts of the reference's app_name that describe the app rather than name it
DESCRIPTIONS = {"trill build, some Asian markets", "alt. package", "global", "VR companion", "discontinued",
                "unverified", "CapCut CN", "Lark CN", "Doubao international"}
# CHOICE (signatures/bytedance.yaml): com.luna.music's namespace, only in parentheses; the app
# shows 汽水音乐 and "Luna" is a common app name
NOT_A_LABEL = {"Luna"}


def _names(app_name: str) -> list[str]:
    parts = [x.strip() for x in re.split(r" / |\(|\)", app_name) if x.strip()]
    return [x for x in parts if x not in DESCRIPTIONS | NOT_A_LABEL]


@pytest.fixture(scope="module")
def reference():
    if not REFERENCE.is_file():
        pytest.skip("../shared/reference absent")
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def test_every_name_of_every_banned_app_is_a_claim_where_the_app_is_banned(reference, rules):
    """For each reference package some shipped policy prohibits when a fresh key signs it, each
    of its names as the label of a renamed package (fresh key) is a claim under that policy."""
    policies = {n: load_policy(n) for n in builtin_policies()}
    fresh = {"sha256": "ef" * 32}
    seen, missing = set(), []
    for entry in reference["packages"]:
        package = entry["package"].split(" ")[0]
        ident = example_identity({"package": package, "signers": [fresh]})
        banning = [n for n, p in policies.items()
                   if decide(ident, match_identity(ident, rules), p, rules).verdict == "prohibited"]
        seen.update(x for x in re.split(r" / |\(|\)", entry["app_name"]) if x.strip() in DESCRIPTIONS | NOT_A_LABEL)
        for name in _names(entry["app_name"]) if banning else ():
            renamed = example_identity({"package": "com.example.renamed", "label": name, "signers": [fresh]})
            findings = match_identity(renamed, rules)
            got = {n: decide(renamed, findings, policies[n], rules).verdict for n in banning}
            if any(v == A for v in got.values()) or "prohibited" in got.values():
                missing.append((package, name, got))
    assert missing == []
    assert {x.strip() for x in seen} == DESCRIPTIONS | NOT_A_LABEL  # each exception is still in the reference


def test_a_banned_apps_name_is_a_claim_of_its_own_rule(rules):
    """The label claim carries the app's rule, so its tags (``tiktok``) and rule id reach the
    decisions that name that app (House of Commons' TikTok family, Texas' Lemon8)."""
    for label, rule in [("TikTok Lite", "bytedance.tiktok-lite"), ("Tik-Tok", "bytedance.tiktok"),
                        ("Lemon 8", "bytedance.bd-nproject"), ("We Chat", "tencent.wechat"),
                        ("TikTok Studio", "bytedance.ss-android-tt-creator"), ("今日头条", "bytedance.ss-android-article-news")]:
        findings = match_identity(example_identity({"package": "com.example.renamed", "label": label}), rules)
        assert [(f.rule, f.kind, f.strength) for f in findings] == [(rule, "app", "weak")], label
    assert "tiktok" in rules.rule("bytedance.tiktok-lite").tags and "tiktok" in rules.rule("bytedance.tiktok").tags
