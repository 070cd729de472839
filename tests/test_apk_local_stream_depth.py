"""A chain of ZIPs written to a pipe, deeper than the walker opens: what the stream reads is scanned (review 91b F1).

Each level is ``zip -q -0 - inner | cat``, stored with a data descriptor, so Android's ``ZipInputStream``
reads down the chain to the innermost ZIP's ``base.apk`` (TikTok) and installs it. The entries of a
member's ZIP were left to the walk inside that member even where ``--max-depth`` stops the walker
opening it: four levels deep, only ``CONTAINER_TOO_DEEP`` and no app. Now entries of a member the
walker never opens are the outer file's local-only members, scanned there; a shallower chain, and an
APK the walker reads at the depth limit, say nothing.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from tests.test_apk_local_coverage import LOCAL_ONLY, TIKTOK, V1, codes_in
from tests.test_apk_local_stream_nested import _zip, first_is_stored_with_descriptor, needs_zip, piped_zip


def chain_of(tmp_path: Path, levels: int, inner: tuple[str, bytes]) -> bytes:
    """``inner`` piped into ``levels`` ZIPs, each one level's only member (the real ``zip`` CLI): the outer
    file holds ``l{levels-1}.zip``, which holds ... ``l1.zip``, which holds ``inner``."""
    name, data = inner
    for i in range(levels):
        src = tmp_path / f"src{i}"
        src.mkdir()
        (src / name).write_bytes(data)
        name, data = f"l{i + 1}.zip", piped_zip(src, name)
        assert first_is_stored_with_descriptor(data)
    return data


def scan_chain(scan_path, tmp_path: Path, data: bytes) -> dict:
    path = tmp_path / "deep.zip"
    path.write_bytes(data)
    return scan_path(path)


def tiktok_of(doc: dict) -> list[dict]:
    return [a for a in doc["apps"] if a["package"] == "com.zhiliaoapp.musically"]


@needs_zip
def test_a_banned_apk_past_the_depth_limit_is_scanned_as_the_files_own(scan_path, tmp_path):
    """The reviewer's deep4.zip (default ``--max-depth`` 4): was CONTAINER_TOO_DEEP alone, no app."""
    doc = scan_chain(scan_path, tmp_path, chain_of(tmp_path, 4, ("l0.zip", _zip({"base.apk": TIKTOK}))))
    found = tiktok_of(doc)
    assert found and all(a["verdict"] == "prohibited" for a in found)
    assert ("base.apk",) in [tuple(a["source"]["chain"][1:]) for a in found]  # the outer file's own member
    assert LOCAL_ONLY in codes_in(doc)


@needs_zip
def test_a_chain_the_walker_opens_says_nothing(scan_path, tmp_path):
    """Three levels: every member's ZIP is opened, TikTok found once inside, nothing said."""
    doc = scan_chain(scan_path, tmp_path, chain_of(tmp_path, 3, ("l0.zip", _zip({"base.apk": TIKTOK}))))
    assert [tuple(a["source"]["chain"][1:]) for a in tiktok_of(doc)] == [("l2.zip", "l1.zip", "l0.zip", "base.apk")]
    assert LOCAL_ONLY not in codes_in(doc) and not doc["errors"], doc["errors"]


@needs_zip
def test_an_apk_read_at_the_depth_limit_says_nothing(scan_path, tmp_path):
    """v1-only.apk piped four levels down sits at depth 4, read as an APK there (an APK is identified
    at any depth): its own entries, which the stream reads too, are its, not the outer file's."""
    doc = scan_chain(scan_path, tmp_path, chain_of(tmp_path, 4, ("v1-only.apk", V1)))
    apps = [tuple(a["source"]["chain"][1:]) for a in doc["apps"] if a["package"] == "com.example.v1only"]
    assert apps == [("l3.zip", "l2.zip", "l1.zip", "v1-only.apk")]
    assert LOCAL_ONLY not in codes_in(doc) and not doc["errors"], doc["errors"]


@needs_zip
def test_a_chain_deeper_than_the_frames_still_finds_it(scan_path, tmp_path):
    """Five levels: as before, TikTok found as the outer file's local-only member."""
    doc = scan_chain(scan_path, tmp_path, chain_of(tmp_path, 5, ("l0.zip", _zip({"base.apk": TIKTOK}))))
    assert ("base.apk",) in [tuple(a["source"]["chain"][1:]) for a in tiktok_of(doc)]


@needs_zip
def test_past_the_depth_limit_under_a_zip_read_as_an_apk(scan_path, tmp_path):
    """A ZIP whose directory makes it an APK, named as an archive SAI streams (:mod:`walk_streamed`),
    piped: ``zip -0 - c.zip AndroidManifest.xml``, ``c.zip`` holding TikTok's ``base.apk``. Three plain
    ZIPs (no descriptor: the stream does not read into them) put it at depth 3, so ``c.zip`` is too
    deep to open; the stream reading ``app.zip`` still installs TikTok from it."""
    src = tmp_path / "apk"
    src.mkdir()
    with zipfile.ZipFile(io.BytesIO(V1)) as z:
        (src / "AndroidManifest.xml").write_bytes(z.read("AndroidManifest.xml"))
    (src / "c.zip").write_bytes(_zip({"base.apk": TIKTOK}))
    data, name = piped_zip(src, "c.zip", "AndroidManifest.xml"), "app.zip"
    assert first_is_stored_with_descriptor(data)
    for i in range(3):
        data, name = _zip({name: data}), f"w{i}.zip"
    doc = scan_chain(scan_path, tmp_path, data)
    found = tiktok_of(doc)
    assert found and all(a["verdict"] == "prohibited" for a in found)
    assert ("w1.zip", "w0.zip", "app.zip", "base.apk") in [tuple(a["source"]["chain"][1:]) for a in found]
    assert LOCAL_ONLY in codes_in(doc)
