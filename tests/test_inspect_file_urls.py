"""``apkscan inspect`` takes a ``file://`` URL as the local path it names, as ``scan`` does
(review 66 F3): it was read as a relative path named ``file:`` (INPUT_NOT_FOUND, exit 3), and
an output inside the URL's folder was not refused as inside evidence."""

from __future__ import annotations

import json
import shutil

from cli_helpers import fixture, run, tree_hashes


def test_a_file_url_is_inspected_as_its_path(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    shutil.copyfile(fixture("wechat-impostor.apk"), ev / "w.apk")
    by_path = run("inspect", "--json", "-", str(ev / "w.apk"))
    by_url = run("inspect", "--json", "-", (ev / "w.apk").as_uri())
    assert by_url.returncode == by_path.returncode == 0, by_url.stderr
    [a], [b] = json.loads(by_path.stdout), json.loads(by_url.stdout)
    assert a == b and a["package"] == "com.tencent.mm" and a["path"] == str(ev / "w.apk")


def test_outputs_inside_a_file_url_are_refused_and_ambiguous_urls_are_usage_errors(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    shutil.copyfile(fixture("clean-v1v2v3.apk"), ev / "c.apk")
    before = tree_hashes(ev)
    res = run("inspect", "--json", str(ev / "out.json"), ev.as_uri())
    assert res.returncode == 2 and "USAGE_OUTPUT_REFUSED" in res.stderr, res.stderr
    for url in (f"file://{ev.name}/c.apk", (ev / "c.apk").as_uri().replace("/c.apk", "/%63.apk")):
        res = run("inspect", url)
        assert res.returncode == 2 and "Invalid value for PATHS: " in res.stderr, (url, res.stderr)
    assert tree_hashes(ev) == before
