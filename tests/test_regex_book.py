"""The rule packs' compiled expressions and safety verdicts kept between runs (rules/regex_book.py).

A pattern built from the book must be the pattern ``re.compile`` builds (``Pattern.__eq__``
compares pattern, flags and code); a damaged entry is compiled again; a book where others can
write is not read, so a planted "safe" verdict or a planted never-matching code cannot steer
detection; with the book, the same inputs get the same findings.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from cli_helpers import copy, run

from apkscan.rules import cache, confusables, label_looks, label_words, normalise, regex_book, safe_label
from apkscan.rules.loader import RulesInvalid, load_ruleset
from apkscan.rules.prefilter import Prefilter

pytestmark = pytest.mark.skipif(regex_book._internals() is None, reason="the book is off on this interpreter")

UNSAFE = "^(a+)+$"  # nested quantifiers: refused by regex_safety


@pytest.fixture
def fresh_book(monkeypatch):
    """A book as a new process has it: nothing read yet (each test has its own XDG cache: conftest),
    and no pattern's forms remembered (patterns compare by value: an earlier test's would be hit)."""
    def fresh():
        monkeypatch.setattr(regex_book, "_BOOK", regex_book._Book())
        normalise.form_patterns.cache_clear()
        normalise.skeleton_side.cache_clear()
    fresh()
    return fresh


def _book_path() -> str:
    return os.path.join(cache.cache_dir("regex"), regex_book.book_name())


def _rule_set_built():
    rules = load_ruleset()
    Prefilter(rules)  # the combined and case-ignoring forms go through the book too
    return rules


def test_every_shipped_pattern_comes_back_from_the_book_as_re_compiles_it(fresh_book):
    _rule_set_built()
    with open(_book_path(), encoding="utf-8") as fh:
        book = json.load(fh)
    assert len(book["code"]) >= 50 and book["safe"], "the shipped packs' patterns and verdicts are kept"
    fresh_book()
    for key in book["code"]:
        flags, pattern = key.split(" ", 1)
        built = regex_book.compile(pattern, int(flags))
        assert built == re.compile(pattern, int(flags)), key
    assert not regex_book._BOOK.dirty, "every pattern was built from the book, none compiled again"
    _rule_set_built()  # a second run of the same packs adds nothing
    assert not regex_book._BOOK.dirty


LATER = [(m, name) for m in (confusables, label_looks, label_words, safe_label)
         for name, v in vars(m).items() if callable(v) and hasattr(v, "pattern") and hasattr(v, "cache_clear")]


def test_the_name_forms_own_patterns_are_booked_on_first_use_and_built_as_re_compiles_them(fresh_book):
    """The name forms' own patterns (regex_book.later: ~2–4 ms of re's compiler at every start-up) are
    compiled when first asked, after the rule set saved the book: kept then, and built from it next time."""
    assert len(LATER) >= 7
    for _m, name in LATER:
        getattr(_m, name).cache_clear()
    try:
        assert label_looks.drawn_letters("\\/\\/eChat") == "weChat"
        assert safe_label.safe_label("<b>We</b>Chat<br>more") == "WeChat"
        for _m, name in LATER:
            getattr(_m, name)()
        with open(_book_path(), encoding="utf-8") as fh:
            code = json.load(fh)["code"]
        for m, name in LATER:
            getter = getattr(m, name)
            assert f"{int(getter.flags)} {getter.pattern}" in code, name
        fresh_book()
        for m, name in LATER:
            getter = getattr(m, name)
            getter.cache_clear()
            assert getter() == re.compile(getter.pattern, getter.flags), name
        assert not regex_book._BOOK.dirty, "built from the book, not compiled again"
        assert label_looks.drawn_letters("TikTo|<") == "TikTok"
    finally:
        for m, name in LATER:
            getattr(m, name).cache_clear()


def test_matching_is_the_same_with_the_book_as_without(tmp_path):
    """Two processes, the second with the book the first wrote: the same findings, app for app
    (look-alike labels, subjects, forged certificates: the patterns the book holds)."""
    names = ["wechat-impostor.apk", "tiktok-bytedance-subject.apk", "kaspersky-subject-notes.apk",
             "wechat-forged-cert.apk", "label-arsc-locales.apk", "hostile-label.apk", "clean-v1v2v3.apk"]
    for name in names:
        copy(name, tmp_path / "in" / name)
    outs = []
    for n in (1, 2):
        res = run("scan", tmp_path / "in", "--no-store", "--json", tmp_path / f"r{n}.json", "-q")
        assert res.returncode in (0, 1), res.stderr
        outs.append(sorted((a["source"]["path"], a["verdict"], sorted(f["rule"] for f in a["findings"]))
                           for a in json.loads((tmp_path / f"r{n}.json").read_text())["apps"]))
        assert os.listdir(cache.cache_dir("regex")), "the first run wrote the book"
    assert outs[0] == outs[1]
    assert sum(verdict == "prohibited" for _path, verdict, _rules in outs[0]) >= 3


@pytest.mark.parametrize("entry", [
    [0, [1, 2, 3], 0, {}, [None]],  # not SRE code
    [0, ["x"], 0, {}, [None]],  # not ints
    [0, [2 ** 40], 0, {}, [None]],  # out of range
    "nonsense", [0, [], 0], [0.5, [], 0, {}, [None]], [0, [], 0, {"g": "1"}, [None]],
    [0, [], 2 ** 40, {}, [None]],  # groups the code does not have: a mark array that size per match
    [0, [], 1, {"g": 1}, [None, "h"]],  # names that disagree
])
def test_a_damaged_entry_is_compiled_again(fresh_book, entry):
    pattern = r"^tik\s?tok$"
    regex_book._BOOK.load()
    regex_book._BOOK.code[f"0 {pattern}"] = entry
    built = regex_book.compile(pattern)
    assert built == re.compile(pattern) and built.match("tik tok")


def _plant(code: dict, safe: list[str], mode: int) -> None:
    folder = cache.cache_dir("regex")
    os.makedirs(folder, exist_ok=True)
    with open(_book_path(), "w", encoding="utf-8") as fh:
        json.dump({"format": "apkscan-regex-book/1", "code": code, "safe": safe}, fh)
    os.chmod(folder, mode)


def _user_pack(tmp_path, label: str):
    pack = tmp_path / "mine.yaml"
    pack.write_text(f"""schema: apkscan-rules/1
