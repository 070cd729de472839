"""One app per entry the streams read, however many nested walks read it (rows92).

A chain of ZIPs written to a pipe (``zip -q -0 - inner | cat`` at each level, stored with a data
descriptor): the outer file's stream reads on into each level down to the innermost ``base.apk``, and
so does the stream of every level the walker opens on the way. Past the depth the walker opens
(:mod:`apkscan.sources.zip_nested`), each of those walks found the same local-only ``base.apk``: four
levels deep, four prohibited TikTok rows and four ``TAMPER_CONTAINER_LOCAL_ONLY_ENTRY`` facts for one
app at one place in the file. Now the outermost walk that reads it scans it, once, and names the ZIPs
inside whose streams read it too; different bytes, or the same bytes at another offset, stay rows
of their own. Real bytes: Info-ZIP's ``zip`` writes every level.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

from tests.test_apk_local_coverage import LOCAL_ONLY, TIKTOK, V1, container_codes, directory, insert, stored
from tests.test_apk_local_stream_depth import chain_of, scan_chain, tiktok_of
from tests.test_apk_local_stream_nested import _zip, first_is_stored_with_descriptor, needs_zip, piped_zip
from apkscan.sources.zip_readings import ZIPFILE_READING

V1_PACKAGE = "com.example.v1only"


def local_only_facts(doc: dict) -> list[str]:
    """The containers' local-only facts, one message each."""
    return [i["message"] for e in doc["errors"] for i in e["errors"] if i["code"] == LOCAL_ONLY]


def row_facts(app: dict) -> list[str]:
    return [t["message"] for t in app["identity"]["tamper"] if t["code"] == LOCAL_ONLY]


def readings_named(levels: int) -> list[str]:
    """The ZIPs inside the outer file whose own streams read the innermost entry: every level the
    walker opens (``--max-depth`` 4) below the outer file, outermost first."""
    names = [f"l{levels - 1 - i}.zip" for i in range(min(levels, 4) - 1)]
    return [" ▸ ".join(names[:k]) for k in range(1, len(names) + 1)]


@needs_zip
@pytest.mark.parametrize("levels", [2, 3, 4, 5])
def test_a_piped_chain_gives_one_row_for_its_base_apk(scan_path, tmp_path, levels):
    """2 and 3 levels: read inside the walked ZIPs, nothing said (as before). 4 and 5: past the depth
    the walker opens, the outer file's own member, its fact said once, for the file and on the row,
    naming each ZIP inside whose stream reads it (was: one row and one fact per level)."""
    doc = scan_chain(scan_path, tmp_path, chain_of(tmp_path, levels, ("l0.zip", _zip({"base.apk": TIKTOK}))))
    found = tiktok_of(doc)
    assert len(found) == 1, [a["source"]["chain"][1:] for a in found]
    assert found[0]["verdict"] == "prohibited"
    facts = local_only_facts(doc)
    if levels < 4:
        assert not facts and not row_facts(found[0])
        return
    assert found[0]["source"]["chain"][1:] == ["base.apk"]  # the file's own: what SAI given it installs
    assert len(facts) == 1 and len(row_facts(found[0])) == 1, facts
    for message in (facts[0], row_facts(found[0])[0]):
        assert "the streams of 3 ZIPs inside it" in message, message
        assert all(repr(r) in message for r in readings_named(levels)), message


@needs_zip
def test_two_different_apks_past_the_depth_are_two_rows(scan_path, tmp_path):
    """TikTok and v1-only.apk in the innermost ZIP, four pipes deep: two entries, two apps, each once."""
    doc = scan_chain(scan_path, tmp_path, chain_of(tmp_path, 4, ("l0.zip", _zip({"base.apk": TIKTOK,
                                                                                  "other.apk": V1}))))
    assert [a["source"]["chain"][1:] for a in tiktok_of(doc)] == [["base.apk"]]
    assert [a["source"]["chain"][1:] for a in doc["apps"] if a["package"] == V1_PACKAGE] == [["other.apk"]]
    assert len(local_only_facts(doc)) == 1


