"""inspect: a note for a record or a skip says what was not verified and why (review 30: 12).

The notes named neither the package nor the certificates a device recorded, and a skip's
note neither the files nor how many: 300 listed packages gave 300 identical lines.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"
QF = Path(__file__).resolve().parents[1] / "fixtures" / "backups" / "androidqf" / "0b6c3f0e-5d1a-4c1e-9a57-6f1f2a3b4c5d"
INSTANCE = "2024-05-01-10-00-00-000-user_0"


def test_a_listed_package_is_named(tmp_path):
    listing = tmp_path / "pkgs.txt"
    listing.write_bytes(b"package:com.tencent.mm\npackage:com.example.notes\n")
    res = CliRunner().invoke(main, ["inspect", str(listing)])
    notes = [line for line in res.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 2 and "recorded app com.tencent.mm (pm list packages): no APK bytes to verify" in notes[0]
    assert "com.example.notes" in notes[1]


def test_a_recorded_certificate_is_named_as_not_verified(tmp_path):
    acq = tmp_path / "acq"
    acq.mkdir()
    for name in ("acquisition.json", "packages.json", "getprop.txt"):
        (acq / name).write_bytes((QF / name).read_bytes())
    # no APK: every record stays a record
    res = CliRunner().invoke(main, ["inspect", str(acq)])
    recorded = json.loads((QF / "packages.json").read_text())[0]["files"][0]["certificate"]["Sha256"].lower()
    [wechat] = [line for line in res.stderr.splitlines() if "recorded app com.tencent.mm" in line]
    assert "certificate recorded by the device, NOT verified: sha256 " + recorded in wechat


def test_a_certificate_an_adb_manifest_records_is_named_by_its_digest(tmp_path):
    """An adb ``_manifest`` records the DER, no digest: the note ended in a bare '?' (review 37 F6)."""
    import hashlib

    from backup_helpers import build_ab, manifest, pem_der

    der = pem_der("tencent-like")
    backup = tmp_path / "b.ab"
    backup.write_bytes(build_ab([("apps/com.tencent.mm/_manifest", manifest("com.tencent.mm", 1, [der], False))]))
    res = CliRunner().invoke(main, ["inspect", str(backup)])
    [note] = [line for line in res.stderr.splitlines() if "recorded app com.tencent.mm" in line]
    assert note.endswith("NOT verified: sha256 " + hashlib.sha256(der).hexdigest()), note


def test_a_skip_note_counts_and_names_the_files(tmp_path):
    root = tmp_path / "neo" / "com.example.clean"
    (root / INSTANCE).mkdir(parents=True)
    (root / f"{INSTANCE}.properties").write_text(json.dumps({"packageName": "com.example.clean"}))
    (root / INSTANCE / "base.apk").write_bytes((APKS / "clean-v1v2v3.apk").read_bytes())
    (root / INSTANCE / "data.tar.gz").write_bytes(b"\x1f\x8b" + b"\0" * 64)
    res = CliRunner().invoke(main, ["inspect", str(tmp_path / "neo")])
    assert f"app data archive (not scanned): 1 file, e.g. com.example.clean/{INSTANCE}/data.tar.gz" in res.stderr
    # the record of the APK inspected above is not 'no APK bytes'
    [record] = [line for line in res.stderr.splitlines() if "recorded app com.example.clean" in line]
    assert "an APK of this package from this input is inspected above" in record
