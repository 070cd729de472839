"""A rule file's regular expressions cannot hang a scan (review 64 F9).

Python's ``re`` backtracks and cannot be interrupted: ``label: ["^(a|aa)+$"]`` in a shared rule
file held a scan of an APK labelled ``"a" * 46 + "!"`` past every budget. Patterns whose matching
can backtrack exponentially, or beyond a cubic, are refused at load (``RULES_REGEX_UNSAFE``,
``rules lint`` too), and rule patterns search at most the first ``MAX_ASKED`` characters of a
label, package or name, so what is accepted stays bounded on a 20,000-character label.
"""

from __future__ import annotations

import json
import re

import pytest

from apkscan.rules.loader import RulesInvalid, lint_file, load_ruleset
from cli_helpers import generate_module, run

# the reviewer's patterns, and what each must be refused for
REVIEWED = {
    "^(a|aa)+$": "alternatives can match the same text",
    "(a+)+$": "holds another repeat",
    "(a*)*b": "holds another repeat",
    "(\\w+\\s?)+$": "holds another repeat",
    "(.*a){20}": "holds another repeat",
}
MORE_REFUSED = {
    "(a+)\\1": "refers back to a group whose length varies",
    ".*a.*a.*a": "3 repeats in a row",
    "(?=.*a)(?=.*b)(?=.*c)": "3 repeats in a row",
    "(\\b)+": "can match nothing",
    "(xa|\\wb)+": "alternatives can match the same text",
    "(?i)(ab|AB)+": "alternatives can match the same text",  # the folded forms are asked ignoring case
    "(аb|ab)+": "on the skeleton side",  # Cyrillic а: (ab|ab)+ once its letters are mapped
}
ORDINARY = ["^(WeChat|微信)$", "(?i)\\btencent\\b|腾讯", "^Tik[ ._-]?Tok[ ._-]?Lite$", "^Tencent Technology",
            "^com\\.tencent\\.[a-z]+$", "^[a-z]+\\.[a-z]+\\.[a-z]+\\.[a-z]+$", "(?:foo|bar)+", "(foo|fab)+",
            "(?i)kaspersky|касперск", ".*a.*b", "^(Ex)ample \\1$", "(a|A)+", "[\\w\\s]+$", "(?:ab){2,5}"]


def _rule_file(tmp_path, where: str, pattern: str):
    """A rule file whose one rule (or publisher) holds ``pattern`` at ``where``."""
    quoted = json.dumps(pattern)
    match = {"label": f"label: [{quoted}]", "package_regex": f"package_regex: [{quoted}]",
             "subject": f"subject: [{{O: {quoted}}}]", "issuer": f"issuer: [{{CN: {quoted}}}]",
             "publisher": "package: [com.example.never]"}[where]
    publisher = f"publisher:\n  - subject: {{O: {quoted}}}\n    references: [S]\n" if where == "publisher" else ""
    path = tmp_path / f"myorg-{where}.yaml"
    path.write_text(f"""schema: apkscan-rules/1
pack: myorg
vendor: MyOrg
version: "1"
reviewed: "2026-11-28"
sources: {{S: "x"}}
{publisher}rules:
  - id: myorg.x
    app: X
    match:
      {match}
    references: [S]
""", encoding="utf-8")
    return path


@pytest.mark.parametrize("where", ["label", "package_regex", "subject", "issuer", "publisher"])
@pytest.mark.parametrize("pattern", list(REVIEWED))
def test_the_reviewers_patterns_are_refused_wherever_a_rule_holds_them(tmp_path, pattern, where):
    pack, errors = lint_file(_rule_file(tmp_path, where, pattern))
    assert pack is None and [e.code for e in errors] == ["RULES_REGEX_UNSAFE"], errors
    assert repr(pattern) in errors[0].reason and REVIEWED[pattern] in errors[0].reason
    assert "exponential" in errors[0].reason  # says why, not only "refused"


@pytest.mark.parametrize("pattern", list(MORE_REFUSED))
def test_other_backtracking_shapes_are_refused_and_say_why(tmp_path, pattern):
    pack, errors = lint_file(_rule_file(tmp_path, "label", pattern))
    assert pack is None and [e.code for e in errors] == ["RULES_REGEX_UNSAFE"], errors
    assert MORE_REFUSED[pattern] in errors[0].reason


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_load(tmp_path, pattern):
    from apkscan.rules.regex_safety import unsafe

    assert unsafe(pattern) is None
    pack, errors = lint_file(_rule_file(tmp_path, "label", pattern))
    assert errors == [] and pack is not None


