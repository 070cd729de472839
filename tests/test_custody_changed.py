"""Review 66 F1, F4, F5, F6: every read of an input is of the file custody names.

Custody (an outermost file's size and SHA-256) is taken through a descriptor whose stat is the
one the walk classified the file under; every later open of the file (the walk's windows, a
stored member read by a worker) must be that file, unchanged, or the input is
``INPUT_CHANGED_DURING_SCAN`` and none of its apps is reported from other bytes. The swaps here
are made deterministic by a hook between custody and the read (real files, real renames).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest
from cli_helpers import APKS, FIXTURES, ROOT, invoke

from apkscan.apk import identify as identify_mod
from apkscan.sources import custody, walker

CHANGED = "INPUT_CHANGED_DURING_SCAN"
BANNED, CLEAN = "wechat-impostor.apk", "clean-v1v2v3.apk"  # same size: a swap keeps every offset


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pull(path: Path, last: str) -> Path:
    """A phone pull as a ZIP of stored APKs, the last one ``last``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(3):
            z.write(APKS / "v2-only.apk", f"data/app/a{i}/base.apk")
        z.write(APKS / last, "data/app/z/base.apk")
    return path


def _scan(tmp_path: Path, *args) -> tuple[int, dict]:
    out = tmp_path / "r.json"
    res = invoke("scan", "--no-store", "-q", "--force", "--json", out, *args)
    assert res.exit_code in (0, 1, 3), res.output
    return res.exit_code, json.loads(out.read_text())


def _codes(doc: dict) -> list[str]:
    return [i["code"] for e in doc["errors"] for i in e["errors"]]


def _packages(doc: dict) -> set[str]:
    return {a["package"] for a in doc["apps"]}


@pytest.fixture
def pulls(tmp_path):
    assert (APKS / BANNED).stat().st_size == (APKS / CLEAN).stat().st_size
    ev = tmp_path / "ev"
    ev.mkdir()
    return _pull(ev / "pull.zip", BANNED), _pull(tmp_path / "clean.zip", CLEAN)


def test_a_zip_renamed_over_after_its_custody_hash_gives_none_of_the_new_files_apps(pulls, tmp_path, monkeypatch):
    """F1 (a): hashed (the banned ZIP's SHA-256 recorded), then renamed over by a ZIP of the same
    layout whose last member is clean: its members are refused, the clean app is not reported."""
    pull, clean = pulls
    banned_sha, real = _sha(pull), walker.custody_record

    def hashed_then_swapped(path, *a, **kw):
        record = real(path, *a, **kw)
        os.rename(clean, pull)
        return record

    monkeypatch.setattr(walker, "custody_record", hashed_then_swapped)
    code, doc = _scan(tmp_path, "--jobs", "1", pull)
    assert [(f["path"], f["sha256"]) for f in doc["input_files"]] == [(str(pull), banned_sha)]
    assert "com.example.clean" not in _packages(doc) and doc["apps"] == []
    assert _codes(doc) == [CHANGED] * 4 and code == 3


def test_a_member_read_by_a_worker_after_a_swap_is_refused(pulls, tmp_path, monkeypatch):
    """F1 (a), ``--jobs 2``: the walk is done on the banned ZIP, and the file is renamed over just
    before the first worker reads a stored member by path: the worker's descriptor is not the
    file custody names (the stat travels with the input), so no app comes from the clean ZIP."""
    pull, clean = pulls
    banned_sha, real, once = _sha(pull), identify_mod.identify, tmp_path / "swapped"

    def swapped_first(path, **kw):
        try:
            fd = os.open(once, os.O_CREAT | os.O_EXCL)  # one swap, whichever worker comes first
            os.close(fd)
            os.rename(clean, pull)
        except FileExistsError:
            pass
        return real(path, **kw)

    monkeypatch.setattr(identify_mod, "identify", swapped_first)
    code, doc = _scan(tmp_path, "--jobs", "2", pull)
    assert once.exists()
    assert [(f["path"], f["sha256"]) for f in doc["input_files"]] == [(str(pull), banned_sha)]
    assert doc["apps"] == [] and _codes(doc) == [CHANGED] * 4 and code == 3


