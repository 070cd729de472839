"""A banned app's name drawn with look-alikes in a repackage's label takes that app's label rule.

Left open by reviews 82 and 87: ``T1kT0k``, ``TikT0k``, ``W3Chat`` (digits drawn as letters),
``VVeChat`` (vv for w), ``Ti k Tok``, ``T ikTok``, ``Kaspersk y`` (one stray separator in a
word) and ``🇹🇮🇰🇹🇴🇰`` (regional indicator letters) came out ``allowed`` with no finding. A
label's ``lookalike`` forms (``apkscan/rules/label_looks.py``) read them; a match there is a
``label`` claim (``weak``) whose evidence says it was a guess. Benign names near a banned one
(``tests/benign_labels.txt``) take no new rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import test_match_strength
from test_label_edges import assert_label_claims

from apkscan.rules.label_looks import lookalike_forms
from apkscan.rules.label_words import LOOKALIKE, label_location, label_words
from apkscan.rules.loader import load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.normalise import _label_forms, form_patterns, form_search, skeleton
from apkscan.rules.regex_safety import MAX_ASKED
from apkscan.rules.selftest import example_identity

gen = test_match_strength.gen  # the fixture: fixtures/generate.py with its keys in tmp_path

LOOKS = label_location(LOOKALIKE)
TIKTOK, WECHAT, QQ, KASPERSKY = "bytedance.tiktok", "tencent.wechat", "tencent.mobileqq", "kaspersky.label"


def ri(letters: str) -> str:
    """``letters`` in regional indicator symbols (U+1F1E6..U+1F1FF)."""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in letters)


# label -> (rule whose claim it is, the form that matched as evidence shows it, evidence location)
CLAIMS = {
    "T1kT0k": (TIKTOK, "tiktok", LOOKS),
    "TikT0k": (TIKTOK, "tiktok", LOOKS),
    "7ikTok": (TIKTOK, "tiktok", LOOKS),
    "Musica11y": (TIKTOK, "musically", LOOKS),  # 1 read as l
    "W3Chat": (WECHAT, "wechat", LOOKS),
    "VVeChat": (WECHAT, "wechat", LOOKS),
    "Ti k Tok": (TIKTOK, "tik tok", LOOKS),  # a lone letter joined to the word before it
    "T ikTok": (TIKTOK, "tiktok", LOOKS),  # ... or after it
    "Kaspersk y": (KASPERSKY, "kaspersky", LOOKS),
    "T 1 k T 0 k": (TIKTOK, "tiktok", LOOKS),  # letter-spaced (the words form joins it), digits as letters
    ri("TIKTOK"): (TIKTOK, "tiktok", LOOKS),
    ri("QQ"): (QQ, "qq", LOOKS),
    ri("T") + "ikTok": (TIKTOK, "tiktok", LOOKS),
    # a reading Android shows, then its look-alikes: the evidence names both
    "T1kT0k<br>Notes": (TIKTOK, "tiktok", "the label as Android shows it: safe-label; read with look-alikes, a guess"),
    # a flag after the name is looked past by the words form, asked first, as before
    "WeChat " + ri("CN"): (WECHAT, "wechat", label_location("words")),
}
# near a banned name, each no claim: a digit-only word, a one-letter word, two lone letters, a flag
NO_CLAIM = ["TikTok 2", "Lemon 8 Recipes", "U Like", "u like", "A Pico", "Q Q", "Q 1", "Q1", "V4 VPN",
            "Toto 1", "Tik Tac Toe", "Wee Chat", "We Chat Pro", "Ti Kt Ok", ri("WECHAT"), ri("TV")]


def test_look_alike_names_in_real_apks_take_the_apps_label_rule(gen, tmp_path):
    """Real APKs (fixtures/generate.py, apksigner), package renamed, a key no pack knows, each
    labelled with one look-alike name; one scan through the CLI under canada-tbs-2023, which
    reviews every TikTok, WeChat, QQ and Kaspersky claim."""
    assert_label_claims(gen, tmp_path, CLAIMS, NO_CLAIM)  # each weak: a guess, never more than a label


@pytest.mark.parametrize("label,forms", [
    ("T1kT0k", ("tiktok", "tlktok")), ("W3Chat", ("wechat",)), ("VVeChat", ("wechat",)),
    ("Ti k Tok", ("tik tok", "ti ktok")), ("T ikTok", ("tiktok",)), ("Kaspersk y", ("kaspersky",)),
    ("TikTok 2", ()), ("Lemon 8", ()), ("365", ()), ("4K Video", ("ak video",)),  # a word of digits only stays
    ("U Like", ()), ("A b", ()), ("Q Q", ()), ("Q Q Q", ()),  # a one-letter word; lone letters together
    ("X 7", ()),  # a lone letter joins a word with letters only
    (ri("TIKTOK"), ("tiktok",)), (ri("QQ"), ("qq",)),
    ("WeChat " + ri("CN"), ()), (ri("CH"), ()),  # a region's flag stays a symbol
    (ri("WECHAT"), ("we",)),  # WE, then CH and AT: the flags of Switzerland and Austria
    (ri("TIKTO") + "k", ("tiktok",)),  # an odd last one is a letter
    ("TikTok", ()), ("!!!", ()),
])
def test_the_lookalike_forms(label, forms):
    skel = skeleton(label)
    assert lookalike_forms(skel, label_words(skel)) == forms


def test_the_lookalike_forms_are_asked_of_labels_only_after_the_words_form():
    tiktok = form_patterns(re.compile("^Tik[ ._-]?Tok$"))
    assert form_search(tiktok, "T1kT0k", label=True) == (LOOKALIKE, "tiktok")
    assert form_search(tiktok, "T1kT0k") is None  # a certificate name has no such form
    assert form_search(tiktok, "T1kT0k!<br>x", label=True) == ("safe-label, lookalike", "tiktok")
    assert [how for how, _, _ in _label_forms("«T1kT0k»")] == ["normalised", "words", LOOKALIKE, LOOKALIKE]


@pytest.mark.parametrize("unit", ["T1k ", "ab c ", ri("QZ") + " ", "vv1 ", "T1k", ri("QZ"), "vv"])
def test_a_long_label_gives_forms_of_what_a_rule_asks(unit):
    """Each form is built from the words form's first 2 x MAX_ASKED + 8 characters, one word
    of a million characters too, and begins as the form of the whole label would."""
    label = unit * 300_000
    forms = lookalike_forms(skeleton(label), label_words(skeleton(label)))
    assert forms and all(len(f) <= 2 * MAX_ASKED + 8 for f in forms)
    short = unit * (2 * MAX_ASKED // len(unit) + 2)
    assert [f[:MAX_ASKED] for f in forms] == [f[:MAX_ASKED] for f in lookalike_forms(skeleton(short), label_words(skeleton(short)))]


def _benign() -> list[str]:
    text = (Path(__file__).parent / "benign_labels.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_benign_labels_take_no_new_rule(monkeypatch):
    """Each benign label takes the same rules with the lookalike forms as without them, and
    none through them (a brand rule may find a brand, ``Tencent Watch``, as before)."""
    labels = _benign()
    assert len(labels) > 300
    rules = load_ruleset([])

    def found(label):
        return {(f.rule, e.location) for f in match_identity(
            example_identity({"package": "com.example.benign", "label": label}), rules, None) for e in f.evidence}
    now = {label: found(label) for label in labels}
    assert not [(label, rule) for label, hits in now.items() for rule, where in hits if where == LOOKS]
    _label_forms.cache_clear()
    monkeypatch.setattr("apkscan.rules.normalise.lookalike_forms", lambda *args: ())
    try:
        assert {label: found(label) for label in labels} == now
    finally:
        _label_forms.cache_clear()