def test_every_pattern_of_the_shipped_packs_is_accepted():
    from apkscan.rules.regex_safety import unsafe

    rules = load_ruleset()  # raises RulesInvalid on any refused pattern
    patterns = [p for pack in rules.packs for np in pack.publishers for p in np.attrs.values()]
    for rule in rules.rules:
        patterns += rule.labels + rule.package_regexes
        patterns += [p for np in rule.subjects + rule.issuers for p in np.attrs.values()]
    assert len(patterns) > 40 and all(unsafe(p.pattern, p.flags) is None for p in patterns)


def test_the_scan_and_lint_refuse_the_file_with_the_code(tmp_path):
    rules = _rule_file(tmp_path, "label", "^(a|aa)+$")
    with pytest.raises(RulesInvalid):
        load_ruleset([rules])
    lint = run("rules", "lint", rules)
    assert lint.returncode == 2 and "error: RULES_REGEX_UNSAFE: " in lint.stderr, lint.stderr
    scan = run("scan", "--no-store", REPO_APK, "--rules", rules)
    assert scan.returncode == 2 and f"error: RULES_REGEX_UNSAFE: {rules}:11: " in scan.stderr, scan.stderr


REPO_APK = "fixtures/apks/clean-v1v2v3.apk"


def test_a_scan_with_a_hostile_label_finishes(tmp_path):
    """Accepted patterns are at most cubic, and asked of MAX_ASKED characters: ``(?i)a.*a.*z``
    over the 4,096 letters kept of a 20,000-letter label took minutes of backtracking; now ~50 ms
    (the subprocess's timeout is only a guard against the hang)."""
    generate = generate_module()
    apk = tmp_path / "hostile.apk"
    label = "a" * 20_000
    apk.write_bytes(generate.sign(generate.build_unsigned(generate.App("com.example.hostile", label, min_sdk=24)),
                                  tmp_path, ["test-rsa"], v1=False, v2=True, v3=False, min_sdk=24))
    rules = _rule_file(tmp_path, "label", "(?i)a.*a.*z")
    out = tmp_path / "scan.json"
    res = run("scan", "--no-store", apk, "--rules", rules, "--json", out)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["apps"][0]["label"].startswith("a" * 4000) and doc["apps"][0]["verified"]  # 4,096 kept


def test_rule_patterns_search_only_the_first_characters_of_a_name():
    from apkscan.rules.normalise import bounded_text, form_patterns, form_search
    from apkscan.rules.regex_safety import MAX_ASKED

    head = "WeChat" + "x" * (MAX_ASKED - 6)
    assert bounded_text(head + "tail") == head
    found = form_search(form_patterns(re.compile("^WeChat")), head + "tail" * 10_000)
    assert found == ("raw", head + "tail" * 10_000)  # the evidence keeps the whole label
    assert form_search(form_patterns(re.compile("tail")), head + "tail") is None


def test_the_start_up_shortcut_skips_only_patterns_that_cannot_repeat():
    """``simple`` spares the walk at every start (all the shipped patterns): only patterns whose
    parse has no repeat of more than one iteration and no group reference."""
    from re import _constants as C  # noqa: N812
    from re import _parser as P  # noqa: N812

    from apkscan.rules.regex_safety import _REPEATS, _walk, simple

    samples = [*REVIEWED, *MORE_REFUSED, *ORDINARY, "a?b?c?", "\\*\\+", "[*+{]", "a{,1}", "(?P<n>x)(?P=n)",
               "(x)?(?(1)a|b)", "\\d\\w?", "^(We[ ._-]?Chat|微信)$"]
    for pattern in samples:
        items = list(_walk(list(P.parse(pattern))))
        repeats = any(op in _REPEATS and av[1] > 1 for op, av in items)
        refers = any(op in (C.GROUPREF, C.GROUPREF_EXISTS) for op, av in items)
        assert not simple(pattern) or not (repeats or refers), pattern
    assert simple("^Tik[ ._-]?Tok$") and not simple("(a|aa)+")