@needs_zip
def test_the_same_apk_at_two_offsets_is_two_rows(scan_path, tmp_path):
    """The same TikTok bytes under two names in the innermost ZIP: two places in the file, two rows
    (each once), never merged because the bytes are alike."""
    doc = scan_chain(scan_path, tmp_path, chain_of(tmp_path, 4, ("l0.zip", _zip({"a.apk": TIKTOK, "b.apk": TIKTOK}))))
    assert sorted(a["source"]["chain"][1] for a in tiktok_of(doc)) == ["a.apk", "b.apk"]
    assert len({a["identity"]["sha256"] for a in tiktok_of(doc)}) == 1  # the same bytes
    assert len(local_only_facts(doc)) == 1


@needs_zip
def test_an_apk_in_the_chain_and_one_past_it_are_two_rows(scan_path, tmp_path):
    """v1-only.apk beside ``l0.zip`` in ``m.zip``, three pipes under the file, is read through m's
    directory (the walker opens m.zip at depth 3); TikTok in ``l0.zip`` is past the depth: two apps,
    each once."""
    src = tmp_path / "m"
    src.mkdir()
    (src / "l0.zip").write_bytes(_zip({"base.apk": TIKTOK}))
    (src / "v1-only.apk").write_bytes(V1)
    data = piped_zip(src, "l0.zip", "v1-only.apk")
    assert first_is_stored_with_descriptor(data)
    doc = scan_chain(scan_path, tmp_path, chain_of(tmp_path, 3, ("m.zip", data)))
    assert [a["source"]["chain"][1:] for a in tiktok_of(doc)] == [["base.apk"]]
    v1 = [a["source"]["chain"][1:] for a in doc["apps"] if a["package"] == V1_PACKAGE]
    assert v1 == [["l2.zip", "l1.zip", "m.zip", "v1-only.apk"]]


@needs_zip
def test_a_zip_read_as_an_apk_claims_before_its_nested_members_are_walked(scan_path, tmp_path):
    """A ZIP whose directory makes it an APK, named ``app.zip`` (SAI streams it): its nested ``c.zip``
    (piped, holding ``l0.zip`` piped too, holding TikTok) is walked before the stream's members.
    Two plain ZIPs around it put it at depth 2: the stream reads TikTok past the ZIPs the walker
    opens, and so does ``c.zip``'s own walk. One row, the stream's of ``app.zip``; ``c.zip`` named."""
    l0 = tmp_path / "l0"
    l0.mkdir()
    (l0 / "l0.zip").write_bytes(_zip({"base.apk": TIKTOK}))
    apk = tmp_path / "apk"
    apk.mkdir()
    (apk / "c.zip").write_bytes(piped_zip(l0, "l0.zip"))
    with zipfile.ZipFile(io.BytesIO(V1)) as z:
        (apk / "AndroidManifest.xml").write_bytes(z.read("AndroidManifest.xml"))
    data, name = piped_zip(apk, "c.zip", "AndroidManifest.xml"), "app.zip"
    assert first_is_stored_with_descriptor(data)
    for i in range(2):
        data, name = _zip({name: data}), f"w{i}.zip"
    doc = scan_chain(scan_path, tmp_path, data)
    found = tiktok_of(doc)
    assert [a["source"]["chain"][1:] for a in found] == [["w0.zip", "app.zip", "base.apk"]]
    assert "'c.zip'" in row_facts(found[0])[0]
    assert LOCAL_ONLY in container_codes(doc)


