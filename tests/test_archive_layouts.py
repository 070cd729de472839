"""Backup layouts below an archive's root (review 69 F3): read in a ZIP as in the folder, said in a tar.

The evidence is the generated AndroidQF acquisition (TikTok known only from its packages.json
record once backup.ab is gone) and the generated Neo Backup (TikTok metadata-only), zipped and
tarred the way an examiner packs an evidence folder.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from pathlib import Path

from apkscan.sources.files import FileSource
from apkscan.sources.interface import InputProblem, RecordedApp, ScanInput, Skipped
from apkscan.sources.walker import NOT_AN_INPUT, WalkOptions
from backup_helpers import BACKUPS
from cli_helpers import run

UUID = "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"
TIKTOK = "com.zhiliaoapp.musically"


def items(path: Path) -> list:
    return list(FileSource([str(path)], WalkOptions()).inputs())


def evidence(tmp_path: Path) -> Path:
    """evidence/alice/<uuid>/ (AndroidQF, no backup.ab) and evidence/bob/neo/ (Neo Backup)."""
    root = tmp_path / "evidence"
    shutil.copytree(BACKUPS / "androidqf" / UUID, root / "alice" / UUID)
    (root / "alice" / UUID / "backup.ab").unlink()
    shutil.copytree(BACKUPS / "neo", root / "bob" / "neo")
    return root


def zipped(folder: Path, dest: Path) -> Path:
    """``zip -r dest folder`` run beside the folder: every name starts with the folder's name."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(folder.parent).as_posix())
    return dest


