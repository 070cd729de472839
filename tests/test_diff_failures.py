"""diff: a new input failure is keyed by where it is, not its file name (review 30: 4).

Pulled installs and backups name every APK ``base.apk``: an unrelated ``base.apk`` that
failed in the old audit hid the banned APK made unreadable in the new one ("nothing got worse").
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main
from apkscan.diff import diff_documents

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
WECHAT = APKS / "wechat-impostor.apk"
CLEAN = APKS / "clean-v1v2v3.apk"


def _pulls(root: Path, wechat: bytes) -> Path:
    for folder, data in (("com.example.clean-1", CLEAN.read_bytes()), ("com.broken-1", b"not an apk at all" * 2),
                         ("com.tencent.mm-1", wechat)):
        (root / folder).mkdir(parents=True)
        (root / folder / "base.apk").write_bytes(data)
    return root


def _scan(folder: Path, out: Path) -> dict:
    res = CliRunner().invoke(main, ["scan", str(folder), "--json", str(out), "--quiet", "-j1"])
    assert res.exit_code in (1, 3), res.output
    return json.loads(out.read_text())


def test_a_banned_base_apk_made_unreadable_is_new_beside_an_old_base_apk_failure(tmp_path):
    old = _scan(_pulls(tmp_path / "audit-2024" / "pulls", WECHAT.read_bytes()), tmp_path / "old.json")
    new = _scan(_pulls(tmp_path / "audit-2025" / "pulls", WECHAT.read_bytes()[:3000]), tmp_path / "new.json")
    result = diff_documents(old, new)
    [src] = result.sources
    assert [(c.package, c.change) for c in src.changes] == [("com.tencent.mm", "removed")]
    # the broken pull failed in both audits (same place, same code): not new; WeChat's failure is
    assert [f.name for f in src.new_failures] == ["com.tencent.mm-1/base.apk"]
    assert result.exit_code() == 1
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json")])
    assert res.exit_code == 1 and "com.tencent.mm-1/base.apk  could not be scanned now" in res.output


def test_the_same_failure_in_both_audits_is_not_new(tmp_path):
    old = _scan(_pulls(tmp_path / "a", b"PK\x03\x04 cut"), tmp_path / "old.json")
    new = _scan(_pulls(tmp_path / "b", b"PK\x03\x04 cut"), tmp_path / "new.json")
    result = diff_documents(old, new)
    assert result.counts()["new_failures"] == 0 and result.exit_code() == 0
    # ... but it is listed, not dropped: unread in both audits (review 82 F2b)
    still = sorted((f.name, f.status, f.worse) for s in result.sources for f in s.still_failing)
    assert still == [("com.broken-1/base.apk", "still failing (same content)", False),
                     ("com.tencent.mm-1/base.apk", "still failing (same content)", False)]
    assert result.counts()["still_failing_same"] == 2 and result.counts()["still_failing_unknown"] == 0
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--json", "-"])
    listed = [(f["name"], f["status"]) for s in json.loads(res.stdout)["sources"] for f in s["still_failing"]]
    assert ("com.broken-1/base.apk", "still failing (same content)") in listed
    (tmp_path / "old.json").write_text(json.dumps(old))
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json")])
    assert res.exit_code == 0 and "com.broken-1/base.apk  still failing (same content)" in res.output
    assert "2 still failing (same content)" in res.output


def test_a_failure_inside_a_container_is_keyed_by_its_member_chain(tmp_path):
    def zipped(name: str, wechat: bytes) -> Path:
        folder = _pulls(tmp_path / name / "pulls", wechat)
        shutil.make_archive(str(tmp_path / name / "device"), "zip", folder)
        return tmp_path / name / "device.zip"
    old = _scan(zipped("old", WECHAT.read_bytes()), tmp_path / "old.json")
    new = _scan(zipped("new", WECHAT.read_bytes()[:3000]), tmp_path / "new.json")
    result = diff_documents(old, new, by_name=True)
    assert [f.name for s in result.sources for f in s.new_failures] == ["com.tencent.mm-1/base.apk"]
    assert result.exit_code() == 1


# --- review 32 #5: the same place and code, other bytes: a banned APK cut where an unrelated one failed

def _cut_at_the_same_place(tmp_path, name: str, data: bytes, zipped: bool) -> Path:
    root = tmp_path / name / "pulls"
    for folder, content in (("com.example.a", data[:3000]), ("com.example.b", CLEAN.read_bytes())):
        (root / folder).mkdir(parents=True)
        (root / folder / "base.apk").write_bytes(content)
    if not zipped:
        return root
    shutil.make_archive(str(tmp_path / name / "device"), "zip", root)
    return tmp_path / name / "device.zip"


def test_other_content_failing_at_the_same_place_with_the_same_code_is_worse(tmp_path):
    for zipped in (False, True):
        old = _scan(_cut_at_the_same_place(tmp_path / str(zipped), "old", CLEAN.read_bytes(), zipped),
                    tmp_path / "old.json")
        new = _scan(_cut_at_the_same_place(tmp_path / str(zipped), "new", WECHAT.read_bytes(), zipped),
                    tmp_path / "new.json")
        assert [e.get("sha256") is not None for e in new["errors"]] == [True]  # the failing bytes, by content
        result = diff_documents(old, new, by_name=zipped)
        [failure] = [f for s in result.sources for f in s.new_failures]
        assert failure.name == "com.example.a/base.apk" and failure.status == "failing again, other content"
        assert result.exit_code() == 1
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--source-by-name"])
    assert "other content at that place" in res.output and res.exit_code == 1


def test_a_document_without_the_failing_content_says_still_failing_content_unknown(tmp_path):
    old = _scan(_cut_at_the_same_place(tmp_path, "old", CLEAN.read_bytes(), True), tmp_path / "old.json")
    new = _scan(_cut_at_the_same_place(tmp_path, "new", WECHAT.read_bytes(), True), tmp_path / "new.json")
    for e in old["errors"]:  # as a document written before errors carried their SHA-256
        e.pop("sha256", None)
        e.pop("size", None)
    result = diff_documents(old, new, by_name=True)
    assert [f for s in result.sources for f in s.new_failures] == []
    [failure] = [f for s in result.sources for f in s.still_failing]
    assert failure.status == "still failing (content unknown)" and not failure.worse
    assert result.counts()["still_failing_unknown"] == 1 and result.exit_code() == 0
    (tmp_path / "old.json").write_text(json.dumps(old))
    page = tmp_path / "diff.html"
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--source-by-name",
                                    "--html", str(page)])
    assert "still failing (content unknown)" in res.output
    # the page lists it too, with a tile (review 55 F8: it read "No app was added, removed or changed.")
    html = page.read_text("utf-8")
    assert failure.name in html and "still failing (content unknown)</td>" in html and failure.code in html
    assert '<span class="n">1</span> still failing (content unknown)' in html and "No app was added" not in html
