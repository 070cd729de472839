"""Every renderer survives any JSON: a hand-edited or truncated result still reports.

``apkscan report`` reads documents from elsewhere; a missing field or a wrong type
must degrade to an empty cell, never a traceback (the CLI checks the schema and
warns separately).
"""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apkscan.report import csv_report, html, sarif, terminal

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["source", "label", "package", "verdict", "findings", "identity",
                         "schemes", "signers", "certificates_present", "lineage", "evidence",
                         "subject_attrs", "sha256", "policy", "rule", "vendor", "strength",
                         "container", "tamper", "errors", "packs", "rules", "O", "CN", "v1",
                         "certificate", "code", "message", "x", "verdicts", "decision", "name",
                         "canada-tbs-2023"]), inner, max_size=5),
    max_leaves=25)

documents = st.fixed_dictionaries({}, optional={
    "schema_version": json_values, "tool": json_values, "rules": json_values,
    "policy": json_values, "policies": json_values, "inputs": json_values, "started_at": json_values,
    "apps": st.lists(json_values, max_size=4), "errors": st.lists(json_values, max_size=3)})


def _render_all(doc: dict) -> None:
    for render in (html.render, sarif.render, csv_report.render):
        out = io.StringIO()
        render(doc, out)
        assert out.getvalue()
    terminal.render(doc, io.StringIO(), color=True)
    json.dumps(sarif.document(doc))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_renders(doc):
    _render_all(doc)


def test_known_awkward_shapes():
    for doc in ({}, {"apps": None, "errors": "x"}, {"apps": [None, 1, "x", []]},
                {"apps": [{"identity": "x", "findings": [None, {"evidence": {"a": [1, None]}}]}]},
                {"apps": [{"identity": {"schemes": [], "signers": ["x"], "lineage": [1]},
                           "verdict": "weird", "source": {"path": None}}]},
                {"rules": {"packs": [None, {"rules": [None, {"id": 5}]}]}, "policy": 3}):
        _render_all(doc)


def test_only_web_urls_become_links():
    from test_report_doc import sample_document
    doc = sample_document()
    doc["apps"][0]["policy"] = {"text": "ban", "url": "javascript:alert(1)"}
    doc["policy"]["url"] = "JaVaScRiPt:alert(2)"
    out = io.StringIO()
    html.render(doc, out)
    page = out.getvalue()
    assert 'href="javascript' not in page.lower()
    assert "javascript:alert(1)" in page  # still shown, as text
    assert 'href="https://intranet.example/policies/review"' in page
