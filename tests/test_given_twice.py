"""One file or folder given twice is one input (review 61 F4): ``scan dir ./dir/``, ``scan dir
dir/a.apk`` and ``scan a.apk a.apk`` scanned and counted each file twice, with no notice. As for
symlinks (a second name would make one file two inputs), each is read once under the name met
first, and every later mention is a counted skip naming it. Two hard links inside one folder stay
two inputs: only names given on the command line are compared.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from cli_helpers import run
from conftest import APKS

from apkscan.sources.files import FileSource
from apkscan.sources.interface import InputFile, Skipped


@pytest.fixture()
def tree(tmp_path, monkeypatch):
    """``dir/w.apk`` (WeChat) and ``dir/sub/t.apk`` (TikTok), paths relative to ``tmp_path``."""
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    shutil.copy(APKS / "wechat-tencent-subject.apk", tmp_path / "dir" / "w.apk")
    shutil.copy(APKS / "tiktok-bytedance-subject.apk", tmp_path / "dir" / "sub" / "t.apk")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def walk(*paths: str) -> tuple[list[str], list[tuple[str, int, list[str]]]]:
    """The input files read (custody records) and the given-again skips (reason, count, names)."""
    files, again = [], []
    for item in FileSource(list(paths)).inputs():
        if isinstance(item, InputFile):
            files.append(os.path.relpath(item.path))
        elif isinstance(item, Skipped) and item.reason.startswith("given again"):
            again.append((item.where[0], item.count, item.examples))
    return files, again


W, T = os.path.join("dir", "w.apk"), os.path.join("dir", "sub", "t.apk")


@pytest.mark.parametrize("paths, files, again", [
    (["dir", "./dir/", "dir/../dir"], [W, T], [("./dir/", 1, ["./dir/"]), ("dir/../dir", 1, ["dir/../dir"])]),
    (["dir", "dir/w.apk"], [W, T], [("dir/w.apk", 1, ["dir/w.apk"])]),
    (["dir/w.apk", "dir/w.apk"], [W], [("dir/w.apk", 1, ["dir/w.apk"])]),
    (["dir/w.apk", "dir"], [W, T], [("dir", 1, ["w.apk"])]),
    (["dir", "dir/sub"], [W, T, T], []),  # a folder inside one given before is walked again (final review 4)
    (["dir/sub", "dir"], [T, W], [("dir", 1, ["sub"])]),
])
def test_each_file_is_read_once_and_each_later_mention_is_said(tree, paths, files, again):
    assert walk(*paths) == (files, again)


def test_a_second_name_of_one_file_given_is_the_same_input(tree):
    os.link(tree / W, tree / "other.apk")
    assert walk(W, "other.apk") == ([W], [("other.apk", 1, ["other.apk"])])


def test_hard_links_inside_a_folder_stay_two_inputs(tree):
    os.link(tree / W, tree / "dir" / "w2.apk")
    assert walk("dir") == ([W, os.path.join("dir", "w2.apk"), T], [])


def test_the_scan_counts_each_app_once(tree):
    out = tree / "scan.json"
    run("scan", "-j1", "--no-store", "-q", "--json", out, tree / "dir", f"{tree / 'dir'}/", tree / W)
    doc = json.loads(out.read_text())
    assert doc["counts"]["total"] == 2 and doc["counts"]["skipped"] == 2
    assert sorted(a["package"] for a in doc["apps"]) == ["com.tencent.mm", "com.zhiliaoapp.musically"]
    assert len(doc["input_files"]) == 2


def test_a_folder_inside_one_given_before_is_walked_again(tree):
    """Final review 4 M2 (H1 is the same with a backup layout's reader): ``--exclude 'sub/*' dir
    dir/sub`` said ``dir/sub`` was read once, though the first walk excluded all of it: TikTok was
    lost (exit 0). What a walk read of a folder inside it depends on its layout and --exclude, so
    such a folder is walked again; only the same folder given twice is one input."""
    out = tree / "scan.json"
    res = run("scan", "--no-store", "-q", "--exclude", "sub/*", "--json", out, tree / "dir", tree / "dir" / "sub")
    assert res.returncode == 1, res.stdout + res.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [(a["package"], a["verdict"]) for a in doc["apps"]] == [("com.tencent.mm", "prohibited"),
                                                                  ("com.zhiliaoapp.musically", "prohibited")]
    assert not any(s["reason"].startswith("given again") for s in doc["skipped"])

