"""A layout's metadata file listed twice in a ZIP (review 70 F4).

unzip, 7z and Python's ``zipfile`` extract a name's last record, so appending ``packages.json``
as ``[]`` to an acquisition's ZIP made the device's records vanish (exit 0, nothing said). The
records of every copy are read, each carries ``TAMPER_DUPLICATE_ENTRY``, and each record of the
name says it among the errors, at the ZIP's root and below it. A member with such facts that
ends as a skip keeps them. Every ZIP is written here from the shipped fixtures.
"""

from __future__ import annotations

import json
import zipfile

import pytest
from test_zip_layouts import ACQ, CLEAN, WECHAT, apps, codes, records, run, skips, write_zip  # noqa: F401 (run: fixture)

DUP = "TAMPER_DUPLICATE_ENTRY"
BANNED = {"com.tencent.mm": "prohibited", "com.zhiliaoapp.musically": "prohibited"}


def tamper_of(doc, package: str) -> list[str]:
    return [t["message"] for a in doc["apps"] if a["package"] == package
            for t in a["identity"]["tamper"] if t["code"] == DUP]


def said(doc, name: str) -> list[str]:
    """The duplicate facts the errors list for the member ``name`` (last part of its chain)."""
    return [i["message"] for e in doc["errors"] if e["source"]["chain"][-1] == name
            for i in e["errors"] if i["code"] == DUP]


def _acquisition(prefix: str, first: bytes, last: bytes) -> list[tuple[str, bytes]]:
    """The shipped acquisition (no apks/, no backup.ab) under ``prefix``, ``packages.json`` twice."""
    out = [(prefix + str(p.relative_to(ACQ)), p.read_bytes()) for p in sorted(ACQ.rglob("*"))
           if p.is_file() and "apks" not in p.parts and p.name not in ("backup.ab", "packages.json")]
    return out + [(prefix + "packages.json", first), (prefix + "packages.json", last)]


@pytest.mark.parametrize("prefix", ["0b6c/", "evidence/alice/0b6c/"])  # at the root (one top folder), below it
@pytest.mark.parametrize("device_first", [True, False])
def test_packages_json_listed_twice_reads_the_records_of_every_copy(run, tmp_path, prefix, device_first):
    device = (ACQ / "packages.json").read_bytes()
    first, last = (device, b"[]") if device_first else (b"[]", device)
    path = write_zip(tmp_path / "acq.zip", _acquisition(prefix, first, last), zipfile.ZIP_DEFLATED)
    assert json.loads(zipfile.ZipFile(path).read(prefix + "packages.json")) == json.loads(last)  # what unzip gives
    doc = run(path)
    assert BANNED.items() <= apps(doc).items()
    copy = "1 of 2 (an earlier one" if device_first else "2 of 2 (the last"
    for package in BANNED:
        assert [m for m in tamper_of(doc, package) if f"from copy {copy}" in m], tamper_of(doc, package)
    facts = said(doc, f"{prefix.removeprefix('evidence/alice/')}packages.json")  # below: its root in the chain
    assert len(facts) == 2 and any("its last record" in m for m in facts) and any("an earlier record" in m for m in facts)


def test_acquisition_json_listed_twice_is_the_layout_if_any_copy_is_androidqf(run, tmp_path):
    ours = json.dumps({"uuid": "0b6c", "androidqf_version": "1.7.0"}).encode()
    path = write_zip(tmp_path / "acq.zip", [("acquisition.json", ours), ("acquisition.json", b"{}"),
                                            ("getprop.txt", b"[ro.x]: [y]\n"), ("apks/w.apk", WECHAT)])
    doc = run(path)
    assert apps(doc) == {"com.tencent.mm": "prohibited"}
    assert skips(doc).get("AndroidQF acquisition file (not scanned)") == 1  # getprop.txt: read as AndroidQF's
    assert len(said(doc, "acquisition.json")) == 2  # the last record, skipped by name, and the earlier one


@pytest.mark.parametrize("layout", ["neo", "oab"])
def test_backup_app_metadata_listed_twice_lists_the_package_of_every_copy(run, tmp_path, layout):
    if layout == "neo":
        meta, key = "NeoBackup/com.example.clean/2024-05-01-10-00-00-000-user_0.properties", "packageLabel"
    else:
        meta, key = "com.example.clean/com.example.clean.log", "label"
    hidden = json.dumps({"packageName": "com.tencent.mm", key: "WeChat", "versionCode": 1}).encode()
    shown = json.dumps({"packageName": "com.example.clean", key: "Clean", "versionCode": 1}).encode()
    folder = meta.rsplit(".", 1)[0] if layout == "neo" else "com.example.clean"
    doc = run(write_zip(tmp_path / "b.zip", [(meta, hidden), (meta, shown), (f"{folder}/base.apk", CLEAN)]))
    assert apps(doc)["com.tencent.mm"] == "prohibited"  # recorded in the copy extractors do not give
    assert "1 of 2" in tamper_of(doc, "com.tencent.mm")[0]
    assert DUP in codes(doc) and said(doc, meta)


def test_titanium_properties_listed_twice_carries_the_fact(run, tmp_path):
    props = "com.tencent.mm-20240501-100000.properties"
    real = (ACQ.parents[1] / "titanium" / props).read_bytes()
    doc = run(write_zip(tmp_path / "tb.zip", [(props, real), (props, real.replace(b"WeChat", b"Notes")),
                                              ("com.example.notes-20240501-100000.properties", b"app_label=Notes\n")]))
    assert apps(doc)["com.tencent.mm"] == "prohibited"
    assert tamper_of(doc, "com.tencent.mm") and not tamper_of(doc, "com.example.notes")
    assert said(doc, props)


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
