"""README's exit-code table and usage examples must match the code and ``--help``."""

from __future__ import annotations

import re
import shlex

import click

from apkscan.cli import main
from apkscan.cli.exit_codes import PRECEDENCE, ExitCode
from cli_helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_exit_code_table_equals_the_module():
    section = README[README.index("### Exit codes"):]
    section = section[:section.index("\n### ", 5)]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M)
    assert [(int(code), meaning) for code, meaning in rows] == [(int(c), c.meaning) for c in ExitCode]
    assert " > ".join(str(int(c)) for c in PRECEDENCE) in section


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    cmd: click.Command = main
    path = []
    while isinstance(cmd, click.Group) and words and words[0] in cmd.commands:
        cmd = cmd.commands[words[0]]
        path.append(words.pop(0))
    return cmd, path


def test_every_readme_usage_line_uses_options_the_command_has():
    """Each ``apkscan ...`` line in README's shell blocks parses against that command's --help."""
    lines = [ln.split("#")[0].strip() for block in re.findall(r"```sh\n(.*?)```", README, re.S)
             for ln in block.splitlines()]
    checked = 0
    for line in lines:
        if not line.startswith("apkscan ") or "|" in line:
            continue
        words = shlex.split(line.replace("<", "").replace(">", ""))[1:]
        cmd, path = _command(words)
        known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}
        used = [w.split("=")[0] for w in words if w.startswith("-") and w != "-"]
        assert set(used) <= known, (line, set(used) - known)
        help_text = cmd.get_help(click.Context(cmd, info_name=" ".join(path)))
        assert all(u in help_text for u in used), line
        checked += 1
    assert checked >= 10
