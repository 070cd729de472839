"""``--rules DIR`` loads every rule file of the folder or refuses it (review 82 F1).

A folder whose pack was named ``ORG.YAML``, or held in a subfolder, or an empty or mistyped folder
loaded nothing: the run went on with the shipped packs alone, exit 0, nothing said. Now a suffix
is read in any case and a folder that gives no rule file is a usage error naming what it holds."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import APKS

from apkscan.cli import main

APK = str(APKS / "clean-v1v2v3.apk")  # com.example.clean, signed by a test key
PACK = """schema: apkscan-rules/1
pack: tencent-extra
vendor: Tencent
version: "1"
reviewed: "2026-01-01"
description: our own additions to the Tencent pack
sources:
  S1: internal inventory
rules:
  - id: tencent-extra.clean-notes
    app: A Tencent app we track (stand-in package)
    match:
      package: [com.example.clean]
    references: [S1]
"""


def _scan(*args: str):
    return CliRunner().invoke(main, ["scan", "--no-store", APK, "--json", "-", "-q", *args])


@pytest.mark.parametrize("name", ["TENCENT-EXTRA.YAML", "extra.Yml", "extra.yaml"])
def test_a_rule_file_in_a_folder_is_loaded_whatever_the_case_of_its_suffix(tmp_path, name):
    (tmp_path / name).write_text(PACK)
    res = _scan("--rules", str(tmp_path), "--policy", "canada-tbs-2023")
    assert res.exit_code == 0, res.output
    app, = json.loads(res.stdout)["apps"]
    assert app["verdict"] == "review" and [f["rule"] for f in app["findings"]] == ["tencent-extra.clean-notes"]


@pytest.mark.parametrize("layout, held", [
    ({}, "it holds nothing"),
    ({"org/org.yaml": PACK}, "it holds org/"),
    ({"README.md": "notes", "pack.txt": PACK}, "it holds README.md, pack.txt"),
])
def test_a_folder_that_gives_no_rule_file_is_refused(tmp_path, layout, held):
    for rel, body in layout.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    res = _scan("--rules", str(tmp_path))
    assert res.exit_code == 2, res.output
    assert "RULES_INVALID" in res.output and "no rule file" in res.output and held in res.output
    lint = CliRunner().invoke(main, ["rules", "lint", str(tmp_path)])
    assert lint.exit_code == 2 and "no rule file" in lint.output and held in lint.output
