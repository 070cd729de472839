"""Review 65 L2, L4, L5: the shipped packs and policies against the reference they cite.

L2: TikTok Lite's alternate package (``com.ss.android.ugc.tiktok.lite``, "medium" in the
reference) sat in TikTok Lite's ``high`` rule; confidence is per rule, so each reference package's
rule must carry that package's confidence. L4: file headers pointed at ``docs/rules.md``, which
does not exist. L5: ``policies test`` pinned 3 of the 40 packages the NTTGDA policy prohibits
(6 of 15 for TBS...): every package a policy prohibits now has its own ``prohibited`` example.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import REPO, SHARED

from apkscan.policy.decide import decide
from apkscan.policy.loader import builtin_policies, load_policy
from apkscan.rules.matcher import match_identity
from apkscan.rules.selftest import example_identity

REFERENCE = SHARED / "reference" / "vendor-identities.json"
SIGNATURES = REPO / "signatures"
README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference() -> dict:
    if not REFERENCE.is_file():
        pytest.skip("../shared/reference absent")
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def _packages(entry: dict) -> str:
    return entry["package"].split(" ")[0]


def test_each_reference_package_is_in_a_rule_of_its_confidence(reference):
    by_package = {}
    for path in SIGNATURES.glob("*.yaml"):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]:
            for p in (rule.get("match") or {}).get("package", []):
                by_package.setdefault(p, []).append(rule)
    wrong = []
    for entry in reference["packages"]:
        rules = by_package.get(_packages(entry), [])
        assert len(rules) == 1, entry["package"]
        if rules[0].get("confidence") != entry["confidence"]:
            wrong.append((entry["package"], rules[0]["id"], rules[0].get("confidence"), entry["confidence"]))
    assert wrong == []


def test_every_package_a_policy_prohibits_has_its_own_prohibited_example(reference, rules):
    """By the package Android installs, no key: what each policy prohibits is pinned by an
    example `apkscan policies test` runs (with the decision that prohibits it)."""
    missing = []
    for name in builtin_policies():
        policy = load_policy(name)
        pinned = {(e.get("package"), (e.get("expect") or {}).get("decision")) for e in policy.examples
                  if (e.get("expect") or {}).get("verdict") == "prohibited"}
        for entry in reference["packages"]:
            ident = example_identity({"package": _packages(entry)})
            out = decide(ident, match_identity(ident, rules), policy, rules)
            if out.verdict == "prohibited" and (_packages(entry), out.policy["decision"]) not in pinned:
                missing.append((name, _packages(entry)))
    assert missing == []


def test_file_headers_name_files_that_exist():
    """Every path a shipped rule or policy file's header names (``Format: ...``) exists."""
    for path in [*SIGNATURES.glob("*.yaml"), *(SIGNATURES / "policies").glob("*.yaml")]:
        header = "".join(line for line in path.read_text(encoding="utf-8").splitlines(True) if line.startswith("#"))
        for named in re.findall(r"\b((?:docs|apkscan|signatures|tests)/[\w./-]+\.\w+)", header):
            assert (REPO / named).is_file(), (path.name, named)
        assert "docs/rules.md" not in header, path.name
        for section in re.findall(r'README "([^"]+)"', header):  # a README section: its heading exists
            assert re.search(rf"^#+ {re.escape(section)}$", README, re.M), (path.name, section)
        for page, section in re.findall(r'\b(docs/[\w-]+\.md) "([^"]+)"', header):  # a docs page's section
            text = (REPO / page).read_text(encoding="utf-8")  # its heading, or the bold lead of its paragraph
            assert re.search(rf"^(?:#+ |\*\*){re.escape(section)}", text, re.M), (path.name, page, section)