pack: mine
vendor: Mine
version: "1"
reviewed: "2026-12-03"
rules:
  - id: mine.app
    app: Mine
    match:
      label: [{json.dumps(label)}]
    references: ["written for this test"]
""")
    return pack


def test_a_book_others_can_write_is_not_read(fresh_book, tmp_path):
    """Planted where another user can write: a 'safe' verdict for an unsafe pattern, and a code
    that never matches for a label pattern. Neither is believed."""
    _plant({"0 ^Mine$": [0, _code_of("(?!)"), 0, {}, [None]]}, [UNSAFE], 0o777)
    (tmp_path / "unsafe").mkdir()
    with pytest.raises(RulesInvalid) as info:
        load_ruleset([_user_pack(tmp_path / "unsafe", UNSAFE)])
    assert any(e.code == "RULES_REGEX_UNSAFE" for e in info.value.errors)
    rules = load_ruleset([_user_pack(tmp_path, "^Mine$")])
    pattern = next(r for r in rules.rules if r.id == "mine.app").labels[0]
    assert pattern.match("Mine"), "the planted never-matching code was not used"


def test_in_a_folder_of_this_user_alone_the_book_is_read(fresh_book):
    """The same book in a private folder is read: it is the cache the trust checks guard."""
    _plant({"0 ^Mine$": [0, _code_of("(?!)"), 0, {}, [None]]}, [], 0o700)
    assert not regex_book.compile("^Mine$").match("Mine")


def _code_of(pattern: str) -> list[int]:
    from re import _compiler, _parser

    return [int(c) for c in _compiler._code(_parser.parse(pattern, 0), 0)]


def test_off_where_the_internals_were_not_checked(monkeypatch):
    book = regex_book._Book()
    book.internals = None
    monkeypatch.setattr(regex_book, "_BOOK", book)
    assert regex_book.compile("a+b", re.IGNORECASE) == re.compile("a+b", re.IGNORECASE)
    regex_book.remember_safe("a+b")
    assert not regex_book.known_safe("a+b") and not book.dirty
    regex_book.save()
    assert not os.path.isdir(cache.cache_dir("regex"))


def test_bad_patterns_raise_as_re_does(fresh_book):
    with pytest.raises(re.error):
        regex_book.compile("(unclosed")


def test_groups_and_names_come_back_from_the_book(fresh_book):
    patterns = [r"(?P<word>tik)[ ._-]?(tok)(?P<rest>.*)", r"(?i)(a)(b)?(?P<c>c)", r"^x$"]
    for p in patterns:
        regex_book.compile(p)
    regex_book.save()
    fresh_book()
    for p in patterns:
        built = regex_book.compile(p)
        assert built == re.compile(p) and built.groupindex == re.compile(p).groupindex
        assert built.match("TikTok!") is None or built.match("TikTok!").groups() == re.compile(p).match("TikTok!").groups()
    assert not regex_book._BOOK.dirty
