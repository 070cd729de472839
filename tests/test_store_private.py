"""Review 37 R2-3: the scan store and the rule cache are this user's only. ``os.makedirs(mode=0o700)``
gave the leaf 0700 and every folder above it the umask's 0755, and the store file got 0644: other
local users could read the scan history. And a relative XDG_CACHE_HOME was used by the store but
ignored by the rule cache (XDG says ignore it): now both ignore it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cli_helpers import fixture, invoke


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_store_and_rule_cache_folders_are_0700_at_every_level_and_the_store_0600(tmp_path, monkeypatch,
                                                                                          umask_022):
    xdg = tmp_path / "a" / "b"  # two levels apkscan creates above its own folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    res = invoke("scan", fixture("clean-v1v2v3.apk"), "-q")
    assert res.exit_code == 0, res.output
    for folder in (tmp_path / "a", xdg, xdg / "apkscan", xdg / "apkscan" / "parsed"):
        assert _mode(folder) == 0o700, folder
    store = xdg / "apkscan" / "store.sqlite"
    assert _mode(store) == 0o600
    for side in (Path(f"{store}-wal"), Path(f"{store}-shm")):
        if side.exists():
            assert _mode(side) == 0o600, side


def test_a_store_path_given_creates_its_folders_0700_and_the_file_0600(tmp_path, umask_022):
    store = tmp_path / "nd" / "a" / "store.sqlite"
    res = invoke("scan", fixture("clean-v1v2v3.apk"), "-q", "--store", store)
    assert res.exit_code == 0, res.output
    assert (_mode(tmp_path / "nd"), _mode(tmp_path / "nd" / "a"), _mode(store)) == (0o700, 0o700, 0o600)
    assert _mode(tmp_path) == stat.S_IMODE(tmp_path.stat().st_mode)  # a folder that existed is left alone


def test_a_relative_xdg_cache_home_is_ignored_by_the_store_as_by_the_rule_cache(tmp_path, monkeypatch):
    from apkscan.batch.store import default_path
    from apkscan.rules.cache import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relx")
    home_cache = tmp_path / "home" / ".cache" / "apkscan"
    assert default_path() == str(home_cache / "store.sqlite")
    assert cache_dir("parsed") == str(home_cache / "parsed")


def test_make_private_creates_every_missing_level_0700_and_says_which(tmp_path):
    import stat

    from apkscan.folders import make_private

    (tmp_path / "a").mkdir(mode=0o755)
    target = tmp_path / "a" / "b" / "c" / "d"
    created = make_private(str(target))
    assert created == [str(target), str(target.parent), str(target.parent.parent)]  # deepest first
    for level in created:
        assert stat.S_IMODE(os.stat(level).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o755  # an existing folder is left as it was
    assert make_private(str(target)) == []


def test_a_created_tmp_dir_is_private_at_every_level_and_removed_after(tmp_path):
    import stat

    from apkscan.cli.tmp_dir import made_tmp_dir

    spool = tmp_path / "x" / "y" / "spool"
    with made_tmp_dir(str(spool)):
        modes = {p: stat.S_IMODE(os.stat(p).st_mode) for p in (spool, spool.parent, spool.parent.parent)}
        assert set(modes.values()) == {0o700}  # before: only the last level (makedirs' mode)
    assert not (tmp_path / "x").exists()


def test_a_dangling_link_as_tmp_dir_is_a_usage_error_not_an_error_per_member(tmp_path):
    import click

    from apkscan.cli.tmp_dir import made_tmp_dir

    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(click.UsageError, match="cannot create it"):  # review 43 F6: it was let through
        with made_tmp_dir(str(link)):
            pass
