"""`rules lint` checks files as a run would load them (review 37 F3); `policies show FILE` (F4).

It linted each file on its own: two files with one pack name or rule id, or a pack named
like a shipped one, were `ok` and then made `scan --rules` exit 2. Now the rule files given
are checked together and beside the shipped packs (unless --no-builtin-rules, as for a run),
with the errors a scan gives.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.cli import main
from apkscan.rules.loader import RulesInvalid, builtin_files, load_ruleset

PACK = """schema: apkscan-rules/1
pack: {pack}
vendor: Example
version: "1"
reviewed: "2026-11-28"
sources:
  S1: "notes"
rules:
  - id: {rule}
    app: Notes
    match:
      package: [com.example.notes]
    references: [S1]
"""


def _pack(folder: Path, name: str, pack: str, rule: str) -> Path:
    path = folder / name
    path.write_text(PACK.format(pack=pack, rule=rule), encoding="utf-8")
    return path


def lint(*args) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["rules", "lint", *map(str, args)])
    return res.exit_code, res.stdout, res.stderr


def _scan_refuses(*rule_files: Path, builtin: bool = True) -> list[str]:
    with pytest.raises(RulesInvalid) as info:
        load_ruleset(rule_files, builtin=builtin)
    return [e.message for e in info.value.errors]


def test_two_files_with_one_pack_name_and_rule_id(tmp_path):
    a = _pack(tmp_path, "a.yaml", "myorg", "myorg.notes")
    b = _pack(tmp_path, "b.yaml", "myorg", "myorg.notes")
    code, out, err = lint(a, b)
    assert code == 2 and f"ok  {a}" in out and f"ok  {b}" not in out
    for message in _scan_refuses(a, b):  # the very errors a run gives
        assert message in err
    assert "pack name 'myorg' is already used" in err and "rule id 'myorg.notes' already defined" in err
    assert lint(a)[0] == 0 and lint(b)[0] == 0  # each alone is fine


@pytest.mark.parametrize("pack,rule,says", [
    ("tencent", "mine.notes", "pack name 'tencent' is already used"),
    ("mine", "tencent.wechat", "rule id 'tencent.wechat' already defined"),
])
def test_a_file_clashing_with_a_shipped_pack(tmp_path, pack, rule, says):
    mine = _pack(tmp_path, "mine.yaml", pack, rule)
    code, out, err = lint(mine)
    assert code == 2 and says in err and "ok " not in out
    assert any(says in m for m in _scan_refuses(mine))
    # as a run with --no-builtin-rules, the file replaces the shipped packs; but not under a shipped
    # pack's name with other content (review 64 F6: reports would show the shipped pack)
    code, out, err = lint("--no-builtin-rules", mine)
    if pack == "tencent":
        assert code == 2 and "pack name 'tencent' is a shipped pack's" in err, err
        with pytest.raises(RulesInvalid):
            load_ruleset([mine], builtin=False)
    else:
        assert code == 0 and f"ok  {mine}" in out, err
        load_ruleset([mine], builtin=False)


def test_the_shipped_files_linted_by_path_are_not_checked_against_themselves():
    code, out, err = lint(*builtin_files())
    assert code == 0 and err == "", err
    assert lint()[0] == 0


def test_a_policy_linted_with_no_builtin_rules_is_judged_against_the_files_given(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("schema: apkscan-policy/1\npolicy: p\nversion: '1'\ndecisions:\n"
                      "  - {id: d, verdict: prohibited, when: {tags: [tiktok]}}\n", encoding="utf-8")
    assert "POLICY_SELECTS_NOTHING" not in lint(policy)[2]
    code, _out, err = lint("--no-builtin-rules", policy)
    assert code == 0 and "no loaded rule has tag 'tiktok'" in err


def test_two_policy_files_of_one_name_are_refused_as_a_scan_refuses_them(tmp_path):
    """A scan given both exits 2 (verdicts are keyed by policy name); lint said ``ok`` to both."""
    text = "schema: apkscan-policy/1\npolicy: same\nversion: '{v}'\ndecisions:\n" \
           "  - {{id: d, verdict: prohibited, when: {{vendors: [Tencent]}}}}\n"
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(text.format(v=1), encoding="utf-8")
    b.write_text(text.format(v=2), encoding="utf-8")
    code, out, err = lint(a, b)
    assert code == 2 and f"ok  {a}" in out and f"ok  {b}" not in out, err
    assert f"{b}: policy name 'same' is also the name of {a}" in err
    assert lint(a)[0] == 0 and lint(b)[0] == 0  # each alone is fine
    apk = Path(__file__).resolve().parents[1] / "fixtures" / "apks" / "clean-v1v2v3.apk"
    res = CliRunner().invoke(main, ["scan", "--no-store", "-q", "--policy", str(a), "--policy", str(b), str(apk)])
    assert res.exit_code == 2 and "POLICY_NAME_TWICE" in res.stderr


# --- review 37 F4: `policies show FILE` names the command that works -----------------------------

@pytest.mark.parametrize("folder", ["pol", "my policies"])
def test_policies_show_of_a_file_prints_a_test_command_that_runs(tmp_path, monkeypatch, folder):
    import shlex

    from test_readme_examples import readme_block

    (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path)
    path = f"./{folder}/my-org.yaml"
    Path(path).write_text(readme_block("### Policy file format"), encoding="utf-8")
    res = CliRunner().invoke(main, ["policies", "show", path])
    assert res.exit_code == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert line == f"examples: 1 (apkscan policies test {shlex.quote(path)})"
    command = shlex.split(line[line.index("(") + 1:-1])
    assert command[:3] == ["apkscan", "policies", "test"]
    rerun = CliRunner().invoke(main, command[1:])
    assert rerun.exit_code == 0 and "1 passed, 0 failed" in rerun.stdout, rerun.stdout + rerun.stderr


def test_policies_show_of_a_shipped_policy_names_it():
    res = CliRunner().invoke(main, ["policies", "show", "vendor-watch"])
    assert res.exit_code == 0 and "(apkscan policies test vendor-watch)" in res.stdout


def test_scan_help_names_every_shipped_policy():
    """The --policy help listed 2 of the 8 (review 37 F6): it is made from the library."""
    from apkscan.policy.loader import builtin_policies

    text = " ".join(CliRunner().invoke(main, ["scan", "--help"]).output.split())
    help_text = text[text.index("--policy"):text.index("--allow")].replace("- ", "-")
    assert len(builtin_policies()) == 8 and all(name in help_text for name in builtin_policies()), help_text