def test_identify_refuses_another_file_than_the_expected_one(pulls):
    """The worker's check itself: a window of a file whose stat is not the expected one."""
    pull, clean = pulls
    with zipfile.ZipFile(pull) as z:
        info = z.getinfo("data/app/z/base.apk")
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra)
    identity = identify_mod.identify(str(clean), offset=offset, length=info.file_size, expect=os.stat(pull))
    assert [i.code for i in identity.errors] == [CHANGED] and identity.manifest is None
    good = identify_mod.identify(str(pull), offset=offset, length=info.file_size, expect=os.stat(pull))
    assert good.errors == [] and good.manifest.package == "com.tencent.mm"


def test_a_file_rewritten_in_place_while_identify_reads_it_is_refused(tmp_path, monkeypatch):
    """Opened as the expected file, then rewritten in place (same inode, same size): the check
    after the read sees mtime or ctime move, and the bytes parsed are not reported."""
    apk = tmp_path / "app.apk"
    apk.write_bytes((APKS / CLEAN).read_bytes())
    os.utime(apk, ns=(1_000_000_000 * 10**9, 1_000_000_000 * 10**9))  # a rewrite moves it for sure
    expect, real = os.stat(apk), identify_mod._identify_open

    def rewritten(*a, **kw):
        with open(apk, "r+b") as f:
            f.write((APKS / BANNED).read_bytes())
        return real(*a, **kw)

    monkeypatch.setattr(identify_mod, "_identify_open", rewritten)
    identity = identify_mod.identify(str(apk), expect=expect)
    assert CHANGED in [i.code for i in identity.errors]


def _tar(path: Path, member: str) -> Path:
    with tarfile.open(path, "w") as t:
        t.add(APKS / member, "data/app/x/base.apk")
    return path


@pytest.mark.parametrize("change", ["renamed", "grown"])
def test_a_tar_changed_before_its_hash_has_no_custody_record_and_no_apps(tmp_path, monkeypatch, change):
    """F1 (b, c): the file the walk classified is renamed over (or grows) before custody hashes
    it: no (size, SHA-256) of other bytes is recorded, and no app of it is reported."""
    ev = tmp_path / "ev"
    ev.mkdir()
    dev, clean = _tar(ev / "dev1.tar", BANNED), _tar(tmp_path / "clean.tar", CLEAN)
    real = walker.custody_record

    def changed_first(path, *a, **kw):
        if change == "renamed":
            os.rename(clean, dev)
        else:
            with open(dev, "ab") as f:
                f.write(bytes(1 << 20))
        return real(path, *a, **kw)

    monkeypatch.setattr(walker, "custody_record", changed_first)
    code, doc = _scan(tmp_path, "--jobs", "1", dev)
    assert doc["input_files"] == [] and doc["apps"] == []
    assert _codes(doc) == [CHANGED] and code == 3


def test_an_unchanged_tar_is_hashed_as_read():
    """The window hashed is the file: the record is the file's own size and SHA-256."""
    tar = FIXTURES / "containers" / "hostile.tar"
    st = os.stat(tar)  # nothing held: no stat to keep to
    assert custody.record(str(tar), st.st_size, "tar").sha256 == _sha(tar)


def test_a_proc_file_is_recorded_as_the_bytes_read(tmp_path):
    """F1 (c): ``/proc/cpuinfo`` has size 0 by stat yet yields bytes: recorded as the 0 bytes the
    walk reads (the empty SHA-256), not a hash of bytes past its size."""
    if not os.path.isfile("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo")
    _code, doc = _scan(tmp_path, "/proc/cpuinfo")
    (entry,) = doc["input_files"]
    assert (entry["size"], entry["sha256"]) == (0, hashlib.sha256(b"").hexdigest())


_FIFO_RUN = textwrap.dedent("""
    import json, os, sys
    from click.testing import CliRunner
    from apkscan.cli import main
    from apkscan.sources import walker

    ev, out, how = sys.argv[1:4]
    real = walker.Walker.local_file

    def swapped(self, path, *a, **kw):
        if path.endswith("a.txt"):  # listed as a regular file, then another kind takes its name
            os.unlink(path)
            os.mkfifo(path) if how == "fifo" else os.symlink(os.path.join(ev, "..", "outside.apk"), path)
        return real(self, path, *a, **kw)

    walker.Walker.local_file = swapped
    res = CliRunner().invoke(main, ["scan", "--no-store", "-q", "--jobs", "1", "--json", out, ev])
    print(res.exit_code, res.output)
""")


