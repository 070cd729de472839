"""What reading rule/policy files established is remembered per user (rules/cache.py): parsed
documents by their exact text, schema validation only for documents that passed it.

Each test runs with its own XDG_CACHE_HOME (conftest). The adversary edits a pack that
was validated before, keeps its size and time stamp, or plants a marker where others can
write: every such pack must still be validated and rejected with the same messages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import TEST_VENDOR_RULES

from apkscan.policy.loader import load_policy
from apkscan.rules import cache
from apkscan.rules.loader import lint_file
from apkscan.rules.yamlsrc import read_document

# schema-invalid (additionalProperties: false at the top) but buildable: only the schema rejects it
UNKNOWN_KEY = TEST_VENDOR_RULES + "x-note: trust me\n"
BAD_HASH = TEST_VENDOR_RULES.replace("sha256: 3400f8cb", "sha256: 3400f8cZ")


def _messages(path) -> list[str]:
    pack, errors = lint_file(path)
    return [str(e) for e in errors]


def _markers() -> list[str]:
    folder = cache.cache_dir("validated")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _lint_in_subprocess(path) -> dict:
    """lint_file in a fresh interpreter: its errors and whether jsonschema/yaml got imported."""
    code = ("import json, sys\nfrom apkscan.rules.loader import lint_file\n"
            f"pack, errors = lint_file({str(path)!r})\n"
            "print(json.dumps({'errors': [str(e) for e in errors], 'jsonschema': 'jsonschema' in sys.modules,"
            " 'yaml': 'yaml' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    return json.loads(out.stdout)


def test_a_clean_pack_is_parsed_and_validated_once_then_neither_yaml_nor_jsonschema_is_imported(tmp_path):
    pack = tmp_path / "vendor.yaml"
    pack.write_text(TEST_VENDOR_RULES)
    first = _lint_in_subprocess(pack)
    assert first == {"errors": [], "jsonschema": True, "yaml": True}
    assert len(_markers()) == 1
    second = _lint_in_subprocess(pack)
    assert second == {"errors": [], "jsonschema": False, "yaml": False}
    assert len(_markers()) == 1


def test_an_edited_pack_is_validated_again_with_the_same_messages(tmp_path):
    pack = tmp_path / "vendor.yaml"
    pack.write_text(TEST_VENDOR_RULES)
    assert _messages(pack) == []
    stamp = os.stat(pack)
    pack.write_text(BAD_HASH)  # same length, same time stamp: only the bytes differ
    os.utime(pack, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert os.stat(pack).st_size == stamp.st_size
    with_cache = _messages(pack)
    assert with_cache and "certificates/0/sha256" in with_cache[0], with_cache
    os.environ["XDG_CACHE_HOME"] = str(tmp_path / "fresh")  # conftest's monkeypatch restores it
    assert _messages(pack) == with_cache
    assert _markers() == []  # errors are never remembered


def test_only_the_data_counts_not_comments_or_layout(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(TEST_VENDOR_RULES)
    b.write_text("# reformatted\n" + TEST_VENDOR_RULES.replace("references: [S1]", "references:\n      - S1", 1))
    key_a = cache.validation_key("apkscan.rules", read_document(a).data)
    assert key_a == cache.validation_key("apkscan.rules", read_document(b).data)
    assert key_a != cache.validation_key("apkscan.policy", read_document(a).data)
    assert key_a != cache.validation_key("apkscan.rules", read_document(a).data | {"x": 1})


@pytest.mark.parametrize("mode", [0o777, 0o1777])  # sticky or not: a marker is a name anyone could create there
def test_a_marker_planted_where_others_can_write_is_not_trusted(tmp_path, mode):
    pack = tmp_path / "vendor.yaml"
    pack.write_text(UNKNOWN_KEY)
    expected = _messages(pack)
    assert expected and "unknown key" in expected[0], expected
    folder = cache.cache_dir("validated")
    os.makedirs(folder)
    marker = cache.validation_key("apkscan.rules", read_document(pack).data)
    open(os.path.join(folder, marker), "w").close()
    os.chmod(folder, mode)
    assert _messages(pack) == expected
    os.chmod(folder, 0o700)  # the same marker in the user's own folder is believed: the check above matters
    assert _messages(pack) == []


def test_a_marker_in_a_folder_others_could_rename_away_is_not_trusted(tmp_path):
    """The ``validated`` folder is the user's, 0700, but the folder above it (``$XDG_CACHE_HOME``)
    can be written by others without the sticky bit: they could rename ``apkscan`` away and put
    their own, holding their markers, in its place between the check and the read (review 89)."""
    pack = tmp_path / "vendor.yaml"
    pack.write_text(UNKNOWN_KEY)
    expected = _messages(pack)
    assert expected and "unknown key" in expected[0], expected
    folder = cache.cache_dir("validated")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    marker = cache.validation_key("apkscan.rules", read_document(pack).data)
    open(os.path.join(folder, marker), "w").close()
    above = os.path.dirname(cache.cache_home())
    os.chmod(above, 0o777)
    try:
        assert _messages(pack) == expected
    finally:
        os.chmod(above, 0o1777)  # sticky: others cannot rename what is the user's in it
    assert _messages(pack) == []  # believed: the check above is what refused it
    os.chmod(above, 0o700)


def test_an_unusable_cache_folder_just_means_validate_now(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    os.environ["XDG_CACHE_HOME"] = str(blocker)
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(TEST_VENDOR_RULES)
    bad.write_text(BAD_HASH)
    for _ in range(2):
        assert _messages(good) == []
        assert "certificates/0/sha256" in _messages(bad)[0]
    assert blocker.read_text() == "x"


def test_a_relative_xdg_cache_home_is_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "rel-cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    pack = tmp_path / "vendor.yaml"
    pack.write_text(TEST_VENDOR_RULES)
    assert _messages(pack) == []
    assert not (tmp_path / "rel-cache").exists()
    assert len(os.listdir(tmp_path / "home" / ".cache" / "apkscan" / "validated")) == 1
    assert len(os.listdir(tmp_path / "home" / ".cache" / "apkscan" / "parsed")) == 1


def test_policies_are_remembered_too():
    first = load_policy()
    count = len(_markers())
    assert count >= 1
    assert load_policy() == first
    assert len(_markers()) == count


def _parsed_entry(text: str) -> str:
    folder = cache.cache_dir("parsed")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, cache.parse_key(text) + ".json")


def test_a_parsed_document_comes_back_with_the_same_data_and_lines(tmp_path):
    pack = tmp_path / "vendor.yaml"
    pack.write_text(TEST_VENDOR_RULES)
    first = read_document(pack)
    assert os.path.isfile(_parsed_entry(TEST_VENDOR_RULES))
    second = read_document(pack)
    assert (second.data, second.lines) == (first.data, first.lines)
    assert second.line(("rules", 0, "match", "certificates")) == 18


def test_a_parse_made_by_other_builder_code_is_not_served(tmp_path, monkeypatch):
    """The key covers the YAML-to-data builder itself, not only apkscan's version string."""
    pack = tmp_path / "vendor.yaml"
    pack.write_text(TEST_VENDOR_RULES)
    read_document(pack)
    before = _parsed_entry(TEST_VENDOR_RULES)
    assert os.path.isfile(before)
    monkeypatch.setattr(cache, "_builder_code", lambda: b"another builder")
    assert _parsed_entry(TEST_VENDOR_RULES) != before

