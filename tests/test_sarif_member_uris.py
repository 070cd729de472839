"""SARIF URIs of member names (review 22 #8): a member is relative to its container, so a name
starting with ``/``, ``//host`` or ``\\\\host`` never becomes a ``file://`` (UNC) URI a viewer would
follow; only a path given on the command line, or met in a folder, is an absolute file URI."""

from __future__ import annotations

import json
import zipfile

from cli_helpers import fixture, run

MEMBERS = ("//evil.example/share/a.apk", "\\\\evil.example\\share\\b.apk", "/etc/c.apk", "d:\\x\\d.apk")


def test_member_names_never_become_file_uris(tmp_path):
    box = tmp_path / "unc.zip"
    apk = fixture("wechat-tencent-subject.apk").read_bytes()
    with zipfile.ZipFile(box, "w", zipfile.ZIP_STORED) as z:
        for name in MEMBERS:
            z.writestr(zipfile.ZipInfo(name), apk)
    res = run("scan", box, "--no-store", "-q", "--sarif", tmp_path / "r.sarif")
    assert res.returncode == 1, res.stderr
    sarif = json.loads((tmp_path / "r.sarif").read_text(encoding="utf-8"))
    artifacts = [a["location"]["uri"] for a in sarif["runs"][0]["artifacts"]]
    assert artifacts[0] == box.as_uri()  # the container, given on the command line
    assert sorted(artifacts[1:]) == ["%2F%2Fevil.example/share/a.apk", "%2F%2Fevil.example/share/b.apk",
                                     "%2Fetc/c.apk", "d%3A/x/d.apk"]
    located = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]}
    assert located == set(artifacts[1:])


def test_a_top_level_path_keeps_its_backslash_and_its_file_uri(tmp_path):
    """A backslash of a local file name is a character of it, not a separator."""
    folder = tmp_path / "ev"
    folder.mkdir()
    (folder / "evil\\clean.apk").write_bytes(fixture("wechat-tencent-subject.apk").read_bytes())
    res = run("scan", folder, "--no-store", "-q", "--sarif", tmp_path / "r.sarif")
    assert res.returncode == 1, res.stderr
    sarif = json.loads((tmp_path / "r.sarif").read_text(encoding="utf-8"))
    assert [a["location"]["uri"] for a in sarif["runs"][0]["artifacts"]] == [folder.as_uri() + "/evil%5Cclean.apk"]


def test_results_of_two_devices_backup_folders_name_their_own_artifacts(tmp_path):
    """Review 69 F4: a result's ``uri`` was the member path relative to its backup folder while its
    ``index`` named the folder file's custody artifact (an absolute file URI): two devices' alerts
    read the same ``uri``. SARIF 3.4.3: with an index, the uri is that artifact's."""
    import shutil

    from cli_helpers import ROOT

    fleet = tmp_path / "fleet"
    for who in ("alice", "bob"):
        shutil.copytree(ROOT / "fixtures" / "backups" / "neo", fleet / f"{who}-neo")
    res = run("scan", fleet, "--no-store", "-q", "--sarif", tmp_path / "r.sarif")
    assert res.returncode == 1, res.stderr
    sarif_run = json.loads((tmp_path / "r.sarif").read_text(encoding="utf-8"))["runs"][0]
    located = set()
    for r in sarif_run["results"]:
        where = r["locations"][0]["physicalLocation"]["artifactLocation"]
        assert where["uri"] == sarif_run["artifacts"][where["index"]]["location"]["uri"]
        located.add((r["properties"]["package"], where["uri"]))
    for package in {p for p, _ in located}:
        devices = {u.split("/fleet/")[1].split("/")[0] for p, u in located if p == package and "/fleet/" in u}
        assert devices == {"alice-neo", "bob-neo"}, (package, located)
