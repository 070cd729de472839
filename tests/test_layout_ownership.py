"""A layout owns only the files its reader reads, where it reads them (review 72 F5, F7-F10).

Each tree puts a second backup where the first one's claim used to hide it: a Swift Backup in an
acquisition's ``apks/`` or ``logs/`` or in a Neo instance, one planted metadata file deep in a
tree, a Titanium Backup beside ``base.apk`` or in an acquisition's own folder. The hidden
backup's TikTok record must be read in the folder and its ZIPs alike, and a tar must name it.
"""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest

from apkscan.sources.interface import InputProblem, RecordedApp
from backup_helpers import APKS, BACKUPS
from test_archive_layouts import TIKTOK, UUID, items, zipped
from test_layouts_below_claims import zipped_inside

NEO_APP = "neo/com.tencent.mm/2024-05-01-10-00-00-000-user_0"


def acquisition(at) -> None:
    """The generated acquisition, its packages.json without TikTok (the hidden backup has it)."""
    shutil.copytree(BACKUPS / "androidqf" / UUID, at)
    packages = json.loads((at / "packages.json").read_text())
    (at / "packages.json").write_text(json.dumps([p for p in packages if p.get("name") != TIKTOK]))
    (at / "backup.ab").unlink()


def files_of(layout: str, at) -> None:
    at.mkdir(parents=True, exist_ok=True)
    for f in (BACKUPS / layout).iterdir():
        shutil.copy(f, at / f.name)


def in_apks(root):
    acquisition(root / UUID)
    files_of("swift", root / UUID / "apks" / "SwiftBackup")
    return f"{UUID}/apks/SwiftBackup/"


def in_logs(root):
    acquisition(root / UUID)
    files_of("swift", root / UUID / "logs" / "SwiftBackup")
    return f"{UUID}/logs/SwiftBackup/"


def in_neo_instance(root):
    shutil.copytree(BACKUPS / "neo", root / "neo")
    shutil.rmtree(root / "neo" / TIKTOK)
    files_of("swift", root / NEO_APP / "SwiftBackup")
    return NEO_APP + "/SwiftBackup/"


def beside_acquisition(root):
    acquisition(root)
    files_of("titanium", root)
    return ""


def beside_neo(root):
    shutil.copytree(BACKUPS / "neo", root)
    shutil.rmtree(root / TIKTOK)
    files_of("swift", root)
    return ""


def beside_base_apk(root):
    files_of("titanium", root)
    shutil.copy(APKS / "clean-v1v2v3.apk", root / "base.apk")
    return ""


def planted_in_acquisition(root):
    """A Neo Backup above an acquisition that holds one Neo-like .properties file (F8): the
    acquisition's TikTok record must stay, though the Neo at the root matches that file."""
    shutil.copytree(BACKUPS / "neo", root)
    shutil.rmtree(root / TIKTOK)
    shutil.copytree(BACKUPS / "androidqf" / UUID, root / "phone" / UUID)
    (root / "phone" / UUID / "backup.ab").unlink()  # its packages.json is the only word of TikTok
    (root / "phone" / UUID / "x").mkdir()
    (root / "phone" / UUID / "x" / "2024-01-01-00-00-00-user_0.properties").write_text('{"packageName": "com.a.b"}')
    return f"phone/{UUID}/"


def planted_in_neo(root):
    """An OAndBackup holding a Neo Backup whose TikTok folder holds one OAndBackup-like log (F8)."""
    shutil.copytree(BACKUPS / "oandbackup", root)
    shutil.copytree(BACKUPS / "neo", root / "neo")
    log = (BACKUPS / "oandbackup/com.example.clean/com.example.clean.log").read_text()
    (root / "neo" / TIKTOK / "com.a.b").mkdir()
    (root / "neo" / TIKTOK / "com.a.b" / "com.a.b.log").write_text(log.replace("com.example.clean", "com.a.b"))
    return "neo/"


SHAPES = {f.__name__: f for f in (in_apks, in_logs, in_neo_instance, beside_acquisition, beside_neo,
                                  beside_base_apk, planted_in_acquisition, planted_in_neo)}


def tiktok(found: list) -> list[tuple[str, ...]]:
    return [r.chain for r in found if isinstance(r, RecordedApp) and r.package == TIKTOK]


def tarred(root, dest):
    with tarfile.open(dest, "w") as t:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                t.add(p, arcname=p.relative_to(root.parent).as_posix())
    return dest


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_hidden_backup_is_read_in_the_folder_and_its_zips(tmp_path, shape):
    root = tmp_path / "ev"
    hidden = SHAPES[shape](root)
    for path in (root, zipped(root, tmp_path / "top.zip"), zipped_inside(root, tmp_path / "root.zip")):
        found = items(path)
        assert tiktok(found), (path, hidden)
        assert [p for p in found if isinstance(p, InputProblem)] == [], path


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_tar_names_the_hidden_backup(tmp_path, shape):
    root = tmp_path / "ev"
    hidden = SHAPES[shape](root)
    found = items(tarred(root, tmp_path / "ev.tar"))
    named = [p.chain[-1] for p in found if isinstance(p, InputProblem) and p.issues[0].code == "LAYOUT_NOT_READ"]
    assert "ev/" + hidden in named, named


def test_a_tar_names_its_one_acquisition_by_its_own_folder(tmp_path):
    """F5: ev/data/acq/ alone was named as ev/data/, the folder above it."""
    acquisition(tmp_path / "ev" / "data" / "acq")
    found = items(tarred(tmp_path / "ev", tmp_path / "ev.tar"))
    named = [p.chain[-1] for p in found if isinstance(p, InputProblem)]
    assert named == ["ev/data/acq/"]


def test_a_tar_names_a_neo_backup_inside_another_ones_app_folder(tmp_path):
    """A Neo matches instances at any depth; it claims only those where the app writes them, so a
    copied Neo Backup in an app folder is a layout of its own, and named (review 72 F8)."""
    root = tmp_path / "ev"
    shutil.copytree(BACKUPS / "neo", root / "neo")
    shutil.copytree(BACKUPS / "neo", root / "neo" / "com.tencent.mm" / "sub" / "x")
    found = items(tarred(root, tmp_path / "ev.tar"))
    named = [p.chain[-1] for p in found if isinstance(p, InputProblem)]
    assert "ev/neo/com.tencent.mm/sub/x/" in named and "ev/neo/" in named, named
