"""``apkscan diff``: two real scans of fixture folders (an added banned app, a removed one, a
re-signed one), per-source matching, exit codes, and documents built to break it."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apkscan.cli import main
from apkscan.diff import DIRECT, diff_documents
from apkscan.diff_places import SourceKeys, outermost
from apkscan.document import DocumentError, Source

REPO = Path(__file__).resolve().parents[1]
APKS = REPO / "fixtures" / "apks"


def _keys() -> dict[str, str]:
    index = APKS / "index.json"
    if not index.exists():
        pytest.skip("fixtures not generated")
    return {k: v["cert_sha256"] for k, v in json.loads(index.read_text())["keys"].items()}


def _folder(path: Path, files: dict[str, str]) -> Path:
    """A scan folder: target name -> fixture file copied under that name."""
    path.mkdir()
    for target, source in files.items():
        if not (APKS / source).exists():
            pytest.skip(f"fixture {source} not generated")
        shutil.copy(APKS / source, path / target)
    return path


def _scan(folder: Path, out: Path, policy: str = "canada-tbs-2023") -> dict:
    res = CliRunner().invoke(main, ["scan", str(folder), "--json", str(out), "--policy", policy, "--quiet"])
    assert res.exit_code in (0, 1, 3), res.output  # 3: some input could not be scanned
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    """Two audits of one device folder: WeChat re-signed, Kaspersky-signed notes gone, TikTok new."""
    base = tmp_path_factory.mktemp("audits")
    old = _folder(base / "old", {"clean.apk": "clean-v1v2v3.apk", "wechat.apk": "wechat-tencent-subject.apk",
                                 "notes.apk": "kaspersky-subject-notes.apk", "v2.apk": "v2-only.apk"})
    new = _folder(base / "new", {"clean.apk": "clean-v1v2v3.apk", "wechat.apk": "wechat-impostor.apk",
                                 "tiktok.apk": "tiktok-bytedance-subject.apk", "v2.apk": "v2-only.apk"})
    _scan(old, base / "old.json")
    _scan(new, base / "new.json")
    return base


def test_added_removed_and_resigned(audits, tmp_path):
    keys = _keys()
    out_json, out_html = tmp_path / "d.json", tmp_path / "d.html"
    res = CliRunner().invoke(main, ["diff", str(audits / "old.json"), str(audits / "new.json"),
                                    "--json", str(out_json), "--html", str(out_html)])
    assert res.exit_code == 1, res.output
    d = json.loads(out_json.read_text())
    assert d["worse"] is True and [n["code"] for n in d["notes"]] == ["DIFF_POLICY_UNCERTAIN"]
    [src] = d["sources"]
    assert src["source"] is None and src["unchanged"] == 2  # clean + v2-only, same bytes
    by = {c["package"]: c for c in src["changes"]}
    assert set(by) == {"com.zhiliaoapp.musically", "com.example.notes", "com.tencent.mm"}
    tiktok = by["com.zhiliaoapp.musically"]
    assert tiktok["change"] == "added" and tiktok["worse"] and tiktok["new"]["verdict"] == "prohibited"
    notes = by["com.example.notes"]
    assert notes["change"] == "removed" and not notes["worse"] and notes["old"]["verdict"] == "prohibited"
    wechat = by["com.tencent.mm"]
    # same package, same verdict, another key: worth a look by itself
    assert wechat["change"] == "changed" and wechat["reasons"] == ["signer", "file"] and wechat["worse"]
    assert wechat["old"]["verdict"] == wechat["new"]["verdict"] == "prohibited"
    assert wechat["old"]["signers"] == [keys["tencent-like"]] and wechat["new"]["signers"] == [keys["impostor"]]
    assert d["counts"] == {"added": 1, "removed": 1, "verdict": 0, "signer": 1, "version": 0, "file": 1, "split": 0,
                           "worse": 2, "new_failures": 0, "skipped_now": 0, "still_failing_unknown": 0, "still_failing_same": 0, "unchanged": 2,
                           "recorded_signer": 0, "signature_only_signer": 0, "renamed": 0}
    assert "+ com.zhiliaoapp.musically" in res.output and "[WORSE]" in res.output
    assert f"signer {keys['tencent-like'][:12]} -> {keys['impostor'][:12]}" in res.output
    page = out_html.read_text(encoding="utf-8")
    assert "com.zhiliaoapp.musically" in page and "default-src &#39;none&#39;" in page and "<script" not in page


@pytest.mark.skipif(shutil.which("apksigner") is None, reason="apksigner not installed")
def test_allowed_app_resigned_with_apksigner_is_worse(tmp_path):
    """The same APK re-signed by another key: the verdict stays allowed, the diff still says worse."""
    import subprocess
    keys = _keys()
    old = _folder(tmp_path / "old", {"clean.apk": "clean-v1v2v3.apk"})
    new = tmp_path / "new"
    new.mkdir()
    key = REPO / "fixtures" / "keys"
    subprocess.run(["apksigner", "sign", "--in", str(old / "clean.apk"), "--out", str(new / "clean.apk"),
                    "--key", str(key / "test-ec.pk8"), "--cert", str(key / "test-ec.pem"),
                    "--min-sdk-version", "21"], check=True, capture_output=True)
    result = diff_documents(_scan(old, tmp_path / "a.json"), _scan(new, tmp_path / "b.json"))
    [c] = result.changes()
    assert c.package == "com.example.clean" and c.reasons == ["signer", "file"]
    assert c.old.verdict == c.new.verdict == "allowed" and c.worse and result.exit_code() == 1
    assert c.old.signers == {keys["test-rsa"]} and c.new.signers == {keys["test-ec"]}


def test_same_scan_and_improvement_exit_0(audits):
    runner = CliRunner()
    same = runner.invoke(main, ["diff", str(audits / "new.json"), str(audits / "new.json")])
    assert same.exit_code == 0 and "nothing got worse" in same.output
    # new -> old: TikTok removed, notes added back (prohibited: worse), WeChat signer back
    back = runner.invoke(main, ["diff", str(audits / "new.json"), str(audits / "old.json"), "--json", "-"])
    assert back.exit_code == 1
    d = json.loads(back.stdout)
    assert {c["package"]: c["worse"] for c in d["sources"][0]["changes"]} == {
        "com.zhiliaoapp.musically": False, "com.example.notes": True, "com.tencent.mm": True}


def test_only_removals_are_not_worse(tmp_path):
    old = _folder(tmp_path / "old", {"wechat.apk": "wechat-impostor.apk", "clean.apk": "clean-v1v2v3.apk"})
    new = _folder(tmp_path / "new", {"clean.apk": "clean-v1v2v3.apk"})
    a, b = _scan(old, tmp_path / "a.json"), _scan(new, tmp_path / "b.json")
    result = diff_documents(a, b)
    assert result.exit_code() == 0 and [c.change for c in result.changes()] == ["removed"]


def test_banned_app_made_unreadable_is_worse_not_a_removal(tmp_path):
    """Adversary: truncate the banned APK so the new scan cannot read it."""
    old = _folder(tmp_path / "old", {"wechat.apk": "wechat-impostor.apk", "clean.apk": "clean-v1v2v3.apk"})
    new = _folder(tmp_path / "new", {"clean.apk": "clean-v1v2v3.apk"})
    (new / "wechat.apk").write_bytes((APKS / "wechat-impostor.apk").read_bytes()[:3000])
    a, b = _scan(old, tmp_path / "a.json"), _scan(new, tmp_path / "b.json")
    assert b["errors"], "the truncated APK is an input error of the new scan"
    result = diff_documents(a, b)
    [src] = result.sources
    assert [c.change for c in src.changes] == ["removed"]
    assert [(f.name, f.code[:4] in ("ZIP_", "INPU")) for f in src.new_failures] == [("wechat.apk", True)]
    assert result.exit_code() == 1 and result.counts()["new_failures"] == 1
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert res.exit_code == 1 and "! wechat.apk  could not be scanned now" in res.output
    # already failing in the old scan: not new
    assert diff_documents(b, b).exit_code() == 0


def test_verdict_raised_by_another_policy_is_worse_and_noted(tmp_path):
    folder = _folder(tmp_path / "apks", {"wechat.apk": "wechat-tencent-subject.apk"})
    watch = _scan(folder, tmp_path / "w.json", "vendor-watch")
    ban = _scan(folder, tmp_path / "b.json", "canada-tbs-2023")
    up = diff_documents(watch, ban)
    [c] = up.changes()
    assert c.reasons == ["verdict"] and c.old.verdict == "review" and c.new.verdict == "prohibited"
    assert c.new.decision == "tbs-2023-10-wechat" and up.exit_code() == 1
    assert [n.code for n in up.notes if n.code != "DIFF_POLICY_UNCERTAIN"] == ["DIFF_POLICY_DIFFERS"]
    down = diff_documents(ban, watch)
    assert down.changes()[0].reasons == ["verdict"] and down.exit_code() == 0


def test_per_outermost_source(audits):
    """Two devices in containers hold the same package; only device B's copy was re-signed."""
    old = json.loads((audits / "old.json").read_text())
    new = json.loads((audits / "new.json").read_text())
    wechat_old = next(a for a in old["apps"] if a["package"] == "com.tencent.mm")
    wechat_new = next(a for a in new["apps"] if a["package"] == "com.tencent.mm")

    def on(app, device, chain_form):
        app = copy.deepcopy(app)
        member = "apps/com.tencent.mm/a/base.apk"
        if chain_form:  # the containers branch's provenance
            app["source"] = {"path": f"{device} ▸ {member}", "chain": [device, member], "outermost": device}
        else:  # today's documents: container only
            app["source"] = {"path": f"{device} ▸ {member}", "container": device}
            app["container"] = device
        return app

    for chain_form in (True, False):
        a = dict(old, apps=[on(wechat_old, "device-a.ab", chain_form), on(wechat_old, "device-b.ab", chain_form)])
        b = dict(new, apps=[on(wechat_old, "device-a.ab", chain_form), on(wechat_new, "device-b.ab", chain_form)])
        result = diff_documents(a, b)
        assert [(s.source, s.unchanged, [c.reasons for c in s.changes]) for s in result.sources] == [
            ("device-a.ab", 1, []), ("device-b.ab", 0, [["signer", "file"]])]
        assert result.exit_code() == 1


