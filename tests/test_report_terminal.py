"""Terminal summary and progress bar: colour rules, TTY rules, hostile text escaped."""

from __future__ import annotations

import io

from test_report_doc import sample_document

from apkscan.report import terminal


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_summary_lists_flagged_apps_and_counts():
    out = io.StringIO()
    terminal.render(sample_document(), out, color=False)  # not a terminal: never cut
    text = out.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0].startswith("VERDICT")
    assert lines[0].split() == ["VERDICT", "KIND", "STRENGTH", "FILE", "PACKAGE", "SIGNER", "LABEL"]
    assert lines[1].split()[:3] == ["prohibited", "app", "confirmed"]
    assert "Firefox" not in text  # allowed apps are counted, not listed
    assert "ZIP_EOCD_NOT_FOUND" in text
    assert lines[-1] == "8 inputs: 2 prohibited, 2 to review, 2 allowed, 2 errors"


def test_narrow_terminal_puts_names_on_a_second_line():
    out = io.StringIO()
    terminal.render(sample_document(), out, color=False, columns=80)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["VERDICT", "KIND", "STRENGTH", "FILE"]
    assert lines[2].split()[:3] == ["prohibited", "app", "confirmed"]
    assert lines[3].startswith("  com.zhiliaoapp.musically · ") and lines[3].endswith("“TikTok”")
    assert all(terminal.width(ln) <= 80 for ln in lines[:10])


def test_colour_rules(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert terminal.use_color(Tty()) is True
    assert terminal.use_color(io.StringIO()) is False  # not a TTY
    assert terminal.use_color(Tty(), no_color=True) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert terminal.use_color(Tty()) is False
    out = io.StringIO()
    terminal.render(sample_document(), out, color=True)
    assert "\x1b[1;31mprohibited" in out.getvalue()


def test_escape_sequences_in_apk_text_are_not_emitted():
    doc = sample_document()
    doc["apps"][0]["label"] = "Evil\x1b]0;pwned\x07\x1b[2J\u202egnp.exe"
    out = io.StringIO()
    terminal.render(doc, out, color=False, columns=200)
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "Evil\\x1b]0;pwned" in text


def test_invisible_characters_are_shown_not_hidden():
    """A zero-width space or a line separator must not make one package print like another."""
    doc = sample_document()
    doc["apps"][0]["package"] = "com.tencent\u200b.mm\u2028fake\ufeff"
    out = io.StringIO()
    terminal.render(doc, out, color=False)
    text = out.getvalue()
    assert "com.tencent\\u200b.mm\\u2028fake\\ufeff" in text
    assert "\u200b" not in text and "\u2028" not in text and "\ufeff" not in text


def test_one_huge_label_is_not_padded_into_every_row():
    """Into a pipe nothing is cut, but a 100,000-character label overflows only its own row."""
    doc = sample_document()
    doc["apps"][0]["label"] = "W" * 100_000
    out = io.StringIO()
    terminal.render(doc, out, color=False)
    lines = out.getvalue().splitlines()
    assert sum("W" * 100_000 in ln for ln in lines) == 1
    assert max(len(ln) for ln in lines if "W" * 1000 not in ln) < 400


def test_a_hostile_finding_kind_cannot_forge_a_row():
    """Review 19 #7: kinds are free text in a saved document; they were printed raw."""
    doc = sample_document()
    app = next(a for a in doc["apps"] if a["verdict"] == "prohibited" and a["findings"])
    app["findings"][0]["kind"] = "app\x1b[2K\r\x1b[32mallowed\x1b[0m\nallowed    app   strong   fake.apk\n\u202e"
    out = io.StringIO()
    terminal.render(doc, out, color=False, columns=200)
    text = out.getvalue()
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    assert not any(line.startswith("allowed ") for line in text.splitlines())
    assert "app\\x1b[2K\\x0d\\x1b[32mallowed\\x1b[0m\\x0aallowed" in text


def test_a_label_cannot_take_the_second_line_from_the_package_and_signer():
    """Review 46 #1: a banned app labelled as another app's name, package and publisher, padded
    with spaces, read on a terminal as that innocent app (its own package and signer were cut)."""
    doc = sample_document()
    app = doc["apps"][0]
    app["label"] = "Clean Notes · com.example.clean · Example Corp" + " " * 200 + "."
    out = io.StringIO()
    terminal.render(doc, out, color=False, columns=100)
    lines = out.getvalue().splitlines()
    row = next(i for i, ln in enumerate(lines) if ln.startswith("prohibited"))
    second = lines[row + 1]
    assert second.startswith(f"  {app['package']} · ") and "“Clean Notes" in second
    assert second.index(app["package"]) < second.index("com.example.clean")


def test_default_ignorable_marks_are_shown_not_drawn_as_nothing():
    """Review 46 #7: the combining grapheme joiner, variation selectors and Hangul fillers are not
    format characters, yet draw nothing: ``com.tencent\\u034f.mm`` printed as ``com.tencent.mm``."""
    from apkscan.report.escape import safe, visible

    for mark, shown in [("\u034f", "\\u034f"), ("\ufe0f", "\\ufe0f"), ("\u3164", "\\u3164"), ("\u180b", "\\u180b"),
                        ("\U000e0101", "\\U000e0101"), ("\U000e0001", "\\U000e0001")]:
        assert safe(f"com.tencent{mark}.mm") == f"com.tencent{shown}.mm"
        assert visible(f"com.tencent{mark}.mm\n") == f"com.tencent{shown}.mm\n"
    assert safe("微信 WeChat é") == "微信 WeChat é"  # letters and ordinary marks stay as they are


def test_allowed_apps_with_tamper_indicators_are_named(tmp_path):
    """A real scan: six BadPack fixtures (each allowed, each with a tamper code) and a clean APK.
    The summary names the first five tampered files with their codes and counts the sixth; the
    clean one is not named; the untyped footer-only summary declines such a document."""
    import json

    from cli_helpers import fixture, run

    names = ["badpack-cd-data-descriptor-flag.apk", "badpack-cd-method-deflate-stored.apk",
             "badpack-fake-encryption.apk", "badpack-local-method.apk", "badpack-local-sizes.apk",
             "eocd-comment.apk", "clean-v1v2v3.apk"]
    out = tmp_path / "scan.json"
    res = run("scan", *(fixture(n) for n in names), "--no-store", "--json", out)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    tampered = {a["identity"]["path"].rsplit("/", 1)[-1]: [i["code"] for i in a["identity"]["tamper"]] for a in doc["apps"]}
    assert [n for n in names if tampered[n]] == names[:6]
    text = io.StringIO()
    terminal.render(doc, text)
    lines = text.getvalue().splitlines()
    said = [ln for ln in lines if ln.startswith("tamper indicators on allowed ")]
    assert said == [f"tamper indicators on allowed {n}: {', '.join(dict.fromkeys(tampered[n]))}" for n in names[:5]]
    assert "... and 1 more allowed app with tamper indicators (see the JSON/HTML report)" in lines
    assert "clean-v1v2v3.apk" not in text.getvalue()
    assert said[0] in res.stdout  # what `scan` printed itself
    assert not terminal.render_allowed(doc, io.StringIO())
