"""A ZIP stored first, with a data descriptor, in a ZIP written to a pipe: the stream reads its entries (review 91 F3).

Info-ZIP ``zip`` writing to a pipe sets bit 3 (a data descriptor) on stored entries too. Android's
``ZipInputStream`` reads such an entry as empty and the next local header where its data starts, so
the stream reads the first member's own entries as the outer file's. Since zipcover91 that was said
as ``TAMPER_CONTAINER_LOCAL_ONLY_ENTRY`` ("475 members ('classes.dex', ...)") and each such entry
was walked twice, once as the outer file's member. Now: the entries walked once, inside it, and
nothing said (no warning, no error row: an ordinary piped ZIP of clean APKs exits 0), the two
readings agreeing entry for entry. The zipcover91 attack (an asset whose central record says deflated) and the
ways around the exemption are still read as local-only members: a nested directory that lists other
entries than the stream reads, a member the APK does not walk as a container.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.apksigner_helper import apksigner_available, apksigner_verify
from tests.cli_helpers import generate_module, run
from tests.test_apk_local_coverage import APKS, LOCAL_ONLY, TIKTOK, V1, apps_of, codes_in, container_codes, directory, \
    insert, stored
from tests.test_apk_local_descriptor import _DESC, _local, carrier_of

needs_zip = pytest.mark.skipif(shutil.which("zip") is None, reason="Info-ZIP zip not installed")


def piped_zip(folder: Path, *names: str, recurse: bool = False) -> bytes:
    """``zip -q -0 [-r] - NAMES`` run in ``folder``, its output a pipe (the oracle: Info-ZIP's own bytes)."""
    args = ["zip", "-q", "-0", *(["-r"] if recurse else []), "-", *names]
    return subprocess.run(args, cwd=folder, stdout=subprocess.PIPE, check=True).stdout


def first_is_stored_with_descriptor(data: bytes) -> bool:
    flags, method = struct.unpack_from("<HH", data, 6)
    return data[:4] == b"PK\x03\x04" and flags & 8 and method == 0


def chains(doc: dict, package: str) -> list[tuple]:
    return sorted(tuple(a["source"]["chain"][1:]) for a in doc["apps"] if a["package"] == package)


def skipped_names(doc: dict, where: str) -> list[str]:
    return [n for s in doc["skipped"] for n in s.get("examples", []) if s["where"] == where]


def scan_bytes(scan_path, tmp_path: Path, name: str, data: bytes) -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_path(path)


@needs_zip
def test_a_zip_of_apks_written_to_a_pipe_says_nothing(scan_path, tmp_path):
    """The reviewer's ``zip -q -0 - a.apk b.apk c.apk | cat``: was a tamper fact listing v1-only.apk's
    entries and each of them skipped under the outer file, then one warning (an error row); now no
    row at all, each app once."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("v1-only.apk", "clean-v1v2v3.apk", "tiktok-bytedance-subject.apk"):
        shutil.copy(APKS / name, src / name)
    data = piped_zip(src, "v1-only.apk", "clean-v1v2v3.apk", "tiktok-bytedance-subject.apk")
    assert first_is_stored_with_descriptor(data)
    doc = scan_bytes(scan_path, tmp_path, "streamed.zip", data)
    assert LOCAL_ONLY not in codes_in(doc) and not doc["errors"], doc["errors"]
    assert chains(doc, "com.example.v1only") == [("v1-only.apk",)]
    assert chains(doc, "com.zhiliaoapp.musically") == [("tiktok-bytedance-subject.apk",)]
    assert apps_of(doc)["com.zhiliaoapp.musically"]["verdict"] == "prohibited"
    assert not skipped_names(doc, str(tmp_path / "streamed.zip"))  # v1-only.apk's entries: not the outer file's


@needs_zip
def test_a_banned_apk_in_the_nested_zip_is_scanned_once(scan_path, tmp_path):
    """The stream installs TikTok from inside ``inner.zip``: it is that ZIP's member, found there once."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "inner.zip").write_bytes(_zip({"base.apk": TIKTOK, "notes.txt": b"notes\n"}))
    shutil.copy(APKS / "v1-only.apk", src / "v1-only.apk")
    data = piped_zip(src, "inner.zip", "v1-only.apk")
    assert first_is_stored_with_descriptor(data)
    doc = scan_bytes(scan_path, tmp_path, "streamed.zip", data)
    assert chains(doc, "com.zhiliaoapp.musically") == [("inner.zip", "base.apk")]
    assert apps_of(doc)["com.zhiliaoapp.musically"]["verdict"] == "prohibited"
    assert LOCAL_ONLY not in codes_in(doc) and not doc["errors"], doc["errors"]


@needs_zip
def test_an_ordinary_piped_zip_of_clean_apks_exits_0(tmp_path):
    """The real CLI on ``zip -q -0 - a.apk b.apk | cat > s.zip``: every input scanned, both readings
    agreeing, so exit 0 (with the warning it was exit 3, "some inputs could not be scanned")."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(APKS / "v1-only.apk", src / "a.apk")
    shutil.copy(APKS / "clean-v1v2v3.apk", src / "b.apk")
    data = piped_zip(src, "a.apk", "b.apk")
    assert first_is_stored_with_descriptor(data)
    (tmp_path / "s.zip").write_bytes(data)
    done = run("scan", "--no-store", tmp_path / "s.zip")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stdout + done.stderr and "TAMPER" not in done.stdout


@needs_zip
def test_a_nested_directory_that_lists_other_entries_explains_nothing_hidden(scan_path, tmp_path):
    """``inner.zip`` lists only ``notes.txt``; a stored TikTok ``base.apk`` lies before its directory,
    which the stream reads: still a local-only member of the outer file, prohibited, said as such.
    ``inner.zip``'s own stream reads the same entry at the same offset: one app, the outer file's, one
    fact, ``inner.zip`` named in both (rows92: was a second row and a second fact for inner.zip)."""
    src = tmp_path / "src"
    src.mkdir()
    decoy = _zip({"notes.txt": b"notes\n"})
    (src / "inner.zip").write_bytes(insert(decoy, directory(decoy)[2], stored(b"base.apk", TIKTOK)))
    data = piped_zip(src, "inner.zip")
    doc = scan_bytes(scan_path, tmp_path, "streamed.zip", data)
    tiktok = [a for a in doc["apps"] if a["package"] == "com.zhiliaoapp.musically"]
    assert chains(doc, "com.zhiliaoapp.musically") == [("base.apk",)]
    assert all(a["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(a["identity"]) for a in tiktok)
    flag = [t["message"] for t in tiktok[0]["identity"]["tamper"] if t["code"] == LOCAL_ONLY]
    assert len(flag) == 1 and "'inner.zip'" in flag[0], flag  # inner.zip's own stream reads it too
    rows = [(tuple(e["source"]["chain"][1:]), i["message"]) for e in doc["errors"] for i in e["errors"] if i["code"] == LOCAL_ONLY]
    assert [c for c, _ in rows] == [()], rows  # the outer file's stream, inner.zip's named in it
    assert all("'base.apk'" in m and "'notes.txt'" not in m and "'inner.zip'" in m for _, m in rows), rows


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Path:
    """An app whose first entry ``assets/plugin.apk`` (v1-only.apk) is stored with a descriptor, as
    ``zip -q -0 -r - assets ... | cat`` writes it, then v2-signed by apksigner."""
    if shutil.which("zip") is None:
        pytest.skip("Info-ZIP zip not installed")
    gen, root = generate_module(), tmp_path_factory.mktemp("piped-host")
    tree = root / "tree"
    app = zipfile.ZipFile(io.BytesIO(gen.build_unsigned(gen.App("com.example.host", "Host", min_sdk=24))))
    app.extractall(tree)
    (tree / "assets").mkdir()
    (tree / "assets" / "plugin.apk").write_bytes(V1)
    unsigned = piped_zip(tree, "assets", *app.namelist(), recurse=True)
    (root / "work").mkdir()
    path = root / "host.apk"
    path.write_bytes(gen.sign(unsigned, root / "work", ["test-rsa"], v1=False, v2=True, v3=False, min_sdk=24))
    return path


def test_the_host_is_as_built(host):
    data = host.read_bytes()
    assert first_is_stored_with_descriptor(data) and data[30:30 + 7] == b"assets/"
    assert zipfile.ZipFile(host).getinfo("assets/plugin.apk").compress_type == 0


@pytest.mark.skipif(not apksigner_available(), reason="apksigner not installed")
def test_the_host_verifies(host):
    assert apksigner_verify(host)["verified"]


def test_a_signed_apk_with_a_stored_plugin_first_says_nothing(host, scan_path, tmp_path):
    """Was: ``TAMPER_CONTAINER_LOCAL_ONLY_ENTRY`` on the host, v1-only.apk's entries its members."""
    doc = scan_bytes(scan_path, tmp_path, "host.apk", host.read_bytes())
    assert LOCAL_ONLY not in codes_in(doc)
    assert chains(doc, "com.example.host") == [()] and chains(doc, "com.example.v1only") == [("assets/plugin.apk",)]
    assert not doc["errors"], doc["errors"]


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def _asset(name: bytes, inner: bytes) -> list[tuple[bytes, bytes, tuple]]:
    """A listed asset whose local header says stored with a descriptor, its central record stored
    with both sizes: ``inner``'s bytes, then the descriptor."""
    crc = zlib.crc32(inner)
    record = _local(name, 0, 0, 0, 0, flags=8) + inner + _DESC.pack(0x08074B50, crc, len(inner), len(inner))
    return [(record, name, (8, 0, crc, len(inner), len(inner)))]


@pytest.fixture(scope="module")
def carriers(tmp_path_factory) -> dict[bytes, bytes]:
    """Apps whose first entry carries a ZIP holding TikTok's ``base.apk``: under an asset name the APK
    walks as a container (v2-signed), and under a folder's name (``assets/x/``), which it does not
    (unsigned: apksigner drops folder records; the stream, SAI's once the file is named ``.zip``,
    reads it all the same)."""
    gen, root = generate_module(), tmp_path_factory.mktemp("nested-carriers")
    inner = _zip({"base.apk": TIKTOK})
    unsigned = SimpleNamespace(App=gen.App, build_unsigned=gen.build_unsigned, sign=lambda data, *a, **k: data)
    return {b"assets/inner.zip": carrier_of(gen, root / "work-0", _asset(b"assets/inner.zip", inner)),
            b"assets/x/": carrier_of(unsigned, root / "work-1", _asset(b"assets/x/", inner))}


def test_a_zip_the_apk_walks_gives_its_banned_apk_once(carriers, scan_path, tmp_path):
    doc = scan_bytes(scan_path, tmp_path, "carrier.apk", carriers[b"assets/inner.zip"])
    assert chains(doc, "com.zhiliaoapp.musically") == [("assets/inner.zip", "base.apk")]
    assert LOCAL_ONLY not in codes_in(doc) and not doc["errors"], doc["errors"]


def test_a_zip_the_apk_does_not_walk_is_no_exemption(carriers, scan_path, tmp_path):
    """A folder record carrying data is no member the APK walks (its nested look passes folders
    over): TikTok, which the stream reads from it, stays a local-only member, prohibited."""
    doc = scan_bytes(scan_path, tmp_path, "carrier.apk", carriers[b"assets/x/"])
    tiktok = apps_of(doc)["com.zhiliaoapp.musically"]
    assert tiktok["verdict"] == "prohibited" and LOCAL_ONLY in codes_in(tiktok["identity"])
    assert chains(doc, "com.zhiliaoapp.musically") == [("base.apk",)]
    assert LOCAL_ONLY in container_codes(doc)


@needs_zip
def test_a_piped_zip_inside_a_piped_zip_is_followed_in(scan_path, tmp_path):
    """``inner.zip`` is itself ``zip -0 - v1-only.apk | cat``: the stream reads inner.zip as empty,
    v1-only.apk as empty, then v1-only.apk's entries: each level's entries its ZIP's own, nothing said."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(APKS / "v1-only.apk", src / "v1-only.apk")
    (src / "inner.zip").write_bytes(piped_zip(src, "v1-only.apk"))
    data = piped_zip(src, "inner.zip")
    doc = scan_bytes(scan_path, tmp_path, "streamed.zip", data)
    assert LOCAL_ONLY not in codes_in(doc)
    assert chains(doc, "com.example.v1only") == [("inner.zip", "v1-only.apk")]
    assert not doc["errors"], doc["errors"]


@needs_zip
def test_a_bundle_obb_is_no_exemption(scan_path, tmp_path):
    """A bundle skips an OBB by its name (reading it only when it holds an APK): the entries the
    stream reads from a ZIP stored as ``main.obb`` are local-only members of the bundle, TikTok's
    ``base.apk`` among them prohibited, as before."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.obb").write_bytes(_zip({"base.apk": TIKTOK}))
    shutil.copy(APKS / "v1-only.apk", src / "base.apk")
    data = piped_zip(src, "main.obb", "base.apk")
    doc = scan_bytes(scan_path, tmp_path, "bundle.apks", data)
    tiktok = [a for a in doc["apps"] if a["package"] == "com.zhiliaoapp.musically"]
    assert tiktok and all(a["verdict"] == "prohibited" for a in tiktok)
    assert ("base.apk",) in [tuple(a["source"]["chain"][1:]) for a in tiktok]
    assert LOCAL_ONLY in container_codes(doc)
