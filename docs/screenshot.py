"""Render a scan result to HTML and screenshot it with headless chromium (docs/report.png).

    apkscan scan fixtures/apks --json /tmp/fixtures.json   # the fixtures report
    python docs/screenshot.py /tmp/fixtures.json

Without an argument it uses the report tests' pipeline document: identities built
in memory around real vendor certificates, run through the shipped rules and policy
(every verdict, containers, an error and a hostile label). Nothing is downloaded:
Debian's chromium runs with networking features off.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from apkscan.report import html


def main() -> None:
    if len(sys.argv) > 1:
        doc = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    else:
        import pytest
        from test_report_doc import pipeline_document, sample_document
        try:
            doc = pipeline_document()  # real rules and policy, in-memory identities
        except pytest.skip.Exception:
            doc = sample_document()
    out = ROOT / "docs" / "report.png"
    chromium = shutil.which("chromium") or sys.exit("chromium not installed")
    with tempfile.TemporaryDirectory(prefix="apkscan-shot-") as tmp:
        page = Path(tmp) / "report.html"
        with open(page, "w", encoding="utf-8") as f:
            html.render(doc, f)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--no-first-run", "--disable-sync", "--hide-scrollbars",
                        f"--user-data-dir={tmp}/profile", "--window-size=1400,1500",
                        "--force-color-profile=srgb", f"--screenshot={out}", page.as_uri()],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)
        detail = ROOT / "docs" / "report-detail.png"
        _detail_shot(page, Path(tmp) / "profile2", detail)
    print(out)
    print(detail)


def _detail_shot(page: Path, profile: Path, out: Path) -> None:
    """The first flagged app with its detail expanded, via the DevTools protocol."""
    import base64

    from test_report_html import Browser

    profile.mkdir()
    browser = Browser(str(profile))
    try:
        browser.call("Emulation.setDeviceMetricsOverride", session=True, width=1400,
                     height=1100, deviceScaleFactor=1, mobile=False)
        browser.open(page.as_uri())
        box = browser.eval("var b = document.querySelector('tbody.app'); "
                           "b.querySelector('details').open = true; scrollTo(0, 0);"
                           "var r = b.getBoundingClientRect();"
                           "[r.left + scrollX, r.top + scrollY, r.width, Math.min(r.height, 1400)]")
        x, y, w, h = box
        shot = browser.call("Page.captureScreenshot", session=True, format="png",
                            captureBeyondViewport=True,
                            clip={"x": x, "y": y, "width": w, "height": h, "scale": 1})
        out.write_bytes(base64.b64decode(shot["data"]))
    finally:
        browser.close()


if __name__ == "__main__":
    main()
