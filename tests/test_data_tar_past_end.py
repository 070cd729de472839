"""A tar under a data name whose APK lies past an end-of-archive marker (``cat a.tar b.tar``, or a
marker, junk, then a header) is found, as ``apkscan scan`` finds it given the tar alone: the walker
reads past a marker as ``tar -i`` does (``TAMPER_TAR_PAST_END``), so the data look must too. Before,
the look stopped at the first zero block and called the file data: WeChat hidden in every layout's
data file (adb ``f/`` and shared storage, OAndBackup, Neo, Swift, Titanium, AndroidQF, an XAPK's OBB;
in a folder, a stored ZIP, a deflated ZIP, a stream)."""

from __future__ import annotations

import gzip

import pytest
from test_data_name_polyglots import PLACES, WECHAT, build, run
from test_polyglot_members import codes, tampers
from test_polyglots import tar_of

TEXT = tar_of([("files/notes.txt", b"shopping list\n" * 50)])
MARKER_ONLY = b"\0" * 1024


def _past_end(junk: bool) -> bytes:
    """A tar of a text file, its end-of-archive marker, (junk,) then a tar holding WeChat."""
    filler = b"\x11" * 700 + b"\0" * 324 if junk else b""
    return TEXT + filler + tar_of([("x.apk", WECHAT)])


CASES = {"concatenated": _past_end(False), "junk between": _past_end(True),
         "concatenated, gzip": gzip.compress(_past_end(False), mtime=0)}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("place,packing", PLACES)
def test_apk_past_a_tar_marker_under_a_data_name_is_found(rules, policy, tmp_path, place, packing, case):
    path, name, _reason = build(place, packing, tmp_path, CASES[case])
    doc = run(rules, policy, tmp_path, path)
    found = [a for a in doc["apps"] if a["package"] == "com.tencent.mm"]
    (app,) = found
    assert app["verdict"] == "prohibited" and app["source"]["chain"][1] == name
    assert "TAMPER_TAR_PAST_END" in tampers(app)
    assert ("CONTAINER_TAR_TRAILING_DATA" in codes(doc)) == (case == "junk between")


@pytest.mark.parametrize("tail", ["junk", "zeros"])
def test_clean_data_past_a_marker_stays_data(rules, policy, tmp_path, tail):
    """What follows a marker and is no header (junk, more zeros) keeps the file data: no error, no record
    but the clean app's (as a tar that ends in a ZIP of photos: test_data_name_polyglots)."""
    after = {"junk": b"\x11" * 5000, "zeros": MARKER_ONLY * 8}[tail]
    path, _name, reason = build("neo", "folder", tmp_path, TEXT + after)
    doc = run(rules, policy, tmp_path, path)
    assert [a["package"] for a in doc["apps"]] == ["com.example.clean"]
    assert doc["errors"] == [] and reason in [s["reason"] for s in doc["skipped"]]


def test_a_member_past_a_marker_is_said_as_given_alone(rules, policy, tmp_path):
    """A header past the marker is read whatever its member holds (a text file here): the walker says
    ``TAMPER_TAR_PAST_END`` for it, as for the same tar scanned alone, never a silent "data"."""
    path, name, _reason = build("neo", "folder", tmp_path, TEXT + TEXT)
    doc = run(rules, policy, tmp_path, path)
    assert [a["package"] for a in doc["apps"]] == ["com.example.clean"]
    assert [(e["code"], e["source"]["chain"][1:]) for e in doc["errors"]] == \
        [("TAMPER_TAR_PAST_END", [name, "files/notes.txt"])]
