"""The walker and the folder walk: items, chains, skips, bounds, temporary files, hooks."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from apkscan.sources import registry
from apkscan.sources.files import FileSource
from apkscan.sources.interface import InputFile, InputProblem, RecordedApp, ScanInput, Skipped
from apkscan.sources.tar_archive import TarReader
from apkscan.sources.walker import WalkOptions

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"
CONTAINERS = REPO / "fixtures" / "containers"


def items(*paths, **opts):
    return list(FileSource([str(p) for p in paths], WalkOptions(**opts)).inputs())


def of(kind, found):
    return [i for i in found if isinstance(i, kind)]


def test_stored_members_are_windows_deflated_ones_are_spooled_and_removed(tmp_path):
    tmp = tmp_path / "t"
    tmp.mkdir()
    seen = []
    for item in FileSource([str(CONTAINERS / "pull.tar.gz"), str(CONTAINERS / "bundletool.apks")],
                           WalkOptions(tmp_dir=str(tmp))).inputs():
        if isinstance(item, ScanInput):
            st = os.stat(item.path)
            seen.append((item.chain[-1], item.cleanup, item.length is not None))
            if item.cleanup:  # a private copy: 0600 in a 0700 folder, deleted by the scanner
                assert stat.S_IMODE(st.st_mode) == 0o600
                assert stat.S_IMODE(os.stat(os.path.dirname(item.path)).st_mode) == 0o700
                os.unlink(item.path)
    assert ("apps/tiktok.apk", True, False) in seen  # inside gzip: spooled
    assert ("v2-only.apk", False, True) in seen  # stored in a zip that was spooled: a window of that spool
    assert ("wechat-impostor.apk", True, False) in seen  # deflated in that zip: spooled on its own
    assert ("splits/base-master.apk", False, True) in seen  # stored in a zip on disk: read in place
    assert list(tmp.iterdir()) == []  # the private folder is gone too


def test_tmp_limit_is_an_error_for_that_member_only(tmp_path):
    found = items(CONTAINERS / "wechat-sai.apks", APKS / "v2-only.apk", tmp_dir=str(tmp_path), tmp_limit=4096)
    probs = of(InputProblem, found)
    assert {p.issues[0].code for p in probs} == {"CONTAINER_TMP_LIMIT"}
    assert {p.chain[-1] for p in probs} == {"base.apk", "split_config.arm64_v8a.apk"}
    assert [i.chain for i in of(ScanInput, found)] == [(str(APKS / "v2-only.apk"),)]
    assert list(tmp_path.iterdir()) == []


def test_depth_bound_and_its_option():
    found = items(CONTAINERS / "deep.zip")
    assert [p.issues[0].code for p in of(InputProblem, found)] == ["CONTAINER_TOO_DEEP"]
    assert of(ScanInput, found) == []
    found = items(CONTAINERS / "deep.zip", max_depth=6)
    assert [len(i.chain) for i in of(ScanInput, found)] == [7]


def test_gzip_quine_like_nesting_hits_the_depth_bound(tmp_path):
    data = (APKS / "v1v2.apk").read_bytes()
    for _ in range(6):
        data = gzip.compress(data, mtime=0)
    (tmp_path / "x.gz").write_bytes(data)
    found = items(tmp_path / "x.gz")
    assert [p.issues[0].code for p in of(InputProblem, found)] == ["CONTAINER_TOO_DEEP"]


class _Zeros(io.RawIOBase):
    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def test_gzip_stream_bomb_is_stopped_by_ratio(tmp_path):
    """A tar.gz whose one member is 80 MiB of zeros (80 KB on disk): walking past it trips the ratio."""
    with tarfile.open(tmp_path / "zeros.tar.gz", "w:gz", compresslevel=9) as tf:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 80 << 20
        tf.addfile(info, _Zeros(info.size))
    assert (tmp_path / "zeros.tar.gz").stat().st_size < 200_000
    found = items(tmp_path / "zeros.tar.gz", APKS / "v1v2.apk", tmp_dir=str(tmp_path / "t"))
    assert [p.issues[0].code for p in of(InputProblem, found)] == ["CONTAINER_BOMB"]
    assert len(of(ScanInput, found)) == 1  # the batch went on


def test_zip_in_zip_bomb_is_refused_by_declared_sizes():
    found = items(CONTAINERS / "bomb.zip", APKS / "v1v2.apk")
    codes = {p.issues[0].code for p in of(InputProblem, found)}
    assert codes == {"CONTAINER_BOMB"}
    assert len(of(ScanInput, found)) == 1


def test_truncated_tar_gz_reports_members_before_the_cut(tmp_path):
    data = (CONTAINERS / "pull.tar.gz").read_bytes()
    with gzip.open(CONTAINERS / "pull.tar.gz") as g:
        raw = g.read()
    cut = raw.index(b"store/apps.zip") + 2000  # inside the zip member
    (tmp_path / "cut.tar.gz").write_bytes(gzip.compress(raw[:cut], mtime=0))
    (tmp_path / "cut-gz.tar.gz").write_bytes(data[: len(data) // 2])
    for name in ("cut.tar.gz", "cut-gz.tar.gz"):
        found = items(tmp_path / name, tmp_dir=str(tmp_path / "t"))
        assert of(InputProblem, found), name
        assert all(p.issues[0].code.startswith("CONTAINER_") for p in of(InputProblem, found))
    found = items(tmp_path / "cut.tar.gz", tmp_dir=str(tmp_path / "t"))
    assert "apps/tiktok.apk" in [i.chain[-1] for i in of(ScanInput, found)]


def test_folder_include_exclude_symlinks_and_special_files(tmp_path):
    root = tmp_path / "pull"
    (root / "a").mkdir(parents=True)
    shutil.copy(APKS / "v1v2.apk", root / "a" / "one.apk")
    shutil.copy(APKS / "v2-only.apk", root / "two.bin")  # content decides, not the name
    (root / "notes.txt").write_text("hello")
    os.symlink(root / "a" / "one.apk", root / "link.apk")
    os.symlink(root / "a", root / "linkdir")
    os.mkfifo(root / "pipe")
    found = items(root)
    assert sorted(i.chain[-1] for i in of(ScanInput, found)) == [str(root / "a" / "one.apk"), str(root / "two.bin")]
    reasons: dict = {}
    for s in of(Skipped, found):
        reasons[(s.where[0], s.reason)] = reasons.get((s.where[0], s.reason), 0) + s.count
    assert reasons[(str(root), "symlink (not followed without --follow-symlinks)")] == 2  # the file and the folder
    assert any(r.startswith("not a regular file") for (_, r) in reasons)
    assert (str(root), "not an APK or a known container") in reasons
    files = of(InputFile, found)
    assert {Path(f.path).name for f in files} == {"one.apk", "two.bin"}

    found = items(root, include=("a/*",))
    assert [i.chain[-1] for i in of(ScanInput, found)] == [str(root / "a" / "one.apk")]
    assert sum(s.count for s in of(Skipped, found) if s.reason.startswith("excluded")) >= 2
    found = items(root, exclude=("*.apk",))
    assert [i.chain[-1] for i in of(ScanInput, found)] == [str(root / "two.bin")]


def test_follow_symlinks_never_walks_a_loop(tmp_path):
    """A link back into the input is a second way in: said, never walked (no loop to detect)."""
    root = tmp_path / "r"
    (root / "sub").mkdir(parents=True)
    shutil.copy(APKS / "v1v2.apk", root / "sub" / "x.apk")
    os.symlink(root, root / "sub" / "back")  # a loop
    found = items(root, follow_symlinks=True)
    assert len(of(ScanInput, found)) == 1
    assert [s.examples for s in of(Skipped, found) if s.reason.startswith("symlink to a file or folder inside")] == [["back"]]


def test_split_folder_members_share_a_bundle_key(tmp_path):
    d = tmp_path / "com.example.clean-1"
    d.mkdir()
    shutil.copy(APKS / "clean-v1v2v3.apk", d / "base.apk")
    shutil.copy(CONTAINERS / "splits" / "clean-config.en.apk", d / "split_config.en.apk")
    (d / "lib").mkdir()
    (d / "lib" / "other.apk").write_bytes((APKS / "v1v2.apk").read_bytes())
    found = of(ScanInput, items(tmp_path))
    keys = {i.chain[-1].rsplit("/", 1)[-1]: i.bundle for i in found}
    assert keys["base.apk"] == keys["split_config.en.apk"] == str(d)
    assert keys["other.apk"] is None


def test_hostile_tar_members(tmp_path):
    found = items(CONTAINERS / "hostile.tar", tmp_dir=str(tmp_path))
    apks = {i.chain[-1]: i for i in of(ScanInput, found)}
    assert set(apks) == {"../../escape.apk", "/abs/v1v2.apk", "ok/v3-only.apk"}
    assert [f.code for f in apks["../../escape.apk"].flags] == ["TAMPER_MEMBER_NAME"]
    assert [f.code for f in apks["/abs/v1v2.apk"].flags] == ["TAMPER_MEMBER_NAME"]
    assert apks["ok/v3-only.apk"].flags == []
    links = [s for s in of(Skipped, found) if s.reason.startswith("tar link")]
    assert sum(s.count for s in links) == 4
    assert not (tmp_path.parent / "escape.apk").exists() and not Path("/abs").exists()


def test_ten_thousand_tiny_files_in_a_tar(tmp_path):
    path = tmp_path / "many.tar"
    with tarfile.open(path, "w") as tf:
        for i in range(10_000):
            info = tarfile.TarInfo(f"d/{i}.txt")
            info.size = 3
            tf.addfile(info, io.BytesIO(b"hi\n"))
        info = tarfile.TarInfo("d/app.apk")
        data = (APKS / "v1v2.apk").read_bytes()
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    found = items(path, tmp_dir=str(tmp_path / "t"))
    skipped = of(Skipped, found)
    assert sum(s.count for s in skipped) == 10_000
    assert {s.reason for s in skipped} == {"not an APK or a known container"}
    assert [i.chain for i in of(ScanInput, found)] == [(str(path), "d/app.apk")]


def test_recognised_formats_reach_their_readers_and_unread_ones_are_named(tmp_path):
    (tmp_path / "device.ab").write_bytes(b"ANDROID BACKUP\n5\n1\nnone\n" + bytes(100))  # zlib flag, no zlib
    (tmp_path / "miui.bak").write_bytes(b"MIUI v1\n\nANDROID BACKUP\n5\n0\nnone\n" + bytes(1024))
    (tmp_path / "pm.txt").write_text("package:/data/app/base.apk=com.tencent.mm\n")
    (tmp_path / "x.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + bytes(40))
    found = items(tmp_path)
    probs = {Path(p.chain[0]).name: p.issues[0] for p in of(InputProblem, found)}
    assert probs["device.ab"].code == "BACKUP_CORRUPT"
    assert probs["miui.bak"].code == "BACKUP_EMPTY"  # junk lines skipped, an empty tar behind them
    assert probs["x.7z"].code == "INPUT_UNSUPPORTED_CONTAINER" and "7-Zip" in probs["x.7z"].message
    assert [(r.package, r.recorded_by) for r in of(RecordedApp, found)] == [("com.tencent.mm", "pm list packages")]


class _PlainAdb:
    """A real (minimal) reader for the test: unencrypted, uncompressed adb backup v1 -> tar."""

    kind = "adb-backup"

    def __init__(self, stream, chain, password):
        self.chain, self.password = chain, password
        for _ in range(4):  # magic, version, compressed flag, encryption
            line = b""
            while not line.endswith(b"\n"):
                line += stream.read(1)
        self.tar = TarReader(stream, chain)

    def entries(self):
        yield RecordedApp(self.chain + ("apps/com.tencent.mm/_manifest",), "com.tencent.mm", "adb backup _manifest")
        yield from self.tar.entries()


def test_registry_entry_wires_a_reader_with_the_password(tmp_path, monkeypatch):
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as tf:
        data = (APKS / "wechat-impostor.apk").read_bytes()
        info = tarfile.TarInfo("apps/com.tencent.mm/a/base.apk")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    (tmp_path / "device-07.ab").write_bytes(b"ANDROID BACKUP\n1\n0\nnone\n" + tar.getvalue())
    asked = []
    wired = [registry.StreamFormat("adb-backup", "an adb backup", registry.detect.is_adb_backup,
                                   lambda stream, chain, ctx: _PlainAdb(stream, chain, ctx.password()))]
    monkeypatch.setattr(registry, "STREAM_FORMATS", wired + registry.STREAM_FORMATS[1:])
    found = items(tmp_path / "device-07.ab", tmp_dir=str(tmp_path / "t"), password=lambda: asked.append(1) or "pw")
    assert [r.package for r in of(RecordedApp, found)] == ["com.tencent.mm"]
    assert [i.chain for i in of(ScanInput, found)] == [(str(tmp_path / "device-07.ab"), "apps/com.tencent.mm/a/base.apk")]
    assert asked == [1]
    assert of(InputFile, found)[0].kind == "adb-backup" and of(InputFile, found)[0].sha256


def test_missing_and_special_given_paths(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    found = items(tmp_path / "nope.apk", tmp_path / "fifo")
    assert [p.issues[0].code for p in of(InputProblem, found)] == ["INPUT_NOT_FOUND", "INPUT_NOT_A_FILE"]


def test_given_garbage_file_still_goes_to_identify(tmp_path):
    """A file named on the command line is never skipped silently: identify says what is wrong."""
    (tmp_path / "x.bin").write_bytes(b"\x00\xffgarbage\x01" * 10)
    found = items(tmp_path / "x.bin")
    assert [i.chain for i in of(ScanInput, found)] == [(str(tmp_path / "x.bin"),)]


def test_given_text_without_a_listing_is_said_as_text(tmp_path):
    """Review 32 #2: not a misleading 'not a ZIP archive': text that is no listing is said so, by code."""
    (tmp_path / "x.txt").write_bytes(b"garbage" * 10)
    found = items(tmp_path / "x.txt")
    assert [p.issues[0].code for p in of(InputProblem, found)] == ["TEXT_EVIDENCE_NOT_FOUND"]
    assert of(ScanInput, found) == []


