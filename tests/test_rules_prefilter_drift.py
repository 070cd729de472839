"""The prefilter cannot drift from the matcher on names (labels, certificate subjects and
issuers): over generated texts in every form a reader may meet (other case, full width,
look-alike letters of other scripts, invisible and blank characters), every app the reference
matcher finds label or name evidence in is one the prefilter says could match.

Both ask :func:`apkscan.rules.normalise.form_search`; these tests hold the search itself to
what it promises and the two sides to each other, so a form asked by one only fails here."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apkscan.apk.identify import identify
from apkscan.rules.matcher import match_identity
from apkscan.rules.normalise import CAPITAL_CONFUSABLES, CONFUSABLES, form_patterns, form_search, forms
from test_rules_index import _certs
from test_rules_prefilter import _sound, with_pack

REPO = Path(__file__).resolve().parents[1]

PACK = """\
schema: apkscan-rules/1
pack: drift
vendor: Drift
version: "1"
reviewed: "2026-01-01"
publisher:
  - subject: {O: "^Kaspersky Lab$"}
    references: [test]
  - subject: {O: "(?i)тенсент"}
    references: [test]
rules:
  - id: drift.labels
    app: Drift apps
    match: {label: ["(?i)касперск", "^TikTok$", "(?i)wechat|微信", "Notes"]}
    references: [test]
  - id: drift.issuer
    app: Drift issued
    match: {package: [com.drift.app], issuer: [{CN: "^Android Debug$"}]}
    references: [test]
sources:
  test: a test pack
"""

WORDS = ["Kaspersky Lab", "Касперского", "TikTok", "WeChat", "微信", "Notes", "Тенсент", "Android Debug"]
# each ASCII letter's look-alikes in other scripts (the tables the skeleton maps), and more
LOOKS: dict[str, list[str]] = {}
for _table in (CONFUSABLES, CAPITAL_CONFUSABLES):
    for _src, _ascii in _table.items():
        LOOKS.setdefault(_ascii, []).append(_src)
for _cyr, _lat in zip("КаеорсАЕОРСТ", "KaeopcAEOPCT"):  # and the other way: Latin in a Cyrillic word
    LOOKS.setdefault(_cyr, []).append(_lat)


def _variants(ch: str) -> list[str]:
    out = [ch, ch.upper(), ch.lower(), *LOOKS.get(ch, ()), *LOOKS.get(ch.lower(), ())]
    if "!" <= ch <= "~":
        out.append(chr(ord(ch) + 0xFEE0))  # full width
    out += [ch + "\u200b", ch + "\u0301", "\u00a0" + ch, ch + "\u2800"]  # invisible, diacritic, blanks
    out += [ch + " ", ch + "/", ch + "\u1dc4"]  # letter-spaced, split, a mark of another block (the words form)
    out += DRAWN.get(ch.lower(), [])  # the lookalike forms: a digit drawn as the letter, vv, a regional indicator
    return out


DRAWN = {c: [d] for c, d in zip("oiest", "01357")} | {"a": ["4"], "w": ["vv", "VV"], "l": ["1"]}
for _c in "abcdefghijklmnopqrstuvwxyz":
    DRAWN.setdefault(_c, []).append(chr(0x1F1E6 + ord(_c) - ord("a")))


@st.composite
def texts(draw) -> str:
    """One of the patterns' words, each character maybe replaced by a form of it, maybe cut or padded."""
    word = draw(st.sampled_from(WORDS))
    out = "".join(draw(st.sampled_from(_variants(ch))) for ch in word)
    cut = draw(st.sampled_from([0, 0, 0, 1, 2]))
    out = out[:len(out) - cut] if cut else out
    out = draw(st.sampled_from(["", "My ", " ", "\u2800", "★", '"'])) + out + draw(st.sampled_from(["", " app", "\t", "!", " 🎵"]))
    return draw(st.sampled_from(SHOWN))(out)


# as Android shows a name (review 79): stored reversed behind an override, HTML and a second line
SHOWN = [lambda s: s, lambda s: s, lambda s: "\u202e" + s[::-1], lambda s: s[:2] + "\u202e" + s[:1:-1],
         lambda s: "\u202e" + s[::-1] + "\u202c", lambda s: f"<b>{s}</b>", lambda s: s + "<br>x",
         lambda s: s + "\nmore", lambda s: f"&#{ord(s[0])};{s[1:]}" if s else s]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return with_pack(tmp_path_factory, "drift", PACK), identify(str(REPO / "fixtures" / "apks" / "clean-v1v2v3.apk"))


def _named(findings, basis: tuple[str, ...]) -> bool:
    return any(e.basis in basis for f in findings for e in f.evidence)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts())
