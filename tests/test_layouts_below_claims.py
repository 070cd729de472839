"""A layout or bundle told from names claims only what its reader reads (review 70 F2, F3, F7, F10).

Each tree holds the generated AndroidQF acquisition without ``apks/`` or ``backup.ab``: its
``packages.json`` records of WeChat and TikTok are the only evidence of them. Above it sits
something that names alone claim (a Titanium file, a Neo Backup instance, a ``base.apk``, an
XAPK's ``manifest.json``). The records must be read in the folder and in its ZIP alike, and a
tar must name the acquisition as a layout it does not read.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile

import pytest

from apkscan.sources.interface import InputProblem, RecordedApp
from backup_helpers import APKS, BACKUPS
from cli_helpers import run
from test_archive_layouts import items, zipped

UUID = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"
DEVICE = {"com.tencent.mm", "com.zhiliaoapp.musically"}  # known only from packages.json here
TITANIUM = "com.example.clean-20240101-120000.properties"
NEO = "com.example.clean/2024-01-01-12-00-00-user_0.properties"
CLEAN = (APKS / "clean-v1v2v3.apk").read_bytes()
ABOVE = {
    "titanium": {TITANIUM: b"app_label=Clean Notes\n"},
    "neo": {NEO: json.dumps({"packageName": "com.example.clean"}).encode()},
    "base-apk": {"base.apk": CLEAN},
    "xapk": {"clean.apk": CLEAN, "manifest.json": b'{"package_name": "com.example.clean"}'},
}


def evidence(tmp_path, above: str):
    """evidence/phone/<uuid>/ (records only) under what ``above`` puts at evidence/."""
    root = tmp_path / "evidence"
    acq = root / "phone" / UUID
    shutil.copytree(BACKUPS / "androidqf" / UUID, acq)
    (acq / "backup.ab").unlink()
    shutil.rmtree(acq / "apks")
    for name, data in ABOVE[above].items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def recorded(found: list) -> set[str]:
    return {r.package for r in found if isinstance(r, RecordedApp)}


def zipped_inside(root, dest):
    """``zip -r dest .`` run inside the folder: its files at the ZIP's root."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(root).as_posix())
    return dest


@pytest.mark.parametrize("inside", [False, True], ids=["top-folder", "root"])
@pytest.mark.parametrize("above", sorted(ABOVE))
def test_the_folder_and_its_zip_read_the_records_below_a_claim(tmp_path, above, inside):
    root = evidence(tmp_path, above)
    archive = (zipped_inside if inside else zipped)(root, tmp_path / "evidence.zip")
    by_folder, by_zip = items(root), items(archive)
    assert DEVICE <= recorded(by_folder)
    assert recorded(by_zip) == recorded(by_folder)
    assert [p for p in by_zip if isinstance(p, InputProblem)] == []
    tiktok = next(r for r in by_zip if isinstance(r, RecordedApp) and r.package == "com.zhiliaoapp.musically")
    assert tiktok.chain[1] == ("phone/" if inside else "evidence/phone/") and tiktok.chain[-1].endswith("packages.json")


def test_a_flat_layout_at_a_zips_root_reads_its_own_file_there(tmp_path):
    """The Titanium file at the ZIP's very root: its record is read there, the acquisition under
    phone/ by its own reader."""
    archive = zipped_inside(evidence(tmp_path, "titanium"), tmp_path / "inside.zip")
    chains = {(r.package, r.chain[1]) for r in items(archive) if isinstance(r, RecordedApp)}
    assert ("com.tencent.mm", "phone/") in chains and ("com.example.clean", TITANIUM) in chains


def test_a_neo_backup_beside_the_acquisition_keeps_its_own_record(tmp_path):
    """The Neo Backup claims evidence/ (its instance one folder down), and only its instance."""
    archive = zipped(evidence(tmp_path, "neo"), tmp_path / "evidence.zip")
    chains = {r.chain for r in items(archive) if isinstance(r, RecordedApp) and r.package == "com.example.clean"}
    assert (str(archive), "evidence/" + NEO) in chains


@pytest.mark.parametrize("above", ["titanium", "neo"])
def test_a_tar_names_each_layout_below_a_claimed_root(tmp_path, above):
    root = evidence(tmp_path, above)
    archive = tmp_path / "evidence.tar"
    with tarfile.open(archive, "w") as t:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                t.add(p, arcname=p.relative_to(root).as_posix())
    problems = [(p.chain, [i.code for i in p.issues]) for p in items(archive) if isinstance(p, InputProblem)]
    assert ((str(archive), f"phone/{UUID}/"), ["LAYOUT_NOT_READ"]) in problems  # its own folder (review 72 F5)
    assert len(problems) == 2  # the layout at the root, and the acquisition


def test_decoy_markers_do_not_push_the_acquisition_past_the_bound(tmp_path):
    """70 one-line packages.json files beside the acquisition (the review's probe): it is read."""
    root = evidence(tmp_path, "titanium")
    (root / TITANIUM).unlink()
    for n in range(70):
        (root / f"d{n:02}").mkdir()
        (root / f"d{n:02}" / "packages.json").write_text("[]")
    found = items(zipped(root, tmp_path / "evidence.zip"))
    assert recorded(found) == DEVICE | {"com.example.clean", "com.example.fast"}
    assert [p for p in found if isinstance(p, InputProblem)] == []


def test_cli_exit_1_for_the_records_below_a_bundle_name(tmp_path):
    archive = zipped_inside(evidence(tmp_path, "base-apk"), tmp_path / "evidence.zip")
    out = tmp_path / "scan.json"
    proc = run("scan", archive, "--no-store", "-j1", "-q", "--json", out)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    verdicts = {(a["package"], a["identity"]["origin"]): a["verdict"] for a in doc["apps"]}
    assert verdicts[("com.zhiliaoapp.musically", "recorded")] == "prohibited"
    assert verdicts[("com.example.clean", "apk")] == "allowed"
