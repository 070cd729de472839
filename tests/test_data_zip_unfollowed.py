"""What the data-ZIP look cannot follow is walked, never skipped as data (review 67 F1-F3).

A ZIP under a data name (an adb backup's ``f/`` file, AndroidQF's ``bugreport.zip``) is walked when it
holds an APK by name or by content. The look that decides followed the local entries one after
another and, at the first it could not follow (16 bytes of padding, a stored entry with a data
descriptor as Go and Python write to a pipe, a bzip2 or LZMA entry, a stored ZIP64 entry), answered
"no APK": a banned APK behind it was never scanned, exit 0. A tar+ZIP polyglot entry was never looked
into, and a ZIP nested past ``data_zip.LEVELS`` was passed over. Now: a well-formed entry is followed
(sizes from the ZIP64 extra field, a stored entry to its matching descriptor), whatever is not is
walked (the walker reads the central directory and says what it cannot read), a known head is read
from its end, and the last level answers yes (``CONTAINER_TOO_DEEP``). Real bytes: the fixture APKs in
ZIPs, tars and adb backups built here.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from backup_helpers import build_ab, manifest
from test_data_zip_by_content import CLEAN, HIDDEN, TIKTOK, androidqf, tiktoks, zip_of, zipped
from zip_helpers import Unseekable

from apkscan.scan import scan
from apkscan.sources import data_stream, data_zip
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

F_FILE = "apps/com.example.clean/f/cache.bin"
APP_DATA = "app data (not scanned)"
AQF_DATA = "AndroidQF acquisition file (not scanned)"
NOTES = b"cache line\n" * 200
TEXT = b"not an apk, not a zip: plain text kept by the app\n" * 300


def shaped(shape: str, blob: bytes) -> bytes:
    """A ZIP of [``notes.txt`` in ``shape``, ``blob`` deflated]."""
    out = Unseekable() if shape == "go" else io.BytesIO()  # unseekable: every entry behind a descriptor, as Go writes
    method = {"bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}.get(shape, zipfile.ZIP_STORED)
    with zipfile.ZipFile(out, "w") as z:
        if shape == "zip64":
            with z.open(zipfile.ZipInfo("notes.txt", (2026, 1, 1, 0, 0, 0)), "w", force_zip64=True) as fh:
                fh.write(NOTES)
        else:
            z.writestr("notes.txt", NOTES, compress_type=method)
        if shape == "padding":
            out.write(bytes(16))  # between the first entry's data and the next local header; offsets kept true
            z.start_dir = out.tell()  # where zipfile writes the next header
        z.writestr("blob", blob, compress_type=zipfile.ZIP_DEFLATED)
    return (out.buf if shape == "go" else out).getvalue()


def tar_then_zip(members: list[tuple[str, bytes]]) -> bytes:
    """A ustar tar, then a ZIP whose offsets count from the start (as ``zip -A`` writes them)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo("notes.txt")
        info.size, info.mtime = len(NOTES), 1700000000
        t.addfile(info, io.BytesIO(NOTES))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


def run(rules, policy, tmp_path: Path, path: Path) -> dict:
    return scan([FileSource([str(path)], WalkOptions(tmp_dir=str(tmp_path / "spool")))], rules, policy).to_dict()


def backup(tmp_path: Path, f_file: bytes) -> Path:
    path = tmp_path / "phone.ab"
    path.write_bytes(build_ab([("apps/com.example.clean/_manifest", manifest("com.example.clean", 1, [], True)),
                               ("apps/com.example.clean/a/base.apk", CLEAN), (F_FILE, f_file)]))
    return path


def acquisition(tmp_path: Path, report: bytes, packing: str) -> Path:
    path = androidqf(tmp_path / "acq", report)
    return path if packing == "folder" else zipped(path, tmp_path / "acq.zip", zipfile.ZIP_DEFLATED)


def codes(doc: dict) -> set[str]:
    return {i["code"] for e in doc["errors"] for i in e["errors"]}


def reasons(doc: dict) -> set[str]:
    return {s["reason"] for s in doc["skipped"]}


def look(data: bytes) -> str:
    return data_stream.streamed_zip_look(io.BytesIO(data), 4 << 20)[0]


@pytest.mark.parametrize("shape", ["padding", "go", "bzip2", "lzma", "zip64"])
def test_a_banned_apk_behind_an_entry_the_look_did_not_follow_is_scanned(rules, policy, tmp_path, shape):
    """F1: an adb backup's ``f/`` file [``notes.txt`` in that shape, TikTok deflated as ``blob``]."""
    doc = run(rules, policy, tmp_path, backup(tmp_path, shaped(shape, TIKTOK)))
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited" and app["source"]["chain"][1:] == [F_FILE, "blob"]
    assert APP_DATA not in reasons(doc)
    # the walker reads what the look could not and says it: a bzip2 or LZMA entry does not inflate
    assert codes(doc) == ({"ZIP_ENTRY_INFLATE_FAILED"} if shape in ("bzip2", "lzma") else set())


@pytest.mark.parametrize("packing", ["folder", "deflated zip"])
@pytest.mark.parametrize("shape", ["bzip2", "zip64"])
def test_a_nested_zip_the_look_did_not_follow_in_bugreport_zip(rules, policy, tmp_path, packing, shape):
    """F1, one ZIP down: bugreport.zip -> ``FS/data/x/blob`` = [``notes.txt`` in that shape, TikTok]."""
    report = zip_of([("version.txt", b"2.0\n"), ("FS/data/x/blob", shaped(shape, TIKTOK))])
    doc = run(rules, policy, tmp_path, acquisition(tmp_path, report, packing))
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited" and app["source"]["chain"][-2:] == ["FS/data/x/blob", "blob"]


