"""The prefilter (apkscan.rules.prefilter) says "nothing can match" only for apps the reference
matcher (every rule asked, no index, no prefilter) finds nothing in: on every fixture,
adversarial and hostile APK, the shared corpus, and near misses of every label, publisher name
and subject the packs know; from an identity and from its facts as the store keeps them (JSON).
It does leave work out, and its combined regexes find exactly what their patterns find."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from apkscan.apk.identify import identify
from apkscan.rules.matcher import match_identity
from apkscan.rules.prefilter import _either, facts_of, prefilter_of

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"

EXTRA = """\
schema: apkscan-rules/1
pack: extra
vendor: Example
version: "1"
reviewed: "2026-01-01"
publisher:
  - subject: {O: "(?i)^example corp$", CN: "Example"}
    references: [test]
  - names: ["Example Holdings Ltd"]
    references: [test]
certificates:
  - id: WIDGETS
    subject: CN=Widget Maker,OU=Gadgets,O=Widgets,C=NZ
    sha256: "1111111111111111111111111111111111111111111111111111111111111111"
    serial: "2a"
    not_before: "2020-01-01T00:00:00Z"
    not_after: "2050-01-01T00:00:00Z"
    references: [test]
rules:
  - id: extra.example
    app: Example apps
    match: {package_glob: ["com.example.*"], package_exclude: ["com.example.excluded*"]}
    references: [test]
  - id: extra.regex
    app: Regex apps
    match: {package_regex: ["^org\\\\.(foo|bar)\\\\.[a-z]+$"]}
    references: [test]
  - id: extra.notes
    app: Notes
    match: {label: ["(?i)notes|clean", "^(Ex)ample \\\\1$"]}
    references: [test]
  - id: extra.issuer
    app: Issued apps
    match: {package: [com.issued.app], issuer: [{CN: "^Android Debug$"}]}
    references: [test]
sources:
  test: a test pack
