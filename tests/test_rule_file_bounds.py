"""Rule, policy and indicator files: hostile YAML and JSON get RULES_INVALID, never a hang or a
traceback (reviewer's r03 and r12).

- YAML aliases: the builder followed every ``*alias`` and kept a line per path, so
  ``l0: &l0 [x x9]``, ``lN: &lN [*lN-1 x9]`` (360 bytes) took 36 s and 3.6 GB. Aliases are
  now refused, through ``rules lint`` and ``scan --rules``/``--policy`` alike.
- YAML values: 8 MB of ``[x,x,...]`` became ~2 GB of PyYAML nodes; now counted first.
- YAML numbers: a 4,301-digit integer raised ``ValueError`` (a traceback); ``1:1:1:...``
  (base 60) converted in quadratic time.
- STIX JSON: deep nesting (``RecursionError``) and a 5,000-digit number (``ValueError``)
  gave a traceback and exit 1 instead of exit 2.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from apkscan.rules import yamlsrc
from apkscan.rules.stix import load_stix
from apkscan.rules.yamlsrc import RuleError, read_document
from cli_helpers import APKS, invoke
from conftest import REPO
from limited_child import assert_finished, run_limited

APK = APKS / "clean-v1v2v3.apk"


def _laughs(levels: int) -> str:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


_CHILD = """
import sys
from apkscan.rules.yamlsrc import RuleError, read_document
try:
    doc = read_document(sys.argv[1])
    print("parsed", len(doc.lines))
except RuleError as exc:
    print(exc.code, exc.line, exc.reason)
"""


@pytest.mark.parametrize("text, expected", [
    # 9**8 paths: the old builder needed minutes and gigabytes (killed at 10 s / 800 MiB)
    (_laughs(8), "RULES_INVALID 2 YAML aliases (*name) are not allowed in rule and policy files: write the value out"),
    # a million base-60 digits: the old conversion was quadratic (minutes)
    ("a: " + "1:" * 1_000_000 + "1\n", "RULES_INVALID 1 bad value: a number of 2000001 characters (at most 64)"),
    # 4M values in 8 MB: PyYAML's nodes took ~2 GB and ~17 s
    ("a: [" + "x," * 4_000_000 + "x]\n", "RULES_INVALID 1 more than 200000 YAML values"),
], ids=["alias-expansion", "base-60-integer", "many-values"])
def test_hostile_yaml_is_refused_within_limits(tmp_path, text, expected):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    out = assert_finished(run_limited(_CHILD, str(path), cpu=10, mem_mb=800))
    assert out.strip() == expected


@pytest.mark.parametrize("text, line, reason", [
    ("a: &x 1\nb: *x\n", 2, "YAML aliases"),  # a scalar alias
    ("a: &k key\n? *k\n: 1\n", 2, "YAML aliases"),  # an alias as a key
    ("base: &b {x: 1}\nuse:\n  <<: *b\n", 3, "YAML aliases"),  # merge keys are aliases too
    ("a: &r [1, *r]\n", 1, "YAML aliases"),  # a recursive alias
    ("a: " + "1" * 5000 + "\n", 1, "bad value: a number of 5000 characters"),  # was ValueError
    ("a: !!int " + "1" * 70 + "\n", 1, "bad value: a number of 70 characters"),
    ("a: !!timestamp 2024-13-45\n", 1, "bad value: month must be in 1..12"),  # was ValueError
])
def test_bad_yaml_values_are_rule_errors(tmp_path, text, line, reason):
    with pytest.raises(RuleError) as info:
        read_document(tmp_path / "x.yaml", text)
    assert info.value.code == "RULES_INVALID" and info.value.line == line
    assert info.value.reason.startswith(reason)


def test_what_rule_files_hold_still_reads(tmp_path):
    """An anchor nobody refers to is harmless; numbers of ordinary length convert as before."""
    doc = read_document(tmp_path / "x.yaml", "a: &unused [1, 2]\nb: " + "9" * 64 + "\nc: 1:30\nd: 2024-05-01\ne: 1.5e+3\n")
    assert doc.data == {"a": [1, 2], "b": int("9" * 64), "c": 90, "d": "2024-05-01", "e": 1500.0}
    assert doc.lines[("b",)] == 2


def test_every_shipped_rule_and_policy_file_is_alias_free():
    """Refusing aliases costs no shipped file (nor, so, the documented format)."""
    files = sorted((REPO / "signatures").rglob("*.yaml"))
    assert len(files) >= 10
    for f in files:
        events = yaml.parse(f.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        assert not any(isinstance(e, yaml.AliasEvent) for e in events), f
        read_document(f)


def test_deep_yaml_without_libyaml_is_a_rule_error(monkeypatch, tmp_path):
    """PyYAML's pure-Python composer recurses per level (libyaml stops at its own depth limit)."""
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    with pytest.raises(RuleError) as info:
        yamlsrc.read_document(tmp_path / "x.yaml", "a: " + "[" * 1200 + "]" * 1200 + "\n")
    assert (info.value.code, info.value.line, info.value.reason) == ("RULES_INVALID", None, "YAML nested deeper than 64 levels")


