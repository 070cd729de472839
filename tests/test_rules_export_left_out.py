"""``rules export`` says what it leaves out (review 64 F11).

MVT indicators are exact packages and certificate digests, so labels, globs, regexes, name
patterns, publishers, SDK rules and shared keys cannot go into the bundle. The export dropped
them without a word (six rules whole, every rule's labels, Kaspersky's publisher): a round trip
through ``--iocs`` lost those matches silently. Now stderr counts them by kind and names the
rules left out whole, and each malware object's description says what of its rule is missing.
"""

from __future__ import annotations

import json

from apkscan.rules.loader import load_ruleset
from cli_helpers import invoke

OWN_ONLY = """\
schema: apkscan-rules/1
pack: myorg
vendor: MyOrg
version: "1"
reviewed: "2026-11-28"
sources: {S: "x"}
rules:
  - id: myorg.exact
    app: Exact
    match:
      package: [com.example.exact]
      certificates: [{sha256: "2222222222222222222222222222222222222222222222222222222222222222"}]
    references: [S]
"""


def _warning(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("warning: RULES_EXPORT_PARTIAL: ")]
    assert len(lines) == 1, output
    return lines[0]


def test_the_shipped_packs_export_says_what_it_left_out_by_kind(tmp_path):
    out = tmp_path / "shipped.stix2"
    res = invoke("rules", "export", "-o", out)
    assert res.exit_code == 0, res.output
    said = _warning(res.output)
    rules = load_ruleset()
    app = [r for r in rules.rules if r.kind == "app"]
    labels = sum(len(r.labels) for r in app)
    globs = sum(len(r.package_globs) for r in app)
    shared = sum(rc.shared for r in app for rc in r.certificates)
    publishers = sum(len(p.publishers) for p in rules.packs)
    names = sum(len(p.publisher_names) for p in rules.packs)
    sdk = sum(r.kind == "sdk" for r in rules.rules)
    assert labels and globs and shared and publishers and names and sdk
    for text in (f"{labels} label patterns", f"{globs} package globs", f"{shared} shared certificates",
                 f"{publishers} publisher patterns", f"{names} publisher names", f"{sdk} SDK rules"):
        assert text in said, (text, said)
    whole = [r.id for r in app if not r.packages and not any(not rc.shared for rc in r.certificates)]
    assert "bytedance.namespace" in whole and "kaspersky.label" in whole
    assert f"{len(whole)} app rules with nothing else, not exported (" in said
    assert all(rid in said for rid in whole[:6])

    bundle = json.loads(out.read_text(encoding="utf-8"))
    described = {o["description"].split()[2]: o["description"] for o in bundle["objects"] if o["type"] == "malware"}
    assert not set(whole) & set(described)
    with_labels = [r for r in app if r.labels and r.id in described]
    assert with_labels
    for rule in with_labels:
        n = len(rule.labels)
        said = described[rule.id]
        assert "not exported, since MVT matches only exact packages" in said and f" {n} label pattern" in said, said
    plain = [r for r in app if r.id in described and not (r.labels or r.package_globs or r.package_regexes
                                                          or r.subjects or r.issuers or r.source_stamps)]
    assert plain and all("not exported" not in described[r.id] for r in plain)


def test_an_export_that_leaves_out_nothing_says_nothing(tmp_path):
    rules = tmp_path / "own.yaml"
    rules.write_text(OWN_ONLY, encoding="utf-8")
    res = invoke("rules", "export", "--no-builtin-rules", "--rules", rules, "-o", tmp_path / "own.stix2")
    assert res.exit_code == 0 and "RULES_EXPORT_PARTIAL" not in res.output, res.output
    bundle = json.loads((tmp_path / "own.stix2").read_text(encoding="utf-8"))
    assert [o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"] == [
        "[app:id = 'com.example.exact']",
        "[app:cert.sha256 = '2222222222222222222222222222222222222222222222222222222222222222']"]