def test_sources_in_dated_folders_match_by_name(audits):
    old = json.loads((audits / "old.json").read_text())
    app = next(a for a in old["apps"] if a["package"] == "com.example.clean")

    def at(folder):
        a = copy.deepcopy(app)
        a["source"] = {"path": f"{folder}/device-07.ab ▸ base.apk", "container": f"{folder}/device-07.ab"}
        return a
    a, b = dict(old, apps=[at("/audits/2026-01")]), dict(old, apps=[at("/audits/2026-02")])
    by_path = diff_documents(a, b)
    assert sorted(c.change for c in by_path.changes()) == ["added", "removed"]
    by_name = diff_documents(a, b, by_name=True)
    assert by_name.changes() == [] and [s.source for s in by_name.sources] == ["device-07.ab"]


def test_source_key_fallbacks():
    """The outermost source diff_documents keys a record by (``outermost``, then ``SourceKeys``)."""
    assert outermost(Source(path="x.apk", container=None), None) == DIRECT
    assert outermost(Source(path="x.apk", chain=("x.apk",), outermost="x.apk"), None) == DIRECT
    assert outermost(Source(path="d.tar ▸ a.zip ▸ b.apk", container="d.tar ▸ a.zip"), None) == "d.tar"
    assert outermost(Source(path="not a dict"), "backup.ab") == "backup.ab"  # 1.0: a string source
    where = Source(path="b.apk", chain=("/x/d.tar", "b.apk"))
    assert SourceKeys([{outermost(where, None)}], by_name=True).key(outermost(where, None)) == "d.tar"


