"""The rule index (apkscan.rules.index) leaves out only rules that could not match: the indexed
matcher and the one asking every rule agree on every fixture, adversarial and hostile APK, the
shared corpus, device records, and crafted near-misses of every exact package name and every
known certificate digest (one character off, confusables, case, other roles)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apkscan.apk.model import Certificate, PackageReading
from apkscan.rules.index import build, candidates
from apkscan.rules.matcher import match_identity

from test_rules_prefilter import rulesets  # noqa: F401 - the fixture: built-ins, one more pack, that pack alone

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _agree(identity, rules, classes=None):
    fast = match_identity(copy.deepcopy(identity), rules, classes)
    slow = match_identity(copy.deepcopy(identity), rules, classes, indexed=False)
    assert [f.to_dict() for f in fast] == [f.to_dict() for f in slow], identity.path
    return fast


def _apks(*folders):
    return sorted(p for f in folders if f.is_dir() for p in f.rglob("*.apk") if p.is_file())


def test_agree_on_every_fixture_adversarial_and_hostile_apk(rules):
    files = _apks(REPO / "fixtures" / "apks", REPO / "fixtures" / "adversarial", REPO / "fixtures" / "hostile")
    assert len(files) > 30
    found = [_agree(identify(str(p)), rules) for p in files]
    assert sum(bool(f) for f in found) > 5  # the fixtures do match rules: the comparison is not empty


def test_agree_on_the_shared_corpus(rules):
    files = _apks(SHARED)
    if not files:
        pytest.skip("../shared/corpus absent")
    for p in files:
        _agree(identify(str(p)), rules)


def _with_package(identity, name, how="framework"):
    ident = copy.deepcopy(identity)
    ident.manifest.package = name if how == "framework" else ident.manifest.package
    ident.manifest.package_readings = [PackageReading(ident.manifest.package, "framework")]
    if how != "framework":
        ident.manifest.package_readings.append(PackageReading(name, how))
    return ident


def _near(name: str) -> list[str]:
    return [name, name.upper(), name + ".x", name[:-1], "x" + name, name.replace("o", "\u043e"),
            name.replace("m", "rn"), name.replace(".", "\u2024"), f" {name} ", name.replace("i", "\u0131")]


def test_agree_on_near_misses_of_every_package_name(rules):
    base = identify(str(REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"))
    names = sorted({p for r in rules.rules for p in r.packages})
    assert names
    for name in names:
        for variant in _near(name):
            _agree(_with_package(base, variant), rules)
            _agree(_with_package(base, variant, how="RES_XML chunk 2"), rules)


def _certs(obj, seen=None):
    """Every Certificate object reachable in an identity (signers, lineage, extra certificates)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Certificate):
        yield obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _certs(getattr(obj, f.name), seen)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _certs(x, seen)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _certs(x, seen)


@pytest.mark.parametrize("fixture", ["clean-v1v2v3.apk", "rotated-lineage.apk", "wechat-forged-cert.apk",
                                     "v1-only.apk"])
def test_agree_on_every_known_digest_in_every_role(rules, fixture):
    """Each known certificate's digests put on the fixture's certificates one algorithm at a time,
    and one hex digit off: signer, lineage, present and forged roles all come from the fixture."""
    base = identify(str(REPO / "fixtures" / "apks" / fixture))
    assert list(_certs(base))
    known = [kc for p in rules.packs for kc in p.certificates.values()]
    assert known
    for kc in known:
        for algo in ("sha256", "sha1", "md5"):
            want = getattr(kc, algo)
            if not want:
                continue
            for value in (want, want[:-1] + ("0" if want[-1] != "0" else "1"), want.upper()):
                ident = copy.deepcopy(base)
                for cert in _certs(ident):
                    setattr(cert, algo, value)
                _agree(ident, rules)


def test_agree_on_device_records(rules):
    """Records name a package and maybe digests the device recorded (never verified here)."""
    from apkscan.sources.interface import RecordedApp, RecordedCertificate
    from apkscan.sources.records import recorded_identity

    names = sorted({p for r in rules.rules for p in r.packages})
    known = [kc for p in rules.packs for kc in p.certificates.values()]
    for i, name in enumerate(names):
        kc = known[i % len(known)]
        certs = [[], [RecordedCertificate(sha256=kc.sha256, sha1=kc.sha1, md5=kc.md5)],
                 [RecordedCertificate(md5=kc.md5 or kc.sha1)]]
        for variant in _near(name)[:3]:
            for recorded in certs:
                app = RecordedApp(("backup.ab", variant), variant, "adb backup _manifest", certificates=recorded)
                _agree(recorded_identity(app), rules)


