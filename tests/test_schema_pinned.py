"""Review 62 L6: ``scan-result.schema.json`` describes what README documents and pins what it can.

A real scan document (fixture APKs, the AndroidQF folder, a path that does not exist) validates;
the same document with a mistyped count, option, finding kind, custody ``hashed`` or input-error
field does not (each of these used to validate).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import jsonschema
import pytest

from apkscan.rules.model import KINDS
from conftest import APKS, FIXTURES, REPO

SCHEMA = json.loads((REPO / "apkscan" / "report" / "schema" / "scan-result.schema.json").read_text())


@pytest.fixture(scope="module")
def doc(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("schema") / "r.json"
    proc = subprocess.run([sys.executable, "-m", "apkscan", "scan", "--no-store", "-q", "--fail-on", "never",
                           "--json", str(out), str(APKS), str(FIXTURES / "backups" / "androidqf"),
                           str(out.parent / "missing.apk")], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 3, proc.stderr  # the missing path: an input error
    return json.loads(out.read_text())


def _errors(doc: dict) -> list[str]:
    return [e.message for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc)]


def test_a_real_document_validates_and_its_counts_and_options_are_described(doc):
    assert _errors(doc) == []
    for key in ("counts", "options"):
        assert key in SCHEMA["properties"] and set(doc[key]) <= set(SCHEMA["properties"][key]["properties"])
    error_fields = set(SCHEMA["$defs"]["input_error"]["properties"])
    assert all(set(e) <= error_fields for e in doc["errors"]) and doc["errors"]
    assert any(f["kind"] for a in doc["apps"] for f in a["findings"])


def test_the_schema_names_every_finding_kind_apkscan_makes():
    assert SCHEMA["$defs"]["finding"]["properties"]["kind"]["enum"] == list(KINDS)


def _first_finding(d: dict) -> dict:
    return next(f for a in d["apps"] for f in a["findings"])


MUTATIONS = {
    "counts.total a string": lambda d: d["counts"].__setitem__("total", "many"),
    "counts without total": lambda d: d["counts"].pop("total"),
    "options.store a string": lambda d: d["options"].__setitem__("store", "yes"),
    "options.hashes unknown": lambda d: d["options"].__setitem__("hashes", ["crc32"]),
    "finding kind unknown": lambda d: _first_finding(d).__setitem__("kind", "banana"),
    "hashed unknown": lambda d: d["input_files"][0].__setitem__("hashed", "banana"),
    "error code not a code": lambda d: d["errors"][0].__setitem__("code", "not found"),
    "error partial a string": lambda d: d["errors"][0].__setitem__("partial", "yes"),
    "error size negative": lambda d: d["errors"][0].__setitem__("size", -1),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_mistyped_field_no_longer_validates(doc, name):
    bad = copy.deepcopy(doc)
    MUTATIONS[name](bad)
    assert _errors(bad), name


def test_a_partial_error_with_its_hash_and_size_validates(doc):
    d = copy.deepcopy(doc)
    d["errors"][0].update(partial=True, sha256="0" * 64, size=12)
    assert _errors(d) == []
