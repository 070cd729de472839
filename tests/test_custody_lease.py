"""Review 68 F1: writes a stat cannot see are kept out of custody by a read lease.

A write through a shared writable mapping whose page is already dirty moves no mtime or ctime,
so stat checks alone let a process holding such a mapping change an evidence file between its
custody hash and its walk, or after a scan with the store without moving its stat key. Every
input descriptor now takes a read lease: Linux refuses it while any descriptor or mapping of the
file is open for writing (``INPUT_OPEN_FOR_WRITING``), and breaks it when one is opened later
(``INPUT_CHANGED_DURING_SCAN`` at the next check). Real files, real mappings, real writers.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest
from cli_helpers import APKS, invoke
from test_custody_changed import _codes, _packages

from apkscan.apk.io import readonly
from apkscan.apk.io.bytesource import ByteSource
from apkscan.issues import ApkScanError
from apkscan.sources.streams import WindowStream

OPEN = "INPUT_OPEN_FOR_WRITING"
BANNED, CLEAN = "wechat-impostor.apk", "clean-v1v2v3.apk"  # same size: rewritten in place
pytestmark = pytest.mark.skipif(readonly._SETLEASE is None, reason="no file leases on this platform")


def _scan(tmp_path: Path, *args) -> tuple[int, dict]:
    out = tmp_path / "r.json"
    res = invoke("scan", "-q", "--force", "--jobs", "1", "--json", out, *args)
    assert res.exit_code in (0, 1, 3), res.output
    return res.exit_code, json.loads(out.read_text())


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    ev = tmp_path / "ev"
    ev.mkdir()
    shutil.copyfile(APKS / BANNED, ev / "app.apk")
    return ev / "app.apk"


class Mapping:
    """A shared writable mapping of ``path``, its descriptor closed (the mapping alone keeps the
    file open for writing), every page dirtied by writing its own bytes back."""

    def __init__(self, path: Path):
        fd = os.open(path, os.O_RDWR)
        try:
            self.map = mmap.mmap(fd, os.path.getsize(path), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self.map[:] = self.map[:]

    def write(self, data: bytes) -> None:
        self.map[: len(data)] = data
        self.map.flush()

    def close(self) -> None:
        self.map.close()


def test_an_apk_mapped_for_writing_is_not_read_and_is_read_once_the_mapping_is_gone(evidence, tmp_path):
    mapping = Mapping(evidence)
    try:
        code, doc = _scan(tmp_path, "--no-store", evidence)
    finally:
        mapping.close()
    assert code == 3 and doc["apps"] == [] and _codes(doc) == [OPEN]
    code, doc = _scan(tmp_path, "--no-store", evidence)
    assert _codes(doc) == [] and _packages(doc) == {"com.tencent.mm"}


def test_a_container_open_for_writing_gets_no_custody_record_and_none_of_its_apps(evidence, tmp_path):
    """A tar (hashed in one pass, walked in another) with a plain descriptor open for writing."""
    tar = evidence.parent / "phone.tar"
    with tarfile.open(tar, "w") as t:
        t.add(evidence, "data/app/x/base.apk")
    evidence.unlink()
    writer = os.open(tar, os.O_WRONLY)
    try:
        code, doc = _scan(tmp_path, "--no-store", tar)
    finally:
        os.close(writer)
    assert code == 3 and doc["apps"] == [] and doc["input_files"] == [] and _codes(doc) == [OPEN]
    code, doc = _scan(tmp_path, "--no-store", tar)
    assert [f["path"] for f in doc["input_files"]] == [str(tar)] and _packages(doc) == {"com.tencent.mm"}


def test_a_file_rewritten_through_a_dirty_mapping_is_not_answered_from_the_store(evidence, tmp_path):
    """F1b: the mapping is dirtied more than the store's 2 s before the scan (so the file's stat
    is not racy), the clean bytes are scanned with the store, then the banned bytes are written
    through the still-dirty mapping: no stat moves, so a stat key stored by the first scan would
    answer the clean app for the banned bytes in every later run. The first scan refuses the
    file instead, and the second reads what is there."""
    shutil.copyfile(APKS / CLEAN, evidence)
    store = tmp_path / "store.sqlite"
    mapping = Mapping(evidence)
    try:
        time.sleep(2.2)
        code, doc = _scan(tmp_path, "--store", store, evidence)
        assert code == 3 and doc["apps"] == [] and _codes(doc) == [OPEN]
        before = os.stat(evidence)
        mapping.write((APKS / BANNED).read_bytes())
    finally:
        mapping.close()
    after = os.stat(evidence)
    assert (after.st_size, after.st_ino) == (before.st_size, before.st_ino)
    code, doc = _scan(tmp_path, "--store", store, evidence)
    assert _packages(doc) == {"com.tencent.mm"} and code == 1


def _break(path: Path) -> None:
    """Another process's open for writing, as a non-blocking open: refused while the lease is held,
    and the lease broken by asking."""
    with pytest.raises(BlockingIOError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_a_writer_opening_the_file_during_a_streamed_read_breaks_it(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(3 << 20))
    with WindowStream(str(path), 0, 3 << 20, expect=os.stat(path)) as ws:
        assert len(ws.read(1 << 20)) == 1 << 20
        _break(path)
        with pytest.raises(ApkScanError) as err:
            ws.read(1 << 20)
    assert err.value.code == readonly.CHANGED


def test_a_writer_opening_an_apk_while_it_is_identified_breaks_it(evidence):
    source = ByteSource(str(evidence), expect=os.stat(evidence))
    try:
        source.read(0, 4096)
        source.verify()  # unbroken: still the file custody names
        _break(evidence)
        with pytest.raises(ApkScanError) as err:
            source.verify()
    finally:
        source.close()
    assert err.value.code == readonly.CHANGED


def test_a_file_its_reader_may_not_lease_is_read_on_the_stat_checks_alone():
    """Not the owner and no CAP_LEASE (``/etc/passwd`` as an unprivileged user): no lease, no error."""
    if not os.path.isfile("/etc/passwd"):
        pytest.skip("no /etc/passwd")
    pid = os.fork()
    if pid == 0:  # the child drops to nobody when root, then reads as custody does
        status = 1
        try:
            if os.geteuid() == 0:
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
            fd = readonly.open_fd("/etc/passwd", regular=True)
            readonly.check_held(fd, os.fstat(fd))
            status = 0 if fd not in readonly._LEASED and os.read(fd, 1) else 2
        except BaseException:
            status = 3
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_lease_break_signal_does_not_end_the_process(tmp_path):
    """SIGIO, a lease break's default signal, ends a process; the lease asks for SIGURG (ignored)."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 4096)
    fd = readonly.open_fd(path, regular=True)
    try:
        assert fd in readonly._LEASED
        _break(path)
        time.sleep(0.05)  # a signal that ended the process would have done so by now
        with pytest.raises(ApkScanError):
            readonly.check_held(fd, None)
    finally:
        os.close(fd)


def test_a_forked_worker_drops_the_parents_leases_and_nothing_else(tmp_path):
    """A pool worker is forked while the walk holds a leased container open: the worker's copy would
    keep the lease after the parent closes the file, and a writer would wait for it. The worker
    closes the leased copies only: a number the parent closed and reused (a pipe) stays open."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 4096)
    leased = readonly.open_fd(path, regular=True)
    stale = readonly.open_fd(path, regular=True)
    os.close(stale)  # still in the set; its number reused by a pipe, as the worker's own pipe may be
    r, w = os.pipe()
    if r != stale:
        os.dup2(r, stale)
        os.close(r)
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            readonly.drop_inherited()
            os.fstat(stale)  # the pipe: still open
            status = 0 if not readonly._LEASED else 2
            try:
                os.fstat(leased)
                status = 3  # the leased copy was kept
            except OSError:
                pass
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    try:
        assert os.waitstatus_to_exitcode(status) == 0
        os.close(leased)
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # no copy of the lease is left anywhere
    finally:
        for fd in (stale, w):
            os.close(fd)
