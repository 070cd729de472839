"""A rule file's bytes are read once, at load; later checks use what was read (review 91 F2).

``--no-builtin-rules --rules <(cat signatures/bytedance.yaml)`` exited 2 with RULES_ID_RESERVED
"this file's content differs from it": the shipped-name check opened ``/dev/fd/63`` a second time,
found it drained, and compared empty text with the shipped file. The same second read let a file
changed between load and check pass another pack's rules under a shipped name. Now the pack keeps
the digest of the text it was parsed from and the check compares that.
"""

from __future__ import annotations

import os

import pytest

from apkscan.rules import loader
from apkscan.rules.loader import RulesInvalid, builtin_dir, load_ruleset
from cli_helpers import fixture, invoke, run

SHIPPED = builtin_dir() / "bytedance.yaml"


def _piped(text: str, *args):
    """apkscan run with ``text`` behind a real pipe, given as ``/dev/fd/N`` where ``{pipe}`` stands."""
    data = text.encode("utf-8")
    assert len(data) < 65536  # fits a pipe's buffer: written whole before the run reads it
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
        os.close(write_end)
        write_end = -1
        return run(*[str(a).format(pipe=f"/dev/fd/{read_end}") for a in args], pass_fds=(read_end,))
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_a_shipped_pack_through_a_pipe_loads_as_its_copy_does(tmp_path):
    apk = fixture("tiktok-bytedance-subject.apk")
    copy = tmp_path / "bytedance.yaml"
    copy.write_bytes(SHIPPED.read_bytes())
    as_file = run("scan", "--no-store", "-q", "--no-builtin-rules", "--rules", copy, apk)
    assert as_file.returncode == 1, as_file.stderr  # prohibited
    piped = _piped(SHIPPED.read_text(encoding="utf-8"),
                   "scan", "--no-store", "-q", "--no-builtin-rules", "--rules", "{pipe}", apk)
    assert "RULES_ID_RESERVED" not in piped.stderr
    assert piped.returncode == 1, piped.stderr
    lint = _piped(SHIPPED.read_text(encoding="utf-8"), "rules", "lint", "--no-builtin-rules", "{pipe}")
    assert lint.returncode == 0 and "RULES_ID_RESERVED" not in lint.stderr, lint.stderr


def test_an_edited_shipped_pack_through_a_pipe_is_still_refused():
    """The check still runs on piped text: only the shipped text itself may keep the name."""
    text = SHIPPED.read_text(encoding="utf-8") + "# edited\n"
    piped = _piped(text, "scan", "--no-store", "-q", "--no-builtin-rules", "--rules", "{pipe}",
                   fixture("clean-v1v2v3.apk"))
    assert piped.returncode == 2 and "RULES_ID_RESERVED" in piped.stderr, piped.stderr


@pytest.fixture
def swapped_after_load(tmp_path, monkeypatch):
    """An edited copy of the shipped pack, overwritten with the shipped text right after it is parsed:
    the file a second read would see is the shipped one, the rules loaded are not."""
    path = tmp_path / "bytedance.yaml"
    text = SHIPPED.read_text(encoding="utf-8")
    assert "\nversion: " in text
    path.write_text(text.replace("\nversion: ", "\nversion: 9", 1), encoding="utf-8")
    real = loader.lint_file

    def lint_then_swap(f, text=None):
        out = real(f, text)
        if os.path.samefile(f, path):
            path.write_bytes(SHIPPED.read_bytes())
        return out

    monkeypatch.setattr(loader, "lint_file", lint_then_swap)
    return path


def test_a_file_changed_after_load_does_not_pass_as_the_shipped_pack(swapped_after_load):
    with pytest.raises(RulesInvalid) as info:
        load_ruleset([swapped_after_load], builtin=False)
    assert [e.code for e in info.value.errors] == ["RULES_ID_RESERVED"]


def test_rules_lint_checks_the_text_it_parsed(swapped_after_load):
    res = invoke("rules", "lint", "--no-builtin-rules", swapped_after_load)
    assert res.exit_code == 2 and "RULES_ID_RESERVED" in res.output, res.output
