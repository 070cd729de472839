"""How ``apkscan.cli.mounts`` reads a mount table (review 52 F2): the kernel's escapes, stacked
and hidden mounts, btrfs subvolumes, and tables it must not trust. The tables are mountinfo text
in the kernel's format; the real mounts are exercised in ``test_cli_mount_points.py``."""

from __future__ import annotations

from apkscan.cli import mounts
from apkscan.cli.mounts import MountTable, parse

HOST = (b"20 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        b"21 20 0:21 / /proc rw,relatime - proc proc rw\n"
        b"22 20 0:40 / /srv/ev/card rw - tmpfs none rw\n")


def table(text: bytes) -> MountTable:
    return MountTable(parse(text))


def test_escaped_mount_points_are_read_as_the_system_names_them():
    t = table(HOST + b"30 20 254:0 /srv/ev/dev1 /mnt/a\\040b\\011c\\012d\\134e rw shared:1 master:2 - ext4 /dev/vda rw\n")
    assert t.mount_of("/mnt/a b\tc\nd\\e/r.json").point == "/mnt/a b\tc\nd\\e"
    assert t.names("/mnt/a b\tc\nd\\e/r.json") == ["/srv/ev/dev1/r.json"]
    assert t.names("/srv/ev/dev1/x") == ["/mnt/a b\tc\nd\\e/x"]
    assert t.names("/mnt/a\\040b/r.json") == []  # the escaped spelling is no mount point


def test_a_bind_mount_of_a_sub_folder_names_the_folder_inside_the_input():
    t = table(HOST + b"31 20 254:0 /srv/ev/dev1/sdcard /mnt/x rw - ext4 /dev/vda rw\n")
    assert t.names("/mnt/x/new/r.json") == ["/srv/ev/dev1/sdcard/new/r.json"]  # parents not made yet
    assert t.names("/mnt/x") == ["/srv/ev/dev1/sdcard"]
    assert t.names("/srv/out/r.json") == []  # the bind mount's root does not hold it
    assert t.names("/mnt/xy/r.json") == []  # a sibling whose name starts alike is another folder


def test_a_nested_mount_seen_through_another_mount_point():
    t = table(HOST + b"32 20 0:40 /dcim /mnt/d rw - tmpfs none rw\n")
    assert t.names("/mnt/d/r.json") == ["/srv/ev/card/dcim/r.json"]
    assert t.names("/srv/ev/card/r.json") == []  # /dcim does not hold /r.json


def test_stacked_mounts_resolve_to_the_top_one():
    t = table(HOST + b"40 20 0:50 / /mnt/s rw - tmpfs a rw\n41 40 0:51 / /mnt/s rw - tmpfs b rw\n"
              b"42 20 0:51 /in /mnt/other rw - tmpfs b rw\n")
    assert t.mount_of("/mnt/s/in/r.json").mount_id == 41
    assert t.names("/mnt/s/in/r.json") == ["/mnt/other/r.json"]


def test_a_mount_over_a_folder_above_an_older_one_hides_it():
    """``/mnt/a/b`` mounted, then ``/mnt/a`` mounted over it: ``/mnt/a/b/x`` lies on the later mount."""
    t = table(HOST + b"50 20 0:60 / /mnt/a/b rw - tmpfs old rw\n51 20 0:61 / /mnt/a rw - tmpfs new rw\n"
              b"52 51 0:62 / /mnt/a/c rw - tmpfs c rw\n")
    assert t.mount_of("/mnt/a/b/x").mount_id == 51
    assert t.mount_of("/mnt/a/c/x").mount_id == 52  # mounted on the new one: reached


def test_btrfs_subvolumes_share_the_device_and_carry_their_path():
    """Each subvolume has its own st_dev; mountinfo gives one device and the subvolume in the root."""
    t = table(b"1 0 0:30 /@ / rw - btrfs /dev/sda2 rw,subvol=/@\n"
              b"2 1 0:30 /@home /home rw - btrfs /dev/sda2 rw,subvol=/@home\n"
              b"3 1 0:30 /@home/case/ev/dev1 /mnt/x rw - btrfs /dev/sda2 rw\n")
    assert t.names("/mnt/x/r.json") == ["/home/case/ev/dev1/r.json"]
    assert t.names("/home/case/ev/dev1") == ["/mnt/x"]
    assert t.names("/srv/r.json") == []  # /@/srv: another subvolume's path


def test_untrusted_tables_give_no_names_and_never_fail(tmp_path, monkeypatch):
    bad = tmp_path / "mountinfo"
    bad.write_bytes(b"garbage\n\n1 2 3\nx y 0:1 / / rw - t t rw\n7 7 0:9 / / rw - t t rw\n"
                    b"8 9 0:8 / /a rw - t t rw\n9 8 0:8 / /a/b rw - t t rw\n10 7 0:9 net:[4026] /n rw - nsfs t rw\n"
                    b"\xff\xfe\n11 7 0:9 / /f\\777 rw - t t rw\n")
    t = MountTable.read(str(bad))  # 7 is its own parent: the root; 8 and 9 each other's: unreachable
    assert t is not None and t.mount_of("/a/b/c").mount_id == 7 and t.names("/a/b/c") == ["/f\\777/a/b/c"]
    assert MountTable.read(str(tmp_path / "absent")) is None
    (tmp_path / "chroot").write_bytes(b"8 9 0:9 /srv/ev /ev rw - t t rw\n10 9 0:9 / /host rw - t t rw\n")
    t = MountTable.read(str(tmp_path / "chroot"))  # a chroot: only the mounts inside it, no root mount
    assert t.names("/ev/r.json") == ["/host/srv/ev/r.json"] and t.mount_of("/tmp/r.json") is None
    assert t.names("/tmp/r.json") == []
    (tmp_path / "empty").write_bytes(b"garbage\n")
    assert MountTable.read(str(tmp_path / "empty")) is None
    monkeypatch.setattr(mounts, "MAX_BYTES", 100)
    (tmp_path / "big").write_bytes(HOST * 2)
    assert MountTable.read(str(tmp_path / "big")) is None  # over the bound: not read at all


def test_this_process_table_places_its_own_root():
    t = MountTable.read()
    if t is None:
        import pytest

        pytest.skip("no readable /proc/self/mountinfo here")
    assert t.mount_of("/").point == "/"