@needs_zip
def test_an_entry_the_outer_bundle_skips_by_name_is_scanned_once(scan_path, tmp_path):
    """TikTok's bytes named ``data.obb``, a local-only entry of ``inner.zip`` (its directory a decoy
    listing ``notes.txt``), piped beside a ``base.apk``: the outer file is a split bundle by its names,
    which skips an OBB by its name unless its bytes hold an APK; ``inner.zip`` is a plain ZIP, which
    reads it by its content. One entry, one app: the outer file's, ``inner.zip`` named (was two)."""
    src = tmp_path / "src"
    src.mkdir()
    decoy = _zip({"notes.txt": b"notes\n"})
    (src / "inner.zip").write_bytes(insert(decoy, directory(decoy)[2], stored(b"data.obb", TIKTOK)))
    (src / "base.apk").write_bytes(V1)
    data = piped_zip(src, "inner.zip", "base.apk")
    assert first_is_stored_with_descriptor(data)
    doc = scan_chain(scan_path, tmp_path, data)
    found = tiktok_of(doc)
    assert [a["source"]["chain"][1:] for a in found] == [["data.obb"]]
    assert found[0]["verdict"] == "prohibited" and "'inner.zip'" in row_facts(found[0])[0]
    assert [a["source"]["chain"][1:] for a in doc["apps"] if a["package"] == V1_PACKAGE] == [["base.apk"]]


def _record(name: bytes, data: bytes, flags: int, at: int) -> bytes:
    """A stored entry's central record, its local header at ``at``."""
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, 0, 0, 0, zlib.crc32(data), len(data),
                       len(data), len(name), 0, 0, 0, 0, 0, at) + name


def two_readings_around(inner: bytes) -> bytes:
    """``inner.zip`` stored with a data descriptor after a 9-byte-named filler, listed by the directory
    the end record names and, its offset moved back by that directory's size, twice by a second one
    right before the end record, which ``java.util.zip.ZipFile`` and Python's ``zipfile`` read (both
    directories the same size): both readings walk the same ``inner.zip`` bytes."""
    filler = b"x" * 200
    first = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, zlib.crc32(filler), 200, 200, 9, 0) + b"aaaaa.txt"
    first += filler
    head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 8, 0, 0, 0, 0, 0, 0, 9, 0) + b"inner.zip"
    body = head + inner + struct.pack("<IIII", 0x08074B50, zlib.crc32(inner), len(inner), len(inner))
    cd_a = _record(b"aaaaa.txt", filler, 0, 0) + _record(b"inner.zip", inner, 8, len(first))
    cd_b = 2 * _record(b"inner.zip", inner, 8, len(first) - len(cd_a))  # ZipFile adds len(cd_a) back
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(cd_b), len(first) + len(body), 0)
    return first + body + cd_a + cd_b + end


def test_another_reading_of_the_container_keeps_its_own_row(scan_path, tmp_path):
    """The entry claimed by the outer walk is yielded before the container's other readings are walked
    (:mod:`apkscan.sources.walk_readings`): ``ZipFile``'s reading of the same ``inner.zip`` finds the
    same TikTok, too late to be named with the outer file's row, so it is a row of its own under that
    reading, as every other reading's app is; never dropped unsaid."""
    decoy = _zip({"notes.txt": b"notes\n"})
    data = two_readings_around(insert(decoy, directory(decoy)[2], stored(b"base.apk", TIKTOK)))
    path = tmp_path / "two.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as z:  # the oracle: Python's zipfile reads the second directory, inner.zip in it
        assert z.namelist() == ["inner.zip", "inner.zip"] and z.read("inner.zip")[:4] == b"PK\x03\x04"
    doc = scan_path(path)
    found = sorted(tuple(a["source"]["chain"][1:]) for a in tiktok_of(doc))
    assert found == [(ZIPFILE_READING, "inner.zip", "base.apk"), ("base.apk",)], found
    outer = [a for a in tiktok_of(doc) if a["source"]["chain"][1:] == ["base.apk"]][0]
    assert "'inner.zip'" in row_facts(outer)[0]


def test_readings_named_follows_the_walkers_depth():
    """The helper's own oracle: four levels deep the walker opens l3, l2 and l1 below the file."""
    assert readings_named(4) == ["l3.zip", "l3.zip ▸ l2.zip", "l3.zip ▸ l2.zip ▸ l1.zip"]
    assert readings_named(5) == ["l4.zip", "l4.zip ▸ l3.zip", "l4.zip ▸ l3.zip ▸ l2.zip"]
