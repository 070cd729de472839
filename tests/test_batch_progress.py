"""The progress line of ``scan``: counts and rate on a terminal, evidence file names escaped.

A file on a device's shared storage is named by whatever app wrote it, so a name is hostile
text: ``ESC ]0;...BEL`` retitles the user's terminal, ``ESC [2J`` clears what it showed. The
progress line printed such names raw (the escaping progress bar in ``report.terminal`` was
never used by ``scan``).
"""

from __future__ import annotations

import io
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

from apkscan.batch.progress import BatchProgress

ROOT = Path(__file__).resolve().parents[1]
APK = ROOT / "fixtures" / "apks" / "clean-v1v2v3.apk"
HOSTILE = "a\x1b]0;PWNED\x07\x1b[2J\u202egpa.evil"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _escapes(text: str) -> list[str]:
    """Every ESC sequence start, with what follows it (the line's own ``ESC [K`` excepted)."""
    return [text[i:i + 3] for i in range(len(text)) if text[i] == "\x1b" and text[i:i + 3] != "\x1b[K"]


class Clock:
    """``time.monotonic`` for the progress module: a second passes at each call, so every
    ``advance`` draws (the terminal is redrawn at most ten times a second)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


def _draw(monkeypatch, stream, names, **kwargs) -> BatchProgress:
    monkeypatch.setattr("apkscan.batch.progress.time", Clock())
    with BatchProgress(stream=stream, **kwargs) as bar:
        for name in names:
            bar.advance(name=name)
    return bar


def test_a_hostile_name_is_shown_escaped_on_a_terminal(monkeypatch):
    tty = Tty()
    _draw(monkeypatch, tty, ["/sdcard/Download/" + HOSTILE + ".apk"])
    shown = tty.getvalue()
    assert shown.startswith("\rapkscan: 1 inputs, ")
    assert _escapes(shown) == [] and "\x07" not in shown and "\u202e" not in shown
    assert "]0;PWNED\\x07\\x1b[2J\\u202egpa.evil.apk\x1b[K" in shown
    assert shown.endswith("\r\x1b[K")  # the line is erased at the end


def test_the_end_of_a_long_path_is_shown_within_40_columns(monkeypatch):
    tty = Tty()
    _draw(monkeypatch, tty, ["/evidence/" + "d" * 200 + "/the-end.apk"])
    line = tty.getvalue().split("\r")[1]
    tail = line.split("  ", 1)[1].removesuffix("\x1b[K")
    assert tail.startswith("…") and tail.endswith("/the-end.apk") and len(tail) <= 40


def test_a_pipe_gets_plain_lines_without_names_and_quiet_gets_nothing(monkeypatch):
    pipe = io.StringIO()
    _draw(monkeypatch, pipe, [HOSTILE] * 30, every=10.0)  # a second per call: a line every 10
    lines = pipe.getvalue().splitlines()
    assert len(lines) == 3 and all(ln.startswith("apkscan: ") and "PWNED" not in ln for ln in lines)
    assert "\x1b" not in pipe.getvalue() and "\r" not in pipe.getvalue()
    quiet = Tty()
    bar = _draw(monkeypatch, quiet, [HOSTILE], quiet=True)
    assert quiet.getvalue() == "" and bar.done == 1


def test_scan_on_a_real_terminal_never_writes_a_name_raw(tmp_path):
    """The whole command on a pseudo-terminal, over files whose names carry escape sequences."""
    if not hasattr(os, "openpty"):
        import pytest
        pytest.skip("no pseudo-terminals here")
    evidence = tmp_path / "ev"
    evidence.mkdir()
    for i in range(6):
        shutil.copyfile(APK, evidence / f"{i}{HOSTILE}.apk")
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "apkscan", "scan", "--no-store", "--no-color", str(evidence)],
                            stdin=child, stdout=child, stderr=child, cwd=tmp_path)
    os.close(child)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed its side
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 0, out.decode(errors="replace")[-2000:]
    text = out.decode("utf-8", errors="replace")
    assert "PWNED" in text  # the names were shown (progress or summary), escaped
    assert "\x1b]0;PWNED" not in text and "\x1b[2J" not in text and "\x07" not in text