def test_yaml_errors_are_never_cached_and_stay_the_same(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TEST_VENDOR_RULES + "rules: [unclosed\n")
    assert "YAML syntax error" in _messages(bad)[0]
    assert _messages(bad) == _messages(bad)
    dup = tmp_path / "dup.yaml"
    dup.write_text(TEST_VENDOR_RULES + "vendor: Again\n")
    assert _messages(dup) == [f"RULES_INVALID: {dup}:20: duplicate key 'vendor'"] == _messages(dup)
    assert not os.path.isdir(cache.cache_dir("parsed")) or os.listdir(cache.cache_dir("parsed")) == []


def test_a_damaged_or_planted_parse_is_not_believed(tmp_path):
    pack = tmp_path / "vendor.yaml"
    pack.write_text(TEST_VENDOR_RULES)
    entry = _parsed_entry(TEST_VENDOR_RULES)
    for junk in (b"", b"{not json", b'{"data": 1}', b'{"data": {}, "lines": [[1]]}', b"\xff" * 64,
                 b"[" * 100_000, b'{"data": ' + b"9" * 5000 + b"}"):  # RecursionError, ValueError
        with open(entry, "wb") as fh:
            fh.write(junk)
        assert read_document(pack).data["pack"] == "testvendor", junk
    forged = {"data": {**read_document(pack).data, "pack": "forged"}, "lines": [[[], 1]]}
    with open(entry, "w") as fh:
        json.dump(forged, fh)
    os.chmod(os.path.dirname(entry), 0o777)
    assert read_document(pack).data["pack"] == "testvendor"
    os.chmod(os.path.dirname(entry), 0o700)  # the user's own folder is believed: the check above matters
    assert read_document(pack).data["pack"] == "forged"


