"""Names as every output writes them (apkscan.sources.names, review 22 #7): one text per name,
and the name's bytes read back from it."""

from __future__ import annotations

import itertools
import os

from apkscan.report.paths import short_names
from apkscan.sources.names import name_bytes, name_text

ALPHABET = ("\\", "x", "u", "f", "a", "\udcff", "\udc80", "é")


def test_every_short_name_has_its_own_text_and_gives_its_bytes_back():
    seen: dict[str, str] = {}
    for n in range(1, 6):
        for chars in itertools.product(ALPHABET, repeat=n):
            name = "".join(chars)
            text = name_text(name)
            assert text.encode("utf-8")  # always writable as UTF-8
            assert seen.setdefault(text, name) == name, (name, seen[text])
            assert name_bytes(text) == os.fsencode(name)


def test_plain_and_windows_style_names_are_written_as_they_are():
    for name in ("base.apk", "apps/com.tencent.mm/a/base.apk", "dir\\sub\\a.apk", "微信.apk"):
        assert name_text(name) == name


def test_short_names_split_member_names_on_backslashes_but_never_inside_an_escape():
    names = short_names(["/ev/\\xff.apk", "/ev/evil\\clean.apk", "dir\\sub\\a.apk", "d\\x41.apk"],
                        members={"dir\\sub\\a.apk", "d\\x41.apk"})
    assert names == {"/ev/\\xff.apk": "\\xff.apk", "/ev/evil\\clean.apk": "evil\\clean.apk",
                     "dir\\sub\\a.apk": "a.apk", "d\\x41.apk": "d\\x41.apk"}


def _shortest_unique_suffixes(paths: list[str]) -> dict[str, str]:
    """The definition, written the slow way: the shortest suffix no other path has at that depth."""
    parts = {p: [c for c in p.split("/") if c] or [p] for p in set(paths)}
    out = {}
    for p, mine in parts.items():
        for depth in range(1, len(mine) + 1):
            if depth == len(mine):
                out[p] = p
                break
            if all(q == p or tuple(other[-depth:]) != tuple(mine[-depth:]) for q, other in parts.items()):
                out[p] = "/".join(mine[-depth:])
                break
    return out


def test_short_names_are_the_shortest_unique_suffixes():
    import random

    rng = random.Random(46)
    for _ in range(2000):
        paths = ["/".join(rng.choice("ab") for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 9))]
        assert short_names(paths) == _shortest_unique_suffixes(paths), paths


def test_short_names_of_deep_paths_sharing_a_long_tail():
    """Names of 64 KB, all but their first component alike (review 46 #2: each level rebuilt every
    suffix, so 8 such names held each report format for a minute and more)."""
    deep = [f"d{i}/" + "a/" * 20_000 + "b.apk" for i in range(4)]
    assert short_names(deep) == {p: p for p in deep}
    assert short_names(deep + ["x/b.apk"])["x/b.apk"] == "x/b.apk"


def _raw_member_zip(path, names: list[bytes], data: bytes) -> None:
    """A stored ZIP whose member names are the given bytes exactly (zipfile would encode them)."""
    import struct
    import zlib

    local, central = bytearray(), bytearray()
    for name in names:
        crc, off = zlib.crc32(data), len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
        local += name + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data), len(data),
                               len(name), 0, 0, 0, 0, 0, off) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(names), len(names), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))


def test_members_whose_names_differ_only_in_bytes_that_are_no_utf8_keep_apart(tmp_path):
    """Review 46 #8: ``bad\\xff.apk`` and ``bad\\xfe.apk`` in one ZIP (or tar) were both
    ``bad\\ufffd.apk`` in every report; only the SHA-256 told the banned one from the other."""
    import io
    import json
    import tarfile

    from cli_helpers import fixture, run

    wechat = fixture("wechat-tencent-subject.apk").read_bytes()
    _raw_member_zip(tmp_path / "m.zip", [b"bad\xff.apk", b"bad\xfe.apk"], wechat)
    with tarfile.open(tmp_path / "m.tar", "w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tf:
        for name in ("bad\udcff.apk", "bad\udcfe.apk"):
            info = tarfile.TarInfo(name)
            info.size = len(wechat)
            tf.addfile(info, io.BytesIO(wechat))
    for box in ("m.zip", "m.tar"):
        out = tmp_path / f"{box}.json"
        res = run("scan", tmp_path / box, "--no-store", "-q", "--json", out, "--csv", tmp_path / f"{box}.csv")
        assert res.returncode == 1, res.stderr
        apps = json.loads(out.read_text(encoding="utf-8"))["apps"]
        assert sorted(a["source"]["path"] for a in apps) == ["bad\\xfe.apk", "bad\\xff.apk"]
        assert "bad\\xff.apk" in (tmp_path / f"{box}.csv").read_text(encoding="utf-8-sig")
