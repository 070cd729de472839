"""A banned app's name edited slightly in a repackage's label still takes that app's label rule.

The label patterns are whole names (``^Tik[ ._-]?Tok$``), so ``TikTok!``, ``"TikTok"``,
``★WeChat★``, ``TikTok 🎵``, ``Tik/Tok``, ``T i k T o k``, ``微 信`` (a space, an ideographic
space or a middle dot between the Han characters) and ``抖 音`` came out ``allowed`` with no
finding, and so did an accent from outside U+0300-U+036F (``Tik\\u1dc4Tok``). A label's
``words`` form (``apkscan/rules/label_words.py``) looks past punctuation, symbols and spacing
at its ends and between its words; letters and digits stay, so a longer label, ``TikTok 2`` or
``Downloader for TikTok!``, is still no claim.
"""

from __future__ import annotations

import re

import pytest
import test_match_strength
from test_match_strength import _apk, _app, _scan

from apkscan.rules.label_words import label_location, label_words
from apkscan.apk.identify import identify
from apkscan.rules.label_words import WORDS as WORDS_FORM
from apkscan.rules.normalise import _label_forms, form_patterns, form_search, skeleton
from apkscan.rules.regex_safety import MAX_ASKED

gen = test_match_strength.gen  # the fixture: fixtures/generate.py with its keys in tmp_path

WORDS = "the label read as its words: punctuation, symbols and spacing at its ends and between its words looked past"
TIKTOK, LITE, WECHAT, DOUYIN = "bytedance.tiktok", "bytedance.tiktok-lite", "tencent.wechat", "bytedance.ss-android-ugc-aweme"
# label -> (rule whose claim it is, the form that matched as evidence shows it, evidence location)
CLAIMS = {
    "TikTok!": (TIKTOK, "tiktok", WORDS),
    "TikTok.": (TIKTOK, "tiktok", WORDS),
    '"TikTok"': (TIKTOK, "tiktok", WORDS),
    "«TikTok»": (TIKTOK, "tiktok", WORDS),
    "TikTok 🎵": (TIKTOK, "tiktok", WORDS),
    "Tik/Tok": (TIKTOK, "tik tok", WORDS),
    "Tik~Tok": (TIKTOK, "tik tok", WORDS),
    "Tik - Tok": (TIKTOK, "tik tok", WORDS),
    "T i k T o k": (TIKTOK, "tiktok", WORDS),
    "TikTok Lite!": (LITE, "tiktok lite", WORDS),
    "WeChat…": (WECHAT, "wechat", WORDS),
    "★WeChat★": (WECHAT, "wechat", WORDS),
    "微 信": (WECHAT, "微信", WORDS),
    "微\u3000信": (WECHAT, "微信", WORDS),
    "微·信": (WECHAT, "微信", WORDS),
    "【微信】": (WECHAT, "微信", WORDS),
    "抖 音": (DOUYIN, "抖音", WORDS),
    # a reading Android shows, then its words
    "TikTok!<br>Notes": (TIKTOK, "tiktok", "the label as Android shows it: safe-label; read as its words"),
    "\u202e!koTkiT": (TIKTOK, "tiktok", "the label as Android shows it: display-order; read as its words"),
    # accents and marks of the other script-neutral mark blocks: the skeleton drops them
    "Tik\u1dc4Tok": (TIKTOK, "tiktok", None),
    "TikTok\u20d7": (TIKTOK, "tiktok", None),
    # a nonspacing or enclosing mark of a script's own block: the words form drops it (review 87 F2a)
    "TikTok\u0483": (TIKTOK, "tiktok", WORDS),
    "TikTok\u3099": (TIKTOK, "tiktok", WORDS),
    "Tik\u0483Tok": (TIKTOK, "tiktok", WORDS),
    "TikTok\u093c": (TIKTOK, "tiktok", WORDS),
    "TikTok\u0591": (TIKTOK, "tiktok", WORDS),
    "TikTok\u0e47": (TIKTOK, "tiktok", WORDS),
    "TikTok\u0670": (TIKTOK, "tiktok", WORDS),
    "微信\u302a": (WECHAT, "微信", WORDS),
    "微\u3099信": (WECHAT, "微信", WORDS),
    # a letter drawn as a separator, read as one (review 87 F2b); CJK strokes between CJK letters
    "Tik\u02bcTok": (TIKTOK, "tik tok", WORDS),
    "Tik\u02cdTok": (TIKTOK, "tik tok", WORDS),
    "Tik\u02c8Tok": (TIKTOK, "tik tok", WORDS),
    "Tik\u0640Tok": (TIKTOK, "tik tok", WORDS),
    "We\u02bcChat": (WECHAT, "we chat", WORDS),
    "微\u4e28信": (WECHAT, "微信", WORDS),
    "微\u4e36信": (WECHAT, "微信", WORDS),
    "微\u4e3f信": (WECHAT, "微信", WORDS),
    "微\u2f01信": (WECHAT, "微信", WORDS),
    "微\u3021信": (WECHAT, "微信", WORDS),
    "抖\u30fc音": (DOUYIN, "抖音", WORDS),
    "抖\u4e36音": (DOUYIN, "抖音", WORDS),
    # a name's syllables split: the patterns take [ ._-]? between them (review 87 F2c); None: the raw label matched
    "Dou yin": (DOUYIN, None, None),
    "Dou-yin": (DOUYIN, None, None),
    "dou.yin": (DOUYIN, "dou.yin", None),
    "Tou tiao": ("bytedance.ss-android-article-news", None, None),
    "Kas-persky Internet Security": ("kaspersky.label", None, None),
    "Kasper sky": ("kaspersky.label", None, None),
}
# longer labels, a digit, another word: no claim, as before
NO_CLAIM = ["Downloader for TikTok!", "TikTok 2", "TikTok 2!", "«TikTok» 2", "TikTok's", "Lark Player!",
            "微信 2", "★Notes★", "Tik Tok Tik",
            # two one-letter words are no letter-spaced name: QQ's rule is ^QQ$ (review 87 F3)
            "Q Q", "Q-Q", "Q.Q.", "q q", "Q. Q.", "Q & A"]


