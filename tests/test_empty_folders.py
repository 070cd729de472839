"""An empty folder (a device whose pull produced nothing) is a counted skip, as an empty container
is: it was "0 inputs", exit 0, and appeared in no report, so a failed pull read as a clean device
(review 69 F5). A folder holding only empty folders says each of them."""

from __future__ import annotations

import json
import shutil

from cli_helpers import fixture, run


def test_an_empty_device_folder_is_said_in_every_report(tmp_path):
    fleet = tmp_path / "fleet"
    (fleet / "alice").mkdir(parents=True)
    (fleet / "carol").mkdir()
    (fleet / "dave" / "sdcard").mkdir(parents=True)
    shutil.copyfile(fixture("clean-v1v2v3.apk"), fleet / "alice" / "base.apk")
    res = run("scan", fleet, "--no-store", "--json", tmp_path / "s.json", "--csv", tmp_path / "s.csv")
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "s.json").read_text())
    empty = {tuple(s["where"]): s for s in doc["skipped"] if s["reason"].startswith("empty folder")}
    assert set(empty) == {(str(fleet / "carol"),), (str(fleet / "dave" / "sdcard"),)}
    assert doc["counts"]["skipped"] == 2 and doc["counts"]["allowed"] == 1
    assert "2 files skipped" in res.stdout


def test_an_empty_folder_given_is_said(tmp_path):
    (tmp_path / "pull").mkdir()
    res = run("scan", tmp_path / "pull", "--no-store", "--json", "-", "-q")
    doc = json.loads(res.stdout)
    assert [s["reason"] for s in doc["skipped"]] == ["empty folder (no files in it)"] and doc["apps"] == []