"""


def with_pack(tmp_path_factory, name: str, text: str, builtin: bool = True):
    """The built-in packs (or none) and one more, written to a file as ``name``."""
    from apkscan.rules.loader import load_ruleset

    path = tmp_path_factory.mktemp("rules") / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    rules = load_ruleset([path], builtin=builtin)
    assert [p.name for p in rules.packs][-1] == name, rules.notices
    return rules


@pytest.fixture(scope="module")
def rulesets(tmp_path_factory):
    from apkscan.rules.loader import load_ruleset

    return [load_ruleset(), with_pack(tmp_path_factory, "extra", EXTRA),
            with_pack(tmp_path_factory, "extra", EXTRA, builtin=False)]


def _sound(identity, rules) -> bool:
    """The prefilter's answer, from the identity and from its stored (JSON) facts alike; when it
    says nothing can match, the reference matcher finds nothing."""
    facts = facts_of(identity)
    could = prefilter_of(rules).could_match(facts)
    assert prefilter_of(rules).could_match(json.loads(json.dumps(facts))) == could
    if not could:
        assert match_identity(copy.deepcopy(identity), rules, indexed=False) == [], identity.path
        assert match_identity(identity, rules) == []
    return could


def _apks(*folders):
    return sorted(p for f in folders if f.is_dir() for p in f.rglob("*.apk") if p.is_file())


def test_sound_on_every_fixture_adversarial_and_hostile_apk(rulesets):
    files = _apks(REPO / "fixtures" / "apks", REPO / "fixtures" / "adversarial", REPO / "fixtures" / "hostile")
    identities = [identify(str(p)) for p in files]
    for rules in rulesets:
        could = [_sound(i, rules) for i in identities]
        assert 0 < sum(could) < len(could)  # it decides something both ways: the test is not empty


def test_sound_on_the_shared_corpus(rulesets):
    files = _apks(SHARED)
    if not files:
        pytest.skip("../shared/corpus absent")
    for p in files:
        identity = identify(str(p))
        for rules in rulesets:
            _sound(identity, rules)


LATIN_FOR_CYRILLIC = str.maketrans("КаеорсАЕОРС", "KaeopcAEOPC")  # one script's letters for the other's


def _labels(rules) -> list[str]:
    """Texts near every label pattern of the packs: the pattern's literal words, in other cases,
    with confusables, invisible characters and full-width forms, and cut short."""
    out = ["Example Example", "Ex Example", "notes", "NOTES", "clean app"]
    for rule in rules.rules:
        for p in rule.labels:
            for word in re.findall(r"[^\\^$()|?*+.\[\]{}]{2,}", p.pattern.replace("(?i)", "")):
                word = word.strip("\\b")
                out += [word, word.upper(), word.lower(), word[:-1], f"My {word} app", word.replace("e", "\u0435"),
                        "\u200b".join(word), "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word),
                        # review 53: blanks around it, one letter of another script swapped for a look-alike
                        word + " ", word + "\u00a0", "\u2800" + word, word + "\u2800\t",
                        word.translate(LATIN_FOR_CYRILLIC), word.translate(LATIN_FOR_CYRILLIC).title()]
    return sorted(set(out))


def test_sound_on_near_misses_of_every_label(rulesets):
    base = identify(str(REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"))
    for rules in rulesets:
        hits = 0
        for text in _labels(rules):
            ident = copy.deepcopy(base)
            ident.manifest.label, ident.manifest.labels = text, {"fr": text + " (fr)"}
            hits += _sound(ident, rules)
        assert hits


def named_variants(base, rules):
    """Copies of ``base`` with each of :func:`_names` put on every certificate (verified signers,
    lineage, certificates present), as subject and then as issuer."""
    from test_rules_index import _certs

    for attrs in _names(rules):
        for field in ("subject_attrs", "issuer_attrs"):
            ident = copy.deepcopy(base)
            for cert in _certs(ident):
                setattr(cert, field, copy.deepcopy(attrs))
            yield ident


def _names(rules) -> list[dict[str, list[str]]]:
    """Subjects near every publisher name and pattern the packs know (listed names whole, by their
    first word, with legal forms, confusables and case), and every known certificate's subject."""
    from apkscan.rules.keys import _dn

    values = ["Example Corp", "example corp", "Example", "Example Holdings", "Android Debug"]
    for pack in rules.packs:
        for name in pack.publisher_names:
            first = name.split()[0]
            values += [name, first, f"{first} Fan Club", name.upper(), name.replace("a", "\u0430"), f"{name}, Inc.",
                       name.lower(), chr(ord(name[0]) + 0xFEE0) + name[1:] if "!" <= name[0] <= "~" else name]
        for kc in pack.certificates.values():
            if kc.subject:
                values += [v for _k, v in _dn(kc.subject)]
        for pattern in pack.publishers + [n for r in pack.rules for n in r.subjects + r.issuers]:
            for regex in pattern.attrs.values():  # the pattern's words in another case, with a look-alike letter
                for word in re.findall(r"[^\\^$()|?*+.\[\]{}]{3,}", regex.pattern.replace("(?i)", "")):
                    values += [word.upper(), word.replace("e", "\u0435"), word.replace("a", "\u0430").title()]
    attrs = [{"O": [v]} for v in values] + [{"CN": [v], "O": [v]} for v in values]
    for pack in rules.packs:
        for kc in pack.certificates.values():
            if kc.subject:
                dn: dict[str, list[str]] = {}
                for k, v in _dn(kc.subject):
                    dn.setdefault(k, []).append(v)
                attrs.append(dn)
    return attrs


