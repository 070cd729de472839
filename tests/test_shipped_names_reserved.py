"""A policy file or a --no-builtin-rules pack may not pass as the shipped one (review 64 F6).

A copy of ``canada-tbs-2023.yaml`` with TikTok's decision turned to ``allowed`` kept the shipped
name and version: the scan's summary line, its citation and ``diff`` all read as the shipped
measure. The same for a copy of the shipped packs with WeChat's package moved out of its rule under
``--no-builtin-rules``. Such files are refused (``POLICY_NAME_RESERVED``, ``RULES_ID_RESERVED``)
unless their content is the shipped file's; scan and lint both say so.
"""

from __future__ import annotations

import shutil

import pytest

from apkscan.policy.loader import load_policy, policy_dir
from apkscan.rules.loader import RulesInvalid, builtin_dir, load_ruleset
from cli_helpers import fixture, run

SHIPPED = policy_dir() / "canada-tbs-2023.yaml"


def _edited_policy(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8")
    assert text.count("verdict: prohibited") > 1
    path = tmp_path / "canada-tbs-2023-copy.yaml"
    path.write_text(text.replace("verdict: prohibited", "verdict: allowed", 1), encoding="utf-8")
    return path


def test_an_edited_copy_of_a_shipped_policy_is_refused(tmp_path):
    path = _edited_policy(tmp_path)
    with pytest.raises(RulesInvalid) as info:
        load_policy(str(path))
    [err] = info.value.errors
    assert err.code == "POLICY_NAME_RESERVED" and "canada-tbs-2023" in err.message
    scan = run("scan", fixture("clean-v1v2v3.apk"), "--policy", path, "--no-store", "-q")
    assert scan.returncode == 2 and "is a shipped policy's" in scan.stderr, scan.stderr
    lint = run("rules", "lint", path)
    assert lint.returncode == 2 and "is a shipped policy's" in lint.stderr


def test_an_identical_copy_of_a_shipped_policy_is_the_shipped_policy(tmp_path):
    path = tmp_path / "copy.yaml"
    shutil.copyfile(SHIPPED, path)
    assert load_policy(str(path)).name == "canada-tbs-2023"
    assert load_policy().name == "canada-tbs-2023"  # the shipped file itself, by name


def _packs(tmp_path, edit: bool):
    folder = tmp_path / "packs"
    shutil.copytree(builtin_dir(), folder, ignore=shutil.ignore_patterns("policies"))
    if edit:
        tencent = folder / "tencent.yaml"
        text = tencent.read_text(encoding="utf-8")
        assert "    - com.tencent.mm\n" in text
        tencent.write_text(text.replace("    - com.tencent.mm\n", "    - com.tencent.mm.moved\n", 1), encoding="utf-8")
    return folder


def test_an_edited_shipped_pack_without_builtin_rules_is_refused(tmp_path):
    folder = _packs(tmp_path, edit=True)
    with pytest.raises(RulesInvalid) as info:
        load_ruleset([folder], builtin=False)
    [err] = info.value.errors
    assert err.code == "RULES_ID_RESERVED" and "'tencent'" in err.message
    lint = run("rules", "lint", "--no-builtin-rules", folder)
    assert lint.returncode == 2 and "is a shipped pack's" in lint.stderr, lint.stderr


def test_identical_shipped_packs_without_builtin_rules_load(tmp_path):
    rules = load_ruleset([_packs(tmp_path, edit=False)], builtin=False)
    assert sorted(p.name for p in rules.packs) == ["bytedance", "kaspersky", "tencent"]
