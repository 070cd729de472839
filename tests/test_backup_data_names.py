"""Backup layouts: a data name is a claim, and one bad metadata file is that file's error (review 30: 2, 5, 11).

Each test builds the adversary's backup from the shipped APK fixtures in tmp_path and checks
that the banned app IS scanned (prohibited) or a coded error IS recorded for the one file,
while the rest of the backup goes on.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import random
import shutil
from pathlib import Path

import pytest

from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.layout_common import MetadataError
from apkscan.sources.swift_titanium import parse_java_properties
from apkscan.sources.walker import WalkOptions
from apkscan.splits import DUPLICATE
from backup_helpers import build_ab, manifest

REPO = Path(__file__).resolve().parents[1]
WECHAT = (REPO / "fixtures" / "apks" / "wechat-impostor.apk").read_bytes()
CLEAN = (REPO / "fixtures" / "apks" / "clean-v1v2v3.apk").read_bytes()
INSTANCE = "2024-05-01-10-00-00-000-user_0"


@pytest.fixture()
def run(rules, policy, tmp_path):
    def go(*paths):
        return scan([FileSource([str(p) for p in paths], WalkOptions(tmp_dir=str(tmp_path / "spool")))],
                    rules, policy).to_dict()
    return go


def by_chain(doc) -> dict[tuple[str, ...], tuple[str | None, str]]:
    return {tuple(a["source"]["chain"][1:]): (a["package"], a["verdict"]) for a in doc["apps"]
            if a["identity"]["origin"] == "apk"}


def test_neo_backup_data_archive_names_hide_no_apk(run, tmp_path):
    root = tmp_path / "neo" / "com.example.clean"
    (root / INSTANCE).mkdir(parents=True)
    (root / f"{INSTANCE}.properties").write_text(json.dumps({"packageName": "com.example.clean", "versionCode": 1}))
    (root / INSTANCE / "base.apk").write_bytes(CLEAN)
    (root / INSTANCE / "data.tar.gz").write_bytes(WECHAT)
    (root / INSTANCE / "external_files.tar").write_bytes(WECHAT)
    (root / INSTANCE / "media_files.tar").write_bytes(b"\0" * 1024)  # real data stays skipped
    doc = run(tmp_path / "neo")
    apps = by_chain(doc)
    inst = f"com.example.clean/{INSTANCE}/"
    assert apps[(inst + "data.tar.gz",)] == ("com.tencent.mm", "prohibited")
    # the instance is one install set: WeChat there is a second app Android would refuse (the
    # base is flagged), and its byte-identical copy is listed once, as a copy skipped
    assert apps[(inst + "base.apk",)] == ("com.example.clean", "review")
    copies = [s for s in doc["skipped"] if s["reason"] == DUPLICATE]
    assert [c["examples"][0].endswith("external_files.tar") for c in copies] == [True]
    assert [(s["reason"], s["count"]) for s in doc["skipped"] if "data" in s["reason"]] == \
        [("app data archive (not scanned)", 1)]


def test_oandbackup_data_zip_name_hides_no_apk(run, tmp_path):
    root = tmp_path / "oab" / "com.example.clean"
    root.mkdir(parents=True)
    (root / "com.example.clean.log").write_text(json.dumps({"packageName": "com.example.clean", "label": "Clean"}))
    (root / "base.apk").write_bytes(CLEAN)
    (root / "com.example.clean.zip").write_bytes(WECHAT)
    apps = by_chain(run(tmp_path / "oab"))
    assert apps[("com.example.clean/com.example.clean.zip",)] == ("com.tencent.mm", "prohibited")


def test_adb_backup_data_obb_and_shared_names_hide_no_apk(run, tmp_path):
    ab = tmp_path / "phone.ab"
    ab.write_bytes(build_ab([("apps/com.example.clean/_manifest", manifest("com.example.clean", 1, [], True)),
                             ("apps/com.example.clean/a/base.apk", CLEAN),
                             ("apps/com.example.clean/f/cache.bin", WECHAT),
                             ("apps/com.example.clean/obb/main.1.com.example.clean.obb", WECHAT),
                             ("apps/com.example.clean/db/notes.db", b"SQLite format 3\0" + b"\0" * 100),
                             ("shared/0/Download/WeChat.apk", WECHAT)]))
    doc = run(ab)
    apps = by_chain(doc)
    for name in ("apps/com.example.clean/f/cache.bin", "apps/com.example.clean/obb/main.1.com.example.clean.obb",
                 "shared/0/Download/WeChat.apk"):
        assert apps[(name,)] == ("com.tencent.mm", "prohibited"), name
    assert apps[("apps/com.example.clean/a/base.apk",)][1] == "allowed"
    assert {(s["reason"], s["count"]) for s in doc["skipped"]} >= {("app data (not scanned)", 1)}
    assert doc["errors"] == []


def test_titanium_bad_unicode_escape_is_that_files_error(run, tmp_path):
    root = tmp_path / "tb"
    root.mkdir()
    md5 = hashlib.md5(WECHAT).hexdigest()
    (root / f"com.tencent.mm-{md5}.apk.gz").write_bytes(gzip.compress(WECHAT, mtime=0))
    (root / "com.tencent.mm-20240501-100000.properties").write_text(f"app_label=WeChat\napp_apk_md5={md5}\n")
    bad = "com.example.clean-20240501-100000.properties"
    (root / bad).write_text("app_label=Clean \\u00\n")
    doc = run(root)
    assert by_chain(doc)[(f"com.tencent.mm-{md5}.apk.gz",)] == ("com.tencent.mm", "prohibited")
    errors = {tuple(e["source"]["chain"][1:]): [i["code"] for i in e["errors"]] for e in doc["errors"]}
    assert errors == {(bad,): ["BACKUP_METADATA_INVALID"]}


@pytest.mark.parametrize("text", ["a=\\u", "a=\\u00", "a=\\uZZZZ", "\\u12=x", "a=\\\\\\u1"])
def test_java_properties_malformed_escape_is_a_metadata_error(text):
    with pytest.raises(MetadataError) as got:
        parse_java_properties(text.encode())
    assert got.value.code == "BACKUP_METADATA_INVALID"


def test_java_properties_fuzz_raises_only_metadata_errors():
    rng = random.Random(30)
    alphabet = b"\\u0aF=: \t\r\n#!x\xff\x00"
    for _ in range(20_000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        try:
            parse_java_properties(data)
        except MetadataError:
            pass


def _json_paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:2]):
            yield from _json_paths(v, path + (i,))


@pytest.mark.parametrize("layout,meta", [("neo", "com.zhiliaoapp.musically/*/backup.properties"),
                                         ("oandbackup", "*/*.log"),
                                         ("androidqf/0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d", "packages.json")])
def test_metadata_of_any_shape_is_read_or_a_coded_problem(tmp_path, layout, meta):
    """Every field of a layout's JSON metadata replaced by a wrong-typed value: the reader yields
    its items (a coded problem at worst), never an exception that would lose the whole folder."""
    from apkscan.sources.androidqf import AndroidQFReader
    from apkscan.sources.backup_apps import backup_app_reader
    from backup_helpers import BACKUPS, Collected, FolderTree

    root = tmp_path / "b"
    shutil.copytree(BACKUPS / layout, root)
    reader = AndroidQFReader if layout.startswith("androidqf") else backup_app_reader
    [target] = sorted(root.glob(meta))[:1]
    original = json.loads(target.read_text())
    for path in list(_json_paths(original)):
        for value in (None, -1, 1.5, 10**30, "", [], {}, True, "\ud800", "²"):
            doc = copy.deepcopy(original)
            if not path:
                doc = value
            else:
                node = doc
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = value
            target.write_text(json.dumps(doc))
            Collected(reader(FolderTree(root)).entries())  # raises on a bug
