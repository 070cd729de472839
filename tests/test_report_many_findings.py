"""One app's findings are read once per report, not once per finding (review 90 F3).

SARIF wrote each finding's text with the publisher, and the publisher's claim marker asked every
finding of the app again: 10,000 findings (a bundle of unsigned splits) took 100 s. The bundle here
is built in the test: a signed base and unsigned splits, each a ``split-mismatch`` on the base.
"""

from __future__ import annotations

import io
import zipfile

import pytest

import test_split_sets
from apkscan.report import csv_report, html, sarif, terminal
from apkscan.report import view
from test_split_sets import bundle_app, mismatches, run

apk = test_split_sets.apk  # the signed-APK builder fixture, shared
SPLITS = 40


@pytest.fixture
def many(rules, policy, tmp_path, apk) -> dict:
    g, ax = test_split_sets._generate()
    target = tmp_path / "many.apks"
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("base.apk", apk("com.example.notes", "test-rsa"))
        for i in range(SPLITS):
            attrs = [ax.Attr("package", "com.example.notes", android=False),
                     ax.Attr("split", f"config.s{i}", android=False)]
            z.writestr(f"split_config.s{i}.apk", g.build_unsigned(g.App("com.example.notes", None, package_attrs=attrs)))
    doc = run(rules, policy, tmp_path, target)
    assert len(mismatches(bundle_app(doc))) == SPLITS
    return doc


@pytest.mark.parametrize("render", ["sarif", "csv", "html", "terminal"])
def test_the_claim_marker_reads_each_finding_once(many, monkeypatch, render):
    calls = []
    real = view.claims_signer_name

    def counted(f):
        calls.append(f)
        return real(f)

    monkeypatch.setattr(view, "claims_signer_name", counted)
    out = io.StringIO()
    {"sarif": sarif.render, "csv": csv_report.render, "html": html.render,
     "terminal": lambda d, o: terminal.render(d, o, color=False)}[render](many, out)
    findings = sum(len(a["findings"]) + sum(len(s["findings"]) for s in a["splits"]) for a in many["apps"])
    assert out.getvalue() and 0 < len(calls) <= findings  # once per finding (it was once per finding per finding)