def test_version_change_is_reported_not_worse(audits):
    old = json.loads((audits / "old.json").read_text())
    new = copy.deepcopy(old)
    clean = next(a for a in new["apps"] if a["package"] == "com.example.clean")
    clean["version_name"], clean["version_code"] = "2.0", 2
    [c] = diff_documents(old, new).changes()
    assert c.reasons == ["version"] and c.new.versions == ("2.0 (2)",) and not c.worse


def test_other_bytes_same_version_and_signer_is_reported_not_worse(audits):
    old = json.loads((audits / "old.json").read_text())
    new = copy.deepcopy(old)
    next(a for a in new["apps"] if a["package"] == "com.example.clean")["sha256"] = "ab" * 32
    [c] = diff_documents(old, new).changes()
    assert c.reasons == ["file"] and not c.worse


def test_first_verified_signer_is_a_change_not_worse(audits):
    old = json.loads((audits / "old.json").read_text())
    new = copy.deepcopy(old)
    clean = next(a for a in old["apps"] if a["package"] == "com.example.clean")
    clean["identity"]["signers"] = []  # e.g. the old copy did not verify
    [c] = diff_documents(old, new).changes()
    assert c.reasons == ["signer"] and not c.worse


def test_hostile_package_names_are_escaped(audits, tmp_path):
    old = json.loads((audits / "old.json").read_text())
    new = copy.deepcopy(old)
    evil = copy.deepcopy(new["apps"][0])
    evil["package"] = "com.evil\x1b[2J\u202e<script>alert(1)</script>"
    evil["verdict"] = "prohibited"
    for entry in evil.get("verdicts", {}).values():  # consistent: a document whose two disagree is refused
        entry["verdict"] = "prohibited"
    evil["verdict_worst"] = "prohibited"  # and so is one whose most severe verdict says otherwise (review 86 F1)
    new["apps"].append(evil)
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"),
                                    "--html", str(tmp_path / "d.html")])
    assert res.exit_code == 1
    assert "\x1b" not in res.output and "\u202e" not in res.output and "\\x1b[2J\\u202e" in res.output
    page = (tmp_path / "d.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("content,code", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "DIFF_NOT_JSON"),
    (b"[1, 2, 3]", "DOCUMENT_NOT_A_SCAN"),
    (b'{"apps": {"not": "a list"}}', "DOCUMENT_NOT_A_SCAN"),
    (b'{"schema_version": "1.2", "apps": {"not": "a list"}, "errors": []}', "DOCUMENT_MALFORMED"),
    (b'{"schema_version": "3.0", "apps": [], "errors": []}', "DOCUMENT_VERSION_UNSUPPORTED"),
    (b"[" * 3000, "DIFF_NOT_JSON"),  # nesting bomb (RecursionError in the parser)
    (b"[" * 100000, "DIFF_DOCUMENT_TOO_LARGE"),  # so dense it is refused before parsing (jsonbound)
    (b"\xff\xfe{", "DIFF_NOT_JSON"),
])
def test_unusable_documents_exit_2_with_a_code(tmp_path, audits, content, code):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    res = CliRunner().invoke(main, ["diff", str(audits / "old.json"), str(bad)])
    assert res.exit_code == 2 and f"error: {code}: " in res.output and "Traceback" not in res.output


