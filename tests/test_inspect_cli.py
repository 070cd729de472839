"""`apkscan inspect` end to end on real fixture APKs and a file that is not one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import evidence_unchanged  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
APKS = ROOT / "fixtures" / "apks"
pytestmark = pytest.mark.usefixtures("evidence_unchanged")  # no command may touch fixtures/
INDEX = json.loads((APKS / "index.json").read_text())


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "apkscan", "inspect", *args], capture_output=True, text=True, cwd=ROOT)


def _record(name: str) -> dict:
    return next(r for r in INDEX["fixtures"] if r["file"] == name)


def test_json_for_every_fixture_matches_the_generator_facts():
    names = sorted(p.name for p in APKS.glob("*.apk"))
    proc = run("--json", "-", "--fail-on", "never", *(str(APKS / n) for n in names))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # androguard's logging stays quiet
    docs = {Path(d["path"]).name: d for d in json.loads(proc.stdout)}
    assert set(docs) == set(names)
    for name, doc in docs.items():
        rec = _record(name)
        assert doc["package"] == rec["package"], name
        assert set(doc["schemes"]) == {"v1", "v2", "v3", "v31", "v4", "source_stamp"}
        assert doc["size"] == (APKS / name).stat().st_size


def test_forged_certificate_is_present_never_a_signer():
    proc = run(str(APKS / "wechat-forged-cert.apk"))
    assert proc.returncode == 1  # does not verify: non-zero, as apksigner
    assert "Verifies: NO" in proc.stdout
    assert "Certificate present (NOT verified): CN=Tencent" in proc.stdout
    assert "Signer #1" not in proc.stdout
    doc = json.loads(run(str(APKS / "wechat-forged-cert.apk"), "--json").stdout)[0]
    wechat = "0fe4ff85c215918396dadc7cd8ce6963339af33d37751a56e54c7206b63a3c7c"
    assert doc["signers"] == [] and wechat in {c["sha256"] for c in doc["certificates_present"]}


def test_unreadable_inputs_get_coded_errors_and_exit_3(tmp_path):
    junk = tmp_path / "random.apk"
    junk.write_bytes(bytes(range(256)) * 4)
    proc = run("--json", "-", str(APKS / "clean-v1v2v3.apk"), str(junk), str(tmp_path / "missing.apk"))
    assert proc.returncode == 3
    docs = json.loads(proc.stdout)
    assert docs[0]["verified"] is True and docs[0]["errors"] == []
    assert [e["code"] for e in docs[1]["errors"]] == ["ZIP_EOCD_NOT_FOUND"]
    assert docs[1]["sha256"] is not None  # file facts are still reported
    assert [e["code"] for e in docs[2]["errors"]] == ["INPUT_NOT_FOUND"]  # the same code as `scan`
    assert "Traceback" not in proc.stderr


def test_file_names_and_notes_are_escaped_on_a_terminal(tmp_path):
    """Review 19 #8: `File:` and `note:` lines printed names raw; click strips ANSI only when
    the output is not a terminal (color=True: as on a terminal), and a newline forged a line."""
    import shutil

    from click.testing import CliRunner

    from apkscan.cli import main

    ev = tmp_path / "ev"
    (ev / "d\x1b[2J\nnote: forged").mkdir(parents=True)
    (ev / "d\x1b[2J\nnote: forged" / "readme.txt").write_text("not an APK")
    shutil.copyfile(Path(__file__).resolve().parents[1] / "fixtures" / "apks" / "clean-v1v2v3.apk",
                    ev / "a\x1b[32m.apk")
    res = CliRunner().invoke(main, ["inspect", str(ev)], color=True)
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.stdout + res.stderr
    assert f"File: {ev}/a\\x1b[32m.apk" in res.stdout
    assert f"note: {ev}/d\\x1b[2J\\x0anote: forged: " in res.stderr
    assert not any(line.startswith("note: forged") for line in res.stderr.splitlines())
