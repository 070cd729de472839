"""The folder walk (``folder_walk.walk_down``): ``os.walk``'s order and pruning, without its recursion.

Python 3.11's ``os.walk`` recurses once per folder level, so ~1,000 nested folders (anyone
can make them on a card or in an extracted backup) ended a scan in a RecursionError with a
traceback and no report (review 12; the same before the walk budget).
"""

from __future__ import annotations

import os
import shutil

from conftest import APKS, REPO

from apkscan.sources.files import FileSource
from apkscan.sources.folder_walk import walk_down
from apkscan.sources.interface import ScanInput
from apkscan.sources.walker import WalkOptions


def test_the_same_folders_files_and_order_as_os_walk():
    for root in (REPO / "fixtures", REPO / "apkscan"):
        assert [(f.path, f.dirs, f.files) for f in walk_down(str(root))] == list(os.walk(str(root)))


def test_pruning_and_sorting_dirnames_in_place_steer_the_walk(tmp_path):
    for name in ("b/x", "a/y", "c/z"):
        (tmp_path / name).mkdir(parents=True)
    seen = []
    for top, dirs, *_ in walk_down(str(tmp_path)):
        seen.append(os.path.relpath(top, tmp_path))
        dirs.sort()
        dirs[:] = [d for d in dirs if d != "b"]
    assert seen == [".", "a", "a/y", "c", "c/z"]


def test_a_thousand_nested_folders_are_walked(tmp_path):
    """1,200 levels, a banned APK at the bottom, and an AndroidQF acquisition folder (read as a
    tree, the other walk) holding the same chain."""
    def chain(top, depth=1200):
        for _ in range(depth):  # one level at a time: mkdir(parents=True) recurses as well
            top = top / "d"
            top.mkdir()
        return top

    def remove(top):  # bottom-up, without recursion: shutil.rmtree (and pytest's cleanup) recurse
        for path, _, files, *_ in reversed(list(walk_down(str(top)))):
            for f in files:
                os.unlink(os.path.join(path, f))
            os.rmdir(path)

    deep = tmp_path / "pull"
    deep.mkdir()
    aqf = tmp_path / "acq"
    try:
        shutil.copy(APKS / "tiktok-bytedance-subject.apk", chain(deep) / "tiktok.apk")
        shutil.copytree(REPO / "fixtures" / "backups" / "androidqf", aqf)
        shutil.copy(APKS / "tiktok-bytedance-subject.apk", chain(next(aqf.iterdir())) / "x.apk")
        for root in (deep, aqf):
            found = [r for r in FileSource([str(root)], WalkOptions()).inputs() if isinstance(r, ScanInput)]
            names = [r.chain[-1].rsplit("/", 1)[-1] for r in found]
            assert names.count("tiktok.apk") + names.count("x.apk") == 1
    finally:
        for top in (deep, aqf):
            if top.exists():
                remove(top)
