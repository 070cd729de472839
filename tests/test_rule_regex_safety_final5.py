"""The regex safety check's holes found by review final5 (F2, F3, F4).

F2: a run of optional items (``^a?a?…a?aa…a$``) skipped the walk and backtracked 2^n (one
30-letter label cost 79 s). F3: ``(\\u0130a|ia)+`` passed because ``"İ".lower()`` is two
characters, yet ``re`` under IGNORECASE equates ``İ`` and ``i``. F4: everyday linear patterns
(``^com\\.example(\\.[a-z0-9_]+)*$``) were refused as nested quantifiers, so a pack holding one
failed to load.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict

import pytest

from apkscan.rules.loader import lint_file
from apkscan.rules.regex_safety import MAX_CHAIN, _degree, _variants, simple, unsafe
from cli_helpers import run
from test_rule_regex_safety import _rule_file

OPTIONAL_RUNS = {  # each exponential in its length on a text of its letters
    "^" + "a?" * 30 + "a" * 30 + "$": "30 repeats in a row",
    "^" + "a?" * 30 + "a+$": "31 repeats in a row",
    "^" + "(?:a|ab)?" * 24 + "c": "24 repeats in a row",
    "^" + "(?:a|aa)" * 20 + "$": "20 repeats in a row",  # parsed a(?:|a): an optional in disguise
    "^" + "a{1,2}" * 20 + "$": "20 repeats in a row",
    "^x?a?x?a?x?a?$": "3 repeats in a row",  # a?a?a? with x? between: skipped, they meet
}
FOLDS = [  # written as ASCII escapes, so the skeleton side (non-ASCII patterns only) does not see them
    "(\\u0130a|ia)+", "^(\\u0130a|ia)+$", "(\\u0390a|\\u1fd3a)+", "(\\ufb05a|\\ufb06a)+",  # missed before
    "(\\u212aa|ka)+", "(\\u017fa|sa)+", "(\\u2126a|\\u03c9a)+", "(\\u1e9ea|\\u00dfa)+", "(\\u0131a|Ia)+",
]
SEPARATED = ["^com\\.example(\\.[a-z0-9_]+)*$", "^TikTok( [A-Z][a-z]+)*$", "^Tik ?Tok( \\d+(\\.\\d+)*)?$",
             "^([a-z]+\\.)*[a-z]+$", "^(\\u212a[a-j]+)+$"]
NOT_SEPARATED = {  # look alike, but iterations can share text, or one body matches a text two ways
    "(\\.[a-z.]+)*$": "holds another repeat", "(\\.a?a?)*$": "holds another repeat",
    "(\\.a*a*)*$": "holds another repeat", "(K[a-z]+)*$": "holds another repeat",  # k under IGNORECASE
    "(\\u212a[a-z]+)*$": "holds another repeat",  # Kelvin sign: k to re
}


def _refused(tmp_path, pattern: str, why: str) -> None:
    pack, errors = lint_file(_rule_file(tmp_path, "label", pattern))
    assert pack is None and [e.code for e in errors] == ["RULES_REGEX_UNSAFE"], (pattern, errors)
    assert why in errors[0].reason, errors[0].reason


def _accepted(tmp_path, pattern: str) -> None:
    assert unsafe(pattern) is None, pattern
    pack, errors = lint_file(_rule_file(tmp_path, "label", pattern))
    assert errors == [] and pack is not None, errors


@pytest.mark.parametrize("pattern", list(OPTIONAL_RUNS))
def test_runs_of_optional_items_are_refused_a_few_are_not(tmp_path, pattern):
    _refused(tmp_path, pattern, OPTIONAL_RUNS[pattern])
    for ordinary in ("^Tik ?Tok$", "^com\\.tencent\\.mm(\\.lite)?$", "^Tik[ ._-]?Tok[ ._-]?Lite$",
                     "^a?b?a$", "^(We[ ._-]?Chat|微信|Wei[ ._-]?xin)$"):
        _accepted(tmp_path, ordinary)


def test_the_start_up_shortcut_counts_choices():
    """``simple`` skips the walk only with at most MAX_CHAIN ``?``/``|``: then no chain is longer."""
    from re import _parser as P  # noqa: N812

    assert not simple("a?a?a?") and not simple("(a|b|c|d)") and not simple("^" + "a?" * 30 + "a" * 30 + "$")
    assert simple("^Tik[ ._-]?Tok[ ._-]?Lite$") and simple("(?:x|y)?z") and simple("(?P<n>a)?b")
    for pattern in ["\\(?a\\)?b?", "[?|]", "(?i)a?b|c", "\\\\(?:a)?", *OPTIONAL_RUNS, *FOLDS, *SEPARATED]:
        assert not simple(pattern) or _degree(list(P.parse(pattern))) <= MAX_CHAIN, pattern


def test_case_folds_re_makes_count(tmp_path):
    for pattern in FOLDS:
        _refused(tmp_path, pattern, "alternatives can match the same text")


def test_variants_are_what_re_takes_under_ignorecase_over_all_of_unicode():
    """For every character re folds with another (grouped as sre does: its simple lowercase, and
    the few extra folds it lists), ``_variants`` is exactly that group; spot-checked with ``re``."""
    import _sre
    from re._casefix import _EXTRA_CASES

    groups: dict[int, set[str]] = defaultdict(set)
    for cp in range(sys.maxunicode + 1):
        if not 0xD800 <= cp <= 0xDFFF:
            groups[_sre.unicode_tolower(cp)].add(chr(cp))
    checked = 0
    for low, members in groups.items():
        group = set(members).union(*(groups[k] for k in _EXTRA_CASES.get(low, ())))
        for ch in members if len(group) > 1 else ():
            assert _variants(ch) == group, (hex(ord(ch)), group)
            checked += 1
    assert checked > 2500
    for ch in "İıKſẞΩµςϴa":
        assert all(re.fullmatch(re.escape(ch), v, re.IGNORECASE) for v in _variants(ch)), ch
    assert "i" in _variants("\u0130") and "k" in _variants("\u212a") and _variants("\u4e00") == {"\u4e00"}


def test_separated_repeats_are_accepted(tmp_path):
    for pattern in SEPARATED:
        _accepted(tmp_path, pattern)
    for pattern, why in NOT_SEPARATED.items():
        _refused(tmp_path, pattern, why)
    for pattern in ["^(a|aa)+$", "(a+)+$", "(a*)*b", "(\\w+\\s?)+$", "(.*a){20}"]:  # review 64
        assert unsafe(pattern) is not None, pattern


def test_a_pack_of_package_and_label_patterns_loads_and_scans(tmp_path):
    """The reviewer's r2 files: a pack with ``(\\.[a-z0-9_]+)*`` lints and scans (exit 0)."""
    rules = _rule_file(tmp_path, "package_regex", SEPARATED[0])
    lint = run("rules", "lint", rules)
    assert lint.returncode == 0, lint.stderr
    scan = run("scan", "--no-store", "fixtures/apks/clean-v1v2v3.apk", "--rules", rules)
    assert scan.returncode in (0, 1) and "RULES_REGEX_UNSAFE" not in scan.stderr, scan.stderr
