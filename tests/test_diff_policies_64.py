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
    assert {n["code"] for n in d["notes"]} == {"DIFF_POLICY_UNCERTAIN"}  # the same policies on both sides


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
    [note] = [n for n in d["notes"] if n["code"] != "DIFF_POLICY_UNCERTAIN"]
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


def test_what_a_policy_cannot_detect_is_said_by_diff(tmp_path):
    """Texas names apps no rule detects (review 65 H1): "nothing got worse" between two audits
    under it must say so, as every other human-read report does; one note per policy of the
    newer scan that states ``uncertain`` items, none for a policy that states none."""
    dev = _folder(tmp_path / "dev", "clean-v1v2v3.apk")
    _scan(dev, tmp_path / "jan.json", "--policy", "texas-prohibited-tech", "--policy", "vendor-watch")
    rc, d, text = _diff(tmp_path / "jan.json", tmp_path / "jan.json")
    notes = [n for n in d["notes"] if n["code"] == "DIFF_POLICY_UNCERTAIN"]
    assert [n["message"].split(" states ")[0] for n in notes] == ["policy texas-prohibited-tech"]
    assert "DeepSeek" in notes[0]["message"] and rc == 0
    assert "DIFF_POLICY_UNCERTAIN: policy texas-prohibited-tech" in text and "nothing got worse" in text


def test_a_hostile_uncertain_list_is_bounded_in_diff(tmp_path):
    """A saved document is hostile input: a policy record with thousands of long ``uncertain``
    items is shown as the reports show it (12 items, each cut), and a non-list is no note."""
    dev = _folder(tmp_path / "dev", "clean-v1v2v3.apk")
    _scan(dev, tmp_path / "jan.json", "--policy", "vendor-watch")
    doc = json.loads((tmp_path / "jan.json").read_text())
    doc["policies"][0]["uncertain"] = ["x" * 2000 + str(i) for i in range(300)]
    (tmp_path / "big.json").write_text(json.dumps(doc))
    doc["policies"][0]["uncertain"] = {"not": "a list"}
    (tmp_path / "odd.json").write_text(json.dumps(doc))
    rc, d, _ = _diff(tmp_path / "jan.json", tmp_path / "big.json")
    [note] = [n for n in d["notes"] if n["code"] == "DIFF_POLICY_UNCERTAIN"]
    assert "(and 288 more)" in note["message"] and len(note["message"]) < 12 * 400 + 400
    rc, d, _ = _diff(tmp_path / "jan.json", tmp_path / "odd.json")
    assert all(n["code"] != "DIFF_POLICY_UNCERTAIN" for n in d["notes"])


def test_the_diff_names_every_policy_of_each_scan(tmp_path):
    """Review 69 F1: the diff's header named the first policy only, though it compares all."""
    dev = _folder(tmp_path / "dev", "clean-v1v2v3.apk")
    _scan(dev, tmp_path / "jan.json", *TWO)
    out = tmp_path / "d.html"
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "jan.json"), str(tmp_path / "jan.json"), "--json",
                                    str(tmp_path / "d.json"), "--html", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads((tmp_path / "d.json").read_text())
    assert d["old"]["policies"] == d["new"]["policies"] == list(TWO[1::2])
    assert "policies canada-house-of-commons-2023, us-dhs-bod-17-01" in out.read_text()