def test_values_json_cannot_carry_are_parsed_every_time(tmp_path):
    odd = tmp_path / "odd.yaml"
    odd.write_text("blob: !!binary aGVsbG8=\nset: !!set {a, b}\n")
    doc = read_document(odd)
    assert doc.data == {"blob": b"hello", "set": {"a": None, "b": None}}
    assert read_document(odd).data == doc.data
    assert not os.path.isdir(cache.cache_dir("parsed")) or os.listdir(cache.cache_dir("parsed")) == []


def test_scan_never_writes_the_cache_into_its_evidence(tmp_path, monkeypatch):
    """``scan ~`` with the cache in ~/.cache: entries are read, never written into the input."""
    from cli_helpers import copy, run, tree_hashes

    evidence = tmp_path / "home"
    copy("clean-v1v2v3.apk", evidence / "apps" / "clean.apk")
    monkeypatch.setenv("XDG_CACHE_HOME", str(evidence / ".cache"))
    before = tree_hashes(evidence)
    res = run("scan", evidence, "--no-store", "--json", tmp_path / "scan.json", "-q")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "scan.json").read_text())["apps"][0]["package"] == "com.example.clean"
    assert tree_hashes(evidence) == before and not (evidence / ".cache").exists()
    res = run("scan", evidence / "apps", "--no-store", "-q")  # the cache is not in this input: written
    assert res.returncode == 0, res.stderr
    assert len(os.listdir(evidence / ".cache" / "apkscan" / "validated")) >= 2  # the packs and the policy
    assert len(os.listdir(evidence / ".cache" / "apkscan" / "regex")) == 1  # the compiled patterns (regex_book)


def test_deep_nesting_is_a_rule_error_not_a_crash(tmp_path):
    """500 nested lists overflowed the recursive builder (a traceback); now one coded error, every time."""
    deep = tmp_path / "deep.yaml"
    deep.write_text(TEST_VENDOR_RULES.replace("rules:\n", "extra: " + "[" * 500 + "]" * 500 + "\nrules:\n"))
    first = _messages(deep)
    assert first == [f"RULES_INVALID: {deep}:13: nested deeper than 64 levels"] == _messages(deep)
    ok = tmp_path / "ok.yaml"
    ok.write_text(TEST_VENDOR_RULES.replace("rules:\n", "extra: " + "[" * 60 + "]" * 60 + "\nrules:\n"))
    assert "unknown key" in _messages(ok)[0]  # 60 levels still parse; the schema rejects the key