def test_edited_names_in_real_apks_take_the_apps_label_rule(gen, tmp_path):
    """Real APKs (fixtures/generate.py, apksigner), package renamed, a key no pack knows, each
    labelled with one edited name; one scan through the CLI under canada-tbs-2023, which reviews
    every TikTok, ByteDance and WeChat claim."""
    assert_label_claims(gen, tmp_path, CLAIMS, NO_CLAIM)


def assert_label_claims(gen, tmp_path, claims: dict, no_claim: list[str]) -> None:
    """Each label as a real APK (package renamed, a key no pack knows), one CLI scan under
    canada-tbs-2023: each of ``claims`` takes its rule, weak label evidence in the form and
    location given, and is reviewed; each of ``no_claim`` has no finding and is allowed."""
    names = {}
    for i, label in enumerate([*claims, *no_claim]):
        names[label] = f"app{i}.apk"
        _apk(gen, tmp_path, names[label], "com.example.video", label, "unlisted-new")
    _, doc = _scan(tmp_path, tmp_path / "in", "--policy", "canada-tbs-2023")
    for label, (rule, form, location) in claims.items():
        app = _app(doc, names[label])
        assert app["label"] == label
        (f,) = [f for f in app["findings"] if f["rule"] == rule] or [None]
        assert f is not None, (label, app["findings"])
        assert (f["kind"], f["strength"]) == ("app", "weak"), label
        (e,) = f["evidence"]
        assert (e["basis"], e["value"], e.get("normalised"), e.get("location")) == ("label", label, form, location), label
        assert app["verdicts"]["canada-tbs-2023"]["verdict"] == "review", label
    for label in no_claim:
        app = _app(doc, names[label])
        assert app["findings"] == [] and app["verdicts"]["canada-tbs-2023"]["verdict"] == "allowed", label