def tarred(folder: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as t:
        t.add(folder, arcname=f"./{folder.name}")  # tar czf dest ./folder: names start with ./
    return dest


def records(found: list) -> list[tuple[str, str]]:
    return sorted((r.package, r.chain[-1].rsplit("/", 1)[-1]) for r in found if isinstance(r, RecordedApp))


def apk_tails(found: list) -> list[str]:
    return sorted(i.chain[-1] for i in found if isinstance(i, ScanInput))


def not_inputs(found: list) -> list[str]:
    return [e for s in found if isinstance(s, Skipped) and s.reason == NOT_AN_INPUT for e in s.examples]


def test_a_zip_of_an_evidence_folder_gives_the_folders_records(tmp_path):
    folder = evidence(tmp_path)
    by_folder = items(folder)
    by_zip = items(zipped(folder, tmp_path / "evidence.zip"))
    assert (TIKTOK, "packages.json") in records(by_folder) and (TIKTOK, "backup.properties") in records(by_folder)
    assert records(by_zip) == records(by_folder)
    assert apk_tails(by_zip) == apk_tails(by_folder)
    assert [p for p in by_zip if isinstance(p, InputProblem)] == []
    assert not_inputs(by_zip) == []  # packages.json and the .properties are read, not skipped
    chains = {r.chain[:2] for r in by_zip if isinstance(r, RecordedApp)}
    assert chains == {(str(tmp_path / "evidence.zip"), "evidence/alice/"), (str(tmp_path / "evidence.zip"), "evidence/bob/")}


def test_one_acquisition_one_folder_down_reads_as_its_folder(tmp_path):
    """``zip -r dev06.zip dev06`` of dev06/<uuid>/: the review's zipvsfolder case."""
    dev = tmp_path / "dev06"
    shutil.copytree(BACKUPS / "androidqf" / UUID, dev / UUID)
    by_folder, by_zip = items(dev), items(zipped(dev, tmp_path / "dev06.zip"))
    assert records(by_zip) == records(by_folder) and (TIKTOK, "packages.json") in records(by_zip)
    assert apk_tails(by_zip) == apk_tails(by_folder)
    skips = lambda found: sorted((s.reason, s.count, s.where[-1].rstrip("/").rsplit("/", 1)[-1]) for s in found if isinstance(s, Skipped))
    assert skips(by_zip) == skips(by_folder)


def test_a_tar_of_the_evidence_says_each_layout_it_does_not_read(tmp_path):
    archive = tarred(evidence(tmp_path), tmp_path / "evidence.tar.gz")
    found = items(archive)
    problems = [(p.chain, [i.code for i in p.issues]) for p in found if isinstance(p, InputProblem)]
    # each named by its own folder, not the one above it that holds only it (review 72 F5)
    assert problems == [((str(archive), f"evidence/alice/{UUID}/"), ["LAYOUT_NOT_READ"]),
                        ((str(archive), "evidence/bob/neo/"), ["LAYOUT_NOT_READ"])]
    message = next(p for p in found if isinstance(p, InputProblem)).issues[0].message
    assert "AndroidQF" in message and "extract the archive and scan the folder" in message
    assert records(found) == []  # not read: said above, not guessed


def test_a_tar_of_one_acquisition_at_its_root_is_said(tmp_path):
    acq = tmp_path / UUID
    shutil.copytree(BACKUPS / "androidqf" / UUID, acq)
    archive = tmp_path / "acq.tar"
    with tarfile.open(archive, "w") as t:
        t.add(acq, arcname=UUID)
    problems = [p for p in items(archive) if isinstance(p, InputProblem)]
    assert [(p.chain, p.issues[0].code) for p in problems] == [((str(archive),), "LAYOUT_NOT_READ")]


def test_names_that_only_look_like_markers_claim_nothing(tmp_path):
    """A packages.json with no apks/ or companions, a build/build.log (no package name), a lone
    foo.app: no layout in a folder walk, none in a ZIP or a tar either (no error, no exit 3)."""
    root = tmp_path / "project"
    for name in ("web/packages.json", "build/build.log", "tools/foo.app"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}")
    for archive in (zipped(root, tmp_path / "p.zip"), tarred(root, tmp_path / "p.tar.gz")):
        found = items(archive)
        assert [p for p in found if isinstance(p, InputProblem)] == []
        assert len(not_inputs(found)) == 3


def test_roots_tried_are_bounded_by_misses_and_the_rest_named(tmp_path, monkeypatch):
    """Only folders that turn out to be no layout count (review 70 F8): decoy packages.json files
    cannot push a real layout past the bound, and the error names the folders left and their count."""
    from apkscan.sources import archive_layouts

    monkeypatch.setattr(archive_layouts, "MAX_ROOTS", 2)
    root = evidence(tmp_path)
    for n in range(1, 4):
        (root / f"d{n}").mkdir()
        (root / f"d{n}" / "packages.json").write_text("[]")
    archive = zipped(root, tmp_path / "evidence.zip")
    found = items(archive)
    assert {r.chain[1] for r in found if isinstance(r, RecordedApp)} == {"evidence/alice/", "evidence/bob/"}
    problems = [(p.chain, p.issues[0].code) for p in found if isinstance(p, InputProblem)]
    assert problems == [((str(archive), "evidence/d2/"), "LAYOUT_NOT_READ")]
    message = next(p for p in found if isinstance(p, InputProblem)).issues[0].message
    assert "2 more" in message and "evidence/d2/, evidence/d3/" in message


def test_names_looked_at_are_bounded_and_the_rest_said(tmp_path, monkeypatch):
    """A deep chain of folders costs a look at every name below each: past the characters budget the
    folders left are said (one error), never passed over."""
    from apkscan.sources import archive_layouts

    monkeypatch.setattr(archive_layouts, "MAX_LOOKED", 1)
    archive = zipped(evidence(tmp_path), tmp_path / "evidence.zip")
    found = items(archive)
    problems = [p for p in found if isinstance(p, InputProblem)]
    assert [(p.chain, p.issues[0].code) for p in problems] == [((str(archive), "evidence/bob/"), "LAYOUT_NOT_READ")]
    assert "1 characters of names" in problems[0].issues[0].message
    assert {r.chain[1] for r in found if isinstance(r, RecordedApp)} == {"evidence/alice/"}  # tried before the bound


def test_cli_exit_code_and_reports_carry_the_tar_layout_error(tmp_path):
    archive = tarred(evidence(tmp_path), tmp_path / "evidence.tar.gz")
    out = tmp_path / "scan.json"
    proc = run("scan", archive, "--no-store", "-j1", "-q", "--fail-on", "never", "--json", out)
    assert proc.returncode == 3, proc.stderr
    doc = json.loads(out.read_text())
    assert sorted(e["code"] for e in doc["errors"]) == ["LAYOUT_NOT_READ", "LAYOUT_NOT_READ"]
