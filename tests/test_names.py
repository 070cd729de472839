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
