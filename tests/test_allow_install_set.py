"""An allow-list entry never lowers the verdict of an install set (review 64 F1).

A split bundle's ``split-mismatch`` is about what Android would install: the genuine app's split
(anyone can fetch it) beside an impostor's base, another allow-listed app's split, or the genuine
``base.apk`` dropped in as a second base must stay ``review`` with the genuine key allow-listed,
as the README promises ("split mismatches are `review` under every policy"); the genuine base with
its genuine split is still allowed. ``policies test`` decides each of these facts exactly as the
scan does (same assembling code): every bundle is also written as a policy example and both must
agree. Every APK is built here and signed by apksigner with the fixture keys.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from apkscan.policy.loader import load_policy
from apkscan.policy.selftest import run_policy_examples
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GENUINE = "3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81"  # fixtures/keys/test-rsa
IMPOSTOR = "c74d5d54aa82e780b6c53100afe5e034e6e41374dee04d43b8ee7c7c374f16fc"  # fixtures/keys/impostor
KEYS = {"test-rsa": GENUINE, "impostor": IMPOSTOR}

# name -> (members: (package, key, split name or None), expected verdict of com.example.bank)
CASES = {
    "impostor-base-genuine-split": ([("com.example.bank", "impostor", None),
                                     ("com.example.bank", "test-rsa", "config.en")], "review"),
    "impostor-base-other-apps-split": ([("com.example.bank", "impostor", None),
                                        ("com.example.other", "test-rsa", "config.en")], "review"),
    "genuine-second-base": ([("com.example.bank", "impostor", None),
                             ("com.example.bank", "test-rsa", "")], "review"),
    "genuine-base-impostor-split": ([("com.example.bank", "test-rsa", None),
                                     ("com.example.bank", "impostor", "config.en")], "review"),
    "genuine-base-genuine-split": ([("com.example.bank", "test-rsa", None),
                                    ("com.example.bank", "test-rsa", "config.en")], "allowed"),
}


def _policy_text() -> str:
    lines = ["schema: apkscan-policy/1", "policy: allow-bank-test", 'version: "1"', "default: allowed",
             "decisions:", "  - {id: split-mismatch, verdict: review, when: {kinds: [split-mismatch]}}",
             "allow:", f"  - {{package: com.example.bank, certificate: {GENUINE}}}",
             f"  - {{package: com.example.other, certificate: {GENUINE}}}", "examples:"]
    for name, (members, want) in CASES.items():
        (package, key, _), rest = members[0], members[1:]
        splits = ", ".join(f"{{package: {p}, split: \"{s}\", signers: [{{sha256: {KEYS[k]}}}]}}" for p, k, s in rest)
        decision = "split-mismatch" if want == "review" else "allow-list"
        lines.append(f"  - {{name: {name}, package: {package}, signers: [{{sha256: {KEYS[key]}}}], "
                     f"splits: [{splits}], expect: {{verdict: {want}, decision: {decision}}}}}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    sys.path.insert(0, str(FIXTURES))
    import axml_writer as ax
    import generate as g

    work = tmp_path_factory.mktemp("allow-sets")
    out = {}
    for name, (members, _) in CASES.items():
        with zipfile.ZipFile(work / f"{name}.apks", "w") as z:
            for i, (package, key, split) in enumerate(members):
                attrs = [ax.Attr("package", package, android=False)]
                attrs += [ax.Attr("split", split, android=False)] if split is not None else []
                app = g.App(package, None, package_attrs=attrs)
                data = g.sign(g.build_unsigned(app), work, [key], v1=True, v2=True, v3=True, min_sdk=21)
                z.writestr("base.apk" if i == 0 else f"member{i}.apk", data)
        out[name] = work / f"{name}.apks"
    (work / "allow.yaml").write_text(_policy_text())
    out["policy"] = work / "allow.yaml"
    return out


def _bank(rules, policy, path: Path, tmp_path: Path) -> dict:
    result = scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy)
    apps = result.to_dict()["apps"]
    return next(a for a in apps if a["package"] == "com.example.bank" and a["source"]["path"] == "base.apk")


@pytest.mark.parametrize("name", list(CASES))
def test_allow_entry_never_lowers_an_install_set(rules, bundles, tmp_path, name):
    """``--allow`` entries for both packages, the shipped policy (its ``split-mismatch`` decision)."""
    from apkscan.policy.loader import parse_allow

    allow = [parse_allow(f"com.example.bank:{GENUINE}"), parse_allow(f"com.example.other:{GENUINE}")]
    app = _bank(rules, load_policy(extra_allow=allow), bundles[name], tmp_path)
    want = CASES[name][1]
    assert app["verdict"] == want, app["findings"]
    mismatches = [f for f in app["findings"] if f["kind"] == "split-mismatch"]
    if want == "review":
        assert mismatches and all(f["verdict"] == "review" for f in mismatches)
        assert all(f["policy"]["decision"] == "split-mismatch" for f in mismatches)  # never the allow-list
        assert app["policy"]["decision"] == "split-mismatch"
    else:
        assert mismatches == [] and app["policy"]["decision"] == "allow-list"


def test_policies_test_decides_as_the_scan(rules, bundles, tmp_path):
    policy = load_policy(str(bundles["policy"]))
    results = {r.name: r for r in run_policy_examples(policy, rules)}
    for name in CASES:
        scanned = _bank(rules, policy, bundles[name], tmp_path / name)
        assert results[name].passed, results[name].detail
        assert (results[name].verdict, results[name].decision) == (scanned["verdict"], scanned["policy"]["decision"])


def test_allow_entry_leaves_an_ambiguous_manifest_to_the_policy(rules):
    """The package an allow entry names is the one in doubt: ``manifest-ambiguity`` stays review."""
    from apkscan.policy.decide import decide
    from apkscan.policy.loader import parse_allow
    from apkscan.rules.model import Finding
    from apkscan.rules.selftest import build_identity, example_certificate

    identity = build_identity("com.example.bank", signers=[example_certificate({"sha256": GENUINE})])
    finding = Finding(rule="apkscan.manifest-ambiguity", vendor="apkscan", app="com.example.bank",
                      strength="strong", kind="manifest-ambiguity", evidence=[], message="x", pack="apkscan")
    outcome = decide(identity, [finding], load_policy(extra_allow=[parse_allow(f"com.example.bank:{GENUINE}")]), rules)
    assert (outcome.verdict, finding.verdict, finding.policy["decision"]) == ("review", "review", "manifest-ambiguity")
    assert decide(identity, [], load_policy(extra_allow=[parse_allow(f"com.example.bank:{GENUINE}")])).verdict == "allowed"


def test_impostor_second_base_row_is_not_allowed(rules, bundles, tmp_path):
    """Genuine base first, an impostor's base of the same package after it, the genuine split:
    either base could be the one installed, so the impostor's own row must not read ``allowed``
    (final review 5: it did, with no finding naming the conflict) with the genuine key
    allow-listed. Both rows name the other base."""
    sys.path.insert(0, str(FIXTURES))
    import axml_writer as ax
    import generate as g
    from apkscan.policy.loader import parse_allow

    members = [("base.apk", "test-rsa", None), ("member1.apk", "impostor", ""), ("member2.apk", "test-rsa", "config.en")]
    target = tmp_path / "swapped.apks"
    with zipfile.ZipFile(target, "w") as z:
        for name, key, split in members:
            attrs = [ax.Attr("package", "com.example.bank", android=False)]
            attrs += [ax.Attr("split", split, android=False)] if split is not None else []
            app = g.App("com.example.bank", None, package_attrs=attrs)
            z.writestr(name, g.sign(g.build_unsigned(app), tmp_path, [key], v1=True, v2=True, v3=True, min_sdk=21))
    policy = load_policy(extra_allow=[parse_allow(f"com.example.bank:{GENUINE}")])
    result = scan([FileSource([str(target)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy)
    rows = {a["source"]["path"]: a for a in result.to_dict()["apps"] if a["package"] == "com.example.bank"}
    assert set(rows) == {"base.apk", "member1.apk"}
    for here, other in (("base.apk", "member1.apk"), ("member1.apk", "base.apk")):
        row = rows[here]
        mismatches = [f for f in row["findings"] if f["kind"] == "split-mismatch"]
        assert row["verdict"] == "review" and row["policy"]["decision"] == "split-mismatch", row["findings"]
        assert any("a second base APK of 'com.example.bank'" in f["message"] and other in f["message"]
                   for f in mismatches), mismatches
    impostor = [f for f in rows["member1.apk"]["findings"] if f["kind"] == "split-mismatch"]
    assert any("verified signers differ" in f["message"] for f in impostor)