def test_missing_document_and_two_stdout_formats(tmp_path, audits):
    res = CliRunner().invoke(main, ["diff", str(audits / "old.json"), str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "DIFF_UNREADABLE" in res.output
    res = CliRunner().invoke(main, ["diff", str(audits / "old.json"), str(audits / "old.json"),
                                    "--json", "-", "--html", "-"])
    assert res.exit_code == 2


def test_unwritable_output_exit_2(tmp_path, audits):
    (tmp_path / "afile").write_text("x")  # a folder that cannot be created: checked before any work
    res = CliRunner().invoke(main, ["diff", str(audits / "old.json"), str(audits / "new.json"),
                                    "--json", str(tmp_path / "afile" / "out.json")])
    assert res.exit_code == 2 and "afile/out.json" in res.output
    res = CliRunner().invoke(main, ["diff", str(audits / "old.json"), str(audits / "new.json"),
                                    "--json", str(tmp_path / "new" / "dir" / "out.json")])
    assert res.exit_code == 1 and (tmp_path / "new" / "dir" / "out.json").is_file()  # parents created


def test_malformed_entries_are_refused_naming_the_entry(audits, tmp_path):
    old = json.loads((audits / "old.json").read_text())
    for entry, where in ((1, "apps/4"), ({"verdict": "prohibited"}, "apps/4"),  # not an object; no source
                         ({**old["apps"][0], "package": 5}, "apps/4/package")):
        new = dict(old, apps=[*old["apps"], entry])
        with pytest.raises(DocumentError) as err:
            diff_documents(old, new)
        assert err.value.code == "DOCUMENT_MALFORMED" and "/".join(err.value.path) == where
        (tmp_path / "new.json").write_text(json.dumps(new))
        res = CliRunner().invoke(main, ["diff", str(audits / "old.json"), str(tmp_path / "new.json")])
        assert res.exit_code == 2 and f"error: DOCUMENT_MALFORMED: {tmp_path / 'new.json'}: {where}: " in res.output


def test_an_app_with_nothing_to_match_on_is_counted_not_compared(audits):
    old = json.loads((audits / "old.json").read_text())
    anonymous = {**old["apps"][0], "package": None, "sha256": None}  # e.g. a record naming no package
    result = diff_documents(old, dict(old, apps=[*old["apps"], anonymous]))
    assert result.changes() == [] and result.new.skipped_entries == 1
    assert [n.code for n in result.notes if n.code != "DIFF_POLICY_UNCERTAIN"] == ["DIFF_BAD_ENTRY"]


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["apps", "package", "sha256", "verdict", "policy", "identity",
                                          "signers", "source", "container", "chain", "outermost",
                                          "version_code", "rules", "packs", "name", "errors", "decision"]),
                         inner, max_size=6), max_leaves=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=_json, b=_json)