@pytest.mark.parametrize("how", ["fifo", "symlink"])
def test_a_fifo_or_link_taking_a_listed_name_is_refused_without_hanging(tmp_path, how):
    """F4: a FIFO swapped in after the listing blocked the walker's open forever; a symlink was
    followed out of the evidence. Now: an input error of that name, and the batch goes on."""
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.txt").write_bytes((FIXTURES / "backups" / "pm-list-packages.txt").read_bytes())
    (ev / "b.apk").write_bytes((APKS / CLEAN).read_bytes())
    (tmp_path / "outside.apk").write_bytes((APKS / BANNED).read_bytes())
    out = tmp_path / "r.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        proc = subprocess.run([sys.executable, "-c", _FIFO_RUN, str(ev), str(out), how], capture_output=True,
                              text=True, timeout=90, env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the walk blocked on the {how} that took a listed file's name")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    errors = {e["source"]["path"] if isinstance(e.get("source"), dict) else e.get("source"): [i["code"] for i in e["errors"]]
              for e in doc["errors"]}
    # the new node may reuse the freed inode number (then it is refused for its kind) or not (then for
    # being another file than the one listed): both refuse it, which one depends on the file system
    assert list(errors.values()) in ([["INPUT_NOT_A_FILE"]], [["INPUT_CHANGED_DURING_SCAN"]]), errors
    assert _packages(doc) == {"com.example.clean"}  # b.apk; never the link's target


def test_an_idsig_link_beside_an_apk_is_not_read(tmp_path):
    """F5: reported as a link not followed, and never opened: its target's bytes are not read as
    a v4 file (they were: its first 4 bytes showed up as a "version")."""
    ev, outside = tmp_path / "ev", tmp_path / "outside"
    ev.mkdir()
    outside.mkdir()
    (ev / "app.apk").write_bytes((APKS / "v2-only.apk").read_bytes())
    (outside / "secret.txt").write_bytes(b"examiner-private-notes")
    os.symlink(outside / "secret.txt", ev / "app.apk.idsig")
    _code, doc = _scan(tmp_path, ev)
    text = json.dumps(doc)
    assert "V4_SIG_VERSION_NOT_CURRENT" not in text and str(int.from_bytes(b"exam", "little")) not in text
    (app,) = doc["apps"]
    assert app["package"]


def test_parse_idsig_found_beside_opens_no_link(tmp_path):
    """The race form of F5: a name that was a regular file when looked at and a link when opened
    is not read through (``O_NOFOLLOW``)."""
    from apkscan.apk.signing.v4.idsig import parse_idsig
    from apkscan.issues import ApkScanError

    (tmp_path / "secret").write_bytes(b"examiner-private-notes")
    os.symlink(tmp_path / "secret", tmp_path / "a.apk.idsig")
    with pytest.raises(ApkScanError) as exc:
        parse_idsig(str(tmp_path / "a.apk.idsig"), follow=False)
    assert exc.value.code == "INPUT_V4_FILE_UNREADABLE" and "symlink" in exc.value.message


def test_password_and_rule_files_keep_their_access_times(tmp_path):
    """F6: ``--password-file`` and ``--rules`` are read through the same no-atime open as inputs
    (an examiner keeps them beside the evidence)."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    os.utime(probe, (1_000_000_000, os.stat(probe).st_mtime))
    probe.read_bytes()
    if os.stat(probe).st_atime == 1_000_000_000:
        pytest.skip("this file system does not update access times on read (noatime)")
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "backup.ab").write_bytes((FIXTURES / "backups" / "adb-v5-aes.ab").read_bytes())
    password, rules = tmp_path / "password.txt", tmp_path / "rules.yaml"
    password.write_text("apkscan-test\n")
    rules.write_bytes((ROOT / "tests" / "extra_pack.yaml").read_bytes())
    for f in (password, rules):
        os.utime(f, (1_000_000_000, os.stat(f).st_mtime))
    _code, doc = _scan(tmp_path, "--password-file", password, "--rules", rules, ev / "backup.ab")
    assert doc["apps"], doc["errors"]  # the password was read: the backup opened
    assert [os.stat(f).st_atime for f in (password, rules)] == [1_000_000_000] * 2
