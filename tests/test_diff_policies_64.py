"""``apkscan diff`` of multi-policy audits compares every policy both scans ran (review 64 F7):
an app prohibited only under the second policy was "new, allowed", "nothing got worse", exit 0,
while the scan itself failed. Real scans of the shipped fixtures with the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.cli import main

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
TWO = ("--policy", "canada-house-of-commons-2023", "--policy", "us-dhs-bod-17-01")
FLEET = """schema: apkscan-policy/1
policy: fleet
version: "1"
default: allowed
decisions:
  - id: kaspersky
    verdict: {verdict}
    when: {{vendors: [Kaspersky]}}
examples:
  - {{name: x, package: com.example.clean, expect: {{verdict: allowed, decision: null}}}}
"""


def _folder(path: Path, *names: str) -> Path:
    path.mkdir()
    for name in names:
        if not (APKS / name).exists():
            pytest.skip(f"fixture {name} not generated")
        shutil.copy(APKS / name, path / name)
    return path


def _scan(folder: Path, out: Path, *policies: str) -> int:
    res = CliRunner().invoke(main, ["scan", str(folder), "--no-store", "--json", str(out), "--quiet", *policies])
    assert res.exit_code in (0, 1), res.output
    return res.exit_code


def _diff(old: Path, new: Path) -> tuple[int, dict, str]:
    out = old.parent / "diff.json"
    res = CliRunner().invoke(main, ["diff", str(old), str(new), "--json", str(out), "--force"])
    return res.exit_code, json.loads(out.read_text()), res.output


def test_a_new_app_prohibited_under_the_second_policy_is_worse(tmp_path):
    jan = _folder(tmp_path / "jan", "clean-v1v2v3.apk")
    feb = _folder(tmp_path / "feb", "clean-v1v2v3.apk", "kaspersky-subject-notes.apk")
    _scan(jan, tmp_path / "jan.json", *TWO)
    assert _scan(feb, tmp_path / "feb.json", *TWO, "--fail-on", "prohibited") == 1
    rc, d, text = _diff(tmp_path / "jan.json", tmp_path / "feb.json")
    [notes] = [c for s in d["sources"] for c in s["changes"]]
    assert notes["change"] == "added" and notes["new"]["verdict"] == "allowed" and notes["worse"]
    assert notes["new"]["verdicts"] == {"canada-house-of-commons-2023": "allowed", "us-dhs-bod-17-01": "prohibited"}
    assert rc == 1 and "new, allowed; prohibited under us-dhs-bod-17-01  [WORSE]" in text
    assert d["notes"] == []  # the same policies on both sides


def test_a_verdict_raised_under_a_later_policy_is_worse_and_named(tmp_path):
    dev = _folder(tmp_path / "dev", "clean-v1v2v3.apk", "kaspersky-subject-notes.apk")
    for month, verdict in (("jan", "review"), ("feb", "prohibited")):
        policy = tmp_path / f"fleet-{month}.yaml"
        policy.write_text(FLEET.format(verdict=verdict))
        _scan(dev, tmp_path / f"{month}.json", "--policy", "canada-house-of-commons-2023", "--policy", str(policy))
    rc, d, text = _diff(tmp_path / "jan.json", tmp_path / "feb.json")
    [notes] = [c for s in d["sources"] for c in s["changes"]]
    assert notes["package"] == "com.example.notes" and notes["reasons"] == ["verdict"] and notes["worse"]
    assert notes["old"]["verdict"] == notes["new"]["verdict"] == "allowed"  # the first policy's: unchanged
    assert notes["policy_changes"] == [{"policy": "fleet", "old": "review", "new": "prohibited"}]
    assert rc == 1 and "verdict under fleet review -> prohibited  [WORSE]" in text
    # and back down: reported, not worse
    rc, d, _ = _diff(tmp_path / "feb.json", tmp_path / "jan.json")
    [back] = [c for s in d["sources"] for c in s["changes"]]
    assert rc == 0 and not back["worse"] and back["policy_changes"][0]["new"] == "review"


def test_different_policy_sets_are_noted_with_what_was_compared(tmp_path):
    dev = _folder(tmp_path / "dev", "clean-v1v2v3.apk", "kaspersky-subject-notes.apk")
    _scan(dev, tmp_path / "jan.json", *TWO)
    _scan(dev, tmp_path / "feb.json", *TWO, "--policy", "canada-tbs-2023")
    rc, d, _ = _diff(tmp_path / "jan.json", tmp_path / "feb.json")
    [note] = d["notes"]
    assert note["code"] == "DIFF_POLICIES_DIFFER" and "only in the newer: canada-tbs-2023" in note["message"]
    assert "compared under canada-house-of-commons-2023, us-dhs-bod-17-01" in note["message"]
    assert rc == 0 and d["counts"]["unchanged"] == 2


def test_a_policy_changed_under_its_name_is_said(tmp_path):
    """The same policy name with another version between two audits (a release changed it): a
    ``DIFF_POLICY_CHANGED`` note names it, so a verdict that moved is not read as the app's doing."""
    dev = _folder(tmp_path / "dev", "clean-v1v2v3.apk", "kaspersky-subject-notes.apk")
    for month, verdict, version in (("jan", "review", "1"), ("feb", "prohibited", "2")):
        policy = tmp_path / f"fleet-{month}.yaml"
        policy.write_text(FLEET.format(verdict=verdict).replace('version: "1"', f'version: "{version}"'))
        _scan(dev, tmp_path / f"{month}.json", "--policy", str(policy))
    rc, d, text = _diff(tmp_path / "jan.json", tmp_path / "feb.json")
    [note] = [n for n in d["notes"] if n["code"] == "DIFF_POLICY_CHANGED"]
    assert "policy fleet changed between the scans: version 1" in note["message"] and "then 2" in note["message"]
    assert rc == 1 and "DIFF_POLICY_CHANGED" in text
    rc, d, _ = _diff(tmp_path / "jan.json", tmp_path / "jan.json")  # the same policy: no note
    assert rc == 0 and all(n["code"] != "DIFF_POLICY_CHANGED" for n in d["notes"])
