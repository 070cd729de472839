"""README's rule and policy file examples, extracted and run as a user would (review 37 F2).

Copied as written they failed: the rule pack took the shipped pack's name (`scan --rules`
exit 2) and the examples' shortened digests (``0fe4ff85...``, ``9041803e...``) matched no key,
so "genuine TikTok" passed as an impersonation. The blocks are read from README.md itself,
so the README cannot drift from what apkscan accepts again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_policy_resolution import apkscan, signed_apk

ROOT = Path(__file__).resolve().parents[1]


def readme_block(heading: str) -> str:
    """The first ```yaml block under ``heading`` in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(f"\n{heading}\n"):]
    match = re.search(r"^```yaml\n(.*?)^```$", section, re.S | re.M)
    assert match, heading
    return match.group(1)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme") / "work"
    folder.mkdir()
    (folder / "myorg.yaml").write_text(readme_block("### Rule file format"), encoding="utf-8")
    (folder / "my-org.yaml").write_text(readme_block("### Policy file format"), encoding="utf-8")
    return folder


def test_both_examples_lint(work):
    res = apkscan(work, "rules", "lint", "myorg.yaml", "my-org.yaml")
    assert res.returncode == 0, res.stderr
    assert "ok  myorg.yaml (2 rules)" in res.stdout and "ok  my-org.yaml (policy)" in res.stdout
    assert "warning" not in res.stderr


@pytest.mark.parametrize("given", [["myorg.yaml"], ["--rules", "myorg.yaml"]])
def test_the_rule_examples_pass_beside_the_shipped_packs(work, given):
    """As README's comment says (`rules test myorg.yaml`, review 71 F7), and as --rules adds it."""
    res = apkscan(work, "rules", "test", *given)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS myorg.wechat example 0: expected app/confirmed, got app/confirmed" in res.stdout
    assert "PASS myorg.wechat example 1: expected impersonation" in res.stdout


def test_the_policy_example_tests_the_genuine_app(work):
    res = apkscan(work, "policies", "test", "./my-org.yaml")
    assert res.returncode == 0, res.stdout + res.stderr
    # passes as the genuine app (a verified TikTok key), not as an impersonation
    assert re.search(r"PASS my-org: genuine TikTok: .*bytedance\.tiktok:app/confirmed", res.stdout), res.stdout


def test_a_scan_with_both_decides_as_readme_says(work):
    """A WeChat impostor (another key on com.tencent.mm): the user rule's impersonation
    finding, decided `review` by the example's watch-vendors decision."""
    apk = signed_apk(work.parent / "evidence" / "wechat.apk", "com.tencent.mm", "WeChat", "impostor")
    res = apkscan(work, "scan", "--no-store", str(apk), "--rules", "myorg.yaml", "--policy", "./my-org.yaml",
                  "--json", "out.json")
    assert res.returncode == 0, res.stderr
    doc = json.loads((work / "out.json").read_text(encoding="utf-8"))
    app = doc["apps"][0]
    assert app["verdict"] == "review" and app["policy"]["decision"] == "watch-vendors"
    assert any(f["rule"] == "myorg.wechat" and f["kind"] == "impersonation" and f["strength"] == "strong"
               for f in app["findings"])
    assert doc["policy"]["name"] == "my-org"
