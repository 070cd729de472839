"""A temporary folder another user could swap things in is refused; the private spool folder is
held open and a swap of it (or of a copy in it) is an error, never bytes scanned (review 66 F2).

The suite runs as root, so the folders here are really another user's (``nobody``) or really
writable by all: the refusal is the kernel's ownership and modes, read as ssh's StrictModes does."""

from __future__ import annotations

import io
import json
import os
import pwd
import subprocess
import sys
import tarfile

import pytest

from apkscan.issues import ApkScanError
from apkscan.sources.tempspace import TempSpace
from cli_helpers import ROOT, fixture, run

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")


def _evidence(tmp_path):
    """A .tar.gz whose banned member is spooled to the temporary folder to be scanned."""
    ev = tmp_path / "ev"
    ev.mkdir()
    with tarfile.open(ev / "pull.tar.gz", "w:gz") as tar:
        tar.add(fixture("clean-v1v2v3.apk"), "data/app/com.example.clean/base.apk")
        tar.add(fixture("wechat-impostor.apk"), "data/app/com.tencent.mm/base.apk")
    return ev


def _refused(res, folder, said):
    assert res.returncode == 2, res.stderr
    assert "Error: USAGE_TMP_UNTRUSTED: " in res.stderr and f"{folder} {said}" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@as_root
def test_a_tmp_dir_of_another_user_is_refused_before_anything_is_read(tmp_path):
    ev, spool = _evidence(tmp_path), tmp_path / "theirs"
    spool.mkdir(mode=0o755)
    os.chown(spool, pwd.getpwnam("nobody").pw_uid, -1)
    res = run("scan", ev, "--no-store", "-q", "--tmp-dir", spool, "--json", tmp_path / "r.json")
    _refused(res, spool, "belongs to user")
    assert list(spool.iterdir()) == [] and not (tmp_path / "r.json").exists()


@as_root
def test_a_tmp_dir_anyone_can_write_without_the_sticky_bit_is_refused(tmp_path):
    ev, spool = _evidence(tmp_path), tmp_path / "shared"
    spool.mkdir()
    os.chmod(spool, 0o777)
    _refused(run("scan", ev, "--no-store", "-q", "--tmp-dir", spool), spool, "can be written by others (mode 0777")
    assert list(spool.iterdir()) == []


@as_root
def test_a_folder_above_the_tmp_dir_counts_too_even_one_still_to_be_made(tmp_path):
    ev, team = _evidence(tmp_path), tmp_path / "team"
    (team / "mine").mkdir(parents=True, mode=0o700)
    os.chmod(team, 0o775)  # group-writable: a group member can rename mine/ away
    for spool in (team / "mine", team / "new" / "spool"):
        _refused(run("scan", ev, "--no-store", "-q", "--tmp-dir", spool), team, "can be written by others (mode 0775")
    assert sorted(os.listdir(team)) == ["mine"]  # the missing one was not made


@as_root
def test_a_tmp_dir_that_is_a_link_is_judged_where_it_leads(tmp_path):
    ev, shared, mine = _evidence(tmp_path), tmp_path / "shared", tmp_path / "mine"
    (shared / "spool").mkdir(parents=True, mode=0o700)
    os.chmod(shared, 0o777)
    mine.mkdir(mode=0o700)
    (mine / "spool").symlink_to(shared / "spool")  # a link in a folder of ours, into one anyone can write
    _refused(run("scan", ev, "--no-store", "-q", "--tmp-dir", mine / "spool"), shared, "can be written by others")
    assert list((shared / "spool").iterdir()) == []


@as_root
def test_tmpdir_in_the_environment_is_checked_the_same_way_for_scan_and_inspect(tmp_path):
    ev, shared = _evidence(tmp_path), tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    env = dict(os.environ, TMPDIR=str(shared), NO_COLOR="1")
    for args in (["scan", str(ev), "--no-store", "-q"], ["inspect", str(ev / "pull.tar.gz")]):
        res = subprocess.run([sys.executable, "-m", "apkscan", *args], capture_output=True, text=True, cwd=ROOT,
                             env=env, timeout=120)
        _refused(res, shared, "can be written by others")
        assert f"TMPDIR={shared}: " in res.stderr


@as_root
def test_a_sticky_folder_anyone_can_write_works_and_the_banned_member_is_found(tmp_path):
    ev, spool = _evidence(tmp_path), tmp_path / "sticky"
    spool.mkdir()
    os.chmod(spool, 0o1777)  # as /tmp: others cannot rename apkscan's private folder in it
    res = run("scan", ev, "--no-store", "-q", "--jobs", "1", "--tmp-dir", spool, "--json", tmp_path / "r.json")
    assert res.returncode == 1, res.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    found = {a["source"]["path"]: (a["package"], a["verdict"]) for a in doc["apps"]}
    assert found["data/app/com.tencent.mm/base.apk"] == ("com.tencent.mm", "prohibited")
    assert list(spool.iterdir()) == []


