"""An empty output path is a usage error (review 19 #13): ``--json "$OUT"`` with OUT unset
gave exit 0 and no report, a green run without its evidence."""

from __future__ import annotations

import pytest

from cli_helpers import fixture, run


@pytest.mark.parametrize("option", ["--json", "--html", "--sarif", "--csv"])
def test_scan_refuses_an_empty_report_path(option):
    res = run("scan", fixture("clean-v1v2v3.apk"), "--no-store", "-q", option, "")
    assert res.returncode == 2 and f"{option}: empty file name" in res.stderr, res.stderr


def test_report_diff_inspect_and_rules_export_refuse_an_empty_path(tmp_path):
    doc = tmp_path / "s.json"
    assert run("scan", fixture("clean-v1v2v3.apk"), "--no-store", "-q", "--json", doc).returncode == 0
    for args, flag in ((("report", doc, "--html", ""), "--html"), (("diff", doc, doc, "--json", ""), "--json"),
                       (("inspect", fixture("clean-v1v2v3.apk"), "--json", ""), "--json"),
                       (("rules", "export", "-o", ""), "-o/--output")):
        res = run(*args)
        assert res.returncode == 2 and f"{flag}: empty file name" in res.stderr, (args, res.stderr)
