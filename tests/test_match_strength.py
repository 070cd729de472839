"""Review 27: what a rule match is worth, on APKs built and signed here (real bytes).

F2 ``--quick`` kept a vendor key out of every finding; F3 a vendor's publisher name on another
key was a strong identity; F4 any ``O=Kaspersky...`` was a legal name; F5 look-alike capitals
dodged label rules; F6 decoy DEX files pushed the real ones out of ``--deep``; F9 a package that
only folds to a vendor's was "the package Android installs".
"""

from __future__ import annotations

import hashlib
import json
import shutil
import unicodedata
from pathlib import Path

import pytest
from cli_helpers import FIXTURES, generate_module, invoke

from apkscan.rules.normalise import CAPITAL_CONFUSABLES, skeleton

KEYS = FIXTURES / "keys"


@pytest.fixture
def gen(tmp_path, monkeypatch):
    """fixtures/generate.py with its key folder in tmp_path (the committed test keys copied),
    so keys with made-up subjects never land in fixtures/keys."""
    generate = generate_module()
    keys = tmp_path / "keys"
    shutil.copytree(KEYS, keys)
    monkeypatch.setattr(generate, "KEYS", keys)
    return generate


def _apk(gen, tmp_path: Path, name: str, package: str, label: str | None, key: str,
         subject: str | None = None) -> Path:
    if subject is not None:
        gen.KEY_SPECS[key] = (subject, "ec")
    work = tmp_path / f"work-{name}"
    work.mkdir()
    out = tmp_path / "in" / name
    out.parent.mkdir(exist_ok=True)
    unsigned = gen.build_unsigned(gen.App(package, label))
    out.write_bytes(gen.sign(unsigned, work, [key], v1=True, v2=True, v3=False, min_sdk=21))
    return out


def _scan(tmp_path: Path, *args) -> tuple[int, dict]:
    out = tmp_path / f"scan-{len(list(tmp_path.glob('scan-*.json')))}.json"
    res = invoke("scan", "--no-store", "--no-color", "--json", out, *args)
    assert res.exit_code in (0, 1, 3), res.output
    return res.exit_code, json.loads(out.read_text())


def _app(doc: dict, name: str) -> dict:
    (app,) = [a for a in doc["apps"] if a["source"]["path"].endswith(name)]
    return app


def _verdicts(app: dict) -> dict[str, tuple[str, str | None]]:
    return {p: (v["verdict"], v["decision"]) for p, v in app["verdicts"].items()}


# --- F5: look-alike capitals ---------------------------------------------------------------------

def _capitals():
    for lo, hi in ((0x0370, 0x03FF), (0x0400, 0x052F), (0x0531, 0x0556)):
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if "CAPITAL" in unicodedata.name(ch, "") and unicodedata.category(ch) == "Lu":
                yield ch


# Capitals of the Greek, Cyrillic and Armenian blocks that confusables.txt (UTS #39) maps to an
# ASCII capital (I-like ones read as I). Written here from the table, not from the code.
LOOK_ALIKE_CAPITALS = {
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x", "Ϲ": "c", "Ϳ": "j",
    "А": "a", "В": "b", "С": "c", "Е": "e", "Н": "h", "І": "i", "Ј": "j", "К": "k", "М": "m",
    "О": "o", "Р": "p", "Ѕ": "s", "Т": "t", "Х": "x", "У": "y", "Ү": "y", "Һ": "h", "Ӏ": "i",
    "Ԛ": "q", "Ԝ": "w", "Ѵ": "v", "Օ": "o", "Ս": "u", "Տ": "s", "Լ": "l",
}


def test_every_capital_reads_as_its_look_alike_or_as_its_lower_case():
    """The whole Greek/Cyrillic/Armenian capital ranges: a look-alike of an ASCII capital reads
    as that letter; any other capital reads exactly as its lower case does (case never decides).
    Before, Т/К/Τ/Κ/В/М/Н... folded to letters no rule sees, and Greek Ν read as v."""
    seen = 0
    for ch in _capitals():
        seen += 1
        base = unicodedata.normalize("NFD", ch)[0]  # Έ is Ε with a mark the skeleton drops
        want = LOOK_ALIKE_CAPITALS.get(base, skeleton(ch.casefold()))
        assert skeleton(ch) == want, (hex(ord(ch)), unicodedata.name(ch), skeleton(ch), want)
        assert skeleton(f"x{ch}x") == f"x{want}x"
    assert seen > 200
    assert set(LOOK_ALIKE_CAPITALS) == set(CAPITAL_CONFUSABLES)
    # a capital with a diacritic is its base letter too (NFD, marks dropped)
    assert skeleton("Ё") == "e" and skeleton("Ά") == "a"


