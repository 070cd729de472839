"""An input read with warnings only (a pm listing past its cap: TEXT_LIMIT_EXCEEDED) is named a
warning by every output, as its issues are, while an input that could not be read stays an
error; both sit in the document's ``errors`` list and make exit 3 (what the first holds may be
incomplete). Before, the terminal, CSV, SARIF and HTML called the capped listing an error."""

from __future__ import annotations

import csv
import json
import re

from click.testing import CliRunner

from apkscan.cli import main
from apkscan.sources import text_evidence

PACKAGES = [f"com.example.app{i}" for i in range(5)]


def _scan(tmp_path, monkeypatch):
    monkeypatch.setattr(text_evidence, "MAX_APPS", 3)  # 10,000 in a real run: the same path, fewer lines
    listing = tmp_path / "pm.txt"
    listing.write_text("".join(f"package:{p}\n" for p in PACKAGES), encoding="utf-8")
    gone = tmp_path / "gone.apk"
    out = {k: tmp_path / f"r.{k}" for k in ("json", "csv", "sarif", "html")}
    args = ["scan", "-j1", "--no-store", str(listing), str(gone)]
    for kind, path in out.items():
        args += [f"--{kind}", str(path)]
    res = CliRunner().invoke(main, args)
    return res, out, str(listing), str(gone)


def test_a_capped_listing_is_a_warning_everywhere_and_a_missing_file_an_error(tmp_path, monkeypatch):
    res, out, listing, gone = _scan(tmp_path, monkeypatch)
    assert res.exit_code == 3, res.output  # unchanged: an input with problems
    doc = json.loads(out["json"].read_text(encoding="utf-8"))
    assert len(doc["apps"]) == 3  # the listing's apps up to the cap were read
    severities = {e["source"]["path"]: [(i["code"], i["severity"]) for i in e["errors"]] for e in doc["errors"]}
    assert severities == {listing: [("TEXT_LIMIT_EXCEEDED", "warning")], gone: [("INPUT_NOT_FOUND", "error")]}
    assert doc["counts"]["errors"] == 2  # the document's list, as before

    lines = res.output.splitlines()
    assert any(re.match(rf"warning .*pm\.txt: TEXT_LIMIT_EXCEEDED ", line) for line in lines), res.output
    assert any(re.match(rf"error .*gone\.apk: INPUT_NOT_FOUND ", line) for line in lines), res.output
    assert "1 error, 1 input with warnings" in res.output

    rows = list(csv.DictReader(out["csv"].open(encoding="utf-8-sig", newline="")))
    kinds = {r["source"]: r["verdict"] for r in rows if r["verdict"] in ("error", "warning")}
    assert kinds == {listing: "warning", gone: "error"}

    sarif = json.loads(out["sarif"].read_text(encoding="utf-8"))
    notes = {n["descriptor"]["id"]: n["level"] for n in sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]}
    assert notes["TEXT_LIMIT_EXCEEDED"] == "warning" and notes["INPUT_NOT_FOUND"] == "error"

    html = out["html"].read_text(encoding="utf-8")
    assert re.search(r'<span class="n">1</span> error</a>', html)
    assert re.search(r'<span class="n">1</span> input with warnings</a>', html)
    assert re.search(r'<td class="warn">warning</td><td><code>TEXT_LIMIT_EXCEEDED</code>', html)
    assert re.search(r'<td class="err">error</td><td><code>INPUT_NOT_FOUND</code>', html)
