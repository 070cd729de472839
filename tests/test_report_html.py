"""HTML report in a real headless browser (Debian's chromium) over the DevTools protocol.

Checks what matters to an analyst opening the file from a mail: it loads nothing but
itself, the console stays clean (a CSP violation would be logged there), hostile APK
text stays text, and filtering, sorting and the no-JS fallback work.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from test_report_doc import HOSTILE_DN, HOSTILE_LABEL, sample_document
from test_match_strength import gen  # noqa: F401 - the APK builder fixture

from apkscan.report import html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
websocket = pytest.importorskip("websocket", reason="websocket-client not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--no-default-browser-check", "--metrics-recording-only"]


class Browser:
    """Minimal CDP client: one page, flattened session, events collected in order."""

    def __init__(self, profile: str):
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.skip("chromium did not start")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60,
                                              suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        for e in self.events[:seen]:
            if e["method"] == method:
                return e
        while time.monotonic() < deadline:
            e = json.loads(self.ws.recv())
            if "method" in e:
                self.events.append(e)
                if e["method"] == method:
                    return e
        raise TimeoutError(method)

    def open(self, url: str, settle: bool = True) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")
        if settle:  # let late console messages arrive (needs page JS)
            self.eval("new Promise(r => setTimeout(r, 200))")

    def eval(self, expression: str):
        res = self.call("Runtime.evaluate", session=True, expression=expression,
                        returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"JS error: {res['exceptionDetails']}")
        return res["result"].get("value")

    def problems(self) -> list[str]:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log: {p['entry'].get('text')}")
        return out

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def browser():
    with tempfile.TemporaryDirectory(prefix="apkscan-chromium-", ignore_cleanup_errors=True) as profile:  # chromium helpers may still be exiting
        b = Browser(profile)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    with open(path, "w", encoding="utf-8") as out:
        html.render(sample_document(), out)
    return path


def test_loads_only_itself_with_a_clean_console(browser, report):
    browser.open(report.as_uri())
    assert browser.problems() == []
    assert browser.requests() == [report.as_uri()]
    assert browser.eval("document.title").startswith("apkscan report: 2 prohibited, 2 to review")


def test_hostile_text_is_text(browser, report):
    browser.open(report.as_uri())
    # nothing from the APK became an element: no img, no injected b/svg, one script (ours)
    assert browser.eval("document.querySelectorAll('img').length") == 0
    assert browser.eval("document.querySelectorAll('script').length") == 1
    assert browser.eval("document.getElementById('injected')") is None
    assert browser.eval("document.querySelectorAll('svg[onload], [onerror]').length") == 0
    labels = browser.eval("Array.from(document.querySelectorAll('tbody.app tr.row td:first-child'))"
                          ".map(td => td.textContent)")
    assert HOSTILE_LABEL in labels
    assert HOSTILE_DN in browser.eval("document.body.textContent")
    assert "alert" not in browser.eval("String(window.alert).replace('function alert() { [native code] }', '')")


def test_filter_and_search(browser, report):
    browser.open(report.as_uri())
    visible = ("Array.from(document.querySelectorAll('tbody.app')).filter(b => !b.hidden)"
               ".map(b => b.dataset.verdict)")
    assert len(browser.eval(visible)) == 6
    browser.eval("var s = document.getElementById('f-verdict'); s.value = 'prohibited';"
                 "s.dispatchEvent(new Event('change'))")
    assert browser.eval(visible) == ["prohibited", "prohibited"]
    assert browser.eval("document.getElementById('f-count').textContent") == "2 of 6 apps shown"
    browser.eval("var s = document.getElementById('f-verdict'); s.value = '';"
                 "s.dispatchEvent(new Event('change'));"
                 "var v = document.getElementById('f-vendor'); v.value = 'ByteDance';"
                 "v.dispatchEvent(new Event('change'))")
    assert browser.eval(visible) == ["prohibited"]
    browser.eval("var v = document.getElementById('f-vendor'); v.value = '';"
                 "v.dispatchEvent(new Event('change'));"
                 "document.querySelector('.tile a[data-filter=\"review\"]').click()")
    assert browser.eval(visible) == ["review", "review"]
    browser.eval("var s = document.getElementById('f-verdict'); s.value = '';"
                 "s.dispatchEvent(new Event('change'));"
                 "var v = document.getElementById('f-vendor'); v.value = '';"
                 "v.dispatchEvent(new Event('change'));"
                 "var t = document.getElementById('f-text'); t.value = 'FIREFOX';"
                 "t.dispatchEvent(new Event('input'))")
    assert browser.eval(visible) == ["allowed"]
    assert browser.problems() == []


def test_sorting(browser, report):
    browser.open(report.as_uri())
    packages = ("Array.from(document.querySelectorAll('tbody.app tr.row td:nth-child(2)'))"
                ".map(td => td.textContent)")
    original = browser.eval(packages)
    browser.eval("document.querySelector('button.sort[data-col=\"1\"]').click()")
    asc = browser.eval(packages)
    assert asc == sorted(original, key=str.lower)
    assert browser.eval("document.querySelectorAll('#apps-table th')[1].getAttribute('aria-sort')") == "ascending"
    browser.eval("document.querySelector('button.sort[data-col=\"1\"]').click()")
    assert browser.eval(packages) == list(reversed(asc))
    # verdict column sorts by severity, detail rows travel with their app
    browser.eval("document.querySelector('button.sort[data-col=\"5\"]').click()")
    verdicts = browser.eval("Array.from(document.querySelectorAll('tbody.app')).map(b => b.dataset.verdict)")
    assert verdicts == ["prohibited"] * 2 + ["review"] * 2 + ["allowed"] * 2
    assert browser.eval("Array.from(document.querySelectorAll('tbody.app'))"
                        ".every(b => b.rows.length === 2 && b.rows[1].querySelector('details'))")
    assert browser.problems() == []


def test_works_without_javascript(browser, report):
    browser.call("Emulation.setScriptExecutionDisabled", session=True, value=True)
    try:
        browser.open(report.as_uri(), settle=False)
        # the page is read through the DevTools DOM, since page JS is off
        doc = browser.call("DOM.getDocument", session=True, depth=-1)["root"]
        rows = browser.call("DOM.querySelectorAll", session=True, nodeId=doc["nodeId"],
                            selector="tbody.app")["nodeIds"]
        assert len(rows) == 6
        hidden_form = browser.call("DOM.querySelectorAll", session=True, nodeId=doc["nodeId"],
                                   selector="form#controls[hidden]")["nodeIds"]
        assert len(hidden_form) == 1  # controls that need JS stay hidden
        assert browser.problems() == []
    finally:
        browser.call("Emulation.setScriptExecutionDisabled", session=True, value=False)


def test_details_expand_and_show_scheme_and_lineage(browser, report):
    browser.open(report.as_uri())
    text = browser.eval("var d = document.querySelector('#app-1 details'); d.open = true;"
                        "d.querySelector('.detail-body').innerText")
    assert "Signing-key lineage" in text and "v3" in text
    assert "Policy" not in text or "ISP-7.2" in text


def test_fixture_hostile_label_apk_is_text(browser, tmp_path):
    """The real hostile-label.apk fixture, read by the apk layer, rendered and opened."""
    apk = Path(__file__).resolve().parents[1] / "fixtures" / "apks" / "hostile-label.apk"
    if not apk.is_file():
        pytest.skip("fixture APKs not generated")
    try:
        from apkscan.apk.identify import identify
    except ImportError as exc:
        pytest.skip(f"apk layer incomplete: {exc}")
    ident = identify(apk, display_path="fixtures/apks/hostile-label.apk").to_dict()
    label = ident["label"]
    assert label and "<script>" in label
    doc = {"schema_version": "1.0", "errors": [], "apps": [{
        "source": ident["path"], "package": ident["package"], "label": label,
        "sha256": ident["sha256"], "verdict": "review", "identity": ident,
        "findings": [{"rule": "test.hostile", "vendor": "Test", "app": label, "strength": "weak",
                      "kind": "impersonation", "evidence": [{"field": "label", "value": label}]}]}]}
    path = tmp_path / "fixture.html"
    with open(path, "w", encoding="utf-8") as out:
        html.render(doc, out)
    browser.open(path.as_uri())
    assert browser.problems() == []
    assert browser.requests() == [path.as_uri()]
    assert browser.eval("document.querySelectorAll('img').length") == 0
    assert browser.eval("document.querySelectorAll('script').length") == 1
    assert browser.eval("document.querySelector('tbody.app td').textContent") == label


def test_dark_theme_print_stylesheet_and_keyboard(browser, report):
    browser.open(report.as_uri())
    bg = "getComputedStyle(document.body).backgroundColor"
    browser.call("Emulation.setEmulatedMedia", session=True, media="",
                 features=[{"name": "prefers-color-scheme", "value": "dark"}])
    assert browser.eval(bg) == "rgb(18, 20, 22)"
    browser.call("Emulation.setEmulatedMedia", session=True, media="",
                 features=[{"name": "prefers-color-scheme", "value": "light"}])
    assert browser.eval(bg) == "rgb(255, 255, 255)"
    browser.call("Emulation.setEmulatedMedia", session=True, media="print", features=[])
    try:
        assert browser.eval("getComputedStyle(document.getElementById('controls')).display") == "none"
        assert browser.eval("getComputedStyle(document.querySelector('.signoff')).display") == "block"
    finally:
        browser.call("Emulation.setEmulatedMedia", session=True, media="", features=[])
    # keyboard: sort headers are real buttons, Enter on a focused one sorts
    assert browser.eval("Array.from(document.querySelectorAll('button.sort')).every(b => b.tabIndex >= 0)")
    browser.eval("document.querySelector('button.sort[data-col=\"0\"]').focus()")
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", session=True, type=kind, key="Enter",
                     code="Enter", windowsVirtualKeyCode=13, text="\r" if kind == "keyDown" else "")
    assert browser.eval("document.querySelectorAll('#apps-table th')[0].getAttribute('aria-sort')") \
        == "ascending"
    assert browser.problems() == []


THREE = ("canada-tbs-2023", "us-dhs-bod-17-01", "canada-house-of-commons-2023")


@pytest.fixture(scope="module")
def three_policy_report(tmp_path_factory) -> Path:
    """fixtures/apks scanned under three policies (real APKs, real verdicts), as HTML."""
    apks = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
    if not (apks / "tiktok-bytedance-subject.apk").is_file():
        pytest.skip("fixture APKs not generated")
    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import scan
    from apkscan.sources.files import FileSource

    policies = [load_policy(n) for n in THREE]
    doc = scan([FileSource([str(apks)])], load_ruleset(), policies[0], more_policies=policies[1:]).to_dict()
    path = tmp_path_factory.mktemp("html3") / "three.html"
    with open(path, "w", encoding="utf-8") as out:
        html.render(doc, out)
    return path


def test_a_verdict_column_and_filter_per_policy(browser, three_policy_report):
    browser.open(three_policy_report.as_uri())
    assert browser.problems() == [] and browser.requests() == [three_policy_report.as_uri()]
    heads = browser.eval("Array.from(document.querySelectorAll('#apps-table th')).map(th => th.textContent.trim())")
    assert heads[5:8] == list(THREE) and "Verdict" not in heads
    shown = ("Array.from(document.querySelectorAll('tbody.app')).filter(b => !b.hidden)"
             ".map(b => b.querySelector('td:nth-child(2)').textContent)")

    def choose(index: int, value: str) -> None:
        browser.eval(f"var s = document.getElementById('f-policy-{index}'); s.value = '{value}';"
                     "s.dispatchEvent(new Event('change'))")

    total = len(browser.eval(shown))
    choose(2, "prohibited")  # House of Commons: TikTok only
    assert browser.eval(shown) == ["com.zhiliaoapp.musically"]
    choose(2, "")
    choose(1, "prohibited")  # DHS BOD 17-01: Kaspersky only
    assert browser.eval(shown) == ["com.example.notes"]
    choose(0, "prohibited")  # and TBS: both filters hold
    assert browser.eval(shown) == ["com.example.notes"]
    choose(1, "")
    choose(0, "")
    assert len(browser.eval(shown)) == total
    # the cells under each policy's column are that policy's verdicts
    cells = browser.eval("Array.from(document.querySelectorAll('tbody.app')).filter(b => "
                         "b.querySelector('td:nth-child(2)').textContent === 'com.zhiliaoapp.musically')"
                         ".map(b => [6, 7, 8].map(i => b.querySelector('td:nth-child(' + i + ')').textContent))")
    assert cells == [["prohibited", "allowed", "prohibited"]]
    # the tiles count each app by its most severe verdict (the page says so) and filter on it (review 86 F1)
    assert "most severe verdict" in browser.eval("document.getElementById('tiles-note').textContent")
    browser.eval("document.querySelector('.tile a[data-filter=\"prohibited\"]').click()")
    assert browser.eval("document.getElementById('f-verdict').value") == "prohibited"
    assert browser.eval("document.getElementById('f-policy-0').value") == ""
    tile = browser.eval("document.querySelector('.tile a[data-filter=\"prohibited\"] .n').textContent")
    assert len(browser.eval(shown)) == int(tile) == 5
    # the per-policy counts link filters on its own policy
    browser.eval("document.querySelector('#policy-counts a[data-policy=\"1\"][data-filter=\"prohibited\"]').click()")
    assert browser.eval(shown) == ["com.example.notes"]
    # sorting a policy's column sorts by that policy's severity
    browser.eval("document.getElementById('f-policy-1').value = ''; document.getElementById('f-policy-1')"
                 ".dispatchEvent(new Event('change'));"
                 "document.querySelector('button.sort[data-col=\"7\"]').click()")
    first = browser.eval("document.querySelector('tbody.app td:nth-child(8)').textContent")
    assert first == "prohibited"
    # the details cite each policy's decision
    text = browser.eval("var b = Array.from(document.querySelectorAll('tbody.app')).find(b => "
                        "b.querySelector('td:nth-child(2)').textContent === 'com.example.notes');"
                        "var d = b.querySelector('details'); d.open = true; d.innerText")
    assert "Verdict per policy" in text and all(f"{n} / " in text for n in THREE)
    assert browser.problems() == []


@pytest.mark.parametrize("label", ["Notes_" + "W" * 144, "Notes_" + "W" * 160, "A" * 32_000])
def test_a_long_label_never_pushes_the_verdicts_off_screen(browser, tmp_path, label):
    """Review 46 #4: one 150-character label without spaces widened the table until Package,
    Verdict, Kind, Strength and File of every row were off a 1,400-pixel screen."""
    doc = sample_document()
    doc["apps"][0]["label"] = label
    path = tmp_path / "wide.html"
    with open(path, "w", encoding="utf-8") as out:
        html.render(doc, out)
    browser.call("Emulation.setDeviceMetricsOverride", session=True, width=1400, height=1000,
                 deviceScaleFactor=1, mobile=False)
    try:
        browser.open(path.as_uri())
        rights = browser.eval("[...document.querySelectorAll('tbody.app tr.row .badge')]"
                              ".map(b => b.getBoundingClientRect().right)")
        assert rights and max(rights) <= 1400, rights
        # the table shows 160 characters (a 32,000-character cell took chromium ~10 s to lay out),
        # the whole label is the cell's tooltip and a line of the closed details
        cell = browser.eval("var td = document.querySelector('tbody.app tr.row td'); [td.textContent, td.title]")
        whole = browser.eval("[...document.querySelectorAll('tbody.app')[0].querySelectorAll('tr.detail dd')]"
                             ".map(d => d.textContent).filter(t => t.length > 160)")
        if len(label) > 160:
            assert cell == [label[:159] + "…", label] and whole == [label]
        else:
            assert cell == [label, ""] and whole == []
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)


def test_a_row_says_its_tamper_indicators_and_no_word_is_split(browser, tmp_path):
    """A real scan of a BadPack APK (local header sizes that lie) beside a clean one: the tampered
    app's row says so (its codes in the tooltip and found by the search), the clean one's does not;
    at 1,400 pixels no verdict badge, header or version is broken inside a word (the table once
    broke "allowed" into "allo/wed")."""
    from cli_helpers import fixture, run

    out = tmp_path / "scan.html"
    res = run("scan", fixture("badpack-local-sizes.apk"), fixture("clean-v1v2v3.apk"), "--no-store", "-q",
              "--html", out)
    assert res.returncode == 0, res.stderr
    browser.call("Emulation.setDeviceMetricsOverride", session=True, width=1400, height=1000,
                 deviceScaleFactor=1, mobile=False)
    try:
        browser.open(out.as_uri())
        tags = browser.eval("[...document.querySelectorAll('tbody.app')].map(b => {"
                            " var t = b.querySelector('tr.row .tag.tamper');"
                            " return [b.querySelector('td.file code').textContent, t && t.textContent, t && t.title]; })")
        by_file = {f: (text, title) for f, text, title in tags}
        assert by_file["clean-v1v2v3.apk"] == (None, None)
        text, title = by_file["badpack-local-sizes.apk"]
        assert text == "tamper indicators: 1" and "TAMPER_LOCAL_SIZE_MISMATCH" in title
        lines = browser.eval(  # how many lines each short word's text takes
            "[...document.querySelectorAll('tbody.app tr.row .badge, thead th button, tbody.app tr.row td:nth-child(3),"
            " .tag.tamper')].map(e => { var r = document.createRange(); r.selectNodeContents(e);"
            " var tops = new Set([...r.getClientRects()].map(x => Math.round(x.top))); return [e.textContent, tops.size]; })")
        split = [(t, n) for t, n in lines if n > 1 and " " not in t.strip()]
        assert lines and not split, split
        browser.eval("var f = document.getElementById('f-text'); f.value = 'tamper_local_size';"
                     " f.dispatchEvent(new Event('input')); 0")
        shown = browser.eval("[...document.querySelectorAll('tbody.app')].filter(b => !b.hidden)"
                             ".map(b => b.querySelector('td.file code').textContent)")
        assert shown == ["badpack-local-sizes.apk"]
        assert browser.problems() == []
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)


def test_the_header_says_what_each_policy_cannot_detect(browser, gen, tmp_path):  # noqa: F811
    """Review 65 H1: a DeepSeek APK (in the Texas policy's scope, no rule detects it) is allowed;
    the page says, once per policy, what the policy cannot detect, in a scan's report and in one
    re-rendered by ``apkscan report``."""
    import yaml
    from cli_helpers import run
    from test_match_strength import _apk

    _apk(gen, tmp_path, "deepseek.apk", "com.deepseek.chat", "DeepSeek", "unlisted-new")
    scanned, again, doc = tmp_path / "scan.html", tmp_path / "again.html", tmp_path / "scan.json"
    res = run("scan", "--no-store", "-q", "--policy", "texas-prohibited-tech", "--policy", "canada-tbs-2023",
              "--html", scanned, "--json", doc, tmp_path / "in")
    assert res.returncode == 0, res.stderr
    assert run("report", doc, "--html", again).returncode == 0
    want = {n: yaml.safe_load((Path(__file__).resolve().parents[1] / "signatures" / "policies" / f"{n}.yaml")
                              .read_text(encoding="utf-8"))["uncertain"]
            for n in ("texas-prohibited-tech", "canada-tbs-2023")}
    seen = []
    for page in (scanned, again):
        browser.open(page.as_uri())
        assert browser.problems() == [] and browser.requests() == [page.as_uri()]
        got = browser.eval("Array.from(document.querySelectorAll('#policy-uncertain ul')).map("
                           "ul => Array.from(ul.querySelectorAll('li')).map(li => li.innerText))")
        names = browser.eval("Array.from(document.querySelectorAll('#policy-uncertain p.caveat strong'))"
                             ".map(s => s.innerText)")
        assert dict(zip(names, got)) == want
        box = browser.eval("(() => { const r = document.getElementById('policy-uncertain').getBoundingClientRect();"
                           " return [r.width, r.height]; })()")
        assert box[0] > 0 and box[1] > 0  # shown in the header, not hidden
        assert "cannot detect" in browser.eval("document.querySelector('header').innerText")
        seen.append(browser.eval("document.getElementById('policy-uncertain').innerText"))
    assert seen[0] == seen[1]