class _Swapping(io.RawIOBase):
    """A member's bytes; once read, the private folder is renamed away and a stranger folder of
    the same name and mode, holding a file of the copy's name, put in its place."""

    def __init__(self, space: TempSpace, data: bytes):
        self.space, self.data, self.done = space, data, False

    def readable(self):
        return True

    def read(self, n=-1):
        if self.done:
            folder = self.space.dir
            names = os.listdir(folder)
            os.rename(folder, folder + ".moved")
            os.mkdir(folder, 0o700)
            for name in names:
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(b"their bytes")
            return b""
        self.done = True
        return self.data


def test_a_private_folder_swapped_while_a_member_is_copied_is_an_error_not_the_member(tmp_path):
    space = TempSpace(str(tmp_path / "spool"))
    with pytest.raises(ApkScanError) as caught:
        space.spool(_Swapping(space, b"PK member bytes"), "m.apk")
    assert caught.value.code == "CONTAINER_TMP_CHANGED"
    assert os.listdir(tmp_path / "spool" / (os.path.basename(space.dir) + ".moved")) == []  # our copy deleted
    with pytest.raises(ApkScanError):  # and every later copy, until the run ends
        space.spool(io.BytesIO(b"next"), "n.apk")
    stranger = space.dir
    space.close()
    assert os.path.isdir(stranger) and os.listdir(stranger)  # not ours to delete


def test_a_copy_replaced_under_its_name_is_an_error(tmp_path):
    space = TempSpace(str(tmp_path / "spool"))
    first = space.spool(io.BytesIO(b"first"), "a.apk")

    class Replacing(io.RawIOBase):
        def readable(self):
            return True

        def read(self, n=-1):
            for name in os.listdir(space.dir):
                if name != os.path.basename(first):
                    path = os.path.join(space.dir, name)
                    os.rename(path, path + ".away")
                    with open(path, "wb") as f:
                        f.write(b"their bytes")
            return b""

    with pytest.raises(ApkScanError) as caught:
        space.spool(Replacing(), "b.apk")
    assert caught.value.code == "CONTAINER_TMP_CHANGED" and "no longer the copy" in str(caught.value)
    folder = space.dir
    space.close()
    assert not os.path.exists(folder)


def test_a_folder_made_open_to_others_is_no_longer_trusted(tmp_path):
    space = TempSpace(str(tmp_path / "spool"))
    space.spool(io.BytesIO(b"one"), "a.apk")
    os.chmod(space.dir, 0o777)
    with pytest.raises(ApkScanError, match="no longer this user's alone"):
        space.spool(io.BytesIO(b"two"), "b.apk")
    os.chmod(space.dir, 0o700)
    space.close()


@as_root
def test_a_tmp_dir_that_is_another_users_symlink_is_refused(tmp_path):
    """Review 68 F4: ``/tmp/spool`` a link another user owns, in a sticky folder, to a folder of
    ours: the resolved chain was all ours, so it passed; its owner then pointed it at their own
    folder and took the spool folder away. A link met anywhere on the way is judged by its owner,
    and the folder holding it by the usual rule; ours, in our folder, is fine."""
    ev, mine, sticky = _evidence(tmp_path), tmp_path / "mine", tmp_path / "sticky"
    mine.mkdir(mode=0o700)
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    link = sticky / "spool"
    link.symlink_to(mine)
    os.lchown(link, pwd.getpwnam("nobody").pw_uid, -1)
    _refused(run("scan", ev, "--no-store", "-q", "--tmp-dir", link), link, "is a symlink belonging to user")
    _refused(run("scan", ev, "--no-store", "-q", "--tmp-dir", link / "deeper"), link, "is a symlink belonging")
    shared = tmp_path / "shared"  # our link, but in a folder anyone can write (no sticky bit): replaceable
    shared.mkdir()
    os.chmod(shared, 0o777)
    (shared / "spool").symlink_to(mine)
    _refused(run("scan", ev, "--no-store", "-q", "--tmp-dir", shared / "spool"), shared, "can be written by others")
    os.lchown(link, 0, -1)  # the same link, ours: accepted, and the banned member is scanned
    res = run("scan", ev, "--no-store", "-q", "--tmp-dir", link, "--json", tmp_path / "r.json")
    assert res.returncode == 1, res.stderr
    assert "com.tencent.mm" in (tmp_path / "r.json").read_text() and list(mine.iterdir()) == []
