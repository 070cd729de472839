"""Custody in the reports: where an input file's SHA-256 comes from (review 55 F9).

With the scan store an unchanged APK's hash is the one computed when it was last read; the
HTML custody table says so, and a document that marks each entry (``input_files[].hashed``:
"this run" / "store") is valid, kept by the document codec and shown by HTML and SARIF.
"""

from __future__ import annotations

import copy as copy_module
import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import copy, invoke

from apkscan.document import ScanDocument
from apkscan.document.codec import encode
from apkscan.report import html, sarif

CONTAINERS = Path(__file__).resolve().parents[1] / "fixtures" / "containers"
SCHEMA = Path(__file__).resolve().parents[1] / "apkscan" / "report" / "schema" / "scan-result.schema.json"


def _scan(tmp_path: Path, name: str, *args: str) -> tuple[dict, str]:
    res = invoke("scan", tmp_path / "dev", "-q", "--json", tmp_path / f"{name}.json", "--html", tmp_path / f"{name}.html", *args)
    assert res.exit_code in (0, 1), res.output
    return json.loads((tmp_path / f"{name}.json").read_text("utf-8")), (tmp_path / f"{name}.html").read_text("utf-8")


def test_the_custody_table_says_when_hashes_may_come_from_the_store(tmp_path):
    copy("clean-v1v2v3.apk", tmp_path / "dev" / "clean.apk")
    store = tmp_path / "store.sqlite"
    _scan(tmp_path, "r1", "--store", str(store))
    doc, page = _scan(tmp_path, "r2", "--store", str(store))
    assert doc["options"]["store"] is True
    assert "the scan store was used" in page
    _, page = _scan(tmp_path, "r3", "--no-store")
    assert "the scan store was used" not in page


def test_a_hash_marked_by_its_origin_is_valid_kept_and_shown(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    copy("clean-v1v2v3.apk", tmp_path / "dev" / "clean.apk")
    copy("wechat-impostor.apk", tmp_path / "dev" / "wechat.apk")
    doc, _ = _scan(tmp_path, "r", "--no-store")
    doc["input_files"][0]["hashed"] = "this run"
    doc["input_files"][1]["hashed"] = "store"
    schema = json.loads(SCHEMA.read_text("utf-8"))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc)) == []
    typed = ScanDocument.from_dict(doc)
    assert [f.hashed for f in typed.input_files] == ["this run", "store"]
    assert encode(typed.input_files) == doc["input_files"]
    page = io.StringIO()
    html.render(doc, page)
    assert '<th scope="col">Hashed</th>' in page.getvalue() and "<td>store</td>" in page.getvalue()
    arts = {a["location"]["uri"]: a for a in sarif.document(doc)["runs"][0]["artifacts"]}
    assert {arts[sarif.uri(f["path"])]["properties"]["hashed"] for f in doc["input_files"]} == {"this run", "store"}


def _hashed(doc: dict) -> dict[str, str | None]:
    return {Path(f["path"]).name: f.get("hashed") for f in doc["input_files"]}


def _jsonl_hashed(path: Path) -> dict[str, str | None]:
    lines = [json.loads(ln) for ln in path.read_text("utf-8").splitlines()]
    return {Path(ln["path"]).name: ln.get("hashed") for ln in lines if ln["type"] == "input_file"}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_each_custody_hash_says_whether_this_run_or_the_store_computed_it(tmp_path, jobs, monkeypatch):
    """The scan marks every entry: an APK read now and a container (always hashed now) are
    "this run"; an unchanged APK the store recognised by its stat key is "store"; --rehash and
    a changed file make it "this run" again. JSON and the JSONL stream agree."""
    monkeypatch.setattr("apkscan.batch.store.RACY_NS", 0)  # files copied here have a fresh ctime
    dev = tmp_path / "dev"
    copy("clean-v1v2v3.apk", dev / "clean.apk")
    copy("v1-only.apk", dev / "old.apk")
    import zipfile

    with zipfile.ZipFile(dev / "pull.zip", "w") as z:
        z.write(dev / "clean.apk", "inner/clean.apk")
    store = ["--store", str(tmp_path / "store.sqlite"), "--jobs", jobs]
    first, _ = _scan(tmp_path, "r1", *store, "--jsonl", str(tmp_path / "r1.jsonl"))
    assert _hashed(first) == {"clean.apk": "this run", "old.apk": "this run", "pull.zip": "this run"}
    again, _ = _scan(tmp_path, "r2", *store, "--jsonl", str(tmp_path / "r2.jsonl"))
    assert _hashed(again) == {"clean.apk": "store", "old.apk": "store", "pull.zip": "this run"}
    assert _jsonl_hashed(tmp_path / "r2.jsonl") == _hashed(again)
    assert [f["sha256"] for f in again["input_files"]] == [f["sha256"] for f in first["input_files"]]
    copy("v1-only.apk", dev / "old.apk")  # rewritten: another stat key, read again
    rehashed, _ = _scan(tmp_path, "r3", *store, "--rehash")
    assert _hashed(rehashed) == {"clean.apk": "this run", "old.apk": "this run", "pull.zip": "this run"}
    changed, _ = _scan(tmp_path, "r4", *store)
    assert _hashed(changed)["clean.apk"] == "store"
    plain, _ = _scan(tmp_path, "r5", "--no-store")
    assert set(_hashed(plain).values()) == {"this run"}


def test_a_record_without_its_outermost_joins_the_input_file_it_came_from(tmp_path):
    """A source that names only its container (a document without ``chain``/``outermost``: an
    older writer, or edited) is joined to the input file at the head of that container: an APK
    in ``pull.tar.gz ▸ store/apps.zip`` and an error four levels into ``deep.zip`` keep
    input_file/size/SHA-256, no second ``input`` row appears, and HTML groups them under the
    input file; ``apkscan report`` renders such a document as it renders the whole one (the
    whole container string missed the custody join)."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("pull.tar.gz", "deep.zip"):
        shutil.copyfile(CONTAINERS / name, dev / name)
    doc, _ = _scan(tmp_path, "whole")
    trimmed = copy_module.deepcopy(doc)
    for rec in trimmed["apps"] + trimmed["errors"]:
        del rec["source"]["chain"], rec["source"]["outermost"]
    assert any(" ▸ " in (r["source"]["container"] or "") for r in trimmed["apps"] + trimmed["errors"])
    (tmp_path / "trimmed.json").write_text(json.dumps(trimmed, ensure_ascii=False), "utf-8")
    rendered = {}
    for name in ("whole", "trimmed"):
        res = invoke("report", tmp_path / f"{name}.json", "-q", "--csv", tmp_path / f"{name}.csv",
                     "--html", tmp_path / f"{name}.html")
        assert res.exit_code == 3, res.output  # the scan's inputs not scanned are the report's exit 3 too
        rendered[name] = [(tmp_path / f"{name}.{ext}").read_text("utf-8") for ext in ("csv", "html")]
    rows = list(csv.DictReader(io.StringIO(rendered["trimmed"][0].lstrip("\ufeff"))))
    custody = {str(dev / n): (str(f["size"]), f["sha256"]) for n in ("pull.tar.gz", "deep.zip")
               for f in doc["input_files"] if f["path"] == str(dev / n)}
    assert len(custody) == 2
    for row in rows:
        assert row["verdict"] != "input", row
        assert row["input_file"] in custody, row
        assert (row["input_size"], row["input_sha256"]) == custody[row["input_file"]]
    assert {r["input_file"] for r in rows if r["verdict"] == "error"} == {str(dev / "deep.zip")}
    assert rendered["trimmed"] == rendered["whole"]