def _rule_file_with_alias(tmp_path):
    text = (REPO / "signatures" / "tencent.yaml").read_text(encoding="utf-8")
    path = tmp_path / "aliased.yaml"
    path.write_text(text + "x-shared: &shared [a, b]\nx-again: *shared\n")
    return path


def test_rules_lint_refuses_an_alias(tmp_path):
    path = _rule_file_with_alias(tmp_path)
    result = invoke("rules", "lint", path)
    assert result.exit_code == 2
    assert "YAML aliases (*name) are not allowed" in result.output and "Traceback" not in result.output


def test_scan_refuses_aliases_in_rules_and_policies(tmp_path):
    path = _rule_file_with_alias(tmp_path)
    result = invoke("scan", "--jobs", "1", "--rules", path, APK)
    assert result.exit_code == 2 and "YAML aliases (*name) are not allowed" in result.output
    policy = tmp_path / "policy.yaml"
    text = (REPO / "signatures" / "policies" / "vendor-watch.yaml").read_text(encoding="utf-8")
    policy.write_text(text.replace("default: allowed", "default: &v allowed\nx-copy: *v", 1))
    result = invoke("scan", "--jobs", "1", "--policy", policy, APK)
    assert result.exit_code == 2 and "YAML aliases (*name) are not allowed" in result.output


@pytest.mark.parametrize("content, message, code", [
    ("[" * 3000 + "]" * 3000, "nested too deeply", "RULES_IOC_NOT_JSON"),  # RecursionError in json
    ('{"objects": [' + "1" * 5000 + "]}", "Exceeds the limit (4300 digits)", "RULES_IOC_NOT_JSON"),  # ValueError in json
    ("[" * 100_000 + "]" * 100_000, "more than 25000 JSON values in 200000 bytes (at most 1048576, and one per 8 bytes on average)",
     "RULES_IOC_TOO_LARGE"),
    ("[" + "[]," * 100_000 + "[]]", "more than 37500 JSON values in 300004 bytes", "RULES_IOC_TOO_LARGE"),
], ids=["deep", "long-integer", "deep-dense", "amplifying"])
def test_hostile_stix_is_a_usage_error_not_a_traceback(tmp_path, content, message, code):
    path = tmp_path / "bad.stix2"
    path.write_text(content)
    with pytest.raises(RuleError) as info:
        load_stix(path)
    assert info.value.code == code and message in info.value.reason  # review 64 F12: its own code
    result = invoke("scan", "--jobs", "1", "--iocs", path, APK)
    assert result.exit_code == 2, result.output
    assert f"error: {code}: {path}: not a JSON STIX2 bundle:" in result.output and message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


_ENDLESS_CHILD = """
import sys
from apkscan.rules.stix import load_stix
from apkscan.rules.yamlsrc import RuleError, read_document
for load in (read_document, load_stix):
    try:
        load(sys.argv[1])
    except RuleError as exc:
        print(exc.code, exc.reason)
"""


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_an_endless_file_is_never_read_to_exhaustion():
    """``stat`` says 0 bytes for a device: it read to exhaustion (review 64 F12), then up to the cap;
    now it is no regular file and is refused unread (review 91 C), by both loaders."""
    out = assert_finished(run_limited(_ENDLESS_CHILD, "/dev/zero", cpu=10, mem_mb=500))
    said = "not a regular file or pipe (a device or socket): give a file"
    assert out.splitlines() == [f"RULES_NOT_A_FILE {said}", f"RULES_NOT_A_FILE {said}"]


def test_a_file_growing_past_the_cap_after_its_stat_is_read_only_up_to_it(tmp_path, monkeypatch):
    """The size ``stat`` gave is no bound for a file still being written: the read is capped."""
    path = tmp_path / "growing.yaml"
    path.write_bytes(b"#" * (yamlsrc.MAX_RULE_FILE + 10))
    real_stat = yamlsrc.Path.stat
    monkeypatch.setattr(yamlsrc.Path, "stat", lambda self, **kw: os.stat_result((0,) * 10) if self == path
                        else real_stat(self, **kw))  # as it was before the writer went on
    with pytest.raises(RuleError) as got:
        read_document(path)
    assert got.value.code == "RULES_INVALID" and "larger than" in got.value.reason


def test_line_ends_read_as_before(tmp_path):
    text = (REPO / "signatures" / "tencent.yaml").read_text(encoding="utf-8")
    crlf, cr = tmp_path / "crlf.yaml", tmp_path / "cr.yaml"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    cr.write_bytes(text.replace("\n", "\r").encode())
    plain = read_document(REPO / "signatures" / "tencent.yaml")
    for path in (crlf, cr):
        doc = read_document(path)
        assert (doc.data, doc.lines) == (plain.data, plain.lines)


def test_stix_still_reads_real_bundles(tmp_path):
    out = tmp_path / "rules.stix2"
    assert invoke("rules", "export", "-o", out).exit_code == 0
    pack = load_stix(out)
    assert len(pack.rules) > 10 and any(r.certificates for r in pack.rules)
    assert len(json.loads(out.read_text())["objects"]) > 100