def test_candidates_leave_out_rules_for_other_packages(rules):
    """The index does cut work: an app of one vendor package is matched against a few rules."""
    pack = max(rules.packs, key=lambda p: len(p.rules))
    ix = build(pack)
    base = identify(str(REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"))
    from apkscan.rules.certview import CertView

    picked = candidates(pack, ix, [base.manifest.package], CertView.of(base), labels=[base.manifest.label])
    assert len(picked) < len(pack.rules) / 4 and not [r for r in picked if r.kind == "sdk"]
    # a rule whose only pattern is a label is asked only when the pack's label patterns find a label
    assert [r for r in pack.rules if r.package_globs] == [r for r in picked if r.package_globs]
    def label_only(p):
        return [r for r in p.rules if r.labels and not (r.package_globs or r.package_regexes or r.subjects
                                                        or r.issuers or r.source_stamps)]

    pack = max(rules.packs, key=lambda p: len(label_only(p)))  # the banned apps' names (review 60 F5)
    ix = build(pack)
    picked = candidates(pack, ix, [base.manifest.package], CertView.of(base), labels=[base.manifest.label])
    assert len(label_only(pack)) > 20 and not [r for r in picked if r in label_only(pack)]
    named = candidates(pack, ix, [base.manifest.package], CertView.of(base), labels=["x", "TikTok"])
    assert [r for r in pack.rules if r.labels] == [r for r in named if r.labels]
    deep = candidates(pack, ix, [base.manifest.package], CertView.of(base), sdk=True)
    assert [r for r in deep if r.kind == "sdk"] == [r for r in pack.rules if r.kind == "sdk"]


def test_agree_on_near_misses_of_every_label(rules):
    """A rule whose only pattern is a label is left out when the pack's label patterns, combined,
    find no label: never when one of them alone would (in any locale, as other parsers read it,
    or as the launcher activity's)."""
    from test_rules_prefilter import _labels

    base = identify(str(REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"))
    texts = _labels(rules)
    assert len(texts) > 100
    found = 0
    for i, text in enumerate(texts):
        ident = copy.deepcopy(base)
        where = i % 4
        ident.manifest.label = text if where == 0 else "Plain"
        ident.manifest.labels = {"fr": text} if where == 1 else {}
        ident.manifest.other_labels = [text] if where == 2 else []
        ident.manifest.launcher_labels = [text] if where == 3 else []
        found += bool(_agree(ident, rules))
    assert found > 50  # the labels do match rules: the comparison is not empty


@pytest.mark.parametrize("fixture", ["clean-v1v2v3.apk", "rotated-lineage.apk", "v1-only.apk"])
def test_agree_on_near_misses_of_every_publisher_name_and_subject(rulesets, fixture):
    """A pack's publisher names are asked only of an app whose certificates could carry them
    (:class:`apkscan.rules.prefilter.Publishers`): each name near every publisher name, pattern and
    known subject put on every certificate of the fixture (signers, lineage, present), as subject
    and as issuer, with the built-in packs, one more pack with publishers, and that pack alone."""
    from test_rules_prefilter import named_variants

    base = identify(str(REPO / "fixtures" / "apks" / fixture))
    for rules in rulesets:
        found = sum(any(e.field.endswith((".O", ".CN", ".OU")) for f in _agree(ident, rules) for e in f.evidence)
                    for ident in named_variants(base, rules))
        assert found  # publisher evidence was found: the comparison is not empty


def test_publisher_names_are_not_asked_of_certificates_that_cannot_carry_them(rules, monkeypatch):
    """An app that could match (a vendor's package name) on a key whose subject names no publisher:
    no pack's publisher names are asked (they were, certificate by certificate, of every pack)."""
    from apkscan.rules import matcher

    asked = []
    real = matcher.publisher_evidence
    monkeypatch.setattr(matcher, "publisher_evidence", lambda *a, **k: asked.append(a[0].name) or real(*a, **k))
    base = identify(str(REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"))
    name = next(p for r in rules.rules for p in r.packages if p.startswith("com.ss.android"))
    assert _agree(_with_package(base, name), rules)  # a finding: it was matched, not prefiltered
    asked.clear()
    assert match_identity(_with_package(base, name), rules) and asked == []
    ident = _with_package(base, name)
    for cert in _certs(ident):
        cert.subject_attrs = {"O": ["Kaspersky Fan Club"]}
    assert match_identity(ident, rules) and asked == ["kaspersky"]  # a listed name's first word: asked
    assert _agree(ident, rules)


def test_agree_on_publisher_names_a_device_recorded(rulesets):
    """Certificates a device recorded (never verified) are asked for publisher names too."""
    from test_rules_prefilter import _names

    from apkscan.sources.interface import RecordedApp, RecordedCertificate
    from apkscan.sources.records import recorded_identity

    for rules in rulesets:
        for attrs in _names(rules)[::3]:
            app = RecordedApp(("backup.ab", "com.example.app"), "com.example.app", "adb backup _manifest",
                              certificates=[RecordedCertificate(sha256="ab" * 32)])
            ident = recorded_identity(app)
            for cert in ident.recorded_certificates:
                cert.subject_attrs = copy.deepcopy(attrs)
            _agree(ident, rules)


def test_agree_with_dex_classes(rules):
    """--deep: SDK rules are asked when classes were read, by both matchers alike."""
    prefixes = [p for r in rules.rules if r.kind == "sdk" for p in r.dex_prefixes]
    assert prefixes
    base = identify(str(REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"))
    classes = [p + "Foo" for p in prefixes[::3]] + ["com.example.Main"]
    assert any(f.kind == "sdk" for f in _agree(base, rules, classes))
