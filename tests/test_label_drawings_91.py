"""ASCII drawings of a letter left open by review 90 take the app's label rule now (review 91).

``/\\/\\`` and ``|\\/|`` (m), ``|\\|`` (n), ``|-|`` (h), ``|_|`` (u) and ``()`` (o) were read as
nothing or as strokes (``/\\/\\usically`` read ``/v\\usically``, ``Ress()`` stayed ``resso`` less
its o), so a repackage showing one took no label rule, though a launcher title shows the
letter. Each is read in the label as shown (:func:`~apkscan.rules.label_looks.drawn_letters`),
a stroke of :data:`~apkscan.rules.label_looks.STROKES` for ``|`` and a bar of
:data:`~apkscan.rules.label_looks.BARS` for ``-``; a match is weak ``label`` evidence whose
location says it was a guess. Each drawing has a label built to fool it and names it must not
fire on (here and in ``tests/benign_labels.txt``).
"""

from __future__ import annotations

import pytest
import test_match_strength
from test_label_edges import assert_label_claims

from apkscan.rules.label_looks import drawn_letters
from apkscan.rules.label_words import LOOKALIKE, label_location
from apkscan.rules.normalise import drawn_skeleton

gen = test_match_strength.gen  # the fixture: fixtures/generate.py with its keys in tmp_path

LOOKS = label_location(LOOKALIKE)
B = "bytedance."
# label -> (rule whose claim it is, the form that matched as evidence shows it, evidence location)
CLAIMS = {
    "/\\/\\usica11y": (B + "tiktok", "musically", LOOKS),  # /\/\ m
    "|\\/|usical.ly": (B + "tiktok", "musical ly", LOOKS),  # |\/| m (the . read as a space)
    "Drea/\\/\\ina": (B + "lemon-dreamina", "dreamina", LOOKS),
    "Fa|\\||\\|o": (B + "fans-magellan-android", "fanno", LOOKS),  # |\| n, twice
    "Tik Tok |\\|ow": (B + "ss-android-ugc-now", "tik tok now", LOOKS),
    "|-|ypic": (B + "xt-retouchoversea", "hypic", LOOKS),  # |-| h
    "Wec|-|at": ("tencent.wechat", "wechat", LOOKS),
    "Wec\u2502\u2500\u2502at": ("tencent.wechat", "wechat", LOOKS),  # box-drawing strokes and bar
    "Wec|\u2010|at": ("tencent.wechat", "wechat", LOOKS),  # a Unicode hyphen
    "|_|Like": (B + "gorgeous-liteinternational", "ulike", LOOKS),  # |_| u
    "Do|_|yin": (B + "ss-android-ugc-aweme", "douyin", LOOKS),
    "Ress()": (B + "moonvideo-android-resso", "resso", LOOKS),  # () o
    "PIC()": (B + "picovr-assistantphone-global", "pico", LOOKS),
    "T()utiao": (B + "ss-android-article-news", "toutiao", LOOKS),
    "Ress\uff08\uff09": (B + "moonvideo-android-resso", "resso", LOOKS),  # full-width (): NFKC first
    "Le/\\/\\()|\\|8": (B + "bd-nproject", "lemon8", LOOKS),  # three drawings in one word
    "\\/\\/|-|ee": (B + "snail", "whee", LOOKS),  # \/\/ w (review 90) beside |-| h
    "Ti|<To|<": (B + "tiktok", "tiktok", LOOKS),  # the brief's examples that review 90 read already
    "\\/\\/eChat": ("tencent.wechat", "wechat", LOOKS),
    "|<aspersky": ("kaspersky.label", "kaspersky", LOOKS),
}
# near a banned name or holding a drawing, each no claim
NO_CLAIM = ["()Q", "Q()", "Q()Q", "()", "Timer ()", "f(x) Calculator", "Func() Playground", "Ress() Fan",
            "PIC() Park", "/\\/\\usic Player", "|\\/|usic Box", "|-|ypic Guide", "|_|Like It",
            "Fa|\\||\\|o Calculator", "Drea/\\/\\ Journal", "Wolfram|Alpha", "I/O", "A/B Testing",
            "Tik Tok |\\|otes Tips", "|| Pause Music", "Ruler |-| Measure", "/\\ Peak", "Office 365"]


def test_drawn_names_take_the_apps_label_rule(gen, tmp_path):
    """Real APKs (fixtures/generate.py, apksigner), package renamed, a key no pack knows, each
    labelled with one drawn name; one CLI scan under canada-tbs-2023 (every TikTok, WeChat,
    Kaspersky and other ByteDance claim reviewed)."""
    assert_label_claims(gen, tmp_path, CLAIMS, NO_CLAIM)  # each weak: a guess, never more than a label


@pytest.mark.parametrize("label,drawn", [
    ("/\\/\\usic", "music"), ("|\\/|usic", "music"), ("|\\|ow", "now"), ("|-|i", "hi"), ("|_|p", "up"),
    ("Ress()", "Resso"), ("\u2502\\\u2503ow", "now"), ("|\u2013|i", "hi"), ("|\u2501|i", "hi"),
    ("Fa|\\||\\|o", "Fanno"),
    ("/\\/\\/\\", "m/\\"),  # leftmost first, one pass: a drawing's characters are read once
    ("\\/\\/", "w"), ("|\\/", "|v"),  # review 90's: \/\/ w; a stroke beside no letter stays
    ("|<", "k"), ("|ark", "1ark"),
    ("(x)", None), ("( )", None), ("|=|", None), ("|.|", None), ("/\\", None), ("A/B", None),  # no drawing
])
def test_the_new_drawn_letters(label, drawn):
    assert drawn_letters(label) == drawn


def test_drawings_are_read_in_the_label_as_shown():
    """NFKC (full-width parentheses, backslash and vertical line) and invisible characters gone."""
    assert drawn_skeleton("Ress\uff08\uff09") == "resso"
    assert drawn_skeleton("\uff5c\uff3c\uff5cow") == "now"
    assert drawn_skeleton("|\u200b-|ypic") == "hypic"


def test_a_long_drawn_label_is_read_in_one_pass():
    """Every drawing is of fixed length: the substitution is linear in the label, and the forms
    are cut as every other (2 x MAX_ASKED + 8)."""
    from apkscan.rules.normalise import _label_forms
    from apkscan.rules.regex_safety import MAX_ASKED
    label = "/\\/\\|\\||-||_|()" * 200_000
    assert drawn_letters(label) == "mnhuo" * 200_000
    forms = [v for how, v, _ in _label_forms(label) if how == LOOKALIKE]
    assert forms and all(len(f) <= 2 * MAX_ASKED + 8 for f in forms)