def test_member_named_apk_that_is_no_zip_is_an_error_not_a_skip(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("fake.apk", b"not a zip at all" * 10, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("stored.apk", b"not a zip either")  # on disk: identify says exactly what is wrong
    found = items(tmp_path / "a.zip")
    assert [p.issues[0].code for p in of(InputProblem, found)] == ["INPUT_NOT_AN_APK"]
    assert [i.chain[-1] for i in of(ScanInput, found)] == ["stored.apk"]


@pytest.mark.parametrize("blob", [b"", b"PK\x03\x04", b"PK\x05\x06" + bytes(18), b"\x1f\x8b\x08" + bytes(20),
                                  b"BZh91AY&SY" + bytes(30), b"\xfd7zXZ\x00" + bytes(30), bytes(600)])
def test_truncated_magic_never_crashes(tmp_path, blob):
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
        z.writestr("m.bin", blob)
    (tmp_path / "top.bin").write_bytes(blob)
    found = items(tmp_path / "c.zip", tmp_path / "top.bin", tmp_dir=str(tmp_path / "t"))
    assert found  # records, no exception


# --- property: mutated real containers never crash the walk ---------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SEEDS = {name: (CONTAINERS / name).read_bytes() for name in ("pull.tar.gz", "bundletool.apks", "hostile.tar", "clean.xapk")}


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(_SEEDS)), flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)),
                                                            max_size=6), cut=st.integers(0, 1 << 20))