@pytest.mark.parametrize("label,policy,decision", [
    ("\u0422ik\u0422ok", "canada-house-of-commons-2023", "hoc-2023-tiktok-claim"),   # Cyrillic Т
    ("\u03a4ik\u03a4ok", "canada-house-of-commons-2023", "hoc-2023-tiktok-claim"),   # Greek Τ
    ("\u041aaspersky VPN", "us-dhs-bod-17-01", "bod-17-01-claim"),                   # Cyrillic К
    ("\u039aaspersky VPN", "us-dhs-bod-17-01", "bod-17-01-claim"),                   # Greek Κ
    ("\u0412YTED\u0410NCE", "vendor-watch", "vendor-watch"),                         # В, А
])
def test_look_alike_capital_labels_are_label_claims(gen, tmp_path, label, policy, decision):
    apk = _apk(gen, tmp_path, "renamed.apk", "com.example.video3", label, "test-rsa")
    rc, doc = _scan(tmp_path, apk, "--policy", policy)
    app = _app(doc, "renamed.apk")
    assert _verdicts(app)[policy] == ("review", decision)
    assert any(e["basis"] == "label" for f in app["findings"] for e in f["evidence"])
    assert rc == 0 or rc == 1


# --- F3: a vendor's publisher name on a key that is none of the vendor's known keys ---------------

@pytest.mark.parametrize("key,subject", [
    ("bytedance-like", None),  # TikTok's subject (musical.ly Inc.) with its own serial
    ("bytedance-name", "CN=Video,O=ByteDance Ltd,C=SG"),
])
def test_vendor_name_on_another_key_is_a_claim_reviewed(gen, tmp_path, key, subject):
    """Review 27 F3: ByteDance lists its keys, so its name on another verified signer is a
    claim (subject-present, weak): House of Commons and EC review it, they no longer allow it."""
    apk = _apk(gen, tmp_path, "video.apk", "com.example.video", "Video", key, subject)
    clean = _apk(gen, tmp_path, "clean.apk", "com.example.clean", "Notes", "test-rsa")
    rc, doc = _scan(tmp_path, apk, clean, "--policy", "canada-house-of-commons-2023",
                    "--policy", "eu-commission-tiktok-2023")
    app = _app(doc, "video.apk")
    (f,) = app["findings"]
    assert (f["rule"], f["strength"]) == ("bytedance.vendor", "weak")
    (ev,) = f["evidence"]
    assert (ev["basis"], ev["verified"]) == ("subject-present", False)
    assert "none of the vendor's known keys" in ev["location"]
    assert _verdicts(app) == {"canada-house-of-commons-2023": ("review", "hoc-2023-bytedance-claim"),
                              "eu-commission-tiktok-2023": ("review", "ec-2023-bytedance-claim")}
    assert _app(doc, "clean.apk")["verdict"] == "allowed"  # the batch goes on


# --- F4: the Kaspersky legal-name exception is for the listed legal names only ----------------

@pytest.mark.parametrize("org,verdict,decision,basis", [
    ("Kaspersky Fan Club", "review", "bod-17-01-claim", "subject-present"),
    ("KASPERSKY", "review", "bod-17-01-claim", "subject-present"),
    ("AO Kaspersky Lab", "prohibited", "bod-17-01-kaspersky", "subject"),  # the exception, kept
])
def test_only_a_listed_kaspersky_legal_name_is_an_identity(gen, tmp_path, org, verdict, decision, basis):
    apk = _apk(gen, tmp_path, "notes.apk", "com.example.notes", "Notes", "kname", f"CN=Notes,O={org}")
    rc, doc = _scan(tmp_path, apk, "--policy", "us-dhs-bod-17-01")
    app = _app(doc, "notes.apk")
    assert _verdicts(app)["us-dhs-bod-17-01"] == (verdict, decision)
    assert [e["basis"] for f in app["findings"] for e in f["evidence"]] == [basis]
    assert rc == (1 if verdict == "prohibited" else 0)


# --- F9: a package that only case-folds or skeletons to a vendor's is another package -----------