@pytest.mark.parametrize("label,words", [
    ("TikTok!", "tiktok"), ("«WeChat»", "wechat"), ("TikTok 🎵", "tiktok"), ("#\ufe0f\u20e3TikTok", "tiktok"),
    ("TikTok 2", "tiktok 2"), ("TikTok 1\ufe0f\u20e3", "tiktok 1"),  # a digit stays, also a keycap one
    ("TikTok Lite", "tiktok lite"), ("Downloader for TikTok!", "downloader for tiktok"),
    ("微 信", "微信"), ("微・信", "微信"), ("위 챗", "위챗"), ("ティック トック", "ティックトック"),
    ("微 Chat", "微 chat"),  # between a CJK and a Latin letter: a space, as a word break
    ("T.i.k.T.o.k", "tiktok"), ("T i k Tok", "tik tok"), ("Lemon 8", "lemon 8"), ("U Like", "u like"),
    ("Ti k Tok", "ti k tok"),  # an uneven split is left (module docstring)
    ("Q Q", "q q"), ("Q.Q.", "q q"), ("A B C", "abc"),  # three letters in a row, not two
    ("Tik\u02bcTok", "tik tok"), ("微\u4e28\u3099信", "微信"), ("抖\u4e36\u4e36音", "抖音"),
    ("微\u4e28", "微\u4e28"), ("\u4e28信", "\u4e28信"), ("a\u4e28b", "a\u4e28b"),  # a stroke not between two CJK letters stays
    ("WeChat 🇨🇳", "wechat"),  # a flag after a name: regional indicators are symbols
    ("!!!", ""), ("★", ""),
])
def test_the_words_form(label, words):
    assert label_words(skeleton(label)) == words


def test_ascii_words_take_the_fast_path_the_slow_one_would_give():
    """label_words splits an ASCII skeleton on [^A-Za-z0-9]: true only while every other printable
    ASCII character is a separator (P*, S*, Zs) and the skeleton keeps no ASCII control."""
    import unicodedata

    from apkscan.rules import label_words as lw

    for cp in range(0x20, 0x7F):
        assert chr(cp).isalnum() or unicodedata.category(chr(cp))[0] in "PSZ", hex(cp)
    assert all(skeleton(chr(cp)) == "" for cp in range(0x20)) and skeleton("\x7f") == ""
    for text in ("a-b", "Tik/Tok!", "T i k T o k", "«x» y", "x\u3000y"):
        assert lw.label_words(skeleton(text)) == " ".join(lw._joined(list(lw._runs(skeleton(text)))))


def test_the_words_form_is_asked_of_labels_only():
    """Certificate names and packages have no words form: ``O=TikTok!`` is not ``^TikTok$``."""
    tiktok = form_patterns(re.compile("^Tik[ ._-]?Tok$"))
    assert form_search(tiktok, "TikTok!", label=True) == ("words", "tiktok")
    assert form_search(tiktok, "TikTok!") is None
    assert form_search(tiktok, "TikTok<br>x!", label=True) == ("safe-label", "TikTok")  # its own reading first
    assert form_search(tiktok, "TikTok!<br>x", label=True) == ("safe-label, words", "tiktok")
    assert label_location("words") == WORDS and label_location("skeleton") is None


@pytest.mark.parametrize("unit", ["微 ", "a "])
def test_a_multi_million_character_label_is_read_for_what_a_rule_asks(gen, tmp_path, unit):
    """Review 87 F1: the words form joined a letter-spaced or CJK-spaced label piece by piece,
    quadratic in its length (2M characters: about a minute and a gigabyte; matching is not under
    --timeout). Only the first MAX_ASKED characters of the form are built, what a rule asks."""
    full = unit * 1_000_000
    path = _apk(gen, tmp_path, "big.apk", "com.example.video", full, "unlisted-new")
    read = identify(path).manifest
    assert any(x == full for x in read.other_labels)  # the whole label, as a resource reader reads it
    how, words, _ = _label_forms(full)[-1]
    assert (how, words[:MAX_ASKED + 1]) == (WORDS_FORM, unit[0] * MAX_ASKED)
    _, doc = _scan(tmp_path, tmp_path / "in", "--policy", "canada-tbs-2023")
    app = _app(doc, "big.apk")
    assert app["findings"] == [] and app["verdicts"]["canada-tbs-2023"]["verdict"] == "allowed"
