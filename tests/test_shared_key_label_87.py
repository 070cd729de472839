"""Review 87 F5: a label and the shared ByteDance "Micro Cao" key made an app ``allowed``.

The key signs Douyin, Toutiao, Xigua and TikTok's trill build, so rules mark it ``shared``: it
names an app only together with that app's package. But the matcher lent a rule matched by its
label alone the vendor's keys, so an unlisted package labelled ``Toutiao`` carrying the key became
``bytedance.ss-android-article-news`` (the key's sighting as its evidence) and the
``bytedance.vendor`` finding the House of Commons and EU policies review the key by went away:
``allowed`` by *-not-covered. The inputs are APKs built here whose v1 and v2 signer certificate is
the Micro Cao DER (signed by another key), scanned with ``--quick`` (nothing verified: the key is
only present), as in tests/test_policy_review_86.py.

Only a sighting merely present is held back: anyone can paste the key's DER. A verified signer
(or one the device recorded: AndroidQF records a certificate only when it verified) signed the
label too, so it is ByteDance's own word and the key backs the label's rule, as before: label
``TikTok`` on a new package is TikTok (``prohibited``). A verified Micro Cao signer cannot be
built here (its private key is ByteDance's), so those cases are policy examples with
``signers:``/``recorded:``, decided by the code ``apkscan policies test`` runs.
"""

from __future__ import annotations

import test_match_strength
from test_match_strength import _app, _scan
from test_policy_review_86 import EU, HOC, NOT_COVERED, SHARED, TBS, TX, _policies, _verdicts

from apkscan.policy.loader import load_policy
from apkscan.policy.selftest import check_example, run_policy_examples
from apkscan.rules.loader import load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.selftest import example_identity

gen = test_match_strength.gen  # the APK builder with the test keys in tmp_path (a fixture)

P, R, A = "prohibited", "review", "allowed"
MICRO_CAO = "d7811ec4166fea6cc720ba66699dc84b584ac9e6986613a76d4e43d8cbe32b27"
LABELS = {  # label -> the rule it names (a claim of that rule: weak)
    "Toutiao": "bytedance.ss-android-article-news",
    "Xigua Video": "bytedance.ss-android-article-video",
    "TikTok": "bytedance.tiktok",
}


def _micro_cao_apk(gen, tmp_path, name: str, package: str, label: str):
    """An APK of ``package`` labelled ``label`` whose signer certificate is the Micro Cao DER."""
    work = tmp_path / f"work-{name}"
    work.mkdir()
    signed = gen.sign(gen.build_unsigned(gen.App(package, label)), work, ["impostor"],
                      v1=True, v2=True, v3=False, min_sdk=21)
    out = tmp_path / "in" / name
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(gen.tamper.forge_certificate(signed, gen.cert_der("impostor"),
                                                 gen.vendor_der("BYTEDANCE_MICROCAO")))
    return out


def _findings(app: dict) -> dict[str, dict]:
    return {f["rule"]: f for f in app["findings"] if f["kind"] == "app"}


def test_a_label_does_not_make_the_shared_key_an_app(gen, tmp_path):
    for i, label in enumerate(LABELS):
        _micro_cao_apk(gen, tmp_path, f"label-{i}.apk", "com.example.tt", label)
    rc, doc = _scan(tmp_path, "--quick", tmp_path / "in", *_policies(HOC, EU, TBS, TX),
                    "--fail-on", f"{HOC}:review")
    for i, (label, rule) in enumerate(LABELS.items()):
        app = _app(doc, f"label-{i}.apk")
        found = _findings(app)
        assert set(found) == {rule, "bytedance.vendor"}, label  # before: only the label's rule
        assert [e["basis"] for e in found[rule]["evidence"]] == ["label"], label  # a claim, nothing lent
        assert found[rule]["strength"] == "weak"
        assert "certificate-present" in {e["basis"] for e in found["bytedance.vendor"]["evidence"]}
        vendor = {p: (v["verdict"], v["decision"]) for p, v in found["bytedance.vendor"]["verdicts"].items()}
        assert vendor == {**{p: (R, d) for p, d in SHARED.items()},
                          TBS: (R, "vendor-app-review"), TX: (R, "tx-2022-bytedance-successor")}, label
        # before: Toutiao and Xigua allowed by *-not-covered, TikTok prohibited (the key lent to its rule)
        assert _verdicts(app) == dict.fromkeys((HOC, EU, TBS, TX), R), label
        if rule != "bytedance.tiktok":  # the label's rule is not covered: the shared-key decision reviews it
            assert {p: app["verdicts"][p]["decision"] for p in SHARED} == SHARED, label
    assert rc == 1  # before: 0 (the two not-covered apps allowed under the House of Commons)