@example(text="Kасперского")  # a Latin K in a Cyrillic word: the skeleton side (review 53 F3)
@example(text="ＴikＴok")
@example(text="tiktok")  # its own normalised form (review 65 H2)
@example(text="musicаl")
@example(text="\u202ekoTkiT")  # display order (review 79 F1)
@example(text="T&#105;kTok")  # safe label (review 79 F2)
@example(text="TikTok\nFree Notes")
@example(text="TikTok!")  # the words form: ends, separators, CJK, letter-spaced
@example(text="微 信")
@example(text="T i k T o k")
@example(text="\u202e!koTkiT")
@example(text="T1kT0k")  # the lookalike forms: digits, a lone letter, regional indicators
@example(text="Ti k Tok")
@example(text="\U0001f1f9\U0001f1ee\U0001f1f0\U0001f1f9\U0001f1f4\U0001f1f0")
def test_every_label_the_matcher_finds_the_prefilter_lets_through(world, text):
    rules, base = world
    ident = copy.deepcopy(base)
    ident.manifest.label, ident.manifest.labels = text, {}
    could = _sound(ident, rules)  # asserts the reference matcher finds nothing when it says no
    if _named(match_identity(copy.deepcopy(ident), rules, indexed=False), ("label",)):
        assert could


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts())
@example(text="Kaspersky Lab")
@example(text="ТЕНСЕНТ")
@example(text="Android Debug\u200b")
@example(text="\u202ebaL yksrepsaK")  # display order (review 79 F1)
@example(text="\u202egubeD diordnA")
def test_every_name_the_matcher_finds_the_prefilter_lets_through(world, text):
    """The text as ``O`` and ``CN`` of every certificate's subject and issuer (no label)."""
    rules, base = world
    ident = copy.deepcopy(base)
    ident.manifest.label, ident.manifest.labels = "", {}
    for cert in _certs(ident):
        cert.subject_attrs, cert.issuer_attrs = {"O": [text], "CN": [text]}, {"O": [text], "CN": [text]}
    could = _sound(ident, rules)
    if _named(match_identity(copy.deepcopy(ident), rules, indexed=False), ("subject", "subject-present", "issuer")):
        assert could


def test_the_generated_texts_reach_both_answers(world):
    """The properties above are not empty: forms of the words are found, cut ones are not."""
    rules, base = world
    found = []
    for text in ["Kасперского", "ＴikＴok", "T\u200bikTok", "TikTo", "Wе\u0301Chat", "Note"]:
        ident = copy.deepcopy(base)
        ident.manifest.label, ident.manifest.labels = text, {}
        found.append(_named(match_identity(ident, rules, indexed=False), ("label",)))
    assert found == [True, True, True, False, True, False]


def test_form_search_says_which_form_was_found():
    cyrillic = form_patterns(re.compile("(?i)касперск"))
    assert form_search(cyrillic, "Касперского") == ("raw", "Касперского")
    assert form_search(cyrillic, "Kасперского") == ("skeleton", "kacnepckoro")  # only its letters mapped
    tiktok = form_patterns(re.compile("^TikTok$"))
    assert form_search(tiktok, "TikTok") == ("raw", "TikTok")
    assert form_search(tiktok, "ＴikＴok") == ("normalised", "tiktok")
    assert form_search(tiktok, "TikTok", folded_only=True) == ("normalised", "tiktok")  # case ignored there
    # a text that is its own normalised form is asked with case ignored too (review 65 H2)
    assert form_search(tiktok, "tiktok") == ("normalised", "tiktok")
    # as shown (review 79): a label's readings only when asked as a label
    assert form_search(tiktok, "\u202ekoTkiT") == ("display-order", "TikTok")
    assert form_search(tiktok, "T&#105;kTok") is None
    assert form_search(tiktok, "T&#105;kTok", label=True) == ("safe-label", "TikTok")
    assert form_search(tiktok, "<b>\u202ekoTkiT</b>", label=True) == ("safe-label, display-order", "TikTok")
    assert form_search(tiktok, "tiktok", folded_only=True) == ("normalised", "tiktok")
    assert form_search(form_patterns(re.compile("^WeChat$")), "wechat") == ("normalised", "wechat")
    assert form_search(form_patterns(re.compile("tok")), "tiktok") == ("raw", "tiktok")
    assert form_search(tiktok, "TikTo") is None
    # a label's words form (apkscan.rules.label_words): labels only
    assert form_search(tiktok, "«TikTok»", label=True) == ("words", "tiktok")
    assert form_search(tiktok, "«TikTok»") is None
    assert form_search(cyrillic, "К а с п е р с к о г о", label=True) == ("words", "kacnepckoro")
    assert [how for how, _ in forms("ＴikＴok")] == ["raw", "normalised"]
