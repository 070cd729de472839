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

MAX_DEVICE_RECORDS = 10_000  # the cap the README states (apkscan.sources.interface)
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
