"""A member's tamper facts are never dropped when it is no APK (review 70 F4).

A name a layout's ZIP lists twice carries ``TAMPER_DUPLICATE_ENTRY`` on each record; a record that
was text (skipped) lost it, so the duplicate was said nowhere. Every ZIP is written here.
"""

from __future__ import annotations

import json

from test_zip_layouts import CLEAN, apps, records, run, write_zip  # noqa: F401 (run: a fixture)

DUP = "TAMPER_DUPLICATE_ENTRY"


def said(doc, name: str) -> list[str]:
    """The duplicate facts the errors list for the member ``name`` (last part of its chain)."""
    return [i["message"] for e in doc["errors"] if e["source"]["chain"][-1] == name
            for i in e["errors"] if i["code"] == DUP]


def test_a_flagged_member_that_is_no_apk_keeps_its_facts(run, tmp_path):
    """A name listed twice whose records are both text: walked (unknown to the layout) or skipped
    by its name (a log AndroidQF writes), each record's fact is in the errors, not dropped."""
    doc = run(write_zip(tmp_path / "acq.zip", [("acquisition.json", json.dumps({"uuid": "u", "started": "t"}).encode()),
                                               ("packages.json", records("com.example.clean")),
                                               ("notes.txt", b"first\n"), ("notes.txt", b"second\n"),
                                               ("command.log", b"a\n"), ("command.log", b"b\n")]))
    assert len(said(doc, "notes.txt")) == 2 and len(said(doc, "command.log")) == 2
    assert not said(doc, "packages.json")


def test_a_dotdot_name_that_is_no_apk_is_said(run, tmp_path):
    doc = run(write_zip(tmp_path / "data.zip", [("../notes.txt", b"x\n"), ("a.apk", CLEAN)]))
    assert apps(doc) == {"com.example.clean": "allowed"}
    assert [e["source"]["chain"][-1] for e in doc["errors"] if e["code"] == "TAMPER_MEMBER_NAME"] == ["../notes.txt"]
