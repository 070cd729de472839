"""Bytes the walker would open as a container are never counted as data under a data name (review 72
F1, F2, F3, F11).

For any bytes B, if ``apkscan scan B`` reports an APK, B under a data name (an adb backup's ``f/``
file, AndroidQF's ``bugreport.zip``, a Neo ``data.tar.gz``, a Titanium data ``.tar.gz``), or as an
entry of a data ZIP there, is walked. The look followed ZIPs only, and by their head: a gzip, tar,
bzip2 or xz layer holding TikTok, a stored entry of junk then a ZIP (read by the walker from its end),
the data file itself so made: each was "data", exit 0. Now the look follows the layers the walker
opens and reads stored bytes from their end as the walker does. Well-formed app data (a gzip or tar
of text, a JPEG, a ZIP of them) stays data, read once. Real bytes: the fixture APKs, packed here.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import subprocess
import zipfile

import pytest
from test_data_name_polyglots import JPEG, build, run
from test_data_zip_by_content import TIKTOK, tiktoks
from test_polyglots import tar_of

from apkscan.sources import data_stream, data_zip, detect

NOTES = b"cache line\n" * 200
TEXT = b"plain text an app keeps, not an APK and not a container\n" * 400
PREFIX = b"\x00junk before the archive, as a self-extractor's stub\n" * 20


def data_zip_of(entry: bytes, method: int) -> bytes:
    """A data ZIP: ``notes.txt`` and ``data/x`` (``entry``, stored or deflated)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("notes.txt", NOTES, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("data/x", entry, compress_type=method)
    return out.getvalue()


def prefixed_zip(prefix: bytes, members: list[tuple[str, bytes]]) -> bytes:
    """``prefix`` then a ZIP whose offsets count it (as ``zip -A`` writes a self-extractor)."""
    out = io.BytesIO()
    out.write(prefix)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


def layered(blob: bytes) -> dict[str, bytes]:
    """``blob`` behind each layer the walker opens (F1, F3, F11)."""
    tar = tar_of([("blob", blob)])
    return {"gzip": gzip.compress(blob, mtime=0), "tar": tar, "tar.gz": gzip.compress(tar, mtime=0),
            "tar.bz2": bz2.compress(tar), "tar.xz": lzma.compress(tar)}


def shapes(blob: bytes) -> dict[str, bytes]:
    """Each repro shape: the data file itself layered or junk then a ZIP (F3, F11), and a data ZIP
    whose entry is layered (F1, stored and deflated) or a stored junk-then-ZIP entry (F2)."""
    out = {f"file {k}": v for k, v in layered(blob).items()}
    out["file junk+zip"] = prefixed_zip(PREFIX, [("FS/data/app/x/base", blob)])
    out["file jpeg+zip"] = prefixed_zip(JPEG, [("FS/data/app/x/base", blob)])
    for k, v in layered(blob).items():
        out[f"entry {k} stored"] = data_zip_of(v, zipfile.ZIP_STORED)
        out[f"entry {k} deflated"] = data_zip_of(v, zipfile.ZIP_DEFLATED)
    out["entry junk+zip stored"] = data_zip_of(prefixed_zip(PREFIX, [("FS/data/app/x/base", blob)]), zipfile.ZIP_STORED)
    return out


PLACES = [("adb f/", "stream"), ("neo", "folder"), ("neo", "deflated zip"), ("titanium", "folder"),
          ("titanium", "deflated zip"), ("androidqf", "folder"), ("androidqf", "stored zip"),
          ("androidqf", "deflated zip")]
SHAPES = sorted(shapes(b"").keys())


def _banned(rules, policy, tmp_path, shape: str, place: str, packing: str) -> dict:
    data = shapes(TIKTOK)[shape]
    assert tiktoks(run(rules, policy, tmp_path, _alone(tmp_path, data))), "the bytes alone give TikTok"
    path, _name, _reason = build(place, packing, tmp_path / "in", data)
    return run(rules, policy, tmp_path, path)


def _alone(tmp_path, data: bytes):
    (tmp_path / "in").mkdir()
    path = tmp_path / "alone.bin"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("place,packing", PLACES)
@pytest.mark.parametrize("shape", SHAPES)
def test_an_apk_the_walker_finds_alone_is_found_under_a_data_name(rules, policy, tmp_path, shape, place, packing):
    doc = _banned(rules, policy, tmp_path, shape, place, packing)
    (app,) = tiktoks(doc)
    assert app["verdict"] == "prohibited"


def clean_data() -> dict[str, bytes]:
    """Well-formed app data: layered text, a JPEG, a tar of a JPEG and text, a data ZIP of them."""
    out = {f"text {k}": v for k, v in layered(TEXT).items()}
    out["jpeg"] = JPEG + TEXT
    out["tar of jpeg and text"] = tar_of([("photo.jpg", JPEG + TEXT), ("notes.txt", TEXT)])
    for k, v in layered(TEXT).items():
        out[f"zip of text {k}"] = data_zip_of(v, zipfile.ZIP_DEFLATED)
        out[f"zip of text {k} stored"] = data_zip_of(v, zipfile.ZIP_STORED)
    return out


@pytest.mark.parametrize("shape", sorted(clean_data()))
def test_well_formed_app_data_stays_data_to_the_look(shape):
    data = clean_data()[shape]
    pos = [0]

    def read(n: int) -> bytes:
        out = data[pos[0]:pos[0] + n]
        pos[0] += len(out)
        return out

    assert data_zip.stream_look(read, detect.names_an_apk, detect.NAME_SPAN) is None
    assert pos[0] == len(data)  # read once, to its end


@pytest.mark.parametrize("place,packing", PLACES)
@pytest.mark.parametrize("shape", ["text tar.gz", "jpeg", "zip of text tar.gz stored", "text gzip"])
def test_well_formed_app_data_stays_data_in_each_place(rules, policy, tmp_path, shape, place, packing):
    path, name, reason = build(place, packing, tmp_path, clean_data()[shape])
    doc = run(rules, policy, tmp_path, path)
    assert doc["errors"] == [] and tiktoks(doc) == []
    assert any(name.rsplit("/", 1)[-1] in str(s.get("examples")) for s in doc["skipped"] if s["reason"] == reason)


def test_a_corrupt_layer_under_a_data_name_is_walked_and_said(rules, policy, tmp_path):
    """A gzip cut short cannot be followed: the walker reads it and says why, never a silent "data"."""
    cut = gzip.compress(tar_of([("blob", TIKTOK)]), mtime=0)[:-4000]
    path, name, _reason = build("titanium", "folder", tmp_path, cut)
    doc = run(rules, policy, tmp_path, path)
    assert any(e["source"]["chain"][-1].endswith(name) or name in str(e["source"]["chain"]) for e in doc["errors"])


def test_a_deep_stack_of_layers_is_walked(rules, policy, tmp_path):
    """Past data_zip.LEVELS layers the look stops and the walker reads it (and says CONTAINER_TOO_DEEP)."""
    data = TIKTOK
    for _ in range(data_zip.LEVELS + 1):
        data = gzip.compress(tar_of([("blob", data)]), mtime=0)
    pos = [0]

    def read(n: int) -> bytes:
        out = data[pos[0]:pos[0] + n]
        pos[0] += len(out)
        return out

    assert data_zip.stream_look(read, detect.names_an_apk, detect.NAME_SPAN) == "content"


def test_a_zip64_end_record_by_info_zip_stays_data(rules, policy, tmp_path):
    """F4: ``zip -fz`` writes the end record's directory offset as all ones, deferring to its ZIP64 end
    record; with that record and its locator naming the same directory, the data ZIP stays data,
    streamed and in place."""
    src = tmp_path / "src"
    (src / "FS/data/misc").mkdir(parents=True)
    (src / "bugreport-x.txt").write_bytes(TEXT)
    (src / "FS/data/misc/photo.jpg").write_bytes(JPEG + TEXT)
    subprocess.run(["zip", "-qr", "-fz", str(tmp_path / "z64.zip"), "."], cwd=src, check=True)
    report = (tmp_path / "z64.zip").read_bytes()
    assert report[report.rindex(b"PK\x05\x06") + 16:][:4] == b"\xff" * 4  # the offset defers to ZIP64
    assert data_stream.streamed_zip_look(io.BytesIO(report), 4 << 20)[0] == data_stream.STREAM_DATA
    for place, packing in [("androidqf", "folder"), ("androidqf", "deflated zip")]:
        (tmp_path / packing).mkdir()
        path, name, reason = build(place, packing, tmp_path / packing, report)
        doc = run(rules, policy, tmp_path, path)
        assert doc["errors"] == [] and any(name in str(s.get("examples")) for s in doc["skipped"]
                                           if s["reason"] == reason), (place, packing)
