"""The name caches keep no long hostile text, and a long text is matched as before.

A cache keyed by whole labels kept every long label a process matched (~6 MB per 1M-character
label), so a batch worker fed many such APKs grew without bound. Texts over ``LONG`` characters
are computed afresh (apkscan.rules.text_cache)."""

import pytest

from apkscan.rules import display_order, label_looks, label_words, normalise, safe_label
from apkscan.rules.loader import load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.selftest import example_identity
from apkscan.rules.text_cache import LONG

CACHES = [normalise.normalise, normalise.skeleton, normalise._forms, normalise.package_forms,
          normalise.readings, normalise._folded_forms, normalise._label_forms, label_words.label_words,
          label_looks.lookalike_forms,
          display_order.display_order, display_order.reordered, safe_label.safe_label, safe_label.first_line]


@pytest.fixture(scope="module")
def rules():
    return load_ruleset([])


def _findings(rules, label: str) -> list[tuple[str, str]]:
    found = match_identity(example_identity({"package": "com.example.long", "label": label}), rules, None)
    return sorted((f.rule, f.strength) for f in found)


def test_long_labels_leave_no_entry_in_any_name_cache(rules):
    _findings(rules, "warm up")
    before = [c.cache_info().currsize for c in CACHES]
    for i in range(5):
        _findings(rules, "微 " * (LONG // 2 + 10) + str(i))  # every form of it is long too
        _findings(rules, "Tik Tok! " * (LONG // 9 + 10) + str(i))
        _findings(rules, "T1k T0k y " * (LONG // 10 + 10) + str(i))  # look-alike forms too
    assert [c.cache_info().currsize for c in CACHES] == before


def test_a_long_label_is_matched_as_a_short_one(rules):
    """Zero-width padding past the bound still reads as the name (the skeleton drops it), cached or not."""
    short = _findings(rules, "TikTok")
    assert short and ("bytedance.tiktok", "weak") in short
    assert _findings(rules, "\u200b" * (LONG + 1) + "TikTok") == short
    assert _findings(rules, "\u200b" * (LONG - 10) + "TikTok") == short
    assert _findings(rules, "\u200b" * (LONG + 1) + "T1kT0k") == short  # its look-alike form too
