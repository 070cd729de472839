"""Report files respect the umask when new and keep their mode when replaced (review 19 #14):
every report was chmod 0644, so under ``umask 077`` device inventories became world-readable
and a report made 0600 became 0644 when written again."""

from __future__ import annotations

import os
import stat

from cli_helpers import fixture, run


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _scan(*outputs, umask: int):
    res = run("scan", fixture("clean-v1v2v3.apk"), "--no-store", "-q", *outputs,
              preexec_fn=lambda: os.umask(umask))
    assert res.returncode == 0, res.stderr


def test_new_reports_follow_the_umask(tmp_path):
    outs = [tmp_path / f"r.{f}" for f in ("json", "html", "csv", "sarif")]
    _scan(*(x for o in outs for x in (f"--{o.suffix[1:]}", o)), umask=0o077)
    assert {o.name: _mode(o) for o in outs} == {o.name: 0o600 for o in outs}
    _scan("--json", tmp_path / "shared.json", umask=0o022)
    assert _mode(tmp_path / "shared.json") == 0o644


def test_a_replaced_report_keeps_its_mode(tmp_path):
    report = tmp_path / "r.json"
    _scan("--json", report, umask=0o022)
    for mode in (0o600, 0o640):
        os.chmod(report, mode)
        _scan("--json", report, umask=0o022)
        assert _mode(report) == mode
