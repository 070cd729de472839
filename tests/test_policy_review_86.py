"""Review 86 F2 and F4: two shipped policies let evidence of a banned app through as ``allowed``.

F2: the House of Commons and EU TikTok policies allowed ("not covered") an app whose only
evidence is the shared ByteDance "Micro Cao" key, which signs TikTok's trill build and is in
TikTok's own accepted-signer list: on a package no rule names it is ``bytedance.vendor`` (or
``bytedance.namespace``), and TikTok under a new package name came out ``allowed``. The
inputs: an AndroidQF acquisition whose ``packages.json`` records the certificate (digests and
subject computed from the key's DER in the reference), and an APK carrying that DER in its
signature, scanned with ``--quick`` (nothing verified: the key is only present).

F4: canada-tbs-2023 allowed Kaspersky's own app code found by ``--deep`` (``com.kms.*``,
``com.kaspersky.components.*``), which the two US Kaspersky measures review, though the
Treasury Board bans the "Kaspersky suite of applications". The input: APKs signed here whose
``classes.dex`` type table holds those classes.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import test_match_strength
from backup_helpers import androidqf_records
from test_dex_bounds import _dex
from test_match_strength import _app, _scan

gen = test_match_strength.gen  # the APK builder with the test keys in tmp_path (a fixture)

P, R, A = "prohibited", "review", "allowed"
HOC, EU, TBS = "canada-house-of-commons-2023", "eu-commission-tiktok-2023", "canada-tbs-2023"
TX, NTT, WATCH = "texas-prohibited-tech", "us-no-tiktok-gov-devices-2022", "vendor-watch"
DHS, DOC = "us-dhs-bod-17-01", "us-commerce-kaspersky-2024"
SHARED = {HOC: "hoc-2023-bytedance-shared-key", EU: "ec-2023-bytedance-shared-key"}
NOT_COVERED = {HOC: "hoc-2023-not-covered", EU: "ec-2023-not-covered"}


def _policies(*names: str) -> list[str]:
    return [a for n in names for a in ("--policy", n)]


def _verdicts(app: dict) -> dict[str, str]:
    return {p: v["verdict"] for p, v in app["verdicts"].items()}


def _by_package(doc: dict) -> dict[str, dict]:
    return {a["package"]: a for a in doc["apps"]}


# --- F2: the shared Micro Cao key on a package no rule names ---------------------------------

def _androidqf(root: Path, der: bytes, packages: list[str]) -> Path:
    """An AndroidQF acquisition (no APKs pulled) whose packages.json records ``der`` for each
    package, in the form AndroidQF writes a certificate (upper-case digests, C=.., CN=.. names)."""
    return androidqf_records(root / "qf", der, packages, algorithm="SHA1-RSA")


def test_a_recorded_micro_cao_key_on_an_unnamed_package_is_reviewed(gen, tmp_path):
    """The reviewer's AndroidQF folder: ``allowed`` by *-not-covered under House of Commons and EU
    (exit 0 with --fail-on review); now ``review``, while the packages the rules name keep their
    verdicts (Toutiao on the same key: not covered; trill: TikTok)."""
    der = gen.vendor_der("BYTEDANCE_MICROCAO")
    assert hashlib.sha256(der).hexdigest().startswith("d7811ec4")
    unnamed = ["com.example.tt", "com.ss.android.ugc.musically"]  # bytedance.vendor, bytedance.namespace
    qf = _androidqf(tmp_path / "one", der, unnamed + ["com.ss.android.article.news"])
    rc, doc = _scan(tmp_path, qf, *_policies(HOC, EU), "--fail-on", "review")
    apps = _by_package(doc)
    assert {p: a["identity"]["origin"] for p, a in apps.items()} == dict.fromkeys(
        unnamed + ["com.ss.android.article.news"], "recorded")
    assert rc == 1  # before: 0, every app allowed
    for package, rule in zip(unnamed, ["bytedance.vendor", "bytedance.namespace"]):
        app = apps[package]
        assert [f["rule"] for f in app["findings"] if f["kind"] == "app"] == [rule]
        for policy, decision in SHARED.items():
            assert (app["verdicts"][policy]["verdict"], app["verdicts"][policy]["decision"]) == (R, decision)
    toutiao = apps["com.ss.android.article.news"]["verdicts"]
    assert {p: (v["verdict"], v["decision"]) for p, v in toutiao.items()} == {
        p: (A, d) for p, d in NOT_COVERED.items()}

    qf = _androidqf(tmp_path / "all", der, unnamed + ["com.ss.android.article.news", "com.ss.android.ugc.trill"])
    _, doc = _scan(tmp_path, qf, *_policies(HOC, EU, TBS, TX, NTT, WATCH))
    unnamed_want = {HOC: R, EU: R, TBS: R, TX: R, NTT: P, WATCH: R}
    want = {**dict.fromkeys(unnamed, unnamed_want),
            "com.ss.android.article.news": {HOC: A, EU: A, TBS: R, TX: R, NTT: P, WATCH: R},
            "com.ss.android.ugc.trill": {HOC: P, EU: P, TBS: P, TX: P, NTT: P, WATCH: R}}
    assert {p: _verdicts(a) for p, a in _by_package(doc).items()} == want


def test_the_micro_cao_key_only_present_under_quick_is_reviewed(gen, tmp_path):
    """An APK whose v1 and v2 signer certificate is the Micro Cao DER (signed by another key, so
    the signatures fail). A full scan finds a forged ByteDance certificate (review, as before);
    --quick verifies nothing, so the key is present evidence of ``bytedance.vendor``: it was
    ``allowed`` by *-not-covered, now ``review``."""
    der = gen.vendor_der("BYTEDANCE_MICROCAO")
    work = tmp_path / "work"
    work.mkdir()
    signed = gen.sign(gen.build_unsigned(gen.App("com.example.tt", "Clips")), work, ["impostor"],
                      v1=True, v2=True, v3=False, min_sdk=21)
    apk = tmp_path / "in" / "microcao-forged.apk"
    apk.parent.mkdir()
    apk.write_bytes(gen.tamper.forge_certificate(signed, gen.cert_der("impostor"), der))
    _, full = _scan(tmp_path, apk, *_policies(HOC, EU))
    app = _app(full, "microcao-forged.apk")
    assert "forged-certificate" in [f["kind"] for f in app["findings"]]
    assert _verdicts(app) == {HOC: R, EU: R}
    rc, quick = _scan(tmp_path, "--quick", apk, *_policies(HOC, EU), "--fail-on", "review")
    app = _app(quick, "microcao-forged.apk")
    (f,) = [f for f in app["findings"] if f["rule"] == "bytedance.vendor"]
    assert f["strength"] == "weak" and {e["basis"] for e in f["evidence"]} >= {"certificate-present"}
    assert {p: (v["verdict"], v["decision"]) for p, v in app["verdicts"].items()} == {
        p: (R, d) for p, d in SHARED.items()}
    assert rc == 1


# --- F4: Kaspersky's own app code found by --deep -------------------------------------------------

def _dex_apk(gen, tmp_path: Path, name: str, classes: list[bytes]) -> Path:
    """An APK from generate.py whose classes.dex type table holds ``classes``, signed with test-rsa."""
    base = zipfile.ZipFile(io.BytesIO(gen.build_unsigned(gen.App("com.example.app", "Tools"))))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for info in base.infolist():
            if info.filename != "classes.dex":
                z.writestr(info, base.read(info))
        z.writestr("classes.dex", _dex([b"Lcom/example/app/Main;", *classes], list(range(len(classes) + 1))))
    work = tmp_path / f"work-{name}"
    work.mkdir()
    out = tmp_path / "in" / name
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(gen.sign(buf.getvalue(), work, ["test-rsa"], v1=True, v2=True, v3=False, min_sdk=21))
    return out


KASPERSKY_CODE = {  # file -> (classes, rule)
    "kms.apk": ([b"Lcom/kms/gui/KMSMain;"], "kaspersky.sdk.kms"),
    "components.apk": ([b"Lcom/kaspersky/components/accessibility/KasperskyAccessibility;"],
                       "kaspersky.sdk.components"),
}
OTHERS = {  # SDKs alone that canada-tbs-2023 still allows, and Kaspersky's open-source test library
    "pangle.apk": [b"Lcom/bytedance/sdk/openadsdk/TTAdSdk;"],
    "wechat-sdk.apk": [b"Lcom/tencent/mm/opensdk/openapi/WXAPIFactory;"],
    "kaspresso.apk": [b"Lcom/kaspersky/kaspresso/Kaspresso;"],
}


def test_kaspersky_app_code_is_reviewed_under_every_kaspersky_ban(gen, tmp_path):
    for name, (classes, _) in KASPERSKY_CODE.items():
        _dex_apk(gen, tmp_path, name, classes)
    for name, classes in OTHERS.items():
        _dex_apk(gen, tmp_path, name, classes)
    rc, doc = _scan(tmp_path, "--deep", tmp_path / "in", *_policies(TBS, DHS, DOC, WATCH),
                    "--fail-on", f"{TBS}:review")
    for name, (_, rule) in KASPERSKY_CODE.items():
        app = _app(doc, name)
        assert [(f["rule"], f["kind"]) for f in app["findings"]] == [(rule, "sdk")], name
        assert _verdicts(app) == {TBS: R, DHS: R, DOC: R, WATCH: R}, name  # TBS: allowed before
        assert app["verdicts"][TBS]["decision"] == "tbs-2023-10-kaspersky-code"
    for name, tbs in (("pangle.apk", A), ("wechat-sdk.apk", A), ("kaspresso.apk", A)):
        app = _app(doc, name)
        assert (app["verdicts"][TBS]["verdict"], app["verdicts"][TBS]["decision"]) == (tbs, None), name
    assert [f["kind"] for f in _app(doc, "wechat-sdk.apk")["findings"]] == ["sdk"]  # found, not decided
    assert _app(doc, "kaspresso.apk")["findings"] == []
    assert rc == 1  # before: 0 (every app allowed under canada-tbs-2023)
