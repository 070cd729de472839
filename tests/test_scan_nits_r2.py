"""Review 37 R2-7 NITs: ``--store X --json X`` was accepted (the report was renamed over the fresh
store), ``--resume --deep`` was silently a fresh run, and a saved document failing the JSON schema
was refused with no ``DOCUMENT_*`` code."""

from __future__ import annotations

import json

from cli_helpers import fixture, invoke, run


def test_a_report_or_stream_on_the_store_file_is_a_usage_error(tmp_path):
    store = tmp_path / "same.db"
    for option in ("--json", "--jsonl", "--csv"):
        res = invoke("scan", fixture("clean-v1v2v3.apk"), "-q", "--store", store, option, store)
        assert res.exit_code == 2 and "scan store" in res.output, (option, res.output)
        assert not store.exists()
    wal = tmp_path / "s.db-wal"
    res = invoke("scan", fixture("clean-v1v2v3.apk"), "-q", "--store", tmp_path / "s.db", "--json", wal)
    assert res.exit_code == 2 and not wal.exists()
    ok = invoke("scan", fixture("clean-v1v2v3.apk"), "-q", "--no-store", "--json", store)  # no store: fine
    assert ok.exit_code == 0 and json.loads(store.read_text())["apps"]


def test_resume_with_deep_is_a_usage_error_not_a_silent_fresh_run(tmp_path):
    res = invoke("scan", fixture("clean-v1v2v3.apk"), "-q", "--deep", "--resume", "--store", tmp_path / "s.db")
    assert res.exit_code == 2 and "--deep" in res.output


def test_a_document_failing_the_schema_is_refused_with_its_code(tmp_path):
    out = tmp_path / "scan.json"
    assert invoke("scan", fixture("clean-v1v2v3.apk"), "-q", "--no-store", "--json", out).exit_code == 0
    doc = json.loads(out.read_text())
    doc["apps"][0]["identity"]["signers"][0]["md5"] = "\ud800x"  # passes from_dict, fails the schema
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    res = run("report", bad)
    assert res.returncode == 2
    assert "DOCUMENT_MALFORMED: apps/0/identity/signers/0/md5" in res.stderr, res.stderr
