"""A scan that lists nothing prints its summary from its own document, untyped (issue 11).

``terminal.render_allowed`` writes the footer ``terminal.render`` would write for a document
whose apps are all allowed under every policy, with no error, nothing skipped, not
interrupted; for anything else it writes nothing and says so. Checked on the scan documents
of every fixture APK and container, under one and under several policies, and on documents
edited to fall outside the case: wherever it answers, its bytes are render()'s.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys

import pytest
from conftest import APKS, FIXTURES

from apkscan.document import ScanDocument
from apkscan.policy.loader import load_policy
from apkscan.report import terminal
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

INPUTS = sorted([*APKS.glob("*.apk"), *(FIXTURES / "adversarial").glob("*.apk"),
                 *(p for p in (FIXTURES / "containers").iterdir() if p.suffix != ".py")])


def _doc(paths, rules, policies, tmp_path) -> dict:
    source = FileSource([str(p) for p in paths], WalkOptions(tmp_dir=str(tmp_path / "spool")))
    return scan([source], rules, policies[0], more_policies=policies[1:]).to_dict()


def _both(doc: dict, color: bool = False) -> tuple[str | None, str]:
    """(render_allowed's text or None when it declined, render's text of the typed document)."""
    fast, typed = io.StringIO(), io.StringIO()
    answered = terminal.render_allowed(copy.deepcopy(doc), fast, color=color)
    assert answered or fast.getvalue() == ""
    terminal.render(ScanDocument.of(doc), typed, color=color)
    return (fast.getvalue() if answered else None), typed.getvalue()


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_fixture_alone_prints_what_the_typed_summary_prints(path, rules, tmp_path):
    for names in (["canada-tbs-2023"], ["canada-tbs-2023", "us-dhs-bod-17-01", "vendor-watch"]):
        doc = _doc([path], rules, [load_policy(n) for n in names], tmp_path)
        listed = doc["errors"] or doc["skipped"] or any(a["identity"]["tamper"] for a in doc["apps"]) or any(
            v["verdict"] != "allowed" for a in doc["apps"] for v in [a, *a["verdicts"].values()])
        for color in (False, True):
            fast, typed = _both(doc, color)
            assert fast is None if listed else fast == typed, (names, color)


def test_many_allowed_apps_and_several_policies(rules, tmp_path):
    clean = [APKS / n for n in ("clean-v1v2v3.apk", "v2-only.apk", "v3-only.apk", "ec-v2v3.apk")]
    policies = [load_policy(n) for n in ("canada-tbs-2023", "us-dhs-bod-17-01")]
    doc = _doc(clean, rules, policies, tmp_path)
    fast, typed = _both(doc)
    assert fast == typed and typed.splitlines()[-4:] == [
        "4 inputs: 0 errors; apps per policy:",
        "  canada-tbs-2023: 0 prohibited, 0 to review, 4 allowed",
        "  us-dhs-bod-17-01: 0 prohibited, 0 to review, 4 allowed",
        "  most severe of each app: 0 prohibited, 0 to review, 4 allowed"]
    assert "; policy: canada-tbs-2023" in typed and "and 1 more, each counted below" in typed  # not the only one


def _edits(doc: dict):
    """Documents just outside the case, or with hostile text in what the footer prints."""
    def edit(fn):
        d = copy.deepcopy(doc)
        fn(d)
        return d
    first = doc["policies"][0]["name"]
    yield edit(lambda d: d.update(interrupted=True))
    yield edit(lambda d: d["apps"][0].update(verdict="review"))
    yield edit(lambda d: d["apps"][0]["verdicts"][first].update(verdict="review"))
    yield edit(lambda d: d["apps"][0].update(verdicts={}))  # schema 1.1: one verdict
    yield edit(lambda d: d["apps"][0]["verdicts"].pop(first))
    yield edit(lambda d: d.update(policies=[], schema_version="1.1"))  # 1.2+ must name them (review 88 F1)
    for policy, name in [("old-policy", "old-policy"), (None, "policy"), ({}, "policy")]:  # 1.0: text
        yield edit(lambda d: (d.update(policies=[], policy=policy, schema_version="1.0"),
                              [a.update(verdicts={name: a["verdicts"][first]}) for a in d["apps"]]))
    yield edit(lambda d: d["policy"].update(title=None, version=None))
    yield edit(lambda d: d["policy"].update(title="\x1b[2Jt\u202e", version="v\x07"))
    yield edit(lambda d: d["rules"]["packs"][0].update(name="p\x1b]0;x\x07", version=None))
    yield edit(lambda d: d.update(rules=None))
    yield edit(lambda d: d.update(rules={"packs": []}))
    yield edit(lambda d: d["policy"].update(version=3))  # a type render() refuses: declined
    yield edit(lambda d: d["rules"]["packs"][0].update(name=None))
    yield edit(lambda d: d["apps"].append(["not", "an", "app"]))  # declined, never a crash
    # review 65 H1: the policy's uncertain items are printed by both, escaped and bounded alike
    yield edit(lambda d: [p.update(uncertain=["\x1b[2Jx\u202e", *(f"{i} " + "y" * 900 for i in range(20))])
                          for p in (d["policy"], *d["policies"])])
    yield edit(lambda d: d["policies"][0].update(uncertain="not a list"))  # a type render() refuses: declined


def test_edited_documents_fall_back_or_print_the_same(rules, tmp_path):
    doc = _doc([APKS / "clean-v1v2v3.apk"], rules, [load_policy("canada-tbs-2023")], tmp_path)
    assert _both(doc)[0] is not None
    answered = 0
    for edited in _edits(doc):
        out = io.StringIO()
        if not terminal.render_allowed(copy.deepcopy(edited), out):
            assert out.getvalue() == ""
            continue
        answered += 1
        fast, typed = _both(edited)
        assert fast == typed and "\x1b" not in fast and "\u202e" not in fast
    assert answered == 6  # the four 1.0/1.1 shapes are declined: render() adds their one-policy note (review 88 F1)


_PROBE = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr))
from apkscan.cli import main
main(sys.argv[1:], prog_name="apkscan")
"""


def _scan(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, "scan", "--no-store", *args], capture_output=True,
                          text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES "))
    return proc, set(json.loads(line[len("MODULES "):]))


TYPED = ("apkscan.document", "apkscan.document.scan_document", "apkscan.report.view", "apkscan.report.policy_view")


def test_a_clean_scan_and_its_json_report_import_no_typed_document(tmp_path):
    out = tmp_path / "scan.json"
    proc, modules = _scan(str(APKS / "clean-v1v2v3.apk"), "--json", str(out))
    assert proc.returncode == 0 and proc.stdout.endswith("1 inputs: 0 prohibited, 0 to review, 1 allowed, 0 errors\n")
    assert json.loads(out.read_text())["apps"][0]["verdict"] == "allowed"
    assert sorted(m for m in TYPED if m in modules) == []
    proc, modules = _scan(str(APKS / "wechat-forged-cert.apk"))  # a listed app: the typed summary
    assert "wechat-forged-cert.apk" in proc.stdout and "apkscan.report.view" in modules