def test_the_shared_key_still_backs_its_own_package(gen, tmp_path):
    """Toutiao's package with the key (and its label) stays Toutiao, not covered; no vendor finding."""
    _micro_cao_apk(gen, tmp_path, "toutiao.apk", "com.ss.android.article.news", "Toutiao")
    _, doc = _scan(tmp_path, "--quick", tmp_path / "in", *_policies(HOC, EU))
    app = _app(doc, "toutiao.apk")
    found = _findings(app)
    assert set(found) == {"bytedance.ss-android-article-news"}
    bases = {e["basis"] for e in found["bytedance.ss-android-article-news"]["evidence"]}
    assert bases == {"package", "label", "certificate-present"}
    assert {p: (v["verdict"], v["decision"]) for p, v in app["verdicts"].items()} == {
        p: (A, d) for p, d in NOT_COVERED.items()}


def _example(label: str, how: str) -> dict:
    """A policy example: ``label`` on an unlisted package, the Micro Cao key verified (``signers``)
    or recorded by the device (``recorded``)."""
    return {"name": f"{label} {how}", "package": "com.example.tt", "label": label,
            how: [{"sha256": MICRO_CAO}]}


def test_a_verified_or_recorded_micro_cao_signer_backs_the_label():
    """The signed label is ByteDance's word: TikTok stays TikTok (prohibited; the branch's first
    fix made it review, a regression for a new TikTok build under a new package), Toutiao stays
    not covered, and no bytedance.vendor finding is added."""
    rules = load_ruleset()
    want = {  # (label, policy) -> (verdict, decision)
        ("TikTok", HOC): (P, "hoc-2023-tiktok"), ("TikTok", EU): (P, "ec-2023-tiktok"),
        ("TikTok", TBS): (P, "tbs-2023-02-tiktok"), ("TikTok", TX): (P, "tx-2022-tiktok"),
        ("Toutiao", HOC): (A, "hoc-2023-not-covered"), ("Toutiao", EU): (A, "ec-2023-not-covered"),
    }
    policies = {p: load_policy(p) for p in (HOC, EU, TBS, TX)}
    for how in ("signers", "recorded"):
        for (label, policy), verdict in want.items():
            r = check_example(policies[policy], {**_example(label, how), "expect": {}}, rules)
            assert (r.verdict, r.decision) == verdict, (label, how, policy, r.detail)
        found = {f.rule: f for f in match_identity(example_identity(_example("TikTok", how)), rules)
                 if f.kind == "app"}
        assert set(found) == {"bytedance.tiktok"}, how
        bases = {e.basis for e in found["bytedance.tiktok"].evidence}
        assert {"label", "certificate" if how == "signers" else "certificate-recorded"} <= bases, how
        assert found["bytedance.tiktok"].strength == ("confirmed" if how == "signers" else "strong")


def test_the_shipped_house_of_commons_example_prohibits_a_verified_tiktok_label():
    """`apkscan policies test` checks it: the shipped example exists and passes."""
    results = {r.name: r for r in run_policy_examples(load_policy(HOC), load_ruleset())}
    (name,) = [n for n in results if n.startswith("label TikTok on an unlisted package signed by the Micro Cao")]
    assert (results[name].passed, results[name].verdict, results[name].decision) == (True, P, "hoc-2023-tiktok")
