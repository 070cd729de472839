"""Rule and policy files are checked the same way however apkscan was installed (review 37 F1).

Without jsonschema (``pip install .`` did not bring it) the schema check was skipped and the
policy builder dropped keys it did not read: ``when: {kind: [sdk]}`` (for ``kinds``) became a
condition on nothing, an ``allowed`` catch-all, and banned apps came out ``allowed``, exit 0.
Now apkscan's own checker (``apkscan/rules/shape.py``) reads the schema every time, the builders
refuse an unknown condition themselves, and a ``when`` that takes every finding is written
``when: any``. jsonschema is a dependency; these tests hide it.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_VENDOR_RULES

from apkscan.policy import loader as policy_loader
from apkscan.policy.loader import lint_policy, load_policy
from apkscan.rules import shape
from apkscan.rules.loader import RulesInvalid, builtin_files, lint_file
from apkscan.rules.yamlsrc import read_document, schema

ROOT = Path(__file__).resolve().parents[1]

POLICY = """schema: apkscan-policy/1
policy: typo-allow
version: "1"
default: allowed
decisions:
  - id: sdk-ok
    verdict: allowed
    when: {WHEN}
  - id: no-wechat
    verdict: prohibited
    when: {tags: [wechat]}
"""


def _policy(tmp_path: Path, when: str) -> Path:
    path = tmp_path / "typo.yaml"
    path.write_text(POLICY.replace("{WHEN}", when), encoding="utf-8")
    return path


@pytest.fixture
def no_jsonschema(monkeypatch):
    """As after an install without jsonschema: importing it fails."""
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    with pytest.raises(ImportError):
        import jsonschema  # noqa: F401


@pytest.mark.parametrize("when,says", [
    ("{kind: [sdk]}", "unknown key 'kind'"),          # the review's typo: `kinds`
    ("{tagz: [tiktok]}", "unknown key 'tagz'"),       # the other way: every vendor finding prohibited
    ("{kinds: sdk}", "not of type array"),            # a bare word for a list
    ("{tags: []}", "empty list"),                      # a list that narrows nothing
    ("{min_strength: strongest}", "not one of"),
    ("{}", "must not be empty (or 'any')"),            # no condition at all
    ("everything", "'any'"),
])
def test_a_when_that_would_catch_everything_is_refused_without_jsonschema(no_jsonschema, tmp_path, when, says):
    path = _policy(tmp_path, when)
    policy, errors = lint_policy(path)
    assert policy is None and errors, when
    assert errors[0].line == 8 and says in errors[0].message, errors[0].message
    assert errors[0].code == "RULES_INVALID"
    with pytest.raises(RulesInvalid):
        load_policy(str(path))


@pytest.mark.parametrize("when,says", [
    ("{kind: [sdk]}", "unknown condition 'kind'"),
    ("{tags: []}", "non-empty list"),
    ("{tags: wechat}", "non-empty list"),
    ("{min_strength: strongest}", "min_strength"),
    ("{}", "write `when: any`"),
    ("[tags]", "`any`"),
])
def test_the_policy_builder_refuses_them_itself(monkeypatch, tmp_path, when, says):
    """Even with every schema check bypassed, the builder reads no condition it does not know."""
    monkeypatch.setattr(policy_loader, "validate", lambda doc, name: [])
    policy, errors = lint_policy(_policy(tmp_path, when))
    assert policy is None and errors[0].line == 8 and says in errors[0].reason, errors


def test_when_any_is_the_explicit_catch_all(no_jsonschema, tmp_path, rules):
    from apkscan.policy.decide import decide
    from apkscan.rules.matcher import match_identity
    from apkscan.rules.selftest import build_identity

    policy, errors = lint_policy(_policy(tmp_path, "any").rename(tmp_path / "any.yaml"))
    assert not errors and policy.decisions[0].when.tags == []
    identity = build_identity("com.tencent.mm", "WeChat")
    outcome = decide(identity, match_identity(identity, rules), policy, rules)
    assert outcome.verdict == "allowed" and outcome.policy["decision"] == "sdk-ok"


@pytest.mark.parametrize("edit,line,says", [
    (("      package: [com.example.clean]", "      pakage: [com.example.clean]"), 17, "unknown key 'pakage'"),
    (("    app: Clean Notes", "    app: Clean Notes\n    tags: clean"), 16, "not of type array"),
    (("    sha256: 3400f8cb", "    sha265: 3400f8cb"), 10, "unknown key 'sha265'"),
])
def test_a_rule_file_typo_is_refused_without_jsonschema(no_jsonschema, tmp_path, edit, line, says):
    path = tmp_path / "vendor.yaml"
    path.write_text(TEST_VENDOR_RULES.replace(*edit), encoding="utf-8")
    pack, errors = lint_file(path)
    assert pack is None and any(e.line == line and says in e.message for e in errors), errors


def _run_without_jsonschema(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    code = ("import runpy, sys\nsys.modules['jsonschema'] = None\nsys.argv = ['apkscan'] + sys.argv[1:]\n"
            "runpy.run_module('apkscan', run_name='__main__')\n")
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(cwd / "cache"))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_a_scan_without_jsonschema_refuses_the_typo_and_the_fixed_policy_prohibits_wechat(tmp_path):
    """The review's run: exit 0 with WeChat `allowed`; now exit 2 naming the line, and the
    corrected policy prohibits the WeChat impostor (another key on com.tencent.mm)."""
    from test_policy_resolution import signed_apk

    apk = signed_apk(tmp_path / "wechat.apk", "com.tencent.mm", "WeChat", "impostor")
    typo = _policy(tmp_path, "{kind: [sdk]}")
    res = _run_without_jsonschema(tmp_path, "scan", "--no-store", str(apk), "--policy", str(typo))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{typo}:8: decisions/0/when/kind: unknown key 'kind'" in res.stderr
    lint = _run_without_jsonschema(tmp_path, "rules", "lint", str(typo))
    assert lint.returncode == 2 and ":8:" in lint.stderr and "ok " not in lint.stdout
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(POLICY.replace("{WHEN}", "{kinds: [sdk]}").replace("typo-allow", "fixed"), encoding="utf-8")
    res = _run_without_jsonschema(tmp_path, "scan", "--no-store", str(apk), "--policy", str(fixed),
                                  "--json", str(tmp_path / "out.json"))
    assert res.returncode == 1, res.stderr
    app = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["apps"][0]
    assert app["verdict"] == "prohibited" and app["policy"]["decision"] == "no-wechat"
    assert any(f["kind"] == "impersonation" and f["strength"] == "strong" for f in app["findings"])


def _mutations(data):
    """Every dict in ``data`` with one key added, removed or given a value of another type."""
    def walk(node, at):
        if isinstance(node, dict):
            yield at
            for k, v in node.items():
                yield from walk(v, at + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, at + (i,))

    for at in walk(data, ()):
        target = data
        for part in at:
            target = target[part]
        edits = [("zz-unknown", 1)] + [(k, v) for k in list(target)[:4] for v in (None, 7, "", [], {}, "x" * 64)]
        edits += [(k, ...) for k in list(target)[:4]]
        for key, value in edits:
            doc = copy.deepcopy(data)
            node = doc
            for part in at:
                node = node[part]
            if value is ...:
                del node[key]
            else:
                node[key] = value
            yield doc


def _small(path: Path):
    data = read_document(path).data
    for key in ("rules", "certificates", "publisher", "decisions", "examples"):
        if isinstance(data.get(key), list):
            data[key] = data[key][:3]
    return data


def test_the_builtin_check_agrees_with_jsonschema():
    """Accept/refuse the same documents as jsonschema, over the shipped files and mutations of them."""
    jsonschema = pytest.importorskip("jsonschema")
    from apkscan.policy.loader import policy_dir

    cases = [("rules", _small(f)) for f in builtin_files()] + [("policy", _small(f)) for f in sorted(policy_dir().glob("*.yaml"))[:3]]
    checked = 0
    for name, data in cases:
        validator = jsonschema.Draft202012Validator(schema(name))
        for doc in _mutations(data):
            ours = bool(shape.problems(doc, schema(name)))
            theirs = any(True for _ in validator.iter_errors(doc))
            assert ours == theirs, (name, json.dumps(doc)[:300], shape.problems(doc, schema(name))[:2])
            checked += 1
    assert checked > 500


def test_a_schema_keyword_the_checker_does_not_implement_is_an_error_not_a_pass():
    with pytest.raises(shape.UnknownKeyword):
        shape.problems(5, {"type": "integer", "maximum": 3})
    for name in ("rules", "policy"):  # the shipped schemas use only what it implements
        assert shape.problems({}, schema(name))


WECHAT = "0fe4ff85c215918396dadc7cd8ce6963339af33d37751a56e54c7206b63a3c7c"


@pytest.mark.parametrize("digest,ok", [
    ("0fe4ff85...", False),                     # README's shortened digest: matched no key
    (WECHAT[:62], False), (WECHAT + "00", False), ("zz" * 32, False),
    (WECHAT, True), (":".join(WECHAT[i:i + 2] for i in range(0, 64, 2)).upper(), True),  # keytool's form
])
def test_example_digests_are_hex_of_the_right_length(no_jsonschema, tmp_path, digest, ok):
    rules = tmp_path / "r.yaml"
    rules.write_text(TEST_VENDOR_RULES.replace("certificates: [TV_KEY]", f"certificates: [{{sha256: '{WECHAT}'}}]")
                     + f"    examples:\n      - {{package: com.example.clean, signers: [{{sha256: '{digest}'}}],"
                     " expect: {strength: confirmed}}\n", encoding="utf-8")
    pack, errors = lint_file(rules)
    assert (pack is not None) == ok, errors
    if not ok:
        assert errors[0].line == 21 and "64 hex digits" in errors[0].message
        return
    from apkscan.rules.model import RuleSet
    from apkscan.rules.selftest import run_examples

    assert [r.passed for r in run_examples(RuleSet([pack]))] == [True]  # the colon form names the same key


@pytest.mark.parametrize("where", ["signers", "present", "lineage", "recorded"])
def test_a_shortened_digest_in_a_policy_example_is_refused(no_jsonschema, tmp_path, where):
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.replace("{WHEN}", "any") + "examples:\n"
                    f"  - {{name: genuine, package: com.zhiliaoapp.musically, {where}: [{{sha256: 9041803e...}}],\n"
                    "     expect: {verdict: prohibited}}\n", encoding="utf-8")
    policy, errors = lint_policy(path)
    assert policy is None and errors[0].line == 13 and "64 hex digits" in errors[0].message, errors

    from apkscan.rules.yamlsrc import check_example_certs

    with pytest.raises(Exception, match="64 hex digits"):  # the builders check it themselves too
        check_example_certs(read_document(path), ("examples", 0), read_document(path).data["examples"][0])
