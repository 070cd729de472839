"""Review 68 F2, F2b: a folder, or a backup folder's file, swapped for a symlink during the walk.

The walk listed a folder, then opened its sub-folders and files again by path: a sub-folder
renamed aside and replaced by a symlink to a decoy after its parent was listed was walked into
(``O_NOFOLLOW`` guards only the last component), and an AndroidQF file replaced by a symlink was
opened following it; the decoy's clean app was reported, and recorded with the decoy's hash, under
the evidence's names. Now every folder is opened through its parent's descriptor and held to the
device and inode its listing saw, and every file to its listing's: the swapped name is
``INPUT_CHANGED_DURING_SCAN``, nothing of the decoy is read. The swaps are made deterministic by
a hook on the walk between the listing and the open (real files, real renames, real links).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from cli_helpers import APKS, FIXTURES, invoke

from apkscan.sources import folder_walk, walker

CHANGED = "INPUT_CHANGED_DURING_SCAN"
BANNED, CLEAN, PLAIN = "tiktok-bytedance-subject.apk", "clean-v1v2v3.apk", "v2-only.apk"
CLEAN_SHA = hashlib.sha256((APKS / CLEAN).read_bytes()).hexdigest()


def _put(root: Path, files: dict[str, str]) -> None:
    for rel, apk in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(APKS / apk, root / rel)


def _swap(path: Path, target: Path) -> None:
    """What the adversary does with rename rights only: the folder or file aside, a link in its place."""
    os.rename(path, path.with_name(path.name + ".aside"))
    os.symlink(target, path)


def _scan(tmp_path: Path, ev: Path) -> tuple[int, dict]:
    out = tmp_path / "r.json"
    res = invoke("scan", "--no-store", "-q", "--force", "--jobs", "1", "--json", out, ev)
    assert res.exit_code in (0, 1, 3), res.output
    return res.exit_code, json.loads(out.read_text())


def _errors(doc: dict) -> dict[str, list[str]]:
    return {e["source"]["path"]: [i["code"] for i in e["errors"]] for e in doc["errors"]}


def _nothing_of_the_decoy(doc: dict) -> None:
    assert "com.example.clean" not in {a["package"] for a in doc["apps"]}
    assert CLEAN_SHA not in {f["sha256"] for f in doc["input_files"]}


@pytest.fixture
def tree(tmp_path):
    """``ev``: plain APKs walked first (``a/``, ``b/a/``), banned ones after; ``decoy``: clean APKs
    in the same places, outside the evidence."""
    ev, decoy = tmp_path / "ev", tmp_path / "decoy"
    _put(ev, {"a/first.apk": PLAIN, "b/a/first.apk": PLAIN, "b/c/app.apk": BANNED, "d/app.apk": BANNED})
    _put(decoy, {"b/a/first.apk": CLEAN, "b/c/app.apk": CLEAN, "c/app.apk": CLEAN, "d/app.apk": CLEAN})
    return ev, decoy


# (the file whose read triggers the swap, what is swapped, the decoy it now leads to, the name refused)
SWAPS = {
    "sub-folder": ("a/first.apk", "d", "d", "d"),  # listed with ev, swapped while a/ is walked
    "nested sub-folder": ("b/a/first.apk", "b/c", "c", "b/c"),  # listed with b, swapped while b/a is walked
    "ancestor of a listed file": ("b/a/first.apk", "b", "b", "b/a/first.apk"),  # b/a listed, then b swapped
}


@pytest.mark.parametrize("held", [folder_walk.MAX_HELD, 0], ids=["through descriptors", "by path"])
@pytest.mark.parametrize("case", list(SWAPS))
def test_a_folder_swapped_for_a_symlink_after_its_listing_is_never_read_through(tree, tmp_path, monkeypatch,
                                                                                case, held):
    """``held=0``: no parent descriptor kept (a deep, branching tree): sub-folders opened by path,
    held to the listing's device and inode all the same."""
    ev, decoy = tree
    trigger, swapped, target, refused = SWAPS[case]
    real, done = walker.Walker.local_file, []

    def swap_then_read(self, path, *a, **kw):
        if path == str(ev / trigger) and not done:
            _swap(ev / swapped, decoy / target)
            done.append(path)
        return real(self, path, *a, **kw)

    monkeypatch.setattr(walker.Walker, "local_file", swap_then_read)
    monkeypatch.setattr(folder_walk, "MAX_HELD", held)
    code, doc = _scan(tmp_path, ev)
    assert done
    _nothing_of_the_decoy(doc)
    assert _errors(doc)[str(ev / refused)] == [CHANGED]
    assert code == 1  # the banned APKs read where they lie: prohibited comes before input errors
    if case != "ancestor of a listed file":  # ev/a/first.apk, read before the swap, is what it was
        assert str(ev / "a" / "first.apk") in {f["path"] for f in doc["input_files"]}


def test_an_unswapped_tree_reads_every_file_and_says_no_change(tree, tmp_path):
    """The same tree without a swap: every banned APK read where it lies, no error."""
    ev, _ = tree
    code, doc = _scan(tmp_path, ev)
    assert _errors(doc) == {} and code == 1
    assert sorted(os.path.relpath(f["path"], ev) for f in doc["input_files"]) == [
        "a/first.apk", "b/a/first.apk", "b/c/app.apk", "d/app.apk"]


@pytest.fixture
def acquisition(tmp_path):
    """An AndroidQF acquisition whose ``apks/`` holds a plain APK (read first) and a banned one."""
    src = next((FIXTURES / "backups" / "androidqf").iterdir())
    acq = tmp_path / "ev" / src.name
    shutil.copytree(src, acq)
    os.unlink(acq / "backup.ab")
    for f in (acq / "apks").iterdir():
        f.unlink()
    _put(acq, {"apks/a-first.apk": PLAIN, "apks/z-tiktok.apk": BANNED})
    _put(tmp_path / "decoy", {"apks/z-tiktok.apk": CLEAN})
    return acq


@pytest.mark.parametrize("swapped", ["apks/z-tiktok.apk", "apks"])
def test_an_androidqf_file_swapped_after_its_listing_is_refused(acquisition, tmp_path, monkeypatch, swapped):
    """F2b: the reader's listing saw ``apks/z-tiktok.apk`` (banned); while the first APK is walked,
    that file (or the ``apks`` folder above it) is replaced by a symlink to a clean decoy. The
    member is refused, not read through the link: no app and no custody record of the decoy."""
    real, done = walker.Walker._member, []
    decoy = tmp_path / "decoy" / swapped

    def swap_then_read(self, m, *a, **kw):
        if m.name.endswith("a-first.apk") and not done:
            _swap(acquisition / swapped, decoy)
            done.append(m.name)
        return real(self, m, *a, **kw)

    monkeypatch.setattr(walker.Walker, "_member", swap_then_read)
    _code, doc = _scan(tmp_path, acquisition.parent)
    assert done
    assert not [a for a in doc["apps"] if a["source"]["path"].endswith("z-tiktok.apk")]
    assert CLEAN_SHA not in {f["sha256"] for f in doc["input_files"]}
    assert _errors(doc)[f"{acquisition.name}/apks/z-tiktok.apk"] == [CHANGED]  # named within the folder walked
