"""Records a device listing may make apps of are capped at one number (review 61 F3): an AndroidQF
``packages.json``, an adb backup's ``_manifest`` files and a ``pm list`` text each list at most
:data:`MAX_DEVICE_RECORDS` apps; past it the listing has its coded issue, and the rest is counted
(never dropped unsaid). A 62 MiB ``packages.json`` of 100,000 records within the old caps cost
1.1 GB in the parent and a 455 MB report.
"""

from __future__ import annotations

import io
import json

from apkscan.sources.adb_backup import AdbBackupReader
from apkscan.sources.androidqf import AndroidQFReader
from apkscan.sources.text_evidence import TextEvidenceReader
from backup_helpers import Collected, FolderTree, build_ab, manifest

MAX_DEVICE_RECORDS = 10_000  # the cap README and docs/inputs.md state (apkscan.sources.interface)
OVER = 7


def messages(got: Collected, code: str) -> list[str]:
    return [i.message for p in got.problems for i in p.issues if i.code == code]


def test_the_cap_is_the_one_readme_states():
    from apkscan.sources import interface

    assert interface.MAX_DEVICE_RECORDS == MAX_DEVICE_RECORDS


def test_a_packages_json_past_the_cap_lists_the_cap_and_counts_the_rest(tmp_path):
    acq = tmp_path / "acq"
    acq.mkdir()
    (acq / "acquisition.json").write_text(json.dumps({"uuid": "u-1", "androidqf_version": "1.7.0"}))
    (acq / "packages.json").write_text(json.dumps([{"name": f"com.p{i}", "files": []}
                                                   for i in range(MAX_DEVICE_RECORDS + OVER)]))
    got = Collected(AndroidQFReader(FolderTree(acq)).entries())
    assert len(got.recorded) == MAX_DEVICE_RECORDS
    assert got.codes == ["ANDROIDQF_PACKAGES_INVALID"]
    assert messages(got, "ANDROIDQF_PACKAGES_INVALID") == [
        f"0 package entries unreadable, {OVER} over the limit of {MAX_DEVICE_RECORDS} records (not read: "
        + ", ".join(f"'com.p{i}'" for i in range(MAX_DEVICE_RECORDS, MAX_DEVICE_RECORDS + 5)) + ", ...)"]


def test_manifests_past_the_cap_are_one_error_with_their_count():
    """Those past the cap are not parsed: a bad one there is counted, not one more error each."""
    entries = [(f"apps/com.p{i}/_manifest", manifest(f"com.p{i}", 1, [], False)) for i in range(MAX_DEVICE_RECORDS)]
    entries += [(f"apps/com.q{i}/_manifest", b"not a manifest") for i in range(OVER)]
    got = Collected(AdbBackupReader(io.BytesIO(build_ab(entries)), ("t.ab",), None).entries())
    assert len(got.recorded) == MAX_DEVICE_RECORDS
    assert got.codes == ["BACKUP_LIMIT_EXCEEDED"]
    assert messages(got, "BACKUP_LIMIT_EXCEEDED") == [
        f"more than {MAX_DEVICE_RECORDS} _manifest files: {OVER} more not read (first: 'apps/com.q0/_manifest')"]


def test_a_pm_list_past_the_cap_lists_the_cap_and_counts_the_rest():
    text = "".join(f"package:com.p{i}\n" for i in range(MAX_DEVICE_RECORDS + OVER)).encode()
    got = Collected(TextEvidenceReader(io.BytesIO(text), ("pm.txt",)).entries())
    assert len(got.recorded) == MAX_DEVICE_RECORDS
    assert messages(got, "TEXT_LIMIT_EXCEEDED") == [
        f"more than {MAX_DEVICE_RECORDS} packages; {OVER} more package lines ignored "
        f"(first: 'com.p{MAX_DEVICE_RECORDS}')"]


def test_the_cap_holds_over_every_copy_of_a_packages_json_listed_twice(tmp_path):
    """Every copy of a ``packages.json`` a ZIP lists twice is read (review 70 F4): the cap is of the
    records of all copies, so appending copies buys no more apps than one file does."""
    import warnings
    import zipfile

    from apkscan.apk.io.bytesource import ByteSource
    from apkscan.apk.io.zipreader import ZipArchive
    from apkscan.sources.streams import InflateBudget
    from apkscan.sources.zip_archive import ZipReader
    from apkscan.sources.zip_tree import ZipTree

    half = MAX_DEVICE_RECORDS // 2 + OVER
    path = tmp_path / "acq.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name it writes
        z.writestr("acquisition.json", json.dumps({"uuid": "u-1", "androidqf_version": "1.7.0"}))
        for copy in ("a", "b"):
            z.writestr("packages.json", json.dumps([{"name": f"com.{copy}{i}", "files": []} for i in range(half)]))
    archive = ZipArchive.open(ByteSource(str(path), 0, path.stat().st_size))
    tree = ZipTree(ZipReader(archive, (str(path), 0), (str(path),), InflateBudget(1 << 30, 200)))
    got = Collected(AndroidQFReader(tree).entries())
    assert len(got.recorded) == MAX_DEVICE_RECORDS
    assert {r.package[4] for r in got.recorded} == {"a", "b"}  # the earlier copy's first, then the last's
    assert messages(got, "ANDROIDQF_PACKAGES_INVALID") == [
        f"0 package entries unreadable, {2 * OVER} over the limit of {MAX_DEVICE_RECORDS} records (not read: "
        + ", ".join(f"'com.b{i}'" for i in range(half - 2 * OVER, half - 2 * OVER + 5)) + ", ...)"]