def test_case_variant_of_a_banned_package_is_a_lookalike_claim(gen, tmp_path):
    """Review 27 F9: com.Tencent.MM (another installable package) was basis ``package`` and an
    impersonation, prohibited by tbs-2023-10-wechat; it is a look-alike claim (review). The
    real package name under another key stays an impersonation (prohibited)."""
    variant = _apk(gen, tmp_path, "variant.apk", "com.Tencent.MM", "Chat", "test-rsa")
    exact = _apk(gen, tmp_path, "exact.apk", "com.tencent.mm", "Chat", "test-rsa")
    rc, doc = _scan(tmp_path, variant, exact)
    app = _app(doc, "variant.apk")
    assert [(f["rule"], f["kind"], f["strength"]) for f in app["findings"]] == [("tencent.wechat", "app", "weak")]
    (ev,) = app["findings"][0]["evidence"]
    assert (ev["basis"], ev["value"], ev["normalised"]) == ("package-lookalike", "com.Tencent.MM", "com.tencent.mm")
    assert _verdicts(app)["canada-tbs-2023"] == ("review", "vendor-app-review")
    assert _verdicts(_app(doc, "exact.apk"))["canada-tbs-2023"] == ("prohibited", "tbs-2023-10-wechat")
    assert rc == 1


# --- F2: --quick keeps a vendor key present as weak evidence, saying why ---------------------------

BYTEDANCE_EXTRA = """schema: apkscan-rules/1
pack: bdextra
vendor: ByteDance
version: "2026.11.29"
reviewed: "2026-11-29"
sources:
  S1: "fixtures/keys/test-rsa.pem and test-ec.pem standing in for ByteDance keys"
certificates:
  - id: BD_SHARED
    sha256: {rsa}
    confidence: high
    references: [S1]
  - id: BD_APP_UNKNOWN
    sha256: {ec}
    confidence: high
    references: [S1]
rules:
  - id: bdextra.shared-app
    app: An app sharing the key
    tags: [tiktok]
    match:
      package: [com.example.sharedkey]
      certificates:
        - ref: BD_SHARED
          shared: true
    references: [S1]
"""


@pytest.mark.parametrize("package,key,rule,cert,verdict", [
    ("com.example.ownclean", "test-ec", "bdextra.vendor", "BD_APP_UNKNOWN", "review"),  # known for no app
    ("com.example.ownclean", "test-rsa", "bdextra.vendor", "BD_SHARED", "review"),      # a shared key alone
    # with its package: the installed package makes it the app (weak, the measure's verdict)
    ("com.example.sharedkey", "test-rsa", "bdextra.shared-app", "BD_SHARED", "prohibited"),
])
def test_quick_keeps_a_vendor_key_as_weak_evidence(gen, tmp_path, package, key, rule, cert, verdict):
    """Review 27 F2: under --quick a verified ByteDance key left no finding at all (allowed, rc 0).
    Nothing is verified under --quick, so the key is present: weak, never confirmed, saying why."""
    sha = {k: hashlib.sha256(gen.cert_der(k)).hexdigest() for k in ("test-rsa", "test-ec")}
    pack = tmp_path / "bdextra.yaml"
    pack.write_text(BYTEDANCE_EXTRA.format(rsa=sha["test-rsa"], ec=sha["test-ec"]))
    apk = _apk(gen, tmp_path, "own.apk", package, "Own", key)
    clean = _apk(gen, tmp_path, "clean.apk", "com.example.clean", "Notes", "android-debug")
    policy = "us-no-tiktok-gov-devices-2022"
    rc, full = _scan(tmp_path, "--rules", pack, apk, clean, "--policy", policy)
    f = next(f for f in _app(full, "own.apk")["findings"] if f["rule"] == rule)
    assert f["strength"] == "confirmed" and _app(full, "own.apk")["verdict"] == "prohibited"
    rc, quick = _scan(tmp_path, "--quick", "--rules", pack, apk, clean, "--policy", policy)
    app = _app(quick, "own.apk")
    (f,) = [f for f in app["findings"] if f["rule"] == rule]
    assert f["strength"] == "weak"
    (ev,) = [e for e in f["evidence"] if e["field"].endswith("sha256")]
    assert (ev["basis"], ev["verified"], ev["matched"]) == ("certificate-present", False, cert)
    assert "not verified: --quick" in ev["location"]
    assert app["verdict"] == verdict
    assert _app(quick, "clean.apk")["verdict"] == "allowed"


# --- F6: --deep reads DEX files as Android loads them; a pass cut short is a partial scan -------

