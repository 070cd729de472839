"""Issue 10 item 5: one vocabulary across commands, no duplicated or misleading text."""

from __future__ import annotations

import json

import click
import pytest
from cli_helpers import APKS, evidence_unchanged, fixture, invoke, run  # noqa: F401

from apkscan.cli import main

pytestmark = pytest.mark.usefixtures("evidence_unchanged")


def test_missing_file_is_input_not_found_in_every_command(tmp_path):
    missing = tmp_path / "gone.apk"
    scan = json.loads(invoke("scan", missing, "--json", "-", "-q").stdout)
    assert [e["code"] for e in scan["errors"]] == ["INPUT_NOT_FOUND"]
    inspected = json.loads(invoke("inspect", missing, "--json", "-").stdout)
    assert [e["code"] for e in inspected[0]["errors"]] == ["INPUT_NOT_FOUND"]


def test_inspect_accepts_folders_like_scan():
    res = run("inspect", APKS, "--json", "-", "--fail-on", "never")
    assert res.returncode == 0, res.stderr
    assert sorted(d["path"].rsplit("/", 1)[-1] for d in json.loads(res.stdout)) == \
        sorted(p.name for p in APKS.glob("*.apk"))


def test_inspect_text_prints_each_error_once_and_no_none():
    res = run("inspect", fixture("v2-stripped.apk"), fixture("tampered-entry.apk"))
    lines = res.stdout.splitlines()
    for code in ("JAR_SIG_MISSING_APK_SIG_REFERENCED", "V3_SIG_APK_DIGEST_DID_NOT_VERIFY"):
        assert sum(code in ln for ln in lines) == 1, code
    everything = run("inspect", APKS, "--fail-on", "never").stdout
    assert "None" not in everything


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


def test_help_has_no_literal_backquotes_and_lists_exit_codes():
    from apkscan.cli.exit_codes import ExitCode

    helps = [("",), *[c for c, _ in _commands(main)]]
    for path in helps:
        res = invoke(*[p for p in path if p], "--help")
        assert res.exit_code == 0, path
        assert "`" not in res.output, (path, res.output)
    for cmd in ("scan", "inspect", "report"):
        text = invoke(cmd, "--help").output
        for code in ExitCode:
            assert f"{int(code):>3}  {code.meaning[:30]}" in " ".join(text.split("\n")), (cmd, code)


def test_report_refuses_a_document_that_is_not_a_scan_result(tmp_path):
    out = tmp_path / "r.html"
    for i, content in enumerate(('{"foo": 1}', "[]", '{"schema_version": "1.0", "apps": "x", "errors": []}')):
        bad = tmp_path / f"bad{i}.json"
        bad.write_text(content)
        res = invoke("report", bad, "--html", out)
        assert res.exit_code == 2, (content, res.output)
        assert "not" in res.output and "error: " in res.output.lower() and "DOCUMENT_" in res.output and not out.exists()
    good = tmp_path / "good.json"
    assert invoke("scan", fixture("clean-v1v2v3.apk"), "--json", good, "-q").exit_code == 0
    assert invoke("report", good, "--html", out, "-q").exit_code == 0 and out.exists()


def test_rules_lint_reports_every_problem_in_one_run(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('schema: apkscan-rules/1\npack: t\nvendor: T\nversion: "1"\nreviewed: "2026-01-01"\n'
                   "sources: {r: x}\nrules:\n"
                   '  - {id: a, app: A, match: {package_regex: ["(unclosed"]}, references: [r]}\n'
                   "  - {id: b, app: B, match: {certificates: [NOPE]}, references: [r]}\n"
                   "  - {id: c, app: C, match: {package: [x]}, references: [S_NOSUCH]}\n"
                   "  - {id: d, app: D, match: {package: [x]}, references: [r], bogus: 1}\n")
    res = invoke("rules", "lint", bad)
    assert res.exit_code == 2
    assert "bad.yaml:8: bad regular expression" in res.output
    assert "bad.yaml:9: unknown certificate 'NOPE'" in res.output
    assert "bad.yaml:10:" in res.output and "S_NOSUCH" in res.output
    assert "bad.yaml:11:" in res.output and "bogus" in res.output
    assert "4 errors in 1 file" in res.output


def test_counts_are_singular_when_one(tmp_path):
    res = invoke("scan", fixture("clean-v1v2v3.apk"), tmp_path / "gone.apk", "--no-color")
    assert res.stdout.rstrip().endswith("2 inputs: 0 prohibited, 0 to review, 1 allowed, 1 error")


def test_split_without_version_name_or_label_prints_no_none(tmp_path):
    """Why (smaller): `versionName: None` for a split. A real split-like manifest: no versionName, no label."""
    import sys
    import zipfile

    from cli_helpers import FIXTURES

    sys.path.insert(0, str(FIXTURES))
    try:
        from axml_writer import Attr, Element, encode
    finally:
        sys.path.remove(str(FIXTURES))
    manifest = encode(Element("manifest", [Attr("versionCode", 7), Attr("package", "com.tencent.mm", android=False),
                                           Attr("split", "config.arm64_v8a", android=False)],
                              [Element("application", [])]))
    split = tmp_path / "split_config.arm64_v8a.apk"
    with zipfile.ZipFile(split, "w") as z:
        z.writestr("AndroidManifest.xml", manifest)
    res = run("inspect", split)
    assert res.returncode == 1, res.stderr  # unsigned: does not verify
    assert "None" not in res.stdout and "versionName" not in res.stdout
    assert "Package: com.tencent.mm  versionCode: 7" in res.stdout and "split: config.arm64_v8a" in res.stdout
