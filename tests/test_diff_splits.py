"""diff: a bundle's splits are compared too (review 30: 13).

A split rebuilt or re-signed under an unchanged base read as "unchanged", and a WeChat split
that made a bundle prohibited was never named. The audits are real scans of pulled split
folders; the rebuilt / re-signed split is the old scan's document with that split's recorded
SHA-256 or signer changed (what a rebuilt or re-signed split makes a scan write).
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import zipfile
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main
from apkscan.cli.diff_cmd import render_text
from apkscan.diff import diff_documents

REPO = Path(__file__).resolve().parents[1]
APKS, CONTAINERS = REPO / "fixtures" / "apks", REPO / "fixtures" / "containers"


def _scan(tmp_path: Path, name: str, split: bytes) -> dict:
    d = tmp_path / name / "com.example.clean-1"
    d.mkdir(parents=True)
    shutil.copy(APKS / "clean-v1v2v3.apk", d / "base.apk")
    (d / "split_config.x.apk").write_bytes(split)
    out = tmp_path / f"{name}.json"
    res = CliRunner().invoke(main, ["scan", str(tmp_path / name), "--json", str(out), "--quiet", "-j1"])
    assert res.exit_code in (0, 1), res.output
    return json.loads(out.read_text())


def _text(result) -> str:
    out = io.StringIO()
    render_text(result, out)
    return out.getvalue()


def _clean_split() -> bytes:
    return (CONTAINERS / "splits" / "clean-config.en.apk").read_bytes()


def test_a_split_rebuilt_under_the_same_key_is_a_change_not_worse(tmp_path):
    old = _scan(tmp_path, "old", _clean_split())
    new = copy.deepcopy(old)
    new["apps"][0]["splits"][0]["sha256"] = "3" * 64
    result = diff_documents(old, new)
    [change] = result.changes()
    assert change.reasons == ["split"] and not change.worse and result.exit_code() == 0
    assert "split config.en other bytes: " in _text(result)


def test_a_split_re_signed_under_another_key_is_worse(tmp_path):
    old = _scan(tmp_path, "old", _clean_split())
    new = copy.deepcopy(old)
    new["apps"][0]["splits"][0]["signers"] = ["b" * 64]
    result = diff_documents(old, new)
    [change] = result.changes()
    assert change.worse and result.exit_code() == 1
    assert "split config.en signer " in _text(result) and "-> bbbbbbbbbbbb" in _text(result)
    # the HTML page says what changed in the split, and its tile (review 55 F8: only the word "split")
    from apkscan.report import diff_html

    page = io.StringIO()
    diff_html.render(result, page)
    assert "split config.en signer " in page.getvalue() and "-&gt; bbbbbbbbbbbb" in page.getvalue()
    assert '<span class="n">1</span> split changes' in page.getvalue()


def test_a_planted_wechat_split_is_named(tmp_path):
    with zipfile.ZipFile(CONTAINERS / "wechat-sai.apks") as z:
        wechat_split = z.read("split_config.arm64_v8a.apk")
    old = _scan(tmp_path, "old", _clean_split())
    new = _scan(tmp_path, "new", wechat_split)
    result = diff_documents(old, new)
    text = _text(result)
    assert "split config.arm64_v8a (package com.tencent.mm) new" in text and "[WORSE]" in text
    assert "split config.en" in text and "gone" in text
    [change] = result.to_dict()["sources"][0]["changes"]
    assert [s["package"] for s in change["new"]["splits"]] == ["com.tencent.mm"]
    assert diff_documents(new, copy.deepcopy(new)).changes() == []
