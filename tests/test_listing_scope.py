"""A device's package listing (``pm list``, ``dumpsys``) speaks for that device only: in a ZIP of a
fleet, another device's APK of the same package retired the listing's record, so the device that
listed WeChat read clean (noticed while fixing review 69 F3). A listing is tied only to an APK in
its own folder or below, as given in a folder it is tied to none."""

from __future__ import annotations

import json
import zipfile

from cli_helpers import fixture, run

PM = "package:/data/app/~~Qk1v==/com.tencent.mm-Zm9v==/base.apk=com.tencent.mm\n"


def _apps(tmp_path, target):
    res = run("scan", target, "--no-store", "-q", "--json", "-")
    assert res.returncode == 1, res.stderr
    return sorted((a["package"], a["source"]["chain"][-1]) for a in json.loads(res.stdout)["apps"])


def test_another_devices_apk_does_not_retire_a_listing_in_the_same_archive(tmp_path):
    fleet = tmp_path / "fleet.zip"
    with zipfile.ZipFile(fleet, "w") as z:
        z.write(fixture("wechat-impostor.apk"), "fleet/dev02/base.apk")
        z.writestr("fleet/dev19/pm-list.txt", PM)
    assert _apps(tmp_path, fleet) == [("com.tencent.mm", "fleet/dev02/base.apk"),
                                      ("com.tencent.mm", "fleet/dev19/pm-list.txt")]


def test_an_apk_pulled_beside_the_listing_still_says_it_once(tmp_path):
    pull = tmp_path / "pull.zip"
    with zipfile.ZipFile(pull, "w") as z:
        z.write(fixture("wechat-impostor.apk"), "dev19/apks/base.apk")  # read first: a record is tied to APKs read before it
        z.writestr("dev19/pm-list.txt", PM)
    assert _apps(tmp_path, pull) == [("com.tencent.mm", "dev19/apks/base.apk")]
