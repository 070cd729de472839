"""Look-alike labels that evaded the look-alike forms of review 87 take the app's label rule now.

Left open by the first look-alike forms (``apkscan/rules/label_looks.py``), each came out
``allowed`` with no finding: a label whose 1s need both readings (``T1kTok 1ite``: i in one word,
l in another), two lone letters that join to different sides (``Ti k T ok``), the ASCII
drawings of a letter read from the label as written (``TikTo|<``, ``|ark``, ``Iark``,
``\\/\\/eChat``, ``\\/igo \\/ideo``) and ``rn`` for ``m`` (``Lernon8``, ``Drearnina``). Each is
weak ``label`` evidence whose location says it was a guess; near-miss benign names take none
(here and in ``tests/benign_labels.txt``).
"""

from __future__ import annotations

import pytest
import test_match_strength
from test_label_edges import assert_label_claims

from apkscan.rules.label_looks import drawn_letters, lookalike_forms
from apkscan.rules.label_words import LOOKALIKE, label_location, label_words
from apkscan.rules.normalise import _label_forms, drawn_skeleton, skeleton

gen = test_match_strength.gen  # the fixture: fixtures/generate.py with its keys in tmp_path

LOOKS = label_location(LOOKALIKE)
B = "bytedance."
# label -> (rule whose claim it is, the form that matched as evidence shows it, evidence location)
CLAIMS = {
    "T1kTok 1ite": (B + "tiktok-lite", "tiktok lite", LOOKS),  # 1 as i in one word, as l in the next
    "TIkTok Iite": (B + "tiktok-lite", "tiktok lite", LOOKS),  # the same with capital I
    "Mus1ca11y": (B + "tiktok", "musically", LOOKS),  # i and ll in one word
    "Douy1n 1ive compan1on": (B + "ss-android-ugc-livepro", "douyin live companion", LOOKS),
    "Ti k T ok": (B + "tiktok", "tik tok", LOOKS),  # one lone letter joined before, one after
    "TikTo|<": (B + "tiktok", "tiktok", LOOKS),
    "|ark": (B + "larksuite-suite", "lark", LOOKS),
    "Iark": (B + "larksuite-suite", "lark", LOOKS),
    "MusicaIIy": (B + "tiktok", "musically", LOOKS),
    "|<aspersky": ("kaspersky.label", "kaspersky", LOOKS),
    "\\/\\/eChat": ("tencent.wechat", "wechat", LOOKS),
    "\\/igo \\/ideo": (B + "ss-android-ugc-boom", "vigo video", LOOKS),
    "Lernon8": (B + "bd-nproject", "lemon8", LOOKS),
    "Drearnina": (B + "lemon-dreamina", "dreamina", LOOKS),
    "TikTok Rnusic": (B + "tiktok-android-music", "tiktok music", LOOKS),
    "T1k T0|< 1ite": (B + "tiktok-lite", "tik tok lite", LOOKS),  # a drawing, then 1 read both ways
    # drawings read in the label as shown: an invisible character between, NFKC, capital look-alikes
    "I\u200bark": (B + "larksuite-suite", "lark", LOOKS),
    "\uff29ark": (B + "larksuite-suite", "lark", LOOKS),  # full-width I
    "\u0406ark": (B + "larksuite-suite", "lark", LOOKS),  # Cyrillic capital I
    "I\u0430rk": (B + "larksuite-suite", "lark", LOOKS),  # beside a Cyrillic small a
    "TikTo\u2502<": (B + "tiktok", "tiktok", LOOKS),  # a box-drawing stroke
    "\u2223ark": (B + "larksuite-suite", "lark", LOOKS),  # divides
    "\\\u200b/\\/eChat": ("tencent.wechat", "wechat", LOOKS),
}
# near a banned name, each no claim
NO_CLAIM = ["Iris Mail", "Lite Reader", "Barn Manager", "Corn Farm", "\\/PN", "Lark Player", "Lark | Notes",
            "1ark 2", "Tik|Tok Tik", "I Lark", "IARK", "Lemon 8 Recipes", "Drearn", "\\/\\/eb Chat",
            "Lark \u2502 Notes", "\u0406ARK"]


def test_look_alike_names_left_open_take_the_apps_label_rule(gen, tmp_path):
    """Real APKs (fixtures/generate.py, apksigner), package renamed, a key no pack knows, each
    labelled with one look-alike name; one CLI scan under canada-tbs-2023 (every TikTok, WeChat,
    Kaspersky and other ByteDance claim reviewed)."""
    assert_label_claims(gen, tmp_path, CLAIMS, NO_CLAIM)  # each weak: a guess, never more than a label


@pytest.mark.parametrize("label,drawn", [
    ("TikTo|<", "TikTok"), ("|ark", "1ark"), ("Iark", "1ark"), ("\\/\\/eChat", "weChat"), ("\\/PN", "vPN"),
    ("MusicaIIy", "Musica11y"), ("Tik|Tok", "Tik1Tok"),
    ("IARK", None), ("I Lark", None), ("Lark | Notes", None), ("TikTok", None), ("A/B", None),  # no drawing
])
def test_the_drawn_letters(label, drawn):
    assert drawn_letters(label) == drawn


@pytest.mark.parametrize("label,forms", [
    ("T1kTok 1ite", ("tiktok iite", "tlktok lite", "tiktok lite")),  # all i, all l, by neighbours
    ("Nove1 1ark", ("novei iark", "novel lark")),  # by neighbours: beside a vowel at a word's end: l
    ("Ti k T ok", ("tik tok",)),
    ("Ti k Tok", ("tik tok", "ti ktok")), ("T ikTok", ("tiktok",)),  # as before
    ("Lernon8", ("lemon8",)), ("Barn Manager", ("bam manager",)),
    ("Q Q", ()), ("U Like", ()), ("TikTok 2", ()),
])
def test_the_new_readings(label, forms):
    skel = skeleton(label)
    assert lookalike_forms(skel, label_words(skel)) == forms


@pytest.mark.parametrize("label,drawn", [
    ("I\u200bark", "1ark"), ("\uff29ark", "1ark"), ("\u0406ark", "1ark"), ("TikTo|\u200b<", "tiktok"),
    ("\uffe8ark", "1ark"), ("IARK", ""), ("\u0406ARK", ""), ("Tik Tok", ""),
])
def test_the_drawings_are_read_in_the_label_as_shown(label, drawn):
    assert drawn_skeleton(label) == drawn


def test_the_drawn_base_is_asked_as_a_lookalike_form():
    forms = [(how, value) for how, value, _ in _label_forms("|ark")]
    assert (LOOKALIKE, "lark") in forms and forms[0] == ("normalised", "|ark")


def test_a_long_drawn_label_gives_forms_of_what_a_rule_asks():
    """The drawn base is cut as the label's own words form is: every form at most 2 x MAX_ASKED + 8."""
    from apkscan.rules.regex_safety import MAX_ASKED
    for label in ("|<\\/I" * 200_000, "T1k |ark " * 100_000):
        forms = [v for how, v, _ in _label_forms(label) if how == LOOKALIKE]
        assert forms and all(len(f) <= 2 * MAX_ASKED + 8 for f in forms)


def test_a_label_needing_every_reading_has_at_most_twelve_forms():
    """Two words forms x two joins x three readings of 1: the bound the module states."""
    label = "T1k |ark x Ti k T1 Iite \\/\\/e rn"
    forms = [v for how, v, _ in _label_forms(label) if how == LOOKALIKE]
    assert 8 < len(forms) <= 12