def _with_dex(gen, path: Path, dex: list[tuple[str, bytes]]) -> Path:
    """An unsigned APK (manifest from generate.py) whose DEX entries are ``dex``, in that order."""
    import io
    import zipfile

    base = zipfile.ZipFile(io.BytesIO(gen.build_unsigned(gen.App("com.example.video", "Video"))))
    path.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in base.infolist():
            if not info.filename.endswith(".dex"):
                z.writestr(info, base.read(info))
        for name, body in dex:
            z.writestr(name, body)
    return path


SDK_CLASS = b"Lcom/bytedance/sdk/open/tiktok/TikTokOpenApi;"


def test_decoy_dex_files_cannot_push_the_loaded_ones_out(gen, tmp_path):
    """Review 27 F6: 65 decoys classes100..164.dex listed before the real classes2.dex were the
    'first 64' read; the ByteDance SDK went unseen (allowed, rc 0). Android never loads them."""
    from test_dex_bounds import _dex

    plain = _dex([b"Lcom/example/Main;"], [0])
    decoys = [(f"classes{n}.dex", plain) for n in range(100, 165)]
    apk = _with_dex(gen, tmp_path / "in" / "decoys.apk",
                    [("classes.dex", plain), *decoys, ("classes2.dex", _dex([SDK_CLASS], [0]))])
    rc, doc = _scan(tmp_path, "--deep", apk, "--policy", "us-no-tiktok-gov-devices-2022")
    app = _app(doc, "decoys.apk")
    assert [f["kind"] for f in app["findings"]] == ["sdk"]
    assert _verdicts(app)["us-no-tiktok-gov-devices-2022"] == ("review", "us-nttgda-sdk")
    assert [w["code"] for w in app["warnings"]] == ["DEX_NOT_LOADED"]
    assert app["identity"]["completeness"]["dex"] == "read" and doc["errors"] == [] and rc == 0


def test_a_dex_pass_cut_short_is_a_partial_scan(gen, tmp_path, monkeypatch):
    """More DEX files Android loads than the limit: the ``dex`` part is not read (why: the code)
    and the input is an input error beside its findings (exit 3); the next input is scanned."""
    from test_dex_bounds import _dex

    from apkscan.rules import dex as dexmod

    monkeypatch.setattr(dexmod, "MAX_DEX_FILES", 2)
    plain = _dex([b"Lcom/example/Main;"], [0])
    many = _with_dex(gen, tmp_path / "in" / "many.apk",
                     [("classes.dex", plain), ("classes2.dex", plain), ("classes3.dex", _dex([SDK_CLASS], [0]))])
    few = _with_dex(gen, tmp_path / "in" / "few.apk", [("classes.dex", plain), ("classes2.dex", _dex([SDK_CLASS], [0]))])
    rc, doc = _scan(tmp_path, "--deep", many, few, "--policy", "us-no-tiktok-gov-devices-2022")
    part = _app(doc, "many.apk")["identity"]["completeness"]
    assert (part["dex"], part["why"]["dex"], part["complete"]) == ("not read", "DEX_LIMIT_EXCEEDED", False)
    (err,) = doc["errors"]
    assert err["source"]["path"].endswith("many.apk")
    assert [i["code"] for i in err["errors"]] == ["DEX_LIMIT_EXCEEDED"]
    assert _app(doc, "few.apk")["verdict"] == "review" and _app(doc, "few.apk")["identity"]["completeness"]["dex"] == "read"
    assert rc == 3


def test_a_timed_out_dex_pass_is_cut_and_says_why(tmp_path):
    """The deadline stops the pass: ``dex_pass`` names the INPUT_TIMEOUT that cut it, so the scan
    marks the ``dex`` part not read (not only a warning)."""
    from test_dex_bounds import _apk as dex_apk
    from test_dex_bounds import _dex

    from apkscan.apk.identify import identify
    from apkscan.rules.dex import dex_pass
    from apkscan.evaluate import _dex_part, incomplete

    apk = dex_apk(tmp_path / "one.apk", [_dex([b"Lcom/a/B;"], [0])])
    assert dex_pass(str(apk))[2] is None
    names, issues, cut = dex_pass(str(apk), deadline=0.0)
    assert names == set() and cut is not None and cut.code == "INPUT_TIMEOUT" and cut in issues
    identity = identify(str(FIXTURES / "apks" / "clean-v1v2v3.apk"))
    _dex_part(identity, cut)
    assert identity.completeness.to_dict()["dex"] == "not read"
    assert [i.code for i in incomplete(identity)] == ["INPUT_TIMEOUT"]