@pytest.mark.parametrize("shape", ["go", "zip64"])
def test_well_formed_data_zips_stay_data(rules, policy, tmp_path, shape):
    """The look's cost is kept for what it follows: a Go-written or ZIP64 data ZIP holding no APK is
    read once and answers no (counted as data, not walked, no error)."""
    data = shaped(shape, TEXT)
    assert look(data) == data_stream.STREAM_DATA
    assert look(shaped(shape, TIKTOK)) == data_stream.STREAM_APK
    doc = run(rules, policy, tmp_path, backup(tmp_path, data))
    assert APP_DATA in reasons(doc) and doc["errors"] == []
    assert [a["package"] for a in doc["apps"] if a["identity"]["origin"] == "apk"] == ["com.example.clean"]


def test_what_the_look_cannot_follow_is_walked_and_said(rules, policy, tmp_path):
    """A data ZIP the look cannot follow answers yes even with no APK in it: the walker reads it
    through its central directory and says what it cannot read (never a silent skip)."""
    assert look(shaped("padding", TEXT)) == data_stream.STREAM_APK
    doc = run(rules, policy, tmp_path, backup(tmp_path, shaped("bzip2", TEXT)))
    assert APP_DATA not in reasons(doc) and codes(doc) == {"ZIP_ENTRY_INFLATE_FAILED"}
    # a stored entry whose descriptor does not match what it holds: not followed, walked
    go = bytearray(shaped("go", TEXT))
    at = go.index(b"PK\x07\x08")
    go[at + 4] ^= 0xFF  # its CRC
    assert look(bytes(go)) == data_stream.STREAM_APK


@pytest.mark.parametrize("place", ["folder", "deflated zip", "adb f/"])
def test_a_tar_zip_polyglot_entry_of_a_data_zip_is_looked_into(rules, policy, tmp_path, place):
    """F2: a data ZIP's entry that is a tar followed by a ZIP holding TikTok under a data name: the
    walker reads it from its end (``CONTAINER_POLYGLOT``), so the look does too."""
    report = zip_of([("version.txt", b"2.0\n"), ("FS/data/misc/blob", tar_then_zip([(HIDDEN, TIKTOK)]))])
    path = backup(tmp_path, report) if place == "adb f/" else acquisition(tmp_path, report, place)
    doc = run(rules, policy, tmp_path, path)
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited" and app["source"]["chain"][-2:] == ["FS/data/misc/blob", HIDDEN]
    assert "CONTAINER_POLYGLOT" in codes(doc)
    assert not {APP_DATA, AQF_DATA} & reasons(doc) or place != "adb f/"


def test_an_f_file_that_is_tar_then_zip_is_judged_by_content(rules, policy, tmp_path):
    """F2, one level up: the ``f/`` file itself is a tar then a ZIP holding TikTok under a data name
    (its tail's directory names no APK); a tar then a ZIP of text stays data."""
    doc = run(rules, policy, tmp_path, backup(tmp_path, tar_then_zip([(HIDDEN, TIKTOK)])))
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited" and app["source"]["chain"][1:] == [F_FILE, HIDDEN]
    doc = run(rules, policy, tmp_path / "clean", backup(tmp_path, tar_then_zip([("FS/data/log.txt", TEXT)])))
    assert APP_DATA in reasons(doc) and doc["errors"] == []
    assert [a["package"] for a in doc["apps"] if a["identity"]["origin"] == "apk"] == ["com.example.clean"]


def test_a_zip_past_the_looks_levels_is_walked_and_said_too_deep(rules, policy, tmp_path):
    """F3: TikTok in ZIPs nested past ``data_zip.LEVELS`` in an ``f/`` file: the data ZIP is walked
    and the walker says ``CONTAINER_TOO_DEEP``, where the look passed it over as data (exit 0)."""
    inner = zip_of([("base", TIKTOK)])
    for i in range(data_zip.LEVELS):
        inner = zip_of([(f"level{i}.bin", inner)])
    doc = run(rules, policy, tmp_path, backup(tmp_path, inner))
    assert APP_DATA not in reasons(doc) and "CONTAINER_TOO_DEEP" in codes(doc)


def test_a_stored_zip_behind_a_descriptor_starting_at_a_read_boundary(rules, policy, tmp_path):
    """A stored entry of unknown size holding a ZIP is walked whatever the reads' boundaries: its head
    is read whole first (it began 2 bytes before a 1 MiB read ended, and the ZIP inside, TikTok
    deflated as ``base``, was passed over as data)."""
    pad = data_zip.CHUNK - 2 - 30 - len("pad.bin") - 16 - 30 - len("inner.zip")
    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("pad.bin", bytes(pad))
        z.writestr("inner.zip", zip_of([("base", TIKTOK)]))
    data = out.buf.getvalue()
    assert data[data_zip.CHUNK - 2:data_zip.CHUNK + 2] == b"PK\x03\x04"
    assert look(data) == data_stream.STREAM_APK
    doc = run(rules, policy, tmp_path, backup(tmp_path, data))
    (app,) = tiktoks(doc)
    assert app["source"]["chain"][1:] == [F_FILE, "inner.zip", "base"]
