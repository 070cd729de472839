"""Review 62 L7 and L2: what was not read says why, and one text file is one input.

Recorded apps (an AndroidQF ``packages.json``, a backup's ``_manifest``) and listed apps (``pm list``
text) had every part ``not read`` with an empty ``why``; an input ``inspect`` could not read at all
too. A one-line ``package:`` listing gave two input errors for one file (``counts.total`` 2).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from conftest import FIXTURES, REPO

PARTS = ("manifest", "resources", "signatures", "content_digests", "file_hashes")


def run(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_recorded_and_listed_apps_say_why_nothing_was_read(tmp_path):
    pm = tmp_path / "pm.txt"
    shutil.copy(FIXTURES / "backups" / "pm-list-packages.txt", pm)
    proc = run("scan", "--no-store", "-q", "--fail-on", "never", "--json", "-", str(pm),
               str(FIXTURES / "backups" / "androidqf"))
    doc = json.loads(proc.stdout)
    records = [a["identity"] for a in doc["apps"] if a["identity"]["origin"] != "apk"]
    assert {r["origin"] for r in records} == {"recorded", "listed"}
    for ident in records:
        c = ident["completeness"]
        unread = [p for p in PARTS if c[p] == "not read"]
        assert unread and set(unread) <= set(c["why"]), ident["path"]
        assert c["why"]["signatures"] == f"no APK bytes: {ident['origin']} app"


def test_an_input_inspect_cannot_read_says_its_code_in_why(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello, these are notes and no package listing\n")
    proc = run("inspect", "--fail-on", "never", "--json", "-", str(notes))
    (ident,) = json.loads(proc.stdout)
    (code,) = {e["code"] for e in ident["errors"]}
    assert all(ident["completeness"]["why"][p] == code for p in PARTS)


def test_a_listing_with_two_problems_is_one_input(tmp_path):
    text = tmp_path / "empty-listing.txt"
    text.write_text("package:\n")
    proc = run("scan", "--no-store", "-j1", "--fail-on", "never", "--json", "-", "-q", str(text))
    doc = json.loads(proc.stdout)
    assert doc["counts"]["total"] == 1 and doc["counts"]["errors"] == 1
    (err,) = doc["errors"]
    assert [i["code"] for i in err["errors"]] == ["TEXT_LINES_UNREADABLE", "TEXT_EVIDENCE_EMPTY"]
    assert {i["severity"] for i in err["errors"]} == {"warning"}