@pytest.mark.parametrize("fixture", ["clean-v1v2v3.apk", "rotated-lineage.apk", "v1-only.apk"])
def test_sound_on_near_misses_of_every_publisher_name_and_subject(rulesets, fixture):
    """Each name put on every certificate of the fixture as subject and as issuer (verified
    signers, lineage, certificates present), with the fixture's own serial and dates."""
    base = identify(str(REPO / "fixtures" / "apks" / fixture))
    for rules in rulesets:
        hits = sum(_sound(ident, rules) for ident in named_variants(base, rules))
        assert hits


def test_sound_on_counterfeits_of_every_known_subject(rulesets):
    """A certificate copying a known certificate's subject and serial or dates with another key (a
    counterfeit, found whatever the publisher patterns say): the prefilter must let it through."""
    from test_rules_index import _certs

    from apkscan.rules.keys import _dn

    base = identify(str(REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"))
    for rules in rulesets:
        known = [kc for p in rules.packs for kc in p.certificates.values() if kc.subject and kc.serial]
        assert known
        for kc in known:
            dn: dict[str, list[str]] = {}
            for k, v in _dn(kc.subject):
                dn.setdefault(k, []).append(v)
            ident = copy.deepcopy(base)
            for cert in _certs(ident):
                cert.subject_attrs, cert.serial = copy.deepcopy(dn), kc.serial
            assert _sound(ident, rules)
            assert any(f.kind == "counterfeit-certificate" for f in match_identity(ident, rules, indexed=False))


def test_it_leaves_out_the_work_for_an_app_that_matches_nothing(rulesets):
    base = identify(str(REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"))
    assert not prefilter_of(rulesets[0]).could_match(facts_of(base))
    assert prefilter_of(rulesets[0]) is prefilter_of(rulesets[0])  # built once per rule set


PATTERNS = [
    ["(?i)tencent|腾讯", "^QQ$", "^(WeChat|微信)$"],
    ["(?i)\\bbyte", "(?s)a.b", "(?m)^x$", "(?a)\\w+$"],
    ["(ab)\\1", "(?P<n>c)(?P=n)", "x"],  # group references: asked one by one
    ["(?x) a b  # comment", "z"],  # verbose: asked one by one
    ["(a)(b)(c)", "(?:d)", "e{2}"],
    # anchored at the start (asked there only, review 60 F5), and look-alikes of anchored ones that are not
    ["^a|b", "^(c|d)$", "^[|]x", "^\\|y|z", "(?m)^q$", "(?i)^TikTok$", "^[]|]w", "^[^]|]v", "^(e)\\1$",
     "^ab(?#(|)c|zz", "^ab(?#[)|zz", "^a[]|b]|zz"],
]
TEXTS = ["", "Tencent", "TENCENT QQ", "腾讯视频", "QQ", "QQ ", "WeChat", "微信", "bytedance", "a\nb", "q\nx\nr",
         "é", "abab", "cc", "x", "ab", "a b", "z", "abc", "dd", "ee", "e",
         "b", "xb", "c", "d", "|x", "zz", "y", "|y", "r\nq", "tiktok", " TikTok", "]w", "|w", "xv", "av", "ee\n", "xzz", "a]"]


def test_only_patterns_anchored_at_the_start_are_asked_there_only():
    from apkscan.rules.prefilter import _anchored
    got = {p: _anchored(re.compile(p)) for p in PATTERNS[-1]}
    assert got == {"^a|b": False, "^(c|d)$": True, "^[|]x": True, "^\\|y|z": False, "(?m)^q$": False,
                   "(?i)^TikTok$": True, "^[]|]w": True, "^[^]|]v": True, "^(e)\\1$": True,
                   "^ab(?#(|)c|zz": False, "^ab(?#[)|zz": False, "^a[]|b]|zz": False}


@pytest.mark.parametrize("patterns", PATTERNS)
def test_combined_patterns_find_what_their_patterns_find(patterns):
    compiled = [re.compile(p) for p in patterns]
    either = _either(compiled)
    for text in TEXTS:
        assert bool(either.search(text)) == any(p.search(text) for p in compiled), (patterns, text)
    assert _either([]) is None
