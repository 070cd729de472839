"""Refused rule, indicator and policy files print their code (review 64 F12).

``error: empty.stix2: no indicator ...`` named no code although README promised
``RULES_IOC_EMPTY``: a script could not tell a feed with nothing usable from a corrupt one or a
missing file except by reading prose. Every refusal is ``error: CODE: file: reason``, and the
parse and shape refusals of a STIX2 bundle have codes of their own.
"""

from __future__ import annotations

import json

import pytest

from apkscan.issue_codes import CODES
from cli_helpers import fixture, invoke

APK = fixture("clean-v1v2v3.apk")
EMPTY = {"type": "bundle", "id": "bundle--1", "objects": [{"type": "malware", "id": "malware--1", "name": "X"}]}


@pytest.mark.parametrize("content, code", [
    (json.dumps(EMPTY), "RULES_IOC_EMPTY"),
    (json.dumps({"type": "bundle", "objects": {"not": "a list"}}), "RULES_IOC_NOT_BUNDLE"),
    ("[1, 2]", "RULES_IOC_NOT_BUNDLE"),
    ('{"objects": [', "RULES_IOC_NOT_JSON"),
    (b"\xff\xfe{}", "RULES_IOC_NOT_JSON"),
    ("[" * 3000 + "]" * 3000, "RULES_IOC_NOT_JSON"),
    ("[" + "[]," * 100_000 + "[]]", "RULES_IOC_TOO_LARGE"),
    (None, "RULES_UNREADABLE"),  # no such file
], ids=["empty", "objects-not-a-list", "not-an-object", "bad-json", "not-utf8", "deep", "too-many-values", "missing"])
def test_indicator_refusals_print_their_code(tmp_path, content, code):
    path = tmp_path / "feed.stix2"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    assert CODES[code][0].name == "ERROR"
    for args in (("scan", "--no-store", "--iocs", path, APK), ("rules", "list", "--iocs", path)):
        res = invoke(*args)
        assert res.exit_code == 2, res.output
        assert f"error: {code}: {path}" in res.output, res.output
        assert "Traceback" not in res.output


def test_rule_and_policy_refusals_print_their_code(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: apkscan-rules/1\npack: bad\n", encoding="utf-8")
    for args in (("scan", "--no-store", "--rules", bad, APK), ("rules", "list", "--rules", bad),
                 ("rules", "lint", bad)):
        res = invoke(*args)
        assert res.exit_code == 2 and f"error: RULES_INVALID: {bad}" in res.output, res.output
    for args in (("policies", "show", "no-such-policy"), ("scan", "--no-store", "--policy", "no-such-policy", APK)):
        res = invoke(*args)
        assert res.exit_code == 2 and "error: POLICY_NOT_FOUND: no-such-policy: no such policy" in res.output, res.output