def test_mutated_containers_yield_records_never_exceptions(tmp_path_factory, name, flips, cut):
    data = bytearray(_SEEDS[name])
    for pos, val in flips:
        data[pos % len(data)] = val
    data = data[: max(1, cut % (len(data) + 1))] if cut % 3 == 0 else data
    d = tmp_path_factory.mktemp("m")
    (d / name).write_bytes(bytes(data))
    for item in FileSource([str(d / name)], WalkOptions(tmp_dir=str(d / "t"))).inputs():
        if isinstance(item, ScanInput) and item.cleanup:
            os.unlink(item.path)
    assert not (d / "t").exists() or list((d / "t").iterdir()) == []


def test_zstd_is_read_or_clearly_unsupported(tmp_path):
    try:
        from compression import zstd  # noqa: F401
        available = True
    except ImportError:
        try:
            import zstandard  # noqa: F401
            available = True
        except ImportError:
            available = False
    if available:
        pytest.skip("a zstd decoder is installed: covered by the gzip/xz paths")
    (tmp_path / "x.tar.zst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(64))
    found = items(tmp_path / "x.tar.zst", APKS / "v1v2.apk")
    assert [p.issues[0].code for p in of(InputProblem, found)] == ["CONTAINER_UNSUPPORTED_COMPRESSION"]
    assert len(of(ScanInput, found)) == 1


def test_empty_archives_are_accounted_for(tmp_path):
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    with tarfile.open(tmp_path / "empty.tar", "w", format=tarfile.USTAR_FORMAT) as tf:
        d = tarfile.TarInfo("only-a-folder/")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
    found = items(tmp_path / "empty.zip", tmp_path / "empty.tar")
    assert sorted(s.examples[0] for s in of(Skipped, found) if s.reason.startswith("empty container")) == \
        [str(tmp_path / "empty.tar"), str(tmp_path / "empty.zip")]


class _MiniQF:
    """A small real layout reader for the test: packages.json names apps, apks/ holds APKs."""

    kind = "androidqf"

    def __init__(self, tree):
        self.tree, self.chain = tree, tree.chain

    def entries(self):
        import json

        with self.tree.member("packages.json").open() as fh:
            for pkg in json.loads(fh.read()):
                yield RecordedApp(self.chain + ("packages.json",), pkg["name"], "androidqf packages.json")
        for name in self.tree.names():
            if name.startswith("apks/"):
                yield self.tree.member(name)


def _qf_folder(root: Path) -> Path:
    (root / "apks").mkdir(parents=True)
    (root / "packages.json").write_text('[{"name": "com.tencent.mm"}]')
    (root / "acquisition.json").write_text("{}")
    shutil.copy(APKS / "v1v2.apk", root / "apks" / "com.example.v1v2.apk")
    return root


def test_layout_registry_entry_reads_folders_and_zips(tmp_path, monkeypatch):
    wired = [registry.LayoutFormat("androidqf", "an AndroidQF acquisition", registry._androidqf_marker,
                                   registry._androidqf, lambda tree, ctx: _MiniQF(tree))]
    monkeypatch.setattr(registry, "LAYOUT_FORMATS", wired)
    root = _qf_folder(tmp_path / "acq")
    found = items(tmp_path / "acq")
    assert [(r.chain, r.package) for r in of(RecordedApp, found)] == [((str(root), "packages.json"), "com.tencent.mm")]
    assert [i.chain for i in of(ScanInput, found)] == [(str(root), "apks/com.example.v1v2.apk")]
    assert of(InputProblem, found) == []
    archive = tmp_path / "acq.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(root).as_posix())
    found = items(archive)
    assert [i.chain for i in of(ScanInput, found)] == [(str(archive), "apks/com.example.v1v2.apk")]
    assert [r.package for r in of(RecordedApp, found)] == ["com.tencent.mm"]


def test_unwired_layout_is_named_and_its_files_still_scanned(tmp_path, monkeypatch):
    unwired = [registry.LayoutFormat("androidqf", "an AndroidQF acquisition", registry._androidqf_marker,
                                     registry._androidqf, None)]
    monkeypatch.setattr(registry, "LAYOUT_FORMATS", unwired)
    root = _qf_folder(tmp_path / "acq")
    found = items(root)
    probs = of(InputProblem, found)
    assert [p.issues[0].code for p in probs] == ["INPUT_UNSUPPORTED_CONTAINER"] and "AndroidQF" in probs[0].issues[0].message
    assert [i.chain[-1] for i in of(ScanInput, found)] == [str(root / "apks" / "com.example.v1v2.apk")]
    custody = of(InputFile, found)  # walked file by file: the APK has its custody record
    assert [Path(f.path).name for f in custody] == ["com.example.v1v2.apk"]


def test_layout_members_in_a_folder_get_custody_records(tmp_path, monkeypatch):
    wired = [registry.LayoutFormat("androidqf", "an AndroidQF acquisition", registry._androidqf_marker,
                                   registry._androidqf, lambda tree, ctx: _MiniQF(tree))]
    monkeypatch.setattr(registry, "LAYOUT_FORMATS", wired)
    root = _qf_folder(tmp_path / "acq")
    found = items(root)
    assert [(Path(f.path).name, f.kind) for f in of(InputFile, found)] == [("com.example.v1v2.apk", "apk"),
                                                                           ("packages.json", "backup-file")]


def test_zip_member_names_that_escape_are_flagged_not_followed(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("../../../tmp/evil.apk", (APKS / "v1v2.apk").read_bytes())
        z.writestr("/etc/cron.d/x.apk", (APKS / "v2-only.apk").read_bytes())
        z.writestr("fine/\x1b[31mred.txt", b"text")
    found = items(tmp_path / "evil.zip")
    flagged = {i.chain[-1]: [f.code for f in i.flags] for i in of(ScanInput, found)}
    assert flagged == {"../../../tmp/evil.apk": ["TAMPER_MEMBER_NAME"], "/etc/cron.d/x.apk": ["TAMPER_MEMBER_NAME"]}
    assert [s.examples for s in of(Skipped, found)] == [["fine/\x1b[31mred.txt"]]  # kept as data; reports escape it
