"""The ``apkscan diff`` page in headless Chromium: loads only itself, runs no script, and
hostile package names stay text (the same browser harness as the scan report's tests)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from apkscan.cli import main
from test_report_html import browser  # noqa: F401  (the module-scoped headless Chromium fixture)

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("diffhtml")
    docs = []
    for name, files in (("old", ["wechat-tencent-subject.apk", "clean-v1v2v3.apk"]),
                        ("new", ["wechat-impostor.apk", "clean-v1v2v3.apk"])):
        folder = base / name
        folder.mkdir()
        for f in files:
            if not (APKS / f).exists():
                pytest.skip(f"fixture {f} not generated")
            shutil.copy(APKS / f, folder / f.replace("-impostor", "-tencent-subject"))
        out = base / f"{name}.json"
        CliRunner().invoke(main, ["scan", str(folder), "--json", str(out), "--quiet"])
        docs.append(json.loads(out.read_text()))
    evil = copy.deepcopy(docs[1]["apps"][0])
    evil["package"] = 'com.evil"><img src=x id=injected onerror=alert(1)><script>alert(2)</script>'
    evil["label"] = "<b id=injected>bold</b>"
    docs[1]["apps"].append(evil)
    (base / "new.json").write_text(json.dumps(docs[1]))
    path = base / "diff.html"
    res = CliRunner().invoke(main, ["diff", str(base / "old.json"), str(base / "new.json"), "--html", str(path)])
    assert res.exit_code == 1, res.output
    return path


def test_diff_page_loads_only_itself_and_shows_the_changes(browser, page):  # noqa: F811
    browser.open(page.as_uri(), settle=False)
    assert browser.problems() == []
    assert browser.requests() == [page.as_uri()]
    assert browser.eval("document.querySelectorAll('script, img, #injected').length") == 0
    rows = browser.eval("Array.from(document.querySelectorAll('tr.change')).map(r => r.className + '|' + r.cells[0].textContent)")
    assert any(r.startswith("change changed|") and "com.tencent.mm" in r for r in rows)
    assert any(r.startswith("change added|") and "<img src=x" in r and "<b id=injected>" in r for r in rows)
    # the stylesheet applied (CSP hash matched): badges are styled, not default inline text
    assert browser.eval("getComputedStyle(document.querySelector('.badge')).fontWeight") == "600"