def test_any_json_shape_is_refused_with_a_code_or_compared(a, b):
    docs = [x if isinstance(x, dict) and isinstance(x.get("apps"), list) else {"apps": [x]} for x in (a, b)]
    docs = [{"schema_version": "1.2", "errors": [], **d} for d in docs]
    try:
        result = diff_documents(*docs)
    except DocumentError as exc:
        assert exc.code.startswith("DOCUMENT_")
        return
    json.dumps(result.to_dict())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(apps=st.lists(st.fixed_dictionaries({"package": st.sampled_from(["a", "b"])}, optional={
    k: _json for k in ("verdict", "policy", "identity", "source", "container", "version_code",
                       "version_name", "label", "sha256")}), max_size=6))
def test_any_app_entry_is_refused_with_a_code_or_compared(apps):
    try:
        result = diff_documents({"schema_version": "1.2", "errors": [], "apps": apps[:3]},
                                {"schema_version": "1.2", "errors": [], "apps": apps[3:]})
    except DocumentError as exc:
        assert exc.code == "DOCUMENT_MALFORMED" and exc.path[0] == "apps"
        return
    json.dumps(result.to_dict())


def test_outputs_never_overwrite_an_audit_or_a_non_report(audits, tmp_path):
    """``diff old.json new.json --json old.json`` would destroy the evidence it compares."""
    old, new = audits / "old.json", audits / "new.json"
    before = old.read_bytes()
    res = CliRunner().invoke(main, ["diff", str(old), str(new), "--json", str(old)])
    # refused as every command refuses an output: the code leads the message (README, exit 2; review 70 F9)
    assert res.exit_code == 2 and f"Error: USAGE_OUTPUT_REFUSED: --json {old}: is the input" in res.output, res.output
    assert old.read_bytes() == before
    notes = tmp_path / "notes.txt"
    notes.write_text("analyst notes")
    res = CliRunner().invoke(main, ["diff", str(old), str(new), "--html", str(notes)])
    assert res.exit_code == 2 and notes.read_text() == "analyst notes"
    assert f"Error: USAGE_OUTPUT_REFUSED: --html {notes}: exists and is not an apkscan" in res.output, res.output
    # a diff report of our own is recognised and may be replaced; --force replaces the rest
    out = tmp_path / "d.json"
    for _ in range(2):
        assert CliRunner().invoke(main, ["diff", str(old), str(new), "--json", str(out)]).exit_code in (0, 1)
    res = CliRunner().invoke(main, ["diff", str(old), str(new), "--html", str(notes), "--force"])
    assert res.exit_code in (0, 1) and notes.read_text().startswith("<!DOCTYPE html>")
